"""Custom fields an admin defines (customers' own, and tickets' per type): their kinds and
the check of the values a form or an import sends.

Values are attacker-controlled (a web form, a CSV cell, an API body): :func:`clean_values`
takes a mapping of anything, refuses unknown keys, values of the wrong kind or size, and
answers every problem at once (:class:`FieldErrors`, one ``N_`` text per key) so a person
fixes them all in one go. What it returns is text only, in one canonical form per kind
(numbers without exponent or spare zeros, dates ``YYYY-MM-DD``), ready for JSON storage.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.db.model import CUSTOM_FIELD_KINDS
from appliance.text import N_

FIELD_KINDS = CUSTOM_FIELD_KINDS  # ("text", "number", "date", "choice")
TEXT_MAX = 500
# Numbers: at most this many digits before the point and after it.
NUMBER_INT_DIGITS = 15
NUMBER_FRAC_DIGITS = 6
KEY_MAX = 32
KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
# Control characters other than tab and newline have no place in a field's text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class FieldDef:
    key: str
    label: str
    kind: str
    choices: tuple[str, ...] = ()
    required: bool = False


class FieldErrors(ValueError):
    """Every bad value at once: ``errors`` maps a field key to an ``N_`` text."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(N_("some fields are not valid"))
        self.errors = errors


def _clean_text(value: str) -> str:
    if len(value) > TEXT_MAX:
        raise ValueError(N_("at most {max} characters", max=TEXT_MAX))
    if _CONTROL.search(value):
        raise ValueError(N_("contains control characters"))
    return value


def _clean_number(value: str) -> str:
    if not _NUMBER.fullmatch(value):
        raise ValueError(N_("not a number"))
    number = decimal.Decimal(value)
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite: the pattern has no "inf" or "nan"
    frac = max(0, -exponent)
    whole = len(digits) - frac
    if whole > NUMBER_INT_DIGITS:
        raise ValueError(N_("the number is too large"))
    if frac > NUMBER_FRAC_DIGITS:
        raise ValueError(N_("at most {n} decimal places", n=NUMBER_FRAC_DIGITS))
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", "+0", ""):
        text = "0"
    return text.lstrip("+")


def _clean_date(value: str) -> str:
    if not _DATE.fullmatch(value):
        raise ValueError(N_("not a date (YYYY-MM-DD)"))
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(N_("not a date (YYYY-MM-DD)")) from None


def _as_text(kind: str, value: object) -> str:
    """The raw value as text: forms send text; JSON may send numbers for number fields."""
    if isinstance(value, str):
        return value.strip()
    if kind == "number" and isinstance(value, int | float | decimal.Decimal):
        if isinstance(value, bool):
            raise ValueError(N_("not a number"))
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(N_("not a number"))
        return str(value)
    raise ValueError(N_("not text"))


def clean_value(field: FieldDef, value: object) -> str:
    """One value checked against its field; "" for an empty value. Raises ValueError."""
    text = _as_text(field.kind, value)
    if not text:
        return ""
    if field.kind == "text":
        return _clean_text(text)
    if field.kind == "number":
        return _clean_number(text)
    if field.kind == "date":
        return _clean_date(text)
    if field.kind == "choice":
        if text not in field.choices:
            raise ValueError(N_("not one of the choices"))
        return text
    raise ValueError(N_("unknown field kind {kind}", kind=field.kind[:16]))


def clean_values(defs: Iterable[FieldDef], raw: Mapping[str, object]) -> dict[str, str]:
    """``raw`` checked against ``defs``: the non-empty values as canonical text, by key.

    Raises :class:`FieldErrors` naming every unknown key, missing required field and bad
    value."""
    by_key = {d.key: d for d in defs}
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for key, value in raw.items():
        field = by_key.get(key) if isinstance(key, str) else None
        if field is None:
            shown = str(key)[:KEY_MAX]
            errors[shown] = N_("unknown field")
            continue
        try:
            text = clean_value(field, value)
        except ValueError as exc:
            errors[key] = exc.args[0] if exc.args else N_("not valid")
            continue
        if text:
            cleaned[key] = text
    for key, field in by_key.items():
        if field.required and key not in cleaned and key not in errors:
            errors[key] = N_("required")
    if errors:
        raise FieldErrors(errors)
    return cleaned


def stored_values(text: str | None) -> dict[str, str]:
    """The values as stored (a record's ``fields`` JSON) by key; {} for what is no JSON
    object."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def check_def(field: FieldDef) -> None:
    """A field definition an admin sends: a key of lower-case letters, digits and ``_``, a
    label, a known kind, choices (only for a choice field: 1 to 100 distinct, short).
    Raises :class:`FieldErrors`."""
    errors: dict[str, str] = {}
    if not KEY.fullmatch(field.key):
        errors["key"] = N_("a key is a lower-case letter, then letters, digits or _ (at most 32)")
    if not field.label.strip() or len(field.label) > 128:
        errors["label"] = N_("a label has 1 to 128 characters")
    if field.kind not in FIELD_KINDS:
        errors["kind"] = N_("not a field kind")
    elif field.kind == "choice":
        choices = field.choices
        if (
            not 1 <= len(choices) <= 100
            or len(set(choices)) != len(choices)
            or any(not c.strip() or len(c) > 128 or _CONTROL.search(c) for c in choices)
        ):
            errors["choices"] = N_("1 to 100 different choices of 1 to 128 characters each")
    elif field.choices:
        errors["choices"] = N_("only a choice field has choices")
    if errors:
        raise FieldErrors(errors)
