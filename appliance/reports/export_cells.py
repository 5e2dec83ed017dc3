"""What the three exports (CSV, XLSX, PDF) share: the words around a report, values as a
person reads them, the escaping of text cells and a safe file name.

An export is rendered in its reader's language, but this package may not import the web
UI (tests/unit/test_layering.py): the caller hands a ``Translate`` (the web edge passes
``webui.i18n.translate``; the scheduled e-mails a translator for the schedule's locale),
which turns each ``N_()`` label into the reader's words and leaves any other text as it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from acd.dialer.list_export import escape_cell
from appliance.reports.model import Cell, Column, Report, Table
from appliance.text import N_

Translate = Callable[[str], str]

LABEL_RANGE = N_("Range")
LABEL_SCOPE = N_("Scope")
LABEL_FIGURE = N_("Figure")
LABEL_VALUE = N_("Value")
LABEL_UNIT = N_("Unit")
LABEL_FIGURES = N_("Figures")
LABEL_CATEGORY = N_("Category")
SCOPE_LABELS = {
    "center": N_("Whole center"),
    "queue": N_("Queue"),
    "skill": N_("Skill"),
    "agent": N_("Agent"),
    "department": N_("Department"),
    "did": N_("Number (DID)"),
    "flow": N_("IVR flow"),
    "campaign": N_("Campaign"),
}
UNIT_LABELS = {"pct": "%", "s": N_("seconds"), "agents": N_("agents")}
# What XML 1.0 cannot carry (openpyxl's ILLEGAL_CHARACTERS_RE): C0 controls but tab, LF, CR.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def no_translation(text: str) -> str:
    """The English text itself (tests, the CLI)."""
    return str.__str__(text)


def unit_label(unit: str, tr: Translate) -> str:
    """A unit as a column title's suffix says it: "%", "seconds", "" for a count."""
    label = UNIT_LABELS.get(unit)
    return tr(label) if label else ""


def scope_text(report: Report, tr: Translate) -> str:
    label = SCOPE_LABELS.get(report.scope)
    scope = tr(label) if label else report.scope
    return f"{scope} {report.key}".strip() if report.scope != "center" else scope


def header_rows(report: Report, tr: Translate) -> list[list[str]]:
    """The title, the range and the scope, as the first rows of a spreadsheet."""
    return [
        [tr(report.title)],
        [tr(LABEL_RANGE), tr(report.range_label)],
        [tr(LABEL_SCOPE), scope_text(report, tr)],
        *([tr(note)] for note in report.notes),
    ]


def shown_columns(table: Table) -> list[int]:
    """The columns a file shows: a drill link leads nowhere outside the web page."""
    return [i for i, c in enumerate(table.columns) if c.unit != "drill"]


def column_title(column: Column, tr: Translate) -> str:
    unit = unit_label(column.unit, tr)
    return f"{tr(column.label)} ({unit})" if unit else tr(column.label)


def number(value: float | int) -> float | int | None:
    """A figure as a spreadsheet stores it: whole numbers as int, others to 2 decimals, a
    NaN or an infinity as no value."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if not math.isfinite(value):
        return None
    rounded = round(value, 2)
    return int(rounded) if rounded.is_integer() else rounded


def text_cell(text: str) -> str:
    """A text cell for CSV or XLSX: the control characters XML cannot carry dropped FIRST,
    then escaped, so that ``"\\x01=HYPERLINK(...)"`` cannot lose its mask with its \\x01."""
    return escape_cell(_XML_ILLEGAL.sub("", text))


def sheet_value(value: Cell, tr: Translate) -> str | int | float | None:
    """A cell for CSV or XLSX: numbers as numbers, text translated and escaped (names are
    attacker-controlled: a caller named ``=HYPERLINK(...)`` stays text)."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return number(value)
    return text_cell(tr(value))


def duration(seconds: float) -> str:
    """m:ss under an hour, else h:mm:ss (as the report page shows a duration)."""
    total = round(seconds)
    sign, total = ("-", -total) if total < 0 else ("", total)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m}:{s:02d}"


def text_value(value: Cell, unit: str, tr: Translate) -> str:
    """A value as a person reads it on paper (the PDF): a dash for no value."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return tr(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "—"
    if unit == "pct":
        return f"{value:.1f}%"
    if unit == "s":
        return duration(float(value))
    if unit in ("agents", "score") or (isinstance(value, float) and not value.is_integer()):
        return f"{value:,.1f}"
    return f"{int(value):,}"


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def file_name(report: Report, ext: str) -> str:
    """A download's name: ``ccbox-<kind>-<scope>[-<key>]-<range>.<ext>`` in ASCII letters,
    digits, ``-`` and ``_`` only (no quote, slash or CR/LF can reach the header)."""
    parts = ["ccbox", report.kind, report.scope]
    if report.key:
        parts.append(report.key)
    parts.append(str.__str__(report.range_label))
    name = "-".join(p for p in (_UNSAFE.sub("_", part).strip("_") for part in parts) if p)
    return f"{name[:120]}.{ext}"
