"""Every report kind, built from the rollups into a ``Report`` (appliance/reports/model.py).

Entry points:

- ``await build_report(db, kind, rng, scope, key, settings)``: the web's and the
  scheduler's call; one ``db.run`` job (the database thread pool) builds the whole report.
- ``build_report_in(conn, kind, rng, scope, key, settings)``: the same, synchronous, on a
  connection you hold (benchmarks, the CLI, tests).
- ``REPORT_KINDS``: name -> ``ReportKind`` (its label, the scopes it accepts, its builder);
  ``register(ReportKind(...))`` adds one (forecast and staffing do).
- ``sort_table(table, column, descending)``: a table sorted by an allowlisted column.

``settings`` is the ``[reports]`` section (``appliance.config.ReportsConfig``): its
``short_abandon_s`` names the short-abandon threshold. A builder takes
``(conn, rng, scope, key, settings)`` and runs in the pool; a wrong scope or key raises
``query.ReportError`` with an ``N_()`` message before any query runs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from acd.agent_state import PAUSE_REASON_NAMES
from appliance.db import model as m
from appliance.reports import derived as d
from appliance.reports import forecast, staffing
from appliance.reports import query as q
from appliance.reports.drill import DRILL_SCOPES
from appliance.reports.facts import AGENT_MEASURES, MAX_MEASURES
from appliance.reports.model import (
    ChartSpec,
    Column,
    Figure,
    Report,
    Series,
    Table,
    drill_query,
)
from appliance.reports.query import ReportError
from appliance.reports.ranges import WEEKDAYS, ReportRange
from appliance.text import N_

Builder = Callable[[Connection, ReportRange, str, str, Any], Report]


@dataclass(frozen=True)
class ReportKind:
    """A report the menu offers: ``scopes`` are the ones it accepts (the first is the
    default), ``build`` makes it in the database pool."""

    name: str
    label: str
    scopes: tuple[str, ...]
    build: Builder


REPORT_KINDS: dict[str, ReportKind] = {}


def register(kind: ReportKind) -> None:
    REPORT_KINDS[kind.name] = kind


def kind_of(kind: str) -> ReportKind:
    spec = REPORT_KINDS.get(kind)
    if spec is None:
        raise ReportError(N_("Unknown report: {kind}", kind=str(kind)[:40]))
    return spec


def build_report_in(
    conn: Connection, kind: str, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    """Build a report on a connection (in the pool): checks the kind, scope and key first."""
    spec = kind_of(kind)
    q.check_scope(scope, key, spec.scopes)
    return spec.build(conn, rng, scope, key, settings)


async def build_report(
    db: Any, kind: str, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    """Build a report in the database thread pool (``db.run``); bad input raises
    ``ReportError`` on the caller's side, before any thread is used."""
    spec = kind_of(kind)
    q.check_scope(scope, key, spec.scopes)
    result: Report = await db.run(lambda conn: spec.build(conn, rng, scope, key, settings))
    return result


def sort_table(table: Table, column: str, descending: bool = False) -> Table:
    """``table`` with its rows sorted by ``column``, which must be one of ``table.sortable``
    (the allowlist: any other name is refused). None sorts last either way."""
    if column not in table.sortable:
        raise ReportError(N_("This table cannot be sorted by {column}.", column=column[:40]))
    i = table.column_index(column)
    present = [r for r in table.rows if r[i] is not None]
    missing = [r for r in table.rows if r[i] is None]
    present.sort(key=lambda r: (isinstance(r[i], str), r[i]), reverse=descending)
    return replace(table, rows=tuple(present + missing))


# ---- shared pieces ---------------------------------------------------------------------------


def _title(conn: Connection, label: str, scope: str, key: str) -> str:
    if scope == "center":
        return label
    name = q.names(conn, scope, [key]).get(key, key)
    return N_("{report}: {name}", report=label, name=name)


@dataclass(frozen=True)
class _Point:
    """One point of a trend: its label, its drill bucket and the rollup buckets it sums."""

    label: str
    grain: str
    bucket: int
    parts: tuple[int, ...]


def _trend_points(rng: ReportRange) -> tuple[str, tuple[_Point, ...]]:
    """The trend's points: half hours (of q15 rows) for a range of up to two days, else the
    range's grain (days, months)."""
    if rng.days <= 2:
        points: list[_Point] = []
        tz = rng.tz
        for bucket, label in rng.trend_buckets("q15"):
            local = dt.datetime.fromtimestamp(bucket, tz)
            if points and local.minute % 30:
                last = points[-1]
                points[-1] = replace(last, parts=(*last.parts, bucket))
            else:
                points.append(_Point(label, "half", bucket, (bucket,)))
        return "q15", tuple(points)
    grain = rng.grain
    return grain, tuple(_Point(lbl, grain, b, (b,)) for b, lbl in rng.trend_buckets(grain))


