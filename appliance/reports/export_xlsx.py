"""A report as an Excel workbook (openpyxl): a summary sheet (title, range, scope, figures),
a sheet per table, and a sheet per chart holding the chart's numbers with a NATIVE Excel
chart drawn from them (line, bar, stacked bar, histogram), or, for a heat map, the numbers
coloured by a colour-scale conditional format: the reader can change the chart or reuse the
numbers, which a picture would not allow.

Text cells go through the same formula escaping as the CSV (a string starting with ``=``
would be stored as a formula by openpyxl), and characters XML cannot carry (control
characters in a hostile caller name) are dropped, before the escaping, instead of failing
the export (export_cells.text_cell).
"""

from __future__ import annotations

import io
import re

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from openpyxl.chart import BarChart, LineChart, Reference  # type: ignore[import-untyped]
from openpyxl.formatting.rule import ColorScaleRule  # type: ignore[import-untyped]
from openpyxl.styles import Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.worksheet.worksheet import Worksheet  # type: ignore[import-untyped]

from appliance.reports.export_cells import (
    LABEL_CATEGORY,
    LABEL_FIGURE,
    LABEL_FIGURES,
    LABEL_UNIT,
    LABEL_VALUE,
    Translate,
    column_title,
    header_rows,
    number,
    sheet_value,
    shown_columns,
    text_cell,
    unit_label,
)
from appliance.reports.model import ChartSpec, Report, Table

BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\']")


def _sheet(wb: Workbook, title: str, used: set[str]) -> Worksheet:
    """A new sheet named ``title`` as Excel allows one: at most 31 characters, none of
    ``[]:*?/\\'``, unique in the workbook (case-insensitively)."""
    base = ILLEGAL_CHARACTERS_RE.sub("", _SHEET_UNSAFE.sub("_", title)).strip() or "Sheet"
    name, n = base[:31], 1
    while name.lower() in used:
        n += 1
        name = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    used.add(name.lower())
    return wb.create_sheet(name)


def _summary(ws: Worksheet, report: Report, tr: Translate) -> None:
    for row in header_rows(report, tr):
        ws.append([text_cell(c) for c in row])
    ws["A1"].font = TITLE
    ws.append([])
    ws.append([text_cell(tr(LABEL_FIGURES))])
    ws.cell(ws.max_row, 1).font = BOLD
    ws.append([tr(LABEL_FIGURE), tr(LABEL_VALUE), tr(LABEL_UNIT)])
    for cell in ws[ws.max_row]:
        cell.font = BOLD
    for figure in report.figures:
        ws.append(
            [
                text_cell(tr(figure.label)),
                sheet_value(figure.value, tr),
                unit_label(figure.unit, tr),
            ]
        )
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 16


def _table(ws: Worksheet, table: Table, tr: Translate) -> None:
    cols = shown_columns(table)
    ws.append([text_cell(tr(table.label))])
    ws["A1"].font = TITLE
    ws.append([text_cell(column_title(table.columns[i], tr)) for i in cols])
    for cell in ws[2]:
        cell.font = BOLD
    for row in table.rows:
        ws.append([sheet_value(row[i], tr) for i in cols])
    ws.freeze_panes = "A3"
    for n in range(1, len(cols) + 1):
        ws.column_dimensions[get_column_letter(n)].width = 18


def _chart_data(ws: Worksheet, chart: ChartSpec, tr: Translate) -> tuple[int, int]:
    """The chart's numbers from row 2: categories down column A, one column per series.
    Returns (first data row, last data row)."""
    ws.append([text_cell(tr(chart.label))])
    ws["A1"].font = TITLE
    ws.append([tr(LABEL_CATEGORY), *(text_cell(tr(s.label)) for s in chart.series)])
    for cell in ws[2]:
        cell.font = BOLD
    for i, category in enumerate(chart.categories):
        values = [s.values[i] if i < len(s.values) else None for s in chart.series]
        ws.append([text_cell(tr(category)), *(_number(v) for v in values)])
    return 3, 2 + len(chart.categories)


def _number(value: float | None) -> float | int | None:
    return None if value is None else number(value)


def _native_chart(ws: Worksheet, chart: ChartSpec, tr: Translate) -> None:
    first, last = _chart_data(ws, chart, tr)
    if not chart.series or last < first:
        return
    made: LineChart | BarChart
    if chart.kind == "line":
        made = LineChart()
    else:
        made = BarChart()
        made.type = "col"
        if chart.kind == "stacked_bar":
            made.grouping = "stacked"
            made.overlap = 100
        elif chart.kind == "histogram":
            made.gapWidth = 10
    made.title = ILLEGAL_CHARACTERS_RE.sub("", tr(chart.label))
    made.y_axis.title = unit_label(chart.unit, tr) or None
    made.height, made.width = 9, 22
    data = Reference(ws, min_col=2, max_col=1 + len(chart.series), min_row=2, max_row=last)
    made.add_data(data, titles_from_data=True)
    made.set_categories(Reference(ws, min_col=1, min_row=first, max_row=last))
    ws.add_chart(made, f"{get_column_letter(len(chart.series) + 3)}2")


def _heatmap(ws: Worksheet, chart: ChartSpec, tr: Translate) -> None:
    """Series down (weekdays), categories across (hours), the cells coloured low to high."""
    ws.append([text_cell(tr(chart.label))])
    ws["A1"].font = TITLE
    ws.append(["", *(text_cell(tr(c)) for c in chart.categories)])
    for cell in ws[2]:
        cell.font = BOLD
    for s in chart.series:
        ws.append([text_cell(tr(s.label)), *(_number(v) for v in s.values)])
    if chart.series and chart.categories:
        last = f"{get_column_letter(1 + len(chart.categories))}{2 + len(chart.series)}"
        ws.conditional_formatting.add(
            f"B3:{last}",
            ColorScaleRule(
                start_type="min",
                start_color="FFF7FBFF",
                mid_type="percentile",
                mid_value=50,
                mid_color="FF6BAED6",
                end_type="max",
                end_color="FF08306B",
            ),
        )
    ws.column_dimensions["A"].width = 14


def xlsx_bytes(report: Report, tr: Translate) -> bytes:
    """The whole workbook."""
    wb = Workbook()
    used: set[str] = set()
    summary = wb.active
    assert summary is not None
    summary.title = _SHEET_UNSAFE.sub("_", tr(LABEL_FIGURES))[:31] or "Summary"
    used.add(summary.title.lower())
    _summary(summary, report, tr)
    for table in report.tables:
        _table(_sheet(wb, tr(table.label), used), table, tr)
    for chart in report.charts:
        ws = _sheet(wb, tr(chart.label), used)
        if chart.kind == "heatmap":
            _heatmap(ws, chart, tr)
        else:
            _native_chart(ws, chart, tr)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
