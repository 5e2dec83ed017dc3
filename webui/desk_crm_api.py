"""The desk's service side: what the screen pop shows beside the call (the customer, its open
tickets, the articles suggested for this call), one-click "create customer" from a call, and
the knowledge base's search box.

``/api/desk/customer``  POST ``{"call_id": 12, "name": "..."}``: a customer with the call's
                        number (the name as the agent left it: caller ID's by default) for a
                        call of the agent's own whose number no customer has; the call is then
                        that customer's. Answers ``{"customer_id", "message"}``.
``/api/desk/kb``        GET ``?q=...``: published articles, best first, each ``{"id", "title",
                        "url", "snippet": [[text, matched], ...]}`` (text pieces, never HTML).

The pop's pieces are read on the reactor, together (``gather``): the customer by the number,
the call's IVR path first; then, side by side in the database's pool, the last calls, open
tickets, suggestions and notes.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import cherrypy
from twisted.internet import defer
from twisted.logger import Logger

from appliance.crm.customer_store import Customer, CustomerStore
from appliance.crm.fields import FieldDef, FieldErrors
from appliance.crm.numbers import number_forms
from appliance.crm.tickets.store import Ticket, TicketStore
from appliance.db.desk_store import CallFacts, IvrInput, NoteRow, PastCall
from appliance.kb.store import ArticleSummary, KBStore, flow_node_key
from appliance.text import N_
from webui import access, audit_trail, i18n, ticket_labels
from webui.access import api, current_session
from webui.customer_pages import CLASS_NAMES
from webui.json_body import json_object, text_field
from webui.recording_control_api import _call_id

if TYPE_CHECKING:
    from acd.service import Agent
    from webui.context import WebContext

log = Logger(namespace="ccbox.web.desk")
OPEN_TICKETS = 10
SUGGESTIONS = 5
KB_HITS = 10
MAX_QUERY = 200
MAX_NAME = 128
_MARK = re.compile(r"<mark>(.*?)</mark>", re.S)
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class PopFacts:
    """Everything the pop shows of a call, read together on the reactor."""

    customer: Customer | None
    field_defs: list[FieldDef]
    steps: list[IvrInput]
    last_calls: list[PastCall]
    notes: list[NoteRow]
    open_tickets: list[Ticket]
    suggestions: list[ArticleSummary]


class PopStores:
    """The stores the desk reads, built once for the desk's API."""

    def __init__(self, ctx: WebContext) -> None:
        crm = ctx.config.crm
        self.db = ctx.db
        self.customers = CustomerStore(
            ctx.db, country_code=crm.country_code, trunk_prefix=crm.trunk_prefix
        )
        self.country_code, self.trunk_prefix = crm.country_code, crm.trunk_prefix
        self.tickets = TicketStore(ctx.db, bus=ctx.bus)
        self.kb = KBStore(ctx.db)

    def forms(self, caller: str, customer: Customer | None) -> list[str]:
        """Every way the caller's number and the customer's numbers are written (the calls
        table holds caller IDs as the switch gave them)."""
        found = number_forms(caller, self.country_code, self.trunk_prefix)
        for number in customer.numbers if customer is not None else ():
            found |= number_forms(number, self.country_code, self.trunk_prefix)
        return sorted(found)


async def gather(stores: PopStores, facts: CallFacts, queue_id: int | None) -> PopFacts:
    """The pop's reads for the call ``facts``: two rounds of reads run side by side (the
    customer and the IVR path; then what depends on them)."""
    db = stores.db
    customers = stores.customers
    customer_d = customers.by_number(facts.caller_number)
    steps_d = db.desk.ivr_path(facts.id)
    customer = await customer_d
    steps = await steps_d
    customer_id = customer.id if customer is not None else None
    open_d: defer.Deferred[list[Ticket]] = (
        stores.tickets.open_for_customer(customer_id, limit=OPEN_TICKETS)
        if customer_id is not None
        else defer.succeed([])
    )
    forms = stores.forms(facts.caller_number, customer)
    history_d = db.desk.history(facts.caller_number, facts.id, customer_id=customer_id, forms=forms)
    notes_d = db.desk.notes(facts.id)
    defs_d: defer.Deferred[list[FieldDef]] = (
        customers.field_defs() if customer_id is not None else defer.succeed([])
    )
    if customer_id is not None:  # the timeline finds the call by it (the IVR's stays)
        customers.link_call(facts.id, customer_id).addErrback(
            lambda f: log.failure("call {call}: its customer not written", f, call=facts.id)
        )
    open_tickets = await open_d
    nodes = tuple(dict.fromkeys(flow_node_key(s.flow, s.node) for s in steps if s.node))
    ticket_type = open_tickets[0].type_key if open_tickets else None
    # twice what the pop shows: the reader's language is picked from them (reader_first)
    suggestions = await stores.kb.suggest(
        queue_id=queue_id, flow_nodes=nodes, ticket_type=ticket_type, limit=2 * SUGGESTIONS
    )
    return PopFacts(
        customer=customer,
        field_defs=await defs_d,
        steps=steps,
        last_calls=await history_d,
        notes=await notes_d,
        open_tickets=open_tickets,
        suggestions=suggestions,
    )


