"""Database writes run one after another per key (a conversation of the channels' engine,
acd/channels/service.py): the engine never waits for them, and a conversation's writes
still land in the order it made them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

T = TypeVar("T")


class OrderedWrites:
    """Database writes run one after another per key (a conversation), never waited for
    by the engine; what each returns goes to its caller's Deferred."""

    def __init__(self) -> None:
        self._tail: dict[int, defer.Deferred[None]] = {}
        self.pending: set[defer.Deferred[None]] = set()

    def run(self, key: int, fn: Callable[[], defer.Deferred[T]]) -> defer.Deferred[T]:
        result: defer.Deferred[T] = defer.Deferred()
        done: defer.Deferred[None] = defer.Deferred()
        self.pending.add(done)

        def start(_: object = None) -> None:
            d = defer.maybeDeferred(fn)

            def finish(outcome: T | Failure) -> None:
                if self._tail.get(key) is done:
                    del self._tail[key]
                self.pending.discard(done)
                done.callback(None)
                if isinstance(outcome, Failure):
                    result.errback(outcome)
                else:
                    result.callback(outcome)

            d.addBoth(finish)

        prev = self._tail.get(key)
        self._tail[key] = done
        if prev is None:
            start()
        else:
            prev.addCallback(start)
        return result

    def flushed(self) -> defer.Deferred[None]:
        return defer.DeferredList(list(self.pending)).addCallback(lambda _: None)
