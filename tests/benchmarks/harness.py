"""Timing helpers and the result record every benchmark returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Result:
    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


def best_rate(
    fn: Callable[[], object], units_per_call: float, repeat: int = 5, min_time: float = 0.2
) -> float:
    """Units per second of ``fn``: the best of ``repeat`` rounds of at least ``min_time`` s."""
    fn()  # warm up (tables, allocator)
    best = 0.0
    for _ in range(repeat):
        calls = 0
        start = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = max(best, calls * units_per_call / elapsed)
    return best
