"""The rollups' database side, shared by the maintainer and the rebuild: reading raw rows
as the facts want them (tuples, times as UTC epoch seconds computed by the database),
the World they are counted in, merging deltas into the rollup tables (one upsert per
table: sums add, a maximum stays the larger), and the inbox.

Blocking: every function takes a Connection and runs in the database thread pool (the
maintainer) or the CLI.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model
from appliance.db.components import inbox_add as inbox_add  # the stores' (re-exported)
from appliance.reports import clock, facts

# Inbox kinds: the store that writes the row adds (kind, row id) in the same transaction.
CALL = "call"
AGENT_EVENT = "agent_event"
QA = "qa"
CALLBACK = "callback"
VOICEMAIL = "voicemail"
RECORDING = "recording"
DIAL_ATTEMPT = "dial_attempt"
TICKET = "ticket"  # the hook: tickets do not exist yet
KINDS = (CALL, AGENT_EVENT, QA, CALLBACK, VOICEMAIL, RECORDING, DIAL_ATTEMPT)

ROLLUP_TABLES = tuple(facts.TABLES)
COPY_MIN_ROWS = 200  # PostgreSQL: merge this many rows or more through COPY (_merge_copy)


def epoch_sql(conn: Connection, column: str) -> str:
    """SQL for a UTC timestamp column as epoch seconds (a float), exact to the microsecond:
    SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' text, PostgreSQL a timestamp (naive UTC)."""
    if conn.dialect.name == "sqlite":
        whole = f"CAST(strftime('%s', {column}) AS INTEGER)"
        return f"({whole} + CAST('0' || substr({column}, 20) AS REAL))"
    return f"CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"


_TIME_COLUMNS = {
    "started_at",
    "agent_answered_at",
    "queued_at",
    "at",
    "created_at",
    "requested_at",
    "received_at",
    "answered_at",
    "ended_at",
}


