"""The IVR's side of the CRM on a fake FastAGI session and a real database (both backends):
the lookup node finds a customer by any form of its number or by its account and gives the
flow its name, class and custom fields (one line each, never into a command); a recorded
complaint opens a ticket with the recording, the call and the customer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.field_admin import FieldAdmin
from appliance.crm.fields import FieldDef
from appliance.crm.tickets.store import TicketStore
from appliance.db.connector import DBConnector
from drivers.asterisk.agi.codec import AGIEnvironment
from ivr.customer_lookup import customer_variables
from ivr.interpreter import Interpreter
from ivr.prompt_library import PromptLibrary
from ivr.services import IVRServices
from ivr.try_run import TryRuns
from ivr.validator import Catalog, validate
from tests.unit.test_ivr_interpreter import FakeCall, FakeSession, graph, version

NAME = 'Li "Lei" ${caller_number}'
CONTRACT = "C9\nEXEC Dial IAX2/evil\t"  # a text field keeps its newlines


class StoringVoicemail:
    """What voicemail.leave does for the flow, minus the audio: a real message row."""

    def __init__(self, db: DBConnector) -> None:
        self.db = db

    async def leave(self, session: Any, call: Any, mailbox: str, **kw: Any) -> int:
        await session.record_file(f"/vm/{mailbox}/x")
        row = await self.db.voicemail.add(
            mailbox, f"{mailbox}/x.wav", 4000, "13800138000", "Zhang San", None, kw["kind"]
        )
        return row.id


class Caller(FakeSession):
    """The fake session with the caller's number where the interpreter reads it."""

    def __init__(self, keys: str = "") -> None:
        super().__init__(keys)
        self.env = AGIEnvironment(
            {"callerid": "13800138000", "calleridname": "Zhang San", "uniqueid": "1700000000.1"}
        )


class CRMCall(FakeCall):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[defer.Deferred[Any]] = []

    def _track(self, d: defer.Deferred[Any]) -> None:
        self.writes.append(d)


def services_on(db: DBConnector, tmp_path: Path, tickets: bool = True) -> IVRServices:
    clock = MemoryReactorClock()
    clock.advance(dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC).timestamp())
    services = IVRServices(clock, db, PromptLibrary(tmp_path), StoringVoicemail(db))  # type: ignore[arg-type]
    services.customers = CustomerStore(db)
    services.tickets = TicketStore(db) if tickets else None
    services.translate = lambda text: f"[{text}]"
    return services


def run(services: IVRServices, doc: dict[str, Any], session: FakeSession) -> CRMCall:
    call = CRMCall()
    variables = {"caller_number": "13800138000", "customer_class": "", "customer_name": ""}
    d = defer.ensureDeferred(
        Interpreter(services).run(session, call, version(doc), variables)  # type: ignore[arg-type]
    )
    failure: list[Any] = []
    d.addErrback(failure.append)
    assert d.called, "the flow waits for something the fake session never gives"
    if failure:
        failure[0].raiseException()
    call.variables = variables  # type: ignore[attr-defined]
    return call


LOOKUPS = graph(
    [
        ("me", "lookup", {"source": "customer", "key": "${caller_number}", "store": "me"}),
        ("acct", "collect", {"prompt": "acct", "variable": "acct", "max_digits": 12}),
        ("who", "lookup", {"source": "customer", "key": "${acct}", "store": "cust"}),
        ("say", "say", {"mode": "digits", "value": "${cust_contract}"}),
        ("vip", "condition", {"left": "${customer_class}", "op": "eq", "right": "vip"}),
        ("yes", "hangup", {"prompt": "yes"}),
        ("no", "hangup", {"prompt": "no"}),
    ],
    [
        ("me", "found", "acct"),
        ("me", "not_found", "acct"),
        ("acct", "ok", "who"),
        ("who", "found", "say"),
        ("who", "not_found", "no"),
        ("say", "next", "vip"),
        ("vip", "true", "yes"),
        ("vip", "false", "no"),
    ],
)


def test_lookup_by_any_form_of_a_number_or_the_account(db: DBConnector, tmp_path: Path) -> None:
    services = services_on(db, tmp_path)
    customers = services.customers
    assert customers is not None
    resolved(FieldAdmin(db).save("admin", None, FieldDef("contract", "Contract", "text")))
    caller = resolved(customers.create("admin", "Wang Fang", ["+86 138-0013-8000"], "normal"))
    vip = resolved(
        customers.create(
            "admin", NAME, ["(010) 1234 5678"], "vip", account="4711", fields={"contract": CONTRACT}
        )
    )
    # the caller's own number in another form, then the VIP keyed in by a landline form
    session = Caller("01012345678#")
    call = run(services, LOOKUPS, session)
    assert call.steps() == [
        ("me", "13800138000", "found"),
        ("acct", "01012345678", "ok"),
        ("who", "01012345678", "found"),
        ("say", "invalid", "next"),
        ("vip", "vip", "true"),
        ("yes", "", None),
    ]
    got = call.variables  # type: ignore[attr-defined]
    assert got["me_id"] == str(caller) and got["me_name"] == "Wang Fang"
    assert got["cust_id"] == str(vip)
    assert (got["cust_class"], got["cust_account"]) == ("vip", "4711")
    assert got["cust_number"].replace(" ", "").endswith("12345678")
    # one line each, as stored (a ${...} in it is text, not a template); no command got it
    assert got["cust_contract"] == "C9 EXEC Dial IAX2/evil"
    assert got["cust_name"] == got["customer_name"] == NAME
    found = resolved(customers.get(vip))
    assert found is not None
    as_caller = customer_variables(found, "caller")  # the interpreter's _var keeps
    assert as_caller["caller_account"] == "4711"  # caller_number (test_ivr_interpreter)
    assert not any("evil" in c for c in session.commands)
    assert len(call.writes) == 2  # the call's customer: the caller's, then the VIP's

    # by the account; an unknown key is not found
    call = run(services, LOOKUPS, Caller("4711#"))
    assert call.steps()[2] == ("who", "4711", "found")
    call = run(services, LOOKUPS, Caller("999#"))
    assert call.steps()[2:] == [("who", "999", "not_found"), ("no", "", None)]

    # a business record's fields are one line too
    resolved(db.ivr.put_record("orders", "99", {"Note": "packed\nEXEC Dial IAX2/evil"}))
    doc = graph(
        [
            ("l", "lookup", {"source": "record", "book": "orders", "key": "99"}),
            (
                "c",
                "condition",
                {"left": "${found_note}", "op": "eq", "right": "packed EXEC Dial IAX2/evil"},
            ),
            ("yes", "hangup", {}),
            ("no", "hangup", {}),
        ],
        [("l", "found", "c"), ("c", "true", "yes"), ("c", "false", "no")],
    )
    assert run(services, doc, Caller()).steps()[-1] == ("yes", "", None)


