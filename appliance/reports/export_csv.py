"""A report as CSV: the title, range and scope, the figures, then every table.

UTF-8 with a BOM (Excel on a Chinese Windows then reads it as UTF-8). Numbers are written
as numbers; every text cell a spreadsheet would run as a formula gets the leading
apostrophe of acd/dialer/list_export.py (a caller or agent named ``=HYPERLINK(...)``).
"""

from __future__ import annotations

import csv
import io
from typing import IO

from appliance.reports.export_cells import (
    LABEL_FIGURE,
    LABEL_FIGURES,
    LABEL_UNIT,
    LABEL_VALUE,
    Translate,
    column_title,
    header_rows,
    sheet_value,
    shown_columns,
    text_cell,
    unit_label,
)
from appliance.reports.model import Report


def write_csv(report: Report, tr: Translate, out: IO[str]) -> None:
    """The report's rows into ``out`` (opened with ``newline=""``)."""
    writer = csv.writer(out)
    for row in header_rows(report, tr):
        writer.writerow([text_cell(c) for c in row])
    writer.writerow([])
    writer.writerow([text_cell(tr(LABEL_FIGURES))])
    writer.writerow([tr(LABEL_FIGURE), tr(LABEL_VALUE), tr(LABEL_UNIT)])
    for figure in report.figures:
        value = sheet_value(figure.value, tr)
        writer.writerow([text_cell(tr(figure.label)), value, unit_label(figure.unit, tr)])
    for table in report.tables:
        cols = shown_columns(table)
        writer.writerow([])
        writer.writerow([text_cell(tr(table.label))])
        writer.writerow([text_cell(column_title(table.columns[i], tr)) for i in cols])
        for cells in table.rows:
            writer.writerow([sheet_value(cells[i], tr) for i in cols])


def csv_bytes(report: Report, tr: Translate) -> bytes:
    """The whole file (a report is a few thousand rows at most: a year of days)."""
    out = io.StringIO(newline="")
    write_csv(report, tr, out)
    return out.getvalue().encode("utf-8-sig")
