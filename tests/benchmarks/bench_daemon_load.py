"""ccboxd running a 300-agent center at 20,000 calls an hour (goal: under half of one core
and under 200 MB RSS).

The switch simulator (its own process, ``ccbox simulator --serve``) serves AMI and sends
Poisson arrivals (5.6 calls/s) whose callers pick a queue, hold, talk to simulated agents
for an exponential 40 s on average, or hang up when their patience runs out. ccboxd has
300 agents logged in over three queues. Measured over the steady part of the run:

- ccboxd's CPU time per wall second, against one core (1.0: the baseline is the unit);
- ccboxd's CPU per call, against the simulator's own CPU per call in the same run (the
  switch side does the same protocol work in reverse: a ratio near 1 means the brain costs
  about what the wire does);
- ccboxd's peak RSS, against its RSS just after it reported ready.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.cli import resolved
from tests.benchmarks.harness import PeakRSS, Result
from tests.conftest import write_config
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import BIN, running_daemon

AGENTS = 300
CALLS_PER_HOUR = 20_000
DURATION_S = 90.0
WARM_UP_S = 30.0  # the first half-minute fills the agents; measured after it
TALK_S = 40.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(db: Any) -> None:
    skills = [resolved(db.skills.add(name)).id for name in ("tech", "billing", "sales")]
    now = dt.datetime.now(dt.UTC)
    for i in range(AGENTS):
        agent = resolved(db.agents.add(f"{2000 + i}", f"Agent {i}", "", f"PJSIP/{2000 + i}"))
        for j, skill in enumerate(skills):
            resolved(db.agents.set_skill(agent.id, skill, 1 + (i + 3 * j) % 10))
        resolved(db.acd.save_state(agent.id, "available", "", now))
    for name, skill in zip(("support", "billing", "sales"), skills, strict=True):
        resolved(db.queues.add(name, skills={skill: 2}, wrapup_s=5, announce_every_s=60))


def run() -> list[Result]:
    from appliance.config import load

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-load-"))
    conf = write_config(tmp, switch=True)
    config = load(conf)
    migrate_and_seed(config, seed)
    with running_daemon(conf, tmp) as daemon:
        pid = daemon.proc.pid
        time.sleep(0.5)
        with PeakRSS(pid, 0.2) as rss:
            sim = subprocess.Popen(
                [
                    str(BIN / "ccbox"),
                    "--config",
                    str(conf),
                    "simulator",
                    "--serve",
                    "--rate",
                    str(CALLS_PER_HOUR / 3600),
                    "--duration",
                    str(DURATION_S),
                    "--talk-seconds",
                    str(TALK_S),
                    "--seed",
                    "11",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                time.sleep(WARM_UP_S)
                cpu0, sim0, t0 = cpu_s(pid), cpu_s(sim.pid), time.monotonic()
                time.sleep(DURATION_S - WARM_UP_S - 5)
                cpu1, sim1, t1 = cpu_s(pid), cpu_s(sim.pid), time.monotonic()
                out, _ = sim.communicate(timeout=DURATION_S + 120)
            finally:
                if sim.poll() is None:
                    sim.kill()
        daemon.stop()
    import json

    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["failed"] == 0, summary
    # The traffic really ran: about rate x duration calls, and agents finished calls.
    assert summary["offered"] >= 0.7 * CALLS_PER_HOUR / 3600 * DURATION_S, summary
    assert summary["completed"] > 0, summary
    window = t1 - t0
    calls_in_window = CALLS_PER_HOUR / 3600 * window
    core_share = (cpu1 - cpu0) / window
    per_call_ms = (cpu1 - cpu0) / calls_in_window * 1000
    sim_per_call_ms = (sim1 - sim0) / calls_in_window * 1000
    return [
        Result(
            f"ccboxd CPU, {AGENTS} agents at {CALLS_PER_HOUR} calls/h",
            core_share,
            "cores",
            "one core",
            1.0,
            better="lower",
        ),
        Result(
            "ccboxd CPU per call",
            per_call_ms,
            "ms",
            "switch simulator CPU per call",
            sim_per_call_ms,
            better="lower",
        ),
        Result(
            f"ccboxd RSS, {AGENTS} agents at {CALLS_PER_HOUR} calls/h",
            rss.peak,
            "MB",
            "ccboxd RSS idle",
            rss.idle,
            better="lower",
        ),
    ]