COMPLAINT = graph(
    [
        ("r", "record", {"kind": "complaint", "ticket": True}),  # into "complaints"
        ("say", "condition", {"left": "${ticket_number}", "op": "not_empty"}),
        ("yes", "hangup", {"prompt": "yes"}),
        ("no", "hangup", {"prompt": "no"}),
    ],
    [("r", "next", "say"), ("say", "true", "yes"), ("say", "false", "no")],
)


def test_a_recorded_complaint_opens_a_ticket(db: DBConnector, tmp_path: Path) -> None:
    services = services_on(db, tmp_path)
    assert services.customers is not None and services.tickets is not None
    customer = resolved(services.customers.create("admin", "Wang", ["013800138000"]))
    call = run(services, COMPLAINT, Caller())
    assert call.steps()[-1] == ("yes", "", None)
    [opened] = [d for k, d in call.events if k == "ticket_opened"]
    ticket = resolved(services.tickets.get(opened["ticket"]))
    assert (ticket.type_key, ticket.source, ticket.state) == ("complaint", "ivr", "new")
    assert (ticket.customer_id, ticket.voicemail_id) == (customer, opened["message"])
    assert ticket.subject == "[Complaint left in the IVR by 13800138000]"
    assert call.variables["ticket_number"] == ticket.number  # type: ignore[attr-defined]
    [message] = resolved(db.voicemail.messages("complaints"))
    assert (message.id, message.kind) == (opened["message"], "complaint")

    # "Try it" in the editor finds the customer and says what would happen, and does nothing
    doc = graph(
        [
            ("who", "lookup", {"source": "customer", "key": "${caller_number}", "store": "c"}),
            ("r", "record", {"kind": "complaint", "ticket": True}),
        ],
        [("who", "found", "r"), ("who", "not_found", "r")],
    )
    tried = resolved(defer.ensureDeferred(TryRuns(services).start(doc, "t")))
    texts = [e["text"] for e in tried.new_events()]
    assert "who -> found" in texts and "a complaint ticket is opened" in texts
    assert len(resolved(services.tickets.board(limit=10))) == 1
    assert len(resolved(db.voicemail.messages("complaints"))) == 1


def test_the_call_back_queue_gets_the_ticket(db: DBConnector, tmp_path: Path) -> None:
    services = services_on(db, tmp_path)
    assert services.tickets is not None
    resolved(db.queues.add("care", "Customer care"))
    for queue, assigned in (("care", ("queue", "care")), ("gone", (None, ""))):
        doc = graph(
            [("r", "record", {"kind": "complaint", "ticket": True, "callback_queue": queue})],
            [],
        )
        call = run(services, doc, Caller())
        [opened] = [d for k, d in call.events if k == "ticket_opened"]
        ticket = resolved(services.tickets.get(opened["ticket"]))
        assert (ticket.assignee_kind, ticket.assignee) == assigned, queue  # gone: still kept


def test_a_complaint_without_tickets_goes_on_without_one(db: DBConnector, tmp_path: Path) -> None:
    services = services_on(db, tmp_path, tickets=False)
    call = run(services, COMPLAINT, Caller())
    assert call.steps()[-1] == ("no", "", None)
    assert [k for k, _ in call.events if k.startswith("ticket")] == ["ticket_failed"]
    assert len(resolved(db.voicemail.messages("complaints"))) == 1  # the message is kept


@pytest.mark.parametrize(
    ("props", "problems"),
    [
        ({"kind": "complaint", "ticket": True}, []),
        ({"kind": "message", "ticket": False}, []),
        ({"kind": "message", "ticket": True}, ["only a complaint opens a ticket (kind complaint)"]),
        ({"kind": "complaint", "ticket": "yes"}, ["ticket must be true or false"]),
    ],
)
def test_the_validator_checks_the_ticket_option(props: dict[str, Any], problems: list[str]) -> None:
    doc = graph([("r", "record", props), ("h", "hangup", {})], [("r", "next", "h")])
    assert [p.message for p in validate(doc, Catalog())] == problems


def test_the_validator_keeps_a_customer_lookups_variables_names() -> None:
    def lookup(store: str) -> dict[str, Any]:
        props = {"source": "customer", "key": "${caller_number}", "store": store}
        nodes = [("l", "lookup", props), ("h", "hangup", {})]
        return graph(nodes, [("l", "found", "h"), ("l", "not_found", "h")])

    assert validate(lookup("c" * 24), Catalog()) == []
    [problem] = validate(lookup("c" * 25), Catalog())
    assert problem.message == "store must be text of at most 24 characters"
