"""Importing a call list: CSV or XLSX, streamed, each bad row reported by its line.

The reader (:func:`read_rows`) yields one row at a time, so a file of a million rows (or a
10 GB one) never sits in memory: a CSV through a bounded line reader, an XLSX through
openpyxl's read-only mode (its sheet streamed; its shared strings table, capped below, is
the one part held whole). The format comes from the content, not the name: a ZIP is a
workbook, an OLE2 file is an old .xls (refused with what to do), NUL-heavy bytes are binary.

CSV encodings: a BOM says UTF-8, UTF-16 LE or BE; otherwise the first 256 KB decide:
UTF-8 when it decodes, else GB18030 (Excel's "CSV" on a Chinese Windows). A row whose bytes
do not decode in the chosen encoding is a bad row; the import goes on.

The first row names the columns: the number's column is found by name (number, phone,
mobile, tel, 电话, 手机, 号码, ...), then a name and a time zone column; every other column
goes into the lead's fields. Bad rows (no number, a number :func:`normalise` refuses, an
unknown zone, a NUL byte, a row over 64 KB, ...) are reported as (line, reason) and skipped.

:class:`ImportJob` writes the good rows in batches of 1000, each batch in one transaction
(all or nothing). A batch the database refuses STOPS the import: the batches before it are
in, nothing after it is read, and the result says which lines were not imported. Stopping
is the safe choice: a database that refused one batch (disk full, a lost server) would
refuse the next ones too, and importing the same file again is harmless because leads are
merged by number.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import re
import threading
import time
import zipfile
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar, cast

from sqlalchemy.engine import Connection
from twisted.logger import Logger

from acd.dialer.numbers import normalise, tz_of
from appliance.db.lead_import_store import (
    BatchCounts,
    ImportedLead,
    create_list,
    finish_list,
    merge_leads,
)
from appliance.text import N_

T = TypeVar("T")
log = Logger(namespace="ccbox.dialer.import")

BATCH_ROWS = 1000
MAX_LINE_CHARS = 64 * 1024  # one physical CSV line (a longer one is a bad row, read past)
MAX_RECORD_LINES = 20  # lines one CSV row may span (quoted line breaks in a note)
MAX_NAME_CHARS = 128  # leads.name
MAX_FIELDS_CHARS = 16 * 1024  # a lead's other columns, as JSON
MAX_COLUMNS = 200
MAX_HEADER_CHARS = 64
SNIFF_BYTES = 256 << 10  # the head that decides a CSV's encoding
# XLSX: the uncompressed size the ZIP may declare in all, and its shared strings (read whole
# by openpyxl): a zip bomb is refused before a byte is inflated. Python's zipfile never
# inflates more than an entry declares (it stops and fails the CRC), so these bound the work.
MAX_XLSX_UNCOMPRESSED = 1 << 30
MAX_XLSX_SHARED_STRINGS = 128 << 20
MAX_XLSX_ENTRIES = 10_000
MAX_BAD_KEPT = 1000  # bad rows listed in the result (all are counted)
# Bytes a CSV's encoding could not decode (kept by errors="surrogateescape").
_UNDECODED = re.compile("[\udc80-\udcff]")
_JSON = json.JSONEncoder(ensure_ascii=False)

# Header names, compared lower-case with "_" as a space and spaces collapsed.
NUMBER_HEADERS = frozenset(
    {
        "number", "phone", "mobile", "tel", "telephone", "cell", "msisdn",
        "phone number", "phone no", "mobile number", "telephone number", "cell phone",
        "电话", "手机", "号码", "手机号", "手机号码", "电话号码", "联系电话",
    }
)  # fmt: skip
NAME_HEADERS = frozenset(
    {"name", "full name", "customer", "customer name", "姓名", "名字", "客户", "客户名称", "联系人"}
)
TZ_HEADERS = frozenset({"tz", "timezone", "time zone", "时区"})

# why a row's number is not imported, by the do-not-call list that has it
DNC_REASONS = {
    "center": N_("the number is on the center's do-not-call list"),
    "campaign": N_("the number is on this campaign's do-not-call list"),
    "national": N_("the number is on the national do-not-call list"),
}


class FileRefused(ValueError):
    """The whole file cannot be imported (not CSV or XLSX, no number column, a zip bomb)."""


@dataclass(frozen=True)
class BadRow:
    line: int  # the CSV line the row starts on, or the XLSX row number (1 = the header)
    reason: str


@dataclass(frozen=True)
class GoodRow:
    line: int
    lead: ImportedLead


@dataclass
class Columns:
    """Which column is what, from the header row."""

    number: int
    name: int | None
    tz: int | None
    fields: list[tuple[int, str]]  # (column, field name) for every other column
    width: int


# ---- reading ------------------------------------------------------------------------------


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read from it (the progress), seekable when the
    file is (openpyxl's ZIP reader seeks)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return bool(self.raw.seekable())

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count = max(self.count, self.raw.tell() if self.raw.seekable() else self.count + n)
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self.raw.seek(offset, whence))

    def tell(self) -> int:
        return int(self.raw.tell())


def _kind(head: bytes) -> str:
    """ "xlsx", "csv", or a refusal."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileRefused(
            N_("this is an old Excel .xls file: save it as .xlsx or CSV (UTF-8) and import that")
        )
    if head.startswith(b"PK") or head[:4] in (b"\x1f\x8b\x08\x00", b"%PDF", b"\x89PNG", b"\x7fELF"):
        raise FileRefused(N_("this is not a CSV or XLSX file"))
    return "csv"