def _series_sums(
    points: Sequence[_Point], rows: dict[int, dict[str, float]], measures: Sequence[str]
) -> list[dict[str, float]]:
    out = []
    for p in points:
        acc = {n: 0.0 for n in measures}
        for part in p.parts:
            row = rows.get(part)
            if row:
                for n in measures:
                    if n in MAX_MEASURES:
                        acc[n] = max(acc[n], row[n])
                    else:
                        acc[n] += row[n]
        out.append(acc)
    return out


def _traffic_trend(
    conn: Connection, rng: ReportRange, scope: str, key: str, measures: Sequence[str]
) -> tuple[tuple[_Point, ...], list[dict[str, float]]]:
    """The trend's points and, for each, the scope's report_traffic measures summed."""
    read_grain, points = _trend_points(rng)
    first, last = q.grain_bounds(rng, read_grain)
    rows = {
        r[0]: dict(zip(measures, (float(v) for v in r[1:]), strict=True))
        for r in q.bucket_rows(
            conn,
            m.report_traffic,
            read_grain,
            first,
            last,
            where={"scope": scope, "key": key},
            columns=measures,
        )
    }
    return points, _series_sums(points, rows, measures)


# ---- traffic ---------------------------------------------------------------------------------

_TREND = (
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "abandoned_short",
    "overflowed",
    "voicemail",
    "wait_answered_s",
    "wait_max_s",
    "talk_s",
    "hold_s",
    "wrapup_s",
    "handled",
)


# Wrap-up is an agent state: counted for agents, departments and the center only.
WRAPUP_SCOPES = ("center", "agent", "department")
_NO_WRAPUP = N_(
    "Wrap-up is an agent's time, not a queue's: this scope's handle time is talk and hold."
)


def _traffic_figures(t: dict[str, float], settings: Any, scope: str) -> tuple[Figure, ...]:
    wrapup = d.rounded(d.per_handled(t, "wrapup_s")) if scope in WRAPUP_SCOPES else None
    short = int(getattr(settings, "short_abandon_s", 5))
    return (
        Figure("offered", N_("Offered"), t["offered"], "count", "offered"),
        Figure("answered", N_("Answered"), t["answered"], "count", "answered"),
        Figure("abandoned", N_("Abandoned"), t["abandoned"], "count", "abandoned"),
        Figure(
            "abandoned_short",
            N_("Short abandons (under {seconds} s)", seconds=short),
            t["abandoned_short"],
            "count",
            "abandoned_short",
        ),
        Figure(
            "abandon_rate", N_("Abandon rate"), d.rounded(d.abandon_rate(t)), "pct", "abandoned"
        ),
        Figure("overflowed", N_("Overflowed"), t["overflowed"], "count", "overflowed"),
        Figure("voicemail", N_("To voicemail"), t["voicemail"], "count", "voicemail"),
        Figure("callbacks", N_("Callbacks"), t["callbacks"], "count"),
        Figure(
            "sl_answered",
            N_("Service level (of answered)"),
            d.rounded(d.sl_of_answered(t)),
            "pct",
            "answered_late",
        ),
        Figure(
            "sl_offered",
            N_("Service level (of offered)"),
            d.rounded(d.sl_of_offered(t)),
            "pct",
            "answered_late",
        ),
        Figure("asa", N_("Average speed of answer"), d.rounded(d.asa(t)), "s", "answered"),
        Figure("avg_wait", N_("Average wait"), d.rounded(d.avg_wait(t)), "s"),
        Figure("max_wait", N_("Longest wait"), t["wait_max_s"], "s"),
        Figure("avg_talk", N_("Average talk"), d.rounded(d.per_handled(t, "talk_s")), "s"),
        Figure("avg_hold", N_("Average hold"), d.rounded(d.per_handled(t, "hold_s")), "s"),
        Figure("avg_wrapup", N_("Average wrap-up"), wrapup, "s"),
        Figure("aht", N_("Average handle time"), d.rounded(d.aht(t)), "s"),
        Figure("handled", N_("Handled"), t["handled"], "count", "handled"),
        Figure("transferred", N_("Transferred"), t["transferred"], "count", "transferred"),
    )


def _traffic_columns(first: Column) -> tuple[Column, ...]:
    return (
        first,
        Column("offered", N_("Offered"), "count"),
        Column("answered", N_("Answered"), "count"),
        Column("abandoned", N_("Abandoned"), "count"),
        Column("abandon_rate", N_("Abandon rate"), "pct"),
        Column("sl_answered", N_("Service level (of answered)"), "pct"),
        Column("sl_offered", N_("Service level (of offered)"), "pct"),
        Column("asa", N_("Average speed of answer"), "s"),
        Column("max_wait", N_("Longest wait"), "s"),
        Column("aht", N_("Average handle time"), "s"),
        Column("drill", N_("Calls"), "drill"),
    )


