"""Customers out as CSV or XLSX, safe to open in a spreadsheet and to import again.

The columns are the importer's (appliance/crm/customer_import.py): name, numbers (several
in one cell, ``; ``-separated), class, email, account, note, then each active custom field
by its label (by its key when two share a label or a label is a fixed column's name).

Cells go through the call lists' and reports' escaping (acd/dialer/list_export.py,
appliance/reports/export_cells.text_cell): characters XML cannot carry dropped, then a
cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) written
with a leading apostrophe. The numbers cell is written as it is when it holds only numbers
the importer normalised (``+`` and digits), as the call lists write theirs.

Customers are read a page at a time (keyset by id) and written to a temporary file beside
the target, renamed over it when complete: memory holds a page, and a failed export leaves
no half file.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from acd.dialer.list_export import NUMBER
from appliance.crm.fields import FieldDef, stored_values
from appliance.db import model
from appliance.reports.export_cells import text_cell

T = TypeVar("T")
FIXED = ("name", "numbers", "class", "email", "account", "note")
FORMATS = ("csv", "xlsx")
PAGE = 1000


class Sink(Protocol):
    def run(self, thd: Callable[[Connection], T]) -> T: ...


@dataclass(frozen=True)
class ExportCustomer:
    id: int
    name: str
    numbers: tuple[str, ...]
    customer_class: str
    email: str
    account: str
    note: str
    fields: dict[str, str]


def export_page(conn: Connection, after_id: int, limit: int = PAGE) -> list[ExportCustomer]:
    """Live customers (neither merged away nor erased) by id, after ``after_id``."""
    c, n = model.customers, model.customer_numbers
    rows = list(
        conn.execute(
            sa.select(
                c.c.id,
                c.c.name,
                c.c.customer_class,
                c.c.email,
                c.c.account,
                c.c.note,
                c.c.fields,
            )
            .where(c.c.id > after_id, c.c.merged_into.is_(None), c.c.erased_at.is_(None))
            .order_by(c.c.id)
            .limit(limit)
        )
    )
    numbers: dict[int, list[str]] = {}
    if rows:
        for customer_id, number in conn.execute(
            sa.select(n.c.customer_id, n.c.number)
            .where(n.c.customer_id.in_([r.id for r in rows]))
            .order_by(n.c.customer_id, n.c.id)
        ):
            numbers.setdefault(customer_id, []).append(number)
    out = []
    for r in rows:
        out.append(
            ExportCustomer(
                r.id,
                r.name,
                tuple(numbers.get(r.id, ())),
                r.customer_class,
                r.email,
                r.account,
                r.note,
                stored_values(r.fields),
            )
        )
    return out


def iter_customers(run: Callable[[Callable[[Connection], Any]], Any]) -> Iterator[ExportCustomer]:
    """Every live customer, a page per transaction (``run``: a sink's)."""
    after = 0
    while True:
        page: list[ExportCustomer] = run(functools.partial(export_page, after_id=after))
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].id


def field_titles(defs: Sequence[FieldDef]) -> list[str]:
    """Each field's column title: its label, or its key when the label is ambiguous."""
    labels = [d.label.strip() for d in defs]
    fixed = set(FIXED)
    return [
        d.label.strip()
        if d.label.strip() and labels.count(d.label.strip()) == 1 and d.label.strip() not in fixed
        else d.key
        for d in defs
    ]


def numbers_cell(numbers: Sequence[str]) -> str:
    text = "; ".join(numbers)
    return text if all(NUMBER.fullmatch(n) for n in numbers) else text_cell(text)


def row_cells(customer: ExportCustomer, defs: Sequence[FieldDef]) -> list[str]:
    return [
        text_cell(customer.name),
        numbers_cell(customer.numbers),
        customer.customer_class,
        text_cell(customer.email),
        text_cell(customer.account),
        text_cell(customer.note),
        *(text_cell(customer.fields.get(d.key, "")) for d in defs),
    ]


def header_cells(defs: Sequence[FieldDef]) -> list[str]:
    return [*FIXED, *(text_cell(t) for t in field_titles(defs))]


def write_csv(customers: Iterator[ExportCustomer], defs: Sequence[FieldDef], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(header_cells(defs))
    n = 0
    for customer in customers:
        writer.writerow(row_cells(customer, defs))
        n += 1
    return n


def write_xlsx(customers: Iterator[ExportCustomer], defs: Sequence[FieldDef], path: str) -> int:
    """A write-only workbook (rows streamed to disk, never the sheet in memory)."""
    from openpyxl import Workbook  # type: ignore[import-untyped]

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("customers")
    ws.append(header_cells(defs))
    n = 0
    for customer in customers:
        ws.append(row_cells(customer, defs))
        n += 1
    wb.save(path)
    return n


def export_customers(
    sink: Sink, defs: Sequence[FieldDef], fmt: str, path: str | os.PathLike[str]
) -> int:
    """Every live customer into the file at ``path`` (``fmt``: csv or xlsx); the count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=f".{fmt}", dir=target.parent or ".")
    try:
        customers = iter_customers(sink.run)
        if fmt == "csv":
            with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as out:
                n = write_csv(customers, defs, out)
        else:
            os.close(fd)
            n = write_xlsx(customers, defs, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def file_name(fmt: str, now: dt.datetime) -> str:
    return f"customers-{now:%Y%m%d-%H%M}.{fmt}"
