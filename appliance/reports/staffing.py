"""Staffing: per half hour of a range, how many agents the calls needed and how many were there.

For each local half hour (two q15 rollup rows) of the scope's traffic:

- offered calls and AHT = (talk + hold + wrap-up) / handled (a half hour that handled none
  takes the range's AHT), so the load is offered / 1800 s x AHT Erlangs; a queue's or a
  skill's traffic counts no wrap-up (an agent state), so theirs is the scope's agents'
  wrap-up per handled call over the range;
- the agents needed to answer ``target`` (default 80 %) of the offered calls within the
  service level threshold (the queue's ``service_level_s``; for wider scopes the threshold
  most queues use), by Erlang C (``acd.erlang``) and by Erlang A
  (``appliance.reports.erlang_a``), which counts callers who hang up;
- beside them the agents who were logged in on average: the scope's agents' ``logged_in_s``
  (report_agent) / 1800. A queue's agents are its direct members and the agents with every
  skill it requires (as the ACD routes); an agent on several queues counts in each.

Erlang A needs the callers' mean patience. It is estimated over the whole range (a half hour
holds too few abandons) by the usual estimator for exponential patience when answered
callers' waits are cut short by the answer (censored): total time waited by ALL callers
(answered and abandoned) / number of abandons, i.e. the maximum-likelihood estimate
(Mandelbaum & Zeltyn). A range without abandons has no estimate: Erlang A is then Erlang C
(infinitely patient callers), and the report says so.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from acd import erlang
from appliance.db import model as m
from appliance.reports.derived import rounded
from appliance.reports.erlang_a import agents_needed_a
from appliance.reports.model import (
    ChartSpec,
    Column,
    Figure,
    Report,
    Series,
    Table,
    drill_query,
)
from appliance.reports.query import ReportError, check_scope
from appliance.reports.ranges import ReportRange
from appliance.text import N_

HALF_S = 1800
DEFAULT_TARGET = 0.8
DEFAULT_THRESHOLD_S = 20
MAX_DAYS = 31  # a month of half hours (1,488 rows); longer ranges are refused
# Past this load (Erlangs; a 300-agent center peaks near 290) the rows are not a center's
# (a talk time gone wrong): the agents needed are left blank rather than searched for.
MAX_LOAD = 5000.0
SCOPES = ("center", "queue", "skill", "department")
# Wrap-up is an agent state: report_traffic counts it for the center and a department, not
# for a queue or a skill (appliance/reports/README.md). Those take their agents' wrap-up
# per handled call (report_agent) into the handle time: the agents are busy then too.
WRAPUP_FROM_AGENTS = ("queue", "skill")
# A half hour's drill: grain "half", bucket its UTC start (as catalog.py's trends)
DRILL_GRAIN = "half"

_TRAFFIC = (
    "offered",
    "handled",
    "abandoned",
    "talk_s",
    "hold_s",
    "wrapup_s",
    "wait_answered_s",
    "wait_abandoned_s",
)


@dataclass
class HalfHour:
    """What the rollups say about one local half hour (``start``: its UTC epoch second)."""

    start: int
    label: str = ""
    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    work_s: float = 0.0  # talk + hold + wrap-up of the handled calls
    waited_s: float = 0.0  # the waits of every caller, answered or abandoned
    logged_in_s: float = 0.0

    @property
    def aht_s(self) -> float | None:
        return self.work_s / self.handled if self.handled else None

    @property
    def logged_in(self) -> float:
        return self.logged_in_s / HALF_S


@dataclass(frozen=True)
class Need:
    """One half hour's plan: the load and the agents each model asks for."""

    start: int
    label: str
    offered: int
    aht_s: float | None
    load: float | None
    needed_c: int | None
    needed_a: int | None
    logged_in: float

    @property
    def short(self) -> float | None:
        """Agents missing by Erlang A (negative: more were logged in than needed)."""
        return None if self.needed_a is None else self.needed_a - self.logged_in


def patience_of(waited_s: float, abandoned: float) -> float | None:
    """Mean patience in seconds: total wait of all callers / abandons (None: no abandons)."""
    if abandoned <= 0:
        return None
    return max(waited_s / abandoned, 1.0)  # a second at least: abandons at once still wait


def estimated_patience(halves: Iterable[HalfHour]) -> float | None:
    """The patience over the half hours (``patience_of`` their waits and abandons)."""
    waited = abandoned = 0.0
    for h in halves:
        waited += h.waited_s
        abandoned += h.abandoned
    return patience_of(waited, abandoned)


