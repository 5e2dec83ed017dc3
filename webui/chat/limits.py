"""Rate limits of the public chat endpoint: token buckets per key (a visitor's token, an
address), on the reactor's clock.

A bucket holds up to ``limit`` requests and refills at ``limit`` per ``window_s``: a
visitor may send ``messages_per_minute`` messages in a burst, then one every
``60 / messages_per_minute`` seconds. ``hit(key)`` takes one and answers 0, or answers how
many seconds to wait (the ``Retry-After``) and takes nothing. At most ``max_keys`` keys are
held: past that the full (idle) buckets are forgotten first, then the oldest.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

MAX_KEYS = 100_000


def address_key(address: str) -> str:
    """What an address is counted as: itself, or for IPv6 its /64 (one customer line holds a
    whole /64: counted per address, a visitor would have 2**64 budgets)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class RateLimit:
    def __init__(self, clock: Any, limit: int, window_s: float, max_keys: int = MAX_KEYS) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window_s > 0")
        self.clock = clock  # anything with seconds(): the reactor, a task.Clock
        self.limit = float(limit)
        self.rate = limit / window_s  # tokens per second
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (self.limit, now))
        return min(self.limit, tokens + (now - at) * self.rate)

    def hit(self, key: str, cost: float = 1.0) -> float:
        """0.0 when allowed (one taken), else the seconds to wait, rounded up."""
        now = float(self.clock.seconds())
        tokens = self._tokens(key, now)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return float(max(1, math.ceil((cost - tokens) / self.rate)))
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._prune(now)
        self._buckets[key] = (tokens - cost, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [k for k in self._buckets if self._tokens(k, now) >= self.limit]
        for k in full:
            del self._buckets[k]
        while len(self._buckets) >= self.max_keys:
            del self._buckets[next(iter(self._buckets))]

    def __len__(self) -> int:
        return len(self._buckets)
