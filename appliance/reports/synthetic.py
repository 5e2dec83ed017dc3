"""Synthetic history: months of a center's raw rows, as the daemon writes them, fast.

For the demo (months of history behind the monthly report), the benchmarks (a year of a
300-agent center) and the tests. What is written is what real calls leave behind
(ivr/call_record.py, ivr/queue_step.py, ivr/interpreter.py, acd/service.py): a ``calls``
row per call with its report columns (flow, queued_at, queue_outcome, wait_ms, talk_ms,
hold_ms), its ``call_events`` (flow_start, each ivr_step, queued, the queue's outcome,
hangup, voicemail_left), the agents' ``agent_events`` (login, ringing, on_call, wrap_up,
available, pauses with their reason, logout), a ``recordings`` row per answered call, a few
QA evaluations and voicemails.

The day has a shape (quiet nights, the morning rise, a lunch dip, the afternoon), the week
too (busy Mondays, quiet weekends), and Monday mornings bring more callers than the
staffing plan expected. Each queue's team is staffed every half hour with Erlang C for 80 %
within 20 s of the planned load; in a few "bad" half hours (about one opening half hour in
200) half the team is missing, and the callers wait long and hang up. Queues are simulated
call by call (first come, first served; the agent free first answers; a caller whose
patience runs out abandons; one who reaches the queue's max wait leaves a message), so
waits, abandons and agents' states agree with each other.

Everything is deterministic from the seed. Rows are written through the DB-API in big
batches: ``executemany`` in one transaction on SQLite, ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from acd.erlang import agents_needed
from appliance.db.engine import SQLITE_SYNCHRONOUS

# Each local half hour's share of a day's callers, 00:00 to 23:30: quiet nights, the morning
# rise to the 10:00 peak, the lunch dip, a smaller afternoon peak, the evening tail.
SHAPE = (
    0.1,
    0.08,
    0.06,
    0.05,
    0.04,
    0.04,
    0.04,
    0.04,
    0.05,
    0.06,
    0.08,
    0.1,
    0.2,
    0.35,
    0.6,
    1.0,
    1.6,
    2.2,
    2.8,
    3.2,
    3.5,
    3.6,
    3.4,
    3.1,
    2.6,
    2.3,
    2.5,
    2.8,
    3.0,
    3.1,
    3.0,
    2.8,
    2.5,
    2.2,
    1.8,
    1.5,
    1.2,
    1.0,
    0.8,
    0.65,
    0.5,
    0.4,
    0.3,
    0.25,
    0.2,
    0.16,
    0.13,
    0.11,
)
# Monday to Sunday against an average weekday.
WEEK = (1.18, 1.02, 0.98, 0.97, 0.95, 0.50, 0.35)
MONDAY_MORNING = 1.3  # 08:00-12:00 on Mondays, more callers than the plan expected
BAD_SHARE = 1 / 200  # opening half hours (08:00-18:00) with half the team missing
TARGET, THRESHOLD_S = 0.8, 20.0  # what the teams are staffed for
# What a queue did with a caller (calls.queue_outcome), by code ("" : never queued) and the
# call's disposition for each.
OUTCOMES = ("", "answered", "abandoned", "voicemail", "overflow", "callback")
OUTCOME_CODE = {name: code for code, name in enumerate(OUTCOMES)}
DISPOSITION_OF = ("completed", "completed", "abandoned", "voicemail", "overflow", "callback")
DISPOSITIONS = ("completed", "abandoned", "voicemail", "overflow", "callback")
BREAK_SHARE = 0.03  # calls after which the agent takes a break of 5 to 15 minutes
PAUSE_REASONS = ("break", "lunch", "training", "meeting")
MAX_STEPS = 8  # ivr_steps of a path before its queue
EPOCH = np.datetime64("1970-01-01T00:00:00", "us")

CALLS = (
    "id",
    "uniqueid",
    "linkedid",
    "direction",
    "caller_number",
    "caller_name",
    "called_number",
    "trunk",
    "channel",
    "queue_id",
    "agent_id",
    "started_at",
    "answered_at",
    "ended_at",
    "hangup_cause",
    "disposition",
    "agent_answered_at",
    "talk_ms",
    "flow_id",
    "entry_queue_id",
    "queued_at",
    "queue_outcome",
    "wait_ms",
    "hold_ms",
)
CALL_EVENTS = ("id", "call_id", "kind", "data", "at")
AGENT_EVENTS = ("id", "agent_id", "state", "reason", "at")
RECORDINGS = (
    "id",
    "call_id",
    "path",
    "started_at",
    "duration_ms",
    "size_bytes",
    "sha256",
    "format",
    "agent_id",
    "queue_id",
    "direction",
    "caller_number",
    "caller_name",
    "called_number",
    "trunk",
    "channel_number",
    "reason",
    "talk_over_ratio",
    "silence_ratio",
    "caller_talk_ratio",
    "agent_talk_ratio",
    "legs_mismatch_ms",
    "peaks",
    "paused_ms",
    "encrypted",
    "qa_score",
)
QA_EVALUATIONS = (
    "id",
    "recording_id",
    "form_id",
    "agent_id",
    "queue_id",
    "evaluator",
    "score",
    "answers",
    "comment",
    "created_at",
)
# A caller who pressed the queue's callback key (and was called back).
CALLBACKS = (
    "id",
    "queue_id",
    "number",
    "requested_at",
    "source",
    "state",
    "attempts",
    "done_at",
)
CALLBACK_AFTER_S = 60.0  # the queue offers a callback to a caller who waited this long
CALLBACK_SHARE = 0.2  # callers who take it
VOICEMAILS = (
    "id",
    "mailbox",
    "call_id",
    "caller_number",
    "caller_name",
    "received_at",
    "duration_ms",
    "path",
    "heard",
    "kind",
)
# Every table written, with its columns, in the order they are loaded.
TABLES: dict[str, tuple[str, ...]] = {
    "calls": CALLS,
    "call_events": CALL_EVENTS,
    "agent_events": AGENT_EVENTS,
    "recordings": RECORDINGS,
    "qa_evaluations": QA_EVALUATIONS,
    "voicemails": VOICEMAILS,
    "callbacks": CALLBACKS,
}


@dataclass(frozen=True)
class Step:
    """One ivr_step a path writes before its queue (or its end)."""

    node: str
    type: str
    input: str = ""
    branch: str | None = "next"


@dataclass(frozen=True)
class Path:
    """A way through the flow, ``weight`` callers in the hundred: the steps, then the queue
    (``team``: an index into Center.teams; None: the flow serves the caller alone) at node
    ``queue_node``, or a message left in ``mailbox`` at the end."""

    weight: float
    steps: tuple[Step, ...]
    team: int | None = None
    queue_node: str = ""
    mailbox: str = ""


@dataclass(frozen=True)
class Team:
    """A queue and the agents who answer it."""

    queue_id: int
    queue_name: str
    agent_ids: tuple[int, ...]
    talk_s: float = 180.0  # mean talk (log-normal)
    wrapup_s: float = 15.0
    max_wait_s: float = 300.0  # then the caller leaves a message in ``mailbox``
    mailbox: str = ""
    record: bool = True


GENERIC_PATHS = (
    Path(86, (Step("main", "menu", "1", "1"),), team=0, queue_node="queue"),
    Path(
        14, (Step("main", "menu", "9", "9"), Step("info", "play"), Step("bye", "hangup", "", None))
    ),
)


@dataclass(frozen=True)
class Center:
    """What the history is of: teams, numbers, the flow's paths and the traffic."""

    teams: tuple[Team, ...]
    dids: tuple[str, ...] = ("4008000000",)
    paths: tuple[Path, ...] = GENERIC_PATHS
    zone: str = "UTC"
    calls_per_day: float = 1000.0  # an average weekday's callers
    flow_id: int | None = None
    flow_name: str = "main"
    flow_version: int = 1
    patience_s: float = 150.0  # how long a caller waits before hanging up: 4 s + exponential
    form_id: int | None = None  # QA: one answered call in a hundred scored on this form
    qa_items: tuple[tuple[str, int], ...] = ()  # (question id, its most points)
    qa_share: float = 0.01
    # (weekday, local half hour) -> share of the team staffed (bad half hours come on top)
    short_staffed: dict[tuple[int, int], float] = field(default_factory=dict)
    # The local hours the teams work (from, to); callers outside them hear the menus alone
    # (the paths without a queue).
    open_hours: tuple[int, int] = (7, 22)