def check_target(target: float) -> None:
    """Refuse a target service level that is not a share strictly between 0 and 1."""
    if not 0 < target < 1:
        raise ReportError(N_("The target service level must be between 1 and 99 %."))


def pooled_aht(halves: Iterable[HalfHour]) -> float | None:
    work = handled = 0.0
    for h in halves:
        work += h.work_s
        handled += h.handled
    return work / handled if handled else None


@lru_cache(maxsize=4096)
def _needed(
    rate: float, aht_s: float, patience_s: float, target: float, threshold_s: float
) -> tuple[int, int]:
    return (
        erlang.agents_needed(rate, aht_s, target, threshold_s),
        agents_needed_a(rate, aht_s, patience_s, target, threshold_s),
    )


def agents_for(
    offered: float,
    aht_s: float | None,
    *,
    threshold_s: float,
    target: float = DEFAULT_TARGET,
    patience_s: float | None = None,
) -> tuple[float | None, int | None, int | None]:
    """(load in Erlangs, agents needed by Erlang C, by Erlang A) for ``offered`` calls (a
    forecast may be fractional) in a half hour; None where the AHT is unknown."""
    if offered <= 0:
        return 0.0, 0, 0
    if not aht_s:
        return None, None, None
    rate = offered / HALF_S
    if rate * aht_s > MAX_LOAD:
        return rate * aht_s, None, None
    patience = math.inf if patience_s is None else patience_s
    needed_c, needed_a = _needed(rate, aht_s, patience, target, threshold_s)
    return rate * aht_s, needed_c, needed_a


def plan(
    halves: Sequence[HalfHour],
    *,
    threshold_s: float,
    target: float = DEFAULT_TARGET,
    patience_s: float | None = None,
) -> list[Need]:
    """The agents each half hour needed for ``target`` within ``threshold_s`` (Erlang C and
    A); ``patience_s`` None means no abandons were seen, so Erlang A is Erlang C. A half
    hour that handled no call takes the range's AHT."""
    fallback = pooled_aht(halves)
    out = []
    for h in halves:
        aht = (h.aht_s or fallback) if h.offered else None
        load, needed_c, needed_a = agents_for(
            h.offered, aht, threshold_s=threshold_s, target=target, patience_s=patience_s
        )
        out.append(Need(h.start, h.label, h.offered, aht, load, needed_c, needed_a, h.logged_in))
    return out


# --- reading the rollups -------------------------------------------------------------


def half_hours_of(rng: ReportRange) -> tuple[list[HalfHour], dict[int, int]]:
    """The range's local half hours (labelled) and each q15 bucket's half hour start."""
    halves: list[HalfHour] = []
    owner: dict[int, int] = {}
    tz = rng.tz
    for bucket, label in rng.trend_buckets("q15"):
        local = dt.datetime.fromtimestamp(bucket, tz)
        if local.minute % 30 == 0 or not halves:
            halves.append(HalfHour(bucket, label))
        owner[bucket] = halves[-1].start
    return halves, owner


def agents_of(conn: Connection, scope: str, key: str) -> list[int] | None:
    """The agents whose logged-in time counts for the scope (None: every agent)."""
    if scope == "center":
        return None
    if scope == "department":
        rows = conn.execute(sa.select(m.agents.c.id).where(m.agents.c.department == key))
        return [r[0] for r in rows]
    if scope == "skill":
        rows = conn.execute(
            sa.select(m.agent_skills.c.agent_id).where(m.agent_skills.c.skill_id == int(key))
        )
        return [r[0] for r in rows]
    queue_id = int(key)
    needs = [
        (r.skill_id, r.min_level)
        for r in conn.execute(
            sa.select(m.queue_skills).where(m.queue_skills.c.queue_id == queue_id)
        )
    ]
    members = {
        r[0]
        for r in conn.execute(
            sa.select(m.queue_members.c.agent_id).where(m.queue_members.c.queue_id == queue_id)
        )
    }
    if needs:
        levels: dict[int, dict[int, int]] = {}
        for r in conn.execute(sa.select(m.agent_skills)):
            levels.setdefault(r.agent_id, {})[r.skill_id] = r.level
        for agent_id, skills in levels.items():
            if all(skills.get(s, 0) >= low for s, low in needs):
                members.add(agent_id)
    return sorted(members)


