"""The calls behind a figure: the raw ``calls`` rows a report figure counted, paged and
sorted, each with its recording (so the web can open the player).

Entry points:

- ``await drill_calls(db, filter, rng, scope, key, grain=..., bucket=..., sort=...,
  descending=..., page=..., per_page=..., settings=...)`` -> ``DrillPage``;
- ``drill_calls_in(conn, ...)``: the same on a connection you hold.

``filter`` is a ``Figure.drill`` name (``DRILL_FILTERS``); ``grain``/``bucket`` narrow the
range to one bucket of a chart or table row (``ChartSpec.buckets``, ``drill_query``):
"q15", "half" (a half hour: UTC epoch of its start), "hour", "day" (YYYYMMDD), "month"
(YYYYMM). ``sort`` must be one of ``SORTS``. A call is found where the rollups count it
(appliance/reports/facts.py ``call_facts``): the center, a DID and a flow when it
started; a queue, skill, agent and department when it joined its first queue (``queued_at``,
else its start), read through the ``started_at`` index from a little before the interval.
A campaign's figures count dial attempts, not calls, and are not listed here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model as m
from appliance.reports import clock
from appliance.reports import query as q
from appliance.reports.query import ReportError
from appliance.reports.ranges import ReportRange
from appliance.text import N_

MAX_PER_PAGE = 200
# A call joins its queue at most this long after it started (IVR, announcements): the
# started_at index is read from this much before the interval, queued_at decides.
MAX_BEFORE_QUEUE = dt.timedelta(hours=6)
_UTC = dt.UTC

c = m.calls


# The figures a drill can list, each with the calls facts.call_facts counts in it.
DRILL_FILTERS: dict[str, str] = {
    "offered": N_("Offered"),
    "answered": N_("Answered"),
    "abandoned": N_("Abandoned"),
    "abandoned_short": N_("Short abandons"),
    "answered_late": N_("Answered after the service level threshold"),
    "overflowed": N_("Overflowed"),
    "voicemail": N_("To voicemail"),
    "transferred": N_("Transferred"),
    "handled": N_("Handled"),
}
# Where a call's queue part belongs (facts.call_facts): the queue it joined first, and the
# queue its outcome belongs to (the one it overflowed into, else the first).
_first_queue = sa.func.coalesce(c.c.entry_queue_id, c.c.queue_id)
_out_queue = sa.func.coalesce(c.c.overflow_queue_id, _first_queue)
# It overflowed into another queue: the first counts it offered and overflowed, the other
# counts the rest.
_moved = sa.and_(c.c.overflow_queue_id.is_not(None), c.c.overflow_queue_id != _first_queue)


def _outcome_in(*outcomes: str) -> sa.ColumnElement[bool]:
    return c.c.queue_outcome.in_(outcomes)


def _condition(name: str, short_s: float) -> sa.ColumnElement[bool]:
    """The calls whose facts count in figure ``name`` (for the scope's own share of it)."""
    offered = sa.and_(c.c.queued_at.is_not(None), c.c.queue_outcome.is_not(None))
    wait = sa.func.coalesce(c.c.wait_ms, 0)
    if name == "offered":
        return offered
    if name == "answered":
        return sa.and_(offered, _outcome_in("answered"))
    if name == "answered_late":
        threshold = (
            sa.select(m.queues.c.service_level_s)
            .where(m.queues.c.id == _out_queue)
            .scalar_subquery()
        )
        late = wait > sa.func.coalesce(threshold, 20) * 1000
        return sa.and_(offered, _outcome_in("answered"), late)
    if name == "abandoned":
        return sa.and_(offered, _outcome_in("abandoned"))
    if name == "abandoned_short":
        return sa.and_(offered, _outcome_in("abandoned"), wait < short_s * 1000)
    if name == "overflowed":
        moved_on = sa.or_(_outcome_in("extension", "overflow"), c.c.overflow_queue_id.is_not(None))
        return sa.and_(offered, moved_on)
    if name == "voicemail":
        return sa.and_(offered, _outcome_in("voicemail"))
    if name == "transferred":
        return c.c.transfers > 0
    if name == "handled":
        return c.c.agent_answered_at.is_not(None)
    raise ReportError(N_("Unknown call filter: {filter}", filter=name[:40]))


def _queue_condition(qid: int, name: str, cond: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """A queue's share: all of a call that stayed in it (or overflowed into it); of a call
    that overflowed out of it, only offered and overflowed."""
    whole = sa.or_(
        sa.and_(sa.not_(_moved), _first_queue == qid), sa.and_(_moved, _out_queue == qid)
    )
    left = sa.and_(_moved, _first_queue == qid)
    if name == "offered":
        return sa.and_(cond, sa.or_(whole, left))
    if name == "overflowed":
        offered = sa.and_(c.c.queued_at.is_not(None), c.c.queue_outcome.is_not(None))
        return sa.or_(sa.and_(offered, left), sa.and_(cond, whole, sa.not_(_moved)))
    return sa.and_(cond, whole)


DRILL_SCOPES = ("center", "queue", "skill", "agent", "department", "did", "flow")
SORTS: dict[str, Any] = {
    "started_at": c.c.started_at,
    "caller": c.c.caller_number,
    "called": c.c.called_number,
    "wait": c.c.wait_ms,
    "talk": c.c.talk_ms,
    "hold": c.c.hold_ms,
    "outcome": c.c.queue_outcome,
}


@dataclass(frozen=True)
class DrillCall:
    """One call behind a figure; ``recording_id`` is its first recording (None: none)."""

    call_id: int
    started_at: dt.datetime
    queued_at: dt.datetime | None
    caller_number: str
    caller_name: str
    called_number: str
    queue_id: int | None
    queue: str
    agent_id: int | None
    agent: str
    outcome: str
    wait_s: float | None
    talk_s: float | None
    hold_s: float | None
    recording_id: int | None
    trunk_group: str = ""  # a DAHDI call's trunk group and channel (migration 0017)
    trunk_channel: int | None = None


@dataclass(frozen=True)
class DrillPage:
    """A page of the calls behind a figure; ``total`` counts them all (the figure's value)."""

    filter: str
    label: str
    start: dt.datetime
    end: dt.datetime
    total: int
    page: int
    per_page: int
    sort: str
    descending: bool
    calls: tuple[DrillCall, ...]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def interval(
    rng: ReportRange, grain: str | None, bucket: int | None
) -> tuple[dt.datetime, dt.datetime]:
    """The UTC interval of the range, narrowed to one bucket when one is given."""
    t0, t1 = rng.start_utc, rng.end_utc
    if grain is None and bucket is None:
        return t0, t1
    if grain is None or bucket is None:
        raise ReportError(N_("A bucket needs its grain, and a grain its bucket."))
    tz = rng.tz
    try:
        if grain == "half":
            if bucket % 900:
                raise ValueError
            b0 = dt.datetime.fromtimestamp(bucket, _UTC)
            b1 = b0 + dt.timedelta(minutes=30)
        elif grain in clock.GRAINS:
            if grain in ("q15", "hour") and bucket % 900:
                raise ValueError
            b0 = clock.bucket_start(grain, bucket, tz)
            b1 = clock.bucket_end(grain, bucket, tz)
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise ReportError(
            N_("Not a bucket of {grain}: {bucket}", grain=str(grain)[:10], bucket=bucket)
        ) from None
    lo, hi = max(t0, b0), min(t1, b1)
    if hi <= lo:
        raise ReportError(N_("That bucket is outside the report's range."))
    return lo, hi


# Scopes counted when the call started; the others when it joined its first queue.
STARTED_SCOPES = ("center", "did", "flow")


def _scope_condition(scope: str, key: str, name: str, short_s: float) -> sa.ColumnElement[bool]:
    cond = _condition(name, short_s)
    if scope == "center":
        return cond
    if scope == "did":
        return sa.and_(cond, c.c.direction == "inbound", c.c.called_number == key)
    if scope == "flow":
        return sa.and_(cond, c.c.flow_id == int(key))
    if scope == "queue":
        return sa.and_(_first_queue.is_not(None), _queue_condition(int(key), name, cond))
    if scope == "skill":
        queues = sa.select(m.queue_skills.c.queue_id).where(m.queue_skills.c.skill_id == int(key))
        return sa.and_(cond, _first_queue.is_not(None), _out_queue.in_(queues.scalar_subquery()))
    if scope == "agent":
        return sa.and_(cond, c.c.agent_id == int(key))
    if scope == "department":
        agents = sa.select(m.agents.c.id).where(m.agents.c.department == key)
        return sa.and_(cond, c.c.agent_id.in_(agents.scalar_subquery()))
    raise ReportError(N_("The calls behind a campaign's figures are not listed here."))


def drill_calls_in(
    conn: Connection,
    filter: str,
    rng: ReportRange,
    scope: str = "center",
    key: str = "",
    *,
    grain: str | None = None,
    bucket: int | None = None,
    sort: str = "started_at",
    descending: bool = False,
    page: int = 1,
    per_page: int = 50,
    settings: Any = None,
    trunk_group: str | None = None,
    trunk_channel: int | None = None,
) -> DrillPage:
    """A page of the calls behind ``filter`` (see the module docstring); ``trunk_group`` and
    ``trunk_channel`` keep only the calls on that DAHDI group and channel."""
    check_drill(filter, scope, key, sort, page, per_page)
    t0, t1 = interval(rng, grain, bucket)
    short_s = float(getattr(settings, "short_abandon_s", 5))
    if scope in STARTED_SCOPES:
        when = sa.and_(c.c.started_at >= t0, c.c.started_at < t1)
    else:
        basis = sa.func.coalesce(c.c.queued_at, c.c.started_at)
        when = sa.and_(
            c.c.started_at >= t0 - MAX_BEFORE_QUEUE,
            c.c.started_at < t1,
            basis >= t0,
            basis < t1,
        )
    where = sa.and_(when, _scope_condition(scope, key, filter, short_s))
    if trunk_group is not None:
        where = sa.and_(where, c.c.trunk_group == trunk_group)
    if trunk_channel is not None:
        where = sa.and_(where, c.c.trunk_channel == trunk_channel)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(c).where(where)).scalar_one())
    order = SORTS[sort]
    recording = (
        sa.select(sa.func.min(m.recordings.c.id))
        .where(m.recordings.c.call_id == c.c.id)
        .scalar_subquery()
    )
    stmt = (
        sa.select(
            c.c.id,
            c.c.started_at,
            c.c.queued_at,
            c.c.caller_number,
            c.c.caller_name,
            c.c.called_number,
            _out_queue.label("qid"),
            c.c.agent_id,
            c.c.queue_outcome,
            c.c.wait_ms,
            c.c.talk_ms,
            c.c.hold_ms,
            recording.label("recording_id"),
            c.c.trunk_group,
            c.c.trunk_channel,
        )
        .where(where)
        .order_by(
            order.desc().nulls_last() if descending else order.asc().nulls_last(),
            c.c.id.desc() if descending else c.c.id.asc(),
        )
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = conn.execute(stmt).all()
    queue_names = q.names(conn, "queue", [str(r.qid) for r in rows if r.qid is not None])
    agent_names = q.names(conn, "agent", [str(r.agent_id) for r in rows if r.agent_id is not None])

    def secs(ms: int | None) -> float | None:
        return None if ms is None else ms / 1000.0

    calls = tuple(
        DrillCall(
            call_id=r.id,
            started_at=r.started_at,
            queued_at=r.queued_at,
            caller_number=r.caller_number,
            caller_name=r.caller_name,
            called_number=r.called_number,
            queue_id=r.qid,
            queue=queue_names.get(str(r.qid), "") if r.qid is not None else "",
            agent_id=r.agent_id,
            agent=agent_names.get(str(r.agent_id), "") if r.agent_id is not None else "",
            outcome=r.queue_outcome or "",
            wait_s=secs(r.wait_ms),
            talk_s=secs(r.talk_ms),
            hold_s=secs(r.hold_ms),
            recording_id=r.recording_id,
            trunk_group=r.trunk_group,
            trunk_channel=r.trunk_channel,
        )
        for r in rows
    )
    return DrillPage(
        filter, DRILL_FILTERS[filter], t0, t1, total, page, per_page, sort, descending, calls
    )


def check_drill(filter: str, scope: str, key: str, sort: str, page: int, per_page: int) -> None:
    """Refuse what a drill cannot read, before any query."""
    if filter not in DRILL_FILTERS:
        raise ReportError(N_("Unknown call filter: {filter}", filter=str(filter)[:40]))
    q.check_scope(scope, key, DRILL_SCOPES)
    if sort not in SORTS:
        raise ReportError(N_("The calls cannot be sorted by {column}.", column=str(sort)[:40]))
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ReportError(N_("Pages are numbered from 1 and hold 1 to {n} calls.", n=MAX_PER_PAGE))


async def drill_calls(
    db: Any,
    filter: str,
    rng: ReportRange,
    scope: str = "center",
    key: str = "",
    **options: Any,
) -> DrillPage:
    """``drill_calls_in`` in the database thread pool; bad input is refused first."""
    check_drill(
        filter,
        scope,
        key,
        options.get("sort", "started_at"),
        options.get("page", 1),
        options.get("per_page", 50),
    )
    interval(rng, options.get("grain"), options.get("bucket"))
    result: DrillPage = await db.run(
        lambda conn: drill_calls_in(conn, filter, rng, scope, key, **options)
    )
    return result
