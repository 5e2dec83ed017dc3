"""The IVR's side of the CRM on the real switch: a caller whose number a VIP customer has
(stored in another form) goes through the lookup node, is recognised, records a complaint
and hangs up; the call is the customer's and the complaint is a ticket with its recording."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.db import model
from ivr.validator import Catalog, validate
from tests.asterisk.checks import Findings
from tests.asterisk.conftest import BoxFactory

CALLER = "13912345678"
FLOW = {
    "start": "who",
    "nodes": [
        {
            "id": "who",
            "type": "lookup",
            "props": {"source": "customer", "key": "${caller_number}", "store": "c"},
        },
        {
            "id": "vip",
            "type": "condition",
            "props": {"left": "${c_class}", "op": "eq", "right": "vip"},
        },
        {
            "id": "rec",
            "type": "record",
            "props": {"kind": "complaint", "ticket": True, "max_s": 30},
        },
        {"id": "bye", "type": "hangup", "props": {}},
    ],
    "edges": [
        {"from": "who", "out": "found", "to": "vip"},
        {"from": "who", "out": "not_found", "to": "bye"},
        {"from": "vip", "out": "true", "to": "rec"},
        {"from": "vip", "out": "false", "to": "bye"},
        {"from": "rec", "out": "next", "to": "bye"},
    ],
}


def test_a_vip_is_looked_up_and_the_complaint_becomes_a_ticket(make_box: BoxFactory) -> None:
    ids: dict[str, int] = {}

    def seed(db: Any, _ids: dict[str, int]) -> None:
        assert validate(FLOW, Catalog()) == []
        ids["vip"] = resolved(
            CustomerStore(db).create("admin", "Li Lei", ["+86 139-1234-5678"], "vip")
        )
        row = resolved(db.ivr.create_flow("complaints", FLOW, "test"))
        resolved(db.ivr.publish(row.id, row.version, "test"))
        resolved(db.ivr.bind_did("*", row.id))

    with make_box(seed=seed) as box:
        f = Findings()
        caller = box.call(number=CALLER, hangup_after=8)  # talks (440 Hz) into the recording
        box.wait_gone(caller, timeout=40)
        row = box.wait_call_row(caller)
        events = box.call_events(row["id"])
        data = [json.loads(e["data"]) for e in events if e["kind"] == "ivr_step"]
        steps = [(d["node"], d["branch"]) for d in data]
        # the caller hangs up while recorded: the record node ends on "hangup", or on "next"
        # when the recording's result came before the session heard the hangup
        f.equal(steps[:2], [("who", "found"), ("vip", "true")], "the flow's steps")
        f.check(
            steps[2:3] in ([("rec", "hangup")], [("rec", "next")]), f"the record node: {steps[2:]}"
        )
        f.equal(row["customer_id"], ids["vip"], "the call's customer")
        v, t = model.voicemails, model.tickets
        messages = box.rows(sa.select(v).where(v.c.call_id == row["id"]))
        f.equal([m["kind"] for m in messages], ["complaint"], "the complaint's message")
        tickets = box.wait_rows(lambda: box.rows(sa.select(t)), "the complaint's ticket")
        f.equal(len(tickets), 1, "tickets")
        if messages and tickets:
            got = tickets[0]
            f.equal(
                (got["type_key"], got["source"], got["customer_id"], got["call_id"]),
                ("complaint", "ivr", ids["vip"], row["id"]),
                "the ticket's type, source, customer and call",
            )
            f.equal(got["voicemail_id"], messages[0]["id"], "the ticket's recording")
            f.check(messages[0]["duration_ms"] >= 2000, f"recorded {messages[0]['duration_ms']} ms")
        log = box.daemon_log()
        f.check("Traceback" not in log and "Unhandled" not in log, "ccboxd logged a traceback")
        f.verdict()
