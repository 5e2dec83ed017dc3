"""A table's rows as JSON lines: portable between SQLite and PostgreSQL, never code.

The first line names the table and its columns (the model's order); each further line is
one row, a JSON array of the values in that order. JSON has strings, numbers, booleans
and null; every other type is an object with one tagged key, so nothing is guessed:
``{"$dt": "2026-12-07T02:00:00.5+00:00"}`` (a timestamp), ``{"$date": "2026-12-07"}``,
``{"$b64": "..."}`` (bytes), ``{"$dec": "1.50"}`` (a decimal), ``{"$f": "nan"}`` (a float
JSON cannot write). Reading accepts these and nothing else (json.loads, never pickle).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
import json
import math
from collections.abc import Iterable, Iterator
from typing import IO, Any

_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode(value: Any) -> Any:
    """One column value as JSON-ready data (TypeError for a type no column has)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$f": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, decimal.Decimal):
        return {"$dec": str(value)}
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`; ValueError for anything it would not have written."""
    if value is None or isinstance(value, (bool, int, str, float)):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((tag, text),) = value.items()
        if isinstance(text, str):
            try:
                if tag == "$dt":
                    return dt.datetime.fromisoformat(text)
                if tag == "$date":
                    return dt.date.fromisoformat(text)
                if tag == "$b64":
                    return base64.b64decode(text.encode("ascii"), validate=True)
                if tag == "$dec":
                    return decimal.Decimal(text)
                if tag == "$f" and text in _FLOATS:
                    return _FLOATS[text]
            except (ValueError, binascii.Error, decimal.InvalidOperation, UnicodeEncodeError):
                raise ValueError(f"{tag}: {text[:40]!r} is not a valid value") from None
    raise ValueError(f"an unknown value: {json.dumps(value)[:60]}")


def write_table(out: IO[bytes], table: str, columns: list[str], rows: Iterable[Any]) -> int:
    """Write the header and every row; the number of rows."""
    out.write(_line({"table": table, "columns": columns}))
    count = 0
    for row in rows:
        out.write(_line([encode(v) for v in row]))
        count += 1
    return count


def _line(data: Any) -> bytes:
    return (
        json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        + b"\n"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:  # "[[[[..." nested past Python's stack
        raise ValueError("nested too deep") from None


def read_table(
    stream: IO[bytes], table: str, max_line: int
) -> tuple[list[str], Iterator[list[Any]]]:
    """The columns of a table member and an iterator over its decoded rows; ValueError
    (with the line number) for a line too long, not JSON, or not a row of those columns."""
    header = _read_line(stream, max_line, 1)
    try:
        head = _loads(header) if header is not None else None
    except (ValueError, UnicodeDecodeError):
        head = None
    if (
        not isinstance(head, dict)
        or head.get("table") != table
        or not isinstance(head.get("columns"), list)
        or not all(isinstance(c, str) for c in head["columns"])
        or len(set(head["columns"])) != len(head["columns"])
    ):
        raise ValueError("line 1: not the header of this table")
    columns: list[str] = head["columns"]

    def rows() -> Iterator[list[Any]]:
        number = 1
        while True:
            number += 1
            raw = _read_line(stream, max_line, number)
            if raw is None:
                return
            try:
                row = _loads(raw)
                if not isinstance(row, list) or len(row) != len(columns):
                    raise ValueError(f"not a row of {len(columns)} values")
                yield [decode(v) for v in row]
            except UnicodeDecodeError:
                raise ValueError(f"line {number}: not UTF-8") from None
            except ValueError as exc:
                raise ValueError(f"line {number}: {exc}") from None

    return columns, rows()


def _read_line(stream: IO[bytes], max_line: int, number: int) -> bytes | None:
    raw = stream.readline(max_line + 1)
    if not raw:
        return None
    if len(raw) > max_line:
        raise ValueError(f"line {number}: longer than {max_line} bytes")
    if not raw.endswith(b"\n"):
        raise ValueError(f"line {number}: cut off")
    return raw
