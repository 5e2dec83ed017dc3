"""Recovery after ``kill -9`` under load (goal: under 5 s).

The scenario of tests/integration/test_kill_recovery.py: a caller in the IVR, one holding,
one talking, a callback ringing, agents in wrap-up and paused; ccboxd is SIGKILLed and a
new one started on the same database. Measured: from the new process's start to
``/api/status`` ok and a new call offered to an agent (its phone ringing), the median of
three runs. Baseline in the same run: the first ccboxd's start on the idle box to its AMI
login (the part of a start that no recovery can skip).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

from tests.benchmarks.harness import Result
from tests.integration.test_kill_recovery import busy_seed, center, load_the_center, recover

RUNS = 3


def run() -> list[Result]:
    recoveries: list[float] = []
    cold: list[float] = []
    for n in range(RUNS):
        tmp = Path(tempfile.mkdtemp(prefix=f"ccbox-bench-recovery-{n}-"))
        try:
            with center(tmp, busy_seed) as c:
                load_the_center(c)
                c.kill()
                _box, _call, took = recover(c, "13800000006", "1006")
                recoveries.append(took)
                cold.append(c.started_s[0])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return [
        Result(
            "recovery after kill",
            statistics.median(recoveries),
            "s",
            "ccboxd start to AMI login, idle box",
            statistics.median(cold),
            better="lower",
        )
    ]


if __name__ == "__main__":
    for r in run():
        print(r.as_dict())
