"""Keeps the rollups current, incrementally: never a rescan of history.

Every store that writes a row the reports count (a finished call, an agent state, a QA
score, a callback request, a voicemail, a recording, a finished dial attempt) adds
(kind, row id) to ``report_inbox`` in the same transaction. Every few seconds the
maintainer drains the inbox in the database thread pool: it reads those rows, turns them
into deltas (facts.py), merges the deltas into the rollup tables and deletes the inbox rows
it drained, all in ONE transaction: a crash before the commit leaves the inbox as it was
(nothing counted, nothing lost), after it everything is counted once.

A call an agent transferred is finished once per session; the deltas it added are kept in
``report_call_applied`` and taken back when its row is counted again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

from appliance.db import model
from appliance.reports import facts
from appliance.reports import rollup_db as rdb

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

log = Logger(namespace="ccbox.reports")

BATCH = 2000  # inbox rows per transaction
WORLD_TTL_S = 60.0  # the configuration the facts read is re-read this often
STOP_WAIT_S = 3.0  # at a stop, for the calls rows' writes (within systemd's stop timeout)
YIELD_MAX_S = 60.0  # a drain waits this long at most for the calls rows' writes to catch up


@dataclass
class DrainResult:
    drained: int = 0  # inbox rows deleted
    rows: int = 0  # rollup rows merged


def drain_batch(conn: Connection, world: facts.World, limit: int = BATCH) -> DrainResult:
    """Count up to ``limit`` inbox rows, in the caller's transaction (commit it, or roll it
    back: the inbox and the rollups move together)."""
    ib = model.report_inbox
    entries = conn.execute(
        sa.select(ib.c.id, ib.c.kind, ib.c.row_id).order_by(ib.c.id).limit(limit)
    ).all()
    if not entries:
        return DrainResult()
    ids: dict[str, list[int]] = {}
    seen: set[tuple[str, int]] = set()
    for _, kind, row_id in entries:
        if (kind, row_id) not in seen:
            seen.add((kind, row_id))
            ids.setdefault(kind, []).append(int(row_id))
    acc = facts.Acc()
    count_rows(conn, acc, ids, world)
    merged = rdb.merge_rows(conn, acc.rows(world.zone))
    inbox_ids = [e.id for e in entries]
    for i in range(0, len(inbox_ids), 500):
        conn.execute(ib.delete().where(ib.c.id.in_(inbox_ids[i : i + 500])))
    return DrainResult(len(entries), merged)


def count_rows(
    conn: Connection, acc: facts.Acc, ids: dict[str, list[int]], world: facts.World
) -> None:
    """The facts of the rows named in ``ids`` ({kind: row ids}) into ``acc``, with the
    bookkeeping that goes with them (agents' open states, transferred calls' deltas)."""
    if ids.get(rdb.CALL):
        _count_calls(conn, acc, rdb.rows_by_id(conn, rdb.CALL, ids[rdb.CALL]), world)
    if ids.get(rdb.AGENT_EVENT):
        events = rdb.rows_by_id(conn, rdb.AGENT_EVENT, sorted(ids[rdb.AGENT_EVENT]))
        count_agent_events(conn, acc, events, world)
    simple: dict[str, Callable[[facts.Acc, tuple[Any, ...], facts.World], None]] = {
        rdb.QA: facts.qa_facts,
        rdb.CALLBACK: facts.callback_facts,
        rdb.VOICEMAIL: facts.voicemail_facts,
        rdb.RECORDING: facts.recording_facts,
        rdb.DIAL_ATTEMPT: facts.dial_facts,
    }
    for kind, fn in simple.items():
        for row in rdb.rows_by_id(conn, kind, ids.get(kind, [])):
            fn(acc, row, world)
    unknown = set(ids) - set(simple) - {rdb.CALL, rdb.AGENT_EVENT}
    if unknown:  # a newer ccbox's kind (tickets): dropped, said once per batch
        log.warn("report inbox: kinds {k} not counted by this version", k=sorted(unknown))


def _count_calls(
    conn: Connection, acc: facts.Acc, rows: list[tuple[Any, ...]], world: facts.World
) -> None:
    call_ids = [r[0] for r in rows]
    steps = rdb.steps_of(conn, call_ids)
    ap = model.report_call_applied
    applied: dict[int, str] = {}
    for i in range(0, len(call_ids), 500):
        part = call_ids[i : i + 500]
        for r in conn.execute(sa.select(ap.c.call_id, ap.c.deltas).where(ap.c.call_id.in_(part))):
            applied[r.call_id] = r.deltas
    keep: list[dict[str, Any]] = []
    drop: list[int] = []
    transfers_at = facts.CALL_COLUMNS.index("transfers")
    for row in rows:
        call_id = row[0]
        transferred = bool(row[transfers_at])
        if not transferred and call_id not in applied:
            facts.call_facts(acc, row, world)
            facts.ivr_facts(acc, row[2], steps.get(call_id, ()), world)
            continue
        mine = facts.Acc(acc.window)
        facts.call_facts(mine, row, world)
        facts.ivr_facts(mine, row[2], steps.get(call_id, ()), world)
        old = applied.get(call_id)
        if old is not None:
            acc.merge(facts.Acc.from_json(old), -1.0)
        acc.merge(mine)
        if transferred:
            keep.append({"call_id": call_id, "deltas": mine.to_json()})
        else:
            drop.append(call_id)
    if keep or drop:
        ids = [k["call_id"] for k in keep] + drop
        conn.execute(ap.delete().where(ap.c.call_id.in_(ids)))
        if keep:
            conn.execute(ap.insert(), keep)


def count_agent_events(
    conn: Connection, acc: facts.Acc, events: list[tuple[Any, ...]], world: facts.World
) -> None:
    """Agent events (in id order) against the agents' open states, which move on."""
    if not events:
        return
    agents = sorted({e[1] for e in events})
    opened: dict[int, tuple[str, str, float, int]] = {}
    since = rdb.epoch_sql(conn, "since")
    for i in range(0, len(agents), 500):
        marks = ", ".join(str(int(a)) for a in agents[i : i + 500])
        sql = (
            f"SELECT agent_id, state, reason, {since}, event_id FROM report_agent_open "  # noqa: S608
            f"WHERE agent_id IN ({marks})"
        )
        for agent_id, state, reason, at, event_id in conn.exec_driver_sql(sql):
            opened[agent_id] = (state, reason, float(at), int(event_id))
    before = dict(opened)
    facts.agent_events_facts(acc, opened, events, world)
    write_open_states(conn, {a: v for a, v in opened.items() if before.get(a) != v})


