"""Importing customers from CSV or XLSX, by the call lists' rules.

The file is read as a call list is (acd/dialer/list_import.py ``read_records``): CSV in
UTF-8, UTF-16 or GB18030 with or without a BOM, or the first sheet of an XLSX, streamed; a
row longer than 64 KB, an undecodable one, an unbalanced quote are bad rows with their line;
an old .xls, a zip bomb, a binary file are refused whole.

The first row names the columns, in English or Chinese: name, numbers (several in one
cell, separated by ``;`` ``,`` ``/`` ``|`` ``、`` or a line break), class, e-mail, account,
note, and the custom fields an admin defined (by key or label). A column the importer does
not know refuses the file (it would be lost silently otherwise). Each row is checked as the
customer form checks it (numbers by :func:`~appliance.crm.numbers.match_key`, custom
fields by :func:`~appliance.crm.fields.clean_values`); a bad row is reported with its line
and the reason and imported not at all. The apostrophe the export writes before a cell a
spreadsheet would run as a formula is taken off again (customer_export.py), so a file
exported and imported again changes nothing.

Good rows are written in batches, each batch in ONE transaction (all or nothing): a row
whose number (or, with no number, whose account) a customer already has updates that
customer (the values the row gives replace the stored ones; its other numbers are added),
else a new customer is created. A batch the database refuses stops the import and says
which lines were not imported; importing the same file again is harmless (rows merge).
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.logger import Logger

from acd.dialer.list_export import FORMULA_STARTS
from acd.dialer.list_import import (
    MAX_BAD_KEPT,
    MAX_COLUMNS,
    NAME_HEADERS,
    NUMBER_HEADERS,
    BadRow,
    FileRefused,
    read_records,
)
from acd.dialer.numbers import normalise
from appliance.crm.customer_store import ACCOUNT_MAX as MAX_ACCOUNT
from appliance.crm.customer_store import EMAIL_MAX as MAX_EMAIL
from appliance.crm.customer_store import NAME_MAX as MAX_NAME
from appliance.crm.customer_store import NOTE_MAX as MAX_NOTE
from appliance.crm.customer_store import NUMBERS_MAX as MAX_NUMBERS
from appliance.crm.fields import FieldDef, FieldErrors, clean_values
from appliance.crm.numbers import match_key
from appliance.db import model
from appliance.db.components import utcnow
from appliance.email_address import is_email
from appliance.text import N_

T = TypeVar("T")
log = Logger(namespace="ccbox.crm.import")

BATCH_ROWS = 500
# ASCII separators, the ideographic comma, full-width comma and semicolon
_NUMBER_SPLIT = re.compile("[;,/|\n\r\u3001\uff0c\uff1b]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOTE_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # a note keeps tabs and line breaks

# Header names (compared lower-case, "_" and "-" as spaces, spaces collapsed).
COLUMN_HEADERS: dict[str, frozenset[str]] = {
    "name": NAME_HEADERS,
    "numbers": NUMBER_HEADERS
    | {"numbers", "phones", "phone numbers", "telephones", "电话号码", "号码", "联系方式"},
    "class": frozenset(
        {"class", "customer class", "level", "类别", "客户类别", "等级", "客户等级"}
    ),
    "email": frozenset({"email", "e mail", "mail", "邮箱", "电子邮件", "电子邮箱", "邮件"}),
    "account": frozenset(
        {"account", "account no", "account number", "账号", "帐号", "账户", "客户编号", "编号"}
    ),
    "note": frozenset({"note", "notes", "remark", "remarks", "comment", "备注", "说明"}),
}
# A class cell, as a person types it (the export writes the first form).
CLASS_WORDS = {
    "": "normal",
    "normal": "normal",
    "普通": "normal",
    "普通客户": "normal",
    "vip": "vip",
    "key account": "key_account",
    "key_account": "key_account",
    "大客户": "key_account",
    "重点客户": "key_account",
}


def header_key(cell: str) -> str:
    text = cell.replace("\ufeff", "").strip().lower().replace("_", " ").replace("-", " ")
    return " ".join(text.split())


@dataclass(frozen=True)
class ImportedCustomer:
    """A good row: numbers normalised (the dialer's form) with their lookup keys."""

    name: str
    numbers: tuple[str, ...]
    keys: tuple[str, ...]
    customer_class: str
    email: str
    account: str
    note: str
    fields: dict[str, str]
    # which of the row's columns were there (a column absent keeps the stored value)
    given: frozenset[str] = frozenset()
    # required custom fields the row has no value for: a new customer cannot be made of it
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoodCustomer:
    line: int
    row: ImportedCustomer


@dataclass
class CustomerColumns:
    """Which column holds what: the fixed ones by name, the custom fields by key."""

    fixed: dict[str, int]
    fields: dict[str, int]
    width: int


def read_columns(header: list[str], defs: Sequence[FieldDef]) -> CustomerColumns:
    """The header row's columns; FileRefused for a column no one knows, a column named
    twice, or neither a name nor a numbers column."""
    by_header: dict[str, tuple[str, str]] = {}
    for target, names in COLUMN_HEADERS.items():
        for n in names:
            by_header.setdefault(n, ("fixed", target))
    for d in defs:
        by_header.setdefault(header_key(d.key), ("field", d.key))
        by_header.setdefault(header_key(d.label), ("field", d.key))
    fixed: dict[str, int] = {}
    fields: dict[str, int] = {}
    if len(header) > MAX_COLUMNS:
        raise FileRefused(N_("the file has more than {n} columns", n=MAX_COLUMNS))
    for i, cell in enumerate(header):
        key = header_key(cell)
        if not key:
            continue
        found = by_header.get(key)
        if found is None:
            raise FileRefused(
                N_(
                    "unknown column {column!r}: name it as the export does, define the custom"
                    " field first, or remove the column",
                    column=cell.strip()[:64],
                )
            )
        kind, target = found
        into = fixed if kind == "fixed" else fields
        if target in into:
            raise FileRefused(N_("the column {column!r} is there twice", column=cell.strip()[:64]))
        into[target] = i
    if "name" not in fixed and "numbers" not in fixed:
        raise FileRefused(
            N_("no name and no numbers column: the first row must name them (name, numbers)")
        )
    return CustomerColumns(fixed, fields, len(header))


def _cell(cells: list[str], i: int | None) -> str:
    return cells[i].strip() if i is not None and i < len(cells) else ""


def _plain(value: str, label: str, max_len: int, control: re.Pattern[str] = _CONTROL) -> str:
    if len(value) > max_len:
        raise ValueError(N_("{field}: at most {n} characters", field=label, n=max_len))
    if control.search(value):
        raise ValueError(N_("{field}: control characters are not allowed", field=label))
    return value


def unescape_cell(text: str) -> str:
    """A cell as it was before the export escaped it: the apostrophe the export puts before
    a formula's first character (``'=``, ``'+``, ``'-``, ``'@``) goes, so that a file exported
    and imported again changes nothing. What remains is stored text, never evaluated."""
    if text.startswith("'") and text[1:2] in FORMULA_STARTS and text[1:2]:
        return text[1:]
    return text


def split_numbers(text: str) -> list[str]:
    """The numbers typed in one cell or text box, split at the separators."""
    return [p.strip() for p in _NUMBER_SPLIT.split(text) if p.strip()]


def parse_numbers(
    text: str, country_code: str = "86", trunk_prefix: str = "0"
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The numbers of one cell (normalised, and their keys, duplicates dropped); ValueError
    naming the first that is no number."""
    numbers: list[str] = []
    keys: list[str] = []
    for raw in split_numbers(text):
        try:
            shown = normalise(raw)
        except ValueError as exc:
            reason = exc.args[0] if exc.args else str(exc)
            raise ValueError(
                N_("the number {number!r} is not valid: {reason}", number=raw[:40], reason=reason)
            ) from None
        key = match_key(shown, country_code, trunk_prefix)
        if key is None or len(shown) > 32 or len(key) > 24:
            raise ValueError(N_("the number {number!r} is not valid", number=raw[:40]))
        if key not in keys:
            numbers.append(shown)
            keys.append(key)
    if len(keys) > MAX_NUMBERS:
        raise ValueError(N_("more than {n} numbers", n=MAX_NUMBERS))
    return tuple(numbers), tuple(keys)


def parse_row(
    cells: list[str],
    cols: CustomerColumns,
    defs: Sequence[FieldDef],
    country_code: str = "86",
    trunk_prefix: str = "0",
) -> ImportedCustomer:
    """A data row as a customer; ValueError (the reason) when it is bad."""
    if len(cells) > cols.width and any(c.strip() for c in cells[cols.width :]):
        raise ValueError(
            N_(
                "the row has more columns than the header ({n} > {width})",
                n=len(cells),
                width=cols.width,
            )
        )
    if any("\x00" in c for c in cells):
        raise ValueError(N_("the row contains a NUL character"))
    cells = [unescape_cell(c) for c in cells]
    fx = cols.fixed
    name = _plain(_cell(cells, fx.get("name")), N_("name"), MAX_NAME)
    numbers, keys = parse_numbers(_cell(cells, fx.get("numbers")), country_code, trunk_prefix)
    if not name and not numbers:
        raise ValueError(N_("neither a name nor a number"))
    class_text = _cell(cells, fx.get("class"))
    customer_class = CLASS_WORDS.get(header_key(class_text))
    if customer_class is None:
        raise ValueError(
            N_(
                "unknown class {value!r} (normal, vip or key_account)",
                value=class_text[:32],
            )
        )
    email = _plain(_cell(cells, fx.get("email")), N_("e-mail"), MAX_EMAIL)
    if email and not is_email(email):
        raise ValueError(N_("the e-mail address {value!r} is not valid", value=email[:64]))
    account = _plain(_cell(cells, fx.get("account")), N_("account"), MAX_ACCOUNT)
    note_cell = cells[fx["note"]] if "note" in fx and fx["note"] < len(cells) else ""
    note = _plain(note_cell.strip(), N_("note"), MAX_NOTE, _NOTE_CONTROL)
    raw_fields = {key: _cell(cells, i) for key, i in cols.fields.items()}
    try:
        # required fields are checked only when the file has their column: an update that
        # leaves a column out keeps what is stored
        shown_defs = [d for d in defs if d.key in cols.fields]
        values = clean_values(shown_defs, raw_fields)
    except FieldErrors as exc:
        labels = {d.key: d.label for d in defs}
        first = sorted(exc.errors.items())
        reason = "; ".join(f"{labels.get(k, k)}: {v}" for k, v in first[:5])
        raise ValueError(N_("custom fields: {errors}", errors=reason)) from None
    given = frozenset(fx) | frozenset(f"field:{k}" for k in cols.fields)
    missing = tuple(d.label for d in defs if d.required and d.key not in values)
    return ImportedCustomer(
        name, numbers, keys, customer_class, email, account, note, values, given, missing
    )


def read_customers(
    source: io.RawIOBase | IO[bytes],
    defs: Sequence[FieldDef],
    country_code: str = "86",
    trunk_prefix: str = "0",
) -> Iterator[GoodCustomer | BadRow]:
    """The file's data rows, one at a time; FileRefused for a file that cannot be imported."""
    cols: CustomerColumns | None = None
    for line, cells in read_records(source):
        if isinstance(cells, str):
            if cols is None:
                raise FileRefused(N_("the header row cannot be read: {why}", why=cells))
            yield BadRow(line, cells)
            continue
        if not any(c.strip() for c in cells):
            continue
        if cols is None:
            cols = read_columns(cells, defs)
            continue
        try:
            yield GoodCustomer(line, parse_row(cells, cols, defs, country_code, trunk_prefix))
        except ValueError as exc:
            yield BadRow(line, exc.args[0] if exc.args else str(exc))
    if cols is None:
        raise FileRefused(N_("the file is empty"))


# ---- writing --------------------------------------------------------------------------------


class Sink(Protocol):
    """Runs ``thd(conn)`` in one transaction (appliance/db/lead_import_store.py's sinks)."""

    def run(self, thd: Callable[[Connection], T]) -> T: ...


@dataclass(frozen=True)
class BatchCounts:
    created: int
    updated: int


class RowRefused(ValueError):
    """A row the batch cannot write: it names two customers (its numbers belong to
    different ones), or it would make a customer without a required field."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _existing(conn: Connection, row: ImportedCustomer) -> set[int]:
    """The live customers the row names: by its numbers' keys, else by its account."""
    c, n = model.customers, model.customer_numbers
    live = sa.and_(c.c.merged_into.is_(None), c.c.erased_at.is_(None))
    if row.keys:
        q = (
            sa.select(n.c.customer_id)
            .select_from(n.join(c, c.c.id == n.c.customer_id))
            .where(n.c.match.in_(row.keys), live)
        )
        found = {int(r[0]) for r in conn.execute(q)}
        if found:
            return found
    if row.account:
        q = sa.select(c.c.id).where(c.c.account == row.account, live).limit(2)
        return {int(r[0]) for r in conn.execute(q)}
    return set()


def _add_numbers(conn: Connection, customer_id: int, row: ImportedCustomer) -> None:
    n = model.customer_numbers
    have = {r[0] for r in conn.execute(sa.select(n.c.match).where(n.c.customer_id == customer_id))}
    for shown, key in zip(row.numbers, row.keys, strict=True):
        if key not in have and len(have) < MAX_NUMBERS:
            conn.execute(n.insert().values(customer_id=customer_id, number=shown, match=key))
            have.add(key)


def write_batch(conn: Connection, rows: Sequence[GoodCustomer]) -> BatchCounts:
    """The batch in the caller's transaction: each row creates or updates one customer.
    RowRefused (the whole batch rolled back by the caller) for a row it cannot write."""
    c = model.customers
    created = updated = 0
    now = utcnow()
    for good in rows:
        row = good.row
        found = _existing(conn, row)
        if len(found) > 1:
            ids = ", ".join(f"#{i}" for i in sorted(found)[:3])
            raise RowRefused(
                good.line,
                N_(
                    "line {line}: its numbers or account belong to different customers ({ids}):"
                    " merge them first",
                    line=good.line,
                    ids=ids,
                ),
            )
        if found:
            (customer_id,) = found
            current = conn.execute(sa.select(c.c.fields).where(c.c.id == customer_id)).scalar()
            try:
                stored = json.loads(current or "{}")
            except ValueError:
                stored = {}
            changes: dict[str, Any] = {"updated_at": now}
            for col, value in (
                ("name", row.name),
                ("customer_class", row.customer_class),
                ("email", row.email),
                ("account", row.account),
                ("note", row.note),
            ):
                given = "class" if col == "customer_class" else col
                if given in row.given and (value or col == "customer_class"):
                    changes[col] = value
            if "class" not in row.given:
                changes.pop("customer_class", None)
            merged = dict(stored) if isinstance(stored, dict) else {}
            merged.update(row.fields)
            changes["fields"] = json.dumps(merged, ensure_ascii=False, sort_keys=True)
            conn.execute(c.update().where(c.c.id == customer_id).values(**changes))
            _add_numbers(conn, customer_id, row)
            updated += 1
        else:
            if row.missing:
                raise RowRefused(
                    good.line,
                    N_(
                        "line {line}: a new customer needs a value for {fields}",
                        line=good.line,
                        fields=", ".join(row.missing),
                    ),
                )
            result = conn.execute(
                c.insert().values(
                    name=row.name,
                    customer_class=row.customer_class,
                    email=row.email,
                    account=row.account,
                    note=row.note,
                    fields=json.dumps(row.fields, ensure_ascii=False, sort_keys=True),
                    created_at=now,
                    updated_at=now,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            _add_numbers(conn, int(key[0]), row)
            created += 1
    return BatchCounts(created, updated)


@dataclass
class CustomerImportResult:
    state: str  # "done", "stopped", "cancelled", "refused"
    rows_ok: int = 0
    rows_bad: int = 0
    created: int = 0
    updated: int = 0
    bad: list[BadRow] = field(default_factory=list)
    error: str = ""


class CustomerImportJob:
    """One file imported, in the caller's thread (``run``) or the upload registry's
    (webui/list_upload.py ``Uploads``: ``state``, ``progress()``, ``cancel()``, ``result``)."""

    def __init__(
        self,
        source: IO[bytes],
        sink: Sink,
        defs: Sequence[FieldDef],
        *,
        actor: str,
        source_name: str = "",
        country_code: str = "86",
        trunk_prefix: str = "0",
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        self.source = source
        self.sink = sink
        self.defs = list(defs)
        self.actor = actor
        self.source_name = source_name
        self.country_code = country_code
        self.trunk_prefix = trunk_prefix
        self.batch_rows = batch_rows
        self.state = "waiting"
        self.rows_ok = self.rows_bad = 0
        self.bytes_total = 0
        self.started_at: float | None = None
        self.result: CustomerImportResult | None = None
        self._cancel = threading.Event()

    def start(self) -> None:
        self.run()

    def cancel(self) -> None:
        self._cancel.set()

    def progress(self) -> dict[str, Any]:
        total = self.bytes_total
        read = 0
        if self.state == "reading":
            try:
                read = self.source.tell()
            except (OSError, ValueError):
                read = 0
        elif self.state != "waiting":
            read = total
        read = min(read, total) if total else read
        return {
            "state": self.state,
            "bytes_read": read,
            "bytes_total": total,
            "percent": round(100.0 * read / total, 1) if total else 0.0,
            "rows_ok": self.rows_ok,
            "rows_bad": self.rows_bad,
            "elapsed_s": round(time.monotonic() - self.started_at, 1) if self.started_at else 0.0,
        }

    def run(self) -> CustomerImportResult:
        self.started_at = time.monotonic()
        self.state = "reading"
        try:
            self.bytes_total = os.fstat(self.source.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.bytes_total = 0
        result = CustomerImportResult("done")
        try:
            self._import(result)
        except Exception as exc:  # said in the result; the log keeps the traceback
            log.failure("customer import {name!r} failed", name=self.source_name)
            result.state, result.error = "stopped", str(exc)[:300] or type(exc).__name__
        self._audit(result)
        self.result = result
        self.state = result.state
        return result

    def _audit(self, result: CustomerImportResult) -> None:
        """One audit row for the file: who, which file, what came of it (no personal data)."""
        detail = {
            "state": result.state,
            "created": result.created,
            "updated": result.updated,
            "bad": result.rows_bad,
        }
        values = {
            "at": utcnow(),
            "actor": self.actor[:64],
            "action": "customer.import",
            "target": f"file {self.source_name}"[:128],
            "detail": json.dumps(detail, sort_keys=True),
            "ip": "",
        }
        try:
            self.sink.run(lambda conn: conn.execute(model.audit_log.insert().values(**values)))
        except Exception:  # the import's own result says what happened; the log keeps this
            log.failure(
                "the audit row of customer import {name!r} was not written", name=self.source_name
            )

    def _import(self, result: CustomerImportResult) -> None:
        rows = read_customers(self.source, self.defs, self.country_code, self.trunk_prefix)
        batch: list[GoodCustomer] = []

        def bad(row: BadRow) -> None:
            result.rows_bad += 1
            self.rows_bad = result.rows_bad
            if len(result.bad) < MAX_BAD_KEPT:
                result.bad.append(row)

        def flush() -> bool:
            if not batch:
                return True
            try:
                counts = self.sink.run(lambda conn: write_batch(conn, batch))
            except RowRefused as exc:
                # the batch rolled back whole: write it again without the row that named two
                # customers (reported), so that one bad row costs its line only
                bad(BadRow(exc.line, exc.args[0]))
                batch[:] = [g for g in batch if g.line != exc.line]
                return flush()
            except Exception as exc:
                result.state = "stopped"
                result.error = N_(
                    "the database refused lines {first} to {last} ({error}): they and the"
                    " lines after them were not imported; importing the file again is safe"
                    " (rows merge by number)",
                    first=batch[0].line,
                    last=batch[-1].line,
                    error=str(exc)[:200],
                )
                return False
            result.rows_ok += len(batch)
            result.created += counts.created
            result.updated += counts.updated
            self.rows_ok = result.rows_ok
            batch.clear()
            return True

        try:
            for row in rows:
                if self._cancel.is_set():
                    result.state = "cancelled"
                    return
                if isinstance(row, BadRow):
                    bad(row)
                    continue
                batch.append(row)
                if len(batch) >= self.batch_rows and not flush():
                    return
            flush()
        except FileRefused as exc:
            if result.rows_ok == 0 and not batch and result.rows_bad == 0:
                result.state, result.error = "refused", exc.args[0]
                return
            if flush():
                result.state, result.error = "stopped", exc.args[0]
