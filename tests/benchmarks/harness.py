"""Timing helpers and the result record every benchmark returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class PeakRSS:
    """``with PeakRSS(pid) as rss:`` samples the process's RSS in a thread; ``rss.idle`` is
    the first reading, ``rss.peak`` the highest while the block ran."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.pid, self.every_s = pid, every_s
        self.idle = self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(self.every_s)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
