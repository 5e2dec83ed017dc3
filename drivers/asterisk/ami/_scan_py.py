"""Finding AMI messages in a byte buffer: the pure-Python reference of ``_scan_c``.

``scan(buf, wanted, limit)`` returns ``(blocks, end, skipped, oversize)``:

- ``blocks``: the bytes of each complete message to parse, in order, without the blank
  line that ended it and without leading line breaks (lines may end in CRLF or LF);
- ``end``: the offset just past the last complete message looked at (the rest of ``buf``
  is an unfinished message, kept for the next read), or where the oversize one begins;
- ``skipped``: events dropped by name: an ``Event: X`` message whose X is not in
  ``wanted`` and that carries no ``ActionID`` (list items and OriginateResponse do);
- ``oversize``: the length of a complete message longer than ``limit`` (scanning stops
  before it), else 0.

``wanted`` is None to keep everything. Messages of only whitespace are dropped.
"""

from __future__ import annotations

import re

_END = re.compile(rb"\n\r?\n")
_EVENT = b"Event: "


def scan(
    buf: bytes, wanted: frozenset[bytes] | None, limit: int
) -> tuple[list[bytes], int, int, int]:
    blocks: list[bytes] = []
    skipped = 0
    start = 0
    for m in _END.finditer(buf):
        mstart, block = start, buf[start : m.start()]
        start = m.end()
        block = block.lstrip(b"\r\n")
        if block.endswith(b"\r"):
            block = block[:-1]
        if not block or block.isspace():
            continue
        if len(block) > limit:
            return blocks, mstart, skipped, len(block)
        if wanted is not None and block.startswith(_EVENT):
            eol = block.find(b"\n")
            name = block[7:eol] if eol >= 0 else block[7:]
            if name.endswith(b"\r"):
                name = name[:-1]
            if name not in wanted and b"\nActionID: " not in block:
                skipped += 1
                continue
        blocks.append(block)
    return blocks, start, skipped, 0


def split_headers(block: bytes, max_headers: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """One message's bytes -> (its ``(key, value)`` headers in order, malformed lines).

    Lines end in LF or CRLF. ``Key: value`` and ``Key:value`` are headers (the key runs to
    the first colon and is not empty); any other non-empty line is malformed, skipped and
    counted, as are the headers beyond ``max_headers``. Text is UTF-8 (invalid bytes become
    U+FFFD); a NUL becomes U+FFFD too, so it never reaches the rest of the program.
    """
    headers: list[tuple[str, str]] = []
    bad = 0
    for raw in block.split(b"\n"):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw:
            continue
        colon = raw.find(b":")
        if colon <= 0:
            bad += 1
            continue
        if len(headers) >= max_headers:
            bad += 1
            continue
        vs = colon + 2 if raw[colon + 1 : colon + 2] == b" " else colon + 1
        headers.append((_text(raw[:colon]), _text(raw[vs:])))
    return tuple(headers), bad


def _text(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd") if "\x00" in text else text
