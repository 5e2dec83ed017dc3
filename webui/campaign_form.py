"""The campaign form, read and checked field by field (every field is attacker-controlled).

``campaign_settings`` turns the posted form into the ``campaigns`` columns an admin edits,
or raises ``FormError`` naming the field and what it should be. Choices come from
allowlists (modes, backoff, recording policy, the queues and prompts that exist), numbers
from their ranges, the caller ID from digits only (it goes into an Originate), the time
zone from the IANA database's own list (never a path), the dispositions from a bounded
list of short names.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import zoneinfo
from typing import Any

from appliance.db.campaign_values import format_window_end, parse_window_end
from appliance.db.model import CAMPAIGN_BACKOFF, CAMPAIGN_MODES, CAMPAIGN_RECORD
from webui import admin_forms as f
from webui import i18n
from webui.i18n import N_

NAME_MAX = 64
# A number someone can call back: digits, an optional leading '+'.
CALLER_NUMBER = re.compile(r"\+?[0-9]{3,20}")
# Shown in "name" <number>: no quotes, angle brackets or backslashes.
CALLER_NAME_BAD = re.compile(r'["<>\\]')
TRUNK_GROUP = re.compile(r"[A-Za-z0-9_-]{1,32}")
HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
DECIMAL = re.compile(r"[0-9]{1,5}(\.[0-9]{1,3})?")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = {
    "mon": N_("Mon"),
    "tue": N_("Tue"),
    "wed": N_("Wed"),
    "thu": N_("Thu"),
    "fri": N_("Fri"),
    "sat": N_("Sat"),
    "sun": N_("Sun"),
}
# acd/dialer/retry.py's outcomes: minutes before the next attempt after each.
RETRY_OUTCOMES = (
    ("no_answer", N_("No answer")),
    ("busy", N_("Busy")),
    ("congestion", N_("Congestion")),
    ("machine", N_("Answering machine")),
    ("callback", N_("Callback requested")),
)
RETRY_MAX_MIN = 10080  # a week
# Offered under the time zone field (any IANA name is accepted).
COMMON_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Australia/Sydney",
    "UTC",
)
DISPOSITIONS_MAX = 30
DISPOSITION_LEN = 32  # leads.disposition
SCRIPT_MAX = 8000
# (column, label, low, high): the decimal settings.
DECIMALS = (
    ("ratio", N_("Lines per idle agent (progressive)"), 1.0, 5.0),
    ("target_abandon_pct", N_("Target abandon rate (per cent)"), 0.1, 10.0),
    ("max_dial_level", N_("Most lines per waiting agent (predictive)"), 1.0, 10.0),
)
# (column, label, low, high): the whole-number settings.
INTEGERS = (
    ("max_attempts", N_("Most attempts per number"), 1, 20),
    ("min_predictive_agents", N_("Fewest agents for predictive"), 1, 500),
)


@functools.cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def decimal(params: dict[str, Any], name: str, label: str, lo: float, hi: float) -> float:
    raw = f.text(params, name, label, 12, required=True)
    if not DECIMAL.fullmatch(raw) or not lo <= float(raw) <= hi:
        raise f.FormError(
            i18n._("{field}: a number from {lo} to {hi}.").format(field=label, lo=lo, hi=hi)
        )
    return float(raw)


def multiline(params: dict[str, Any], name: str, label: str, max_len: int) -> str:
    """A text area: line breaks and tabs allowed, other control characters not."""
    value = params.get(name, "")
    if not isinstance(value, str):
        raise f.FormError(i18n._("{field}: send it once, as text.").format(field=label))
    value = value.replace("\r\n", "\n").strip()
    if len(value) > max_len:
        raise f.FormError(i18n._("{field}: at most {n} characters.").format(field=label, n=max_len))
    if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", value):
        raise f.FormError(
            i18n._("{field}: control characters are not allowed.").format(field=label)
        )
    return value


def campaign_name(params: dict[str, Any]) -> str:
    return f.text(params, "name", i18n._("Campaign name"), NAME_MAX, required=True)


def caller_number(params: dict[str, Any]) -> str:
    label = i18n._("Caller ID number")
    value = f.text(params, "caller_id_number", label, 21, required=True)
    if not CALLER_NUMBER.fullmatch(value):
        raise f.FormError(
            i18n._("{field}: 3 to 20 digits, with an optional leading '+'.").format(field=label)
        )
    return value


def queue_choice(params: dict[str, Any], queue_ids: set[int]) -> int:
    label = i18n._("Queue")
    value = f.optional_id(params, "queue_id", label)
    if value is None or value not in queue_ids:
        raise f.FormError(i18n._("{field}: not a valid choice.").format(field=label))
    return value


def window_days(params: dict[str, Any]) -> str:
    label = i18n._("Calling days")
    raw = params.get("window_days", [])
    chosen = [raw] if isinstance(raw, str) else raw
    if not isinstance(chosen, list) or len(chosen) > len(WEEKDAYS):
        raise f.FormError(i18n._("{field}: not a valid choice.").format(field=label))
    if any(not isinstance(d, str) or d not in WEEKDAYS for d in chosen):
        raise f.FormError(i18n._("{field}: not a valid choice.").format(field=label))
    if not chosen:
        raise f.FormError(i18n._("{field}: choose at least one day.").format(field=label))
    return ",".join(d for d in WEEKDAYS if d in chosen)


def clock(params: dict[str, Any], name: str, label: str) -> str:
    value = f.text(params, name, label, 5, required=True)
    if not HHMM.fullmatch(value):
        raise f.FormError(
            i18n._("{field}: a time written HH:MM (00:00 to 23:59).").format(field=label)
        )
    return value


def time_zone(params: dict[str, Any]) -> str:
    label = i18n._("Default time zone")
    value = f.text(params, "default_tz", label, 64, required=True)
    if value not in time_zones():
        raise f.FormError(
            i18n._("{field}: a time zone name such as Asia/Shanghai.").format(field=label)
        )
    return value


def retry_minutes(params: dict[str, Any]) -> str:
    out = {}
    for outcome, label in RETRY_OUTCOMES:
        out[outcome] = f.integer(
            params,
            f"retry_{outcome}",
            i18n._("Retry after (minutes): {outcome}").format(outcome=i18n._(label)),
            0,
            RETRY_MAX_MIN,
        )
    return json.dumps(out)


def dispositions(params: dict[str, Any]) -> str:
    label = i18n._("Dispositions")
    text = multiline(params, "dispositions", label, DISPOSITIONS_MAX * (DISPOSITION_LEN + 2))
    names = [line.strip() for line in text.split("\n") if line.strip()]
    if not names:
        raise f.FormError(i18n._("{field}: at least one, one per line.").format(field=label))
    if len(names) > DISPOSITIONS_MAX:
        raise f.FormError(i18n._("{field}: at most {n}.").format(field=label, n=DISPOSITIONS_MAX))
    for name in names:
        if len(name) > DISPOSITION_LEN or "\t" in name:
            raise f.FormError(
                i18n._("{field}: each at most {n} characters, one per line.").format(
                    field=label, n=DISPOSITION_LEN
                )
            )
    if len({n.casefold() for n in names}) != len(names):
        raise f.FormError(i18n._("{field}: each name once.").format(field=label))
    return json.dumps(names, ensure_ascii=False)


def campaign_settings(
    params: dict[str, Any], queue_ids: set[int], prompt_names: set[str]
) -> dict[str, Any]:
    """Every editable column of a campaign from the form, checked (FormError with the first
    problem). ``queue_ids`` and ``prompt_names`` are the choices that exist."""
    out: dict[str, Any] = {
        "name": campaign_name(params),
        "mode": f.choice(params, "mode", i18n._("Mode"), CAMPAIGN_MODES),
        "queue_id": queue_choice(params, queue_ids),
        "caller_id_number": caller_number(params),
    }
    label = i18n._("Caller ID name")
    cid_name = f.text(params, "caller_id_name", label, 64)
    if CALLER_NAME_BAD.search(cid_name):
        raise f.FormError(
            i18n._('{field}: no quotes ("), angle brackets or backslashes.').format(field=label)
        )
    out["caller_id_name"] = cid_name
    out["window_days"] = window_days(params)
    out["window_start"] = clock(params, "window_start", i18n._("Call from"))
    # midnight, the end of the day: "00:00" in the browser's time field, stored "24:00"
    until = clock(params, "window_end", i18n._("Call until"))
    out["window_end"] = format_window_end(parse_window_end(until))
    if out["window_start"] >= out["window_end"]:
        raise f.FormError(i18n._("Call until: later than Call from."))
    out["default_tz"] = time_zone(params)
    for column, name, lo, hi in INTEGERS:
        out[column] = f.integer(params, column, i18n._(name), lo, hi)
    out["retry_json"] = retry_minutes(params)
    out["dispositions_json"] = dispositions(params)
    out["script"] = multiline(params, "script", i18n._("Script"), SCRIPT_MAX)
    out["record"] = f.choice(params, "record", i18n._("Recording"), CAMPAIGN_RECORD)
    out["amd"] = f.checkbox(params, "amd")
    for column, name, lo_f, hi_f in DECIMALS:
        out[column] = decimal(params, column, i18n._(name), lo_f, hi_f)
    out["backoff"] = f.choice(params, "backoff", i18n._("Back-off above target"), CAMPAIGN_BACKOFF)
    out["trunk_group"] = (
        f.matching(
            params,
            "trunk_group",
            i18n._("Trunk group"),
            TRUNK_GROUP,
            i18n._("letters, digits, '_' or '-'"),
            32,
        )
        or "default"
    )
    label = i18n._("Safe-harbor message")
    prompt = f.text(params, "safe_harbor_prompt", label, 64)
    if prompt and prompt not in prompt_names:
        raise f.FormError(i18n._("{field}: not a valid choice.").format(field=label))
    if not prompt and out["mode"] == "predictive":
        raise f.FormError(
            i18n._("{field}: a predictive campaign needs one (choose a prompt).").format(
                field=label
            )
        )
    out["safe_harbor_prompt"] = prompt
    return out


def holiday(params: dict[str, Any]) -> dt.date:
    return date_field(params, "day", i18n._("Holiday"))


def date_field(params: dict[str, Any], name: str, label: str) -> dt.date:
    """A date written YYYY-MM-DD (what <input type=date> sends), 2000 to 2100."""
    raw = f.text(params, name, label, 10, required=True)
    try:
        if not DAY.fullmatch(raw):
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise f.FormError(
            i18n._("{field}: a date written YYYY-MM-DD.").format(field=label)
        ) from None
    if not 2000 <= day.year <= 2100:
        raise f.FormError(i18n._("{field}: a date written YYYY-MM-DD.").format(field=label))
    return day


def form_values(row: dict[str, Any]) -> dict[str, Any]:
    """A campaign row as the form shows it (retry minutes per outcome, dispositions one per
    line)."""
    values = dict(row)
    try:
        retry = json.loads(row.get("retry_json") or "{}")
    except ValueError:
        retry = {}
    for outcome, _label in RETRY_OUTCOMES:
        values[f"retry_{outcome}"] = retry.get(outcome, 0) if isinstance(retry, dict) else 0
    try:
        names = json.loads(row.get("dispositions_json") or "[]")
    except ValueError:
        names = []
    values["dispositions"] = "\n".join(str(n) for n in names) if isinstance(names, list) else ""
    values["days"] = set(str(row.get("window_days") or "").split(","))
    return values
