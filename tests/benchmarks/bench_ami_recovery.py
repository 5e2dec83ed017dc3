"""Recovery to ready after an AMI cut (goal: under 5 s).

ccboxd and the switch simulator, each its own process (tests/support/live_box.py). The
simulator's manager goes away for ``OUTAGE_S`` (its port closed, ccboxd's session dropped;
long enough for ccboxd's retries to reach their cap) and comes back; measured from the
moment it listens again to ``ami: ok`` on /api/status and to a new call answered by an
agent (the row's agent_answered_at: over AMI, DialEnd). Results, each the worst of
``ROUNDS`` cuts:

- ``recovery after AMI cut``: to a new call answered, against the same call's time with AMI
  up (measured in the same run, the median of ``ROUNDS``);
- ``AMI ok after cut``: to ``ami: ok``, against the client's retry cap (2 s, + up to 1 s of
  jitter: the longest wait before the next attempt).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.benchmarks.harness import Result

OUTAGE_S = 8.0
ROUNDS = 3
RETRY_CAP_S = 2.0


def run() -> list[Result]:
    from tests.support.fault_box import (
        agent_states,
        ami_down,
        ami_health,
        ami_up,
        answered_by,
        wait,
    )
    from tests.support.live_box import live_box

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-ami-"))
    numbers = (f"1390000{n:04d}" for n in range(10_000))

    with live_box(tmp) as box:
        box.devices({"PJSIP/1001": {"ring_s": 0.2, "talk_s": 0.5}})
        box.agents_login("1001")

        def routed() -> float:
            """Seconds from placing a call to agent 1001's answer on its row."""
            number = next(numbers)
            start = time.monotonic()
            box.call(number, prompt_s=0.0)
            wait(lambda: answered_by(box, number, "1001"), f"{number} answered", 20)
            took = time.monotonic() - start
            wait(lambda: agent_states(box)["1001"] == "available", "1001 free", 20)
            return took

        baseline = statistics.median(routed() for _ in range(ROUNDS))
        to_ok, to_call = [], []
        for _ in range(ROUNDS):
            ami_down(box)
            wait(lambda: ami_health(box)[0] == "down", "ami: down", 10)
            time.sleep(OUTAGE_S)  # the outage itself: retries back off to their cap
            ami_up(box)
            back = time.monotonic()
            wait(lambda: ami_health(box)[0] == "ok", "ami: ok", 30)
            to_ok.append(time.monotonic() - back)
            number = next(numbers)
            box.call(number, prompt_s=0.0)
            wait(lambda n=number: answered_by(box, n, "1001"), f"{number} answered", 30)
            to_call.append(time.monotonic() - back)
            wait(lambda: agent_states(box)["1001"] == "available", "1001 free", 20)
    return [
        Result(
            "recovery after AMI cut",
            max(to_call),
            "s",
            "a call routed, AMI up",
            baseline,
            better="lower",
        ),
        Result("AMI ok after cut", max(to_ok), "s", "retry cap", RETRY_CAP_S, better="lower"),
    ]


if __name__ == "__main__":
    for r in run():
        print(f"{r.name}: {r.value:.2f} {r.unit} ({r.baseline}: {r.baseline_value:.2f})")
