"""Report exports opened back with their own libraries: CSV (csv module), XLSX (openpyxl:
the values AND the native chart objects, the heat map's colour scale), PDF (its text
extracted with pypdf, a test-only dependency independent of reportlab); formula cells
escaped with hostile names; Chinese through reportlab's built-in CJK font."""

from __future__ import annotations

import csv
import io

import openpyxl  # type: ignore[import-untyped]
import pypdf
from openpyxl.chart import BarChart, LineChart  # type: ignore[import-untyped]

from appliance.reports import export_csv, export_pdf, export_xlsx
from appliance.reports.export_cells import file_name, no_translation
from appliance.reports.model import ChartSpec, Column, Figure, Report, Series, Table
from appliance.text import N_
from webui.i18n import translator

HOSTILE = (
    '=HYPERLINK("http://evil.test","click")',
    "@SUM(A1:A9)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
)
DAYS = tuple(f"2026-11-{d:02d}" for d in range(1, 31))


def sample_report() -> Report:
    agents = Table(
        "agents",
        N_("Agents"),
        (
            Column("agent", N_("Agent"), "text"),
            Column("handled", N_("Handled"), "count"),
            Column("aht", N_("Average handle time"), "s"),
            Column("calls", N_("Calls"), "drill"),
        ),
        (
            *((name, 10 + i, 185.5, "filter=handled") for i, name in enumerate(HOSTILE)),
            ("张三", 3, 3700.0, None),
            ("<font size=99>big</font>\x00\x07", 1, None, None),
        ),
        ("agent", "handled"),
    )
    return Report(
        kind="traffic",
        title=N_("Traffic"),
        range_label="2026-11",
        scope="queue",
        key="3",
        figures=(
            Figure("offered", N_("Offered"), 1234, "count", "offered"),
            Figure("sl", N_("Service level"), 81.234, "pct"),
            Figure("asa", N_("Average speed of answer"), 17.1, "s"),
            Figure("occupancy", N_("Occupancy"), None, "pct"),
        ),
        tables=(agents,),
        charts=(
            ChartSpec(
                "trend",
                N_("Calls by day"),
                "line",
                DAYS,
                (
                    Series("offered", N_("Offered"), tuple(float(3 * d) for d in range(30))),
                    Series("answered", N_("Answered"), tuple(float(2 * d) for d in range(30))),
                ),
                "count",
            ),
            ChartSpec(
                "outcomes",
                N_("Answered and abandoned"),
                "stacked_bar",
                DAYS[:3],
                (
                    Series("answered", N_("Answered"), (5.0, 6.0, 7.0)),
                    Series("abandoned", N_("Abandoned"), (1.0, None, 2.0)),
                ),
                "count",
            ),
            ChartSpec(
                "abandons",
                N_("Abandons by wait"),
                "histogram",
                ("<10", "<20", "<30"),
                (Series("n", N_("Abandoned"), (5.0, 3.0, 1.0)),),
                "count",
            ),
            ChartSpec(
                "heat",
                N_("Offered by weekday and hour"),
                "heatmap",
                tuple(f"{h:02d}" for h in range(24)),
                tuple(
                    Series(d, d, tuple(float(h * i) for h in range(24)))
                    for i, d in enumerate(("Mon", "Tue", "Wed"))
                ),
                "count",
            ),
        ),
    )


def test_csv_reads_back_with_figures_tables_and_escaped_formulas() -> None:
    data = export_csv.csv_bytes(sample_report(), no_translation)
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["Traffic"]
    assert rows[1] == ["Range", "2026-11"]
    assert rows[2] == ["Scope", "Queue 3"]
    figures = rows[rows.index(["Figure", "Value", "Unit"]) + 1 :][:4]
    assert figures == [
        ["Offered", "1234", ""],
        ["Service level", "81.23", "%"],
        ["Average speed of answer", "17.1", "seconds"],
        ["Occupancy", "", "%"],
    ]
    header = rows.index(["Agent", "Handled", "Average handle time (seconds)"])
    assert rows[header - 1] == ["Agents"]
    body = rows[header + 1 :]
    assert [r[0] for r in body[: len(HOSTILE)]] == ["'" + h for h in HOSTILE]
    assert body[0][1:] == ["10", "185.5"]  # numbers stay numbers; the drill column is gone
    assert body[len(HOSTILE)] == ["张三", "3", "3700"]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_xlsx_holds_the_values_and_native_charts() -> None:
    data = export_xlsx.xlsx_bytes(sample_report(), no_translation)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [
        "Figures",
        "Agents",
        "Calls by day",
        "Answered and abandoned",
        "Abandons by wait",
        "Offered by weekday and hour",
    ]
    summary = wb["Figures"]
    assert summary["A1"].value == "Traffic"
    values = {r[0]: r[1] for r in summary.iter_rows(min_row=6, values_only=True)}
    assert values["Offered"] == 1234 and values["Service level"] == 81.23
    assert values["Occupancy"] is None

    agents = wb["Agents"]
    rows = list(agents.iter_rows(min_row=2, values_only=True))
    assert rows[0] == ("Agent", "Handled", "Average handle time (seconds)")
    assert [r[0] for r in rows[1 : 1 + len(HOSTILE)]] == ["'" + h for h in HOSTILE]
    for row in agents.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.value  # no formula anywhere
    assert rows[1 + len(HOSTILE)] == ("张三", 3, 3700)
    assert rows[-1][0] == "<font size=99>big</font>"  # XML-illegal characters dropped

    trend = wb["Calls by day"]
    [line] = trend._charts
    assert isinstance(line, LineChart)
    assert len(line.series) == 2
    assert trend["A3"].value == "2026-11-01" and trend["B4"].value == 3
    [stacked] = wb["Answered and abandoned"]._charts
    assert isinstance(stacked, BarChart) and stacked.grouping == "stacked"
    [histogram] = wb["Abandons by wait"]._charts
    assert isinstance(histogram, BarChart) and histogram.grouping == "clustered"

    heat = wb["Offered by weekday and hour"]
    assert heat._charts == []
    [scale] = list(heat.conditional_formatting)
    assert str(scale.sqref) == "B3:Y5"
    assert scale.rules[0].type == "colorScale"
    assert heat["A4"].value == "Tue" and heat["Y4"].value == 23


