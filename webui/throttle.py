"""Login brute-force protection: too many failures for a name or an address lock it out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def locked(self, *keys: str) -> bool:
        with self._lock:
            now = self.clock()
            return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def failed(self, *keys: str) -> None:
        with self._lock:
            now = self.clock()
            for k in keys:
                self._recent(k, now)
                self._failures.setdefault(k, []).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of names
                for k in list(self._failures):
                    self._recent(k, now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)
