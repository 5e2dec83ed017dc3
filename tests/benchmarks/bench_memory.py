"""ccboxd's memory with 500 concurrent simulated calls (goal: under 200 MB RSS).

Baseline in the same run: the same daemon's RSS when idle, just after it reports ready.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from tests.benchmarks.harness import Result
from tests.conftest import write_config
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import run_simulator, running_daemon

CALLS = 500


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run() -> list[Result]:
    from appliance.config import load

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-"))
    conf = write_config(tmp, switch=True, ami=False)
    config = load(conf)
    migrate_and_seed(config)
    with running_daemon(conf, tmp) as daemon:
        pid = daemon.proc.pid
        time.sleep(0.5)
        idle = rss_mb(pid)
        peak = [idle]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            # Prompts of 3 s keep all the calls up at once.
            summary = run_simulator(config.fastagi.port, CALLS, CALLS, 3)
        finally:
            stop.set()
            sampler.join()
        assert summary["completed"] == CALLS, summary
        daemon.stop()
    return [
        Result(f"ccboxd RSS with {CALLS} concurrent calls", peak[0], "MB", "ccboxd RSS idle", idle)
    ]