def test_pdf_text_has_the_report_and_prints_markup_as_text() -> None:
    data = export_pdf.pdf_bytes(sample_report(), no_translation)
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "Traffic",
        "Range: 2026-11",
        "Scope: Queue 3",
        "1,234",
        "81.2%",
        "0:17",  # 17.1 s as m:ss
        "Calls by day",
        "Abandons by wait",
        "Offered by weekday and hour",
        "Average handle time (seconds)",
        "1:01:40",  # 3700 s
        '=HYPERLINK("http://evil.test","click")',  # on paper a formula is only text
        "<font size=99>big</font>",  # escaped, not read as markup
        "张三",
    ):
        assert expected in text, expected
    assert b"/BaseFont /Helvetica" in data
    assert b"/BaseFont /STSong-Light" in data  # the Chinese name, in the built-in CJK font


def test_chinese_report_in_every_format() -> None:
    tr = translator("zh_CN")
    report = sample_report()
    rows = list(csv.reader(io.StringIO(export_csv.csv_bytes(report, tr).decode("utf-8-sig"))))
    assert rows[1] == ["范围", "2026-11"] and rows[2] == ["统计对象", "队列 3"]
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsx.xlsx_bytes(report, tr)))
    assert wb.sheetnames[0] == "指标"
    text = "\n".join(
        p.extract_text()
        for p in pypdf.PdfReader(io.BytesIO(export_pdf.pdf_bytes(report, tr))).pages
    )
    assert "范围: 2026-11" in text
    assert "队列 3" in text


def test_file_name_is_safe_for_a_header() -> None:
    report = sample_report()
    assert file_name(report, "pdf") == "ccbox-traffic-queue-3-2026-11.pdf"
    odd = Report(
        "traffic",
        "t",
        '2026-12-01 \u2013 2026-12-07"\r\n',
        "department",
        '../"销售"\r\nX: y',
        (),
        (),
        (),
    )
    name = file_name(odd, "csv")
    assert name == "ccbox-traffic-department-X_y-2026-12-01_2026-12-07.csv"


def test_charts_without_values_still_export() -> None:
    """A day with no calls: series of None only (reportlab draws no line of no points, and a
    missing value is never drawn as 0), single categories, no categories at all."""
    charts = tuple(
        ChartSpec(f"{kind}{i}", f"{kind} {i}", kind, cats, series, "count")
        for kind in ("line", "bar", "stacked_bar", "histogram", "heatmap")
        for i, (cats, series) in enumerate(
            (
                (("09:00", "10:00"), (Series("a", "A", (None, None)),)),
                (("09:00",), (Series("a", "A", (1.0,)),)),
                ((), ()),
            )
        )
    )
    report = Report("traffic", "Empty", "2026-12-06", "center", "", (), (), charts)
    text = pypdf.PdfReader(io.BytesIO(export_pdf.pdf_bytes(report, no_translation))).pages[0]
    assert "line 1" in text.extract_text() and "line 0" not in text.extract_text()
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsx.xlsx_bytes(report, no_translation)))
    assert len(wb.sheetnames) == 1 + len(charts)


def test_control_characters_cannot_unmask_a_formula() -> None:
    """XML cannot carry C0 controls, so they are dropped; a name that hid its ``=`` behind
    one must still be escaped once the control character is gone."""
    names = ("\x01=1+1", "\x00\x08@SUM(A1:A9)", "\x1f+cmd|' /C calc'!A0")
    columns = (Column("agent", N_("Agent"), "text"),)
    table = Table("n", N_("Agents"), columns, tuple((n,) for n in names), ())
    report = Report("traffic", "\x02=T", "2026-11", "department", "\x03-1", (), (table,), ())
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsx.xlsx_bytes(report, no_translation)))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert [c.data_type for c in cells if c.data_type == "f"] == []
    shown = [c.value for c in cells]
    assert shown.count("'=1+1") == 1 and "'@SUM(A1:A9)" in shown and "'=T" in shown
    data = export_csv.csv_bytes(report, no_translation).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[0] == ["'=T"]
    assert [r[0] for r in rows[-3:]] == ["'=1+1", "'@SUM(A1:A9)", "'+cmd|' /C calc'!A0"]
