"""The rebuild's calls, summed by the database: the same measures as facts.call_facts and
facts.ivr_facts (README.md), as GROUP BY queries per quarter hour and scope over a temporary
table of the calls of one chunk, instead of a Python loop per call. Local hours, days and
months are then rolled up from the quarter hours in Python (facts.Acc), as always.

The property test (tests/unit/test_report_rollups.py) holds the rebuild, and so this, equal
to the brute force like the maintainer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from appliance.reports import facts
from appliance.reports import rollup_db as rdb

TEMP = "rb_calls"


def _sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


def _seconds(conn: Connection, column: str) -> str:
    """Whole UTC epoch seconds of a timestamp column (floor)."""
    if _sqlite(conn):
        return f"CAST(strftime('%s', {column}) AS INTEGER)"
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)"


def fill(
    conn: Connection, first_id: int, last_id: int, t_lo: Any, t_hi: Any, short_s: float
) -> None:
    """The temporary table of the chunk's finished calls: per call its quarter hours (of
    its start, of its queue entry), its scope keys and every measure's value."""
    drop(conn)
    mark = "?" if _sqlite(conn) else "%s"
    temp = "TEMP TABLE" if _sqlite(conn) else "TEMPORARY TABLE"
    first_q = "COALESCE(c.entry_queue_id, c.queue_id)"
    moved = f"(c.overflow_queue_id IS NOT NULL AND c.overflow_queue_id <> {first_q})"
    out_q = f"CASE WHEN {moved} THEN c.overflow_queue_id ELSE {first_q} END"
    q_start = f"({_seconds(conn, 'c.started_at')} / 900) * 900"
    q_queue = f"({_seconds(conn, 'COALESCE(c.queued_at, c.started_at)')} / 900) * 900"
    off = "(c.queued_at IS NOT NULL AND c.queue_outcome IS NOT NULL)"
    wait = "(COALESCE(c.wait_ms, 0) / 1000.0)"
    sl = "COALESCE(q.service_level_s, 20)"
    ans = f"({off} AND c.queue_outcome = 'answered')"
    ab = f"({off} AND c.queue_outcome = 'abandoned')"
    over = f"({off} AND (c.queue_outcome IN ('extension', 'overflow') OR {moved}))"

    def flag(cond: str) -> str:
        return f"CASE WHEN {cond} THEN 1 ELSE 0 END"

    bins = [(0, 10), (10, 20), (20, 30), (30, 60), (60, 120), (120, 300)]
    measures = {
        "offered": flag(off),
        "answered": flag(ans),
        "answered_in_sl": flag(f"{ans} AND {wait} <= {sl}"),
        "abandoned": flag(ab),
        "abandoned_in_sl": flag(f"{ab} AND {wait} <= {sl}"),
        "abandoned_short": flag(f"{ab} AND {wait} < {float(short_s)!r}"),
        **{
            f"ab_lt{hi}": flag(f"{ab} AND {wait} < {hi}" + (f" AND {wait} >= {lo}" if lo else ""))
            for lo, hi in bins
        },
        "ab_ge300": flag(f"{ab} AND {wait} >= 300"),
        "overflowed": flag(over),
        "voicemail": flag(f"{off} AND c.queue_outcome = 'voicemail'"),
        "transferred": flag("c.transfers > 0"),
        "handled": flag("c.agent_answered_at IS NOT NULL"),
        "outbound": flag("c.direction = 'outbound'"),
        "wait_answered_s": f"CASE WHEN {ans} THEN {wait} ELSE 0 END",
        "wait_abandoned_s": f"CASE WHEN {ab} THEN {wait} ELSE 0 END",
        "wait_max_s": f"CASE WHEN {off} THEN {wait} ELSE 0 END",
        "talk_s": "COALESCE(c.talk_ms, 0) / 1000.0",
        "hold_s": "COALESCE(c.hold_ms, 0) / 1000.0",
    }
    columns = ",\n            ".join(f"{expr} AS m_{name}" for name, expr in measures.items())
    sql = f"""
        CREATE {temp} {TEMP} AS
        SELECT c.id AS id, {q_start} AS qs, {q_queue} AS qq,
            CASE WHEN c.direction = 'inbound' AND c.called_number <> ''
                THEN substr(c.called_number, 1, 64) END AS did,
            c.flow_id AS flow_id, {first_q} AS first_q, {out_q} AS out_q,
            {flag(moved)} AS moved, c.agent_id AS agent_id,
            {flag("c.queue_outcome = 'extension'")} AS o_ext,
            {flag("c.queue_outcome = 'overflow'")} AS o_ovf,
            {columns}
        FROM calls c LEFT JOIN queues q ON q.id = ({out_q})
        WHERE c.id >= {mark} AND c.id <= {mark} AND c.ended_at IS NOT NULL
            AND c.started_at >= {mark} AND c.started_at < {mark}
    """  # noqa: S608 (constants)
    conn.exec_driver_sql(sql, (first_id, last_id, t_lo, t_hi))


