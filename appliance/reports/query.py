"""Reading the rollups: which rows cover a range, and sums over them.

A range is covered by the fewest rows (``cover``): whole local months from month rows,
the remaining whole days from day rows, and only what is left of a partial day from q15
rows (``instant_spans``, for an interval that does not end at midnight). Each piece is a
``Span`` (grain, first bucket, last bucket) read by one index range scan; sums over several
spans are added here, in Python (a max such as ``wait_max_s`` is a max across them).

Everything here is synchronous and takes a SQLAlchemy ``Connection``: it runs in the
database thread pool (``db.run``), from ``catalog.build_report``. The benchmarks
(``reports daily 10M``, ``reports history 10M``) time ``catalog.build_report_in(conn, ...)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model as m
from appliance.reports.clock import day_key, month_key
from appliance.reports.facts import MAX_MEASURES
from appliance.reports.ranges import ReportRange, local_midnight
from appliance.text import N_

Q15 = 900
HALF = 1800
SCOPES = m.REPORT_SCOPES
# scopes whose key is a row id (decimal digits); the others are names/numbers
ID_SCOPES = ("queue", "skill", "agent", "flow", "campaign")
TRAFFIC_COUNTS = m.TRAFFIC_COUNTS
TRAFFIC_SUMS = tuple(n for n in m.TRAFFIC_SECONDS if n not in MAX_MEASURES)
TRAFFIC_MAXES = tuple(n for n in m.TRAFFIC_SECONDS if n in MAX_MEASURES)


class ReportError(ValueError):
    """A report that cannot be built as asked (a wrong scope, a bad key, a bad sort);
    ``args[0]`` is an ``N_()`` message."""


@dataclass(frozen=True)
class Span:
    """Rollup rows ``grain`` with first <= bucket <= last."""

    grain: str
    first: int
    last: int


def _first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def day_spans(start: dt.date, end: dt.date) -> tuple[Span, ...]:
    """The spans covering the local days start <= day < end: whole months as month rows."""
    if end <= start:
        return ()
    month0 = start if start.day == 1 else _first_of_next_month(start)
    month_end = month0
    while _first_of_next_month(month_end) <= end:
        month_end = _first_of_next_month(month_end)
    spans: list[Span] = []
    if month_end > month0:  # at least one whole month
        last_month = month_end - dt.timedelta(days=1)
        if start < month0:
            spans.append(Span("day", day_key(start), day_key(month0 - dt.timedelta(days=1))))
        spans.append(Span("month", month_key(month0), month_key(last_month)))
        if month_end < end:
            spans.append(Span("day", day_key(month_end), day_key(end - dt.timedelta(days=1))))
    else:
        spans.append(Span("day", day_key(start), day_key(end - dt.timedelta(days=1))))
    return tuple(spans)


def cover(rng: ReportRange) -> tuple[Span, ...]:
    """The spans that hold exactly the range's rows."""
    return day_spans(rng.start, rng.end)


def instant_spans(t0: dt.datetime, t1: dt.datetime, zone: Any) -> tuple[Span, ...]:
    """The spans covering the UTC instants t0 <= t < t1 (whole quarter hours): whole local
    days (and months) from day/month rows, the partial days at either end from q15 rows."""
    a, b = int(t0.timestamp()), int(t1.timestamp())
    if a % Q15 or b % Q15:
        raise ReportError(N_("A report interval must start and end on a quarter hour."))
    if b <= a:
        return ()
    day0 = t0.astimezone(zone).date()
    if local_midnight(day0, zone) < t0:  # t0 inside a day: whole days start the day after
        day0 += dt.timedelta(days=1)
    day1 = t1.astimezone(zone).date()  # the day t1 falls in; whole days end at its midnight
    whole_start, whole_end = local_midnight(day0, zone), local_midnight(day1, zone)
    if day0 >= day1:  # no whole day inside
        return (Span("q15", a, b - Q15),)
    spans: list[Span] = []
    ws, we = int(whole_start.timestamp()), int(whole_end.timestamp())
    if a < ws:
        spans.append(Span("q15", a, ws - Q15))
    spans.extend(day_spans(day0, day1))
    if we < b:
        spans.append(Span("q15", we, b - Q15))
    return tuple(spans)


def check_scope(scope: str, key: str, allowed: Sequence[str]) -> None:
    """Refuse a scope the report does not take, or a key that cannot name one."""
    if scope not in allowed:
        raise ReportError(
            N_(
                "This report cannot be shown for {scope}; it can for: {allowed}.",
                scope=str(scope)[:20],
                allowed=", ".join(allowed),
            )
        )
    if scope == "center":
        if key:
            raise ReportError(N_("The whole center takes no key."))
        return
    if not key or len(key) > 64 or any(ord(c) < 32 for c in key):
        raise ReportError(N_("Choose which {scope} to report on.", scope=scope))
    if scope in ID_SCOPES and not (key.isascii() and key.isdigit() and len(key) <= 18):
        raise ReportError(N_("Not a {scope} id: {key}", scope=scope, key=key[:20]))


