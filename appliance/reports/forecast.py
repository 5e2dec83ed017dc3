"""Forecast: a week's offered calls and AHT per weekday and half hour, and the agents needed.

The forecast week is the week (Monday to Sunday, local) that holds the range's first day:
pick next week to plan it, or a past week to hold the forecast against what happened. It
is made from the ``weeks`` whole weeks before it (default 6) of the scope's q15 rollups.

The method is deliberately simple, a weighted seasonal mean: for each weekday and local
half hour, the offered calls are the average of the same weekday and half hour over those
weeks, the most recent week weighing ``weeks``, the one before ``weeks - 1``, ... the
oldest 1, so a trend shows within weeks while one odd week moves the forecast little. The
AHT of a slot is its handle time over its handled calls with the same weights. Weeks in
which the scope had no calls at all (before it opened, a holiday shutdown) are left out
rather than read as zero. The agents needed follow from the forecast load as in the
staffing report (``staffing.plan``: Erlang C and Erlang A, the patience estimated from the
same weeks, the scope's service level threshold, the target share).

Where local days are 23 or 25 hours long (DST) a slot that does not exist that day has no
calls, and a repeated half hour adds both passes into one slot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model as m
from appliance.reports import staffing
from appliance.reports.derived import rounded
from appliance.reports.model import (
    ChartSpec,
    Column,
    Figure,
    Report,
    Series,
    Table,
)
from appliance.reports.query import ReportError, check_scope
from appliance.reports.ranges import WEEKDAYS, ReportRange, local_midnight
from appliance.text import N_

DEFAULT_WEEKS = 6
MAX_WEEKS = 26
SCOPES = staffing.SCOPES
SLOTS = 48  # half hours in a day
SLOT_LABELS = tuple(f"{s // 2:02d}:{s % 2 * 30:02d}" for s in range(SLOTS))


@dataclass
class Slot:
    """One weekday's half hour over the history: per-week sums."""

    offered: list[float] = field(default_factory=list)
    handled: list[float] = field(default_factory=list)
    work_s: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Forecast:
    """The forecast week: ``cells[(weekday, slot)] = (offered, aht_s or None)``."""

    week_start: dt.date
    weeks_used: int
    cells: dict[tuple[int, int], tuple[float, float | None]]
    patience_s: float | None


def forecast_week(rng: ReportRange) -> dt.date:
    """The Monday of the week holding the range's first day."""
    return rng.start - dt.timedelta(days=rng.start.weekday())


def weighted_forecast(
    weekly: dict[tuple[int, int], Slot], used: list[int]
) -> dict[tuple[int, int], tuple[float, float | None]]:
    """The weighted seasonal mean over the weeks in ``used`` (indices, oldest first); the
    week at position i of ``used`` weighs i + 1."""
    weights = {w: i + 1 for i, w in enumerate(used)}
    total = float(sum(weights.values()))
    cells: dict[tuple[int, int], tuple[float, float | None]] = {}
    for cell, slot in weekly.items():
        offered = sum(weights[w] * slot.offered[w] for w in used) / total
        handled = sum(weights[w] * slot.handled[w] for w in used)
        work = sum(weights[w] * slot.work_s[w] for w in used)
        if offered > 0:
            cells[cell] = (offered, work / handled if handled else None)
    return cells