def customer_json(customer: Customer, defs: list[FieldDef]) -> dict[str, Any]:
    """The customer card: the custom fields in the admin's order, with their labels."""
    fields = [
        {"key": d.key, "label": d.label, "value": customer.fields.get(d.key, "")}
        for d in defs
        if customer.fields.get(d.key)
    ]
    return {
        "id": customer.id,
        "name": customer.name,
        "class": customer.customer_class,
        "class_label": (
            ""
            if customer.customer_class == "normal"
            else i18n.shown(CLASS_NAMES.get(customer.customer_class, customer.customer_class))
        ),
        "account": customer.account,
        "email": customer.email,
        "note": customer.note,
        "numbers": list(customer.numbers),
        "fields": fields,
        "url": f"/customers/view?id={customer.id}",
    }


def ticket_json(t: Ticket, now: dt.datetime) -> dict[str, Any]:
    due = t.due_at
    return {
        "id": t.id,
        "number": t.number,
        "subject": t.subject,
        "type": t.type_key,
        "state": t.state,
        "state_label": ticket_labels.label("ticket_state", t.state),
        "priority": t.priority,
        "priority_label": ticket_labels.label("ticket_priority", t.priority),
        "due_at": due.isoformat() if due is not None else None,
        "overdue": t.overdue(now),
        "url": f"/tickets/view?id={t.id}",
    }


def reader_first(articles: list[ArticleSummary]) -> list[ArticleSummary]:
    """The suggestions in the reader's language first (the pop shows ``SUGGESTIONS``)."""
    mine = getattr(cherrypy.serving.request, "ccbox_locale", "en").split("_")[0]
    ordered = sorted(articles, key=lambda a: a.lang != mine)  # stable: the store's order
    return ordered[:SUGGESTIONS]


def suggestion_json(a: ArticleSummary) -> dict[str, Any]:
    return {"id": a.id, "title": a.title, "lang": a.lang, "url": f"/kb/article?id={a.id}"}


def snippet_parts(snippet_html: str) -> list[tuple[str, bool]]:
    """The search's highlighted snippet (escaped text with ``<mark>`` around the matches) as
    text pieces and whether each matched, for the page to build with textContent."""
    parts: list[tuple[str, bool]] = []
    at = 0
    for m in _MARK.finditer(snippet_html):
        if m.start() > at:
            parts.append((html.unescape(_TAG.sub("", snippet_html[at : m.start()])), False))
        parts.append((html.unescape(_TAG.sub("", m.group(1))), True))
        at = m.end()
    if at < len(snippet_html):
        parts.append((html.unescape(_TAG.sub("", snippet_html[at:])), False))
    return [p for p in parts if p[0]]


class DeskCrm:
    """Mixed into DeskApi, whose ``_own_call`` says which calls are the agent's own."""

    ctx: WebContext

    if TYPE_CHECKING:

        def _own_call(self, requested: int) -> Agent: ...

    @cached_property
    def stores(self) -> PopStores:
        return PopStores(self.ctx)

    @api("agent", methods=("POST",))
    @cherrypy.tools.json_out()
    def customer(self) -> dict[str, Any]:
        body = json_object()
        requested = _call_id(body.get("call_id"))
        if requested is None:
            access.json_error(400, N_("name the call: call_id"))
        assert requested is not None
        name = text_field(body, "name", MAX_NAME).strip()
        self._own_call(requested)
        facts = self.ctx.call(self.ctx.db.desk.call, requested)
        if facts is None or not facts.caller_number:
            access.json_error(400, N_("this call has no number to make a customer of"))
        store = self.stores.customers
        user = current_session().user
        assert user is not None

        async def create() -> int | None:
            if await store.by_number(facts.caller_number) is not None:
                return None
            new_id: int = await store.create(
                user.username, name or facts.caller_number, [facts.caller_number]
            )
            await store.link_call(facts.id, new_id)
            return new_id

        try:
            customer_id = self.ctx.call_any(create)
        except FieldErrors as exc:
            reasons = "; ".join(f"{k}: {i18n.shown(v)}" for k, v in exc.errors.items())
            access.json_error(400, N_("the customer was not created: {reasons}", reasons=reasons))
        if customer_id is None:
            access.json_error(
                409, N_("{number} is a customer's already", number=facts.caller_number)
            )
        audit_trail.record(
            self.ctx, "desk.customer_created", f"customer:{customer_id}", {"call_id": requested}
        )
        return {
            "customer_id": customer_id,
            "message": i18n._("Customer created: {name}").format(name=name or facts.caller_number),
        }

    @api("agent", "admin", "supervisor")
    @cherrypy.tools.json_out()
    def kb(self, q: str = "") -> dict[str, Any]:
        query = q.strip()
        if not query or len(query) > MAX_QUERY:
            access.json_error(400, N_("type what to look for, at most {n} characters", n=MAX_QUERY))
        hits = self.ctx.call(self.stores.kb.search, query, KB_HITS)
        return {
            "hits": [
                {
                    "id": h.article_id,
                    "title": h.title,
                    "url": f"/kb/article?id={h.article_id}",
                    "snippet": snippet_parts(h.snippet_html),
                }
                for h in hits
            ]
        }