@dataclass
class Summary:
    """What a load wrote: rows per table, the short-staffed half hours (UTC starts: the
    random bad ones and the Center's ``short_staffed``), the time taken."""

    days: int = 0
    calls: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    bad_half_hours: list[dt.datetime] = field(default_factory=list)
    seconds: float = 0.0  # in all; of which:
    generate_s: float = 0.0  # making the rows
    write_s: float = 0.0  # writing them
    index_s: float = 0.0  # building the indexes again after a bulk load
    last_ids: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_s(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


Batch = dict[str, list[tuple[Any, ...]]]


@dataclass
class Day:
    """One day's callers, column by column (numpy arrays, one entry per call)."""

    ids: np.ndarray
    arrive: np.ndarray
    path: np.ndarray
    step_at: np.ndarray  # (calls, MAX_STEPS): when each ivr_step is written
    n_steps: np.ndarray
    queued_at: np.ndarray
    outcome: np.ndarray  # OUTCOMES' codes
    agent: np.ndarray
    answer: np.ndarray
    left: np.ndarray
    end: np.ndarray
    talk: np.ndarray
    hold: np.ndarray
    caller: np.ndarray
    did: np.ndarray


DAY_S = 86400
# "HH:MM:SS.000000" of every second of a day
_CLOCK = np.array(
    [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000" for s in range(DAY_S)],
    dtype=object,
)


class _SecondTexts:
    """Each second's text, a day's worth at a time (the date before the day's 86,400 clock
    texts, made once), looked up after: the loads' time went to formatting times."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.days: dict[int, np.ndarray] = {}

    def day(self, number: int) -> np.ndarray:
        table = self.days.get(number)
        if table is None:
            if len(self.days) >= self.keep:
                del self.days[next(iter(self.days))]
            date = (dt.date(1970, 1, 1) + dt.timedelta(days=number)).isoformat() + " "
            table = self.days[number] = np.array([date + t for t in _CLOCK], dtype=object)
        return table

    def __call__(self, epoch_s: np.ndarray) -> list[str]:
        """Epoch seconds -> naive UTC text as SQLAlchemy stores it (and PostgreSQL reads it),
        to the second, floored (so each time stays in its quarter hour)."""
        sec = np.floor(np.asarray(epoch_s, dtype=np.float64)).astype(np.int64)
        if not len(sec):
            return []
        day, clock = np.divmod(sec, DAY_S)
        lo, hi = int(day.min()), int(day.max())
        if lo == hi:
            return self.day(lo)[clock].tolist()
        out = np.empty(len(sec), dtype=object)
        for number in np.unique(day).tolist():
            here = day == number
            out[here] = self.day(number)[clock[here]]
        return out.tolist()


_times = _SecondTexts()


class _Shift:
    """One team's agents through the days: who is on, when each is free, and the states
    they go through (the agent_events)."""

    def __init__(self, team: Team, zone: ZoneInfo) -> None:
        self.team = team
        self.zone = zone
        self.on: list[tuple[float, int]] = []  # heap of (free at, agent id)
        self.off: dict[int, tuple[float, str]] = {a: (0.0, "logged_out") for a in team.agent_ids}
        self.ev_at: list[float] = []  # the agents' events: when, and (agent, state, reason)
        self.ev: list[tuple[int, str, str]] = []

    def event(self, at: float, agent: int, state: str, reason: str = "") -> None:
        self.ev_at.append(at)
        self.ev.append((agent, state, reason))

    def staff(
        self, at: float, wanted: int, rng: np.random.Generator, back_soon: bool = False
    ) -> None:
        """``wanted`` agents on from ``at``: the idle ones leave first (a pause when they
        are ``back_soon`` in the day, else a logout), the paused come back first."""
        wanted = min(wanted, len(self.team.agent_ids))
        if len(self.on) > wanted:
            self.on.sort()
            leaving, self.on = self.on[: len(self.on) - wanted], self.on[len(self.on) - wanted :]
            heapq.heapify(self.on)
            hour = dt.datetime.fromtimestamp(at, self.zone).hour
            for free_at, agent in leaving:
                when = max(at, free_at)
                if back_soon and 9 <= hour < 18:
                    reason = "lunch" if 11 <= hour < 14 else str(rng.choice(PAUSE_REASONS))
                    self.event(when, agent, "paused", reason)
                    self.off[agent] = (when, "paused")
                else:
                    self.event(when, agent, "logged_out")
                    self.off[agent] = (when, "logged_out")
        elif len(self.on) < wanted:
            # the paused come back first, then whoever is off longest
            ready = sorted(self.off.items(), key=lambda kv: (kv[1][1] != "paused", kv[1][0]))
            for agent, (since, _) in ready[: wanted - len(self.on)]:
                when = max(at, since + 1.0)  # after the pause, never at the same instant
                self.event(when, agent, "available")
                heapq.heappush(self.on, (when, agent))
                del self.off[agent]

    def close(self, at: float) -> None:
        """Everyone still on logs out at the end of the history (after their last call)."""
        for free_at, agent in self.on:
            self.event(max(at, free_at), agent, "logged_out")
        for agent, (since, state) in self.off.items():
            if state == "paused":
                self.event(max(at, since), agent, "logged_out")
        self.on = []


class Generator:
    """The rows of ``days`` days from ``first_day`` (local dates in the center's zone)."""

    def __init__(
        self,
        center: Center,
        first_day: dt.date,
        days: int,
        seed: int = 1,
        first_ids: dict[str, int] | None = None,
        full: bool = True,
    ) -> None:
        """``full``: every row a call leaves; else only the calls rows."""
        self.full = full
        self.center = center
        self.zone = ZoneInfo(center.zone)
        self.first_day = first_day
        self.days = days
        self.rng = np.random.default_rng(seed)
        self.next_id = {t: 1 for t in TABLES} | (first_ids or {})
        self.shifts = [_Shift(t, self.zone) for t in center.teams]
        self.bad: list[dt.datetime] = []
        weights = np.array([p.weight for p in center.paths], dtype=float)
        self.path_p = weights / weights.sum()
        alone = np.array([p.team is None and not p.mailbox for p in center.paths], dtype=float)
        menus = weights * alone
        self.menus_only = menus / menus.sum() if menus.sum() else None
        # each team's share of all callers, for the staffing plan
        self.team_share = [
            sum(p for p, path in zip(self.path_p, center.paths, strict=True) if path.team == i)
            for i in range(len(center.teams))
        ]
        self._plans: dict[tuple[int, int], int] = {}
        self._steps: dict[Step, str] = {}
        self._callbacks: list[tuple[Any, ...]] = []

    def _ids(self, table: str, n: int) -> range:
        first = self.next_id[table]
        self.next_id[table] = first + n
        return range(first, first + n)

    def _plan(self, team: int, rate_per_s: float) -> int:
        t = self.center.teams[team]
        key = (team, round(rate_per_s * 36000))  # calls per 10 h: fine enough
        if key not in self._plans:
            handle = 5.0 + t.talk_s + t.wrapup_s
            self._plans[key] = agents_needed(max(rate_per_s, 1e-6), handle, TARGET, THRESHOLD_S)
        return self._plans[key]

    def batches(self) -> Iterator[Batch]:
        """One batch of rows per day (the last also logs every agent out)."""
        shape = np.array(SHAPE) / sum(SHAPE)
        for d in range(self.days):
            day = self.first_day + dt.timedelta(days=d)
            yield self._day(day, shape, last=d == self.days - 1)

    def _day(self, day: dt.date, shape: np.ndarray, last: bool) -> Batch:
        c, rng = self.center, self.rng
        weekday = day.weekday()
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), self.zone)
        starts = np.array(
            [
                dt.datetime.combine(day, dt.time(h // 2, 30 * (h % 2)), self.zone).timestamp()
                for h in range(48)
            ]
            + [midnight.timestamp()]
        )
        planned = c.calls_per_day * WEEK[weekday] * shape  # callers per half hour
        actual = planned.copy()
        if weekday == 0:
            actual[16:24] *= MONDAY_MORNING
        counts = rng.poisson(actual)
        slot = np.repeat(np.arange(48), counts)
        width = np.diff(starts)
        arrive = np.sort(starts[slot] + rng.random(len(slot)) * width[slot])
        n = len(arrive)
        bad = [s for s in range(16, 36) if rng.random() < BAD_SHARE]
        short = [s for s in range(48) if c.short_staffed.get((weekday, s), 1.0) < 1.0]
        self.bad.extend(
            dt.datetime.fromtimestamp(starts[s], dt.UTC) for s in sorted({*bad, *short})
        )
        # the callers: their path, number, the DID, how long each IVR step takes, patience,
        # talk (log-normal around the team's mean) and hold
        path_of = rng.choice(len(c.paths), size=n, p=self.path_p)
        slot = np.searchsorted(starts, arrive, side="right") - 1
        closed = (slot // 2 < c.open_hours[0]) | (slot // 2 >= c.open_hours[1])
        if self.menus_only is not None and closed.any():
            path_of[closed] = rng.choice(len(c.paths), size=int(closed.sum()), p=self.menus_only)
        caller = np.minimum(rng.zipf(1.4, n), 99_999_999)
        did = rng.integers(0, len(c.dids), n).tolist()
        patience = (4.0 + rng.exponential(c.patience_s, n)).tolist()
        ring = rng.uniform(2.0, 8.0, n).tolist()
        step_s = rng.uniform(4.0, 12.0, (n, MAX_STEPS))
        mean_talk = np.array(
            [c.teams[p.team].talk_s if p.team is not None else 0.0 for p in c.paths]
        )
        talk = (mean_talk[path_of] * np.exp(0.6 * rng.standard_normal(n) - 0.18)).tolist()
        hold = np.where(rng.random(n) < 0.1, rng.uniform(10, 90, n), 0.0).tolist()
        # after a call, now and then, a short break (09:00-18:00)
        breather = np.where(rng.random(n) < BREAK_SHARE, rng.uniform(300, 900, n), 0.0).tolist()
        calls_back = (rng.random(n) < CALLBACK_SHARE).tolist()
        # when each caller is done with the menus (and joins its queue)
        n_steps = np.array([len(p.steps) for p in c.paths])[path_of]
        cum = np.cumsum(step_s, axis=1)
        q_at = (
            arrive
            + 0.5
            + np.where(n_steps > 0, cum[np.arange(n), np.clip(n_steps - 1, 0, MAX_STEPS - 1)], 0)
        ).tolist()
        ids = self._ids("calls", n)
        queued: list[list[int]] = [[] for _ in c.teams]
        for i, p in enumerate(path_of.tolist()):
            team = c.paths[p].team
            if team is not None:
                queued[team].append(i)
        outcome: list[str] = [""] * n
        agent = [0] * n
        answer = [0.0] * n
        left = [0.0] * n  # when the caller left the queue (answered: the agent's answer)
        for team_i, members in enumerate(queued):
            self._simulate(
                team_i, members, q_at, starts, planned, bad, weekday,
                patience, ring, talk, hold, breather, calls_back, outcome, agent, answer, left,
            )  # fmt: skip
        o = np.array([OUTCOME_CODE[x] for x in outcome], dtype=np.int8)
        q = np.array(q_at)
        answer_a, left_a, talk_a, hold_a = (np.array(x) for x in (answer, left, talk, hold))
        end = np.where(
            o == 1,
            answer_a + talk_a + hold_a,
            np.where(o > 0, left_a + np.where(o == 3, 25.0, 1.0), q + 2.0),
        )
        columns = Day(
            ids=np.arange(ids.start, ids.stop),
            arrive=arrive,
            path=path_of,
            step_at=arrive[:, None] + 0.5 + cum,
            n_steps=n_steps,
            queued_at=q,
            outcome=o,
            agent=np.array(agent),
            answer=answer_a,
            left=left_a,
            end=end,
            talk=talk_a,
            hold=hold_a,
            caller=caller,
            did=np.array(did),
        )
        return self._rows(columns, starts[-1], last)

    def _rows(self, d: Day, day_end: float, last: bool) -> Batch:
        """The day's calls, call events, recordings and voicemails as rows, column by
        column."""
        c = self.center
        n = len(d.ids)
        paths = c.paths
        team_of_path = np.array([-1 if p.team is None else p.team for p in paths])
        team = team_of_path[d.path]
        in_queue = team >= 0
        answered = d.outcome == 1
        queue_ids = np.array([t.queue_id for t in c.teams] + [0], dtype=object)

        def where(mask: np.ndarray, values: Any) -> list[Any]:
            out = np.array(values, dtype=object) if not isinstance(values, np.ndarray) else values
            out = out.astype(object)
            out[~mask] = None
            return out.tolist()

        ids = d.ids.tolist()
        numbers = [f"138{x:08d}" for x in d.caller.tolist()]
        uids = [f"{a:.0f}.{i}" for a, i in zip(d.arrive.tolist(), ids, strict=True)]
        called = np.array(c.dids, dtype=object)[d.did].tolist()
        chans = np.array([f"DAHDI/{k + 1}-1" for k in range(120)], dtype=object)
        chan = chans[d.ids % 120].tolist()
        started = _times(d.arrive)
        agent_at = _times(d.answer)
        # the flow's own voicemail (a path ending in a mailbox) or the queue's when full
        vm_path = np.array([p.mailbox != "" for p in paths])[d.path] & ~in_queue
        team_box = np.array([t.mailbox != "" for t in c.teams] + [False])
        vm_queue = (d.outcome == 3) & team_box[team]
        disposition = np.array(DISPOSITION_OF, dtype=object)[d.outcome]
        disposition[vm_path] = "voicemail"
        talk_ms = (d.talk * 1000).astype(np.int64)
        wait_ms = ((d.left - d.queued_at) * 1000).astype(np.int64)
        calls = list(
            zip(
                ids,
                uids,
                uids,
                ["inbound"] * n,
                numbers,
                [""] * n,
                called,
                ["DAHDI"] * n,
                chan,
                where(in_queue, queue_ids[team]),
                where(answered, d.agent),
                started,
                _times(d.arrive + 0.5),
                _times(d.end),
                [16] * n,
                disposition.tolist(),
                where(answered, np.array(agent_at, dtype=object)),
                where(answered, talk_ms),
                [c.flow_id] * n,
                where(in_queue, queue_ids[team]),
                where(in_queue, np.array(_times(d.queued_at), dtype=object)),
                where(in_queue, np.array(OUTCOMES, dtype=object)[d.outcome]),
                where(in_queue, wait_ms),
                where(answered, (d.hold * 1000).astype(np.int64)),
                strict=True,
            )
        )
        event_rows: list[tuple[Any, ...]] = []
        recordings: list[tuple[Any, ...]] = []
        voicemails: list[tuple[Any, ...]] = []
        if self.full:  # else the calls rows alone (the benchmarks' year)
            # the call events, kind by kind, then put in time order
            ev_at: list[np.ndarray] = []
            ev_call: list[np.ndarray] = []
            ev_kind: list[np.ndarray] = []
            ev_data: list[np.ndarray] = []

            def events(mask: np.ndarray, at: np.ndarray, kind: Any, data: Any) -> None:
                ev_at.append(at[mask])
                ev_call.append(d.ids[mask])
                k = np.asarray(kind, dtype=object)
                ev_kind.append(k[mask] if k.ndim else np.full(int(mask.sum()), kind, dtype=object))
                v = np.asarray(data, dtype=object)
                ev_data.append(v[mask] if v.ndim else np.full(int(mask.sum()), data, dtype=object))

            everyone = np.ones(n, dtype=bool)
            flow = json.dumps({"flow": c.flow_name, "version": c.flow_version})
            events(everyone, d.arrive + 0.5, "flow_start", flow)
            most = max((len(p.steps) for p in paths), default=0)
            table = np.full((len(paths), max(1, most)), "", dtype=object)
            for k, p in enumerate(paths):
                for j, st in enumerate(p.steps):
                    table[k, j] = self._step(st)
            for j in range(most):
                events(d.n_steps > j, d.step_at[:, j], "ivr_step", table[d.path, j])
            joined = np.array(
                [json.dumps({"queue": t.queue_name, "priority": 0}) for t in c.teams] + [""],
                dtype=object,
            )
            events(in_queue, d.queued_at, "queued", joined[team])
            gone = np.array(
                [json.dumps({"agent": None, "queue": t.queue_id}) for t in c.teams] + [""],
                dtype=object,
            )
            took = np.array(
                [
                    f'{{"agent": {a}, "queue": {q}}}'
                    for a, q in zip(d.agent.tolist(), queue_ids[team].tolist(), strict=True)
                ],
                dtype=object,
            )
            events(
                in_queue,
                d.left,
                np.array(OUTCOMES, dtype=object)[d.outcome],
                np.where(answered, took, gone[team]),
            )
            leaving = np.full((len(paths), len(OUTCOMES)), "", dtype=object)
            for k, p in enumerate(paths):
                for code, name in enumerate(OUTCOMES):
                    if code:
                        how = ("", "hangup") if name == "abandoned" else (name, None)
                        leaving[k, code] = self._step(Step(p.queue_node, "queue", *how))
            events(
                in_queue, np.where(answered, d.end, d.left), "ivr_step", leaving[d.path, d.outcome]
            )
            boxes = np.array([p.mailbox for p in paths], dtype=object)[d.path]
            boxes[in_queue] = np.array([t.mailbox for t in c.teams] + [""], dtype=object)[
                team[in_queue]
            ]
            vm_at = np.where(in_queue, d.left, d.queued_at) + 20.0
            vm_data = np.full(n, "", dtype=object)
            for i in np.flatnonzero(vm_path | vm_queue).tolist():
                voicemails.append(self._voicemail(boxes[i], ids[i], numbers[i], vm_at[i], 20))
                vm_data[i] = self._vm_data(boxes[i])
            events(vm_path | vm_queue, vm_at, "voicemail_left", vm_data)
            back = np.flatnonzero(d.outcome == OUTCOME_CODE["callback"]).tolist()
            asked = _times(d.left[back])
            done = _times(d.left[back] + 900.0)
            self._callbacks = [
                (cb, int(queue_ids[team[i]]), numbers[i], at, "queue", "done", 1, end)
                for cb, i, at, end in zip(
                    self._ids("callbacks", len(back)), back, asked, done, strict=True
                )
            ]
            hangups = {x: json.dumps({"disposition": x}) for x in set(disposition.tolist())}
            events(
                everyone, d.end, "hangup", np.array([hangups[x] for x in disposition], dtype=object)
            )
            at = np.concatenate(ev_at)
            order = np.argsort(at, kind="stable")
            event_rows = list(
                zip(
                    self._ids("call_events", len(at)),
                    np.concatenate(ev_call)[order].tolist(),
                    np.concatenate(ev_kind)[order].tolist(),
                    np.concatenate(ev_data)[order].tolist(),
                    _times(at[order]),
                    strict=True,
                )
            )
            # recordings of the answered calls of the teams that record
            records = np.array([t.record for t in c.teams] + [False])
            rec = np.flatnonzero(answered & records[team])
            rec_ids = self._ids("recordings", len(rec))
            rec_at = [agent_at[i] for i in rec.tolist()]
            rec_ms = talk_ms[rec].tolist()
            recordings = list(
                zip(
                    rec_ids,
                    d.ids[rec].tolist(),
                    [
                        f"synthetic/{a[:10].replace('-', '/')}/call{i}.wav"
                        for a, i in zip(rec_at, d.ids[rec].tolist(), strict=True)
                    ],
                    rec_at,
                    rec_ms,
                    (44 + talk_ms[rec] * 32).tolist(),
                    [""] * len(rec),
                    ["wav"] * len(rec),
                    d.agent[rec].tolist(),
                    queue_ids[team[rec]].tolist(),
                    ["inbound"] * len(rec),
                    [numbers[i] for i in rec.tolist()],
                    [""] * len(rec),
                    [called[i] for i in rec.tolist()],
                    ["DAHDI"] * len(rec),
                    (d.ids[rec] % 120 + 1).tolist(),
                    strict=True,
                )
            )
        if last:
            for shift in self.shifts:
                shift.close(day_end)
        return self._batch(calls, event_rows, recordings, voicemails, day_end, last)

    def _simulate(
        self,
        team_i: int,
        members: list[int],
        q_at: list[float],
        starts: np.ndarray,
        planned: np.ndarray,
        bad: list[int],
        weekday: int,
        patience: list[float],
        ring: list[float],
        talk: list[float],
        hold: list[float],
        breather: list[float],
        calls_back: list[bool],
        outcome: list[str],
        agent: list[int],
        answer: list[float],
        left: list[float],
    ) -> None:
        """First come, first served to the agent free first; the staffing moves at each
        half hour."""
        c = self.center
        team = c.teams[team_i]
        shift = self.shifts[team_i]
        wanted = [
            self._plan(team_i, planned[s] * self.team_share[team_i] / 1800.0) for s in range(48)
        ]
        opens, closes = c.open_hours
        absent: set[int] = set()  # short-staffed half hours: the missing are away (logged out)
        for s in range(48):
            share = c.short_staffed.get((weekday, s), 1.0) * (0.5 if s in bad else 1.0)
            is_open = opens <= s // 2 < closes and self.team_share[team_i] > 0
            if share < 1.0:
                absent.add(s)
            wanted[s] = max(1, round(wanted[s] * share)) if is_open else 0
        soon = [
            s not in absent and any(w > wanted[s] for w in wanted[s + 1 : s + 3]) for s in range(48)
        ]
        members.sort(key=q_at.__getitem__)
        bounds = starts.tolist()
        next_slot = 0
        max_wait, wrapup = team.max_wait_s, team.wrapup_s
        full = "voicemail" if team.mailbox else "overflow"
        on, rng = shift.on, self.rng
        replace = heapq.heapreplace
        ev_at, ev = shift.ev_at, shift.ev
        for i in members:
            q = q_at[i]
            while next_slot < 48 and bounds[next_slot] <= q:
                shift.staff(bounds[next_slot], wanted[next_slot], rng, soon[next_slot])
                on = shift.on
                next_slot += 1
            if not on:  # a team without agents (or closed): nobody answers
                outcome[i], left[i] = "abandoned", q + min(patience[i], max_wait)
                continue
            free_at, a = on[0]
            rang = q if q > free_at else free_at
            answered = rang + ring[i]
            wait = answered - q
            if calls_back[i] and wait > CALLBACK_AFTER_S and patience[i] > CALLBACK_AFTER_S:
                outcome[i], left[i] = "callback", q + CALLBACK_AFTER_S
                continue
            if wait > patience[i] and patience[i] < max_wait:
                outcome[i], left[i] = "abandoned", q + patience[i]
                continue
            if wait > max_wait:
                outcome[i], left[i] = full, q + max_wait
                continue
            talk_end = answered + talk[i] + hold[i]
            free = talk_end + wrapup
            ev_at += (rang, answered, talk_end, free)
            ev += ((a, "ringing", ""), (a, "on_call", ""), (a, "wrap_up", ""), (a, "available", ""))
            if breather[i] and 19 <= next_slot <= 36:  # this half hour is in 09:00-18:00
                ev_at += (free, free + breather[i])
                ev += ((a, "paused", "break"), (a, "available", ""))
                free += breather[i]
            replace(on, (free, a))
            outcome[i], agent[i], answer[i], left[i] = "answered", a, answered, answered
        while next_slot < 48:
            shift.staff(bounds[next_slot], wanted[next_slot], rng, soon[next_slot])
            next_slot += 1

    def _step(self, step: Step) -> str:
        text = self._steps.get(step)
        if text is None:
            text = self._steps[step] = self._step_json(step)
        return text

    def _step_json(self, step: Step) -> str:
        c = self.center
        return json.dumps(
            {
                "flow": c.flow_name,
                "version": c.flow_version,
                "node": step.node,
                "type": step.type,
                "input": step.input,
                "branch": step.branch,
            }
        )

    def _vm_data(self, mailbox: str) -> str:
        message = self.next_id["voicemails"] - 1
        return json.dumps({"mailbox": mailbox, "message": message, "seconds": 20.0})

    def _voicemail(
        self, mailbox: str, call_id: int, number: str, at: float, seconds: int
    ) -> tuple[Any, ...]:
        (vid,) = self._ids("voicemails", 1)
        when = _times(np.array([at]))[0]
        path = f"{mailbox}/synthetic-call{call_id}.wav"
        return (vid, mailbox, call_id, number, "", when, seconds * 1000, path, True, "message")

    def _batch(
        self,
        calls: list[tuple[Any, ...]],
        call_events: list[tuple[Any, ...]],
        recordings: list[tuple[Any, ...]],
        voicemails: list[tuple[Any, ...]],
        day_end: float,
        last: bool,
    ) -> Batch:
        c, rng = self.center, self.rng
        batch: Batch = {t: [] for t in TABLES}
        batch["calls"] = calls
        batch["call_events"] = call_events
        # the agents' events up to the day's end now; the rest (a call past midnight) with
        # tomorrow's
        at = [t for shift in self.shifts for t in shift.ev_at]
        ev = [e for shift in self.shifts for e in shift.ev]
        for shift in self.shifts:
            shift.ev_at.clear()
            shift.ev.clear()
        if not last and self.shifts:
            later = [k for k, t in enumerate(at) if t >= day_end]
            self.shifts[0].ev_at.extend(at[k] for k in later)
            self.shifts[0].ev.extend(ev[k] for k in later)
            keep = [k for k, t in enumerate(at) if t < day_end]
            at, ev = [at[k] for k in keep], [ev[k] for k in keep]
        if self.full:
            batch["agent_events"] = _in_time_order(self._ids, "agent_events", at, ev)
        # recordings: the DSP's figures, and one in a hundred scored
        n = len(recordings)
        talk_over = np.round(np.where(rng.random(n) < 0.6, rng.uniform(0, 0.12, n), 0.0), 4)
        silence = np.round(rng.uniform(0.05, 0.35, n), 4)
        caller_talk = np.round(rng.uniform(0.25, 0.55, n), 4)
        scored = (rng.random(n) < c.qa_share) if c.form_id is not None else np.zeros(n, bool)
        scores = np.round(np.clip(rng.normal(82, 9, n), 20, 100), 1)
        agent_talk = np.round(np.maximum(0.0, 1 - silence - caller_talk + talk_over), 4)
        score_of = [s if k else None for s, k in zip(scores.tolist(), scored.tolist(), strict=True)]
        rows = [
            (*rec, "policy", over, quiet, left, mine, 0, "[]", 0, False, score)
            for rec, over, quiet, left, mine, score in zip(
                recordings,
                talk_over.tolist(),
                silence.tolist(),
                caller_talk.tolist(),
                agent_talk.tolist(),
                score_of,
                strict=True,
            )
        ]
        for rec, score in zip(recordings, score_of, strict=True):
            if score is not None:
                batch["qa_evaluations"].append(self._evaluation(rec, score, day_end))
        batch["recordings"] = rows
        batch["voicemails"] = voicemails
        batch["callbacks"], self._callbacks = self._callbacks, []
        return batch

    def _evaluation(self, rec: tuple[Any, ...], score: float, day_end: float) -> tuple[Any, ...]:
        (eid,) = self._ids("qa_evaluations", 1)
        answers = {
            q: round(top * min(1.0, max(0.0, score / 100 + self.rng.normal(0, 0.1))))
            for q, top in self.center.qa_items
        }
        when = _times(np.array([day_end - 3600.0]))[0]
        return (
            eid,
            rec[0],
            self.center.form_id,
            rec[8],
            rec[9],
            "qa",
            score,
            json.dumps(answers, sort_keys=True),
            "",
            when,
        )


def _in_time_order(
    ids: Callable[[str, int], range], table: str, at: list[float], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Rows (id, *row, at) in time order, as they would have been written (a stable sort:
    a call's events at the same instant keep their order); ids given in that order."""
    if not rows:
        return []
    order = np.argsort(np.array(at), kind="stable")
    texts = _times(np.array(at)[order])
    new = ids(table, len(rows))
    return [(eid, *rows[k], text) for eid, k, text in zip(new, order.tolist(), texts, strict=True)]


# ---- loading ------------------------------------------------------------------------------


def next_ids(conn: Any) -> dict[str, int]:
    """The first free id of every table written (a DB-API connection)."""
    cur = conn.cursor()
    out = {}
    for table in TABLES:
        cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608 (constants)
        out[table] = int(cur.fetchone()[0]) + 1
    cur.close()
    return out


def insert_sqlite(conn: Any, batch: Batch, per: int = 100) -> None:
    """A batch by executemany on a sqlite3 connection (in the caller's transaction), ``per``
    rows a statement (fewer statements to step through: about 1.5 times the rows a second
    of one row a statement)."""
    cur = conn.cursor()
    for table, rows in batch.items():
        if not rows:
            continue
        cols = TABLES[table]
        one = "(" + ", ".join("?" * len(cols)) + ")"
        head = f"INSERT INTO {table} ({', '.join(cols)}) VALUES "  # noqa: S608 (constants)
        whole = len(rows) // per * per
        if whole:
            flat = chain.from_iterable
            cur.executemany(
                head + ", ".join([one] * per),
                (tuple(flat(rows[i : i + per])) for i in range(0, whole, per)),
            )
        if whole < len(rows):
            cur.executemany(head + one, rows[whole:])
    cur.close()


def insert_postgresql(conn: Any, batch: Batch) -> None:
    """A batch by COPY on a psycopg connection (in the caller's transaction)."""
    with conn.cursor() as cur:
        for table, rows in batch.items():
            if rows:
                sql = f"COPY {table} ({', '.join(TABLES[table])}) FROM STDIN"
                with cur.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)


def advance_sequences(conn: Any) -> None:
    """PostgreSQL: the id sequences past the ids written here, so the daemon's next rows
    do not collide with them."""
    with conn.cursor() as cur:
        for table in TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )


def create_indexes(dbapi: Any, postgresql: bool, statements: Iterable[str]) -> None:
    """Build the indexes ``drop_indexes`` dropped again (its CREATE statements)."""
    for sql in statements:
        if postgresql:
            with dbapi.cursor() as cur:
                cur.execute(sql)
        else:
            dbapi.execute(sql)


def drop_indexes(dbapi: Any, postgresql: bool) -> list[str]:
    """Drop the loaded tables' secondary indexes; their CREATE statements, to run after."""
    names = tuple(TABLES)
    if postgresql:
        with dbapi.cursor() as cur:
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE tablename = ANY(%s) "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                (list(names),),
            )
            found = cur.fetchall()
            for name, _ in found:
                cur.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in found]
    marks = ", ".join("?" * len(names))
    where = f"type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks})"
    query = "SELECT name, sql FROM sqlite_master WHERE " + where  # noqa: S608 (placeholders)
    found = dbapi.execute(query, names).fetchall()
    for name, _ in found:
        dbapi.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def _load(
    dbapi: Any,
    postgresql: bool,
    center: Center,
    first_day: dt.date,
    days: int,
    seed: int,
    progress: Callable[[int, int, Summary], None] | None,
    bulk: bool,
    summary: Summary,
    full: bool,
) -> Generator:
    indexes = drop_indexes(dbapi, postgresql) if bulk else []
    if bulk and postgresql:
        with dbapi.cursor() as cur:
            try:
                cur.execute("SAVEPOINT replica")
                cur.execute("SET LOCAL session_replication_role = replica")
            except Exception:  # not a superuser: the triggers run
                cur.execute("ROLLBACK TO SAVEPOINT replica")
    gen = Generator(center, first_day, days, seed, next_ids(dbapi), full)
    insert = insert_postgresql if postgresql else insert_sqlite
    # One thread: making the next day's rows in another while this one's are written was
    # slower (both need the GIL for most of their work: the writer binds every value).
    made = time.perf_counter()
    for d, batch in enumerate(gen.batches()):
        written = time.perf_counter()
        summary.generate_s += written - made
        insert(dbapi, batch)
        made = time.perf_counter()
        summary.write_s += made - written
        summary.calls += len(batch["calls"])
        for table, rows in batch.items():
            summary.rows[table] += len(rows)
        if progress is not None:
            progress(d + 1, days, summary)
    built = time.perf_counter()
    create_indexes(dbapi, postgresql, indexes)
    summary.index_s = time.perf_counter() - built
    if postgresql:
        advance_sequences(dbapi)
    return gen


def load(
    engine: Any,
    center: Center,
    first_day: dt.date,
    days: int,
    seed: int = 1,
    progress: Callable[[int, int, Summary], None] | None = None,
    bulk: bool = False,
    full: bool = True,
) -> Summary:
    """Write ``days`` days of ``center``'s history from ``first_day`` into the database of
    ``engine`` (a SQLAlchemy engine; migrated, with the center's agents and queues), in
    one transaction; ``progress(day, days, summary)`` after each day. ``bulk``: drop the
    tables' secondary indexes while loading and build them again after (a big load into
    a database nobody uses meanwhile), and on PostgreSQL skip the foreign-key triggers
    when the user may (the rows are made to fit). ``full``: every row calls leave (else
    the calls rows alone)."""
    summary = Summary(days=days)
    started = time.perf_counter()
    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    postgresql = engine.dialect.name == "postgresql"
    if not postgresql:
        # one explicit transaction (the DB-API's would commit each DROP INDEX by itself)
        level = dbapi.isolation_level
        dbapi.isolation_level = None
        dbapi.execute("PRAGMA synchronous=OFF")
        dbapi.execute("PRAGMA cache_size=-262144")
        if bulk:  # the rows are made to fit; a rollback journal in memory, not a WAL copy
            dbapi.execute("PRAGMA foreign_keys=OFF")
            dbapi.execute("PRAGMA journal_mode=MEMORY")
        dbapi.execute("BEGIN")
    try:
        gen = _load(dbapi, postgresql, center, first_day, days, seed, progress, bulk, summary, full)
        if postgresql:
            raw.commit()
        else:
            dbapi.execute("COMMIT")
    except BaseException:
        if postgresql:
            raw.rollback()
        else:
            dbapi.execute("ROLLBACK")
        raise
    finally:
        if not postgresql:
            dbapi.execute("PRAGMA journal_mode=WAL")
            dbapi.execute("PRAGMA foreign_keys=ON")
            dbapi.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            dbapi.isolation_level = level
        # not back to the pool: the next user gets a connection as the engine makes them
        # (this one's pragmas, its temporary store opened by the index builds, ...)
        raw.invalidate()
        raw.close()
    summary.bad_half_hours = gen.bad
    summary.last_ids = {t: i - 1 for t, i in gen.next_id.items()}
    summary.seconds = time.perf_counter() - started
    return summary


def rows_of(
    center: Center, first_day: dt.date, days: int, seed: int = 1, full: bool = True
) -> Iterator[Batch]:
    """The batches without a database (tests, and the benchmarks' plain baseline)."""
    return Generator(center, first_day, days, seed, full=full).batches()


def demo_center_of(teams: Sequence[Team], **options: Any) -> Center:
    """A center of ``teams`` with the generic paths spread over them by team size."""
    total = sum(len(t.agent_ids) for t in teams) or 1
    paths = [
        Path(
            86 * len(t.agent_ids) / total,
            (Step("main", "menu", str(k + 1), str(k + 1)),),
            k,
            "queue",
        )
        for k, t in enumerate(teams)
    ]
    paths.append(GENERIC_PATHS[1])
    return Center(teams=tuple(teams), paths=tuple(paths), **options)
