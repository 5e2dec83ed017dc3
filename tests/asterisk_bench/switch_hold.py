"""`make bench-asterisk`: what a waiting caller costs a real Asterisk 22 with ccboxd as the
brain, against Asterisk's own app_queue on the same build, configuration and arrivals
(issue 21: "a waiting caller should cost the switch no more than app_queue's").

For each N: N callers (the harness's ``Local/caller@harness-callers``) arrive at random over
10 s and hang up after a hold of 30-90 s (seeded: tests/asterisk_bench/plan.py) unless a
phone took them; two desk phones, IAX2/1001 and IAX2/1002, answer after 1 s and talk
``--talk`` s. Ring timeout 5 s, wrap-up 1 s, no announcements, music class "default" in
both modes, each on a fresh Asterisk process on the same private configuration:

- app_queue: the callers enter ``[harness-app-queue]``, hear the greeting ccboxd's built-in
  flow plays first (``Playback(ccbox-welcome)``), then ``Queue(bench,t)`` with the static
  members IAX2/1001 and IAX2/1002 (rrmemory, ringinuse=no; tests/support/real_asterisk.py's
  AppQueue). ccboxd is not running: the baseline is app_queue alone.
- ccboxd: the callers enter ``ccbox-inbound``; ccboxd (tests/support/real_box.py's seed,
  agents 1001 and 1002 logged in) routes them to the queue "support", with announcements
  off and its recording policy off (``--record``: on). The queue keeps its callback and
  voicemail keys (a caller may press them: ccboxd listens); ``--no-keys``: none, as
  app_queue without a ``context``. ccboxd runs ``WARM_S`` before the first arrival (a box
  runs for weeks: its first minute is no call's cost); its CPU rate with no call, measured
  at the end of that warm-up, is in the notes.

Measured: Asterisk's CPU-seconds (utime+stime of the process, every thread, /proc) from just
before the first arrival until every caller's channel has gone (+2 s), per caller; the same
over an equal span with no calls first (the idle switch, in the notes); ccboxd's own
CPU-seconds over its run, per caller; callers dropped (channel gone before its own hang-up
with no phone having answered it).

The harness's own AMI session costs the switch too (Asterisk writes every event it may read
to it), in both modes alike, which narrows the ratio: during the bench it sees only the few
events it needs (``--harness-events needed``: FullyBooted, SuccessfulAuth,
OriginateResponse, the harness's UserEvents and the callers' Hangups; ``all``: as
`make test-asterisk`). Measured at 60 callers in app_queue mode (a shared 2-core machine):
reading all of them (3,868 events) cost Asterisk 6.19 and 6.43 CPU-s, reading the needed
ones (257 events) 6.31, 6.73 and 5.96: the harness's share is below the noise of a round
(about +-0.4 CPU-s, 6 %), which is why ``--repeat`` exists. In ccboxd mode (more events:
AGI, music, variables) all of them (4,452) cost 7.59 CPU-s, the needed ones 7.04: about
0.5 CPU-s (7 %), which ``all`` would add mostly to the ccboxd side.

Before a measured run the bench says when other Asterisk processes are running (another
real-switch test: two loads on 2 cores skew the CPU-seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from appliance.db import model
from tests.asterisk_bench.plan import (
    Arrival,
    ModeRun,
    cpu_s,
    dropped,
    median_run,
    outcomes,
    results,
    schedule,
    table,
)
from tests.benchmarks.harness import Result
from tests.conftest import free_port
from tests.support import real_asterisk as ra
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import running_daemon
from tests.support.real_box import (
    DID,
    RealBox,
    generate_asterisk_files,
    seed_center,
    system_sounds,
    wait_ccbox_on_ami,
    write_box_config,
)

ROOT = Path(__file__).resolve().parents[2]
PHONES = ("1001", "1002")
RING_S = 1
SETTLE_S = 2.0
WARM_S = 60.0  # ccboxd runs this long after its start and the agents' login before a run
IDLE_PROBE_S = 20.0  # the warm-up's last seconds: ccboxd's idle CPU rate
QUEUE = ra.AppQueue(name="bench", members=tuple(f"IAX2/{p}" for p in PHONES))
HARNESS_NEEDS = (
    *ra.HARNESS_MINIMUM,
    ra.event_filter("UserEvent", "UserEvent", "Harness"),
    ra.event_filter("Hangup", "Uniqueid", "bench-"),
)


def other_asterisks(mine: int | None = None) -> list[int]:
    """Pids of asterisk processes other than ``mine`` (another test's load)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == mine:
            continue
        try:
            if (d / "comm").read_text().strip() == "asterisk":
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def wait_quiet(mine: int, wait_s: float) -> None:
    """Up to ``wait_s`` for other asterisk processes to end (then go on, saying so)."""
    deadline = time.monotonic() + wait_s
    while (others := other_asterisks(mine)) and time.monotonic() < deadline:
        time.sleep(5)
    if others:
        print(f"  warning: other asterisk processes running ({others}): figures skewed", flush=True)


class Site:
    """One N's private box: ccbox's configuration, database and generated Asterisk files,
    and the Asterisk configuration both modes start from."""

    def __init__(
        self,
        root: Path,
        install: ra.AsteriskInstall,
        sounds: Path,
        record: bool,
        all_events: bool,
        keys: bool = True,
    ) -> None:
        self.root = root
        self.install = install
        self.ports = ra.Ports(ami=free_port(), iax=ra.free_udp_port(), fastagi=free_port())
        self.config = write_box_config(root, self.ports)
        self.ids: dict[str, int] = {}
        migrate_and_seed(
            self.config,
            lambda db: self.ids.update(
                seed_center(
                    db,
                    {
                        "announce_every_s": 0,
                        "moh_class": "default",
                        **({} if keys else {"callback_key": "", "voicemail_key": ""}),
                    },
                )
            ),
        )
        engine = sa.create_engine(self.config.database_url)
        with engine.begin() as conn:
            conn.execute(sa.update(model.queues).values(record_calls=record))
        engine.dispose()
        generated = root / "ccbox-asterisk"
        generate_asterisk_files(self.config, generated, sounds=False)
        self.conf = ra.write_config(
            root / "asterisk",
            install,
            self.ports,
            generated,
            sounds,
            app_queue=QUEUE,
            harness_events=None if all_events else HARNESS_NEEDS,
        )

    @contextmanager
    def asterisk(self) -> Iterator[ra.RunningAsterisk]:
        with ra.running_asterisk(self.install, self.conf, self.ports, self.root / "asterisk") as a:
            for p in PHONES:
                a.set_global(f"PHONE_{p}", "answer")
                a.set_global(f"PHONE_RING_{p}", f"{RING_S}")
            yield a


def originate(ast: ra.RunningAsterisk, a: Arrival, context: str) -> None:
    """The caller dials in (no wait for the answer: arrivals keep their times)."""
    ast.ami.send(
        "Originate",
        [
            ("Channel", "Local/caller@harness-callers"),
            ("Context", context),
            ("Exten", DID),
            ("Priority", "1"),
            ("CallerID", f'"Bench {a.index}" <{a.number}>'),
            ("Async", "true"),
            ("Timeout", "10000"),
            ("ChannelId", a.channel_id),
            ("OtherChannelId", a.other_id),
            ("Variable", "CALLER_DIGITS="),
            ("Variable", "CALLER_DIGITS_AT=0"),
            ("Variable", f"CALLER_HANGUP_AFTER={a.hold_s:g}"),
        ],
    )


def wait_all_gone(
    ast: ra.RunningAsterisk, arrivals: list[Arrival], since: int, timeout: float
) -> None:
    """Until both halves of every caller's channel have hung up."""
    pending = {x for a in arrivals for x in (a.channel_id, a.other_id)}
    seen = since
    deadline = time.monotonic() + timeout
    with ast.ami.cond:
        while pending:
            for e in ast.ami.events[seen:]:
                if e.get("Event") == "Hangup":
                    pending.discard(e.get("Uniqueid", ""))
            seen = len(ast.ami.events)
            left = deadline - time.monotonic()
            if not pending:
                break
            if left <= 0 or ast.ami.closed:
                raise AssertionError(f"{len(pending)} caller channels still up after {timeout}s")
            ast.ami.cond.wait(min(left, 1.0))


def measure(
    ast: ra.RunningAsterisk,
    arrivals: list[Arrival],
    context: str,
    mode: str,
    brain_pid: int | None,
    idle: bool,
    quiet_s: float,
) -> ModeRun:
    """The idle span, then the arrivals; Asterisk's (and ccboxd's) CPU over each."""
    pid = ast.proc.pid
    planned = max(a.at_s + a.hold_s for a in arrivals) + SETTLE_S
    wait_quiet(pid, quiet_s)
    idle_cpu = 0.0
    if idle:
        c0 = cpu_s(pid)
        time.sleep(planned)
        idle_rate = (cpu_s(pid) - c0) / planned
    mark = ast.ami.mark()
    brain0 = cpu_s(brain_pid) if brain_pid else 0.0
    cpu0 = cpu_s(pid)
    t0 = time.monotonic()
    for a in arrivals:
        delay = t0 + a.at_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        originate(ast, a, context)
    wait_all_gone(ast, arrivals, mark, timeout=planned + 120)
    time.sleep(SETTLE_S)
    switch = cpu_s(pid) - cpu0
    others = other_asterisks(pid)
    if others:
        print(f"  warning: other asterisks ran meanwhile ({others}): figures skewed", flush=True)
    brain = cpu_s(brain_pid) - brain0 if brain_pid else None
    span = time.monotonic() - t0
    if idle:
        idle_cpu = idle_rate * span
    seen = outcomes(arrivals, ast.ami.find(lambda e: True, mark))
    failed = ast.ami.find(
        lambda e: e.get("Event") == "OriginateResponse" and e.get("Response") != "Success", mark
    )
    lost = dropped(seen)
    read = len(ast.ami.events) - mark
    print(
        f"  {mode}: {len(arrivals)} callers, span {span:.1f} s, Asterisk {switch:.2f} CPU-s "
        f"(idle {idle_cpu:.2f}), "
        + (f"ccboxd {brain:.2f} CPU-s, " if brain is not None else "")
        + f"answered {sum(o.answered for o in seen)}, dropped {len(lost)}"
        + (f" ({[a.number for a in lost][:10]})" if lost else "")
        + (f", {len(failed)} originates failed" if failed else "")
        + f"; the harness read {read} events",
        flush=True,
    )
    return ModeRun(
        mode, len(arrivals), span, switch, idle_cpu, brain, sum(o.answered for o in seen), len(lost)
    )


def run_app_queue(
    site: Site, arrivals: list[Arrival], talk: float, idle: bool, quiet_s: float
) -> ModeRun:
    with site.asterisk() as ast:
        for p in PHONES:
            ast.set_global(f"PHONE_TALK_{p}", f"{talk:g}")
        return measure(ast, arrivals, ra.APP_QUEUE_CONTEXT, "app_queue", None, idle, quiet_s)


def warm_up(pid: int) -> float:
    """A box runs for weeks: ccboxd's first minute (its periodic jobs' first runs, caches,
    imports on first use) is not what a call costs. Let it pass, then measure ccboxd's
    CPU-seconds a second with no call (its timers), for the notes."""
    time.sleep(WARM_S - IDLE_PROBE_S)
    c0 = cpu_s(pid)
    time.sleep(IDLE_PROBE_S)
    return (cpu_s(pid) - c0) / IDLE_PROBE_S


def run_ccboxd(
    site: Site, arrivals: list[Arrival], talk: float, idle: bool, quiet_s: float
) -> ModeRun:
    with site.asterisk() as ast:
        mark = ast.ami.mark()
        with running_daemon(site.config.path, site.root) as daemon:
            wait_ccbox_on_ami(ast, 30, mark)
            box = RealBox(site.root, site.config, ast, daemon, site.ids)
            try:
                for p in PHONES:
                    box.phone(p, ring=RING_S, talk=talk)
                box.agents_login(*PHONES)
                for p in PHONES:
                    box.wait_agent_state(p, "available")
                idle_rate = warm_up(daemon.proc.pid)
                run = measure(
                    ast, arrivals, "ccbox-inbound", "ccboxd", daemon.proc.pid, idle, quiet_s
                )
                run = dataclasses.replace(run, brain_idle_rate=idle_rate)
                log = box.daemon_log()
                if "Traceback" in log:
                    print("  ccboxd logged a traceback:\n" + log[-4000:], flush=True)
                return run
            finally:
                box.engine.dispose()
                if daemon.proc.poll() is None:
                    daemon.stop()
                (site.root / "notify.sock").unlink(missing_ok=True)


def commit() -> str:
    r = subprocess.run(
        ["git", "-C", str(ROOT), "log", "--format=%h", "-1"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    )
    changed = sorted(
        line[3:]
        for line in dirty.stdout.splitlines()
        if line[3:].split("/")[0] in ("acd", "drivers", "ivr", "recorder", "appliance")
    )
    return r.stdout.strip() + (f" + uncommitted {' '.join(changed)}" if changed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, nargs="+", default=[60, 240])
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "bench-asterisk.json")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--talk", type=float, default=15.0, help="agents' talk, seconds")
    parser.add_argument("--record", action="store_true", help="ccboxd's recording policy on")
    parser.add_argument(
        "--harness-events",
        choices=("needed", "all"),
        default="needed",
        help="what the harness's AMI session reads (all: as make test-asterisk)",
    )
    parser.add_argument("--no-idle", action="store_true", help="skip the idle spans")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of both modes per N (alternating); the entries take each mode's median",
    )
    parser.add_argument(
        "--no-keys",
        action="store_true",
        help="the ccboxd queue without its callback and voicemail keys (app_queue hears none)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="seconds to wait for other asterisk processes to end before each run",
    )
    parser.add_argument(
        "--modes", nargs="+", choices=("app_queue", "ccboxd"), default=["app_queue", "ccboxd"]
    )
    args = parser.parse_args(argv)
    try:
        install = ra.find_asterisk()
    except ra.AsteriskMissing as exc:
        print(f"make bench-asterisk: {exc}", file=sys.stderr)
        return 2
    at = commit()
    print(f"{install.version}; ccbox {at}; harness events: {args.harness_events}", flush=True)
    rows: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="ccbox-bench-ast-") as tmp:
        sounds = system_sounds(Path(tmp) / "sounds")
        for n in args.callers:
            arrivals = schedule(n, args.seed)
            runs: dict[str, list[ModeRun]] = {m: [] for m in args.modes}
            for round_ in range(args.repeat):
                for mode in args.modes:
                    site = Site(
                        Path(tmp) / f"{n}-{mode}-{round_}",
                        install,
                        sounds,
                        args.record,
                        args.harness_events == "all",
                        keys=not args.no_keys,
                    )
                    print(f"{n} callers, {mode}, round {round_ + 1} ...", flush=True)
                    run = run_app_queue if mode == "app_queue" else run_ccboxd
                    idle = not args.no_idle and round_ == 0
                    runs[mode].append(run(site, arrivals, args.talk, idle, args.wait_quiet))
            if len(runs) == 2:
                short = at.split(" ")[0] + (" + uncommitted changes" if " " in at else "")
                each = [
                    b.switch_cpu_s / a.switch_cpu_s
                    for a, b in zip(runs["app_queue"], runs["ccboxd"], strict=True)
                ]
                rows += results(
                    median_run(runs["app_queue"]),
                    median_run(runs["ccboxd"]),
                    args.record,
                    short,
                    each if args.repeat > 1 else None,
                )
    if rows:
        print("\n" + table(rows))
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
        print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
