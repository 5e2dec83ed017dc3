"""One place every core part reports its health to: shown on the status page and API.

The systemd watchdog does not depend on it: the heartbeat follows the reactor, so an
Asterisk outage shows here as a degraded part but never makes systemd restart us in a loop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# One vocabulary for the daemon and its drivers; the registry is the HealthReporter the
# daemon hands each driver (drivers/health.py).
from drivers.health import DEGRADED, DOWN, OK, STARTING

__all__ = ["DEGRADED", "DOWN", "OK", "STARTING", "HealthRegistry", "PartHealth"]


@dataclass(frozen=True)
class PartHealth:
    name: str
    state: str
    detail: str
    since: dt.datetime


class HealthRegistry:
    def __init__(self) -> None:
        self._parts: dict[str, PartHealth] = {}

    def report(self, name: str, state: str, detail: str = "") -> None:
        """``since`` is when the part entered ``state``: a new detail in the same state (a
        count of writes waiting that moves with every call) does not reset it."""
        old = self._parts.get(name)
        if old and old.state == state:
            if old.detail != detail:
                self._parts[name] = PartHealth(name, state, detail, old.since)
            return
        self._parts[name] = PartHealth(name, state, detail, dt.datetime.now(dt.UTC))

    def get(self, name: str) -> PartHealth | None:
        """What ``name`` last reported (None if it never did)."""
        return self._parts.get(name)

    def parts(self) -> list[PartHealth]:
        return sorted(self._parts.values(), key=lambda p: p.name)

    def overall(self) -> str:
        """The worst part: down, then degraded, then starting; ok when every part is."""
        states = {p.state for p in self._parts.values()}
        for state in (DOWN, DEGRADED, STARTING):
            if state in states:
                return state
        return OK
