"""The lookup key of a phone number, whatever way it was typed or sent as a caller ID.

A customer's number arrives in many shapes: ``+86 138-0013-8000`` from a form,
``008613800138000`` from an old spreadsheet, ``013800138000`` from a trunk that adds the
national trunk prefix, ``13800138000`` from the IVR, full-width digits from a Chinese input
method. They are all the same number. :func:`match_key` reduces each to one key, the
national significant number for the box's own country (``13800138000``, ``1012345678``)
and ``+`` with the full international number for any other country (``+12125550100``), so
one indexed equality finds the customer.

It is built on the dialer's :func:`acd.dialer.numbers.normalise` (the same rules for what
is a number); anything that is not one (a withheld caller ID, ``anonymous``, markup) has no
key: None, never an exception.
"""

from __future__ import annotations

from acd.dialer.numbers import normalise

# The longest key: "+" and the dialer's 20 digits at most.
MAX_KEY = 21


def match_key(raw: str, country_code: str = "86", trunk_prefix: str = "0") -> str | None:
    """The key that every format of ``raw`` shares, or None when ``raw`` is no number.

    ``country_code`` is the box's own country (digits, no ``+``; "" for none) and
    ``trunk_prefix`` the digit(s) dialed before a national number ("0" in China; "" for
    none)."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        number = normalise(raw)
    except ValueError:
        return None
    if number.startswith("+"):
        digits = number[1:]
        if country_code and digits.startswith(country_code):
            national = digits[len(country_code) :]
            # "+86 0138..." is sometimes typed: the trunk prefix has no place there.
            if trunk_prefix and national.startswith(trunk_prefix):
                national = national[len(trunk_prefix) :]
            return national or None
        return number
    if trunk_prefix and number.startswith(trunk_prefix):
        national = number[len(trunk_prefix) :]
        return national or None
    return number


def display_number(raw: str) -> str:
    """``raw`` as it is kept for showing (the dialer's normal form); raises ValueError (an
    ``N_`` message) for what is no number."""
    return normalise(raw)


def number_forms(raw: str, country_code: str = "86", trunk_prefix: str = "0") -> set[str]:
    """Every form a caller ID, a recording or a list may carry ``raw`` in: its normal form
    and its key's (national: with the trunk prefix, the country code with and without ``+``
    or ``00``; international: with ``+``, ``00`` or neither). Empty for what is no number."""
    key = match_key(raw, country_code, trunk_prefix)
    if key is None:
        return set()
    forms = {normalise(raw), key}
    if key.startswith("+"):
        forms |= {key[1:], "00" + key[1:]}
    else:
        if trunk_prefix:
            forms.add(trunk_prefix + key)
        if country_code:
            forms |= {f"+{country_code}{key}", f"{country_code}{key}", f"00{country_code}{key}"}
    return {f for f in forms if len(f) <= 32}
