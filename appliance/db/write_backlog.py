"""The calls rows' writes, in order, kept in memory while the database refuses them.

A full disk, a read-only or locked file, a lost PostgreSQL server: none of these may drop
a caller, so nothing on the call path waits on the database for the row to exist. The
call's id is allocated in process (appliance/db/components.py CallsComponent), and every
write about a calls row (the row, its events, the agent's answer, the finish, the hangup
cause) goes through this queue, one at a time and in the order it was asked for. A write
the database refuses with a fault (see ``database_fault``) stays at the head of the queue
and is tried again with backoff on the reactor's clock; everything behind it waits in
order, up to ``limit`` writes (then a new write is dropped with an error naming it: memory
stays bounded). A refusal that is not a fault (a bug: a constraint, bad SQL) drops that
one write with its error and lets the rest through.

Nothing is written twice: a write is retried only after the database refused it (its
transaction rolled back), and the row's insert carries its own id, so an insert that was
committed after all is recognized rather than repeated.

The writes that queued while one transaction ran go in the next one together (up to
``BATCH``, still in order): a call asks for a dozen writes in bursts (its row, the flow's
steps, the queue visit, the hangup cause), and one transaction each cost ccboxd about as
much CPU as the rest of the call (a thread hand-off, BEGIN, COMMIT). A write refused by a
bug in a batch rolls back the others with it: it fails alone, they run again.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = Logger(namespace="ccbox.db")

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0  # a write tried every 10 s at most costs nothing; recovery is seen soon
SLOW_WAITING = 500  # this many waiting without a fault: the database is too slow for the calls
BATCH = 100  # writes in one transaction at most: short transactions, bounded rollbacks
LIMIT = 20_000  # about 30 MB of waiting writes; at ten writes a call and a call a second, 30 min


def database_fault(exc: BaseException | None) -> str | None:
    """Why the database cannot take work now (a full disk, a read-only or locked file, a
    server gone), or None when ``exc`` is not such a fault (a bug: retrying cannot help)."""
    if isinstance(
        exc,
        sa.exc.OperationalError
        | sa.exc.InterfaceError
        | sa.exc.TimeoutError
        | sa.exc.DisconnectionError
        | sqlite3.OperationalError
        | OSError,
    ):
        orig = getattr(exc, "orig", None) or exc
        return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]
    return None


@dataclass
class _Write:
    what: str  # "call 12 event ivr_step": for the log when it is dropped
    call_id: int
    thd: Callable[[Connection], Any]
    row: bool = False  # the insert of the calls row itself
    accepted: defer.Deferred[Any] = field(default_factory=defer.Deferred)


class WriteBacklog:
    """The ordered queue of calls-row writes (see the module's doc)."""

    def __init__(
        self,
        run: Callable[[Callable[[Connection], Any]], defer.Deferred[Any]],
        clock: Any,
        changed: Callable[[], None] = lambda: None,
        *,
        limit: int = LIMIT,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
    ) -> None:
        """``run``: the connector's run (one transaction in the pool); ``changed`` is
        called whenever the fault, the count waiting or the count lost changes."""
        self._run = run
        self.clock = clock  # IReactorTime: the retries' clock (None: the global reactor)
        self._changed = changed
        self.limit = limit
        self.first_retry_s, self.max_retry_s = first_retry_s, max_retry_s
        self._alone = 0  # writes to run one per transaction (a batch's commit was refused)
        self._flight: list[_Write] = []  # the batch in its transaction while _busy
        self._queue: deque[_Write] = deque()
        self._busy = False
        self._pumping = False
        self._retry: Any = None  # the IDelayedCall of the next attempt
        self._delay = first_retry_s
        self.fault: str | None = None  # the last refusal, until the queue drains
        self.lost = 0  # writes dropped since the last drain: the queue was full
        self.rows: dict[int, dict[str, Any]] = {}  # calls rows not written yet, by id
        self._drained: list[defer.Deferred[None]] = []
        self._stopping = False
        self._lost_at_stop = 0

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def slow(self) -> bool:
        """So many writes wait while none is refused: the database cannot keep up."""
        return len(self._queue) >= SLOW_WAITING

    def submit(
        self,
        what: str,
        call_id: int,
        thd: Callable[[Connection], Any],
        row: dict[str, Any] | None = None,
    ) -> defer.Deferred[Any]:
        """Queue a write; the Deferred fires with its result once written, or with None as
        soon as it waits behind a fault (it will be written when the database recovers).
        ``row``: this write inserts that calls row (readers see it here until it is)."""
        if len(self._queue) >= self.limit:
            self.lost += 1
            log.error(
                "{what} was not written: {n} calls writes already wait for the database "
                "({why}); {lost} lost so far",
                what=what,
                n=len(self._queue),
                why=self.fault or "slow",
                lost=self.lost,
            )
            self._changed()
            return defer.succeed(None)
        write = _Write(what, call_id, thd, row is not None)
        if row is not None:
            self.rows[call_id] = row
        self._queue.append(write)
        if self.fault is not None:
            write.accepted.callback(None)  # parked: written in order after the fault
            self._changed()
        elif len(self._queue) == SLOW_WAITING:
            log.warn("the database is slow: {n} calls writes wait", n=SLOW_WAITING)
            self._changed()
        self._next()
        return write.accepted

    def drained(self) -> defer.Deferred[None]:
        """Fires once nothing waits (at once when nothing does)."""
        if not self._queue:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._drained.append(d)
        return d

    def stop(self) -> defer.Deferred[int]:
        """Write what waits while the database takes it; at the first refusal (or at once
        when it refuses writes now) stop retrying: what is left is logged and counted as
        lost, and the Deferred fires with that count."""
        self._stopping = True
        if self.fault is not None:
            self._give_up()
        return self.drained().addCallback(lambda _: self._lost_at_stop)

    def _give_up(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        # a batch in its transaction now keeps its place: its outcome tells (refused, it
        # comes back here with the pump idle)
        flying = len(self._flight) if self._busy else 0
        lost = list(itertools.islice(self._queue, flying, None))
        for w in lost:
            log.error("{what} was not written: the daemon stopped first", what=w.what)
            if w.row:
                self.rows.pop(w.call_id, None)
        self._lost_at_stop += len(lost)
        for _ in lost:
            self._queue.pop()
        self._settle()

    # ---- the pump -----------------------------------------------------------------------

    def _next(self) -> None:
        if self._pumping:  # a write that finished at once: the loop below goes on
            return
        self._pumping = True
        try:
            while not self._busy and self._retry is None and self._queue:
                size = 1 if self._alone else BATCH
                batch = list(itertools.islice(self._queue, size))
                done: list[Any] = []  # the results so far (which write a failure was)
                self._busy, self._flight = True, batch
                d = self._run(functools.partial(_in_order, [w.thd for w in batch], done))
                d.addCallbacks(
                    self._written, self._refused, callbackArgs=(batch,), errbackArgs=(batch, done)
                )
        finally:
            self._pumping = False

    def _written(self, results: list[Any], batch: list[_Write]) -> None:
        # every write of the batch leaves the queue before any caller hears of it: a
        # caller's callback may submit a write, and the pump must not take these again
        self._alone = max(0, self._alone - len(batch))
        was_slow = self.slow
        for write in batch:
            self._queue.popleft()  # the batch is the queue's head (stop() leaves it there)
            if write.row:
                self.rows.pop(write.call_id, None)
        self._delay = self.first_retry_s
        if self.fault is not None and not self._queue:
            log.info("the database takes writes again: every waiting calls write is written")
        if was_slow and not self.slow and self.fault is None:
            log.info("the database keeps up again")
            self._changed()
        with self._holding():
            for write, result in zip(batch, results, strict=True):
                if not write.accepted.called:
                    write.accepted.callback(result)
        self._busy = False
        self._settle()
        self._next()

    def _refused(self, failure: Failure, batch: list[_Write], done: list[Any]) -> None:
        reason = database_fault(failure.value)
        if reason is None and len(done) == len(batch) > 1:
            # refused at the commit: which write was it? Each alone, in order, will tell
            self._alone = len(batch)
            self._busy = False
            self._next()
            return
        if reason is None:  # a bug, not a fault: this write goes, the others run again
            self._alone = max(0, self._alone - 1)
            write = batch[min(len(done), len(batch) - 1)]  # the last: its commit was refused
            self._queue.remove(write)
            if write.row:
                self.rows.pop(write.call_id, None)
            with self._holding():
                if write.accepted.called:
                    log.failure("{what} was not written", failure, what=write.what)
                else:
                    write.accepted.errback(failure)
            self._busy = False
            self._settle()
            self._next()
            return
        if self.fault is None:
            log.error(
                "the database refuses writes ({why}): calls go on, their writes wait in "
                "memory, in order, and are retried",
                why=reason,
            )
        self.fault = reason
        with self._holding():
            for waiting in list(self._queue):
                if not waiting.accepted.called:
                    waiting.accepted.callback(None)
        self._busy = False
        if self._stopping:
            self._give_up()
            return
        self._retry = self._clock().callLater(self._delay, self._retry_now)
        self._delay = min(self._delay * 2, self.max_retry_s)
        self._changed()

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        """While the callers' callbacks run: a write they submit waits for the pump."""
        was, self._pumping = self._pumping, True
        try:
            yield
        finally:
            self._pumping = was

    def _clock(self) -> Any:
        """The CLI's inline connector has no reactor: the global one, taken only when a
        retry is due (importing it earlier would install it before the program chose)."""
        if self.clock is None:
            from twisted.internet import reactor

            return reactor
        return self.clock

    def _retry_now(self) -> None:
        self._retry = None
        self._next()

    def _settle(self) -> None:
        if not self._queue:
            self.fault, self.lost = None, 0
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)
        self._changed()


def _in_order(thds: list[Callable[[Connection], Any]], done: list[Any], conn: Connection) -> Any:
    """Each write of a batch in its transaction, in order; ``done`` holds their results so
    far (when one raises, its index)."""
    for thd in thds:
        done.append(thd(conn))
    return done
