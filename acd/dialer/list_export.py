"""A campaign's leads as CSV, safe to open in a spreadsheet and to import again.

Every text cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return: ``=HYPERLINK(...)``, ``@SUM(...)``, DDE) is
written with a leading apostrophe, which spreadsheets read as "this is text".

The number column is the exception, and cannot be abused: an import stored it only after
:func:`~acd.dialer.numbers.normalise` accepted it, so it is ``+`` and digits and nothing else.
``+8613800138000`` is at worst arithmetic on a constant, never a function call, a reference
or DDE; it is written as it is so that the file imports again unchanged (the importer also
takes a number with Excel's leading apostrophe, for sheets that people edited). A number
that somehow is not of that shape is escaped like any other cell.

The file is UTF-8 with a BOM (Excel on a Chinese Windows reads it as UTF-8 then), written to
a temporary file beside the target and renamed over it when complete: a failed export never
leaves half a file under the requested name.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Protocol, TypeVar

from sqlalchemy.engine import Connection

from acd.dialer.numbers import NUMBER
from appliance.db.lead_import_store import ExportLead, iter_export

T = TypeVar("T")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("number", "name", "tz", "status", "attempts", "last_outcome", "disposition")
MAX_FIELD_COLUMNS = 200


class Sink(Protocol):
    def run(self, thd: Callable[[Connection], T]) -> T: ...


def escape_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it but never evaluates it."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def number_cell(number: str) -> str:
    return number if NUMBER.fullmatch(number) else escape_cell(number)


def write_csv(leads: Iterable[ExportLead], field_names: list[str], out: IO[str]) -> int:
    """The leads as CSV rows (header first) into ``out``; the number of leads."""
    writer = csv.writer(out)
    writer.writerow([escape_cell(c) for c in (*COLUMNS, *map(_header, field_names))])
    n = 0
    for lead in leads:
        writer.writerow(
            [
                number_cell(lead.number),
                escape_cell(lead.name),
                escape_cell(lead.tz),
                lead.status,
                str(lead.attempts),
                escape_cell(lead.last_outcome),
                escape_cell(lead.disposition),
                *(escape_cell(lead.fields.get(f, "")) for f in field_names),
            ]
        )
        n += 1
    return n


def field_names(leads: Iterator[ExportLead]) -> list[str]:
    """The fields' names in the order they first appear (at most MAX_FIELD_COLUMNS)."""
    seen: dict[str, None] = {}
    for lead in leads:
        for name in lead.fields:
            if name not in seen and len(seen) < MAX_FIELD_COLUMNS:
                seen[name] = None
    return list(seen)


def _header(name: str) -> str:
    """A field's column title; one named like a fixed column gets " (field)" added."""
    return f"{name} (field)" if name in COLUMNS else name


def export_campaign(sink: Sink, campaign_id: int, path: str | os.PathLike[str]) -> int:
    """Every lead of the campaign into the CSV file at ``path``; the number written.

    Two passes over the leads, page by page (the fields' names, then the rows): memory
    holds a page, never the campaign."""
    names = field_names(iter_export(sink.run, campaign_id))
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".csv", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
            n = write_csv(iter_export(sink.run, campaign_id), names, out)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
