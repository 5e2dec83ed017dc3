"""The one check of an e-mail address (a customer's, an import's, a ticket reply's, a
report schedule's recipient).

Addresses end up in SMTP headers (``To:``), so the check is about what a header may carry
safely as much as about form: a CR or LF would start a header of its own, and a space,
comma, semicolon, angle bracket, parenthesis, square bracket, quote or backslash would let
one field name several recipients or a display name. What is left: exactly one ``@``, a
local part of at most 64 such characters, and a dotted domain of letters, digits and dashes
(a mail server's host name; an international domain in its ``xn--`` form); at most 254
characters in all.
"""

from __future__ import annotations

import re

MAX_LENGTH = 254
_LOCAL = re.compile(r"[^@\s\x00-\x1f\x7f,;<>()\[\]\\\"]{1,64}")
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")


def is_email(address: str) -> bool:
    """Whether ``address`` (already stripped) is a plain address safe in a mail header."""
    if not isinstance(address, str) or len(address) > MAX_LENGTH or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    return _LOCAL.fullmatch(local) is not None and _DOMAIN.fullmatch(domain) is not None
