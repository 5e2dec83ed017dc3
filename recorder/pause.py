"""The PCI pause of one live recording: while a caller reads out a card number the channel's
MixMonitor is muted both ways (the legs carry silence, their length stays the call's), and
the time spent paused is totalled for the index row's ``paused_ms``: the file's paused time
(a pause asked for while the caller still waited counts from the capture's start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class PauseClock:
    paused_since: float | None = None  # reactor seconds; None: not paused
    paused_s: float = 0.0  # closed pauses
    timer: Any = None  # the automatic resume (an IDelayedCall) while paused

    @property
    def paused(self) -> bool:
        return self.paused_since is not None

    def pause(self, now: float) -> bool:
        """False when already paused (pausing twice changes nothing)."""
        if self.paused_since is not None:
            return False
        self.paused_since = now
        return True

    def resume(self, now: float) -> bool:
        """False when not paused."""
        if self.paused_since is None:
            return False
        self.paused_s += max(0.0, now - self.paused_since)
        self.paused_since = None
        self.cancel_timer()
        return True

    def cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def rebase(self, now: float) -> None:
        """The file starts now (a recording started at the agent's ring): what was paused
        before it is no part of it; a pause still on counts from now."""
        self.paused_s = 0.0
        if self.paused_since is not None:
            self.paused_since = now

    def paused_ms(self, now: float) -> int:
        open_s = now - self.paused_since if self.paused_since is not None else 0.0
        return round((self.paused_s + max(0.0, open_s)) * 1000)
