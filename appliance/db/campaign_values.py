"""A campaign's fields in their stored form: checked once, when the campaign is saved.

Every refusal is a ValueError whose message a person reads (``N_``), so a bad zone, day
name, time or retry schedule is an error on the campaign page, never a crash at dial time.
acd/dialer/windows.py reads the stored values back with the same parsers.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.db import model
from appliance.text import N_

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What a retry time is set for (minutes per outcome in retry_json).
RETRY_OUTCOMES: Final = ("no_answer", "busy", "congestion", "machine", "callback")
DEFAULT_RETRY: Final[dict[str, int]] = json.loads(model.DEFAULT_RETRY_JSON)
MAX_RETRY_MINUTES = 30 * 24 * 60
MAX_SCRIPT = 20000
MAX_DISPOSITIONS = 50
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# A calling window's end at midnight: stored "24:00", read as the day's last instant (a
# window's end is exclusive, and datetime.time has no 24:00).
MIDNIGHT: Final = "24:00"
END_OF_DAY: Final = dt.time.max
CALLER_NUMBER = re.compile(r"^\+?[0-9]{0,31}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]*$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_days(text: str) -> frozenset[int]:
    """ "mon,tue" -> {0, 1} (Monday is 0); ValueError for an unknown name or none at all."""
    days: set[int] = set()
    for part in str(text).split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name not in DAY_NAMES:
            raise ValueError(
                N_("unknown day {day} (use mon, tue, wed, thu, fri, sat, sun)", day=name[:16])
            )
        days.add(DAY_NAMES.index(name))
    if not days:
        raise ValueError(N_("the calling window needs at least one day"))
    return frozenset(days)


def format_days(days: Iterable[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(set(days)))


def parse_clock(text: str) -> dt.time:
    """ "09:00" -> time(9, 0); ValueError for anything that is not HH:MM (00:00-23:59)."""
    m = _CLOCK.match(str(text).strip())
    if m is None:
        raise ValueError(N_("a time must be HH:MM, not {value}", value=str(text)[:16]))
    return dt.time(int(m.group(1)), int(m.group(2)))


def parse_window_end(text: str) -> dt.time:
    """A calling window's end: HH:MM, where "24:00" and "00:00" are midnight at the day's
    end (``END_OF_DAY``). An end is exclusive, so without midnight a window could never
    take in the day's last minute; and "00:00" is what a browser's time field gives for
    midnight (it has no 24:00)."""
    if str(text).strip() in (MIDNIGHT, "00:00"):
        return END_OF_DAY
    return parse_clock(text)


def format_window_end(end: dt.time) -> str:
    """The stored form of a window's end: "24:00" for midnight."""
    return MIDNIGHT if end == END_OF_DAY else end.strftime("%H:%M")


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError (never a crash at dial time) when unknown."""
    text = str(name).strip()
    if not text or text.startswith(("/", ".")) or ".." in text or len(text) > 64:
        raise ValueError(N_("unknown time zone {tz}", tz=text[:64]))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(N_("unknown time zone {tz}", tz=text[:64])) from None


def parse_retry(value: Any) -> dict[str, int]:
    """Minutes before the next attempt per outcome, from a dict or its JSON text; missing
    outcomes take the defaults (no_answer 60, busy 10, congestion 5, machine 240, callback 0)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, Mapping):
        raise ValueError(N_("the retry schedule must map outcomes to minutes"))
    out = dict(DEFAULT_RETRY)
    for key, minutes in value.items():
        if key not in RETRY_OUTCOMES:
            raise ValueError(
                N_(
                    "unknown retry outcome {outcome} (use {items})",
                    outcome=str(key)[:32],
                    items=", ".join(RETRY_OUTCOMES),
                )
            )
        out[key] = _int_in(f"retry {key}", minutes, 0, MAX_RETRY_MINUTES)
    return out


