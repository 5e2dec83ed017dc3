"""Phone numbers as the dialer stores them, and the called party's time zone from one.

A number is kept as text: ASCII digits with at most a leading ``+`` (``+8613800138000``,
``01012345678``), so a leading zero or plus survives every import and export. Lists arrive
typed by people and spreadsheets (``+86 138-0013-8000``, ``(010) 1234.5678``, full-width
digits from a Chinese input method): :func:`normalise` accepts those and refuses anything
else with a reason a person understands, never guessing a number out of text.
"""

from __future__ import annotations

import re

from appliance.text import N_

MIN_DIGITS = 3
MAX_DIGITS = 20
# A reason is about the value, and values may be long or hostile: never quote them whole.
_MAX_INPUT = 200

# Separators people type inside numbers: spaces (ASCII, no-break, ideographic), tabs,
# dashes (hyphen and the Unicode dashes a word processor substitutes), dots, parentheses.
_SEPARATORS = frozenset(" \t\u00a0\u3000-\u2010\u2011\u2012\u2013\u2014\u2212.()")
# Full-width forms (U+FF01..U+FF5E) are ASCII shifted by 0xFEE0: a Chinese input method types
# full-width digits (U+FF11 for "1") and parentheses.
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_MARKUP = frozenset("<>&\"'`;|$\\{}[]=")
NUMBER = re.compile(r"\+?[0-9]{3,20}")
# The common case in one C pass: full-width forms made ASCII, separators deleted.
_FAST = str.maketrans({**_FULL_WIDTH, **{ord(c): None for c in _SEPARATORS}})
_FAST_OK = re.compile(r"'?(\+[1-9][0-9]{2,19}|00[1-9][0-9]{2,19}|(?!00)[0-9]{3,20})")


def normalise(raw: str) -> str:
    """``raw`` as the dialer stores it: separators removed, a leading ``00`` made ``+``.

    One leading apostrophe (a spreadsheet's text mark) is dropped. Raises ValueError (an
    ``N_`` message) for letters, markup, other characters, a ``+``
    anywhere but first, a country code starting with 0, fewer than 3 or more than 20
    digits. Idempotent: a normalised number normalises to itself."""
    if not isinstance(raw, str):
        raise ValueError(N_("the number is not text"))
    if len(raw) > _MAX_INPUT:
        raise ValueError(N_("the number is too long ({n} characters)", n=len(raw)))
    fast = _FAST_OK.fullmatch(raw.translate(_FAST))
    if fast is not None:
        number = fast.group(1)
        return "+" + number[2:] if number.startswith("00") else number
    text = raw.translate(_FULL_WIDTH).strip()
    if text.startswith("'"):  # a spreadsheet's "this cell is text" mark: '+86...
        text = text[1:].strip()
    if not text:
        raise ValueError(N_("the number is empty"))
    kept: list[str] = []
    for ch in text:
        if "0" <= ch <= "9" or ch == "+":
            kept.append(ch)
        elif ch in _SEPARATORS:
            continue
        elif ch in _MARKUP:
            raise ValueError(N_("the number contains markup or code ({char})", char=ch))
        elif ch.isalpha():
            raise ValueError(N_("the number contains letters"))
        else:
            raise ValueError(
                N_(
                    "the number contains a character that is not a digit (U+{code:04X})",
                    code=ord(ch),
                )
            )
    number = "".join(kept)
    plus = number.startswith("+")
    digits = number[1:] if plus else number
    if "+" in digits:
        raise ValueError(N_("a '+' can only come first in a number"))
    if not plus and digits.startswith("00"):
        plus, digits = True, digits[2:]
    if plus and digits.startswith("0"):
        raise ValueError(N_("a country code never starts with 0"))
    if len(digits) < MIN_DIGITS:
        raise ValueError(
            N_(
                "the number is too short ({n} digits, at least {min})",
                n=len(digits),
                min=MIN_DIGITS,
            )
        )
    if len(digits) > MAX_DIGITS:
        raise ValueError(
            N_("the number is too long ({n} digits, at most {max})", n=len(digits), max=MAX_DIGITS)
        )
    return ("+" if plus else "") + digits


# ---- time zones -----------------------------------------------------------------------------

