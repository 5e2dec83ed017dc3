"""A disk that fills up stops new recordings, never a call.

Before a capture starts the guard reads the free space of the recording root (in a thread:
``statvfs`` on a busy or network disk can stall). Below ``[recording] min_free_mb`` the call
goes on unrecorded, the health registry shows the recorder degraded with the reason, and a
``RecordingAlarm`` goes out on the event bus; the guard then looks again every
``RECHECK_S`` and clears the alarm (health ok, ``RecordingAlarm(raised=False)``) once there
is room. A merge that hits ENOSPC (``postprocess.DiskFull``) raises the same alarm.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, threads
from twisted.logger import Logger

from appliance import health

if TYPE_CHECKING:
    from appliance.health import HealthRegistry

log = Logger(namespace="ccbox.recorder.disk")
MB = 1024 * 1024
RECHECK_S = 30.0
PART = "recorder"  # the health registry's name for the recorder


@dataclass(frozen=True)
class RecordingAlarm:
    """Published on the event bus when recordings stop for lack of disk (``raised``) and
    when they can start again."""

    raised: bool
    detail: str


def free_bytes(root: Path) -> int:
    """Free space for the recording root (its nearest existing folder)."""
    path = root
    while not path.exists() and path.parent != path:
        path = path.parent
    return shutil.disk_usage(path).free


class DiskGuard:
    def __init__(
        self,
        reactor: Any,
        root: Path,
        min_free_mb: int,
        health_registry: HealthRegistry | None = None,
        publish: Callable[[object], None] | None = None,
        free: Callable[[Path], int] = free_bytes,
    ) -> None:
        self.reactor = reactor
        self.root = root
        self.min_free_mb = min_free_mb
        self.health = health_registry
        self.publish = publish
        self.free = free
        self.alarm: str | None = None  # the detail while raised
        self._recheck: Any = None

    async def has_room(self) -> bool:
        """Whether a new recording may start (raises or clears the alarm)."""
        try:
            free = await threads.deferToThread(self.free, self.root)
        except OSError as exc:
            self.raise_alarm(f"cannot read the free space of {self.root}: {exc.strerror}")
            return False
        if free < self.min_free_mb * MB:
            self.raise_alarm(
                f"recording stopped: {free // MB} MB free on {self.root}, "
                f"less than min_free_mb = {self.min_free_mb}"
            )
            return False
        self.clear()
        return True

    def raise_alarm(self, detail: str) -> None:
        if self.health is not None:
            self.health.report(PART, health.DEGRADED, detail)
        if self.alarm != detail:
            if self.alarm is None:
                log.error("{detail}", detail=detail)
            self.alarm = detail
            if self.publish is not None:
                self.publish(RecordingAlarm(True, detail))
        if self._recheck is None or not self._recheck.active():
            self._recheck = self.reactor.callLater(RECHECK_S, self._look_again)

    def clear(self) -> None:
        if self.alarm is None:
            return
        self.alarm = None
        self.stop()
        log.info("recording disk has room again: recordings start again")
        if self.health is not None:
            self.health.report(PART, health.OK, "")
        if self.publish is not None:
            self.publish(RecordingAlarm(False, "recording disk has room again"))

    def stop(self) -> None:
        if self._recheck is not None and self._recheck.active():
            self._recheck.cancel()
        self._recheck = None

    def _look_again(self) -> None:
        self._recheck = None
        d = defer.ensureDeferred(self.has_room())
        d.addErrback(lambda f: log.failure("disk check failed", f))
