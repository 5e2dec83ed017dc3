"""``RequestsInFlight``: the API calls a twisted.web resource runs on the reactor
(webui/chat/api.py, webui/desk_chat/site.py), so that a stop lets them finish before the
engines and the database behind them stop.

The CherryPy pages have this from their thread pool's join (webui/service.py). The
reactor's own requests had nothing: a visitor's message left while the daemon stopped ran
into a closed database half-way (its conversation stored, its ticket not linked to it) and
logged a traceback.

Once ``close`` is called, a new call is refused (the caller answers 503) and the calls
running get ``timeout_s`` to finish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.logger import Logger

log = Logger(namespace="ccbox.web")

T = TypeVar("T")

# What a stop waits for the calls running: each is a few database round trips.
DRAIN_S = 3.0
# What a client answered 503 during a stop is told to wait: a restart takes a few seconds.
RETRY_AFTER_S = 10


def ask_to_retry(request: Any) -> None:
    """The ``Retry-After`` of a 503 answered because the site is stopping."""
    request.setHeader(b"Retry-After", b"%d" % RETRY_AFTER_S)


class RequestsInFlight:
    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.closed = False
        # one signal per call, fired when it ends: waiting on it never touches the call's
        # own chain (whose callbacks write the answer)
        self._running: set[defer.Deferred[None]] = set()

    def __len__(self) -> int:
        return len(self._running)

    def begin(self) -> Callable[[T], T]:
        """Count a call from now (before its code runs: a coroutine runs up to its first
        wait inside ``ensureDeferred``); add what this returns last to its chain, so the
        count drops once its answer is written."""
        done: defer.Deferred[None] = defer.Deferred()
        self._running.add(done)

        def ended(result: T) -> T:
            self._running.discard(done)
            done.callback(None)
            return result

        return ended

    def close(self, timeout_s: float = DRAIN_S) -> defer.Deferred[int]:
        """Refuse new calls; fires when the running ones have ended, or after ``timeout_s``
        with how many had not."""
        self.closed = True
        if not self._running:
            return defer.succeed(0)
        log.info("waiting for {n} web requests to finish", n=len(self._running))
        result: defer.Deferred[int] = defer.Deferred()
        all_done = defer.DeferredList(list(self._running))

        def finished(_: object) -> None:
            if not result.called:
                timer.cancel()
                result.callback(0)

        def late() -> None:
            left = len(self._running)
            log.warn("{n} web requests still running after {s:.0f} s", n=left, s=timeout_s)
            result.callback(left)

        timer = self.clock.callLater(timeout_s, late)
        all_done.addCallback(finished)
        return result