def select_list(conn: Connection, columns: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    out = []
    for c in columns:
        ref = f'{prefix}"{c}"'
        out.append(epoch_sql(conn, ref) if c in _TIME_COLUMNS else ref)
    return ", ".join(out)


# table, columns, where the row is finished (for the maintainer and the rebuild alike)
SOURCES: dict[str, tuple[str, tuple[str, ...], str]] = {
    CALL: ("calls", facts.CALL_COLUMNS, "ended_at IS NOT NULL"),
    AGENT_EVENT: ("agent_events", facts.AGENT_EVENT_COLUMNS, "1 = 1"),
    QA: ("qa_evaluations", facts.QA_COLUMNS, "1 = 1"),
    CALLBACK: ("callbacks", facts.CALLBACK_COLUMNS, "1 = 1"),
    VOICEMAIL: ("voicemails", facts.VOICEMAIL_COLUMNS, "1 = 1"),
    RECORDING: ("recordings", facts.RECORDING_COLUMNS, "1 = 1"),
    DIAL_ATTEMPT: ("dial_attempts", facts.DIAL_COLUMNS, "outcome IS NOT NULL"),
}
# the time column a rebuild selects a kind's rows by
TIME_OF = {
    CALL: "started_at",
    AGENT_EVENT: "at",
    QA: "created_at",
    CALLBACK: "requested_at",
    VOICEMAIL: "received_at",
    RECORDING: "started_at",
    DIAL_ATTEMPT: "started_at",
}


def rows_by_id(conn: Connection, kind: str, ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """The finished rows of ``kind`` with these ids, in id order."""
    if not ids:
        return []
    table, columns, finished = SOURCES[kind]
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ", ".join(str(int(x)) for x in part)
        sql = (
            f"SELECT {select_list(conn, columns)} FROM {table} "  # noqa: S608 (constants, ints)
            f"WHERE id IN ({marks}) AND {finished} ORDER BY id"
        )
        out += [tuple(r) for r in conn.exec_driver_sql(sql)]
    return out


def steps_of(conn: Connection, call_ids: Sequence[int]) -> dict[int, list[tuple[Any, ...]]]:
    """The IVR steps (facts.STEP_COLUMNS) of these calls, in the order they were walked."""
    out: dict[int, list[tuple[Any, ...]]] = {}
    for i in range(0, len(call_ids), 500):
        part = call_ids[i : i + 500]
        if not part:
            continue
        marks = ", ".join(str(int(x)) for x in part)
        sql = (
            "SELECT call_id, data FROM call_events WHERE kind = 'ivr_step' "  # noqa: S608 (ints)
            f"AND call_id IN ({marks}) ORDER BY call_id, at, id"
        )
        for call_id, data in conn.exec_driver_sql(sql):
            out.setdefault(call_id, []).append(parse_step(call_id, data))
    return out


def steps_between(conn: Connection, lo: int, hi: int) -> dict[int, list[tuple[Any, ...]]]:
    """The IVR steps of the calls with ids in [lo, hi] (the rebuild's chunk)."""
    out: dict[int, list[tuple[Any, ...]]] = {}
    sql = (
        "SELECT call_id, data FROM call_events WHERE call_id BETWEEN "  # noqa: S608 (ints)
        f"{int(lo)} AND {int(hi)} AND kind = 'ivr_step' ORDER BY call_id, at, id"
    )
    for call_id, data in conn.exec_driver_sql(sql):
        out.setdefault(call_id, []).append(parse_step(call_id, data))
    return out


def parse_step(call_id: int, data: str) -> tuple[Any, ...]:
    try:
        d = json.loads(data)
    except ValueError:
        d = {}
    if not isinstance(d, dict):
        d = {}
    return (call_id, str(d.get("flow", "")), str(d.get("node", "")), d.get("branch"))


def load_world(conn: Connection, zone_name: str, short_abandon_s: float) -> facts.World:
    """The configuration the facts map rows with, as it is now."""
    q, qs, a, f, mb = (
        model.queues.c,
        model.queue_skills.c,
        model.agents.c,
        model.ivr_flows.c,
        model.mailboxes.c,
    )
    sl = {r.id: float(r.service_level_s) for r in conn.execute(sa.select(q.id, q.service_level_s))}
    names = {r.name: r.id for r in conn.execute(sa.select(q.id, q.name))}
    skills: dict[int, list[int]] = {}
    for r in conn.execute(sa.select(qs.queue_id, qs.skill_id).order_by(qs.queue_id, qs.skill_id)):
        skills.setdefault(r.queue_id, []).append(r.skill_id)
    dept = {r.id: r.department for r in conn.execute(sa.select(a.id, a.department))}
    flows = {r.name: r.id for r in conn.execute(sa.select(f.id, f.name))}
    boxes: dict[str, int] = {}
    for box in conn.execute(sa.select(mb.number, mb.owner_kind, mb.owner)):
        if box.owner_kind == "queue" and box.owner in names:
            boxes[box.number] = names[box.owner]
    for qid in names.values():  # the queue's fallback box (ivr/queue_step.py queue_exit)
        boxes.setdefault(f"queue-{qid}", qid)
    return facts.World(
        zone=clock.center_zone(zone_name),
        short_abandon_s=float(short_abandon_s),
        service_level_s=sl,
        queue_skills={k: tuple(v) for k, v in skills.items()},
        department={k: v for k, v in dept.items() if v},
        flows=flows,
        mailbox_queue=boxes,
    )


# ---- writing the rollups -------------------------------------------------------------------


def upsert_sql(conn: Connection, name: str) -> str:
    """INSERT .. ON CONFLICT DO UPDATE of one rollup table, for executemany with tuples
    (grain, bucket, *keys, *measures): sums add, a maximum keeps the larger."""
    keys, measures = facts.TABLES[name]
    cols = ["grain", "bucket", *keys, *measures]
    sqlite_ = conn.dialect.name == "sqlite"
    mark = "?" if sqlite_ else "%s"
    bigger = "max" if sqlite_ else "GREATEST"
    sets = ", ".join(
        f'"{m}" = {bigger}({name}."{m}", excluded."{m}")'
        if m in facts.MAX_MEASURES
        else f'"{m}" = {name}."{m}" + excluded."{m}"'
        for m in measures
    )
    quoted = ", ".join(f'"{c}"' for c in cols)
    pk = ", ".join(f'"{c}"' for c in ("grain", "bucket", *keys))
    return (
        f"INSERT INTO {name} ({quoted}) VALUES ({', '.join([mark] * len(cols))}) "  # noqa: S608
        f"ON CONFLICT ({pk}) DO UPDATE SET {sets}"
    )


def merge_rows(conn: Connection, rows: dict[str, dict[facts.Key, list[float]]]) -> int:
    """Merge rows ({table: {(grain, bucket, *keys): measures}}) into the rollup tables; the
    count of rows written."""
    written = 0
    for name, table_rows in rows.items():
        if not table_rows:
            continue
        counts = [m in _count_columns(name) for m in facts.TABLES[name][1]]
        params = [
            (*key, *[round(v) if c else v for v, c in zip(values, counts, strict=True)])
            for key, values in table_rows.items()
        ]
        if conn.dialect.name == "postgresql" and len(params) >= COPY_MIN_ROWS:
            _merge_copy(conn, name, params)
        else:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(upsert_sql(conn, name), params)
            finally:
                cursor.close()
        written += len(params)
    return written


def _merge_copy(conn: Connection, name: str, params: list[tuple[Any, ...]]) -> None:
    """PostgreSQL, many rows (a rebuild): COPY them into a temporary table and merge it in
    one INSERT .. SELECT .. ON CONFLICT (one statement, not a round trip a row)."""
    keys, measures = facts.TABLES[name]
    cols = ["grain", "bucket", *keys, *measures]
    quoted = ", ".join(f'"{c}"' for c in cols)
    pk = ", ".join(f'"{c}"' for c in ("grain", "bucket", *keys))
    sets = ", ".join(
        f'"{m}" = GREATEST({name}."{m}", excluded."{m}")'
        if m in facts.MAX_MEASURES
        else f'"{m}" = {name}."{m}" + excluded."{m}"'
        for m in measures
    )
    temp = f"merge_{name}"
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} "
            f"(LIKE {name} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {temp}")
        with cursor.copy(f"COPY {temp} ({quoted}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {name} ({quoted}) SELECT {quoted} FROM {temp} "  # noqa: S608
            f"ON CONFLICT ({pk}) DO UPDATE SET {sets}"
        )
    finally:
        cursor.close()


