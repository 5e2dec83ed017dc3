"""Caller ID as ccbox stores it, made from what a trunk sent.

Caller ID is the caller's to choose: a trunk passes on whatever the far end put there (a
name-plus-number string ``"Bob" <1234>``, markup, quotes, line breaks, a whole page of
text). At the edge, where the FastAGI header and the AMI events become calls, it becomes:

- the number: ASCII digits with at most a leading ``+`` (spaces, dashes, dots and
  parentheses between them dropped), at most ``MAX_DIGITS`` digits; anything else (a
  name, ``anonymous``, Asterisk's ``unknown``) is no number, ``""``;
- the name: text without control or format characters (line breaks, NUL, bidi overrides
  become spaces or go), runs of spaces as one, surrounding quotes removed, at most
  ``MAX_NAME`` characters.

A number field holding ``Name <number>`` gives both (the name only when the name field is
empty). The values as received stay with the call's events (``CallerId.raw``) whenever
they differ from these.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_DIGITS = 32  # E.164 has 15; prefixes and national formats need a little more
MAX_NAME = 80
MAX_RAW = 256  # what is kept of a raw value for the events
NONE = frozenset({"", "unknown", "<unknown>", "anonymous", "restricted", "private"})
_NAME_AND_NUMBER = re.compile(r"\s*(.*?)\s*<([^<>]*)>\s*\Z", re.S)
_SEPARATORS = re.compile(r"[\s().\-]+")
_NUMBER = re.compile(rf"\+?[0-9]{{1,{MAX_DIGITS}}}\Z")


@dataclass(frozen=True)
class CallerId:
    number: str
    name: str
    raw_number: str
    raw_name: str

    @property
    def raw(self) -> dict[str, str] | None:
        """What the switch sent, for the call's events; None when it is what is stored."""
        sent = tuple(
            "" if v.strip().lower() in NONE else v for v in (self.raw_number, self.raw_name)
        )
        if (self.number, self.name) == sent:  # as sent, or Asterisk's "unknown" for none
            return None
        return {"number": self.raw_number[:MAX_RAW], "name": self.raw_name[:MAX_RAW]}


def number(raw: str) -> str:
    """Digits and at most a leading ``+``; ``""`` for anything that is not a number."""
    # NFKC: full-width digits (a Chinese input method's) are digits
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw[: MAX_DIGITS * 4]).strip())
    return text if _NUMBER.match(text) else ""


def name(raw: str) -> str:
    """Printable text: control and format characters out, spaces collapsed, capped."""
    out = []
    for ch in raw[: MAX_NAME * 8]:  # a bound before the work, for megabytes of name
        cat = unicodedata.category(ch)
        if cat.startswith("Z") or ch in "\t\n\r\v\f\ufffd":  # U+FFFD: a broken line
            out.append(" ")
        elif not cat.startswith("C"):  # Cc control, Cf format (bidi), Cs, Co, Cn
            out.append(ch)
    text = " ".join("".join(out).split())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if text.lower() in NONE:
        return ""
    return text[:MAX_NAME].rstrip()


def normalise(raw_number: str | None, raw_name: str | None) -> CallerId:
    """The caller ID to store for what the switch sent (None: not sent)."""
    rnum, rname = raw_number or "", raw_name or ""
    num_text, name_text = rnum, rname
    match = _NAME_AND_NUMBER.match(rnum)
    if match is not None:  # "Bob" <1234> in the number field
        num_text = match.group(2)
        if not name(rname):
            name_text = match.group(1)
    return CallerId(number(num_text), name(name_text), rnum, rname)
