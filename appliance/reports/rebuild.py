"""``ccbox reports rebuild --from --to``: the rollups of some local days, again, from the
raw rows (after a correction, a bulk load, a change of the center's zone).

In one transaction: the inbox is drained first (what it holds is then in the raw rows the
rebuild reads, and counted once), the q15, hour and day rows of the days are deleted, every
raw row whose moment falls in them is replayed through the same facts as the maintainer
(streamed in chunks of ids, plain tuples), and every month touching the days is recomputed
from its day rows. Readers see the old figures until the commit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection, Engine

from appliance.db import model
from appliance.reports import clock, facts, rebuild_sql
from appliance.reports import maintainer as mt
from appliance.reports import rollup_db as rdb

CHUNK = 250_000  # calls ids per chunk (summed by the database: rebuild_sql.py)
MARGIN_S = 86_400  # a call started this long before the first day may join a queue in it

Progress = Callable[[int, int], None]  # (calls done, calls in all)


@dataclass
class RebuildResult:
    days: int = 0
    calls: int = 0
    agent_events: int = 0
    other_rows: int = 0
    rollup_rows: int = 0
    seconds: float = 0.0
    # where the time went: calls, agent states, the other rows, months
    phases: dict[str, float] = field(default_factory=dict)


def _db_time(conn: Connection, epoch: float) -> Any:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)
    if conn.dialect.name == "sqlite":
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def rebuild(
    engine: Engine,
    first: dt.date,
    last: dt.date,
    zone_name: str,
    short_abandon_s: float = 5.0,
    progress: Progress | None = None,
) -> RebuildResult:
    """Rebuild the local days ``first``..``last`` (inclusive) in one transaction."""
    if last < first:
        raise ValueError("the last day is before the first")
    started = time.monotonic()
    with engine.begin() as conn:
        result = rebuild_in(conn, first, last, zone_name, short_abandon_s, progress)
    result.seconds = time.monotonic() - started
    return result


def rebuild_in(
    conn: Connection,
    first: dt.date,
    last: dt.date,
    zone_name: str,
    short_abandon_s: float = 5.0,
    progress: Progress | None = None,
) -> RebuildResult:
    world = rdb.load_world(conn, zone_name, short_abandon_s)
    zone = world.zone
    while mt.drain_batch(conn, world).drained:  # what the inbox holds, counted first
        pass
    day_lo, day_hi = clock.day_key(first), clock.day_key(last)
    lo = clock.bucket_start("day", day_lo, zone).timestamp()
    hi = clock.bucket_end("day", day_hi, zone).timestamp()
    for grain in ("q15", "hour"):
        rdb.delete_buckets(conn, grain, int(lo), int(hi))
    rdb.delete_buckets(conn, "day", day_lo, day_hi + 1)
    result = RebuildResult(days=(last - first).days + 1)
    window = (lo, hi)
    grains = ("q15", "hour", "day")

    def flush(acc: facts.Acc) -> None:
        if acc:
            result.rollup_rows += rdb.merge_rows(conn, acc.rows(zone, grains))

    if conn.dialect.name == "sqlite":  # the chunks' temporary tables and sorts in memory
        conn.exec_driver_sql("PRAGMA temp_store = MEMORY")
        conn.exec_driver_sql("PRAGMA cache_size = -262144")
    t = time.perf_counter()
    result.calls = _calls(conn, world, window, flush, progress)
    result.phases["calls"] = time.perf_counter() - t
    t = time.perf_counter()
    acc = facts.Acc(window)
    result.agent_events = _agent_events(conn, acc, world, window)
    flush(acc)
    result.phases["agent_states"] = time.perf_counter() - t
    t = time.perf_counter()
    acc = facts.Acc(window)
    result.other_rows = _others(conn, acc, world, window, flush)
    flush(acc)
    result.phases["other_rows"] = time.perf_counter() - t
    t = time.perf_counter()
    months = [clock.month_key(first)]
    while months[-1] < clock.month_key(last):
        months.append(clock.next_bucket("month", months[-1], zone))
    rdb.months_from_days(conn, months)
    result.phases["months"] = time.perf_counter() - t
    return result


def _calls(
    conn: Connection,
    world: facts.World,
    window: tuple[float, float],
    flush: Callable[[facts.Acc], None],
    progress: Progress | None,
) -> int:
    lo, hi = window
    t_lo, t_hi = _db_time(conn, lo - MARGIN_S), _db_time(conn, hi)
    span = conn.exec_driver_sql(
        "SELECT MIN(id), MAX(id) FROM calls WHERE started_at >= ? AND started_at < ?"
        if conn.dialect.name == "sqlite"
        else "SELECT MIN(id), MAX(id) FROM calls WHERE started_at >= %s AND started_at < %s",
        (t_lo, t_hi),
    ).one()
    if span[0] is None:
        if progress is not None:
            progress(0, 0)
        return 0
    first_id, last_id = int(span[0]), int(span[1])
    total = last_id - first_id + 1
    columns = rdb.select_list(conn, facts.CALL_COLUMNS)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    transferred = (
        f"SELECT {columns} FROM calls WHERE id >= {mark} AND id <= {mark} "  # noqa: S608 (constants)
        f"AND ended_at IS NOT NULL AND started_at >= {mark} AND started_at < {mark} "
        "AND transfers > 0 ORDER BY id"
    )
    applied: list[dict[str, Any]] = []
    count = 0
    try:
        for a in range(first_id, last_id + 1, CHUNK):
            b = min(a + CHUNK - 1, last_id)
            rebuild_sql.fill(conn, a, b, t_lo, t_hi, world.short_abandon_s)
            acc = facts.Acc(window)
            rebuild_sql.count(conn, acc, world, window)
            counted = f"SELECT COUNT(*) FROM {rebuild_sql.TEMP}"  # noqa: S608 (a constant)
            count += int(conn.exec_driver_sql(counted).scalar_one())
            flush(acc)
            # a transferred call's deltas, kept to be replaced when its row is finished again
            rows = conn.exec_driver_sql(transferred, (a, b, t_lo, t_hi)).fetchall()
            steps = rdb.steps_of(conn, [r[0] for r in rows]) if rows else {}
            for row in rows:
                whole = facts.Acc()
                facts.call_facts(whole, row, world)
                facts.ivr_facts(whole, row[2], steps.get(row[0], ()), world)
                applied.append({"call_id": row[0], "deltas": whole.to_json()})
            if progress is not None:
                progress(b - first_id + 1, total)
    finally:
        rebuild_sql.drop(conn)
    if applied:
        ap = model.report_call_applied
        ids = [x["call_id"] for x in applied]
        for i in range(0, len(ids), 500):
            conn.execute(ap.delete().where(ap.c.call_id.in_(ids[i : i + 500])))
        conn.execute(ap.insert(), applied)
    return count


def _agent_events(
    conn: Connection, acc: facts.Acc, world: facts.World, window: tuple[float, float]
) -> int:
    """Per agent (the (agent_id, at) index): the state open at the window's start, the
    events in it, and the first after it (which ends the last interval)."""
    lo, hi = window
    t_lo, t_hi = _db_time(conn, lo), _db_time(conn, hi)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    cols = rdb.select_list(conn, facts.AGENT_EVENT_COLUMNS)
    before = (
        f"SELECT {cols} FROM agent_events WHERE agent_id = {mark} AND at < {mark} "  # noqa: S608
        "ORDER BY at DESC, id DESC LIMIT 1"
    )
    inside = (
        f"SELECT {cols} FROM agent_events WHERE agent_id = {mark} AND at >= {mark} "  # noqa: S608
        f"AND at < {mark} ORDER BY id"
    )
    after = (
        f"SELECT {cols} FROM agent_events WHERE agent_id = {mark} AND at >= {mark} "  # noqa: S608
        "ORDER BY at, id LIMIT 1"
    )
    count = 0
    newest: dict[int, tuple[Any, ...]] = {}
    for (agent_id,) in conn.exec_driver_sql("SELECT id FROM agents ORDER BY id").fetchall():
        opened: dict[int, tuple[str, str, float, int]] = {}
        prev = conn.exec_driver_sql(before, (agent_id, t_lo)).first()
        if prev is not None:
            opened[agent_id] = (prev[3], prev[4] or "", float(prev[2]), int(prev[0]))
        events = _raw(conn, inside, (agent_id, t_lo, t_hi))
        nxt = conn.exec_driver_sql(after, (agent_id, t_hi)).first()
        if nxt is not None:
            events.append(tuple(nxt))
        facts.agent_events_facts(acc, opened, events, world)
        count += len(events) - (nxt is not None)
        last = events[-1] if events else prev
        if last is not None:
            newest[agent_id] = last
    _open_states(conn, newest)
    return count


def _raw(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows as the DB-API gives them (plain tuples: millions of agent states)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _open_states(conn: Connection, newest: dict[int, tuple[Any, ...]]) -> None:
    """An agent's open state is the newest event the rebuild saw, unless the maintainer
    has a newer one (rows bulk-loaded were never in the inbox)."""
    if not newest:
        return
    op = model.report_agent_open
    known = {
        r.agent_id: r.event_id
        for r in conn.execute(op.select().with_only_columns(op.c.agent_id, op.c.event_id))
    }
    states: dict[int, tuple[str, str, float, int]] = {}
    for agent_id, (ev_id, _, at, state, reason) in newest.items():
        if known.get(agent_id, -1) < ev_id:
            states[agent_id] = (state, reason or "", at, ev_id)
    mt.write_open_states(conn, states)


def _others(
    conn: Connection,
    acc: facts.Acc,
    world: facts.World,
    window: tuple[float, float],
    flush: Callable[[facts.Acc], None],
) -> int:
    lo, hi = window
    t_lo, t_hi = _db_time(conn, lo), _db_time(conn, hi)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    fns: dict[str, Callable[[facts.Acc, tuple[Any, ...], facts.World], None]] = {
        rdb.QA: facts.qa_facts,
        rdb.CALLBACK: facts.callback_facts,
        rdb.VOICEMAIL: facts.voicemail_facts,
        rdb.DIAL_ATTEMPT: facts.dial_facts,
    }
    count = rebuild_sql.recordings(conn, acc, world, t_lo, t_hi)  # summed by the database
    for kind, fn in fns.items():
        table, columns, finished = rdb.SOURCES[kind]
        at = rdb.TIME_OF[kind]
        sql = (
            f"SELECT {rdb.select_list(conn, columns)} FROM {table} "  # noqa: S608 (constants)
            f"WHERE {at} >= {mark} AND {at} < {mark} AND {finished}"
        )
        result = conn.exec_driver_sql(sql, (t_lo, t_hi))
        while True:
            part = result.fetchmany(CHUNK)
            if not part:
                break
            for row in part:
                fn(acc, tuple(row), world)
            count += len(part)
    return count