def drop(conn: Connection) -> None:
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TEMP}")


# the measures the temporary table has, in the order the sums below read them
_SUMMED = tuple(
    m
    for m in facts.TRAFFIC_MEASURES
    if m not in ("calls", "callbacks", "recordings", "voicemails", "wrapup_s")
    and m not in ("recording_s", "voicemail_s")
)
_AT = {m: i for i, m in enumerate(facts.TRAFFIC_MEASURES)}
_SUMS = ", ".join(f"MAX(m_{m})" if m in facts.MAX_MEASURES else f"SUM(m_{m})" for m in _SUMMED)


def _vector(n: float, sums: Any) -> list[float]:
    """A report_traffic vector from COUNT(*) and the _SUMMED sums."""
    v = [0.0] * len(facts.TRAFFIC_MEASURES)
    v[_AT["calls"]] = float(n)
    for m, x in zip(_SUMMED, sums, strict=True):
        v[_AT[m]] = float(x or 0)
    return v


def count(
    conn: Connection, acc: facts.Acc, world: facts.World, window: tuple[float, float]
) -> None:
    """Sum the temporary table's calls into ``acc`` (quarter hours in [lo, hi) only), in
    three passes: by start (center, DID, flow), by queue visit (queues, skills,
    overflows), by agent (agents, departments, report_agent's handled)."""
    lo, hi = int(window[0]), int(window[1])
    traffic = "report_traffic"
    over_at = _AT["overflowed"]
    for q, did, flow, n, *sums in conn.exec_driver_sql(
        f"SELECT qs, did, flow_id, COUNT(*), {_SUMS} FROM {TEMP} "  # noqa: S608 (constants)
        f"WHERE qs >= {lo} AND qs < {hi} GROUP BY qs, did, flow_id"
    ):
        v = _vector(n, sums)
        acc.add_vector(traffic, (q, "center", ""), v)
        if did is not None:
            acc.add_vector(traffic, (q, "did", str(did)), list(v))
        if flow is not None:
            acc.add_vector(traffic, (q, "flow", str(flow)), list(v))
    queued = f"qq >= {lo} AND qq < {hi}"
    for q, first, out, moved, ext, ovf, n, *sums in conn.exec_driver_sql(
        f"SELECT qq, first_q, out_q, moved, SUM(o_ext), SUM(o_ovf), COUNT(*), {_SUMS} "  # noqa: S608
        f"FROM {TEMP} WHERE {queued} AND first_q IS NOT NULL GROUP BY qq, first_q, out_q, moved"
    ):
        v = _vector(n, sums)
        if moved:
            entry = [0.0] * len(v)
            entry[_AT["calls"]] = float(n)
            entry[_AT["offered"]] = v[_AT["offered"]]
            entry[over_at] = float(n)
            acc.add_vector(traffic, (q, "queue", str(first)), entry)
            acc.add("report_overflow", (q, first, "queue", str(out)), {0: float(n)})
            rest = list(v)
            rest[over_at] = 0.0
            acc.add_vector(traffic, (q, "queue", str(out)), rest)
        else:
            acc.add_vector(traffic, (q, "queue", str(first)), list(v))
        if ext:
            acc.add("report_overflow", (q, out, "extension", ""), {0: float(ext)})
        if ovf:
            acc.add("report_overflow", (q, out, "hangup", ""), {0: float(ovf)})
        for skill in world.queue_skills.get(out, ()):
            acc.add_vector(traffic, (q, "skill", str(skill)), list(v))
    handled = facts.TABLES["report_agent"][1].index("handled")
    for q, agent, n, *sums in conn.exec_driver_sql(
        f"SELECT qq, agent_id, COUNT(*), {_SUMS} FROM {TEMP} "  # noqa: S608 (constants)
        f"WHERE {queued} AND agent_id IS NOT NULL GROUP BY qq, agent_id"
    ):
        v = _vector(n, sums)
        acc.add_vector(traffic, (q, "agent", str(agent)), v)
        dept = world.department.get(agent, "")[:64]
        if dept:
            acc.add_vector(traffic, (q, "department", dept), list(v))
        if v[_AT["handled"]]:
            acc.add("report_agent", (q, agent), {handled: v[_AT["handled"]]})
    _steps(conn, acc, world, f"r.qs >= {lo} AND r.qs < {hi}")