def write_open_states(conn: Connection, states: dict[int, tuple[str, str, float, int]]) -> None:
    """Replace these agents' open states (agent id: state, reason, since epoch, event id)."""
    if not states:
        return
    op = model.report_agent_open
    conn.execute(op.delete().where(op.c.agent_id.in_(list(states))))
    conn.execute(
        op.insert(),
        [
            {
                "agent_id": a,
                "state": state,
                "reason": reason[:64],
                "since": dt.datetime.fromtimestamp(since, dt.UTC),
                "event_id": event_id,
            }
            for a, (state, reason, since, event_id) in states.items()
        ],
    )


class ReportMaintainer(service.Service):
    """Drains the report inbox every ``interval_s`` seconds in the database pool.

    The calls rows come first: while their writes wait in the write backlog (a slow or
    refusing database, a burst of calls), a tick is skipped, for YIELD_MAX_S at most, so a
    drain's transaction never stands between a call and its row; the drain that follows
    counts what gathered in one batch. (A drain every tick held SQLite's one writer thread
    often enough that the soak's 20 calls a second left hundreds of rows unwritten.)"""

    name = "report-maintainer"

    def __init__(
        self,
        db: DBConnector,
        reactor: Any,  # IReactorTime
        zone: str,
        short_abandon_s: float = 5.0,
        interval_s: float = 5.0,
    ) -> None:
        self.db = db
        self.reactor = reactor
        self.zone = zone
        self.short_abandon_s = short_abandon_s
        self.interval_s = interval_s
        self._loop: task.LoopingCall | None = None
        self._busy: defer.Deferred[DrainResult] | None = None
        self._world: facts.World | None = None
        self._world_at = 0.0
        self.drained = 0  # inbox rows counted since start (the status page, the bench)
        self.cpu_s = 0.0  # thread CPU time spent draining
        self.yielded = 0  # ticks skipped for the calls rows' writes
        self._drained_at: float | None = None  # the clock's time of the last drain's start
        self._failing = False

    def startService(self) -> None:
        super().startService()
        self._loop = task.LoopingCall(self.tick)
        self._loop.clock = self.reactor
        self._loop.start(self.interval_s, now=False)

    def stopService(self) -> defer.Deferred[None]:
        """Stop after one last drain, once the calls rows still in the write backlog are
        written (at most STOP_WAIT_S: a database refusing writes keeps them there): the
        rollups are current when the daemon has stopped."""
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        return defer.ensureDeferred(self._last_drain())

    async def _last_drain(self) -> None:
        written = self.db.backlog.drained()
        written.addTimeout(STOP_WAIT_S, self.reactor)
        try:
            await written
        except defer.TimeoutError:
            log.warn(
                "report rollups: calls rows still waiting to be written; counted at the next start"
            )
        if self._busy is not None:
            await self._busy
        last = self.tick()
        if last is not None:
            await last

    def tick(self) -> defer.Deferred[DrainResult] | None:
        """Drain what is in the inbox now (skipped while a drain is still running)."""
        if self._busy is not None:
            return None
        now = self.reactor.seconds()
        if self.running and self.db.backlog.waiting:
            if self._drained_at is None:
                self._drained_at = now
            if now - self._drained_at < YIELD_MAX_S:
                self.yielded += 1
                return None
        self._drained_at = now
        d = self.db.run(self._drain_all)
        self._busy = d

        def done(result: DrainResult) -> DrainResult:
            self.drained += result.drained
            self._failing = False
            if result.drained >= BATCH and self.running:  # a backlog: the next batch now
                self.reactor.callLater(0, self.tick)
            return result

        def failed(f: Any) -> DrainResult:
            if not self._failing:  # said once until a drain works again
                log.failure("report rollups: the inbox was not drained (retried)", f)
            self._failing = True
            return DrainResult()

        def free(result: DrainResult) -> DrainResult:
            self._busy = None
            return result

        d.addCallbacks(done, failed)
        d.addBoth(free)
        return d

    def _drain_all(self, conn: Connection) -> DrainResult:
        started = time.thread_time()
        result = drain_batch(conn, self._world_now(conn))
        self.cpu_s += time.thread_time() - started
        return result

    def _world_now(self, conn: Connection) -> facts.World:
        now = time.monotonic()
        if self._world is None or now - self._world_at > WORLD_TTL_S:
            self._world = rdb.load_world(conn, self.zone, self.short_abandon_s)
            self._world_at = now
        return self._world
