"""A report as PDF (reportlab): the title, range and scope, the figures, the charts drawn
with reportlab's own charts from the same ``ChartSpec``s the page and the workbook use,
then the tables.

Chinese needs a CJK font. reportlab's built-in CID font STSong-Light needs no font file on
the box (the PDF names Adobe's standard Chinese font and every viewer supplies it), so each
text is set in Helvetica when Latin-1 can carry it and in STSong-Light otherwise; a Chinese
agent name in an English report is right too.

Text that reaches a ``Paragraph`` is parsed by reportlab as markup: every text is escaped
first (a caller named ``<img src=x>`` or ``<font size=999>`` prints as it is).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import replace
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from appliance.reports.export_cells import (
    LABEL_RANGE,
    LABEL_SCOPE,
    Translate,
    column_title,
    scope_text,
    shown_columns,
    text_value,
    unit_label,
)
from appliance.reports.model import ChartSpec, Report
from appliance.reports.model import Table as ReportTable

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
PAGE_W, PAGE_H = A4
MARGIN = 15 * mm
WIDTH = PAGE_W - 2 * MARGIN
CHART_H = 62 * mm
MAX_AXIS_LABELS = 16
PALETTE = (
    colors.HexColor("#5470c6"),
    colors.HexColor("#91cc75"),
    colors.HexColor("#fac858"),
    colors.HexColor("#ee6666"),
    colors.HexColor("#73c0de"),
    colors.HexColor("#3ba272"),
    colors.HexColor("#fc8452"),
    colors.HexColor("#9a60b4"),
)
_registered = False
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _fonts() -> None:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        _registered = True


def latin(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def font_for(texts: Sequence[str], bold: bool = False) -> str:
    """Helvetica when every text is Latin-1, else the CJK font (it has Latin letters too)."""
    if all(latin(t) for t in texts):
        return LATIN_BOLD if bold else LATIN_FONT
    return CJK_FONT


def _para(
    text: str, size: float = 8, bold: bool = False, lead: float | None = None, keep: bool = False
) -> Paragraph:
    """``keep``: on the page of what follows (a table's heading never ends a page)."""
    style = ParagraphStyle(
        "p",
        fontName=font_for([text], bold),
        fontSize=size,
        leading=lead or size * 1.25,
        keepWithNext=int(keep),
    )
    return Paragraph(escape(_CONTROL.sub("", text)), style)


def _figures(report: Report, tr: Translate) -> Flowable:
    """The figures as a grid of label/value pairs, three to a row."""
    cells = [
        (
            _para(tr(f.label), 8),
            _para(text_value(f.value, f.unit, tr), 11, bold=True),
        )
        for f in report.figures
    ]
    rows: list[list[Paragraph | str]] = []
    for i in range(0, len(cells), 3):
        chunk = cells[i : i + 3]
        row: list[Paragraph | str] = []
        for label, value in chunk:
            row += [label, value]
        row += [""] * (6 - len(row))
        rows.append(row)
    widths = [WIDTH / 3 * 0.62, WIDTH / 3 * 0.38] * 3
    table = Table(rows, colWidths=widths)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.lightgrey),
            ]
        )
    )
    return table