@functools.cache
def _count_columns(name: str) -> frozenset[str]:
    table = model.metadata.tables[name]
    return frozenset(c.name for c in table.c if isinstance(c.type, sa.Integer))


def delete_buckets(
    conn: Connection, grain: str, lo: int, hi: int, tables: Iterable[str] = ROLLUP_TABLES
) -> None:
    """Delete the rollup rows of ``grain`` with lo <= bucket < hi."""
    for name in tables:
        t = model.metadata.tables[name]
        conn.execute(t.delete().where(t.c.grain == grain, t.c.bucket >= lo, t.c.bucket < hi))


def months_from_days(conn: Connection, months: Iterable[int]) -> None:
    """Recompute whole months from their day rows (a month is exactly the sum of its days;
    a maximum, the largest)."""
    for month in sorted(set(months)):
        lo, hi = month * 100, month * 100 + 99
        for name in ROLLUP_TABLES:
            t = model.metadata.tables[name]
            keys, measures = facts.TABLES[name]
            conn.execute(t.delete().where(t.c.grain == "month", t.c.bucket == month))
            agg = [
                (sa.func.max(t.c[m]) if m in facts.MAX_MEASURES else sa.func.sum(t.c[m])).label(m)
                for m in measures
            ]
            sel = (
                sa.select(
                    sa.literal("month").label("grain"),
                    sa.literal(month, sa.BigInteger).label("bucket"),
                    *[t.c[k] for k in keys],
                    *agg,
                )
                .where(t.c.grain == "day", t.c.bucket >= lo, t.c.bucket <= hi)
                .group_by(*[t.c[k] for k in keys])
            )
            conn.execute(t.insert().from_select(["grain", "bucket", *keys, *measures], sel))
