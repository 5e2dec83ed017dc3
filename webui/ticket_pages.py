"""The ticket pages (/tickets/): an agent's own tickets and its group's, one ticket with the
moves its reader may make, assignment, comments, attachments, replies and history; a new
ticket by hand, from a call (the desk links ``/tickets/new?call_id=``) or from a voicemail;
the supervisors' board (``/tickets/board``); the admin pages for types and SLA rules
(webui/ticket_admin.py, mounted as ``/tickets/types`` and ``/tickets/sla``).

Who may do what is the store's transition table (appliance/crm/tickets/transitions.py):
the pages show only the moves it allows and show its refusal when a POST is refused anyway.
Every stored text is attacker-controlled and escaped; a comment is HTML cleaned by
appliance.rich_text.clean_html, and only that output is marked ``|safe``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import cherrypy
from markupsafe import escape

from appliance.crm.customer_store import Customer
from appliance.crm.fields import FieldErrors
from appliance.crm.tickets.catalog import TicketType
from appliance.crm.tickets.store import NoTicket, Ticket, TransitionError
from appliance.crm.tickets.transitions import OWN
from appliance.db.model import TICKET_PRIORITIES, TICKET_STATES
from appliance.rich_text import clean_html
from webui import admin_forms as f
from webui import i18n, ticket_files
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render
from webui.ticket_access import (
    MANAGERS,
    WORKERS,
    TicketAccess,
    assignee_shown,
    next_states,
    positive_id,
    type_name,
)
from webui.ticket_admin import SlaAdmin, TicketTypesAdmin
from webui.ticket_labels import label, options

LIST_MAX = 200
QUERY_MAX = 100
COMMENT_MAX = 50_000
OPEN = "open"  # the list filter: every state but closed


@dataclass(frozen=True)
class Prefill:
    """Where a new ticket comes from: a call, a voicemail or nothing (by hand)."""

    source: str
    call_id: int | None = None
    voicemail_id: int | None = None
    number: str = ""  # the caller's number, to find the customer by
    subject: str = ""


def due_text(ticket: Ticket, now: dt.datetime) -> str:
    """ "Overdue by 2 h 5 min", "due in 40 min", or "" (no due date, or it waits on nobody)."""
    if ticket.due_at is None or not ticket.running:
        return ""
    seconds = (ticket.due_at - now).total_seconds()
    minutes = int(abs(seconds)) // 60
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        span = i18n._("{d} d {h} h").format(d=days, h=hours)
    elif hours:
        span = i18n._("{h} h {m} min").format(h=hours, m=minutes)
    else:
        span = i18n._("{m} min").format(m=minutes)
    if seconds < 0:
        return i18n._("overdue by {span}").format(span=span)
    return i18n._("due in {span}").format(span=span)


def assigned_text(text: str, pickers: Any) -> str:
    """A history row's assignee (``kind:target``, "" for nobody) as a person reads it."""
    kind, _, target = text.partition(":")
    if not text or kind not in ("agent", "queue", "department"):
        return text or assignee_shown(None, "")
    return assignee_shown(kind, target, pickers)


def comment_html(text: str) -> str:
    """What a comment box sent, as HTML for the store to clean: text without markup keeps
    its lines; HTML (from a paste) goes to the cleaner as it is."""
    if "<" not in text:
        lines = str(escape(text.strip())).split("\n")
        return "<p>" + "<br>".join(line.rstrip("\r") for line in lines) + "</p>"
    return text


class TicketPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.t = TicketAccess(ctx)
        self.files = ticket_files.TicketFiles(ctx, self.t)
        self.types = TicketTypesAdmin(ctx, self.t)
        self.sla = SlaAdmin(ctx, self.t)

    # ---- lists --------------------------------------------------------------------------

    def _filters(self, params: dict[str, Any]) -> dict[str, str]:
        state = f.short_text(params, "state", 16) or OPEN
        kind = f.short_text(params, "type", 32)
        priority = f.short_text(params, "priority", 16)
        assignee = f.short_text(params, "assignee", 100)
        if state not in (OPEN, "all", *TICKET_STATES):
            state = OPEN
        if priority not in ("", *TICKET_PRIORITIES):
            priority = ""
        if ":" not in assignee:
            assignee = ""
        return {"state": state, "type": kind, "priority": priority, "assignee": assignee}

    def _board(
        self,
        filters: dict[str, str],
        overdue: bool | None = None,
        anyone_of: list[tuple[str, str]] | None = None,
        unassigned_in: list[str] | None = None,
    ) -> list[Ticket]:
        state = filters["state"] if filters["state"] in TICKET_STATES else None
        assignee = None
        if filters["assignee"]:
            kind, _, target = filters["assignee"].partition(":")
            assignee = (kind, target)
        rows: list[Ticket] = self.ctx.call(
            self.t.store.board,
            state,
            overdue,
            assignee,
            LIST_MAX,
            0,
            type_key=filters["type"] or None,
            priority=filters["priority"] or None,
            open_only=filters["state"] == OPEN,
            anyone_of=anyone_of or (),
            unassigned_in=unassigned_in or (),
        )
        return rows

    def _mine(self, filters: dict[str, str]) -> list[Ticket]:
        """An agent's tickets: its own, its groups' (queues it serves, its department) and
        the ones nobody has yet; the soonest due first."""
        me = self.t.me()
        if me is None:
            return []
        groups = [("agent", me.number)] + [("queue", q) for q in sorted(me.queues)]
        if me.department:
            groups.append(("department", me.department))
        waiting = [filters["state"]] if filters["state"] in ("new", "reopened") else []
        if filters["state"] in (OPEN, "all"):
            waiting = ["new", "reopened"]
        mine = [(kind, str(target)) for kind, target in groups]
        return self._board({**filters, "assignee": ""}, anyone_of=mine, unassigned_in=waiting)

    def _list_values(self) -> dict[str, Any]:
        return {
            "types": self.t.types(),
            "states": options("ticket_state"),
            "priorities": options("ticket_priority"),
            "now": self.t.store.clock(),
        }

    @page(*WORKERS)
    def index(self, **params: Any) -> str:
        """Agents: their own tickets and their groups'. Supervisors and admins: every ticket
        (the board adds counts, overdue first and dispatch)."""
        filters = self._filters(params)
        _username, role = self.t.user()
        rows = self._mine(filters) if role == "agent" else self._board(filters)
        values = self._list_values()
        return render(
            self.ctx,
            "tickets.html",
            tickets=rows,
            filters=filters,
            mine=role == "agent",
            pickers=self.t.pickers(),
            due_text=due_text,
            type_name=type_name,
            tlabel=label,
            assignee_shown=assignee_shown,
            **values,
        )

    @page(*MANAGERS)
    def board(self, **params: Any) -> str:
        """Counts by state, then the tickets: overdue first, then by due date; each with a
        dispatch form. tickets_board.js reloads it while nobody is choosing."""
        filters = self._filters(params)
        overdue_only = f.short_text(params, "overdue", 1) == "1"
        late = self._board(filters, overdue=True)
        rest = [] if overdue_only else self._board(filters, overdue=False)
        counts = self.ctx.call(self.t.store.board_counts)
        pickers = self.t.pickers()
        values = self._list_values()
        return render(
            self.ctx,
            "tickets_board.html",
            late=late,
            rest=rest,
            counts=counts,
            filters=filters,
            overdue_only=overdue_only,
            pickers=pickers,
            due_text=due_text,
            type_name=type_name,
            tlabel=label,
            assignee_shown=assignee_shown,
            **values,
        )

    # ---- one ticket ---------------------------------------------------------------------

    @page(*WORKERS)
    def view(self, id: Any = "") -> str:
        ticket = self.t.ticket(f.page_id(id))
        _username, role = self.t.user()
        me = self.t.me() if role == "agent" else None
        store = self.t.store
        types = self.t.types()
        pickers = self.t.pickers()
        comments = [
            (c, clean_html(c.html))  # cleaned when stored; cleaned again before |safe
            for c in self.ctx.call(store.comments, ticket.id)
        ]
        customer = self.t.customer(ticket.customer_id)
        addresses = [*customer.numbers, customer.email] if customer is not None else []
        return render(
            self.ctx,
            "ticket.html",
            ticket=ticket,
            kind=types.get(ticket.type_key),
            type_name=type_name,
            customer=customer,
            addresses=[a for a in addresses if a],
            moves=next_states(role, me, ticket),
            can_edit=ticket.state != "closed"
            and (
                role in MANAGERS
                or (me is not None and me.relation(ticket.assignee_kind, ticket.assignee) == OWN)
            ),
            field_values={f"f_{k}": v for k, v in ticket.fields.items()},
            manage=role in MANAGERS,
            pickers=pickers,
            assignee=assignee_shown(ticket.assignee_kind, ticket.assignee, pickers),
            assigned=lambda text: assigned_text(text, pickers),
            comments=comments,
            attachments=self.ctx.call(store.attachments, ticket.id),
            history=self.ctx.call(store.history, ticket.id),
            replies=self.files.replies(ticket),
            channels=options("reply_channel"),
            stored_text=i18n._,  # a refusal stored in English (its msgid): translated, escaped
            priorities=options("ticket_priority"),
            tlabel=label,
            due=due_text(ticket, store.clock()),
        )

    def _back(self, params: dict[str, Any], ticket_id: int) -> str:
        """Where a POST returns: the board (when it came from there) or the ticket."""
        if f.short_text(params, "next", 16) == "board":
            return "/tickets/board"
        return f"/tickets/view?id={ticket_id}"

    def _act(self, params: dict[str, Any], ticket_id: int, work: Any) -> None:
        """Run a store change; its refusal (TransitionError, a bad value) is the message
        the page shows, in the reader's language."""
        session = current_session()
        try:
            message = work()
        except NoTicket:
            raise cherrypy.NotFound() from None
        except f.FormError as exc:
            session.flash.append(i18n.error(exc))
        except (TransitionError, ValueError) as exc:
            session.flash.append(i18n._("Not changed: {reason}").format(reason=i18n.error(exc)))
        else:
            session.flash.append(message)
        raise cherrypy.HTTPRedirect(self._back(params, ticket_id), 303)

    @page(*WORKERS, methods=("POST",))
    def move(self, **params: Any) -> None:
        """To the state ``to`` (the buttons of the ticket page), with an optional note."""
        ticket_id = f.target_id(params)
        to = f.short_text(params, "to", 16)
        note = f.short_text(params, "note", 1000)
        username, role = self.t.user()

        def work() -> str:
            moved: Ticket = self.ctx.call(
                self.t.store.transition, username, role, ticket_id, to, note
            )
            return i18n._("Ticket {number} is now {state}.").format(
                number=moved.number, state=label("ticket_state", moved.state)
            )

        self._act(params, ticket_id, work)

    @page(*WORKERS, methods=("POST",))
    def edit(self, **params: Any) -> None:
        """What the ticket says: its subject, description and its type's fields (the
        agent whose ticket it is, supervisors and admins; not once it is closed)."""
        ticket_id = f.target_id(params)
        ticket = self.t.ticket(ticket_id)
        kind = self.t.types().get(ticket.type_key)
        fields = {
            d.key: f.short_text(params, f"f_{d.key}", 1000) for d in (kind.fields if kind else ())
        }
        subject = f.short_text(params, "subject", 400)
        body = f.short_text(params, "body", 20_000)
        number = f.short_text(params, "customer_number", 64).strip()
        username, role = self.t.user()

        def work() -> str:
            customer_id = None
            if number:
                customer = self.ctx.call(self.t.customers.by_number, number)
                if customer is None:
                    raise f.FormError(
                        i18n._("No customer has the number {number}.").format(number=number)
                    )
                customer_id = customer.id
            try:
                self.ctx.call(
                    self.t.store.edit,
                    username,
                    role,
                    ticket_id,
                    subject=subject,
                    body=body,
                    fields=fields,
                    customer_id=customer_id,
                )
            except FieldErrors as exc:
                labels = {d.key: d.label for d in (kind.fields if kind else ())}
                reasons = "; ".join(
                    f"{labels.get(k, k)}: {i18n.shown(v)}" for k, v in exc.errors.items()
                )
                raise f.FormError(i18n._("Not changed: {reason}").format(reason=reasons)) from None
            return i18n._("Ticket saved.")

        self._act(params, ticket_id, work)

    @page(*MANAGERS, methods=("POST",))
    def assign(self, **params: Any) -> None:
        """To ``to`` = ``agent:<number>``, ``queue:<name>`` or ``department:<name>`` (the
        board's dispatch and the ticket page's pickers): a new ticket is dispatched by it."""
        ticket_id = f.target_id(params)
        kind, _, target = f.short_text(params, "to", 100).partition(":")
        username, role = self.t.user()

        def work() -> str:
            moved: Ticket = self.ctx.call(
                self.t.store.assign, username, role, ticket_id, kind, target
            )
            return i18n._("Ticket {number} assigned to {who}.").format(
                number=moved.number,
                who=assignee_shown(moved.assignee_kind, moved.assignee, self.t.pickers()),
            )

        self._act(params, ticket_id, work)

    @page(*MANAGERS, methods=("POST",))
    def priority(self, **params: Any) -> None:
        ticket_id = f.target_id(params)
        priority = f.short_text(params, "priority", 16)
        username, role = self.t.user()

        def work() -> str:
            moved: Ticket = self.ctx.call(
                self.t.store.set_priority, username, role, ticket_id, priority
            )
            return i18n._("Priority set to {priority}.").format(
                priority=label("ticket_priority", moved.priority)
            )

        self._act(params, ticket_id, work)

    @page(*WORKERS, methods=("POST",))
    def comment(self, **params: Any) -> None:
        ticket_id = f.target_id(params)
        text = f.short_text(params, "html", COMMENT_MAX)
        username, _role = self.t.user()

        def work() -> str:
            self.ctx.call(self.t.store.comment, username, ticket_id, comment_html(text))
            return i18n._("Comment added.")

        self._act(params, ticket_id, work)

    # ---- attachments and replies: webui/ticket_files.py ----------------------------------

    @page(*WORKERS, methods=("POST",))
    @cherrypy.config(**{"request.body.maxbytes": ticket_files.MAX_BODY})
    def attach(self, **params: Any) -> None:
        ticket_id = f.target_id(params)
        self._act(params, ticket_id, lambda: self.files.attach(ticket_id, params.get("file")))

    @page(*WORKERS)
    def attachments(self, attachment_id: str = "", *_name: str) -> Any:
        """``/tickets/attachments/<id>[/<name>]``: the file, as a download."""
        return self.files.download(attachment_id)

    attachments._cp_config = {"response.stream": True}  # type: ignore[attr-defined]

    @page(*WORKERS, methods=("POST",))
    def reply(self, **params: Any) -> None:
        """To the customer: ``channel`` callback (``to`` a number, ``queue`` whose agents
        call), email (``to`` an address) or sms (``to`` a mobile number: kept until the
        modem can send it)."""
        ticket_id = f.target_id(params)
        channel = f.short_text(params, "channel", 16)
        to = f.short_text(params, "to", 254)
        queue = f.short_text(params, "queue", 64)
        subject = f.short_text(params, "subject", 400)
        body = f.short_text(params, "body", 20_000)
        self._act(
            params,
            ticket_id,
            lambda: self.files.reply(ticket_id, channel, to, queue, subject, body),
        )

    # ---- a new ticket -------------------------------------------------------------------

    def _prefill(self, call_id: int | None, voicemail_id: int | None) -> Prefill:
        """The call or voicemail a ticket comes from, when the user may see it (an agent:
        its own calls, the mailboxes it may read); 404 otherwise."""
        if call_id is not None:
            facts = self.ctx.call(self.ctx.db.desk.call, call_id)
            if facts is None or not self._may_see_call(facts):
                raise cherrypy.NotFound()
            number = facts.caller_number
            return Prefill(
                "phone",
                call_id=call_id,
                number=number,
                subject=i18n._("Call from {number}").format(number=number[:40]),
            )
        if voicemail_id is not None:
            from webui.voicemail_api import VoicemailAccess

            m = VoicemailAccess(self.ctx).message(str(voicemail_id))
            return Prefill(
                "voicemail",
                call_id=m.call_id,
                voicemail_id=m.id,
                number=m.caller_number,
                subject=i18n._("Voicemail from {number}").format(number=m.caller_number[:40]),
            )
        return Prefill("manual")

    def _may_see_call(self, facts: Any) -> bool:
        user = current_session().user
        assert user is not None
        if user.role in MANAGERS:
            return True
        agent = self.ctx.acd.agent_of_user(user.id)
        if agent is None:
            return False
        live = agent.call.record_id if agent.call is not None else None
        return bool(facts.agent_id == agent.id or live == facts.id)

    def _form(
        self,
        params: dict[str, Any],
        errors: dict[str, str] | None = None,
        error: str = "",
    ) -> str:
        call_id = positive_id(params.get("call_id"))
        voicemail_id = positive_id(params.get("voicemail_id"))
        prefill = self._prefill(call_id, voicemail_id)
        customer_id = positive_id(params.get("customer_id"))
        customer: Customer | None = self.t.customer(customer_id)
        if customer is None and customer_id is None and prefill.number:
            customer = self.ctx.call(self.t.customers.by_number, prefill.number)
        query = f.short_text(params, "customer_q", QUERY_MAX).strip()
        found: list[Customer] = []
        if query:
            found = self.ctx.call(self.t.customers.search, query, 20)
        types = self.t.types(active_only=True)
        chosen = f.short_text(params, "type", 32)
        if chosen not in types:
            chosen = "inquiry" if "inquiry" in types else next(iter(types), "")
        keep = {
            k: v
            for k, v in (
                ("call_id", call_id),
                ("voicemail_id", voicemail_id),
                ("type", chosen),
            )
            if v
        }
        return render(
            self.ctx,
            "ticket_new.html",
            prefill=prefill,
            customer=customer,
            query=query,
            found=found,
            types=types,
            chosen=chosen,
            kind=types.get(chosen),
            type_name=type_name,
            priorities=options("ticket_priority"),
            values={k: v for k, v in params.items() if isinstance(v, str)},
            errors=errors or {},
            error=error,
            keep=keep,
            link=lambda **more: "/tickets/new?" + urlencode({**keep, **more}),
        )

    @page(*WORKERS)
    def new(self, **params: Any) -> str:
        return self._form(params)

    @page(*WORKERS, methods=("POST",))
    def create(self, **params: Any) -> str:
        call_id = positive_id(params.get("call_id"))
        voicemail_id = positive_id(params.get("voicemail_id"))
        prefill = self._prefill(call_id, voicemail_id)
        types = self.t.types(active_only=True)
        type_key = f.short_text(params, "type", 32)
        kind: TicketType | None = types.get(type_key)
        fields = {
            d.key: f.short_text(params, f"f_{d.key}", 1000) for d in (kind.fields if kind else ())
        }
        username, _role = self.t.user()
        try:
            new_id: int = self.ctx.call(
                self.t.store.create,
                username,
                type_key=type_key,
                subject=f.short_text(params, "subject", 400),
                body=f.short_text(params, "body", 20_000),
                customer_id=positive_id(params.get("customer_id")),
                priority=f.short_text(params, "priority", 16),
                source=prefill.source,
                call_id=prefill.call_id,
                voicemail_id=prefill.voicemail_id,
                fields=fields,
            )
        except FieldErrors as exc:
            cherrypy.serving.response.status = 400
            errors = {f"f_{k}": i18n.shown(v) for k, v in exc.errors.items()}
            return self._form(params, errors, i18n.error(exc))
        except ValueError as exc:
            cherrypy.serving.response.status = 400
            return self._form(params, error=i18n.error(exc))
        ticket = self.t.ticket(new_id)
        current_session().flash.append(
            i18n._("Ticket {number} created.").format(number=ticket.number)
        )
        raise cherrypy.HTTPRedirect(f"/tickets/view?id={new_id}", 303)
