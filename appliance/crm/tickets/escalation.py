"""The escalation timers: the steps of an overdue ticket's SLA rule, each fired once.

The moments live in the database, not in memory: each ticket's ``next_escalation_at`` (the
store keeps it right on every change) and ``escalation_level`` (the steps done). The
service reads the nearest moment and schedules one ``callLater`` for it (at most
``CHECK_EVERY_S`` ahead, so a ticket created or changed by the web in the meantime is seen
within that time). When it fires, every due step of every ticket is applied, each in the
same transaction as its ``escalation_level`` and history row: a restart neither repeats a
step nor forgets one, and the steps that fell due while the box was stopped fire at start,
once each.

The steps: ``notify`` posts a notice (appliance/db/notice_store.py) to the ticket's
assignee: the agent, the agents serving the queue, a notice to each active agent of the
department; an unassigned ticket's (or one whose assignee is gone) goes to the supervisors
only. Supervisors see every notice. The text is in the center's language (``translate``, the
root hands the web UI's catalogs); ``reassign`` gives the ticket to the step's assignee;
``raise_priority`` moves it one priority up (its due dates stay: they are what it is late
against).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from appliance.crm.tickets import catalog, events, sla
from appliance.crm.tickets.store import (
    Ticket,
    assignee_text,
    check_assignee,
    load,
    next_escalation,
    update,
    write_history,
)
from appliance.crm.tickets.transitions import RUNNING_STATES, state_after_assignment
from appliance.db import model, notice_store
from appliance.db.notice_store import NoticeRow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.eventbus import EventBus

log = Logger(namespace="ccbox.crm.escalation")
CHECK_EVERY_S = 60.0
BATCH = 100
ACTOR = "escalation"
NOTICE_MINUTES = 240
NOBODY = N_("nobody")

Translate = Callable[[str], str]


@dataclass(frozen=True)
class Fired:
    """One step applied to one ticket (``notices``: those a notify step posted)."""

    ticket_id: int
    number: str
    level: int  # the step's index in the rule
    action: str
    notices: tuple[NoticeRow, ...] = ()
    error: str = ""


def _queue_id(conn: Connection, name: str) -> int | None:
    q = model.queues.c
    found = conn.execute(sa.select(q.id).where(q.name == name)).scalar()
    return int(found) if found is not None else None


def _agent_ids(conn: Connection, kind: str | None, target: str) -> list[int]:
    """The active agents an agent or department assignee names."""
    a = model.agents.c
    if kind == "agent":
        where = a.number == target
    elif kind == "department":
        where = a.department == target
    else:
        return []
    return list(
        conn.execute(
            sa.select(a.id).where(where & (a.status == "active")).order_by(a.number)
        ).scalars()
    )


def _notify(
    conn: Connection, ticket: Ticket, now: dt.datetime, translate: Translate
) -> tuple[NoticeRow, ...]:
    who = assignee_text(ticket.assignee_kind, ticket.assignee) or translate(NOBODY)
    text = translate(
        N_(
            "Ticket {number} is overdue ({assignee}): {subject}",
            number=ticket.number,
            assignee=who,
            subject=ticket.subject,
        )
    )[: notice_store.MAX_TEXT]
    kind = ticket.assignee_kind

    def post(**audience: Any) -> NoticeRow:
        return notice_store.add(conn, text, "urgent", ACTOR, NOTICE_MINUTES, at=now, **audience)

    if kind == "queue":
        queue_id = _queue_id(conn, ticket.assignee)
        if queue_id is not None:
            return (post(queue_id=queue_id),)
    agents = _agent_ids(conn, kind, ticket.assignee)
    if agents:
        return tuple(post(queue_id=None, agent_id=agent_id) for agent_id in agents)
    return (post(queue_id=None, supervisors=True),)


def _apply(
    conn: Connection,
    ticket: Ticket,
    step: sla.EscalationStep,
    now: dt.datetime,
    translate: Translate,
) -> tuple[dict[str, Any], tuple[NoticeRow, ...]]:
    """The ticket's changed columns for ``step`` (its own history rows written)."""
    if step.action == "notify":
        return {}, _notify(conn, ticket, now, translate)
    if step.action == "reassign":
        target = check_assignee(conn, step.kind, step.target)
        values: dict[str, Any] = {"assignee_kind": step.kind, "assignee": target}
        write_history(
            conn,
            ticket.id,
            now,
            ACTOR,
            "assigned",
            assignee_text(ticket.assignee_kind, ticket.assignee),
            assignee_text(step.kind, target),
        )
        state = state_after_assignment(ticket.state, step.kind)
        if state != ticket.state:
            values["state"] = state
            write_history(conn, ticket.id, now, ACTOR, "state", ticket.state, state)
        return values, ()
    if step.action == "raise_priority":
        up = sla.raised(ticket.priority)
        if up != ticket.priority:
            write_history(conn, ticket.id, now, ACTOR, "priority", ticket.priority, up)
        return {"priority": up}, ()
    raise ValueError(f"unknown escalation action {step.action!r}")