def detect_encoding(head: bytes) -> tuple[str, int]:
    """(Python codec, BOM length) of a CSV from its first bytes; FileRefused for binary."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le", 2
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be", 2
    sample = head[:65536]
    if sample:
        # UTF-16 without a BOM: ASCII text with every other byte NUL
        evens, odds = sample[0::2], sample[1::2]
        if len(sample) >= 4 and odds.count(0) > 0.4 * len(odds) and evens.count(0) == 0:
            return "utf-16-le", 0
        if len(sample) >= 4 and evens.count(0) > 0.4 * len(evens) and odds.count(0) == 0:
            return "utf-16-be", 0
        controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
        if controls > max(8, len(sample) // 100):
            raise FileRefused(N_("this is not a text file: it holds binary data"))
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "gb18030", 0
    return "utf-8", 0


def _lines(text: IO[str], overlong: set[int]) -> Iterator[str]:
    """Physical lines of at most MAX_LINE_CHARS; a longer one is read past (never held
    whole), noted in ``overlong`` by its number, and given to csv as an empty line."""
    n = 0
    while True:
        line = _readline(text)
        if not line:
            return
        n += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while True:
                more = _readline(text)
                if not more or more.endswith(("\n", "\r")):
                    break
            overlong.add(n)
            yield "\n"
            continue
        yield line


def _readline(text: IO[str]) -> str:
    """One line; a file that ends inside a character (an odd byte of UTF-16, half a GB18030
    pair), which surrogateescape cannot carry, is refused as cut short."""
    try:
        return text.readline(MAX_LINE_CHARS + 1)
    except UnicodeDecodeError as exc:
        raise FileRefused(
            N_(
                "the file ends in the middle of a character: it is cut short or not "
                "{encoding} text",
                encoding=exc.encoding,
            )
        ) from None


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_records(raw: _Counting, encoding: str | None) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells) or (line, reason) for each CSV record."""
    head = _sniff(raw)
    if encoding is None:
        encoding, bom = detect_encoding(head)
    else:
        bom = 3 if encoding in ("utf-8", "utf-8-sig") and head.startswith(codecs.BOM_UTF8) else 0
        encoding = "utf-8" if encoding == "utf-8-sig" else encoding
    buffered = io.BufferedReader(raw, 1 << 16)
    buffered.read(bom)
    text = io.TextIOWrapper(buffered, encoding=encoding, errors="surrogateescape", newline="")
    overlong: set[int] = set()
    lines = _lines(text, overlong)
    first = next(lines, None)
    if first is None:
        return
    delimiter = _delimiter(first)

    def chained() -> Iterator[str]:
        yield first
        yield from lines

    reader = csv.reader(chained(), delimiter=delimiter)
    done = 0  # lines consumed by the records so far
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, done = done + 1, reader.line_num
            yield start, N_("unreadable CSV (an unbalanced quote?): {error}", error=str(exc)[:80])
            continue
        start, done = done + 1, reader.line_num
        if done - start >= MAX_RECORD_LINES:
            # a quote opened and never closed swallows the lines after it: said, not hidden
            # in one lead's name
            overlong.difference_update(range(start, done + 1))
            yield (
                start,
                N_(
                    "lines {start} to {end} were read as one row: a quote that is not closed?",
                    start=start,
                    end=done,
                ),
            )
            continue
        if overlong and any(n in overlong for n in range(start, done + 1)):
            overlong.difference_update(range(start, done + 1))
            yield start, N_("the row is longer than {kb} KB", kb=MAX_LINE_CHARS // 1024)
            continue
        # (plain loops and one join: the reader's cost per row is mostly allocations)
        joined = "\n".join(cells)
        if not joined.isascii() and _UNDECODED.search(joined):
            yield (
                start,
                N_(
                    "the row is not valid {encoding} text: save the file as UTF-8",
                    encoding=encoding.upper(),
                ),
            )
            continue
        yield start, cells


def _sniff(raw: _Counting) -> bytes:
    """The first SNIFF_BYTES, read and put back (the file is seekable: ``_read_head``)."""
    pos = raw.tell()
    head = raw.raw.read(SNIFF_BYTES) or b""
    raw.seek(pos)
    return bytes(head)


def check_xlsx(raw: io.RawIOBase | IO[bytes]) -> None:
    """Refuse a ZIP that is not a workbook or that would inflate past the caps."""
    try:
        with zipfile.ZipFile(raw) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        # NotImplementedError: a version or compression zipfile does not read (damaged)
        raise FileRefused(N_("the XLSX file is damaged ({error})", error=str(exc)[:80])) from None
    if len(infos) > MAX_XLSX_ENTRIES:
        raise FileRefused(N_("the XLSX file has too many parts ({n})", n=len(infos)))
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise FileRefused(N_("this ZIP file is not an XLSX workbook"))
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise FileRefused(
            N_(
                "the XLSX file unpacks to {mb} MB, more than the {cap} MB accepted: split it or"
                " save it as CSV",
                mb=total >> 20,
                cap=MAX_XLSX_UNCOMPRESSED >> 20,
            )
        )
    for info in infos:
        if info.filename.endswith("sharedStrings.xml") and info.file_size > MAX_XLSX_SHARED_STRINGS:
            raise FileRefused(
                N_(
                    "the XLSX file's text table unpacks to {mb} MB, more than the {cap} MB"
                    " accepted: save it as CSV",
                    mb=info.file_size >> 20,
                    cap=MAX_XLSX_SHARED_STRINGS >> 20,
                )
            )
    raw.seek(0)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        # a number typed into a cell: 13800138000 comes back as a float, never "1.38e10"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()  # a date cell: Excel stores dates as datetimes
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _xlsx_records(raw: _Counting) -> Iterator[tuple[int, list[str] | str]]:
    """(row number, cells) of the workbook's first sheet."""
    import openpyxl  # type: ignore[import-untyped]

    check_xlsx(raw)
    try:
        wb = openpyxl.load_workbook(raw, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise FileRefused(
            N_("the XLSX file cannot be read ({error})", error=str(exc)[:80])
        ) from None
    try:
        if not wb.worksheets:
            raise FileRefused(N_("the XLSX file has no sheet"))
        ws = wb.worksheets[0]
        # the sheet's claim of its size ("A1:XFD1048576") is not believed: its rows are read
        # as they come, never wider than asked
        ws.reset_dimensions()
        # up to the header (the first row with a value) as wide as MAX_COLUMNS, then only as
        # wide as the header: a sheet's data rows are read no wider than their titles (a
        # cell right of them has no column name and is not read)
        line, width = 0, MAX_COLUMNS
        rows = ws.iter_rows(values_only=True, max_col=width)
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except Exception as exc:  # a damaged sheet: stop there, said by the caller
                raise FileRefused(
                    N_(
                        "the XLSX file is damaged after row {line} ({error})",
                        line=line,
                        error=str(exc)[:80],
                    )
                ) from None
            line += 1
            cells = [_cell_text(v) for v in values]
            if width == MAX_COLUMNS and any(cells):
                width = max(i for i, c in enumerate(cells) if c) + 1
                cells = cells[:width]
                rows = ws.iter_rows(values_only=True, min_row=line + 1, max_col=width)
            yield line, cells
    finally:
        wb.close()


def _header_key(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").strip().lower().replace("_", " ").split())


def read_columns(header: list[str]) -> Columns:
    """The columns of a header row; FileRefused when none holds the number."""
    keys = [_header_key(c) for c in header[:MAX_COLUMNS]]
    number = next((i for i, k in enumerate(keys) if k in NUMBER_HEADERS), None)
    if number is None:
        raise FileRefused(
            N_(
                "no number column: the first row must name one"
                " (number, phone, mobile, tel, 电话, 手机 or 号码)"
            )
        )
    name = next((i for i, k in enumerate(keys) if k in NAME_HEADERS and i != number), None)
    tz = next((i for i, k in enumerate(keys) if k in TZ_HEADERS), None)
    fields: list[tuple[int, str]] = []
    seen: set[str] = set()
    for i, cell in enumerate(header[:MAX_COLUMNS]):
        if i in (number, name, tz):
            continue
        label = " ".join(cell.replace("\ufeff", "").split())[:MAX_HEADER_CHARS] or f"column {i + 1}"
        base, n = label, 2
        while label in seen:
            label, n = f"{base} ({n})", n + 1
        seen.add(label)
        fields.append((i, label))
    return Columns(number, name, tz, fields, len(keys))


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def parse_row(cells: list[str], cols: Columns) -> ImportedLead:
    """A data row as a lead; ValueError (a reason) when it is bad."""
    width = len(cells)
    if width > cols.width and any(c.strip() for c in cells[cols.width :]):
        raise ValueError(
            N_(
                "the row has more columns than the header ({n} > {width})",
                n=width,
                width=cols.width,
            )
        )
    for c in cells:
        if "\x00" in c:
            raise ValueError(N_("the row contains a NUL character"))
    raw_number = cells[cols.number] if cols.number < width else ""
    if not raw_number.strip():
        raise ValueError(N_("no number"))
    number = normalise(raw_number)
    name = cells[cols.name].strip() if cols.name is not None and cols.name < width else ""
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(N_("the name is longer than {max} characters", max=MAX_NAME_CHARS))
    tz_text = cells[cols.tz].strip() if cols.tz is not None and cols.tz < width else ""
    if tz_text:
        if tz_text not in _zones():
            raise ValueError(N_("unknown time zone {tz!r}", tz=tz_text[:64]))
        tz, given = tz_text, True
    else:
        # what the number does not place stays "": the campaign's zone when it is dialed
        # (a later change of the campaign's default_tz then applies to these leads too)
        tz, given = tz_of(number, ""), False
    fields = {label: cells[i] for i, label in cols.fields if i < width and cells[i] != ""}
    # JSON at most sextuples a character (\u0000): measure exactly only when it could matter
    if sum(len(k) + len(v) + 6 for k, v in fields.items()) * 6 > MAX_FIELDS_CHARS and (
        len(_JSON.encode(fields)) > MAX_FIELDS_CHARS
    ):
        raise ValueError(
            N_("the row's other columns hold more than {kb} KB", kb=MAX_FIELDS_CHARS // 1024)
        )
    return ImportedLead(number, name, tz, fields, given)


def read_rows(
    source: io.RawIOBase | IO[bytes], encoding: str | None = None
) -> Iterator[GoodRow | BadRow]:
    """The file's data rows, one at a time (the header is read first). FileRefused when the
    file as a whole cannot be imported."""
    records = read_records(source, encoding)
    cols: Columns | None = None
    for line, cells in records:
        if isinstance(cells, str):
            if cols is None:
                raise FileRefused(N_("the header row cannot be read: {why}", why=cells))
            yield BadRow(line, cells)
            continue
        if not any(c.strip() for c in cells):
            continue  # blank rows are not rows
        if cols is None:
            cols = read_columns(cells)
            continue
        try:
            yield GoodRow(line, parse_row(cells, cols))
        except ValueError as exc:
            yield BadRow(line, exc.args[0] if exc.args else str(exc))
    if cols is None:
        raise FileRefused(N_("the file is empty"))


def read_records(
    source: io.RawIOBase | IO[bytes], encoding: str | None = None
) -> Iterator[tuple[int, list[str] | str]]:
    """(line, cells), or (line, reason) for a row that cannot be read, of every row of a CSV
    or XLSX file, the header included, as the call lists read them (the customer import
    reads its files with it too). FileRefused when the file is neither."""
    raw = source if isinstance(source, _Counting) else _Counting(cast(IO[bytes], source))
    head = _read_head(raw)
    return _xlsx_records(raw) if _kind(head) == "xlsx" else _csv_records(raw, encoding)


def _read_head(raw: _Counting) -> bytes:
    if raw.seekable():
        pos = raw.tell()
        head = raw.raw.read(8) or b""
        raw.seek(pos)
        return bytes(head)
    raise FileRefused(N_("the list must be a file that can be read from its start"))


# ---- the job --------------------------------------------------------------------------------


class Sink(Protocol):
    """Runs ``thd(conn)`` in one transaction (appliance/db/lead_import_store.py's sinks)."""

    def run(self, thd: Callable[[Connection], T]) -> T: ...


@dataclass
class ImportResult:
    state: str  # "done", "stopped" (a batch failed or the file became unreadable), "cancelled"
    list_id: int | None
    rows_ok: int  # good rows written (duplicates included: each was merged)
    rows_bad: int
    inserted: int  # new leads
    merged: int  # rows that updated a lead the campaign (or an earlier row) had
    bad: list[BadRow] = field(default_factory=list)  # the first MAX_BAD_KEPT
    error: str = ""  # why the import stopped, with the lines not imported


class ImportJob:
    """One list imported into one campaign, in a thread of its own.

    API (the CLI and the upload page): ``ImportJob(path_or_file, sink, campaign_id=..,
    default_tz=.., list_name=.., source=..)``; ``start()`` runs it in a new thread (or
    ``run()`` in the caller's); ``progress()`` a dict safe to read from any thread while
    it runs; ``cancel()`` stops it before its next batch (batches written stay);
    ``wait(timeout)`` and ``result`` (an ImportResult, once done). The file is refused as a
    whole (``result.state == "refused"``, ``result.error``) when it is not CSV or XLSX.
    ``dnc(number)``: the do-not-call list that has the number (acd/dialer/dnc.py's
    ``DoNotCall.blocks`` with the campaign's id), or None: a listed number is a bad row, never
    a lead (the dialer checks again before each dial).
    ``default_tz`` is accepted and not stored: a lead whose zone neither a column nor its
    number gives keeps "", which is the campaign's zone whenever it is dialed."""

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        sink: Sink,
        *,
        campaign_id: int,
        default_tz: str = "Asia/Shanghai",
        list_name: str = "",
        source_name: str = "",
        encoding: str | None = None,
        batch_rows: int = BATCH_ROWS,
        dnc: Callable[[str], str | None] | None = None,
    ) -> None:
        self._source = source
        self.sink = sink
        self.campaign_id = campaign_id
        self.default_tz = default_tz
        if isinstance(source, str | os.PathLike):
            name = Path(source).name
        else:
            name = str(getattr(source, "name", "") or "")
            name = Path(name).name if name else ""
        self.source_name = source_name or name
        self.list_name = list_name or self.source_name or "import"
        self.encoding = encoding
        self.batch_rows = batch_rows
        self.dnc = dnc
        self._cancel = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._raw: _Counting | None = None
        self.state = "waiting"  # reading, done, stopped, cancelled, refused
        self.bytes_total = 0
        self.rows_ok = 0
        self.rows_bad = 0
        self.started_at: float | None = None
        self.result: ImportResult | None = None

    # ---- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Run in a new (daemon) thread; ``progress()``/``wait()`` follow it."""
        self._thread = threading.Thread(
            target=self._run_logged, name="ccbox-list-import", daemon=True
        )
        self._thread.start()

    def _run_logged(self) -> None:
        try:
            self.run()
        except Exception:  # result.error says it; the log keeps the traceback
            log.failure("list import {name!r} failed", name=self.source_name)

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> ImportResult | None:
        self._done.wait(timeout)
        return self.result

    def progress(self) -> dict[str, Any]:
        read = self._raw.count if self._raw is not None else 0
        total = self.bytes_total
        return {
            "state": self.state,
            "bytes_read": min(read, total) if total else read,
            "bytes_total": total,
            "percent": round(100.0 * min(read, total) / total, 1) if total else 0.0,
            "rows_ok": self.rows_ok,
            "rows_bad": self.rows_bad,
            "elapsed_s": round(time.monotonic() - self.started_at, 1) if self.started_at else 0.0,
        }

    # ---- work ------------------------------------------------------------------------------

    def run(self) -> ImportResult:
        """Import the whole file in the calling thread; the result (also ``self.result``)."""
        self.started_at = time.monotonic()
        self.state = "reading"
        try:
            if isinstance(self._source, str | os.PathLike):
                with open(self._source, "rb") as f:
                    result = self._import(f)
            else:
                result = self._import(self._source)
        except BaseException as exc:
            self.state = "stopped"
            self.result = ImportResult("stopped", None, self.rows_ok, self.rows_bad, 0, 0)
            self.result.error = str(exc) or type(exc).__name__
            self._done.set()
            raise
        self.state = result.state
        self.result = result
        self._done.set()
        return result

    def _import(self, f: IO[bytes]) -> ImportResult:
        try:
            self.bytes_total = os.fstat(f.fileno()).st_size
        except (AttributeError, OSError, io.UnsupportedOperation):
            try:
                pos = f.tell()
                self.bytes_total = f.seek(0, 2)
                f.seek(pos)
            except (OSError, io.UnsupportedOperation):
                self.bytes_total = 0
        raw = self._raw = _Counting(f)
        result = ImportResult("done", None, 0, 0, 0, 0)
        rows = read_rows(raw, self.encoding)
        batch: list[GoodRow] = []
        try:
            first = next(rows, None)
        except FileRefused as exc:
            result.state, result.error = "refused", exc.args[0]
            return result
        result.list_id = self.sink.run(
            lambda conn: create_list(conn, self.campaign_id, self.list_name, self.source_name)
        )

        def flush() -> bool:
            if not batch:
                return True
            leads = [g.lead for g in batch]
            try:
                counts: BatchCounts = self.sink.run(
                    lambda conn: merge_leads(conn, self.campaign_id, result.list_id, leads)
                )
            except Exception as exc:
                result.state = "stopped"
                result.error = N_(
                    "the database refused lines {first} to {last} ({error}): they and the"
                    " lines after them were not imported; importing the file again is safe"
                    " (numbers already in are merged)",
                    first=batch[0].line,
                    last=batch[-1].line,
                    error=str(exc)[:200],
                )
                return False
            result.rows_ok += len(batch)
            result.inserted += counts.inserted
            result.merged += len(batch) - counts.inserted
            self.rows_ok = result.rows_ok
            batch.clear()
            return True

        def chained() -> Iterator[GoodRow | BadRow]:
            if first is not None:
                yield first
            yield from rows

        try:
            for row in chained():
                if self._cancel.is_set():
                    result.state = "cancelled"
                    break
                if isinstance(row, GoodRow) and self.dnc is not None:
                    scope = self.dnc(row.lead.number)
                    if scope is not None:
                        row = BadRow(row.line, DNC_REASONS.get(scope, DNC_REASONS["center"]))
                if isinstance(row, BadRow):
                    result.rows_bad += 1
                    self.rows_bad = result.rows_bad
                    if len(result.bad) < MAX_BAD_KEPT:
                        result.bad.append(row)
                    continue
                batch.append(row)
                if len(batch) >= self.batch_rows and not flush():
                    break
            else:
                flush()
        except FileRefused as exc:  # the XLSX went bad midway: what was written stays
            if flush():
                result.state = "stopped"
                result.error = exc.args[0]
        if result.state == "cancelled":
            batch.clear()
        self.sink.run(
            lambda conn: finish_list(conn, result.list_id or 0, result.rows_ok, result.rows_bad)
        )
        return result
