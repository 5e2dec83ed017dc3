"""Sounds the switch does not have: an installation fault, never a reason to drop a caller.

STREAM FILE of a file Asterisk cannot find answers ``200 result=-1 endpos=0`` and the call
goes on (queue-hold-missing-sound.trace). Each session that sees one reports the name here:
it is logged once per name, and the health page shows the ``sounds`` part degraded with the
names, until the daemon restarts (a sound installed meanwhile clears it then).
"""

from __future__ import annotations

from twisted.logger import Logger

from drivers import health

log = Logger(namespace="ccbox.fastagi")
PART = "sounds"
SHOWN = 10  # names listed on the health page; the count covers the rest


class MissingSounds:
    def __init__(self, health_registry: health.HealthReporter | None = None) -> None:
        self.health = health_registry
        self.names: dict[str, int] = {}  # name -> how many times a call missed it

    def report(self, name: str) -> None:
        first = name not in self.names
        self.names[name] = self.names.get(name, 0) + 1
        if not first:
            return
        log.error(
            "sound {name!r} is not installed in Asterisk: callers hear silence instead "
            "(install the system sounds: ccbox asterisk-config)",
            name=name[:120],
        )
        if self.health is not None:
            shown = sorted(self.names)[:SHOWN]
            more = len(self.names) - len(shown)
            detail = "missing in Asterisk: " + ", ".join(n[:60] for n in shown)
            self.health.report(PART, health.DEGRADED, detail + (f" (+{more} more)" if more else ""))
