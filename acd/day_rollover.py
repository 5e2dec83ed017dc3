"""Local midnight: the queues' and agents' counters start a new day, so the wallboard's
"service level today", answered and abandoned mean today (the box's local time zone)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

log = Logger(namespace="ccbox.acd")


def seconds_to_midnight(
    now: float, localtime: Callable[[float], time.struct_time] = time.localtime
) -> float:
    """Seconds from ``now`` (epoch) to the next local midnight (DST changes included)."""
    t = localtime(now)
    midnight = time.mktime((t.tm_year, t.tm_mon, t.tm_mday + 1, 0, 0, 0, 0, 0, -1))
    return max(1.0, midnight - now)


class DayRollover:
    """Calls ``new_day`` at every local midnight while started."""

    def __init__(self, reactor: Any, new_day: Callable[[], None]) -> None:
        self.reactor = reactor
        self.new_day = new_day
        self._call: Any = None

    def start(self) -> None:
        self._call = self.reactor.callLater(
            seconds_to_midnight(self.reactor.seconds()), self._midnight
        )

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _midnight(self) -> None:
        try:
            self.new_day()
        except Exception:
            log.failure("the new day's counters")
        self.start()
