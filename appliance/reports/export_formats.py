"""The export formats by name: what the routes and the scheduled e-mails both use."""

from __future__ import annotations

from collections.abc import Callable

from appliance.reports import export_csv, export_pdf, export_xlsx
from appliance.reports.export_cells import Translate
from appliance.reports.model import Report

FORMATS = ("csv", "xlsx", "pdf")
RENDERERS: dict[str, Callable[[Report, Translate], bytes]] = {
    "csv": export_csv.csv_bytes,
    "xlsx": export_xlsx.xlsx_bytes,
    "pdf": export_pdf.pdf_bytes,
}
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render(report: Report, fmt: str, tr: Translate) -> bytes:
    """The report as a file of format ``fmt`` (one of FORMATS; KeyError else). CPU work of
    up to a second for a big PDF: call it off the reactor."""
    return RENDERERS[fmt](report, tr)