def read_history(
    conn: Connection, rng: ReportRange, scope: str, key: str, weeks: int
) -> tuple[dict[tuple[int, int], Slot], list[float], float | None]:
    """Per (weekday, slot) the weekly sums of the ``weeks`` weeks before the forecast week;
    each week's total offered; the patience estimated over them (None: no abandons)."""
    tz = rng.tz
    monday = forecast_week(rng)
    first_day = monday - dt.timedelta(weeks=weeks)
    lo = int(local_midnight(first_day, tz).timestamp())
    hi = int(local_midnight(monday, tz).timestamp()) - 1
    t = m.report_traffic
    rows = conn.execute(
        sa.select(
            t.c.bucket,
            t.c.offered,
            t.c.handled,
            t.c.talk_s + t.c.hold_s + t.c.wrapup_s,
            t.c.abandoned,
            t.c.wait_answered_s + t.c.wait_abandoned_s,
        ).where(t.c.grain == "q15", t.c.bucket.between(lo, hi), t.c.scope == scope, t.c.key == key)
    )
    wrap = 0.0  # a queue's or skill's handle time: its agents' wrap-up (see staffing)
    if scope in staffing.WRAPUP_FROM_AGENTS:
        wrap = staffing.wrap_up_per_call(conn, lo, hi, staffing.agents_of(conn, scope, key))
    weekly: dict[tuple[int, int], Slot] = {}
    totals = [0.0] * weeks
    waited = abandoned = 0.0
    for bucket, offered, handled, work, gave_up, wait in rows:
        local = dt.datetime.fromtimestamp(bucket, tz)
        week = (local.date() - first_day).days // 7
        if not 0 <= week < weeks:
            continue
        cell = (local.weekday(), local.hour * 2 + local.minute // 30)
        slot = weekly.get(cell)
        if slot is None:
            slot = weekly[cell] = Slot([0.0] * weeks, [0.0] * weeks, [0.0] * weeks)
        # The hour the clocks go back over holds two of each half hour: each counts half,
        # so that night's slots hold one half hour's calls like every other night's.
        share = 0.5 if _repeated(local) else 1.0
        slot.offered[week] += share * offered
        slot.handled[week] += share * handled
        slot.work_s[week] += share * ((work or 0.0) + handled * wrap)
        totals[week] += offered
        abandoned += gave_up
        waited += wait or 0.0
    return weekly, totals, staffing.patience_of(waited, abandoned)


def _repeated(local: dt.datetime) -> bool:
    """True in the local hour that happens twice (a DST fall-back), either time round."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def make_forecast(
    conn: Connection, rng: ReportRange, scope: str, key: str, weeks: int = DEFAULT_WEEKS
) -> Forecast:
    weekly, totals, patience = read_history(conn, rng, scope, key, weeks)
    used = [w for w, total in enumerate(totals) if total > 0]
    return Forecast(forecast_week(rng), len(used), weighted_forecast(weekly, used), patience)


def forecast_report(
    conn: Connection,
    rng: ReportRange,
    scope: str = "center",
    key: str = "",
    *,
    weeks: int = DEFAULT_WEEKS,
    target: float = staffing.DEFAULT_TARGET,
) -> Report:
    """The "forecast" report (runs in the database thread pool: ``db.run``)."""
    check_scope(scope, key, SCOPES)
    if not 1 <= weeks <= MAX_WEEKS:
        raise ReportError(N_("The forecast reads 1 to {most} weeks of history.", most=MAX_WEEKS))
    staffing.check_target(target)
    threshold = staffing.threshold_of(conn, scope, key)
    fc = make_forecast(conn, rng, scope, key, weeks)
    monday = fc.week_start
    year, week_no, _ = monday.isocalendar()
    label = f"{year}-W{week_no:02d}"
    title = N_("Forecast")
    if fc.weeks_used == 0:
        note = N_(
            "No calls in the {weeks} weeks before {week}: there is no history to forecast"
            " from yet.",
            weeks=weeks,
            week=label,
        )
        return Report("forecast", title, label, scope, key, (), (), (), (note,))
    cells = sorted(fc.cells)
    fallback = _mean_aht(fc)
    needs = [
        staffing.agents_for(
            fc.cells[c][0],
            fc.cells[c][1] or fallback,
            threshold_s=threshold,
            target=target,
            patience_s=fc.patience_s,
        )
        for c in cells
    ]
    notes = [
        N_(
            "A weighted mean of the same weekday and half hour over {used} of the last"
            " {weeks} weeks (the latest weighs most); agents needed for {target} % within"
            " {threshold} s.",
            used=fc.weeks_used,
            weeks=weeks,
            target=round(target * 100),
            threshold=threshold,
        )
    ]
    if fc.weeks_used == 1:
        notes.append(N_("Only one week of history: the forecast repeats it."))
    if fc.patience_s is None:
        notes.append(N_("No caller abandoned in this history: Erlang A equals Erlang C."))
    offered_grid = [[0.0] * SLOTS for _ in range(7)]
    needed_grid: list[list[float | None]] = [[0.0] * SLOTS for _ in range(7)]
    rows = []
    for (d, s), need in zip(cells, needs, strict=True):
        offered, aht = fc.cells[(d, s)]
        offered_grid[d][s] = round(offered, 1)
        load, needed_c, needed_a = need
        needed_grid[d][s] = None if needed_a is None else float(needed_a)
        day = monday + dt.timedelta(days=d)
        rows.append(
            (
                WEEKDAYS[d],
                day.isoformat(),
                SLOT_LABELS[s],
                round(offered, 1),
                rounded(aht or fallback),
                rounded(load, 2),
                needed_c,
                needed_a,
            )
        )
    columns = (
        Column("weekday", N_("Weekday"), "text"),
        Column("date", N_("Date"), "text"),
        Column("time", N_("Half hour"), "text"),
        *staffing.ERLANG_COLUMNS,
    )
    table = Table(
        "forecast",
        N_("Forecast per half hour"),
        columns,
        tuple(rows),
        sortable=("date", "time", "offered", "aht", "load", "needed_c", "needed_a"),
    )
    charts = (
        ChartSpec(
            "offered_heatmap",
            N_("Forecast calls by weekday and half hour"),
            "heatmap",
            SLOT_LABELS,
            tuple(Series(str(i), WEEKDAYS[i], tuple(offered_grid[i])) for i in range(7)),
            "count",
        ),
        ChartSpec(
            "needed_heatmap",
            N_("Agents needed (Erlang A) by weekday and half hour"),
            "heatmap",
            SLOT_LABELS,
            tuple(Series(str(i), WEEKDAYS[i], tuple(needed_grid[i])) for i in range(7)),
            "agents",
        ),
    )
    total = sum(o for o, _ in fc.cells.values())
    figures = (
        Figure("offered", N_("Forecast calls"), round(total, 1), "count"),
        Figure("aht", N_("Average handle time"), rounded(fallback), "s"),
        *staffing.peak_needed([n[1] for n in needs], [n[2] for n in needs]),
        Figure("weeks", N_("Weeks of history used"), float(fc.weeks_used), "count"),
    )
    return Report("forecast", title, label, scope, key, figures, (table,), charts, tuple(notes))


def _mean_aht(fc: Forecast) -> float | None:
    """The forecast's AHT: the cells' own, weighted by their calls (None: no cell has one)."""
    pairs = [(o, a) for o, a in fc.cells.values() if a is not None]
    weight = sum(o for o, _ in pairs)
    return sum(o * a for o, a in pairs) / weight if weight else None


def build_forecast(
    conn: Connection, rng: ReportRange, scope: str, key: str, settings: Any
) -> Report:
    """The catalog's builder: ``[reports]`` may set ``forecast_weeks`` and
    ``staffing_target_pct`` (defaults 6 and 80)."""
    weeks = int(getattr(settings, "forecast_weeks", DEFAULT_WEEKS))
    return forecast_report(conn, rng, scope, key, weeks=weeks, target=staffing.target_of(settings))
