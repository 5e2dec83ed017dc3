"""ccboxd's memory with 500 concurrent simulated calls (goal: under 200 MB RSS).

Baseline in the same run: the same daemon's RSS when idle, just after it reports ready.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.benchmarks.harness import PeakRSS, Result
from tests.conftest import write_config
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import run_simulator, running_daemon

CALLS = 500


def run() -> list[Result]:
    from appliance.config import load

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-"))
    conf = write_config(tmp, switch=True, ami=False)
    config = load(conf)
    migrate_and_seed(config)
    with running_daemon(conf, tmp) as daemon:
        time.sleep(0.5)
        with PeakRSS(daemon.proc.pid, 0.05) as rss:
            # Prompts of 3 s keep all the calls up at once.
            summary = run_simulator(config.fastagi.port, CALLS, CALLS, 3)
        assert summary["completed"] == CALLS, summary
        daemon.stop()
    return [
        Result(
            f"ccboxd RSS with {CALLS} concurrent calls",
            rss.peak,
            "MB",
            "ccboxd RSS idle",
            rss.idle,
            better="lower",
        )
    ]
