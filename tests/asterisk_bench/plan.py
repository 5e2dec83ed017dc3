"""The pure parts of the real-switch benchmark (tests/asterisk_bench/switch_hold.py): the
seeded arrivals both modes replay, CPU-seconds from /proc, which callers were dropped, and
the figures as tests/benchmarks' ``Result`` entries. No Asterisk here: tests/unit tests it."""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.harness import Result
from tests.benchmarks.harness import table as harness_table

SPREAD_S = 10.0  # the callers arrive at random over this many seconds
HOLD_S = (30.0, 90.0)  # each hangs up after a hold drawn from this range, unless answered
TODAY_BRAIN_CPU_S = 0.016  # issue 21: ccboxd's own CPU per call today
MODES = ("app_queue", "ccboxd")


@dataclass(frozen=True)
class Arrival:
    """One caller: originated ``at_s`` after the start, hangs up ``hold_s`` after its
    answer unless a phone took it; ``channel_id`` is the uniqueid given to its ``;1`` half
    (``other_id``: the ``;2`` half, the harness's caller)."""

    index: int
    at_s: float
    hold_s: float
    number: str

    @property
    def channel_id(self) -> str:
        return f"bench-{self.index:04d}"

    @property
    def other_id(self) -> str:
        return f"bench-{self.index:04d}-2"


def schedule(callers: int, seed: int) -> list[Arrival]:
    """The arrivals of ``callers`` callers, in order: a function of (callers, seed) only,
    so both modes replay exactly the same ones."""
    rng = random.Random(f"switch-hold/{seed}/{callers}")
    times = sorted(rng.uniform(0, SPREAD_S) for _ in range(callers))
    return [
        Arrival(i, round(at, 3), round(rng.uniform(*HOLD_S), 1), f"1390{callers:03d}{i:04d}")
        for i, at in enumerate(times)
    ]


def stat_cpu_s(stat: str, ticks_per_s: int) -> float:
    """utime + stime (every thread of the process) of a /proc/<pid>/stat line, in seconds.
    The command name (field 2) may hold spaces and parentheses: fields are counted after its
    last ``)``."""
    fields = stat.rsplit(")", 1)[1].split()
    # after the name: state is field 3, so utime (14) and stime (15) are at 11 and 12
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def cpu_s(pid: int) -> float:
    """CPU-seconds process ``pid`` has used so far."""
    return stat_cpu_s(Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True)
class Outcome:
    """What the switch said about one caller: its channel went away (``gone``), a desk phone
    answered it (``answered``), its own hang-up came (``hung_up_itself``: the harness's
    HarnessCallerHangsUp, after its hold)."""

    arrival: Arrival
    gone: bool
    answered: bool
    hung_up_itself: bool


def outcomes(arrivals: list[Arrival], events: Iterable[dict[str, str]]) -> list[Outcome]:
    """Each caller's outcome from the harness's AMI events: the Hangup of its ``;1`` half
    (by the uniqueid the Originate gave it), a desk phone's HarnessPhoneAnswered naming its
    number, the HarnessCallerHangsUp of its ``;2`` half (tests/support/real_asterisk.py)."""
    gone: set[str] = set()
    answered: set[str] = set()
    itself: set[str] = set()
    for e in events:
        if e.get("Event") == "Hangup":
            gone.add(e.get("Uniqueid", ""))
        elif e.get("Event") == "UserEvent" and e.get("UserEvent") == "HarnessPhoneAnswered":
            answered.add(e.get("Caller", ""))
        elif e.get("Event") == "UserEvent" and e.get("UserEvent") == "HarnessCallerHangsUp":
            itself.add(e.get("Uniqueid", ""))
    return [
        Outcome(a, a.channel_id in gone, a.number in answered, a.other_id in itself)
        for a in arrivals
    ]


def dropped(outcomes: Iterable[Outcome]) -> list[Arrival]:
    """Callers whose channel ended before their own hang-up without a phone answering them:
    turned away, cut off or lost (a caller never seen to end counts too: the bench waited
    for every channel to go)."""
    return [o.arrival for o in outcomes if not o.answered and not o.hung_up_itself]


