"""What a FastAGI peer may hold before its header is read, and the refusals past it.

Asterisk writes its whole header at once, well under 4 KB even with a long caller name
(res_agi.c setup_env), so a peer still sending a header after ``header_timeout_s`` or past
``header_max_bytes`` is not Asterisk. Each caps what idle or stalled sockets hold: 500 idle
sockets were all held for ever, 50 unfinished 3 MB headers took 170 MB, and 1,100 idle
sockets at a 1,024 descriptor limit stopped the web UI. Past a cap the socket is closed
at once (Asterisk then plays the dialplan's fallback), with a log line and a health detail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from drivers import health

log = Logger(namespace="ccbox.fastagi")
PART = "fastagi"
LOG_EVERY_S = 10.0  # a flood of refusals logs one line per reason this often, with a count
QUIET_S = 60.0  # the health page shows refusals until this long without one


@dataclass(frozen=True)
class FastAGILimits:
    header_timeout_s: float = 5.0
    header_max_bytes: int = 16 * 1024
    header_bytes_in_flight: int = 2 * 1024 * 1024  # across every session still in its header
    max_sessions: int = 480  # 2 x the 240 channels of an 8-E1 box


class HeaderBudget:
    """The header bytes held by every session still reading its header."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> bool:
        if self.used + n > self.limit:
            return False
        self.used += n
        return True

    def give_back(self, n: int) -> None:
        self.used = max(0, self.used - n)


class Refusals:
    """Sessions refused, by reason: logged and shown on the health page.

    A reason's first refusal is logged in full; then one line per ``LOG_EVERY_S`` at most,
    with how many were refused meanwhile, so a flood cannot fill the disk with logs. The
    ``fastagi`` part is degraded while refusals go on and back to what ``calm`` says after
    ``QUIET_S``.
    """

    def __init__(
        self,
        clock: Any,
        health_registry: health.HealthReporter | None = None,
        calm: Callable[[], tuple[str, str]] = lambda: (health.OK, ""),
    ) -> None:
        self.clock = clock
        self.health = health_registry
        self.calm = calm  # the part's state and detail once refusals stop (its owner's)
        self.counts: dict[str, int] = {}  # reason -> refused since the start
        self._last_log: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        self._quiet: Any = None

    def refused(self, reason: str, message: str) -> None:
        """One session refused for ``reason`` (a short word); ``message`` says which and why."""
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = self.clock.seconds()
        last = self._last_log.get(reason)
        if last is None or now - last >= LOG_EVERY_S:
            more = self._unlogged.pop(reason, 0)
            log.warn(
                "FastAGI session refused: {message}{more}",
                message=message,
                more=f" ({more} more refused for {reason} since the last line)" if more else "",
            )
            self._last_log[reason] = now
        else:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
        if self.health is not None:
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
            self.health.report(PART, health.DEGRADED, f"sessions refused ({shown}): {message}")
            if self._quiet is not None and self._quiet.active():
                self._quiet.reset(QUIET_S)
            else:
                self._quiet = self.clock.callLater(QUIET_S, self._calm)

    def _calm(self) -> None:
        self._quiet = None
        if self.health is not None:
            self.health.report(PART, *self.calm())

    def stop(self) -> None:
        if self._quiet is not None and self._quiet.active():
            self._quiet.cancel()
        self._quiet = None