def escalate_ticket(
    conn: Connection, ticket_id: int, now: dt.datetime, translate: Translate
) -> list[Fired]:
    """Apply every step of the ticket that is due at ``now``, in order, each once; then
    write the next moment. A step that cannot be done (a reassignment to a queue since
    deleted) is recorded as failed and counted done, so it never blocks the others."""
    ticket = load(conn, ticket_id, for_update=True)
    fired: list[Fired] = []
    while ticket.state in RUNNING_STATES:
        rule = catalog.load_rule(conn, ticket.type_key, ticket.priority)
        steps = rule.steps if rule is not None else ()
        moment = sla.next_moment(ticket.due_at, steps, ticket.escalation_level)
        if moment is None or moment > now:
            break
        level = ticket.escalation_level
        step = steps[level]
        error = ""
        notices: tuple[NoticeRow, ...] = ()
        values: dict[str, Any] = {}
        try:
            with conn.begin_nested():
                values, notices = _apply(conn, ticket, step, now, translate)
        except ValueError as exc:
            error = str(exc)
            log.warn(
                "ticket {number}: escalation step {n} ({action}) failed: {error}",
                number=ticket.number,
                n=level + 1,
                action=step.action,
                error=error,
            )
        values.update(escalation_level=level + 1, updated_at=now)
        update(conn, ticket.id, **values)
        detail: dict[str, Any] = {"step": step.as_json()}
        if error:
            detail["error"] = error
        write_history(
            conn, ticket.id, now, ACTOR, "escalation", str(level), str(level + 1), **detail
        )
        fired.append(Fired(ticket.id, ticket.number, level, step.action, notices, error))
        ticket = load(conn, ticket.id)
    nxt = next_escalation(conn, ticket, ticket.state)
    if nxt != ticket.next_escalation_at:
        update(conn, ticket.id, next_escalation_at=nxt)
    return fired


def escalate_due(conn: Connection, now: dt.datetime, translate: Translate) -> list[Fired]:
    """Every due step of the tickets whose next moment has come (the BATCH soonest; the
    service comes back at once for more)."""
    t = model.tickets.c
    ids = conn.execute(
        sa.select(t.id)
        .where(t.next_escalation_at.is_not(None) & (t.next_escalation_at <= now))
        .order_by(t.next_escalation_at, t.id)
        .limit(BATCH)
    ).scalars()
    fired: list[Fired] = []
    for ticket_id in list(ids):
        fired.extend(escalate_ticket(conn, ticket_id, now, translate))
    return fired


def nearest(conn: Connection) -> dt.datetime | None:
    t = model.tickets.c
    found: dt.datetime | None = conn.execute(sa.select(sa.func.min(t.next_escalation_at))).scalar()
    return found


def _no_translation(text: str) -> str:
    return text


class EscalationService(service.Service):
    """Fires the escalation steps at their moments (see the module's docstring)."""

    name = "ticket-escalation"

    def __init__(
        self,
        reactor: Any,  # IReactorTime
        db: Any,
        *,
        translate: Translate = _no_translation,
        on_notice: Callable[[NoticeRow], object] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        check_every_s: float = CHECK_EVERY_S,
        bus: EventBus | None = None,
    ) -> None:
        """``clock``: now (default: the reactor's time); ``on_notice``: told of each notice
        a step posted (the root publishes it for the desks' live feed); ``check_every_s``:
        the longest wait between two looks at the database; ``bus``: told of each ticket
        a step changed (``events.TicketsChanged``)."""
        self.bus = bus
        self.reactor = reactor
        self.db = db
        self.translate = translate
        self.on_notice = on_notice
        self.clock = clock or (lambda: dt.datetime.fromtimestamp(reactor.seconds(), dt.UTC))
        self._call: Any = None  # the IDelayedCall of the next check
        self._busy: defer.Deferred[None] | None = None
        self._again = False
        self.check_every_s = check_every_s
        self.fired: int = 0  # steps applied since start (the status page, tests)

    def startService(self) -> None:
        super().startService()
        self.check()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        busy = self._busy
        if busy is None:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        busy.addBoth(lambda _: done.callback(None))
        return done

    def check(self) -> None:
        """Apply what is due now and schedule the next check (also: "a ticket changed")."""
        if not self.running:
            return
        if self._busy is not None:
            self._again = True
            return
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        d = defer.ensureDeferred(self._run())
        if not d.called:  # (an inline database has finished already)
            self._busy = d
            d.addBoth(self._idle)

    def _idle(self, _: object) -> None:
        self._busy = None

    async def _run(self) -> None:
        more = False
        try:
            now = self.clock()
            fired: list[Fired] = await self.db.run(
                lambda conn: escalate_due(conn, now, self.translate)
            )
            self._report(fired)
            more = len({f.ticket_id for f in fired}) >= BATCH
            at: dt.datetime | None = await self.db.run(nearest)
        except Exception:
            log.failure("the ticket escalation check failed; trying again later")
            at = None
        if not self.running:
            return
        if more or self._again:
            self._again = False
            self._call = self.reactor.callLater(0, self.check)
            return
        delay = self.check_every_s
        if at is not None:
            delay = min(delay, max(0.0, (at - self.clock()).total_seconds()))
        self._call = self.reactor.callLater(delay, self.check)

    def _report(self, fired: list[Fired]) -> None:
        self.fired += len(fired)
        for ticket_id in dict.fromkeys(f.ticket_id for f in fired):
            events.publish(self.bus, ticket_id)
        for f in fired:
            log.info(
                "ticket {number}: escalation step {n}: {action}{error}",
                number=f.number,
                n=f.level + 1,
                action=f.action,
                error=f" failed ({f.error})" if f.error else "",
            )
            for notice in f.notices:
                if self.on_notice is None:
                    break
                try:
                    self.on_notice(notice)
                except Exception:
                    log.failure("publishing an escalation notice failed")