def _span_clause(table: sa.Table, span: Span) -> sa.ColumnElement[bool]:
    return sa.and_(table.c.grain == span.grain, table.c.bucket.between(span.first, span.last))


@lru_cache(maxsize=256)
def _statement(
    table: str,
    group_by: tuple[str, ...],
    sums: tuple[str, ...],
    maxes: tuple[str, ...],
    where: tuple[tuple[str, bool], ...],
    plain: tuple[str, ...] = (),
) -> sa.TextClause:
    """One span's query, built once per shape. Names come from the model (checked here),
    values are bound: ``where`` is (column, is a list) pairs."""
    columns = m.metadata.tables[table].c
    for name in (*group_by, *sums, *maxes, *plain, *(w for w, _ in where)):
        if name not in columns:
            raise ValueError(f"{table} has no column {name!r}")
    picked = [f'"{g}"' for g in group_by] + [f'"{p}"' for p in plain]
    picked += [f'SUM("{x}")' for x in sums] + [f'MAX("{x}")' for x in maxes]
    conditions = ["grain = :grain", "bucket BETWEEN :first AND :last"]
    expanding: list[sa.BindParameter[Any]] = []
    for name, is_list in where:
        if is_list:
            conditions.append(f'"{name}" IN :w_{name}')
            expanding.append(sa.bindparam(f"w_{name}", expanding=True))
        else:
            conditions.append(f'"{name}" = :w_{name}')
    sql = f"SELECT {', '.join(picked)} FROM {table} WHERE {' AND '.join(conditions)}"  # noqa: S608 (model names)
    if group_by:
        sql += f" GROUP BY {', '.join(chr(34) + g + chr(34) for g in group_by)}"
    return sa.text(sql).bindparams(*expanding)


def _where(where: Mapping[str, Any] | None) -> tuple[tuple[tuple[str, bool], ...], dict[str, Any]]:
    shape, params = [], {}
    for name, value in (where or {}).items():
        is_list = isinstance(value, tuple | list | set | frozenset)
        shape.append((name, is_list))
        params[f"w_{name}"] = list(value) if is_list else value
    return tuple(shape), params


def sum_rows(
    conn: Connection,
    table: sa.Table,
    spans: Iterable[Span],
    *,
    where: Mapping[str, Any] | None = None,
    group_by: Sequence[str] = (),
    sums: Sequence[str] = (),
    maxes: Sequence[str] = (),
) -> dict[tuple[Any, ...], dict[str, float]]:
    """SUM(``sums``) and MAX(``maxes``) of ``table``'s rows in ``spans`` that match ``where``
    (column -> value, or a tuple of values for IN), grouped by ``group_by`` (a key of ()
    when there is none). One indexed query per span; spans are added here."""
    shape, params = _where(where)
    if any(is_list and not params[f"w_{n}"] for n, is_list in shape):
        return {}  # IN () matches nothing (and is not SQL)
    stmt = _statement(table.name, tuple(group_by), tuple(sums), tuple(maxes), shape)
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    ng, ns = len(group_by), len(sums)
    for span in spans:
        bound = {"grain": span.grain, "first": span.first, "last": span.last, **params}
        for row in conn.execute(stmt, bound):
            group = tuple(row[:ng])
            values = row[ng:]
            if not ng and all(v is None for v in values):
                continue  # an aggregate over no rows
            acc = out.get(group)
            if acc is None:
                acc = out[group] = dict.fromkeys(sums, 0.0)
                acc.update(dict.fromkeys(maxes, 0.0))
            for i, n in enumerate(sums):
                acc[n] += float(values[i] or 0)
            for j, n in enumerate(maxes):
                acc[n] = max(acc[n], float(values[ns + j] or 0))
    return out