def wrap_up_per_call(conn: Connection, lo: int, hi: int, agent_ids: list[int] | None) -> float:
    """The agents' wrap-up seconds per call they handled, over the q15 rows from ``lo`` to
    ``hi`` (UTC epochs); 0 when they handled none."""
    a = m.report_agent
    stmt = sa.select(sa.func.sum(a.c.wrap_up_s), sa.func.sum(a.c.handled)).where(
        a.c.grain == "q15", a.c.bucket.between(lo, hi)
    )
    if agent_ids is not None:
        stmt = stmt.where(a.c.agent_id.in_(agent_ids or [-1]))
    wrap, handled = conn.execute(stmt).one()
    return float(wrap or 0.0) / handled if handled else 0.0


def threshold_of(conn: Connection, scope: str, key: str) -> int:
    """The service level threshold: a queue's own; else the one most queues use."""
    q = m.queues
    if scope == "queue":
        got = conn.execute(sa.select(q.c.service_level_s).where(q.c.id == int(key))).scalar()
        if got is None:
            raise ReportError(N_("No such queue: {key}", key=key))
        return int(got)
    common = Counter(r[0] for r in conn.execute(sa.select(q.c.service_level_s)))
    return common.most_common(1)[0][0] if common else DEFAULT_THRESHOLD_S


def read_half_hours(
    conn: Connection,
    rng: ReportRange,
    scope: str,
    key: str,
    agent_ids: list[int] | None,
    first: int | None = None,
    last: int | None = None,
) -> list[HalfHour]:
    """The range's half hours with their traffic and logged-in time (q15 rows between
    ``first`` and ``last`` UTC epochs, default the whole range)."""
    halves, owner = half_hours_of(rng)
    by_start = {h.start: h for h in halves}
    if not halves:
        return []
    lo = halves[0].start if first is None else first
    hi = max(owner) if last is None else last
    t = m.report_traffic
    rows = conn.execute(
        sa.select(t.c.bucket, *[t.c[c] for c in _TRAFFIC]).where(
            t.c.grain == "q15", t.c.bucket.between(lo, hi), t.c.scope == scope, t.c.key == key
        )
    )
    for r in rows:
        start = owner.get(r.bucket)
        if start is None:
            continue
        h = by_start[start]
        h.offered += r.offered
        h.handled += r.handled
        h.abandoned += r.abandoned
        h.work_s += r.talk_s + r.hold_s + r.wrapup_s
        h.waited_s += r.wait_answered_s + r.wait_abandoned_s
    a = m.report_agent
    stmt = (
        sa.select(a.c.bucket, sa.func.sum(a.c.logged_in_s))
        .where(a.c.grain == "q15", a.c.bucket.between(lo, hi))
        .group_by(a.c.bucket)
    )
    if agent_ids is not None:
        stmt = stmt.where(a.c.agent_id.in_(agent_ids or [-1]))
    for bucket, seconds in conn.execute(stmt):
        start = owner.get(bucket)
        if start is not None:
            by_start[start].logged_in_s += float(seconds or 0)
    if scope in WRAPUP_FROM_AGENTS:
        per_call = wrap_up_per_call(conn, lo, hi, agent_ids)
        for h in halves:
            h.work_s += h.handled * per_call
    return halves


# --- the report ----------------------------------------------------------------------


# a half hour's Erlang columns, the staffing's table and the forecast's alike
ERLANG_COLUMNS = (
    Column("offered", N_("Offered"), "count"),
    Column("aht", N_("AHT"), "s"),
    Column("load", N_("Load (Erlangs)"), "agents"),
    Column("needed_c", N_("Needed (Erlang C)"), "agents"),
    Column("needed_a", N_("Needed (Erlang A)"), "agents"),
)


def peak_needed(
    needed_c: Iterable[int | None], needed_a: Iterable[int | None]
) -> tuple[Figure, Figure]:
    """The most agents any half hour needs, by Erlang C and by Erlang A."""
    return (
        Figure(
            "peak_needed_c",
            N_("Most agents needed (Erlang C)"),
            float(max((n or 0 for n in needed_c), default=0)),
            "agents",
        ),
        Figure(
            "peak_needed_a",
            N_("Most agents needed (Erlang A)"),
            float(max((n or 0 for n in needed_a), default=0)),
            "agents",
        ),
    )