def _axis_names(categories: Sequence[str]) -> list[str]:
    """At most MAX_AXIS_LABELS names shown along the axis, the others left blank."""
    step = max(1, -(-len(categories) // MAX_AXIS_LABELS))
    return [c if i % step == 0 else "" for i, c in enumerate(categories)]


def _legend(drawing: Drawing, spec: ChartSpec, tr: Translate, font: str, y: float) -> None:
    if len(spec.series) < 2:
        return
    legend = Legend()
    legend.x, legend.y = WIDTH * 0.45, y
    legend.fontName, legend.fontSize = font, 7
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.dx = legend.dy = 6
    legend.deltax = 90
    legend.colorNamePairs = [
        (PALETTE[i % len(PALETTE)], tr(s.label)) for i, s in enumerate(spec.series)
    ]
    legend.boxAnchor = "nw"
    drawing.add(legend)


def _xy_chart(spec: ChartSpec, tr: Translate) -> Drawing:
    """A line, bar, stacked bar or histogram chart."""
    categories = [tr(c) for c in spec.categories]
    font = font_for([*categories, *(tr(s.label) for s in spec.series)])
    drawing = Drawing(WIDTH, CHART_H)
    title = tr(spec.label)
    drawing.add(String(0, CHART_H - 10, title, fontName=font_for([title], True)))
    chart: HorizontalLineChart | VerticalBarChart
    chart = HorizontalLineChart() if spec.kind == "line" else VerticalBarChart()
    chart.x, chart.y = 30, 22
    chart.width, chart.height = WIDTH - 40, CHART_H - 52
    n = len(categories)
    chart.data = [
        tuple(s.values[i] if i < len(s.values) else None for i in range(n)) for s in spec.series
    ]
    chart.categoryAxis.categoryNames = _axis_names(categories)
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6
    chart.categoryAxis.labels.angle = 30 if n > 8 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if n > 8 else "n"
    chart.valueAxis.labels.fontName = LATIN_FONT
    chart.valueAxis.labels.fontSize = 6
    chart.valueAxis.valueMin = 0
    values = [v for s in spec.series for v in s.values if v is not None]
    if not values or max(values) <= 0:
        chart.valueAxis.valueMax = 1
    if isinstance(chart, VerticalBarChart):
        if spec.kind == "stacked_bar":
            chart.categoryAxis.style = "stacked"
        if spec.kind == "histogram":
            chart.barSpacing = 0
            chart.groupSpacing = 1
        for i in range(len(spec.series)):
            chart.bars[i].fillColor = PALETTE[i % len(PALETTE)]
            chart.bars[i].strokeColor = None
    else:
        for i in range(len(spec.series)):
            chart.lines[i].strokeColor = PALETTE[i % len(PALETTE)]
            chart.lines[i].strokeWidth = 1.2
    drawing.add(chart)
    unit = unit_label(spec.unit, tr)
    if unit:
        drawing.add(String(0, CHART_H - 22, unit, fontName=font_for([unit]), fontSize=6))
    _legend(drawing, spec, tr, font, CHART_H - 2)
    return drawing


def _heat_colour(value: float | None, low: float, high: float) -> colors.Color:
    if value is None:
        return colors.white
    t = 0.0 if high <= low else (value - low) / (high - low)
    start, end = colors.HexColor("#f7fbff"), colors.HexColor("#08306b")
    return colors.linearlyInterpolatedColor(start, end, 0, 1, t)


def _heatmap(spec: ChartSpec, tr: Translate) -> Drawing:
    """Series down (weekdays), categories across (hours), cells shaded low to high."""
    rows = [tr(s.label) for s in spec.series]
    cols = [tr(c) for c in spec.categories]
    font = font_for([tr(spec.label), *rows, *cols])
    left, top = 40, 16
    cell_h = 9.0
    height = top + cell_h * len(rows) + 16
    drawing = Drawing(WIDTH, height)
    drawing.add(String(0, height - 10, tr(spec.label), fontName=font_for([tr(spec.label)], True)))
    cell_w = (WIDTH - left) / max(1, len(cols))
    values = [v for s in spec.series for v in s.values if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 0.0)
    for r, s in enumerate(spec.series):
        y = height - top - (r + 1) * cell_h
        drawing.add(String(0, y + 2, rows[r], fontName=font, fontSize=6))
        for c in range(len(cols)):
            value = s.values[c] if c < len(s.values) else None
            drawing.add(
                Rect(
                    left + c * cell_w,
                    y,
                    cell_w,
                    cell_h,
                    fillColor=_heat_colour(value, low, high),
                    strokeColor=colors.white,
                    strokeWidth=0.3,
                )
            )
    step = max(1, -(-len(cols) // 24))
    for c in range(0, len(cols), step):
        drawing.add(
            String(
                left + c * cell_w + 1,
                height - top - len(rows) * cell_h - 8,
                cols[c],
                fontName=font,
                fontSize=5,
            )
        )
    return drawing


def drawn(spec: ChartSpec) -> ChartSpec | None:
    """The chart as it can be drawn: a series with no value at all is left out (reportlab
    cannot draw a line of no points; a missing value is never drawn as 0); None when
    nothing is left."""
    if spec.kind == "heatmap":
        return spec if spec.series and spec.categories else None
    series = tuple(s for s in spec.series if any(v is not None for v in s.values))
    if not series or not spec.categories:
        return None
    return replace(spec, series=series)


def chart_drawing(spec: ChartSpec, tr: Translate) -> Drawing:
    return _heatmap(spec, tr) if spec.kind == "heatmap" else _xy_chart(spec, tr)


def _table(table: ReportTable, tr: Translate) -> list[Flowable]:
    cols = shown_columns(table)
    if not cols:
        return []
    head = [_para(column_title(table.columns[i], tr), 7, bold=True) for i in cols]
    body = [
        [_para(text_value(row[i], table.columns[i].unit, tr), 7) for i in cols]
        for row in table.rows
    ]
    widths = [WIDTH / len(cols)] * len(cols)
    grid = Table([head, *body], colWidths=widths, repeatRows=1, spaceBefore=2 * mm)
    grid.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ecf4")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        )
    )
    return [_para(tr(table.label), 10, bold=True, keep=True), grid, Spacer(1, 5 * mm)]


def pdf_bytes(report: Report, tr: Translate) -> bytes:
    """The whole document."""
    _fonts()
    out = io.BytesIO()
    title = tr(report.title)
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author="ccbox",
    )
    story: list[Flowable] = [
        _para(title, 16, bold=True, lead=20),
        _para(f"{tr(LABEL_RANGE)}: {tr(report.range_label)}", 9),
        _para(f"{tr(LABEL_SCOPE)}: {scope_text(report, tr)}", 9),
        *(_para(tr(note), 8) for note in report.notes),
        Spacer(1, 4 * mm),
    ]
    if report.figures:
        story += [_figures(report, tr), Spacer(1, 5 * mm)]
    for spec in report.charts:
        shown = drawn(spec)
        if shown is not None:
            story += [KeepTogether([chart_drawing(shown, tr)]), Spacer(1, 4 * mm)]
    for table in report.tables:
        story += _table(table, tr)
    doc.build(story)
    return out.getvalue()
