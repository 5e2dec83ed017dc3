"""Raw rows -> additive rollup deltas: pure functions, no database (README.md says what every
measure means; the maintainer and the rebuild both feed rows through here, so the two agree).

Rows come in as tuples in the column orders below, times as UTC epoch seconds (floats;
None when the column is NULL). Deltas accumulate in ``Acc`` at the quarter-hour grain and
are rolled up to hours, days and months when read (``Acc.rows``): every quarter hour lies
in exactly one local hour, day and month, so that is exact, and four times cheaper than
adding every fact four times.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from appliance.db import model
from appliance.reports import clock

Q15 = 900

# The rollup tables: their key columns (after grain and bucket) and measure columns, in
# order. Measures named in MAX_MEASURES merge as a maximum, every other one as a sum.
TRAFFIC_MEASURES = model.TRAFFIC_COUNTS + model.TRAFFIC_SECONDS
AGENT_MEASURES = (
    "logged_in_s",
    "available_s",
    "ringing_s",
    "on_call_s",
    "wrap_up_s",
    "paused_s",
    "handled",
    "missed",
)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "report_traffic": (("scope", "key"), TRAFFIC_MEASURES),
    "report_overflow": (("queue_id", "kind", "target"), ("count",)),
    "report_agent": (("agent_id",), AGENT_MEASURES),
    "report_pause": (("agent_id", "reason"), ("seconds", "count")),
    "report_ivr": (("flow_id", "node", "outcome"), ("count",)),
    "report_qa": (("agent_id", "queue_id", "form_id", "item"), ("score_sum", "count")),
    "report_outbound": (("campaign_id", "outcome"), ("count", "talk_s", "wait_s")),
}
MAX_MEASURES = frozenset({"wait_max_s"})

_T = {name: i for i, name in enumerate(TRAFFIC_MEASURES)}
_N_T = len(TRAFFIC_MEASURES)
_WAIT_MAX = _T["wait_max_s"]
_AGENT = {name: i for i, name in enumerate(TABLES["report_agent"][1])}
# agent state -> its report_agent seconds column (logged_out: none)
_STATE_COLUMN = {
    "available": _AGENT["available_s"],
    "ringing": _AGENT["ringing_s"],
    "on_call": _AGENT["on_call_s"],
    "wrap_up": _AGENT["wrap_up_s"],
    "paused": _AGENT["paused_s"],
}
_LOGGED = _AGENT["logged_in_s"]
_N_AGENT = len(_AGENT)
_WRAP = _T["wrapup_s"]
# Abandons by wait: (upper bound in seconds, column), the last bin open-ended.
AB_BINS: tuple[tuple[int, str], ...] = (
    (10, "ab_lt10"),
    (20, "ab_lt20"),
    (30, "ab_lt30"),
    (60, "ab_lt60"),
    (120, "ab_lt120"),
    (300, "ab_lt300"),
)
_AB = tuple((b, _T[c]) for b, c in AB_BINS)
_AB_GE = _T["ab_ge300"]
# Queue outcomes after which the caller left to somewhere else than an agent (counted as
# overflowed, and in report_overflow with this kind).
OVERFLOW_OUTCOMES = {"extension": "extension", "overflow": "hangup"}

# The raw rows' columns, in the order the facts read them (the readers select them so).
CALL_COLUMNS = (
    "id",
    "direction",
    "started_at",
    "called_number",
    "queue_id",
    "agent_id",
    "agent_answered_at",
    "talk_ms",
    "flow_id",
    "entry_queue_id",
    "queued_at",
    "overflow_queue_id",
    "queue_outcome",
    "wait_ms",
    "hold_ms",
    "transfers",
)
AGENT_EVENT_COLUMNS = ("id", "agent_id", "at", "state", "reason")
QA_COLUMNS = ("id", "agent_id", "queue_id", "form_id", "score", "answers", "created_at")
CALLBACK_COLUMNS = ("id", "queue_id", "requested_at")
VOICEMAIL_COLUMNS = ("id", "mailbox", "received_at", "duration_ms")
RECORDING_COLUMNS = ("id", "queue_id", "agent_id", "started_at", "duration_ms")
DIAL_COLUMNS = (
    "id",
    "campaign_id",
    "started_at",
    "answered_at",
    "ended_at",
    "outcome",
    "wait_ms",
)
# An IVR step: (call id, flow name, node id, branch or None).
STEP_COLUMNS = ("call_id", "flow", "node", "branch")
HUNG_UP = "hangup"  # ivr/interpreter.py's branch of a step where the caller hung up


@dataclass(frozen=True)
class World:
    """What the facts need besides the rows, read when they are counted: the center's zone
    and thresholds, and the configuration that maps a row onto scopes (a queue's service
    level and skills, an agent's department, a flow's id by name, a queue's mailboxes)."""

    zone: ZoneInfo
    short_abandon_s: float = 5.0
    service_level_s: dict[int, float] = field(default_factory=dict)
    queue_skills: dict[int, tuple[int, ...]] = field(default_factory=dict)
    department: dict[int, str] = field(default_factory=dict)
    flows: dict[str, int] = field(default_factory=dict)
    mailbox_queue: dict[str, int] = field(default_factory=dict)

    def sl(self, queue_id: int | None) -> float:
        return self.service_level_s.get(queue_id, 20.0) if queue_id is not None else 20.0


Key = tuple[Any, ...]


class Acc:
    """Deltas at the quarter-hour grain: ``tables[name][(q15, *keys)] = measures``."""

    __slots__ = ("_up", "tables", "window")

    def __init__(self, window: tuple[float, float] | None = None) -> None:
        """``window`` (UTC epochs, [lo, hi)): facts at moments outside it are left out (the
        rebuild's days)."""
        self.tables: dict[str, dict[Key, list[float]]] = {name: {} for name in TABLES}
        self.window = window
        self._up: dict[tuple[int, ZoneInfo], tuple[int, int, int]] = {}

    def inside(self, epoch: float) -> bool:
        w = self.window
        return w is None or w[0] <= epoch < w[1]

    def add(self, table: str, key: Key, values: dict[int, float]) -> None:
        """Sum ``values`` ({measure index: value}) into ``key`` (q15 first)."""
        rows = self.tables[table]
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0.0] * len(TABLES[table][1])
        for i, v in values.items():
            row[i] += v

    def add_traffic(self, key: Key, values: dict[int, float]) -> None:
        rows = self.tables["report_traffic"]
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0.0] * _N_T
        for i, v in values.items():
            if i == _WAIT_MAX:
                if v > row[i]:
                    row[i] = v
            else:
                row[i] += v

    def add_vector(self, table: str, key: Key, values: list[float]) -> None:
        """Merge a whole measures vector (the rebuild's SQL sums) into ``key``."""
        rows = self.tables[table]
        row = rows.get(key)
        if row is None:
            rows[key] = values
            return
        _fold(row, values, _max_indexes(table))

    def merge(self, other: Acc, sign: float = 1.0) -> None:
        """Add ``other`` (times ``sign``: -1 takes a call's old facts back; a maximum is
        never taken back)."""
        for name, rows in other.tables.items():
            maxed = _max_indexes(name)
            mine = self.tables[name]
            for key, values in rows.items():
                row = mine.get(key)
                if row is None:
                    row = mine[key] = [0.0] * len(values)
                for i, v in enumerate(values):
                    if i in maxed:
                        if sign > 0 and v > row[i]:
                            row[i] = v
                    else:
                        row[i] += sign * v

    def __bool__(self) -> bool:
        return any(self.tables.values())

    def _rollup(self, q15: int, zone: ZoneInfo) -> tuple[int, int, int]:
        key = (q15, zone)
        up = self._up.get(key)
        if up is None:
            _, hour, day, month = clock.buckets_of(q15, zone)
            up = self._up[key] = (hour, day, month)
        return up

    def rows(
        self, zone: ZoneInfo, grains: tuple[str, ...] = clock.GRAINS
    ) -> dict[str, dict[Key, list[float]]]:
        """Every table's rows per grain: ``{table: {(grain, bucket, *keys): measures}}``."""
        out: dict[str, dict[Key, list[float]]] = {}
        for name, rows in self.tables.items():
            maxed = _max_indexes(name)
            merged: dict[Key, list[float]] = {}
            for key, values in rows.items():
                q15, rest = key[0], key[1:]
                hour, day, month = self._rollup(q15, zone)
                for grain, bucket in (("q15", q15), ("hour", hour), ("day", day), ("month", month)):
                    if grain not in grains:
                        continue
                    k = (grain, bucket, *rest)
                    row = merged.get(k)
                    if row is None:
                        merged[k] = list(values)
                    else:
                        _fold(row, values, maxed)
            out[name] = merged
        return out

    def to_json(self) -> str:
        return json.dumps({n: [[list(k), v] for k, v in r.items()] for n, r in self.tables.items()})

    @classmethod
    def from_json(cls, text: str) -> Acc:
        acc = cls()
        for name, rows in json.loads(text).items():
            if name in acc.tables:
                acc.tables[name] = {tuple(k): list(v) for k, v in rows}
        return acc