def bucket_rows(
    conn: Connection,
    table: sa.Table,
    grain: str,
    first: int,
    last: int,
    *,
    where: Mapping[str, Any] | None = None,
    columns: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """The rows (bucket, *columns) of one grain between two buckets: a trend's points."""
    shape, params = _where(where)
    stmt = _statement(table.name, (), (), (), shape, ("bucket", *columns))
    bound = {"grain": grain, "first": first, "last": last, **params}
    return [tuple(r) for r in conn.execute(stmt, bound)]


def offset_segments(t0: dt.datetime, t1: dt.datetime, zone: Any) -> list[tuple[int, int, int]]:
    """[t0, t1) cut where the zone's UTC offset changes: (first epoch, end epoch, offset s)."""
    a, b = int(t0.timestamp()), int(t1.timestamp())

    def offset(epoch: int) -> int:
        delta = dt.datetime.fromtimestamp(epoch, zone).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    segments: list[tuple[int, int, int]] = []
    start, current = a, offset(a)
    day = a
    while day < b:
        nxt = min(day + 86400, b)
        if (nxt < b and offset(nxt) != current) or (nxt == b and offset(b - 1) != current):
            lo, hi = day, nxt  # the change is in (lo, hi]: find its quarter hour
            while hi - lo > Q15:
                mid = lo + (hi - lo) // 2 // Q15 * Q15  # > lo: hi - lo >= 2 quarters
                if offset(mid) == current:
                    lo = mid
                else:
                    hi = mid
            segments.append((start, hi, current))
            start, current = hi, offset(hi)
            day = hi
            continue
        day = nxt
    segments.append((start, b, current))
    return segments


_HOUR_OF_WEEK = sa.text(
    'SELECT ((bucket + :offset) / 3600) % 168 AS how, SUM("offered") FROM report_traffic '
    "WHERE scope = :scope AND key = :key AND grain = 'hour' "
    "AND bucket BETWEEN :first AND :last GROUP BY how"
)


def offered_by_hour_of_week(
    conn: Connection, rng: ReportRange, scope: str, key: str
) -> list[list[float]]:
    """Offered calls by local weekday (Monday first) and hour, summed in the database from
    the hour rows: one grouped query per stretch of constant UTC offset (a DST change
    makes two), so a year is a few hundred rows, not 8760."""
    grid = [[0.0] * 24 for _ in range(7)]
    for first, end, offset in offset_segments(rng.start_utc, rng.end_utc, rng.tz):
        bound = {"offset": offset, "scope": scope, "key": key, "first": first, "last": end - 1}
        for how, offered in conn.execute(_HOUR_OF_WEEK, bound):
            if offered:
                # local hours since 1970-01-01, a Thursday: weekday 3 when Monday is 0
                grid[(int(how) // 24 + 3) % 7][int(how) % 24] += float(offered)
    return grid


def traffic_totals(
    conn: Connection, spans: Iterable[Span], scope: str, key: str
) -> dict[str, float]:
    """Every report_traffic measure summed over the spans (0 where there are no rows)."""
    got = sum_rows(
        conn,
        m.report_traffic,
        spans,
        where={"scope": scope, "key": key},
        sums=TRAFFIC_COUNTS + TRAFFIC_SUMS,
        maxes=TRAFFIC_MAXES,
    )
    empty = {n: 0.0 for n in TRAFFIC_COUNTS + TRAFFIC_SUMS + TRAFFIC_MAXES}
    return got.get((), empty)


def traffic_by_key(
    conn: Connection,
    spans: Iterable[Span],
    scope: str,
    measures: Sequence[str] = TRAFFIC_COUNTS + TRAFFIC_SUMS,
) -> dict[str, dict[str, float]]:
    """Each key of ``scope`` (every queue, agent, ...) with its measures over the spans."""
    got = sum_rows(
        conn,
        m.report_traffic,
        spans,
        where={"scope": scope},
        group_by=("key",),
        sums=[x for x in measures if x not in MAX_MEASURES],
        maxes=TRAFFIC_MAXES,
    )
    return {k[0]: v for k, v in got.items()}


def grain_bounds(rng: ReportRange, grain: str) -> tuple[int, int]:
    """The first and last bucket key of ``grain`` inside the range."""
    if grain == "day":
        return day_key(rng.start), day_key(rng.last_day)
    if grain == "month":
        return month_key(rng.start), month_key(rng.last_day)
    if grain in ("q15", "hour"):
        return int(rng.start_utc.timestamp()), int(rng.end_utc.timestamp()) - 1
    raise ReportError(N_("Unknown grain: {grain}", grain=str(grain)[:10]))


def names(conn: Connection, scope: str, keys: Iterable[str]) -> dict[str, str]:
    """What each key of a scope is called (a queue's name, an agent's number and name);
    department and DID keys are their own names."""
    wanted = [k for k in set(keys) if k.isdigit()]
    table, label = {
        "queue": (m.queues, lambda r: r.name),
        "skill": (m.skills, lambda r: r.name),
        "agent": (m.agents, lambda r: f"{r.number} {r.name}"),
        "flow": (m.ivr_flows, lambda r: r.name),
        "campaign": (m.campaigns, lambda r: r.name),
    }.get(scope, (None, None))
    if table is None or label is None:
        return {k: k for k in keys}
    out: dict[str, str] = {}
    ids = [int(k) for k in wanted]
    for i in range(0, len(ids), 500):
        for r in conn.execute(sa.select(table).where(table.c.id.in_(ids[i : i + 500]))):
            out[str(r.id)] = label(r)
    return out


def agents_of_department(conn: Connection, department: str) -> list[int]:
    return [
        r[0]
        for r in conn.execute(sa.select(m.agents.c.id).where(m.agents.c.department == department))
    ]


def departments(conn: Connection) -> dict[int, str]:
    """Each agent's department ("" when none)."""
    return {r[0]: r[1] for r in conn.execute(sa.select(m.agents.c.id, m.agents.c.department))}
