"""Login brute-force protection, kept per user name at an address and per address.

A whole floor often reaches the box from one address (a NAT, a proxy): a lock per address
after a handful of failures would lock every agent out because one of them mistyped. So:

* a name at an address is locked after ``max_failures`` failures, for ``backoff_s``,
  doubled by each further failure (at most ``window_s``); its failures are forgotten when
  ``window_s`` passes quietly after its lock. The other names at that address go on
  logging in, and the name from elsewhere too;
* an address is locked after ``address_ceiling`` failures within ``window_s``, whatever the
  names: one place trying many names.

A success clears its name at its address only (an address's count is not reset by one
good login in a spray).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_KEYS = 100_000  # bound memory under a spray of names


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 900.0,
        backoff_s: float = 60.0,
        address_ceiling: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.backoff_s = backoff_s
        self.address_ceiling = address_ceiling
        self.clock = clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"user:{username.lower()}\0ip:{address}", f"ip:{address}"

    def _recent(self, key: str, now: float) -> list[float]:
        """An address's failures within the window."""
        times = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def _lock_s(self, failures: int) -> float:
        extra = failures - self.max_failures
        if extra < 0:
            return 0.0
        return float(min(self.window_s, self.backoff_s * 2 ** min(extra, 32)))

    def _pair(self, key: str, now: float) -> list[float]:
        """A name's failures at an address, forgotten a quiet window after its lock ends
        (so that the lock keeps doubling while the failures go on)."""
        times = self._failures.get(key, [])
        if times and now - times[-1] >= self._lock_s(len(times)) + self.window_s:
            self._failures.pop(key, None)
            return []
        return times

    def _pair_wait(self, times: list[float], now: float) -> float:
        return max(0.0, times[-1] + self._lock_s(len(times)) - now) if times else 0.0

    def _address_wait(self, times: list[float], now: float) -> float:
        if len(times) < self.address_ceiling:
            return 0.0
        # locked until enough of these failures leave the window
        return max(0.0, times[-self.address_ceiling] + self.window_s - now)

    def locked(self, username: str, address: str) -> float:
        """Seconds until ``username`` may try again from ``address`` (0: now)."""
        pair, addr = self._keys(username, address)
        with self._lock:
            now = self.clock()
            return max(
                self._pair_wait(self._pair(pair, now), now),
                self._address_wait(self._recent(addr, now), now),
            )

    def failed(self, username: str, address: str) -> None:
        with self._lock:
            now = self.clock()
            pair, addr = self._keys(username, address)
            self._failures[pair] = [*self._pair(pair, now), now][-self.max_failures - 40 :]
            times = [*self._recent(addr, now), now]
            self._failures[addr] = times[-self.address_ceiling :]
            if len(self._failures) > MAX_KEYS:
                for key in list(self._failures):
                    if key.startswith("ip:"):
                        self._recent(key, now)
                    else:
                        self._pair(key, now)

    def succeeded(self, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, address)[0], None)


class RequestRate:
    """At most ``per_key`` requests per ``window_s`` from one key (an address) and
    ``overall`` from all keys together: a public form that anyone may post (web callback
    requests) must not become a way to make the box call numbers in bulk."""

    def __init__(
        self,
        per_key: int,
        overall: int,
        window_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key = per_key
        self.overall = overall
        self.window_s = window_s
        self.clock = clock
        self._times: dict[str, list[float]] = {}
        self._all: list[float] = []
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Count one request from ``key`` and return 0, or refuse it (nothing counted) and
        return the seconds until one would be let through."""
        with self._lock:
            now = self.clock()
            since = now - self.window_s
            self._all = [t for t in self._all if t > since]
            mine = [t for t in self._times.get(key, ()) if t > since]
            waits = []
            if len(mine) >= self.per_key:
                waits.append(mine[-self.per_key] - since)
            if len(self._all) >= self.overall:
                waits.append(self._all[-self.overall] - since)
            if waits:
                self._times[key] = mine
                return max(waits)
            mine.append(now)
            self._times[key] = mine
            self._all.append(now)
            if len(self._times) > MAX_KEYS:
                self._times = {k: v for k, v in self._times.items() if v and v[-1] > since}
                if len(self._times) > MAX_KEYS:  # a spray within the window: the oldest go
                    newest = sorted(self._times.items(), key=lambda kv: kv[1][-1])
                    self._times = dict(newest[-MAX_KEYS // 2 :])
            return 0.0
