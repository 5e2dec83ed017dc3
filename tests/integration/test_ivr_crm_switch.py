"""The IVR's side of the CRM end to end: ccboxd and the switch simulator on loopback. The
caller's customer is looked up by the caller's number in another form, the flow branches on
its class, and the caller's recorded complaint becomes a ticket with the recording, the call
and the customer."""

from __future__ import annotations

from drivers.asterisk.simulator.agi_caller import CallerScript
from tests.integration.test_ivr_switch import IVRTestCase, doc, n


class IVRComplaintTicketTests(IVRTestCase):
    async def test_a_vip_found_by_the_lookup_records_a_complaint_that_opens_a_ticket(
        self,
    ) -> None:
        master = await self.start_ivr()
        customers, tickets = master.ivr.customers, master.ivr.tickets
        assert customers is not None and tickets is not None
        vip = await customers.create("admin", "Li Lei", ["+86 138-0013-8000"], "vip")
        await self.publish(
            master,
            "complaints",
            doc(
                [
                    n("who", "lookup", source="customer", key="${caller_number}", store="c"),
                    n("vip", "condition", left="${c_class}", op="eq", right="vip"),
                    n("rec", "record", prompt="hello", kind="complaint", ticket=True),
                    n("bye", "hangup", prompt="bye"),
                ],
                [
                    ("who", "found", "vip"),
                    ("who", "not_found", "bye"),
                    ("vip", "true", "rec"),
                    ("vip", "false", "bye"),
                    ("rec", "next", "bye"),
                ],
            ),
        )
        script = CallerScript(caller_number="013800138000", prompt_s=0.05, message_s=1.0)
        outcome = await self.call(script)
        row = await self.row(master, outcome.uniqueid)
        self.assertEqual(
            await self.steps(master, row["id"]),
            [
                ("who", "013800138000", "found"),
                ("vip", "vip", "true"),
                ("rec", "message", "next"),
                ("bye", "", None),
            ],
        )
        self.assertEqual(row["customer_id"], vip)
        [message] = await master.db.voicemail.messages("complaints")
        [opened] = [d for k, d in await master.db.calls.events(row["id"]) if k == "ticket_opened"]
        ticket = await tickets.get(opened["ticket"])
        self.assertEqual(
            (ticket.type_key, ticket.source, ticket.customer_id, ticket.voicemail_id),
            ("complaint", "ivr", vip, message.id),
        )
        self.assertEqual((ticket.call_id, message.kind), (row["id"], "complaint"))
        self.assertIn("013800138000", ticket.subject)
