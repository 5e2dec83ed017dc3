"""Text a person typed (a web visitor, an agent), cleaned before it is stored and shown.

Control characters go (a message keeps its newlines and tabs; CR LF and CR become LF), and
so do the invisible and direction-changing ones: zero-width characters, the bidirectional
embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), with which a line can
show its words in another order than they were written ("Trojan Source")."""

from __future__ import annotations

import re

# what a message loses: C0 but tab and LF, DEL, C1, zero-width, bidi embeddings/isolates
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# what a one-line field loses: every C0 and C1 control, line and paragraph separators, bidi
LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def message(value: str) -> str:
    """``value`` with CR LF and CR as LF and the other controls removed (not trimmed)."""
    return CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(value: str) -> str:
    """``value`` without any control or line break (not trimmed)."""
    return LINE_CONTROLS.sub("", value)