_TRAFFIC_SORTABLE = (
    "offered",
    "answered",
    "abandoned",
    "abandon_rate",
    "sl_answered",
    "sl_offered",
    "asa",
    "max_wait",
    "aht",
)


def _traffic_cells(t: dict[str, float]) -> tuple[Any, ...]:
    return (
        int(t["offered"]),
        int(t["answered"]),
        int(t["abandoned"]),
        d.rounded(d.abandon_rate(t)),
        d.rounded(d.sl_of_answered(t)),
        d.rounded(d.sl_of_offered(t)),
        d.rounded(d.asa(t)),
        t["wait_max_s"],
        d.rounded(d.aht(t)),
    )


def _heatmap(conn: Connection, rng: ReportRange, scope: str, key: str) -> ChartSpec:
    """Offered calls by local hour (x) and weekday (y rows), from the hour rows."""
    grid = q.offered_by_hour_of_week(conn, rng, scope, key)
    return ChartSpec(
        "heatmap",
        N_("Offered calls by hour and weekday"),
        "heatmap",
        tuple(f"{h:02d}" for h in range(24)),
        tuple(Series(f"weekday{i}", WEEKDAYS[i], tuple(grid[i])) for i in range(7)),
        "count",
    )


# report_overflow's kinds (appliance/reports/README.md)
_OVERFLOW_KINDS = {
    "queue": N_("Another queue"),
    "extension": N_("An extension"),
    "hangup": N_("Hung up (goodbye)"),
}


def _overflow_table(
    conn: Connection, spans: Sequence[q.Span], queue_ids: tuple[int, ...] | None
) -> Table:
    rows = q.sum_rows(
        conn,
        m.report_overflow,
        spans,
        where={"queue_id": queue_ids} if queue_ids is not None else None,
        group_by=("queue_id", "kind", "target"),
        sums=("count",),
    )
    queue_names = q.names(
        conn,
        "queue",
        [str(g[0]) for g in rows] + [g[2] for g in rows if g[1] == "queue"],
    )
    out = sorted(
        (
            (
                queue_names.get(str(qid), str(qid)),
                _OVERFLOW_KINDS.get(kind, kind),
                queue_names.get(target, target) if kind == "queue" else target,
                int(v["count"]),
            )
            for (qid, kind, target), v in rows.items()
        ),
        key=lambda r: -r[3],
    )
    return Table(
        "overflow",
        N_("Overflowed calls and where they went"),
        (
            Column("queue", N_("Queue"), "text"),
            Column("kind", N_("Went to"), "text"),
            Column("target", N_("Target"), "text"),
            Column("count", N_("Calls"), "count"),
        ),
        tuple(out),
        ("queue", "kind", "count"),
    )


