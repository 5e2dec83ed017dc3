"""The outbound dialer's storage: campaigns, leads, dial attempts, do-not-call rows, holidays.

Storage only: when a lead may be dialed (calling windows, retry times, do-not-call) is
decided in ``acd/dialer/``; this module keeps the rows and makes the state changes atomic
(``claim`` moves one lead to ``dialing`` once, however many dialers ask). Campaign fields are
checked for their stored form (campaign_values.check_campaign: names from the lists in
``model``, a known IANA zone, ``HH:MM`` times, day names, minutes per outcome), so a bad
value is refused when the campaign is saved, never found at dial time.

Lead numbers are stored normalised (digits with an optional leading ``+``: the caller
normalises them, acd/dialer/numbers.py); this module compares them as given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.campaign_values import (
    CALLER_NUMBER,
    DEFAULT_RETRY,
    check_campaign,
    choice,
    parse_dispositions,
    parse_retry,
)
from appliance.db.components import DuplicateError, _Component, _insert, inbox_add, utcnow
from appliance.db.lead_import_store import ImportedLead, lead_fields, merge_leads
from appliance.text import N_

WAITING_STATUSES: Final = ("new", "scheduled")
FINAL_STATUSES: Final = ("done", "dnc", "failed")
NATIONAL_BATCH = 50_000  # national rows per transaction
_NATIONAL_INSERT = (
    "INSERT INTO dnc_numbers (number, scope, campaign_id, source, list_date, added_at)"
    " VALUES (?, 'national', NULL, 'import', ?, ?)"
)


# ---- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    id: int
    name: str
    mode: str
    state: str
    queue_id: int
    ratio: float
    caller_id_number: str
    caller_id_name: str
    window_days: str
    window_start: str
    window_end: str
    default_tz: str
    max_attempts: int
    retry_json: str
    dispositions_json: str
    script: str
    record: str
    amd: bool
    target_abandon_pct: float
    backoff: str
    max_dial_level: float
    min_predictive_agents: int
    trunk_group: str
    safe_harbor_prompt: str
    created_at: dt.datetime

    @property
    def retry_minutes(self) -> dict[str, int]:
        """Minutes per outcome; a stored value that no longer parses reads as the defaults."""
        try:
            return parse_retry(self.retry_json)
        except ValueError:
            return dict(DEFAULT_RETRY)

    @property
    def dispositions(self) -> list[str]:
        try:
            return parse_dispositions(self.dispositions_json)
        except ValueError:
            return []


@dataclass(frozen=True)
class Lead:
    id: int
    campaign_id: int
    list_id: int | None
    number: str
    tz: str  # "": the campaign's default_tz
    name: str
    fields: dict[str, str]
    status: str
    attempts: int
    next_at: dt.datetime | None
    last_outcome: str
    disposition: str
    agent_id: int | None
    updated_at: dt.datetime


@dataclass(frozen=True)
class DispositionResult:
    """What ``dispose`` stored: the lead's disposition (False: no such lead), the
    callback, and the calls row the note went on (None: no calls row for the attempt)."""

    stored: bool
    scheduled: bool
    call_id: int | None


@dataclass(frozen=True)
class Attempt:
    id: int
    campaign_id: int
    lead_id: int | None
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    outcome: str | None
    agent_id: int | None
    uniqueid: str
    channel_id: str
    wait_ms: int | None


@dataclass(frozen=True)
class AttemptTiming:
    """A finished attempt's outcome and times (DialerStore.recent_timings)."""

    outcome: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime
    wait_ms: int | None


@dataclass(frozen=True)
class DncRow:
    id: int
    number: str
    scope: str
    campaign_id: int | None
    source: str
    list_date: dt.date | None
    added_at: dt.datetime


@dataclass(frozen=True)
class Holiday:
    id: int
    campaign_id: int | None  # None: every campaign
    day: dt.date


@dataclass(frozen=True)
class NewLead:
    """A lead to add (list import, a callback request): ``number`` already normalised."""

    number: str
    tz: str = ""
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    next_at: dt.datetime | None = None
    agent_id: int | None = None


@dataclass(frozen=True)
class CampaignFigures:
    leads: dict[str, int]  # status -> count, every status present
    attempts: dict[str, int]  # outcome -> count since the given time, every outcome present
    in_progress: int  # attempts not yet ended


_KEEP: Final = object()


def _campaign(r: Any) -> Campaign:
    return Campaign(**{f: getattr(r, f) for f in Campaign.__dataclass_fields__})


def _lead(r: Any) -> Lead:
    return Lead(
        id=r.id,
        campaign_id=r.campaign_id,
        list_id=r.list_id,
        number=r.number,
        tz=r.tz,
        name=r.name,
        fields=lead_fields(r.fields_json),
        status=r.status,
        attempts=r.attempts,
        next_at=r.next_at,
        last_outcome=r.last_outcome,
        disposition=r.disposition,
        agent_id=r.agent_id,
        updated_at=r.updated_at,
    )


def _attempt(r: Any) -> Attempt:
    return Attempt(**{f: getattr(r, f) for f in Attempt.__dataclass_fields__})


def _dnc(r: Any) -> DncRow:
    return DncRow(**{f: getattr(r, f) for f in DncRow.__dataclass_fields__})


