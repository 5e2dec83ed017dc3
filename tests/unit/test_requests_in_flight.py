"""``RequestsInFlight`` (webui/requests_in_flight.py): what a web stop waits for."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from webui.requests_in_flight import DRAIN_S, RequestsInFlight


def test_close_fires_when_the_running_calls_end_and_not_before() -> None:
    clock = MemoryReactorClock()
    calls = RequestsInFlight(clock)
    first: defer.Deferred[str] = defer.Deferred()
    second: defer.Deferred[str] = defer.Deferred()
    seen: list[str] = []
    first.addCallback(seen.append).addBoth(calls.begin())
    second.addErrback(lambda f: seen.append(f.getErrorMessage())).addBoth(calls.begin())
    assert len(calls) == 2 and not calls.closed
    closed = calls.close()
    assert calls.closed and not closed.called
    first.callback("answered")
    assert not closed.called and len(calls) == 1
    second.errback(RuntimeError("refused"))
    # the calls' own chains got their results, untouched by the wait
    assert seen == ["answered", "refused"]
    assert closed.called and closed.result == 0
    assert not clock.getDelayedCalls()  # the bound's timer is gone with the wait


def test_close_gives_up_after_its_bound_and_says_how_many_were_left() -> None:
    clock = MemoryReactorClock()
    calls = RequestsInFlight(clock)
    stuck: defer.Deferred[None] = defer.Deferred()
    stuck.addBoth(calls.begin())
    closed = calls.close()
    clock.advance(DRAIN_S - 0.1)
    assert not closed.called
    clock.advance(0.1)
    assert closed.called and closed.result == 1
    stuck.callback(None)  # ending late changes nothing
    assert closed.result == 1 and len(calls) == 0


def test_close_with_nothing_running_fires_at_once() -> None:
    calls = RequestsInFlight(MemoryReactorClock())
    closed = calls.close()
    assert closed.called and closed.result == 0 and calls.closed
