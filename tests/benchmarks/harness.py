"""Timing helpers and the result record every benchmark returns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BETTER = ("higher", "lower")
CODECS = ("alaw", "ulaw")


def unlike(name: str, baseline: str) -> str | None:
    """Why ``baseline`` is not the same job as ``name``, as far as the words tell (None: no
    mismatch seen). A G.711 entry names its codec (``alaw``; ``ulaw`` when it says none) and
    its direction (encode; decode); audioop spells them ``lin2alaw`` and ``alaw2lin``."""
    n, b = name.lower(), baseline.lower()
    if "g711" not in n:
        return None
    codec = "alaw" if "alaw" in n else "ulaw"
    if any(other in b for other in CODECS if other != codec):
        return f"{name!r} is {codec}, its baseline {baseline!r} is not"
    direction = "decode" if "decode" in n else "encode"
    decodes = "decode" in b or any(f"{c}2lin" in b for c in CODECS) or "tostereo" in b
    encodes = "encode" in b or any(f"lin2{c}" in b for c in CODECS)
    if (direction == "decode" and encodes) or (direction == "encode" and decodes):
        job = "a decoder" if direction == "decode" else "an encoder"
        return f"{name!r} is {job}, its baseline {baseline!r} is not"
    return None


@dataclass(frozen=True)
class Result:
    """One figure against a baseline timed in the same run. ``better`` says which way is
    good for ``value`` (a rate: higher; a time, a size, a CPU share: lower), so ``gain`` (how
    many times better than the baseline) reads the same way for every entry; ``note`` is a
    conclusion drawn from the figures."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    better: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.better not in BETTER:
            raise ValueError(f"{self.name}: better must be one of {BETTER}, not {self.better!r}")
        why = unlike(self.name, self.baseline)
        if why is not None:
            raise ValueError(f"not like for like: {why}")

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("nan")

    @property
    def gain(self) -> float:
        """Above 1: better than the baseline, whichever way is better."""
        if self.better == "higher":
            return self.ratio
        return self.baseline_value / self.value if self.value else float("inf")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3), "gain": round(self.gain, 3)}


def table(rows: list[Result], digits: int = 2) -> str:
    """The table `make bench` prints (and `make bench-asterisk`, with more digits): one
    line an entry, their notes, what ``gain`` means."""
    width = max((len(r.name) for r in rows), default=10)
    out = [
        f"{'benchmark':{width}}  {'value':>12}  {'unit':10}  {'better':6}  {'gain':>7}  baseline"
    ]
    for r in rows:
        out.append(
            f"{r.name:{width}}  {r.value:12.{digits}f}  {r.unit:10}  {r.better:6}  "
            f"{r.gain:7.2f}  {r.baseline} ({r.baseline_value:.{digits}f})"
        )
    out += [f"{r.name}: {r.note}" for r in rows if r.note]
    out.append("gain: times better than the baseline (above 1: better), whichever way is better")
    return "\n".join(out)


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


def call_ms(fn: Callable[[], object], rounds: int) -> list[float]:
    """The milliseconds each of ``rounds`` calls of ``fn`` took (after one warm-up)."""
    fn()
    ms = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - start) * 1000)
    return ms


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
