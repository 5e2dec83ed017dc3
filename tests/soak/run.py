"""The soak: a busy center's day through the real ccboxd, on a compressed clock.

    python -m tests.soak.run --hours 24 --speed 60 --out build/soak.json   # make soak
    python -m tests.soak.run --hours 1 --speed 120 --out soak.json         # make test's

One process: ccboxd (the real service tree: database on a SQLite file, ACD, IVR, recorder,
web, AMI client, FastAGI server) and the switch simulator (AMI and FastAGI as Asterisk 22
speaks them, over real loopback sockets), on a reactor whose clock runs ``--speed`` times
the wall's (timewarp.py). The center is the demo's (the sample service-center flow on every
number, four queues, voicemail, complaint callbacks) with ``--agents`` agents; callers
arrive at ``--calls-per-hour`` (Poisson), walk the flow, hang up at every stage (in the IVR,
waiting, ringing, talking), and agents answer after a ring, talk, wrap up, pause, transfer
callers to queues and to each other, and log out and in.

Every ``--sample-min`` simulated minutes the run records the process's RSS and open
descriptors, the FastAGI server's sessions and running routes, the reactor's timers, the
callers in flight and the ACD's invariant (acd/invariants.py); at the end the traffic stops,
the calls drain, and every calls row must be closed. The figures and each check go to
``--out`` (JSON); the exit status is 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.soak import timewarp
from tests.support.ports import free_port

WARMUP_FRACTION = 0.25  # of the run: caches, pools and the first calls settle
GROWTH_LIMIT_PCT = 5.0
PAUSE_REASONS = ["break", "lunch", "meeting", "training"]


def _rss_bytes() -> int:
    """The resident set after a collection and ``malloc_trim``: memory that is free but not
    yet handed back (a recording's buffers just merged) is not a leak."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _sqlite_bytes() -> int:
    """What SQLite itself holds (its page caches, statements and schema: sqlite3_status64's
    SQLITE_STATUS_MEMORY_USED), from the library the sqlite3 module is linked to; 0 if that
    cannot be read. Page caches fill up to their bound as the database grows: resident
    memory that grows with them is bounded, not leaked."""
    with contextlib.suppress(OSError, AttributeError):
        lib = ctypes.CDLL("libsqlite3.so.0")
        cur, high = ctypes.c_int64(), ctypes.c_int64()
        if lib.sqlite3_status64(0, ctypes.byref(cur), ctypes.byref(high), 0) == 0:
            return int(cur.value)
    return 0


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def prepare_center(data_dir: Path, agents: int, verbose: bool = False) -> Any:
    """The demo's center on fresh ports, quiet logs, and ``agents`` agents in all."""
    from appliance import config as config_mod
    from appliance import demo, passwords
    from appliance.cli import open_db, resolved

    data_dir.mkdir(parents=True, exist_ok=True)
    text = config_mod.render(
        data_dir,
        web_port=free_port(),
        fastagi_port=free_port(),
        ami_port=free_port(),
        ami_secret=passwords.generate_password(),
        chat_port=free_port(),
    )
    if not verbose:
        text = text.replace("log_level = info", "log_level = warn")
    (data_dir / "ccbox.conf").write_text(text, encoding="utf-8")
    config = demo.prepare(data_dir, None)
    demo.seed(config)
    db = open_db(config)
    try:
        skills = {s.name: s.id for s in resolved(db.skills.list_all())}
        have = {a.number for a in resolved(db.agents.list_all())}
        for i in range(agents - len(have)):
            number = str(1101 + i)
            _, _, dept, levels = demo.AGENTS[i % len(demo.AGENTS)]
            row = resolved(db.agents.add(number, f"Soak agent {number}", dept, f"PJSIP/{number}"))
            for skill, level in levels.items():
                resolved(db.agents.set_skill(row.id, skills[skill], level))
    finally:
        resolved(db.stopService())
    return config


class Soak:
    """Drives the center once ccboxd is ready; samples; checks; writes the report."""

    def __init__(self, args: argparse.Namespace, config: Any) -> None:
        self.args = args
        self.config = config
        self.rng = random.Random(args.seed)
        self.samples: list[dict[str, Any]] = []
        self.violations: list[str] = []  # the agent-state invariant, broken for good
        self.faults: list[str] = []
        self.errors: dict[str, int] = {}  # error and critical log lines, by their start
        self.refusals: dict[str, int] = {}
        self._last_tick: float | None = None
        self.lag_s = 0.0  # since the last sample
        self.max_lag_s = 0.0
        self.actions = {
            "pauses": 0,
            "transfers": 0,
            "transfers_refused": 0,
            "relogins": 0,
        }
        self.report: dict[str, Any] = {}
        self.failed = True
        self.daemon: Any = None
        self.sim: Any = None
        self.reactor: Any = None

    # ---- start ----------------------------------------------------------------------------

    def switch(self, reactor: Any) -> Any:
        from appliance import demo
        from drivers.asterisk.simulator.switch import RandomDevice

        c = self.config
        self.sim = demo.switch_for(
            reactor,
            c,
            default_device=RandomDevice(ring_s=4.0, mean_talk_s=self.args.mean_talk_s),
            sounds_dir=demo.install_sounds(c.data_dir),
            seed=self.args.seed,
        )
        return self.sim

    def ready(self, daemon: Any) -> None:
        from twisted.internet import defer

        from appliance import demo

        self.daemon = daemon
        self.reactor = daemon.reactor
        d = defer.ensureDeferred(demo._render_prompts(daemon))
        d.addCallback(lambda _: defer.ensureDeferred(self.run()))
        d.addErrback(self._crashed)
        d.addBoth(lambda _: self.reactor.stop())

    def _crashed(self, failure: Any) -> None:
        self.report["error"] = failure.getTraceback()
        print(failure.getTraceback(), file=sys.stderr)

    async def _sleep(self, sim_s: float) -> None:
        from twisted.internet import task

        await task.deferLater(self.reactor, sim_s, lambda: None)

    async def run(self) -> None:
        from twisted.internet import task

        from appliance import demo

        a = self.args
        acd = self.daemon.master.acd
        if a.ended_calls is not None:
            self.daemon.master.callmodel.max_ended = a.ended_calls
        for agent in acd.agents.values():
            if agent.status == "active" and agent.state == "logged_out":
                acd.login(agent.id)
        await self._sleep(5)
        baseline = self._sample("baseline")
        wall0 = time.monotonic()
        sim0 = self.reactor.seconds()
        import datetime as dt

        started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        self.sim.start_traffic(a.calls_per_hour / 3600.0, demo._sample_center_caller)
        self.reactor.longest_stretch_s = 0.0  # the start-up (imports, seeding) is not the run
        sampler = task.LoopingCall(self._sample, "run")
        sampler.clock = self.reactor
        sampler.start(a.sample_min * 60.0, now=False)
        ticker = task.LoopingCall(self._tick)
        ticker.clock = self.reactor
        ticker.start(1.0)
        operator = task.LoopingCall(self._operate)
        operator.clock = self.reactor
        operator.start(30.0, now=False)
        await self._sleep(a.hours * 3600.0)
        operator.stop()
        sampler.stop()
        ticker.stop()
        traffic = self.sim.traffic
        await traffic.stopService()  # the callers still on the line hang up
        drained = await self._drain()
        final = self._sample("drained")
        db = self.daemon.master.db
        far = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        open_rows = await db.calls.open_before(far)
        rows = await db.calls.count_since(started)
        self._conclude(
            baseline,
            final,
            drained,
            open_rows=[r.uniqueid for r in open_rows],
            rows=rows,
            summary=traffic.summary.as_dict(),
            totals={k: v for k, v in acd.totals().items() if isinstance(v, int | float)},
            wall_s=time.monotonic() - wall0,
            sim_s=self.reactor.seconds() - sim0,
        )

    async def _drain(self) -> bool:
        """Until no FastAGI session, route or caller is left (at most 10 simulated minutes)."""
        factory = self.daemon.master.fastagi.factory
        for _ in range(600):
            if not (factory.sessions or factory.handlers or self.sim.traffic.in_flight):
                await self._sleep(30)  # wrap-ups and the last writes
                return True
            await self._sleep(1)
        return False

    # ---- the operators ------------------------------------------------------------------

    def _operate(self) -> None:
        """Every 30 s: an agent pauses (and comes back later), a call is transferred, and
        now and then an agent logs out and back in."""
        from twisted.internet import defer

        from acd import agent_state as st

        acd = self.daemon.master.acd
        if self.args.no_operators:
            return
        agents = list(acd.agents.values())
        available = [x for x in agents if x.state == st.AVAILABLE]
        paused = [x for x in agents if x.state == st.PAUSED]
        if available and len(paused) < len(agents) // 10 and self.rng.random() < 0.5:
            agent = self.rng.choice(available)
            acd.pause(agent.id, self.rng.choice(PAUSE_REASONS))
            self.actions["pauses"] += 1
            self.reactor.callLater(self.rng.uniform(60, 900), self._unpause, agent.id)
        on_call = [x for x in agents if x.state == st.ON_CALL]
        if on_call and self.rng.random() < 0.4:
            agent = self.rng.choice(on_call)
            if available and self.rng.random() < 0.3:
                kind, target = "agent", self.rng.choice(available).number
            else:
                kind, target = "queue", self.rng.choice(["sales", "billing", "support"])
            d = defer.ensureDeferred(acd.transfer(agent.id, kind, target))
            d.addCallbacks(lambda _: self._count("transfers"), self._refused)
        if available and self.rng.random() < 0.05:
            agent = self.rng.choice(available)
            acd.logout(agent.id)
            self.actions["relogins"] += 1
            self.reactor.callLater(self.rng.uniform(60, 600), self._login, agent.id)

    def log_observer(self, event: dict[str, Any]) -> None:
        """Counts ccboxd's error and critical log events (a route that crashed, a failed
        write): a day of ordinary traffic logs none."""
        from twisted.logger import LogLevel, formatEvent

        level = event.get("log_level")
        if level is not None and level >= LogLevel.error:
            text = formatEvent(event)
            failure = event.get("log_failure")
            if failure is not None:
                text += f": {type(failure.value).__name__}: {failure.value}"
            key = text[:160]
            self.errors[key] = self.errors.get(key, 0) + 1

    def _count(self, key: str) -> None:
        self.actions[key] += 1

    def _refused(self, failure: Any) -> None:
        """A transfer the ACD refused (the call ended meanwhile, the target got busy): what
        an agent sees as an error line; anything but ACDError is a fault."""
        from acd.service import ACDError

        self.actions["transfers_refused"] += 1
        why = str(failure.value)
        if not failure.check(ACDError):
            why = f"{type(failure.value).__name__}: {why}"
            self.faults.append(why)
        self.refusals[why[:60]] = self.refusals.get(why[:60], 0) + 1

    def _tick(self) -> None:
        """How late the reactor runs a timer, in simulated seconds: a run whose reactor
        lags is no longer the center it simulates (lower --speed)."""
        now = self.reactor.seconds()
        if self._last_tick is not None:
            self.max_lag_s = max(self.max_lag_s, now - self._last_tick - 1.0)
            self.lag_s = max(self.lag_s, now - self._last_tick - 1.0)
        self._last_tick = now

    def _unpause(self, agent_id: int) -> None:
        acd = self.daemon.master.acd
        if acd.agents[agent_id].state == "paused":
            acd.unpause(agent_id)

    def _login(self, agent_id: int) -> None:
        acd = self.daemon.master.acd
        if acd.agents[agent_id].state == "logged_out":
            acd.login(agent_id)

    # ---- samples and checks ---------------------------------------------------------------

    def _sample(self, phase: str) -> dict[str, Any]:
        master = self.daemon.master
        factory = master.fastagi.factory
        traffic = self.sim.traffic
        in_flight = len(traffic.in_flight) if traffic is not None else 0
        violations = master.acd.violations()
        if violations:
            # A violation is a state that lasts: the end of a call reaches the ACD over
            # FastAGI a moment after AMI's Hangup, and a sample may fall in between.
            seen = {(v.agent_id, v.kind, master.acd.agents[v.agent_id].since) for v in violations}
            self.reactor.callLater(2 * master.acd.invariant_margin_s, self._recheck, seen)
        sample = {
            "phase": phase,
            "sim_h": round((self.reactor.seconds() - self.sim.switch.started_at) / 3600.0, 3),
            "rss_mb": round(_rss_bytes() / 1048576, 2),
            "sqlite_mb": round(_sqlite_bytes() / 1048576, 2),
            "py_blocks": sys.getallocatedblocks(),  # the Python heap, after the collection
            "fds": _open_fds(),
            "agi_sessions": len(factory.sessions),
            "agi_routes": len(factory.handlers),
            "timers": len(self.reactor.getDelayedCalls()),
            "callers": in_flight,
            "violations_seen": len(violations),
            "agents_released": int(master.acd.released),
            "offered": traffic.summary.offered if traffic is not None else 0,
            "lag_s": round(self.lag_s, 2),
        }
        self.lag_s = 0.0
        self.samples.append(sample)
        if self.args.verbose:
            print(json.dumps(sample), flush=True)
        return sample

    def _recheck(self, seen: set[tuple[int, str, float]]) -> None:
        acd = self.daemon.master.acd
        for v in acd.violations():
            if (v.agent_id, v.kind, acd.agents[v.agent_id].since) in seen:
                self.violations.append(v.detail)

    def _conclude(
        self,
        baseline: dict[str, Any],
        final: dict[str, Any],
        drained: bool,
        *,
        open_rows: list[str],
        rows: int,
        summary: dict[str, int],
        totals: dict[str, Any],
        wall_s: float,
        sim_s: float,
    ) -> None:
        run = [s for s in self.samples if s["phase"] == "run"]
        warm = max(1, int(len(run) * self.args.warmup))
        after = run[warm:] or run[-1:]
        k = max(1, min(5, len(after) // 3))
        rss_start = statistics.median(s["rss_mb"] for s in after[:k])
        rss_end = statistics.median(s["rss_mb"] for s in after[-k:])
        growth = 100.0 * (rss_end - rss_start) / rss_start
        # the same without SQLite's own memory (its page caches fill up to their bound)
        rest_start = statistics.median(s["rss_mb"] - s["sqlite_mb"] for s in after[:k])
        rest_end = statistics.median(s["rss_mb"] - s["sqlite_mb"] for s in after[-k:])
        rest_growth = 100.0 * (rest_end - rest_start) / rest_start
        sqlite_start = statistics.median(s["sqlite_mb"] for s in after[:k])
        sqlite_end = statistics.median(s["sqlite_mb"] for s in after[-k:])
        heap_start = statistics.median(s["py_blocks"] for s in after[:k])
        heap_end = statistics.median(s["py_blocks"] for s in after[-k:])
        heap_growth = 100.0 * (heap_end - heap_start) / heap_start
        # Each caller in flight holds two descriptors here (the switch's end and ccboxd's):
        # the descriptors the process holds besides its calls must not grow.
        fds = [s["fds"] - 2 * s["agi_sessions"] for s in after]
        fd_start, fd_end = statistics.median(fds[:k]), statistics.median(fds[-k:])
        fd_growth = 100.0 * (fd_end - fd_start) / fd_start
        max_timers_per_call = max(
            (s["timers"] - baseline["timers"]) / (s["callers"] + 1) for s in run or [final]
        )
        checks = {
            "memory_flat": (
                growth < self.args.rss_limit and heap_growth < GROWTH_LIMIT_PCT,
                f"RSS {rss_start} -> {rss_end} MB ({growth:+.1f} %, limit "
                f"{self.args.rss_limit:g} %), Python heap {heap_growth:+.1f} % (limit "
                f"{GROWTH_LIMIT_PCT:g} %)",
            ),
            "fds_flat": (fd_growth < GROWTH_LIMIT_PCT, f"{fd_start} -> {fd_end}"),
            "fds_back_after_drain": (
                final["fds"] <= baseline["fds"] + 2,
                f"{baseline['fds']} before the traffic, {final['fds']} after it",
            ),
            "calls_drained": (drained, "no FastAGI session, route or caller left"),
            "no_leaked_sessions": (
                final["agi_sessions"] == 0 and final["agi_routes"] == 0,
                f"{final['agi_sessions']} sessions, {final['agi_routes']} routes after the drain",
            ),
            "no_leaked_timers": (
                final["timers"] <= baseline["timers"] + 10 and max_timers_per_call < 12,
                f"{baseline['timers']} before, {final['timers']} after, at most "
                f"{max_timers_per_call:.1f} per caller in flight",
            ),
            "invariant_held": (
                not self.violations and final["agents_released"] == 0,
                f"{len(self.violations)} violations that lasted {self.violations[:3]}, "
                f"{final['agents_released']} agents freed by the ACD's watch",
            ),
            "every_call_closed": (not open_rows, f"{len(open_rows)} open: {open_rows[:5]}"),
            "no_errors_logged": (
                not self.errors,
                f"{sum(self.errors.values())} error lines: {list(self.errors)[:3]}",
            ),
            "transfers_work": (
                self.actions["transfers"] > 0 and not self.faults,
                f"{self.actions['transfers']} done, {self.actions['transfers_refused']} "
                f"refused {sorted(self.refusals.items(), key=lambda kv: -kv[1])[:3]}",
            ),
            "callers_connected": (
                summary["failed"] <= 0.01 * summary["offered"],
                f"{summary['failed']} of {summary['offered']} callers failed (no FastAGI "
                "connection, or closed without a hangup)",
            ),
            "every_call_has_a_row": (
                rows >= summary["offered"] - summary["failed"],
                f"{rows} rows, {summary['offered']} offered, {summary['failed']} failed",
            ),
            "traffic_ran": (
                summary["offered"] >= 0.5 * self.args.calls_per_hour * self.args.hours,
                f"{summary['offered']} calls offered",
            ),
        }
        self.failed = not all(ok for ok, _ in checks.values())
        self.report = {
            "soak memory growth": round(growth, 2),
            "soak memory growth besides sqlite": round(rest_growth, 2),
            "fd growth": round(fd_growth, 2),
            "python heap growth": round(heap_growth, 2),
            "simulated_hours": round(sim_s / 3600.0, 2),
            "wall_s": round(wall_s, 1),
            "speed": self.args.speed,
            "agents": self.args.agents,
            "calls_per_hour": self.args.calls_per_hour,
            "traffic": summary,
            "call_rows": rows,
            "operators": self.actions,
            "transfer_refusals": self.refusals,
            "faults": self.faults[:20],
            "errors": self.errors,
            "max_reactor_lag_s": round(self.max_lag_s, 2),
            "longest_reactor_stretch_ms": round(1000 * self.reactor.longest_stretch_s, 1),
            "acd": totals,
            "rss_mb": {"baseline": baseline["rss_mb"], "start": rss_start, "end": rss_end},
            "sqlite_mb": {"start": sqlite_start, "end": sqlite_end},
            "peak": {
                key: max(s[key] for s in self.samples)
                for key in ("rss_mb", "fds", "agi_sessions", "timers", "callers")
            },
            "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()},
            "samples": self.samples,
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours of traffic")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    p.add_argument("--agents", type=int, default=60)
    p.add_argument("--calls-per-hour", type=float, default=2400.0)
    p.add_argument("--mean-talk-s", type=float, default=60.0)
    p.add_argument("--sample-min", type=float, default=10.0, help="simulated minutes")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument(
        "--warmup", type=float, default=WARMUP_FRACTION, help="the run's first part (0-1)"
    )
    p.add_argument("--data-dir", type=Path, help="default: a temporary directory")
    p.add_argument("--out", type=Path, required=True, help="the JSON report")
    p.add_argument("--verbose", action="store_true", help="print each sample")
    p.add_argument(
        "--ended-calls",
        type=int,
        help="the call model's history of ended calls (default: ccboxd's, 1,000): a short "
        "run shrinks it so that this bounded buffer is full before the warm-up ends",
    )
    p.add_argument(
        "--rss-limit",
        type=float,
        default=GROWTH_LIMIT_PCT,
        help="RSS growth allowed after the warm-up, %% (the Python heap's is always 5)",
    )
    p.add_argument("--no-operators", action="store_true", help="no pauses, transfers, logouts")
    args = p.parse_args(argv)

    reactor = timewarp.install(args.speed)  # before anything imports the reactor
    from appliance import daemon as daemon_mod

    with tempfile.TemporaryDirectory(prefix="ccbox-soak-") as tmp:
        config = prepare_center(args.data_dir or Path(tmp), args.agents, args.verbose)
        soak = Soak(args, config)
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(soak.log_observer)
        sim = soak.switch(reactor)
        reactor.callWhenRunning(sim.startService)
        reactor.addSystemEventTrigger("before", "shutdown", sim.stopService)
        code = daemon_mod.run(config, on_ready=soak.ready)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(soak.report, indent=1) + "\n")
    print(_summary(soak.report))
    if code:
        return code
    return 1 if soak.failed or "error" in soak.report else 0


def _summary(report: dict[str, Any]) -> str:
    if "checks" not in report:
        return f"soak: no report ({report.get('error', 'the run did not finish')})"
    lines = [
        f"soak: {report['simulated_hours']} simulated hours in {report['wall_s']} s "
        f"({report['agents']} agents, {report['traffic']['offered']} calls offered)",
        f"soak memory growth: {report['soak memory growth']} % "
        f"(RSS {report['rss_mb']['start']} -> {report['rss_mb']['end']} MB after warm-up; "
        f"SQLite's own {report['sqlite_mb']['start']} -> {report['sqlite_mb']['end']} MB, "
        f"the rest {report['soak memory growth besides sqlite']:+} %)",
    ]
    for name, check in report["checks"].items():
        lines.append(f"  {'ok  ' if check['ok'] else 'FAIL'} {name}: {check['detail']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
