"""What a driver says about its health: the four states and the reporter it is handed.

A driver reports to any ``HealthReporter``: the daemon hands its registry
(appliance/health.py, which uses these states), a tool or a test may hand ``LastReports``.
Drivers import nothing from the daemon (tests/unit/test_layering.py), so they run alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

OK = "ok"
DEGRADED = "degraded"
DOWN = "down"
STARTING = "starting"


class Reported(Protocol):
    """What a part last reported (only its state is read back)."""

    @property
    def state(self) -> str: ...


class HealthReporter(Protocol):
    def report(self, name: str, state: str, detail: str = "") -> None: ...

    def get(self, name: str) -> Reported | None: ...


@dataclass(frozen=True)
class Report:
    name: str
    state: str
    detail: str


class LastReports:
    """The last report of each part: the reporter of a driver used without the daemon."""

    def __init__(self) -> None:
        self._parts: dict[str, Report] = {}

    def report(self, name: str, state: str, detail: str = "") -> None:
        self._parts[name] = Report(name, state, detail)

    def get(self, name: str) -> Report | None:
        return self._parts.get(name)

    def parts(self) -> list[Report]:
        return sorted(self._parts.values(), key=lambda p: p.name)
