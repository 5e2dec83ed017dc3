"""Counts the inputs each property ran and how fast: ``make fuzz`` reports executions per
second per target (and writes them to ``CCBOX_FUZZ_REPORT``, build/fuzz.json)."""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_RUNS: dict[str, dict[str, float]] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    if handle is None:
        yield
        return
    inner: Callable[..., Any] = handle.inner_test
    count = [0]

    @functools.wraps(inner)
    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return inner(*args, **kwargs)

    handle.inner_test = counted
    started = time.perf_counter()
    try:
        yield
    finally:
        handle.inner_test = inner
        seconds = time.perf_counter() - started
        _RUNS[item.nodeid] = {
            "executions": count[0],
            "seconds": round(seconds, 3),
            "per_s": round(count[0] / seconds, 1) if seconds > 0 else 0.0,
        }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    report = os.environ.get("CCBOX_FUZZ_REPORT")
    if not report or not _RUNS:
        return
    tr = terminalreporter
    tr.section("fuzz executions per second")
    for nodeid, run in sorted(_RUNS.items()):
        name = nodeid.split("::", 1)[-1]
        tr.write_line(
            f"{run['per_s']:>10.1f}/s  {int(run['executions']):>8} inputs  "
            f"{run['seconds']:>7.1f} s  {name}"
        )
    path = Path(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fuzz": _RUNS}, indent=2, sort_keys=True) + "\n")
    tr.write_line(f"written to {path}")
