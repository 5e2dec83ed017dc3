"""Settings admins change from the web UI, one JSON document per key in the ``settings``
table; each key has a typed, validated shape here.

``wallboard``: when the big screen turns a queue's numbers to the warning or the alarm
color. Waiting calls and the longest wait are bad when high (warning <= alarm); the service
level is bad when low (warning >= alarm, in percent). Colors are ``#rrggbb`` only: they go
into a style attribute, so nothing else may get through. A stored document that no longer
validates (edited by hand, or from an older version) is read as the defaults, field by
field, and logged; it never breaks the wallboard.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from appliance.db import model
from appliance.db.components import _Component, utcnow
from appliance.text import N_

log = Logger(namespace="ccbox.db.settings")
WALLBOARD = "wallboard"
COLOR = re.compile(r"^#[0-9a-f]{6}$")
MAX_VALUE = 16000  # characters of one stored document


@dataclass(frozen=True)
class WallboardSettings:
    waiting_warning: int = 3  # calls waiting in one queue
    waiting_alarm: int = 6
    longest_wait_warning_s: int = 30
    longest_wait_alarm_s: int = 90
    service_level_warning: int = 80  # percent answered within the queue's target
    service_level_alarm: int = 60
    color_normal: str = "#2ea043"
    color_warning: str = "#f2c744"
    color_alarm: str = "#f85149"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# field -> (low, high) for the numbers
WALLBOARD_RANGES: dict[str, tuple[int, int]] = {
    "waiting_warning": (1, 999),
    "waiting_alarm": (1, 999),
    "longest_wait_warning_s": (1, 3600),
    "longest_wait_alarm_s": (1, 3600),
    "service_level_warning": (0, 100),
    "service_level_alarm": (0, 100),
}
WALLBOARD_COLORS = ("color_normal", "color_warning", "color_alarm")
WALLBOARD_FIELDS = (*WALLBOARD_RANGES, *WALLBOARD_COLORS)


@dataclass(frozen=True)
class Problem:
    """One refused field: ``code`` is range (``low``..``high``), color, order or missing."""

    field: str
    code: str
    low: int = 0
    high: int = 0

    @property
    def message(self) -> str:
        if self.code == "range":
            return f"{self.field} must be a whole number from {self.low} to {self.high}"
        if self.code == "color":
            return f"{self.field} must be a color written #rrggbb"
        if self.code == "order":
            return f"{self.field}: the alarm level must be past the warning level"
        return f"{self.field} is missing"


class InvalidSettings(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= 6 and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_wallboard(raw: Mapping[str, Any]) -> WallboardSettings:
    """The settings from a form or a stored document (numbers as ints or digit strings);
    every field must be there. Raises InvalidSettings naming every bad field."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, (low, high) in WALLBOARD_RANGES.items():
        if name not in raw:
            problems.append(Problem(name, "missing"))
            continue
        n = _number(raw[name])
        if n is None or not low <= n <= high:
            problems.append(Problem(name, "range", low, high))
        else:
            values[name] = n
    for name in WALLBOARD_COLORS:
        if name not in raw:
            problems.append(Problem(name, "missing"))
            continue
        color = raw[name].strip().lower() if isinstance(raw[name], str) else ""
        if not COLOR.match(color):
            problems.append(Problem(name, "color"))
        else:
            values[name] = color
    for warning, alarm, higher_is_worse in (
        ("waiting_warning", "waiting_alarm", True),
        ("longest_wait_warning_s", "longest_wait_alarm_s", True),
        ("service_level_warning", "service_level_alarm", False),
    ):
        if warning in values and alarm in values:
            w, a = values[warning], values[alarm]
            if (a < w) if higher_is_worse else (a > w):
                problems.append(Problem(alarm, "order"))
    if problems:
        raise InvalidSettings(problems)
    return WallboardSettings(**values)


def _lenient_wallboard(doc: Any) -> WallboardSettings:
    """A stored document as settings: the defaults stand in for what does not validate."""
    defaults = WallboardSettings().as_dict()
    merged = {**defaults, **(doc if isinstance(doc, dict) else {})}
    try:
        return parse_wallboard(merged)
    except InvalidSettings as exc:
        log.warn("the stored wallboard settings are not valid ({err}); defaults used", err=exc)
        bad = {p.field for p in exc.problems}
        try:
            return parse_wallboard({k: defaults[k] if k in bad else v for k, v in merged.items()})
        except InvalidSettings:
            return WallboardSettings()


class SettingsStore(_Component):
    def get(self, key: str) -> defer.Deferred[Any]:
        """The stored JSON document of ``key``, None when never set."""
        s = model.settings

        def thd(conn: Connection) -> Any:
            text = conn.execute(sa.select(s.c.value).where(s.c.key == key)).scalar()
            if text is None:
                return None
            try:
                return json.loads(text)
            except ValueError:
                log.warn("setting {key} is not JSON; ignored", key=key)
                return None

        return self.db.run(thd)

    def put(self, key: str, value: Any, updated_by: str) -> defer.Deferred[None]:
        """Store ``value`` (JSON-able) under ``key``; the caller validated it."""
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        if len(text) > MAX_VALUE or not 0 < len(key) <= 64:
            return defer.fail(ValueError(N_("a setting is at most 16000 characters of JSON")))
        s = model.settings
        row = {"value": text, "updated_by": updated_by[:64], "updated_at": utcnow()}

        def thd(conn: Connection) -> None:
            done = conn.execute(s.update().where(s.c.key == key).values(**row)).rowcount
            if done:
                return
            try:
                with conn.begin_nested():
                    conn.execute(s.insert().values(key=key, **row))
            except sa.exc.IntegrityError:  # another writer inserted it first: ours wins
                conn.execute(s.update().where(s.c.key == key).values(**row))

        return self.db.run(thd)

    def wallboard(self) -> defer.Deferred[WallboardSettings]:
        return self.get(WALLBOARD).addCallback(_lenient_wallboard)

    def set_wallboard(
        self, raw: Mapping[str, Any], updated_by: str
    ) -> defer.Deferred[WallboardSettings]:
        """Validate and store; fails with InvalidSettings (nothing stored) when a field is
        bad."""
        try:
            settings = parse_wallboard(raw)
        except InvalidSettings as exc:
            return defer.fail(exc)
        return self.put(WALLBOARD, settings.as_dict(), updated_by).addCallback(lambda _: settings)