def _steps(conn: Connection, acc: facts.Acc, world: facts.World, start: str) -> None:
    """IVR steps, grouped by their JSON text (a handful of distinct texts: each parsed once,
    as the maintainer parses it: rollup_db.steps_of)."""
    sql = (
        f"SELECT r.qs, e.data, COUNT(*) FROM {TEMP} r "  # noqa: S608 (constants)
        f"JOIN call_events e ON e.call_id = r.id WHERE e.kind = 'ivr_step' AND {start} "
        "GROUP BY r.qs, e.data"
    )
    parsed: dict[str, tuple[Any, ...]] = {}
    for q, data, n in conn.exec_driver_sql(sql):
        step = parsed.get(data)
        if step is None:
            step = parsed[data] = rdb.parse_step(0, data)
        _, flow, node, branch = step
        flow_id = world.flows.get(flow)
        if flow_id is None:
            continue
        node_key = node[:64]
        acc.add("report_ivr", (q, flow_id, node_key, "entered"), {0: float(n)})
        if branch == facts.HUNG_UP:
            acc.add("report_ivr", (q, flow_id, node_key, "hangup"), {0: float(n)})
        elif branch:
            outcome = f"branch:{str(branch)[:64]}"
            acc.add("report_ivr", (q, flow_id, node_key, outcome), {0: float(n)})


def recordings(conn: Connection, acc: facts.Acc, world: facts.World, t_lo: Any, t_hi: Any) -> int:
    """The recordings started in [t_lo, t_hi), summed per quarter hour, queue and agent (as
    facts.recording_facts counts them one by one)."""
    mark = "?" if _sqlite(conn) else "%s"
    q = f"({_seconds(conn, 'started_at')} / 900) * 900"
    sql = (
        f"SELECT {q}, queue_id, agent_id, COUNT(*), SUM(duration_ms) FROM recordings "  # noqa: S608
        f"WHERE started_at >= {mark} AND started_at < {mark} GROUP BY 1, 2, 3"
    )
    n_at, s_at = _AT["recordings"], _AT["recording_s"]
    total = 0
    for q15, queue_id, agent_id, n, ms in conn.exec_driver_sql(sql, (t_lo, t_hi)):
        m = {n_at: float(n), s_at: float(ms or 0) / 1000.0}
        facts.recording_traffic(acc, q15, queue_id, agent_id, m, world)
        total += int(n)
    return total
