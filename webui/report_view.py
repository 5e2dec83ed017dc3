"""A ``Report`` (appliance/reports/model.py) as the page shows it: values formatted by unit,
labels in the reader's language, tables sorted by an allowlisted column, charts as the data
webui/static/reports.js hands to ECharts, and every drill as a link to the calls behind it.

Nothing here computes a figure: the report did (the exports show the same numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.reports.model import Cell, ChartSpec, Report, Table, drill_query
from appliance.text import N_
from webui import i18n
from webui.report_query import BadQuery

DASH = "\u2013"  # no value (a rate with nothing to divide by): never shown as 0

DrillUrl = Callable[[str], str]  # a drill_query string -> the URL of its calls page


LONG_S = 100 * 3600  # from 100 hours on (a month of logged-in time) whole hours read better


def duration(seconds: float) -> str:
    """0:17, 4:05, 1:02:03 (rounded to the second); 3,460 h from 100 hours on."""
    s = round(max(0.0, seconds))
    if s >= LONG_S:
        return i18n._("{hours} h").format(hours=f"{round(s / 3600):,}")
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _decimal(value: float) -> str:
    """One decimal, and never "-0.0" (a shortfall of -0.04 agents is none)."""
    shown = round(float(value), 1)
    return f"{shown + 0.0:.1f}" if shown != 0 else "0.0"


def value_text(value: Cell, unit: str) -> str:
    """A value as the page shows it: counts whole with thousands separators, percentages
    with one decimal, seconds as a duration, agents and scores with one decimal."""
    if value is None or value == "":
        return DASH
    if unit in ("text", "drill") or isinstance(value, str):
        return str(value)
    if unit == "count":
        return f"{round(value):,}"
    if unit == "pct":
        return f"{_decimal(value)}%"
    if unit == "s":
        return duration(float(value))
    return _decimal(value)  # agents, score


@dataclass(frozen=True)
class Tile:
    name: str
    label: str
    text: str
    unit: str
    href: str | None


def tiles(report: Report, drill_url: DrillUrl) -> list[Tile]:
    """The report's figures; a figure with a drill links to its calls."""
    return [
        Tile(
            f.name,
            i18n.translate(f.label),
            value_text(f.value, f.unit),
            f.unit,
            drill_url(drill_query(f.drill)) if f.drill else None,
        )
        for f in report.figures
    ]


def parse_sort(report: Report, text: str) -> tuple[str, str] | None:
    """``sort=<table>.<column>`` read against the report: (table, column), or None."""
    if not text:
        return None
    table, _, column = text.partition(".")
    try:
        report.table(table)
    except KeyError:
        raise BadQuery(N_("The report has no table {table}.", table=table[:64])) from None
    return table, column


@dataclass(frozen=True)
class HeadCell:
    name: str
    label: str
    unit: str
    href: str | None  # the sort link, for allowlisted columns
    sorted: str  # "asc", "desc" or ""


@dataclass(frozen=True)
class BodyCell:
    text: str
    unit: str
    href: str | None


@dataclass(frozen=True)
class TableView:
    name: str
    label: str
    head: list[HeadCell]
    rows: list[list[BodyCell]]


def table_view(
    table: Table,
    sort_link: Callable[[str, str, bool], str],
    drill_url: DrillUrl,
    current: tuple[str, bool] | None,
) -> TableView:
    """A table for the template; ``current`` is its (column, descending) when sorted."""
    head = []
    for column in table.columns:
        state = ""
        if current is not None and current[0] == column.name:
            state = "desc" if current[1] else "asc"
        href = None
        if column.name in table.sortable:
            # a click sorts descending first (the biggest figures), then flips
            href = sort_link(table.name, column.name, state != "desc")
        head.append(HeadCell(column.name, i18n.translate(column.label), column.unit, href, state))
    rows = []
    for row in table.rows:
        cells = []
        for column, value in zip(table.columns, row, strict=False):
            if column.unit == "drill":
                href = drill_url(str(value)) if value else None
                cells.append(BodyCell(i18n._("Calls") if href else DASH, "drill", href))
            else:
                text = value_text(value, column.unit)
                if column.unit == "text" and isinstance(value, str):
                    text = i18n.translate(value)  # an N_() label (a reason) or plain data
                cells.append(BodyCell(text, column.unit, None))
        rows.append(cells)
    return TableView(table.name, i18n.translate(table.label), head, rows)


def chart_data(chart: ChartSpec, drill_url: DrillUrl) -> dict[str, Any]:
    """What reports.js draws: plain JSON, labels translated, a drill URL per category when
    the chart's categories are buckets with calls behind them."""
    drills: list[str | None] = []
    if chart.drill and len(chart.buckets) == len(chart.categories):
        drills = [drill_url(drill_query(chart.drill, grain=g, bucket=b)) for g, b in chart.buckets]
    return {
        "name": chart.name,
        "label": i18n.translate(chart.label),
        "kind": chart.kind,
        "unit": chart.unit,
        "categories": [i18n.translate(c) for c in chart.categories],
        "series": [
            {"name": s.name, "label": i18n.translate(s.label), "values": list(s.values)}
            for s in chart.series
        ],
        "drills": drills,
        "hours": i18n._("{hours} h"),  # how reports.js writes a long duration
    }