def parse_dispositions(value: Any) -> list[str]:
    """The agent's dispositions, from a list or its JSON text: names of 1-32 characters."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, list) or len(value) > MAX_DISPOSITIONS:
        raise ValueError(N_("dispositions must be a list of at most {n} names", n=MAX_DISPOSITIONS))
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not 1 <= len(item.strip()) <= 32 or CONTROL.search(item):
            raise ValueError(N_("a disposition is a name of 1 to 32 characters"))
        if item.strip() not in names:
            names.append(item.strip())
    return names


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    number = low - 1  # not a whole number: out of range
    if isinstance(value, int | str) and not isinstance(value, bool):
        with suppress(ValueError):
            number = int(value)
    if not low <= number <= high:
        raise ValueError(
            N_(
                "{field} must be a whole number from {low} to {high}",
                field=name,
                low=low,
                high=high,
            )
        )
    return number


def _float_in(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool):
        value = None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:  # NaN fails too
        raise ValueError(
            N_("{field} must be a number from {low} to {high}", field=name, low=low, high=high)
        )
    return number


def choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(N_("{field} must be one of {items}", field=name, items=", ".join(choices)))
    return str(value)


def _text(name: str, value: Any, most: int, *, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or len(value) > most:
        raise ValueError(N_("{field} must be text of at most {n} characters", field=name, n=most))
    text = value.strip()
    if pattern is not None and not pattern.match(text):
        raise ValueError(N_("{field} has characters it may not have", field=name))
    return text


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(N_("{field} must be true or false", field=name))
    return value


def check_campaign(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` checked and in their stored form (ValueError with a message a person
    reads for the first bad one). Only the fields given; unknown fields are refused."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "name":
            name = _text("name", value, 64)
            if not name or CONTROL.search(name):
                raise ValueError(N_("a campaign needs a name of 1 to 64 characters"))
            out[key] = name
        elif key == "mode":
            out[key] = choice(key, value, model.CAMPAIGN_MODES)
        elif key == "state":
            out[key] = choice(key, value, model.CAMPAIGN_STATES)
        elif key == "record":
            out[key] = choice(key, value, model.CAMPAIGN_RECORD)
        elif key == "backoff":
            out[key] = choice(key, value, model.CAMPAIGN_BACKOFF)
        elif key == "queue_id":
            out[key] = _int_in(key, value, 1, 2**31 - 1)
        elif key == "ratio":
            out[key] = _float_in(key, value, 0.1, 10.0)
        elif key == "caller_id_number":
            out[key] = _text(key, value, 32, pattern=CALLER_NUMBER)
        elif key == "caller_id_name":
            name = _text(key, value, 128)
            if CONTROL.search(name):
                raise ValueError(N_("{field} has characters it may not have", field=key))
            out[key] = name
        elif key == "window_days":
            out[key] = format_days(parse_days(value))
        elif key == "window_start":
            out[key] = parse_clock(value).strftime("%H:%M")
        elif key == "window_end":
            out[key] = format_window_end(parse_window_end(value))
        elif key == "default_tz":
            out[key] = zone(value).key
        elif key == "max_attempts":
            out[key] = _int_in(key, value, 1, 100)
        elif key == "retry_json":
            out[key] = json.dumps(parse_retry(value))
        elif key == "dispositions_json":
            out[key] = json.dumps(parse_dispositions(value), ensure_ascii=False)
        elif key == "script":
            out[key] = _text(key, value, MAX_SCRIPT)
        elif key == "amd":
            out[key] = _bool(key, value)
        elif key == "target_abandon_pct":
            out[key] = _float_in(key, value, 0.1, 50.0)
        elif key == "max_dial_level":
            out[key] = _float_in(key, value, 1.0, 10.0)
        elif key == "min_predictive_agents":
            out[key] = _int_in(key, value, 1, 1000)
        elif key == "trunk_group":
            group = _text(key, value, 32, pattern=_TOKEN)
            if not group:
                raise ValueError(N_("{field} has characters it may not have", field=key))
            out[key] = group
        elif key == "safe_harbor_prompt":
            out[key] = _text(key, value, 64, pattern=_TOKEN)
        else:
            raise ValueError(N_("unknown campaign field {field}", field=str(key)[:32]))
    if "window_start" in out and "window_end" in out and out["window_start"] >= out["window_end"]:
        raise ValueError(N_("the calling window must start before it ends"))
    return out