@dataclass(frozen=True)
class ModeRun:
    """One mode's run: Asterisk's CPU-seconds from just before the first arrival until the
    last caller was gone (+ a settle), over ``span_s``; the same over an equal span with no
    calls (``idle_cpu_s``); ccboxd's own CPU-seconds (None in app_queue mode)."""

    mode: str
    callers: int
    span_s: float
    switch_cpu_s: float
    idle_cpu_s: float
    brain_cpu_s: float | None
    answered: int
    dropped: int
    # ccboxd's own CPU-seconds a second with no call, measured after its warm-up (None in
    # app_queue mode): the part of brain_cpu_s that is time, not calls
    brain_idle_rate: float | None = None

    @property
    def switch_per_call(self) -> float:
        return self.switch_cpu_s / self.callers

    @property
    def idle_per_call(self) -> float:
        return self.idle_cpu_s / self.callers


def median_run(runs: list[ModeRun]) -> ModeRun:
    """One mode's rounds as one: the round of the median switch CPU (the lower middle one
    of an even count), with the worst round's dropped callers and the idle span measured
    (only the first round measures it)."""
    assert runs and len({(r.mode, r.callers) for r in runs}) == 1, runs
    middle = sorted(runs, key=lambda r: r.switch_cpu_s)[(len(runs) - 1) // 2]
    return dataclasses.replace(
        middle,
        idle_cpu_s=max(r.idle_cpu_s for r in runs),
        dropped=max(r.dropped for r in runs),
    )


def results(
    app: ModeRun,
    box: ModeRun,
    recording: bool = False,
    commit: str = "",
    rounds: list[float] | None = None,
) -> list[Result]:
    """The entries of one N: the ratio (ccboxd mode / app_queue mode, 1.0 = app_queue),
    each mode's switch CPU per call, ccboxd's CPU per call, callers dropped in each mode.
    ``rounds``: the ratio of each round, when there were several (in the ratio's note)."""
    assert app.mode == "app_queue" and box.mode == "ccboxd", (app.mode, box.mode)
    assert app.callers == box.callers, (app.callers, box.callers)
    assert box.brain_cpu_s is not None, "the ccboxd mode's run has no ccboxd CPU"
    n = app.callers
    tag = f"{n} callers" + (", recording on" if recording else "")
    at = f" (commit {commit})" if commit else ""
    ratio = box.switch_per_call / app.switch_per_call
    each = f"; each round's ratio {', '.join(f'{r:.2f}' for r in rounds)}" if rounds else ""
    spans = (
        f"spans {app.span_s:.0f} s / {box.span_s:.0f} s; answered {app.answered} / "
        f"{box.answered}{each}{at}"
    )
    return [
        Result(
            f"switch cpu per waiting caller ratio [{tag}]",
            ratio,
            "ratio",
            "app_queue on the same switch and arrivals (1.0)",
            1.0,
            better="lower",
            note=f"Asterisk CPU-s per call, ccboxd {box.switch_per_call:.3f} vs app_queue "
            f"{app.switch_per_call:.3f}; {spans}",
        ),
        Result(
            f"switch cpu per call [ccboxd, {tag}]",
            box.switch_per_call,
            "CPU-s",
            "switch cpu per call [app_queue]",
            app.switch_per_call,
            better="lower",
            note=(
                f"idle Asterisk (ccboxd connected) over the same span: {box.idle_cpu_s:.2f} "
                f"CPU-s ({box.idle_per_call:.4f} per caller){at}"
                if box.idle_cpu_s
                else f"idle not measured{at}"
            ),
        ),
        Result(
            f"switch cpu per call [app_queue, {tag}]",
            app.switch_per_call,
            "CPU-s",
            "idle Asterisk over the same span, per caller",
            app.idle_per_call,
            better="lower",
            note=(
                f"idle Asterisk (nothing connected but the harness) over the same span: "
                f"{app.idle_cpu_s:.2f} CPU-s{at}"
                if app.idle_cpu_s
                else f"idle not measured{at}"
            ),
        ),
        Result(
            f"brain cpu per call [{tag}]",
            box.brain_cpu_s / n,
            "CPU-s",
            "issue 21's figure for today",
            TODAY_BRAIN_CPU_S,
            better="lower",
            note=(
                f"ccboxd {box.brain_cpu_s:.2f} CPU-s over {box.span_s:.0f} s, after a "
                "warm-up; with no call it used "
                + (
                    f"{box.brain_idle_rate * 1000:.1f} ms a second"
                    if box.brain_idle_rate is not None
                    else "(not measured)"
                )
                + at
            ),
        ),
        *(
            Result(
                f"callers dropped [{run.mode}, {tag}]",
                float(run.dropped),
                "callers",
                "none dropped (the goal)",
                0.0,
                better="lower",
            )
            for run in (app, box)
        ),
    ]


def table(rows: list[Result]) -> str:
    """The table `make bench` prints (tests/benchmarks/harness.py), with four digits."""
    return harness_table(rows, digits=4)
