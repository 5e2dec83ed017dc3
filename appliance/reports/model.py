"""What every report kind returns, and what the web pages and the exports render.

A report is plain frozen data: figures (one number each), tables and charts. The web
(``webui``) and the exports (CSV, XLSX, PDF) render any ``Report`` generically and never
compute a figure themselves, so a figure reads the same on the page, in the spreadsheet and
in the e-mailed PDF. Labels are ``N_()`` texts (``appliance.text``): English as plain
``str``, translated where they are shown.

Units (``Figure.unit``, ``Column.unit``, ``ChartSpec.unit``):

- ``count``: a whole number of things (calls, evaluations);
- ``pct``: a percentage from 0 to 100 (not a fraction);
- ``s``: seconds (a duration; the renderer chooses m:ss or h:mm:ss);
- ``agents``: a number of agents, possibly fractional (an average, a forecast);
- ``score``: a QA score (Column only);
- ``text``: a name, a date, a label (Column only);
- ``drill``: a drill link made by ``drill_query`` (Column only).

A value of ``None`` means "no value" (a rate with nothing to divide by, or "no schedule"):
render it as a dash, never as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote

FIGURE_UNITS = ("count", "pct", "s", "agents")
COLUMN_UNITS = ("text", "count", "pct", "s", "agents", "score", "drill")
CHART_KINDS = ("line", "bar", "stacked_bar", "heatmap", "histogram")

Cell = str | int | float | None


@dataclass(frozen=True)
class Figure:
    """One number of a report: a tile on the page, a line of the summary in an export.

    ``drill`` names the call filter behind it (``drill.DRILL_FILTERS``: "offered",
    "answered", "abandoned", ...) when the calls that make the figure can be listed."""

    name: str
    label: str
    value: float | None
    unit: str
    drill: str | None = None


@dataclass(frozen=True)
class Column:
    """A table column: ``name`` is what sorting asks for, ``label`` what a person reads."""

    name: str
    label: str
    unit: str


@dataclass(frozen=True)
class Table:
    """Rows of plain values in the order of ``columns``.

    ``sortable`` lists the column names a reader may sort by (the allowlist: anything else
    is refused by ``sort_rows``). A column of unit "drill" holds a ``drill_query`` string
    (or None) that the web turns into a link to the calls behind the row."""

    name: str
    label: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    sortable: tuple[str, ...] = ()

    def column_index(self, name: str) -> int:
        for i, column in enumerate(self.columns):
            if column.name == name:
                return i
        raise KeyError(name)


@dataclass(frozen=True)
class Series:
    """One line, bar group or heat map row; ``values`` align with the chart's categories."""

    name: str
    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class ChartSpec:
    """A chart as data.

    ``categories`` are the x axis (bucket labels such as "2026-12-06" or "09:30", hours,
    abandon-time bins); each ``Series`` is one line or bar (for "heatmap": one y row, e.g. a
    weekday, with one value per category; for "histogram": one series of counts per bin).
    ``drill`` (optional) is the call filter a click on a category opens, and ``buckets``
    (optional, aligned with ``categories``) the ``(grain, bucket)`` of each category, so
    the web can drill into one half hour or one day."""

    name: str
    label: str
    kind: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str
    drill: str | None = None
    buckets: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Report:
    """A built report. ``title`` and ``range_label`` are ready to show; ``scope`` and
    ``key`` say what it covers ("center" and "" for the whole center, "queue" and "3", ...).
    ``notes`` are N_() texts shown under the title (e.g. that no schedules exist yet)."""

    kind: str
    title: str
    range_label: str
    scope: str
    key: str
    figures: tuple[Figure, ...]
    tables: tuple[Table, ...]
    charts: tuple[ChartSpec, ...]
    notes: tuple[str, ...] = field(default=())

    def figure(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise KeyError(name)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def chart(self, name: str) -> ChartSpec:
        for c in self.charts:
            if c.name == name:
                return c
        raise KeyError(name)


def drill_query(
    filter: str,
    scope: str | None = None,
    key: str | None = None,
    grain: str | None = None,
    bucket: int | None = None,
) -> str:
    """The drill link a table cell carries: a URL query ("filter=abandoned&scope=queue&key=3")
    that ``parse_drill_query`` reads back. Missing parts mean the report's own range/scope."""
    text = f"filter={_q(filter)}"  # a report has dozens of these: no urlencode
    if scope is not None:
        text += f"&scope={_q(scope)}"
    if key is not None:
        text += f"&key={_q(key)}"
    if grain is not None and bucket is not None:
        text += f"&grain={_q(grain)}&bucket={int(bucket)}"
    return text


def _q(text: str) -> str:
    return text if text.isascii() and text.isalnum() else quote(text, safe="")


def parse_drill_query(text: str) -> dict[str, str]:
    """The parts of a ``drill_query`` string (unchecked: ``drill.drill_calls`` checks them)."""
    return dict(parse_qsl(text, keep_blank_values=True))