def build_traffic(
    conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    spans = q.cover(rng)
    t = q.traffic_totals(conn, spans, scope, key)
    points, sums = _traffic_trend(conn, rng, scope, key, _TREND)
    categories = tuple(p.label for p in points)
    buckets = tuple((p.grain, p.bucket) for p in points)
    trend = ChartSpec(
        "trend",
        N_("Calls over the range"),
        "line",
        categories,
        (
            Series("offered", N_("Offered"), tuple(s["offered"] for s in sums)),
            Series("answered", N_("Answered"), tuple(s["answered"] for s in sums)),
            Series("abandoned", N_("Abandoned"), tuple(s["abandoned"] for s in sums)),
        ),
        "count",
        drill="offered",
        buckets=buckets,
    )
    trend_sl = ChartSpec(
        "trend_sl",
        N_("Service level over the range"),
        "line",
        categories,
        (
            Series(
                "sl_answered",
                N_("Service level (of answered)"),
                tuple(d.rounded(d.sl_of_answered(s)) for s in sums),
            ),
            Series(
                "sl_offered",
                N_("Service level (of offered)"),
                tuple(d.rounded(d.sl_of_offered(s)) for s in sums),
            ),
        ),
        "pct",
        drill="answered_late",
        buckets=buckets,
    )
    bins = d.abandon_bins(t)
    abandons = ChartSpec(
        "abandon_times",
        N_("Abandons by seconds waited"),
        "histogram",
        tuple(label for label, _ in bins),
        (Series("abandoned", N_("Abandoned"), tuple(v for _, v in bins)),),
        "count",
        drill="abandoned",
    )
    by_period = Table(
        "by_period",
        N_("By period"),
        _traffic_columns(Column("period", N_("Period"), "text")),
        tuple(
            (
                p.label,
                *_traffic_cells(s),
                drill_query("offered", grain=p.grain, bucket=p.bucket),
            )
            for p, s in zip(points, sums, strict=True)
        ),
        ("period", *_TRAFFIC_SORTABLE),
    )
    tables = [by_period]
    if scope == "center":
        per_queue = q.traffic_by_key(conn, spans, "queue")
        queue_names = q.names(conn, "queue", per_queue)
        tables.append(
            Table(
                "by_queue",
                N_("By queue"),
                _traffic_columns(Column("queue", N_("Queue"), "text")),
                tuple(
                    (
                        queue_names.get(k, k),
                        *_traffic_cells(v),
                        drill_query("offered", scope="queue", key=k),
                    )
                    for k, v in sorted(per_queue.items(), key=lambda kv: -kv[1]["offered"])
                ),
                ("queue", *_TRAFFIC_SORTABLE),
            )
        )
    if scope in ("center", "queue"):
        tables.append(_overflow_table(conn, spans, None if scope == "center" else (int(key),)))
    report = Report(
        "traffic",
        _title(conn, N_("Traffic"), scope, key),
        rng.label,
        scope,
        key,
        _traffic_figures(t, settings, scope),
        tuple(tables),
        (trend, trend_sl, abandons, _heatmap(conn, rng, scope, key)),
        notes=() if scope in WRAPUP_SCOPES else (_NO_WRAPUP,),
    )
    return report if scope in DRILL_SCOPES else without_drills(report)


def without_drills(report: Report) -> Report:
    """The report with no drill links (its scope's calls cannot be listed: a campaign's)."""
    tables = []
    for t in report.tables:
        keep = [i for i, col in enumerate(t.columns) if col.unit != "drill"]
        tables.append(
            replace(
                t,
                columns=tuple(t.columns[i] for i in keep),
                rows=tuple(tuple(r[i] for i in keep) for r in t.rows),
            )
        )
    return replace(
        report,
        figures=tuple(replace(f, drill=None) for f in report.figures),
        tables=tuple(tables),
        charts=tuple(replace(c, drill=None) for c in report.charts),
    )


# ---- agents ----------------------------------------------------------------------------------


def _agent_ids(conn: Connection, scope: str, key: str) -> tuple[int, ...] | None:
    if scope == "agent":
        return (int(key),)
    if scope == "department":
        return tuple(q.agents_of_department(conn, key))
    return None


def _workload_cells(a: dict[str, float]) -> tuple[Any, ...]:
    return (
        a["logged_in_s"],
        a["available_s"],
        a["on_call_s"],
        a["wrap_up_s"],
        a["paused_s"],
        int(a["handled"]),
        int(a["missed"]),
        d.rounded(d.occupancy(a)),
        None,  # adherence: no schedules yet
    )


def _workload_columns(first: Sequence[Column]) -> tuple[Column, ...]:
    return (
        *first,
        Column("logged_in", N_("Logged in"), "s"),
        Column("ready", N_("Ready"), "s"),
        Column("talk", N_("Talk"), "s"),
        Column("wrapup", N_("Wrap-up"), "s"),
        Column("paused", N_("Paused"), "s"),
        Column("handled", N_("Handled"), "count"),
        Column("missed", N_("Missed"), "count"),
        Column("occupancy", N_("Occupancy"), "pct"),
        Column("adherence", N_("Adherence"), "pct"),
    )


_WORKLOAD_SORTABLE = (
    "logged_in",
    "ready",
    "talk",
    "wrapup",
    "paused",
    "handled",
    "missed",
    "occupancy",
)


def _add(into: dict[str, float], more: dict[str, float]) -> None:
    for n, v in more.items():
        into[n] = into.get(n, 0.0) + v


def build_agents(conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any) -> Report:
    spans = q.cover(rng)
    ids = _agent_ids(conn, scope, key)
    where = {"agent_id": ids} if ids is not None else None
    per_agent = {
        g[0]: v
        for g, v in q.sum_rows(
            conn, m.report_agent, spans, where=where, group_by=("agent_id",), sums=AGENT_MEASURES
        ).items()
    }
    pauses = q.sum_rows(
        conn,
        m.report_pause,
        spans,
        where=where,
        group_by=("agent_id", "reason"),
        sums=("seconds", "count"),
    )
    agent_names = q.names(conn, "agent", [str(a) for a in per_agent])
    dept_of = q.departments(conn)
    total: dict[str, float] = {n: 0.0 for n in AGENT_MEASURES}
    by_dept: dict[str, dict[str, float]] = {}
    for aid, v in per_agent.items():
        _add(total, v)
        _add(by_dept.setdefault(dept_of.get(aid, ""), {}), v)
    by_reason: dict[str, dict[str, float]] = {}
    for (_aid, reason), v in pauses.items():
        _add(by_reason.setdefault(reason, {}), v)
    figures = (
        Figure(
            "agents",
            N_("Agents who logged in"),
            float(sum(1 for v in per_agent.values() if v["logged_in_s"] > 0)),
            "agents",
        ),
        Figure("logged_in", N_("Logged in"), total["logged_in_s"], "s"),
        Figure("ready", N_("Ready"), total["available_s"], "s"),
        Figure("talk", N_("Talk"), total["on_call_s"], "s"),
        Figure("wrapup", N_("Wrap-up"), total["wrap_up_s"], "s"),
        Figure("paused", N_("Paused"), total["paused_s"], "s"),
        Figure("handled", N_("Handled"), total["handled"], "count", "handled"),
        Figure("missed", N_("Missed"), total["missed"], "count"),
        Figure("occupancy", N_("Occupancy"), d.rounded(d.occupancy(total)), "pct"),
        Figure("adherence", N_("Adherence"), None, "pct"),
    )
    agents_table = Table(
        "by_agent",
        N_("By agent"),
        (
            *_workload_columns(
                (
                    Column("agent", N_("Agent"), "text"),
                    Column("department", N_("Department"), "text"),
                )
            ),
            Column("drill", N_("Calls"), "drill"),
        ),
        tuple(
            (
                agent_names.get(str(aid), str(aid)),
                dept_of.get(aid, ""),
                *_workload_cells(v),
                drill_query("handled", scope="agent", key=str(aid)),
            )
            for aid, v in sorted(per_agent.items(), key=lambda kv: agent_names.get(str(kv[0]), ""))
        ),
        ("agent", "department", *_WORKLOAD_SORTABLE),
    )
    tables = [agents_table]
    if scope == "center":
        tables.insert(
            0,
            Table(
                "by_department",
                N_("By department"),
                _workload_columns((Column("department", N_("Department"), "text"),)),
                tuple((dep, *_workload_cells(v)) for dep, v in sorted(by_dept.items())),
                ("department", *_WORKLOAD_SORTABLE),
            ),
        )
    paused_total = sum(v["seconds"] for v in by_reason.values())
    tables.append(
        Table(
            "pause_reasons",
            N_("Pauses by reason"),
            (
                Column("reason", N_("Reason"), "text"),
                Column("count", N_("Pauses"), "count"),
                Column("seconds", N_("Paused"), "s"),
                Column("share", N_("Share"), "pct"),
            ),
            tuple(
                (
                    PAUSE_REASON_NAMES.get(reason, reason),
                    int(v["count"]),
                    v["seconds"],
                    d.rounded(d.pct(v["seconds"], paused_total)),
                )
                for reason, v in sorted(by_reason.items(), key=lambda kv: -kv[1]["seconds"])
            ),
            ("reason", "count", "seconds", "share"),
        )
    )
    # the workload chart: per department for the center, else per agent
    if scope == "center":
        groups = [(dep or "-", v) for dep, v in sorted(by_dept.items())]
    else:
        groups = [
            (agent_names.get(str(aid), str(aid)), v)
            for aid, v in sorted(per_agent.items(), key=lambda kv: agent_names.get(str(kv[0]), ""))
        ]
    workload = ChartSpec(
        "workload",
        N_("Where the logged-in time went"),
        "stacked_bar",
        tuple(g for g, _ in groups),
        tuple(
            Series(name, label, tuple(v[measure] for _, v in groups))
            for name, label, measure in (
                ("talk", N_("Talk"), "on_call_s"),
                ("wrapup", N_("Wrap-up"), "wrap_up_s"),
                ("ready", N_("Ready"), "available_s"),
                ("ringing", N_("Ringing"), "ringing_s"),
                ("paused", N_("Paused"), "paused_s"),
            )
        ),
        "s",
    )
    reasons = sorted(by_reason.items(), key=lambda kv: -kv[1]["seconds"])
    pause_chart = ChartSpec(
        "pause_reasons",
        N_("Pauses by reason"),
        "bar",
        tuple(PAUSE_REASON_NAMES.get(r, r) for r, _ in reasons),
        (Series("seconds", N_("Paused"), tuple(v["seconds"] for _, v in reasons)),),
        "s",
    )
    return Report(
        "agents",
        _title(conn, N_("Agent workload"), scope, key),
        rng.label,
        scope,
        key,
        figures,
        tuple(tables),
        (workload, pause_chart),
        notes=(N_("Adherence needs schedules; none exist yet."),),
    )


# ---- IVR -------------------------------------------------------------------------------------


def build_ivr(conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any) -> Report:
    spans = q.cover(rng)
    rows = q.sum_rows(
        conn,
        m.report_ivr,
        spans,
        where={"flow_id": int(key)} if scope == "flow" else None,
        group_by=("flow_id", "node", "outcome"),
        sums=("count",),
    )
    flow_names = q.names(conn, "flow", [str(g[0]) for g in rows])
    nodes: dict[tuple[int, str], dict[str, float]] = {}
    choices: list[tuple[int, str, str, float]] = []
    for (flow_id, node, outcome), v in rows.items():
        n = nodes.setdefault((flow_id, node), {"entered": 0.0, "hangup": 0.0, "chose": 0.0})
        if outcome == "entered":
            n["entered"] += v["count"]
        elif outcome == "hangup":
            n["hangup"] += v["count"]
        elif outcome.startswith("branch:"):
            n["chose"] += v["count"]
            choices.append((flow_id, node, outcome.removeprefix("branch:"), v["count"]))
    order = sorted(nodes, key=lambda fn: (flow_names.get(str(fn[0]), ""), fn[1]))
    entered_total = sum(n["entered"] for n in nodes.values())
    hangup_total = sum(n["hangup"] for n in nodes.values())
    node_table = Table(
        "nodes",
        N_("By flow node"),
        (
            Column("flow", N_("Flow"), "text"),
            Column("node", N_("Node"), "text"),
            Column("entered", N_("Entered"), "count"),
            Column("chose", N_("Made a choice"), "count"),
            Column("hangup", N_("Hung up there"), "count"),
            Column("hangup_rate", N_("Hung up there (share)"), "pct"),
        ),
        tuple(
            (
                flow_names.get(str(f), str(f)),
                node,
                int(nodes[f, node]["entered"]),
                int(nodes[f, node]["chose"]),
                int(nodes[f, node]["hangup"]),
                d.rounded(d.pct(nodes[f, node]["hangup"], nodes[f, node]["entered"])),
            )
            for f, node in order
        ),
        ("flow", "node", "entered", "chose", "hangup", "hangup_rate"),
    )
    choice_table = Table(
        "choices",
        N_("Choices per node"),
        (
            Column("flow", N_("Flow"), "text"),
            Column("node", N_("Node"), "text"),
            Column("choice", N_("Choice"), "text"),
            Column("count", N_("Calls"), "count"),
            Column("share", N_("Share of entered"), "pct"),
        ),
        tuple(
            (
                flow_names.get(str(f), str(f)),
                node,
                choice,
                int(count),
                d.rounded(d.pct(count, nodes[f, node]["entered"])),
            )
            for f, node, choice, count in sorted(
                choices, key=lambda c: (flow_names.get(str(c[0]), ""), c[1], c[2])
            )
        ),
        ("flow", "node", "choice", "count", "share"),
    )
    chart = ChartSpec(
        "nodes",
        N_("Callers per node"),
        "bar",
        tuple(
            node if scope == "flow" else f"{flow_names.get(str(f), f)}: {node}" for f, node in order
        ),
        (
            Series("entered", N_("Entered"), tuple(nodes[fn]["entered"] for fn in order)),
            Series("hangup", N_("Hung up there"), tuple(nodes[fn]["hangup"] for fn in order)),
        ),
        "count",
    )
    return Report(
        "ivr",
        _title(conn, N_("IVR traffic"), scope, key),
        rng.label,
        scope,
        key,
        (
            Figure("entered", N_("Node entries"), entered_total, "count"),
            Figure("hangup", N_("Hung up in the IVR"), hangup_total, "count"),
        ),
        (node_table, choice_table),
        (chart,),
    )


# ---- outbound --------------------------------------------------------------------------------


def build_outbound(
    conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    spans = q.cover(rng)
    rows = q.sum_rows(
        conn,
        m.report_outbound,
        spans,
        where={"campaign_id": int(key)} if scope == "campaign" else None,
        group_by=("campaign_id", "outcome"),
        sums=("count", "talk_s", "wait_s"),
    )
    camp_names = q.names(conn, "campaign", [str(g[0]) for g in rows])
    outcomes: list[str] = list(m.DIAL_OUTCOMES)
    outcomes += sorted({str(o) for _, o in rows} - set(m.DIAL_OUTCOMES))
    per: dict[int, dict[str, float]] = {}
    for (cid, outcome), v in rows.items():
        acc = per.setdefault(cid, {"attempts": 0.0, "talk_s": 0.0, "wait_s": 0.0})
        acc[outcome] = acc.get(outcome, 0.0) + v["count"]
        acc["attempts"] += v["count"]
        acc["talk_s"] += v["talk_s"]
        acc["wait_s"] += v["wait_s"]
    total: dict[str, float] = {}
    for v in per.values():
        _add(total, v)

    def cells(v: dict[str, float]) -> tuple[Any, ...]:
        person = v.get("answered", 0.0) + v.get("abandoned", 0.0)
        return (
            int(v.get("attempts", 0)),
            *(int(v.get(o, 0)) for o in outcomes),
            d.rounded(d.pct(v.get("abandoned", 0.0), person)),
            d.rounded(d.ratio(v.get("talk_s", 0.0), v.get("answered", 0.0))),
            d.rounded(d.ratio(v.get("wait_s", 0.0), v.get("answered", 0.0))),
        )

    table = Table(
        "by_campaign",
        N_("By campaign"),
        (
            Column("campaign", N_("Campaign"), "text"),
            Column("attempts", N_("Attempts"), "count"),
            *(Column(o, _OUTCOME_LABELS.get(o, o), "count") for o in outcomes),
            Column("abandon_rate", N_("Abandon rate"), "pct"),
            Column("avg_talk", N_("Average talk"), "s"),
            Column("avg_wait", N_("Average wait for an agent"), "s"),
        ),
        tuple(
            (camp_names.get(str(cid), str(cid)), *cells(v))
            for cid, v in sorted(per.items(), key=lambda kv: camp_names.get(str(kv[0]), ""))
        ),
        ("campaign", "attempts", *outcomes, "abandon_rate", "avg_talk", "avg_wait"),
    )
    person = total.get("answered", 0.0) + total.get("abandoned", 0.0)
    chart = ChartSpec(
        "outcomes",
        N_("Attempts by outcome"),
        "bar",
        tuple(_OUTCOME_LABELS.get(o, o) for o in outcomes),
        (Series("attempts", N_("Attempts"), tuple(total.get(o, 0.0) for o in outcomes)),),
        "count",
    )
    return Report(
        "outbound",
        _title(conn, N_("Outbound"), scope, key),
        rng.label,
        scope,
        key,
        (
            Figure("attempts", N_("Attempts"), total.get("attempts", 0.0), "count"),
            Figure("answered", N_("Answered"), total.get("answered", 0.0), "count"),
            Figure(
                "abandon_rate",
                N_("Abandon rate"),
                d.rounded(d.pct(total.get("abandoned", 0.0), person)),
                "pct",
            ),
            Figure(
                "avg_talk",
                N_("Average talk"),
                d.rounded(d.ratio(total.get("talk_s", 0.0), total.get("answered", 0.0))),
                "s",
            ),
        ),
        (table,),
        (chart,),
    )


_OUTCOME_LABELS: dict[str, str] = {
    "answered": N_("Answered"),
    "no_answer": N_("No answer"),
    "busy": N_("Busy"),
    "congestion": N_("Congestion"),
    "machine": N_("Answering machine"),
    "abandoned": N_("Abandoned"),
    "failed": N_("Failed"),
    "dnc": N_("Do not call"),
}


# ---- QA --------------------------------------------------------------------------------------


def _form_items(conn: Connection, form_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """(form id, question id) -> the question's text, read leniently from the forms."""
    ids = sorted(set(form_ids))
    out: dict[tuple[int, str], str] = {}
    if not ids:
        return out
    for r in conn.execute(
        sa.select(m.qa_forms.c.id, m.qa_forms.c.name, m.qa_forms.c.definition).where(
            m.qa_forms.c.id.in_(ids)
        )
    ):
        out[r.id, ""] = r.name
        try:
            definition = json.loads(r.definition)
            for group in definition.get("groups", []):
                for question in group.get("questions", []):
                    out[r.id, str(question["id"])] = str(question.get("text", ""))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return out


def build_qa(conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any) -> Report:
    spans = q.cover(rng)
    where: dict[str, Any] | None = None
    if scope == "agent":
        where = {"agent_id": int(key)}
    elif scope == "queue":
        where = {"queue_id": int(key)}
    rows = q.sum_rows(
        conn,
        m.report_qa,
        spans,
        where=where,
        group_by=("agent_id", "queue_id", "form_id", "item"),
        sums=("score_sum", "count"),
    )
    by_agent: dict[int, dict[str, float]] = {}
    by_queue: dict[int, dict[str, float]] = {}
    by_item: dict[tuple[int, str], dict[str, float]] = {}
    total: dict[str, float] = {"score_sum": 0.0, "count": 0.0}
    for (aid, qid, fid, item), v in rows.items():
        if item == "":
            _add(by_agent.setdefault(aid, {}), v)
            _add(by_queue.setdefault(qid, {}), v)
            _add(total, v)
        else:
            _add(by_item.setdefault((fid, item), {}), v)
    agent_names = q.names(conn, "agent", [str(a) for a in by_agent])
    queue_names = q.names(conn, "queue", [str(x) for x in by_queue if x])
    items = _form_items(conn, [f for f, _ in by_item])

    def avg(v: dict[str, float]) -> float | None:
        return d.rounded(d.ratio(v.get("score_sum", 0.0), v.get("count", 0.0)))

    cols_avg = (
        Column("evaluations", N_("Evaluations"), "count"),
        Column("average", N_("Average score"), "score"),
    )
    tables = (
        Table(
            "by_agent",
            N_("By agent"),
            (Column("agent", N_("Agent"), "text"), *cols_avg),
            tuple(
                (agent_names.get(str(a), str(a)), int(v["count"]), avg(v))
                for a, v in sorted(by_agent.items())
            ),
            ("agent", "evaluations", "average"),
        ),
        Table(
            "by_queue",
            N_("By queue"),
            (Column("queue", N_("Queue"), "text"), *cols_avg),
            tuple(
                (queue_names.get(str(x), str(x)) if x else N_("No queue"), int(v["count"]), avg(v))
                for x, v in sorted(by_queue.items())
            ),
            ("queue", "evaluations", "average"),
        ),
        Table(
            "by_item",
            N_("By form item"),
            (
                Column("form", N_("Form"), "text"),
                Column("item", N_("Item"), "text"),
                Column("answers", N_("Answers"), "count"),
                Column("average", N_("Average points"), "score"),
            ),
            tuple(
                (
                    items.get((f, ""), str(f)),
                    items.get((f, it)) or it,
                    int(v["count"]),
                    d.rounded(d.ratio(v["score_sum"], v["count"]), 2),
                )
                for (f, it), v in sorted(by_item.items())
            ),
            ("form", "item", "answers", "average"),
        ),
    )
    return Report(
        "qa",
        _title(conn, N_("Quality"), scope, key),
        rng.label,
        scope,
        key,
        (
            Figure("evaluations", N_("Evaluations"), total["count"], "count"),
            Figure("average", N_("Average score"), avg(total), "pct"),
        ),
        tables,
        (),
    )


# ---- recordings and voicemail volumes --------------------------------------------------------

_VOLUME = ("recordings", "recording_s", "voicemails", "voicemail_s")


def build_volumes(
    conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    spans = q.cover(rng)
    t = q.traffic_totals(conn, spans, scope, key)
    points, sums = _traffic_trend(conn, rng, scope, key, _VOLUME)
    return Report(
        "volumes",
        _title(conn, N_("Recordings and voicemail"), scope, key),
        rng.label,
        scope,
        key,
        (
            Figure("recordings", N_("Recordings"), t["recordings"], "count"),
            Figure("recording_s", N_("Recorded time"), t["recording_s"], "s"),
            Figure("voicemails", N_("Voicemail messages"), t["voicemails"], "count"),
            Figure("voicemail_s", N_("Voicemail time"), t["voicemail_s"], "s"),
        ),
        (
            Table(
                "by_period",
                N_("By period"),
                (
                    Column("period", N_("Period"), "text"),
                    Column("recordings", N_("Recordings"), "count"),
                    Column("recording_s", N_("Recorded time"), "s"),
                    Column("voicemails", N_("Voicemail messages"), "count"),
                    Column("voicemail_s", N_("Voicemail time"), "s"),
                ),
                tuple(
                    (
                        p.label,
                        int(s["recordings"]),
                        s["recording_s"],
                        int(s["voicemails"]),
                        s["voicemail_s"],
                    )
                    for p, s in zip(points, sums, strict=True)
                ),
                ("period", "recordings", "recording_s", "voicemails", "voicemail_s"),
            ),
        ),
        (
            ChartSpec(
                "trend",
                N_("Recordings and voicemail over the range"),
                "bar",
                tuple(p.label for p in points),
                (
                    Series("recordings", N_("Recordings"), tuple(s["recordings"] for s in sums)),
                    Series(
                        "voicemails", N_("Voicemail messages"), tuple(s["voicemails"] for s in sums)
                    ),
                ),
                "count",
            ),
        ),
    )


# recordings are counted for these (voicemail for the center and queues only)
VOLUME_SCOPES = ("center", "queue", "agent", "department")
TRAFFIC_SCOPES = ("center", "queue", "skill", "agent", "department", "did", "flow", "campaign")

for _kind in (
    ReportKind("traffic", N_("Traffic"), TRAFFIC_SCOPES, build_traffic),
    ReportKind("agents", N_("Agent workload"), ("center", "department", "agent"), build_agents),
    ReportKind("ivr", N_("IVR traffic"), ("center", "flow"), build_ivr),
    ReportKind("outbound", N_("Outbound"), ("center", "campaign"), build_outbound),
    ReportKind("qa", N_("Quality"), ("center", "agent", "queue"), build_qa),
    ReportKind("volumes", N_("Recordings and voicemail"), VOLUME_SCOPES, build_volumes),
    ReportKind("staffing", N_("Staffing"), staffing.SCOPES, staffing.build_staffing),
    ReportKind("forecast", N_("Forecast"), forecast.SCOPES, forecast.build_forecast),
):
    register(_kind)