def _attempt_values(
    answered_at: dt.datetime | None,
    agent_id: int | None,
    wait_ms: int | None,
    uniqueid: str | None,
) -> dict[str, Any]:
    """The attempt's columns among these that are known (not None), bounded."""
    values: dict[str, Any] = {}
    if answered_at is not None:
        values["answered_at"] = answered_at
    if agent_id is not None:
        values["agent_id"] = agent_id
    if wait_ms is not None:
        values["wait_ms"] = max(0, int(wait_ms))
    if uniqueid is not None:
        values["uniqueid"] = uniqueid[:64]
    return values


def _check_number(number: str) -> str:
    if not isinstance(number, str) or not CALLER_NUMBER.match(number) or number in ("", "+"):
        raise ValueError(N_("not a phone number: {number}", number=str(number)[:32]))
    return number


class DialerStore(_Component):
    """Every method returns a Deferred; the work runs in the database's thread pool."""

    # ---- campaigns ------------------------------------------------------------------------

    def create_campaign(
        self, name: str, queue_id: int, now: dt.datetime | None = None, **values: Any
    ) -> defer.Deferred[Campaign]:
        """A new campaign (stopped); ValueError for a bad field, DuplicateError for a name
        already taken, ValueError for an unknown queue."""
        checked = check_campaign({"name": name, "queue_id": queue_id, **values})
        checked.setdefault("state", "stopped")
        at = now or utcnow()
        c = model.campaigns

        def thd(conn: Connection) -> Campaign:
            _queue_exists(conn, checked["queue_id"])
            _window_in_order(conn, None, checked)
            new_id = _insert(
                conn, c, N_("campaign {name}", name=checked["name"]), created_at=at, **checked
            )
            return _campaign(conn.execute(c.select().where(c.c.id == new_id)).one())

        return self.db.run(thd)

    def update_campaign(self, campaign_id: int, **values: Any) -> defer.Deferred[Campaign | None]:
        """Change the given fields; None when there is no such campaign."""
        checked = check_campaign(values)
        c = model.campaigns

        def thd(conn: Connection) -> Campaign | None:
            if conn.execute(sa.select(c.c.id).where(c.c.id == campaign_id)).first() is None:
                return None
            if "queue_id" in checked:
                _queue_exists(conn, checked["queue_id"])
            _window_in_order(conn, campaign_id, checked)
            if checked:
                try:
                    with conn.begin_nested():
                        conn.execute(c.update().where(c.c.id == campaign_id).values(**checked))
                except sa.exc.IntegrityError:
                    what = N_("campaign {name}", name=checked.get("name", ""))
                    raise DuplicateError(N_("{what} already exists", what=what)) from None
            return _campaign(conn.execute(c.select().where(c.c.id == campaign_id)).one())

        return self.db.run(thd)

    def set_state(self, campaign_id: int, state: str) -> defer.Deferred[Campaign | None]:
        """Start (running), pause or stop a campaign; None when there is no such campaign."""
        return self.update_campaign(campaign_id, state=state)

    def delete_campaign(self, campaign_id: int) -> defer.Deferred[bool]:
        """Remove a campaign with its lists, leads, attempts and own do-not-call rows."""
        c = model.campaigns

        def thd(conn: Connection) -> bool:
            return bool(conn.execute(c.delete().where(c.c.id == campaign_id)).rowcount)

        return self.db.run(thd)

    def campaign(self, campaign_id: int) -> defer.Deferred[Campaign | None]:
        return self._campaign_where(model.campaigns.c.id == campaign_id)

    def campaign_by_name(self, name: str) -> defer.Deferred[Campaign | None]:
        return self._campaign_where(model.campaigns.c.name == name)

    def _campaign_where(self, cond: sa.ColumnElement[bool]) -> defer.Deferred[Campaign | None]:
        def thd(conn: Connection) -> Campaign | None:
            r = conn.execute(model.campaigns.select().where(cond)).first()
            return _campaign(r) if r is not None else None

        return self.db.run(thd)

    def campaigns(self, state: str | None = None) -> defer.Deferred[list[Campaign]]:
        """Every campaign by name, or those in ``state``."""
        c = model.campaigns

        def thd(conn: Connection) -> list[Campaign]:
            q = c.select().order_by(c.c.name)
            if state is not None:
                q = q.where(c.c.state == state)
            return [_campaign(r) for r in conn.execute(q)]

        return self.db.run(thd)

    # ---- lists and leads ------------------------------------------------------------------

    def add_list(
        self, campaign_id: int, name: str, source: str = "", now: dt.datetime | None = None
    ) -> defer.Deferred[int]:
        """A new call list (its counts 0 until ``count_list``); the list's id."""
        at = now or utcnow()

        def thd(conn: Connection) -> int:
            _campaign_exists(conn, campaign_id)
            return _insert(
                conn,
                model.call_lists,
                N_("list"),
                campaign_id=campaign_id,
                name=name[:128],
                source=source[:255],
                imported_at=at,
            )

        return self.db.run(thd)

    def count_list(self, list_id: int, rows_ok: int, rows_bad: int) -> defer.Deferred[None]:
        t = model.call_lists

        def thd(conn: Connection) -> None:
            conn.execute(
                t.update().where(t.c.id == list_id).values(rows_ok=rows_ok, rows_bad=rows_bad)
            )

        return self.db.run(thd)

    def add_leads(
        self,
        campaign_id: int,
        leads: Sequence[NewLead],
        list_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[tuple[int, int]]:
        """Add leads in one transaction (all or nothing) through the list import's write
        (lead_import_store.merge_leads): a number the campaign already has, or one twice,
        is merged (name, zone and fields updated; status, attempts and schedule kept).
        (added, merged)."""
        at = now or utcnow()
        for lead in leads:
            _check_number(lead.number)
        rows = [
            ImportedLead(
                lead.number,
                lead.name[:128],
                lead.tz[:64],
                dict(lead.fields),
                bool(lead.tz),
                lead.next_at,
                lead.agent_id,
            )
            for lead in leads
        ]

        def thd(conn: Connection) -> tuple[int, int]:
            _campaign_exists(conn, campaign_id)
            added = merge_leads(conn, campaign_id, list_id, rows, at).inserted
            return added, len(leads) - added

        return self.db.run(thd)

    def lead(self, lead_id: int) -> defer.Deferred[Lead | None]:
        le = model.leads

        def thd(conn: Connection) -> Lead | None:
            r = conn.execute(le.select().where(le.c.id == lead_id)).first()
            return _lead(r) if r is not None else None

        return self.db.run(thd)

    def lead_by_number(self, campaign_id: int, number: str) -> defer.Deferred[Lead | None]:
        le = model.leads

        def thd(conn: Connection) -> Lead | None:
            r = conn.execute(
                le.select().where((le.c.campaign_id == campaign_id) & (le.c.number == number))
            ).first()
            return _lead(r) if r is not None else None

        return self.db.run(thd)

    def due_leads(
        self, campaign_id: int, now: dt.datetime, limit: int = 100
    ) -> defer.Deferred[list[Lead]]:
        """Leads to dial now: new or scheduled, next_at unset or passed, fewer attempts than
        the campaign's maximum (a callback the customer asked for is kept however many
        attempts it took), soonest first (unset next_at after the passed ones), then by id.
        The caller still checks the calling window and do-not-call; a lead outside its
        window should be ``postpone``d to the window's opening, or it stays at the head of
        this list and keeps the callable leads behind it waiting."""
        le = model.leads
        c = model.campaigns

        def thd(conn: Connection) -> list[Lead]:
            most = conn.execute(sa.select(c.c.max_attempts).where(c.c.id == campaign_id)).scalar()
            if most is None or limit <= 0:
                return []
            # One query per status and kind of next_at, each read in the order of the index
            # (campaign_id, status, next_at, id) and stopped at ``limit``: one query for all
            # of them sorted every matching row (a campaign of a million leads: 100 ms of
            # PostgreSQL's time on every pacing round).
            live = (le.c.attempts < most) | (le.c.last_outcome == "callback")
            timed: list[Any] = []
            untimed: list[Any] = []
            for status in WAITING_STATUSES:
                mine = (le.c.campaign_id == campaign_id) & (le.c.status == status) & live
                timed += conn.execute(
                    le.select()
                    .where(mine & (le.c.next_at <= now))
                    .order_by(le.c.next_at, le.c.id)
                    .limit(limit)
                ).all()
                untimed += conn.execute(
                    le.select().where(mine & le.c.next_at.is_(None)).order_by(le.c.id).limit(limit)
                ).all()
            timed.sort(key=lambda r: (r.next_at, r.id))
            untimed.sort(key=lambda r: r.id)
            return [_lead(r) for r in (timed + untimed)[:limit]]

        return self.db.run(thd)

    def claim(self, lead_id: int, now: dt.datetime | None = None) -> defer.Deferred[bool]:
        """Move a waiting lead to ``dialing``; False when it was not waiting (another dial
        took it, or it was finished or put on do-not-call meanwhile)."""
        at = now or utcnow()
        le = model.leads

        def thd(conn: Connection) -> bool:
            done = conn.execute(
                le.update()
                .where((le.c.id == lead_id) & le.c.status.in_(WAITING_STATUSES))
                .values(status="dialing", updated_at=at)
            )
            return done.rowcount == 1

        return self.db.run(thd)

    def postpone(
        self, lead_ids: Sequence[int], next_at: dt.datetime, now: dt.datetime | None = None
    ) -> defer.Deferred[int]:
        """Waiting leads not dialed before ``next_at`` (their calling window opens then):
        status, outcome and attempts unchanged. How many were postponed."""
        at = now or utcnow()
        le = model.leads
        ids = sorted(set(lead_ids))

        def thd(conn: Connection) -> int:
            done = 0
            for i in range(0, len(ids), 500):
                done += conn.execute(
                    le.update()
                    .where(le.c.id.in_(ids[i : i + 500]) & le.c.status.in_(WAITING_STATUSES))
                    .values(next_at=next_at, updated_at=at)
                ).rowcount
            return done

        return self.db.run(thd)

    def schedule(
        self,
        lead_id: int,
        next_at: dt.datetime | None,
        outcome: str,
        *,
        agent_id: Any = _KEEP,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[bool]:
        """The lead waits until ``next_at`` (None: at once) after ``outcome``. ``agent_id``
        given: the callback is for that agent (None: for anyone); not given: unchanged.
        False when the lead is finished (done, dnc, failed) or gone."""
        at = now or utcnow()
        le = model.leads
        values: dict[str, Any] = {
            "status": "scheduled",
            "next_at": next_at,
            "last_outcome": outcome[:16],
            "updated_at": at,
        }
        if agent_id is not _KEEP:
            values["agent_id"] = agent_id

        def thd(conn: Connection) -> bool:
            done = conn.execute(
                le.update()
                .where((le.c.id == lead_id) & le.c.status.not_in(FINAL_STATUSES))
                .values(**values)
            )
            return done.rowcount == 1

        return self.db.run(thd)

    def finish_lead(
        self,
        lead_id: int,
        status: str,
        disposition: str = "",
        outcome: str | None = None,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[bool]:
        """The lead is over: done, dnc or failed (never dialed again); with the agent's
        disposition and the last outcome when given. False when there is no such lead."""
        if status not in FINAL_STATUSES:
            raise ValueError(
                N_(
                    "{field} must be one of {items}",
                    field="status",
                    items=", ".join(FINAL_STATUSES),
                )
            )
        at = now or utcnow()
        le = model.leads
        values: dict[str, Any] = {"status": status, "next_at": None, "updated_at": at}
        if disposition:
            values["disposition"] = disposition[:32]
        if outcome is not None:
            values["last_outcome"] = outcome[:16]

        def thd(conn: Connection) -> bool:
            return (
                conn.execute(le.update().where(le.c.id == lead_id).values(**values)).rowcount == 1
            )

        return self.db.run(thd)

    def set_disposition(self, lead_id: int, disposition: str) -> defer.Deferred[bool]:
        le = model.leads

        def thd(conn: Connection) -> bool:
            done = conn.execute(
                le.update().where(le.c.id == lead_id).values(disposition=disposition[:32])
            )
            return done.rowcount == 1

        return self.db.run(thd)

    def dispose(
        self,
        attempt_id: int,
        agent_id: int,
        disposition: str,
        notes: str,
        callback_at: dt.datetime | None = None,
        callback_agent: int | None = None,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[DispositionResult]:
        """The agent's disposition of an attempt, in one transaction: on the lead (and, with
        ``callback_at``, the lead waits for that time, for ``callback_agent``: the engine
        dials it then) and, with the notes, as a note on the attempt's call (the calls row
        whose uniqueid is the attempt's ChannelId), where the desk's history shows it. A
        lead on do-not-call or gone gets no callback (``scheduled`` False)."""
        at = now or utcnow()
        a, le, notes_t = model.dial_attempts, model.leads, model.call_notes

        def thd(conn: Connection) -> DispositionResult:
            row = conn.execute(a.select().where(a.c.id == attempt_id)).first()
            if row is None or row.lead_id is None:
                return DispositionResult(False, False, None)
            values: dict[str, Any] = {"disposition": disposition[:32], "updated_at": at}
            where = le.c.id == row.lead_id
            scheduled = False
            if callback_at is not None:
                done = conn.execute(
                    le.update()
                    .where(where & le.c.status.not_in(("dnc",)))
                    .values(
                        **values,
                        status="scheduled",
                        next_at=callback_at,
                        last_outcome="callback",
                        agent_id=callback_agent,
                    )
                )
                scheduled = done.rowcount == 1
            if not scheduled:
                conn.execute(le.update().where(where).values(**values))
            call_id = None
            if row.channel_id:
                call_id = conn.execute(
                    sa.select(model.calls.c.id)
                    .where(model.calls.c.uniqueid == row.channel_id)
                    .order_by(model.calls.c.id.desc())
                    .limit(1)
                ).scalar()
            if call_id is not None:
                _insert(
                    conn,
                    notes_t,
                    N_("call note"),
                    call_id=call_id,
                    agent_id=agent_id,
                    disposition=disposition[:32],
                    notes=notes,
                    created_at=at,
                )
            return DispositionResult(True, scheduled, call_id)

        return self.db.run(thd)

    def mark_number_dnc(self, number: str, campaign_id: int | None = None) -> defer.Deferred[int]:
        """Waiting leads with ``number`` (in every campaign, or one) become ``dnc``; how many."""
        le = model.leads

        def thd(conn: Connection) -> int:
            q = le.update().where((le.c.number == number) & le.c.status.in_(WAITING_STATUSES))
            if campaign_id is not None:
                q = q.where(le.c.campaign_id == campaign_id)
            return int(
                conn.execute(q.values(status="dnc", next_at=None, updated_at=utcnow())).rowcount
            )

        return self.db.run(thd)

    def release_dialing(
        self, campaign_id: int, now: dt.datetime | None = None
    ) -> defer.Deferred[int]:
        """At start: leads a crash left ``dialing`` wait again (scheduled, due now), and the
        attempts it left open end as ``failed`` (not counted as answered or abandoned). The
        number of leads released."""
        at = now or utcnow()
        le = model.leads
        a = model.dial_attempts

        def thd(conn: Connection) -> int:
            open_ = (a.c.campaign_id == campaign_id) & a.c.outcome.is_(None)
            ended = [r.id for r in conn.execute(sa.select(a.c.id).where(open_))]
            conn.execute(a.update().where(open_).values(outcome="failed", ended_at=at))
            if ended:  # counted by the report rollups
                ib = model.report_inbox
                conn.execute(ib.insert(), [{"kind": "dial_attempt", "row_id": i} for i in ended])
            done = conn.execute(
                le.update()
                .where((le.c.campaign_id == campaign_id) & (le.c.status == "dialing"))
                .values(status="scheduled", next_at=None, updated_at=at)
            )
            return int(done.rowcount)

        return self.db.run(thd)

    # ---- attempts ---------------------------------------------------------------------------

    def start_attempt(
        self,
        campaign_id: int,
        lead_id: int | None,
        channel_id: str = "",
        started_at: dt.datetime | None = None,
        agent_id: int | None = None,
    ) -> defer.Deferred[int]:
        """Record a call being placed (the lead's attempts counted up); the attempt's id."""
        at = started_at or utcnow()
        le = model.leads

        def thd(conn: Connection) -> int:
            if lead_id is not None:
                conn.execute(
                    le.update()
                    .where(le.c.id == lead_id)
                    .values(attempts=le.c.attempts + 1, updated_at=at)
                )
            return _insert(
                conn,
                model.dial_attempts,
                N_("attempt"),
                campaign_id=campaign_id,
                lead_id=lead_id,
                started_at=at,
                channel_id=channel_id[:64],
                agent_id=agent_id,
            )

        return self.db.run(thd)

    def note_attempt(
        self,
        attempt_id: int,
        *,
        answered_at: dt.datetime | None = None,
        agent_id: int | None = None,
        wait_ms: int | None = None,
        uniqueid: str | None = None,
    ) -> defer.Deferred[bool]:
        """Fill in what is known while the call is up (the answer, the agent, the wait)."""
        values = _attempt_values(answered_at, agent_id, wait_ms, uniqueid)
        a = model.dial_attempts

        def thd(conn: Connection) -> bool:
            if not values:
                return (
                    conn.execute(sa.select(a.c.id).where(a.c.id == attempt_id)).first() is not None
                )
            return (
                conn.execute(a.update().where(a.c.id == attempt_id).values(**values)).rowcount == 1
            )

        return self.db.run(thd)

    def finish_attempt(
        self,
        attempt_id: int,
        outcome: str,
        ended_at: dt.datetime | None = None,
        *,
        answered_at: dt.datetime | None = None,
        agent_id: int | None = None,
        wait_ms: int | None = None,
        uniqueid: str | None = None,
    ) -> defer.Deferred[bool]:
        """The call is over with ``outcome`` (model.DIAL_OUTCOMES). False when the attempt
        is unknown or already finished (its first outcome stands)."""
        choice("outcome", outcome, model.DIAL_OUTCOMES)
        values = _attempt_values(answered_at, agent_id, wait_ms, uniqueid)
        values.update(outcome=outcome, ended_at=ended_at or utcnow())
        a = model.dial_attempts

        def thd(conn: Connection) -> bool:
            done = conn.execute(
                a.update().where((a.c.id == attempt_id) & a.c.outcome.is_(None)).values(**values)
            )
            if done.rowcount != 1:
                return False
            inbox_add(conn, "dial_attempt", attempt_id)
            return True

        return self.db.run(thd)

    def attempt(self, attempt_id: int) -> defer.Deferred[Attempt | None]:
        a = model.dial_attempts

        def thd(conn: Connection) -> Attempt | None:
            r = conn.execute(a.select().where(a.c.id == attempt_id)).first()
            return _attempt(r) if r is not None else None

        return self.db.run(thd)

    def attempts(self, campaign_id: int, limit: int = 100) -> defer.Deferred[list[Attempt]]:
        """The campaign's latest attempts, newest first."""
        a = model.dial_attempts

        def thd(conn: Connection) -> list[Attempt]:
            q = (
                a.select()
                .where(a.c.campaign_id == campaign_id)
                .order_by(a.c.started_at.desc(), a.c.id.desc())
                .limit(max(0, limit))
            )
            return [_attempt(r) for r in conn.execute(q)]

        return self.db.run(thd)

    def attempt_counts(
        self, campaign_id: int, since: dt.datetime
    ) -> defer.Deferred[tuple[int, int]]:
        """(answered, abandoned) attempts started at or after ``since``, as the abandon meter
        counts them (its warm start): ``answered`` a person answered
        (``model.PERSON_ANSWERED_OUTCOMES``: taken by an agent or abandoned; a machine is
        not), ``abandoned`` among them. The rate is abandoned / answered."""
        a = model.dial_attempts

        def thd(conn: Connection) -> tuple[int, int]:
            rows = conn.execute(
                sa.select(a.c.outcome, sa.func.count())
                .where(
                    (a.c.campaign_id == campaign_id)
                    & (a.c.started_at >= since)
                    & a.c.outcome.in_(model.PERSON_ANSWERED_OUTCOMES)
                )
                .group_by(a.c.outcome)
            )
            counts = {outcome: int(n) for outcome, n in rows}
            answered = sum(counts.get(o, 0) for o in model.PERSON_ANSWERED_OUTCOMES)
            return answered, counts.get("abandoned", 0)

        return self.db.run(thd)

    def recent_timings(
        self, campaign_id: int, since: dt.datetime, limit: int = 500
    ) -> defer.Deferred[list[AttemptTiming]]:
        """The campaign's last ``limit`` finished attempts started at or after ``since``,
        oldest first, with their times (the pacer's warm start: ring, talk, answer rate)."""
        a = model.dial_attempts

        def thd(conn: Connection) -> list[AttemptTiming]:
            rows = conn.execute(
                sa.select(a.c.outcome, a.c.started_at, a.c.answered_at, a.c.ended_at, a.c.wait_ms)
                .where(
                    (a.c.campaign_id == campaign_id)
                    & (a.c.started_at >= since)
                    & a.c.outcome.is_not(None)
                    & a.c.ended_at.is_not(None)
                )
                .order_by(a.c.started_at.desc(), a.c.id.desc())
                .limit(max(0, limit))
            ).all()
            return [AttemptTiming(*r) for r in reversed(rows)]

        return self.db.run(thd)

    def queue_talk_times(
        self, queue_id: int, since: dt.datetime, limit: int = 500
    ) -> defer.Deferred[list[float]]:
        """Talk seconds of the queue's last ``limit`` calls an agent took since ``since``,
        oldest first (a campaign without calls of its own yet learns from its queue's)."""
        c = model.calls

        def thd(conn: Connection) -> list[float]:
            rows = conn.execute(
                sa.select(c.c.talk_ms)
                .where(
                    (c.c.queue_id == queue_id)
                    & (c.c.started_at >= since)
                    & c.c.talk_ms.is_not(None)
                    & (c.c.talk_ms > 0)
                )
                .order_by(c.c.started_at.desc(), c.c.id.desc())
                .limit(max(0, limit))
            ).all()
            return [int(r[0]) / 1000.0 for r in reversed(rows)]

        return self.db.run(thd)

    def campaign_figures(
        self, campaign_id: int, since: dt.datetime
    ) -> defer.Deferred[CampaignFigures]:
        """Leads by status, and attempts started since ``since`` (the caller's start of
        today) by outcome, for the pages."""
        le = model.leads
        a = model.dial_attempts

        def thd(conn: Connection) -> CampaignFigures:
            leads = dict.fromkeys(model.LEAD_STATUSES, 0)
            for status, n in conn.execute(
                sa.select(le.c.status, sa.func.count())
                .where(le.c.campaign_id == campaign_id)
                .group_by(le.c.status)
            ):
                leads[status] = int(n)
            attempts = dict.fromkeys(model.DIAL_OUTCOMES, 0)
            in_progress = 0
            for outcome, n in conn.execute(
                sa.select(a.c.outcome, sa.func.count())
                .where((a.c.campaign_id == campaign_id) & (a.c.started_at >= since))
                .group_by(a.c.outcome)
            ):
                if outcome is None:
                    in_progress = int(n)
                else:
                    attempts[outcome] = int(n)
            return CampaignFigures(leads=leads, attempts=attempts, in_progress=in_progress)

        return self.db.run(thd)

    # ---- do-not-call --------------------------------------------------------------------------

    def dnc_entries(
        self, scopes: Sequence[str] = model.DNC_SCOPES
    ) -> defer.Deferred[list[tuple[str, str, int | None]]]:
        """The do-not-call rows of ``scopes`` as (number, scope, campaign_id): DoNotCall's
        input. The national list is better read with ``national_numbers`` (millions)."""
        d = model.dnc_numbers
        wanted = list(scopes)

        def thd(conn: Connection) -> list[tuple[str, str, int | None]]:
            rows = conn.execute(
                sa.select(d.c.number, d.c.scope, d.c.campaign_id).where(d.c.scope.in_(wanted))
            )
            return [(n, s, c) for n, s, c in rows]

        return self.db.run(thd)

    def national_numbers(
        self, consume: Callable[[list[str]], None], chunk: int = 50_000
    ) -> defer.Deferred[int]:
        """Hand the national list to ``consume`` ``chunk`` numbers at a time, streamed, IN
        THE DATABASE'S THREAD (never a million strings at once); the count."""
        d = model.dnc_numbers

        def thd(conn: Connection) -> int:
            result = conn.execution_options(stream_results=True, yield_per=chunk).execute(
                sa.select(d.c.number).where(d.c.scope == "national")
            )
            count = 0
            for part in result.partitions(chunk):
                numbers = [n for (n,) in part]
                count += len(numbers)
                consume(numbers)
            return count

        return self.db.run(thd)

    def dnc_rows(
        self,
        scope: str | None = None,
        campaign_id: int | None = None,
        number_prefix: str = "",
        limit: int = 100,
        offset: int = 0,
    ) -> defer.Deferred[list[DncRow]]:
        """A page of do-not-call rows, newest first (for the web page)."""
        d = model.dnc_numbers

        def thd(conn: Connection) -> list[DncRow]:
            q = d.select()
            if scope is not None:
                q = q.where(d.c.scope == scope)
            if campaign_id is not None:
                q = q.where(d.c.campaign_id == campaign_id)
            if number_prefix:
                q = q.where(d.c.number.startswith(number_prefix, autoescape=True))
            q = (
                q.order_by(d.c.added_at.desc(), d.c.id.desc())
                .limit(max(0, limit))
                .offset(max(0, offset))
            )
            return [_dnc(r) for r in conn.execute(q)]

        return self.db.run(thd)

    def dnc_counts(self) -> defer.Deferred[dict[str, int]]:
        """Rows per scope (every scope present)."""
        d = model.dnc_numbers

        def thd(conn: Connection) -> dict[str, int]:
            out = dict.fromkeys(model.DNC_SCOPES, 0)
            for scope, n in conn.execute(sa.select(d.c.scope, sa.func.count()).group_by(d.c.scope)):
                out[scope] = int(n)
            return out

        return self.db.run(thd)

    def national_list_date(self) -> defer.Deferred[dt.date | None]:
        d = model.dnc_numbers

        def thd(conn: Connection) -> dt.date | None:
            # the oldest list in: the whole one while a newer is being stored (or was cut
            # short by a crash: its rows still count, its date does not)
            value: dt.date | None = conn.execute(
                sa.select(d.c.list_date)
                .where(d.c.scope == "national")
                .order_by(d.c.added_at, d.c.id)
                .limit(1)
            ).scalar()
            return value

        return self.db.run(thd)

    def dnc_last_id(self) -> defer.Deferred[int]:
        """The newest do-not-call row's id (0: none): where ``dnc_added_since`` starts."""
        d = model.dnc_numbers
        return self.db.run(
            lambda conn: int(conn.execute(sa.select(sa.func.max(d.c.id))).scalar() or 0)
        )

    def dnc_added_since(
        self, after_id: int
    ) -> defer.Deferred[tuple[list[tuple[str, str, int | None]], int]]:
        """The center's and campaigns' rows added after row ``after_id`` (by anyone: the
        CLI, another process) as ``dnc_entries`` gives them, and the id to ask from next
        (national rows are stepped over: that list is read whole, ``national_list_mark``)."""
        d = model.dnc_numbers

        def thd(conn: Connection) -> tuple[list[tuple[str, str, int | None]], int]:
            last = int(conn.execute(sa.select(sa.func.max(d.c.id))).scalar() or 0)
            if last <= after_id:
                return [], after_id
            rows = conn.execute(
                sa.select(d.c.number, d.c.scope, d.c.campaign_id)
                .where((d.c.id > after_id) & (d.c.id <= last))
                .where(d.c.scope.in_(("center", "campaign")))
                .order_by(d.c.id)
            )
            return [(r.number, r.scope, r.campaign_id) for r in rows], last

        return self.db.run(thd)

    def national_list_mark(self) -> defer.Deferred[tuple[int, dt.date | None] | None]:
        """What tells the national list in force from another: its first row's id and its
        date (a replacement writes new rows, then removes the old; None: no list)."""
        d = model.dnc_numbers

        def thd(conn: Connection) -> tuple[int, dt.date | None] | None:
            # campaign_id IS NULL too (national rows have none): SQLite walks the (scope,
            # campaign_id) index in id order: 1 ms instead of 200 for a million rows
            row = conn.execute(
                sa.select(d.c.id, d.c.list_date)
                .where((d.c.scope == "national") & d.c.campaign_id.is_(None))
                .order_by(d.c.id)
                .limit(1)
            ).first()
            return None if row is None else (int(row.id), row.list_date)

        return self.db.run(thd)

    def add_dnc(
        self,
        number: str,
        scope: str,
        source: str,
        campaign_id: int | None = None,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[bool]:
        """Put ``number`` on the center's list or a campaign's, and mark its waiting leads
        ``dnc`` (all campaigns for the center's list). False when it was there already."""
        _check_dnc(number, scope, source, campaign_id)
        if scope == "national":
            raise ValueError(N_("the national list is replaced as a whole"))
        at = now or utcnow()
        d = model.dnc_numbers
        le = model.leads

        def thd(conn: Connection) -> bool:
            if campaign_id is not None:
                _campaign_exists(conn, campaign_id)
            same = (d.c.number == number) & (d.c.scope == scope)
            same &= (
                d.c.campaign_id.is_(None) if campaign_id is None else d.c.campaign_id == campaign_id
            )
            if conn.execute(sa.select(d.c.id).where(same)).first() is not None:
                return False
            conn.execute(
                d.insert().values(
                    number=number, scope=scope, campaign_id=campaign_id, source=source, added_at=at
                )
            )
            q = le.update().where((le.c.number == number) & le.c.status.in_(WAITING_STATUSES))
            if campaign_id is not None:
                q = q.where(le.c.campaign_id == campaign_id)
            conn.execute(q.values(status="dnc", next_at=None, updated_at=at))
            return True

        return self.db.run(thd)

    def remove_dnc(
        self, number: str, scope: str, campaign_id: int | None = None
    ) -> defer.Deferred[int]:
        """Take ``number`` off one list (leads already marked ``dnc`` stay so); rows removed."""
        choice("scope", scope, model.DNC_SCOPES)
        d = model.dnc_numbers

        def thd(conn: Connection) -> int:
            same = (d.c.number == number) & (d.c.scope == scope)
            same &= (
                d.c.campaign_id.is_(None) if campaign_id is None else d.c.campaign_id == campaign_id
            )
            return int(conn.execute(d.delete().where(same)).rowcount)

        return self.db.run(thd)

    def replace_national(
        self, numbers: Iterable[str], list_date: dt.date, now: dt.datetime | None = None
    ) -> defer.Deferred[int]:
        """The national list becomes ``numbers`` (normalised; duplicates kept once) dated
        ``list_date``; the number of rows. The old list stays until the new one is in: the
        new rows (all added at one instant, their mark) go in NATIONAL_BATCH at a time, each
        batch a transaction of its own (a million rows in one would hold SQLite's only
        writer for 20 s: every call's writes waiting), then the old rows go in one more.
        Until then both count (a number on either is blocked); a failure removes the new."""
        at = now or utcnow()
        d = model.dnc_numbers
        national = d.c.scope == "national"

        def prepare(conn: Connection) -> list[str]:
            # checked and sorted here, in the database's thread: a million take seconds
            wanted = sorted({_check_number(n) for n in numbers})
            drop(conn, ours=True)  # a list with our very mark
            return wanted

        def insert(conn: Connection, part: list[str]) -> None:
            # the driver's executemany, the constant columns converted once (SQLAlchemy's
            # per-row binding took 6x as long)
            sql = (
                _NATIONAL_INSERT.replace("?", "%s")
                if conn.dialect.paramstyle != "qmark"
                else _NATIONAL_INSERT
            )
            day = _bound(conn, d.c.list_date, list_date)
            added = _bound(conn, d.c.added_at, at)
            conn.exec_driver_sql(sql, [(n, day, added) for n in part])

        def drop(conn: Connection, ours: bool) -> None:
            mark = d.c.added_at == at
            conn.execute(d.delete().where(national & (mark if ours else ~mark)))

        async def run() -> int:
            wanted = await self.db.run(prepare)
            try:
                for i in range(0, len(wanted), NATIONAL_BATCH):
                    await self.db.run(partial(insert, part=wanted[i : i + NATIONAL_BATCH]))
                await self.db.run(partial(drop, ours=False))
            except BaseException:
                with suppress(Exception):  # the first failure is the one to report
                    await self.db.run(partial(drop, ours=True))
                raise
            return len(wanted)

        return defer.ensureDeferred(run())

    # ---- holidays --------------------------------------------------------------------------

    def holidays(self, campaign_id: int | None = None) -> defer.Deferred[list[Holiday]]:
        """The center's holidays, and ``campaign_id``'s own when given, by day."""
        h = model.campaign_holidays

        def thd(conn: Connection) -> list[Holiday]:
            cond: sa.ColumnElement[bool] = h.c.campaign_id.is_(None)
            if campaign_id is not None:
                cond = cond | (h.c.campaign_id == campaign_id)
            rows = conn.execute(h.select().where(cond).order_by(h.c.day, h.c.id))
            return [Holiday(id=r.id, campaign_id=r.campaign_id, day=r.day) for r in rows]

        return self.db.run(thd)

    def add_holiday(self, day: dt.date, campaign_id: int | None = None) -> defer.Deferred[bool]:
        """False when that day is a holiday there already."""
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise ValueError(N_("a holiday is a date"))
        h = model.campaign_holidays

        def thd(conn: Connection) -> bool:
            if campaign_id is not None:
                _campaign_exists(conn, campaign_id)
            same = h.c.day == day
            same &= (
                h.c.campaign_id.is_(None) if campaign_id is None else h.c.campaign_id == campaign_id
            )
            if conn.execute(sa.select(h.c.id).where(same)).first() is not None:
                return False
            conn.execute(h.insert().values(day=day, campaign_id=campaign_id))
            return True

        return self.db.run(thd)

    def remove_holiday(self, day: dt.date, campaign_id: int | None = None) -> defer.Deferred[bool]:
        h = model.campaign_holidays

        def thd(conn: Connection) -> bool:
            same = h.c.day == day
            same &= (
                h.c.campaign_id.is_(None) if campaign_id is None else h.c.campaign_id == campaign_id
            )
            return bool(conn.execute(h.delete().where(same)).rowcount)

        return self.db.run(thd)


def _bound(conn: Connection, column: sa.Column[Any], value: Any) -> Any:
    """``value`` as the driver takes it for ``column`` (the column type's conversion)."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(value) if process is not None else value


def _check_dnc(number: str, scope: str, source: str, campaign_id: int | None) -> None:
    _check_number(number)
    choice("scope", scope, model.DNC_SCOPES)
    choice("source", source, model.DNC_SOURCES)
    if (scope == "campaign") != (campaign_id is not None):
        raise ValueError(N_("a campaign's do-not-call entry names its campaign, and only it does"))


def _queue_exists(conn: Connection, queue_id: int) -> None:
    q = model.queues.c
    if conn.execute(sa.select(q.id).where(q.id == queue_id)).first() is None:
        raise ValueError(N_("no queue {queue_id}", queue_id=queue_id))


def _campaign_exists(conn: Connection, campaign_id: int) -> None:
    c = model.campaigns.c
    if conn.execute(sa.select(c.id).where(c.id == campaign_id)).first() is None:
        raise ValueError(N_("no campaign {campaign_id}", campaign_id=campaign_id))


def _window_in_order(conn: Connection, campaign_id: int | None, checked: Mapping[str, Any]) -> None:
    """A window's start before its end, one of them changed against the other stored."""
    if "window_start" not in checked and "window_end" not in checked:
        return
    start, end = checked.get("window_start"), checked.get("window_end")
    if campaign_id is not None and (start is None or end is None):
        c = model.campaigns.c
        row = conn.execute(sa.select(c.window_start, c.window_end).where(c.id == campaign_id)).one()
        start = start or row.window_start
        end = end or row.window_end
    start = start or "09:00"
    end = end or "20:00"
    if start >= end:
        raise ValueError(N_("the calling window must start before it ends"))
