"""Brute-force guard for desk-phone logins: too many wrong PINs for one agent number lock
that number for a while, whichever phone the attempts come from.

In memory (a restart clears it); one call is also limited to a few attempts (phone_codes).
"""

from __future__ import annotations

from collections.abc import Callable


class PinGuard:
    def __init__(
        self,
        clock: Callable[[], float],
        max_failures: int = 5,
        window_s: float = 900.0,
        lockout_s: float = 900.0,
    ) -> None:
        self.clock = clock
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, number: str) -> bool:
        until = self._locked_until.get(number)
        if until is None:
            return False
        if self.clock() >= until:
            del self._locked_until[number]
            return False
        return True

    def failed(self, number: str) -> bool:
        """Count a wrong PIN; True when this failure locks the number."""
        now = self.clock()
        recent = [t for t in self._failures.get(number, []) if now - t < self.window_s]
        recent.append(now)
        if len(recent) >= self.max_failures:
            self._failures.pop(number, None)
            self._locked_until[number] = now + self.lockout_s
            return True
        self._failures[number] = recent
        if len(self._failures) > 10_000:  # bounded: drop the oldest entries
            for key in list(self._failures)[:1000]:
                del self._failures[key]
        return False

    def succeeded(self, number: str) -> None:
        self._failures.pop(number, None)