# Country codes whose country has one zone (or one that most of its people live in: said).
_COUNTRY_TZ: dict[str, str] = {
    "86": "Asia/Shanghai",
    "852": "Asia/Hong_Kong",
    "853": "Asia/Macau",
    "886": "Asia/Taipei",
    "44": "Europe/London",
    "353": "Europe/Dublin",
    "33": "Europe/Paris",
    "49": "Europe/Berlin",
    "39": "Europe/Rome",
    "34": "Europe/Madrid",  # the Canaries are an hour behind
    "31": "Europe/Amsterdam",
    "41": "Europe/Zurich",
    "81": "Asia/Tokyo",
    "82": "Asia/Seoul",
    "65": "Asia/Singapore",
    "60": "Asia/Kuala_Lumpur",
    "66": "Asia/Bangkok",
    "84": "Asia/Ho_Chi_Minh",
    "63": "Asia/Manila",
    "62": "Asia/Jakarta",  # western Indonesia, where most people live
    "91": "Asia/Kolkata",
    "971": "Asia/Dubai",
    "61": "Australia/Sydney",  # the east coast; Perth is 2-3 hours behind
    "64": "Pacific/Auckland",
    "7": "Europe/Moscow",  # Russia spans 11 zones: Moscow's is the most populous
    "55": "America/Sao_Paulo",
}

# North American area codes (+1) of the main US and Canadian zones: the large cities' codes,
# not the whole plan (about 400 codes). An area code not here gets the default zone.
_NANP_AREAS: dict[str, str] = {
    "America/New_York": (
        "201 202 203 212 215 216 239 267 301 302 305 313 315 321 347 352 401 404 407 410 412 "
        "413 416 434 437 438 440 443 470 475 484 502 508 513 514 516 518 585 586 603 607 609 "
        "610 613 614 617 631 646 647 678 703 704 716 718 724 727 732 734 754 757 770 772 774 "
        "781 786 802 804 813 843 845 848 856 857 860 862 863 904 905 908 914 917 919 929 937 "
        "941 954 973 978 980"
    ),
    "America/Chicago": (
        "204 205 210 214 217 224 225 251 256 262 281 309 312 314 316 318 319 320 331 334 346 "
        "361 402 405 409 414 417 430 432 469 479 501 504 507 512 515 563 601 608 612 615 618 "
        "629 630 636 641 651 682 708 713 715 726 731 737 763 769 773 815 816 817 830 832 847 "
        "850 865 872 901 903 913 918 920 936 940 952 956 972 979"
    ),
    "America/Denver": "303 307 385 403 406 435 505 575 587 719 720 780 801 825 970",
    "America/Phoenix": "480 520 602 623 928",  # Arizona keeps standard time
    "America/Los_Angeles": (
        "206 209 213 236 250 253 310 323 360 408 415 424 425 442 503 509 510 530 541 559 562 "
        "604 619 626 628 650 657 661 669 702 707 714 725 747 760 775 778 805 818 831 858 909 "
        "916 925 949 951 971"
    ),
    "America/Anchorage": "907",
    "Pacific/Honolulu": "808",
    "America/Halifax": "782 902",
}
_AREA_TZ = {area: tz for tz, areas in _NANP_AREAS.items() for area in areas.split()}
# Chinese national numbers (no "+"): mobiles 1[3-9]x xxxx xxxx, landlines 0 + area + number.
_CN_NATIONAL = re.compile(r"1[3-9][0-9]{9}|0[1-9][0-9]{8,10}")


def tz_of(number: str, default: str) -> str:
    """The called party's zone (IANA) from a normalised number, else ``default``.

    International numbers by country code (longest match), +1 by area code (see
    ``_NANP_AREAS``); a national number shaped like a Chinese mobile or landline is in
    China (the box's country); anything else is the campaign's default zone."""
    if number.startswith("+"):
        digits = number[1:]
        if digits.startswith("1"):
            return _AREA_TZ.get(digits[1:4], default) if len(digits) == 11 else default
        for size in (3, 2, 1):
            tz = _COUNTRY_TZ.get(digits[:size])
            if tz is not None:
                return tz
        return default
    if _CN_NATIONAL.fullmatch(number):
        return "Asia/Shanghai"
    return default
