"""What the ticket pages share: the stores on the context, who the user is to a ticket (its
agent, for the transition table), the moves a user may make, and the assignment pickers.

The transition table (appliance/crm/tickets/transitions.py) decides; the pages only ask it
which buttons to show, and the store asks it again on every POST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cherrypy

from appliance.crm.customer_store import Customer, CustomerStore
from appliance.crm.tickets import transitions
from appliance.crm.tickets.catalog import TicketCatalog, TicketType
from appliance.crm.tickets.store import NoTicket, Ticket, TicketStore
from appliance.crm.tickets.transitions import AgentSelf, TransitionError
from appliance.db.model import TICKET_STATES
from webui import i18n
from webui.access import current_session
from webui.context import WebContext

WORKERS = ("admin", "supervisor", "agent")  # who works on tickets (transitions.check)
MANAGERS = tuple(sorted(transitions.MANAGERS))  # who dispatches, reassigns, reprioritizes
ADMINS = ("admin",)


@dataclass(frozen=True)
class Pickers:
    """The choices of the assignment forms: (value, shown) pairs per assignee kind."""

    agent: list[tuple[str, str]]
    queue: list[tuple[str, str]]
    department: list[tuple[str, str]]


class TicketAccess:
    """The stores the ticket pages use, built once on the context's database."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = TicketStore(ctx.db, bus=ctx.bus)
        self.catalog = TicketCatalog(ctx.db)

    @property
    def customers(self) -> CustomerStore:
        crm = getattr(self.ctx.config, "crm", None)
        return CustomerStore.from_config(self.ctx.db, crm) if crm else CustomerStore(self.ctx.db)

    # ---- who is asking ------------------------------------------------------------------

    @staticmethod
    def user() -> tuple[str, str]:
        """(username, role) of the logged-in user."""
        user = current_session().user
        assert user is not None
        return user.username, user.role

    def me(self) -> AgentSelf | None:
        """The logged-in user as an agent (number, department, queues); None for a login
        that is no agent's."""
        username, _role = self.user()
        found: AgentSelf | None = self.ctx.call(self.store.agent_of, username)
        return found

    # ---- reading ------------------------------------------------------------------------

    def ticket(self, ticket_id: int) -> Ticket:
        try:
            found: Ticket = self.ctx.call(self.store.get, ticket_id)
        except NoTicket:
            raise cherrypy.NotFound() from None
        return found

    def types(self, active_only: bool = False) -> dict[str, TicketType]:
        rows: list[TicketType] = self.ctx.call(self.catalog.types, active_only)
        return {t.key: t for t in rows}

    def customer(self, customer_id: int | None) -> Customer | None:
        if customer_id is None:
            return None
        found: Customer | None = self.ctx.call(self.customers.get, customer_id)
        return found

    def pickers(self) -> Pickers:
        db = self.ctx.db
        agents = [a for a in self.ctx.call(db.agents.list_all) if a.status == "active"]
        queues = self.ctx.call(db.queues.list_all)
        departments = sorted({a.department for a in agents if a.department})
        return Pickers(
            agent=[(a.number, f"{a.number} · {a.name}") for a in agents],
            queue=[(q.name, q.display_name or q.name) for q in queues],
            department=[(d, d) for d in departments],
        )


def next_states(role: str, me: AgentSelf | None, ticket: Ticket) -> list[str]:
    """The states ``role`` (an agent: ``me``) may move ``ticket`` to, in the table's order:
    the buttons of its page. "Dispatched" is offered only once someone is chosen (the
    assignment form dispatches a ticket nobody has)."""
    out = []
    for to in TICKET_STATES:
        if to == "dispatched" and ticket.assignee_kind is None:
            continue
        try:
            transitions.check(
                role,
                me if role == "agent" else None,
                ticket.state,
                to,
                ticket.assignee_kind,
                ticket.assignee,
            )
        except TransitionError:
            continue
        out.append(to)
    return out


def type_name(kind: TicketType | None, key: str) -> str:
    """A type's name in the reader's language (a built-in's is a message; an admin's own is
    shown as written)."""
    return i18n.translate(kind.name) if kind is not None else key


def assignee_shown(kind: str | None, target: str, pickers: Pickers | None = None) -> str:
    """Who a ticket is assigned to, as a person reads it."""
    from webui.ticket_labels import label

    if kind is None:
        return i18n._("Nobody yet")
    names: dict[str, str] = dict(getattr(pickers, kind, []) if pickers is not None else [])
    return f"{label('assignee_kind', kind)}: {names.get(target, target)}"


def positive_id(value: Any) -> int | None:
    """A form's optional row id: None when absent; 400 for anything but 1..2**31-1."""
    if value is None or value == "":
        return None
    if (
        not isinstance(value, str)
        or not value.isascii()
        or not value.isdigit()
        or len(value) > 10
        or not 0 < int(value) < 2**31
    ):
        raise cherrypy.HTTPError(400, i18n._("an id must be a positive whole number"))
    return int(value)