def _max_indexes(table: str) -> frozenset[int]:
    measures = TABLES[table][1]
    return frozenset(i for i, m in enumerate(measures) if m in MAX_MEASURES)


def _fold(row: list[float], values: Sequence[float], maxed: frozenset[int]) -> None:
    """Add ``values`` into ``row`` in place; the indexes in ``maxed`` keep the larger."""
    for i, v in enumerate(values):
        if i in maxed:
            if v > row[i]:
                row[i] = v
        else:
            row[i] += v


def _q(epoch: float) -> int:
    return int(epoch // Q15) * Q15


# ---- calls -------------------------------------------------------------------------------


def call_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """One finished call (CALL_COLUMNS): its traffic, its queue's overflow, its agent's
    handled call. The center, DID and flow count it when it started; queue, skill, agent
    and department when it joined its first queue (when it started, if it never did)."""
    (
        _id,
        direction,
        started,
        called,
        queue_id,
        agent_id,
        agent_answered,
        talk_ms,
        flow_id,
        entry_queue,
        queued,
        overflow_queue,
        outcome,
        wait_ms,
        hold_ms,
        transfers,
    ) = row
    m: dict[int, float] = {_T["calls"]: 1.0}
    wait = (wait_ms or 0) / 1000.0
    first_queue = entry_queue if entry_queue is not None else queue_id
    moved = overflow_queue is not None and overflow_queue != first_queue
    # the queue the call's outcome belongs to: where it overflowed into, else where it joined
    out_queue = overflow_queue if moved else first_queue
    if queued is not None and outcome is not None:
        m[_T["offered"]] = 1.0
        m[_WAIT_MAX] = wait
        sl = world.sl(out_queue)
        if outcome == "answered":
            m[_T["answered"]] = 1.0
            m[_T["wait_answered_s"]] = wait
            if wait <= sl:
                m[_T["answered_in_sl"]] = 1.0
        elif outcome == "abandoned":
            m[_T["abandoned"]] = 1.0
            m[_T["wait_abandoned_s"]] = wait
            if wait <= sl:
                m[_T["abandoned_in_sl"]] = 1.0
            if wait < world.short_abandon_s:
                m[_T["abandoned_short"]] = 1.0
            for bound, col in _AB:
                if wait < bound:
                    m[col] = 1.0
                    break
            else:
                m[_AB_GE] = 1.0
        elif outcome == "voicemail":
            m[_T["voicemail"]] = 1.0
        if outcome in OVERFLOW_OUTCOMES or moved:
            m[_T["overflowed"]] = 1.0
    if transfers:
        m[_T["transferred"]] = 1.0
    if agent_answered is not None:
        m[_T["handled"]] = 1.0
    if talk_ms:
        m[_T["talk_s"]] = talk_ms / 1000.0
    if hold_ms:
        m[_T["hold_s"]] = hold_ms / 1000.0
    if direction == "outbound":
        m[_T["outbound"]] = 1.0

    if acc.inside(started):
        q = _q(started)
        acc.add_traffic((q, "center", ""), m)
        if direction == "inbound" and called:
            acc.add_traffic((q, "did", str(called)[:64]), m)
        if flow_id is not None:
            acc.add_traffic((q, "flow", str(flow_id)), m)

    at = queued if queued is not None else started
    if not acc.inside(at):
        return
    q = _q(at)
    if first_queue is not None:
        if moved:
            # offered at the queue it joined and overflowed out of; the rest at the other
            entry: dict[int, float] = {_T["calls"]: 1.0, _T["overflowed"]: 1.0}
            if queued is not None and outcome is not None:
                entry[_T["offered"]] = 1.0
            acc.add_traffic((q, "queue", str(first_queue)), entry)
            acc.add("report_overflow", (q, first_queue, "queue", str(overflow_queue)), {0: 1.0})
            moved = dict(m)
            moved.pop(_T["overflowed"], None)
            acc.add_traffic((q, "queue", str(overflow_queue)), moved)
        else:
            acc.add_traffic((q, "queue", str(first_queue)), m)
        if outcome in OVERFLOW_OUTCOMES and out_queue is not None:
            kind = OVERFLOW_OUTCOMES[outcome]
            acc.add("report_overflow", (q, out_queue, kind, ""), {0: 1.0})
        for skill in world.queue_skills.get(out_queue, ()):
            acc.add_traffic((q, "skill", str(skill)), m)
    if agent_id is not None:
        agent_traffic(acc, q, agent_id, m, world)
        if agent_answered is not None:
            acc.add("report_agent", (q, agent_id), {_AGENT["handled"]: 1.0})


def ivr_facts(acc: Acc, started: float, steps: Iterable[tuple[Any, ...]], world: World) -> None:
    """A call's IVR steps (STEP_COLUMNS), counted when the call started: each node entered,
    the branch it left by, or the caller hanging up there. A flow no longer known by its
    name is left out."""
    if not acc.inside(started):
        return
    q = _q(started)
    for _call, flow, node, branch in steps:
        flow_id = world.flows.get(flow)
        if flow_id is None:
            continue
        node = str(node)[:64]
        acc.add("report_ivr", (q, flow_id, node, "entered"), {0: 1.0})
        if branch == HUNG_UP:
            acc.add("report_ivr", (q, flow_id, node, "hangup"), {0: 1.0})
        elif branch:
            acc.add("report_ivr", (q, flow_id, node, f"branch:{str(branch)[:64]}"), {0: 1.0})


# ---- agent states ------------------------------------------------------------------------


def agent_interval(
    acc: Acc,
    agent_id: int,
    state: str,
    reason: str,
    since: float,
    until: float,
    next_state: str | None,
    world: World,
) -> None:
    """An agent's state from ``since`` to ``until`` (known when the next state, of kind
    ``next_state``, arrived), split across quarter hours: report_agent's seconds (logged in
    for any state but logged_out), a pause by reason (counted once, where it started),
    wrap-up in report_traffic (agent, department, center), a ring not answered (missed)."""
    if state == "logged_out":
        return
    col = _STATE_COLUMN.get(state)
    dept = world.department.get(agent_id, "")[:64]
    reason = reason[:64]
    if acc.inside(since):
        q = _q(since)
        if state == "paused":
            acc.add("report_pause", (q, agent_id, reason), {1: 1.0})
        if state == "ringing" and next_state != "on_call":
            acc.add("report_agent", (q, agent_id), {_AGENT["missed"]: 1.0})
    start = since
    lo_hi = acc.window
    if lo_hi is not None:
        start = max(start, lo_hi[0])
        until = min(until, lo_hi[1])
    # the hot loop of a rebuild (millions of states): rows updated in place
    agents = acc.tables["report_agent"]
    logged = _LOGGED
    paused = state == "paused"
    wrap_up = state == "wrap_up"
    while start < until:
        q = int(start // Q15) * Q15
        end = min(until, float(q + Q15))
        span = end - start
        key = (q, agent_id)
        row = agents.get(key)
        if row is None:
            row = agents[key] = [0.0] * _N_AGENT
        row[logged] += span
        if col is not None:
            row[col] += span
        if paused:
            acc.add("report_pause", (q, agent_id, reason), {0: span})
        elif wrap_up:
            w = {_WRAP: span}
            acc.add_traffic((q, "agent", str(agent_id)), w)
            acc.add_traffic((q, "center", ""), w)
            if dept:
                acc.add_traffic((q, "department", dept), w)
        start = end


def agent_events_facts(
    acc: Acc,
    open_states: dict[int, tuple[str, str, float, int]],
    events: Iterable[tuple[Any, ...]],
    world: World,
) -> None:
    """Agent events (AGENT_EVENT_COLUMNS) in id order: each closes its agent's open state
    (``open_states[agent] = (state, reason, since, event id)``, updated in place) and opens
    its own. An event older than the open state (written out of order) counts nothing for
    the interval it would close (never a negative time)."""
    for ev_id, agent_id, at, state, reason in events:
        prev = open_states.get(agent_id)
        if prev is not None:
            if ev_id <= prev[3]:
                continue  # counted already
            p_state, p_reason, p_since, _ = prev
            agent_interval(
                acc, agent_id, p_state, p_reason, p_since, max(at, p_since), state, world
            )
            if at < p_since:
                at = p_since
        open_states[agent_id] = (state, reason or "", at, ev_id)


# ---- the other rows ----------------------------------------------------------------------


def qa_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """A QA evaluation (QA_COLUMNS), when it was made: its score under item "", and each
    question's points under the question's id."""
    _id, agent_id, queue_id, form_id, score, answers, created = row
    if not acc.inside(created):
        return
    q = _q(created)
    base = (q, agent_id or 0, queue_id or 0, form_id)
    acc.add("report_qa", (*base, ""), {0: float(score), 1: 1.0})
    try:
        points = json.loads(answers or "{}")
    except ValueError:
        points = {}
    if isinstance(points, dict):
        for item, value in points.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                acc.add("report_qa", (*base, str(item)[:64]), {0: float(value), 1: 1.0})


def callback_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """A callback request (from the queue, the IVR or the web), when it was made."""
    _id, queue_id, requested = row
    if not acc.inside(requested):
        return
    q = _q(requested)
    m = {_T["callbacks"]: 1.0}
    acc.add_traffic((q, "center", ""), m)
    if queue_id is not None:
        acc.add_traffic((q, "queue", str(queue_id)), m)


def voicemail_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """A voicemail message, when it was received: the center's, and its mailbox's queue's
    when a queue owns the mailbox."""
    _id, mailbox, received, duration_ms = row
    if not acc.inside(received):
        return
    q = _q(received)
    m = {_T["voicemails"]: 1.0, _T["voicemail_s"]: (duration_ms or 0) / 1000.0}
    acc.add_traffic((q, "center", ""), m)
    queue_id = world.mailbox_queue.get(mailbox)
    if queue_id is not None:
        acc.add_traffic((q, "queue", str(queue_id)), m)


def recording_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """A recording, when it started: the center's, its queue's, its agent's (and the
    agent's department's)."""
    _id, queue_id, agent_id, started, duration_ms = row
    if not acc.inside(started):
        return
    m = {_T["recordings"]: 1.0, _T["recording_s"]: (duration_ms or 0) / 1000.0}
    recording_traffic(acc, _q(started), queue_id, agent_id, m, world)


def recording_traffic(
    acc: Acc, q: int, queue_id: int | None, agent_id: int | None, m: dict[int, float], world: World
) -> None:
    """A recording's measures for the center, its queue and its agent (and department)."""
    acc.add_traffic((q, "center", ""), m)
    if queue_id is not None:
        acc.add_traffic((q, "queue", str(queue_id)), m)
    if agent_id is not None:
        agent_traffic(acc, q, agent_id, m, world)


def agent_traffic(acc: Acc, q: int, agent_id: int, m: dict[int, float], world: World) -> None:
    """Traffic measures for an agent and for the agent's department (if any)."""
    acc.add_traffic((q, "agent", str(agent_id)), m)
    dept = world.department.get(agent_id, "")
    if dept:
        acc.add_traffic((q, "department", dept[:64]), m)


def dial_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """A finished dial attempt (DIAL_COLUMNS), when it was placed: report_outbound by
    outcome, and the campaign's traffic (calls placed, answered by a person and taken by an
    agent, abandoned by the dialer, the customer's wait for the agent, the talk)."""
    _id, campaign_id, started, answered, ended, outcome, wait_ms = row
    if outcome is None or not acc.inside(started):
        return
    q = _q(started)
    wait = (wait_ms or 0) / 1000.0
    talk = max(0.0, ended - answered) if (answered is not None and ended is not None) else 0.0
    if outcome != "answered":
        talk = 0.0
    acc.add("report_outbound", (q, campaign_id, outcome), {0: 1.0, 1: talk, 2: wait})
    m = {_T["calls"]: 1.0, _T["outbound"]: 1.0}
    if outcome == "answered":
        m[_T["answered"]] = 1.0
        m[_T["wait_answered_s"]] = wait
        m[_T["talk_s"]] = talk
    elif outcome == "abandoned":
        m[_T["abandoned"]] = 1.0
    acc.add_traffic((q, "campaign", str(campaign_id)), m)


def ticket_facts(acc: Acc, row: tuple[Any, ...], world: World) -> None:
    """The hook for tickets (not in ccbox yet): when they come, their store adds
    ("ticket", id) to report_inbox, the maintainer's READERS gets a reader, and this counts
    them (a scope or a table of their own)."""
    raise NotImplementedError("tickets do not exist yet")