def staffing_report(
    conn: Connection,
    rng: ReportRange,
    scope: str = "center",
    key: str = "",
    *,
    target: float = DEFAULT_TARGET,
) -> Report:
    """The "staffing" report (runs in the database thread pool: ``db.run``)."""
    check_scope(scope, key, SCOPES)
    check_target(target)
    if rng.days > MAX_DAYS:
        raise ReportError(
            N_("Staffing is shown per half hour: choose at most {days} days.", days=MAX_DAYS)
        )
    threshold = threshold_of(conn, scope, key)
    halves = read_half_hours(conn, rng, scope, key, agents_of(conn, scope, key))
    patience = estimated_patience(halves)
    needs = plan(halves, threshold_s=threshold, target=target, patience_s=patience)
    shown = [n for n in needs if n.offered or n.logged_in > 0]
    notes = [
        N_(
            "Agents needed to answer {target} % of the offered calls within {threshold} s;"
            " logged in: the average over each half hour.",
            target=round(target * 100),
            threshold=threshold,
        )
    ]
    if patience is None:
        notes.append(N_("No caller abandoned in this range: Erlang A equals Erlang C."))
    if not shown:
        notes.append(N_("No calls and no agents logged in during this range."))
    if scope == "queue":
        notes.append(N_("An agent who serves several queues counts in each."))
    else:
        notes.append(
            N_(
                "The calls of all queues here are planned as one pool of agents: where"
                " agents serve one queue each, the staffing of each queue is closer."
            )
        )
    offered = sum(h.offered for h in halves)
    understaffed = sum(1 for n in shown if n.short is not None and n.short > 0)
    figures = (
        Figure("offered", N_("Offered"), float(offered), "count", "offered"),
        Figure("aht", N_("Average handle time"), rounded(pooled_aht(halves)), "s"),
        Figure("patience", N_("Average patience"), rounded(patience), "s"),
        *peak_needed([n.needed_c for n in shown], [n.needed_a for n in shown]),
        Figure(
            "peak_logged_in",
            N_("Most agents logged in"),
            rounded(max((n.logged_in for n in shown), default=0.0), 2),
            "agents",
        ),
        Figure("understaffed", N_("Half hours short of agents"), float(understaffed), "count"),
    )
    columns = (
        Column("time", N_("Half hour"), "text"),
        *ERLANG_COLUMNS,
        Column("logged_in", N_("Logged in"), "agents"),
        Column("short", N_("Short"), "agents"),
        Column("calls", N_("Calls"), "drill"),
    )
    rows = tuple(
        (
            n.label,
            n.offered,
            rounded(n.aht_s),
            rounded(n.load, 2),
            n.needed_c,
            n.needed_a,
            rounded(n.logged_in, 2),
            rounded(n.short, 2),
            drill_query("offered", scope, key, DRILL_GRAIN, n.start) if n.offered else None,
        )
        for n in shown
    )
    table = Table(
        "half_hours",
        N_("Agents needed per half hour"),
        columns,
        rows,
        sortable=tuple(c.name for c in columns if c.unit != "drill"),
    )
    chart = ChartSpec(
        "needed",
        N_("Agents needed and logged in"),
        "line",
        tuple(n.label for n in shown),
        (
            Series("needed_c", N_("Needed (Erlang C)"), tuple(_f(n.needed_c) for n in shown)),
            Series("needed_a", N_("Needed (Erlang A)"), tuple(_f(n.needed_a) for n in shown)),
            Series("logged_in", N_("Logged in"), tuple(rounded(n.logged_in, 2) for n in shown)),
        ),
        "agents",
        drill="offered",
        buckets=tuple((DRILL_GRAIN, n.start) for n in shown),
    )
    return Report(
        "staffing",
        N_("Staffing"),
        rng.label,
        scope,
        key,
        figures,
        (table,),
        (chart,),
        tuple(notes),
    )


def _f(value: int | None) -> float | None:
    return None if value is None else float(value)


def build_staffing(
    conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    """The catalog's builder: ``[reports]`` may set ``staffing_target_pct`` (default 80)."""
    return staffing_report(conn, rng, scope, key, target=target_of(settings))


def target_of(settings: Any) -> float:
    """The target service level as a share: ``[reports] staffing_target_pct`` (default 80)
    over 100, for the staffing and forecast builders."""
    return float(getattr(settings, "staffing_target_pct", 80)) / 100
