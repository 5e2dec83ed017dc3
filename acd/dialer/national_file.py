"""The national do-not-call list as a file: one number a line, or the first column of a CSV.

Registries publish plain lists of numbers; a spreadsheet's export has a header and more
columns. Encodings as for call lists (acd/dialer/list_import.py). A first line that is not
a number (a header such as ``number`` or ``号码``) is skipped; any other line that is not a
number is a bad line, reported by its line number.
"""

from __future__ import annotations

import io
import re
from typing import IO

from acd.dialer.list_import import SNIFF_BYTES, _lines, detect_encoding
from acd.dialer.numbers import normalise
from appliance.text import N_, message_of

_FIRST_CELL = re.compile(r"""\s*"?([^,;\t"]*)""")


def read_numbers(f: IO[bytes]) -> tuple[list[str], list[tuple[int, str]]]:
    """(normalised numbers in file order, [(line, reason)] of the bad lines)."""
    head = f.read(SNIFF_BYTES)
    encoding, bom = detect_encoding(head)
    f.seek(bom)
    text = io.TextIOWrapper(f, encoding=encoding, errors="surrogateescape", newline="")
    numbers: list[str] = []
    bad: list[tuple[int, str]] = []
    overlong: set[int] = set()
    for n, line in enumerate(_lines(text, overlong), start=1):
        if n in overlong:
            bad.append((n, N_("the line is longer than 64 KB")))
            continue
        match = _FIRST_CELL.match(line)
        cell = match.group(1).strip() if match else ""
        if not cell:
            continue
        try:
            numbers.append(normalise(cell))
        except ValueError as exc:
            if n == 1 and any(ch.isalpha() for ch in cell):
                continue  # a header
            bad.append((n, message_of(exc)))  # the N_ message: translated where shown
    text.detach()
    return numbers, bad
