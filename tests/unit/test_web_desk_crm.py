"""The desk's service side over real HTTP (webui/desk_crm_api.py): the pop of a call from a
VIP customer's second number shows the customer (class, numbers, custom fields), its last
calls from either number, its open tickets (overdue marked) and the articles linked to the
call's queue, IVR path and ticket type (the reader's language first, drafts never); one click
makes a customer of an unknown caller (the caller ID name kept as given), once; the
knowledge base's search answers text pieces, never HTML."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.field_admin import FieldAdmin
from appliance.crm.fields import FieldDef
from appliance.crm.tickets.store import TicketStore
from appliance.db.components import utcnow
from appliance.kb.store import KBStore, flow_node_key
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_desk import offer_to

HOSTILE = "<img src=x onerror=alert(1)>"
FIRST, SECOND, STRANGER = "13800138000", "010-6552 8888", "13912340000"
UNKNOWN = "13712340000"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    agent_user = resolved(db.users.login_record("agent")).user.id
    for number in ("1001", "1002"):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        if number == "1001":
            resolved(db.agents.link_user(agent.id, agent_user))
    resolved(db.queues.add("support", "Support", skills={tech: 3}))


class DeskCrmTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd
        self.db = self.app.master.db

    async def _ring(self, number: str, uniqueid: str, name: str = HOSTILE) -> int:
        """A calls row from ``number`` that went through the IVR's main menu, offered to 1001
        on queue support (``self.qcall``)."""
        call_id: int = await self.db.calls.start(
            uniqueid, uniqueid, "inbound", utcnow(), number, name, "4000"
        )
        for node, given in (("welcome", ""), ("menu", "3")):
            step = {"flow": "main", "node": node, "type": "menu", "input": given}
            await self.db.calls.add_event(call_id, "ivr_step", utcnow(), step)
        self.qcall = offer_to(self.acd, "1001", uniqueid)
        return call_id

    def _hang_up(self) -> None:
        """The call offered last ends; agent 1001 is free again."""
        self.acd.call_ended(self.qcall)
        agent = self.acd.agent_by_number("1001")
        assert agent is not None
        if agent.state == "wrap_up":
            self.acd.wrapup_done(agent.id)

    async def _kb(self) -> dict[str, int]:
        kb = KBStore(self.db)
        cat = await kb.add_category("Broadband 宽带")
        support = str(self.acd.queue("support").id)
        made = {}
        for key, title, lang, link, publish in (
            ("queue_zh", "宽带无法上网, 检查光猫", "zh", ("queue", support), True),
            ("node_en", "No internet: check the modem lights", "en", None, True),
            (
                "fault_en",
                "Faults: what to write in the ticket",
                "en",
                ("ticket_type", "fault"),
                True,
            ),
            ("draft", "Draft about the modem", "en", ("queue", support), False),
            ("elsewhere", "Sales plans", "en", ("queue", "999"), True),
        ):
            # the tag as text (an article's markup goes through the sanitizer)
            html = f"<p>{escape(HOSTILE)} 请客户查看光猫的指示灯 check the modem lights</p>"
            a = await kb.create("sup", cat, title, html, lang, (), role="supervisor")
            links = [link] if link else [("flow_node", flow_node_key("main", "menu"))]
            await kb.set_links("sup", "supervisor", a, links)
            if publish:
                await kb.submit("sup", "supervisor", a)
                await kb.approve("admin", "admin", a)
            made[key] = a
        return made

    async def test_the_pop_the_kb_search_and_one_click_customers(self) -> None:
        await self._start()
        await FieldAdmin(self.db).save("admin", None, FieldDef("plan", "Plan 套餐", "text"))
        customers = CustomerStore(self.db)
        vip = await customers.create(
            "admin", "王建国 " + HOSTILE, [FIRST, SECOND], "vip", fields={"plan": HOSTILE}
        )
        other = await customers.create("admin", "Other", [STRANGER])
        # an earlier call from the first number, and one from the second known as the VIP's
        earlier = await self.db.calls.start("e-1", "e-1", "inbound", T0, FIRST, "x", "4000")
        await self.db.calls.finish(earlier, T0, T0, 16, "completed")
        second = await self.db.calls.start("e-2", "e-2", "inbound", T0, "01065528888", "", "40")
        await CustomerStore(self.db).link_call(second, vip)
        tickets = TicketStore(self.db, clock=lambda: T0)  # opened long ago: overdue now
        late = await tickets.create(
            "sup", type_key="fault", subject="Line down " + HOSTILE, customer_id=vip
        )
        await tickets.create("sup", type_key="inquiry", subject="Not theirs", customer_id=other)
        articles = await self._kb()

        b = await self.app.logged_in("agent")
        # the second number as the switch gives it: the customer is found by its key
        call_id = await self._ring("+86 10 6552 8888", "u-1")
        r = await self.call(b.get, f"/api/desk/pop?call_id={call_id}")
        self.assertEqual(r.status, 200, r.body)
        pop = r.json()
        c = pop["customer"]
        self.assertEqual((c["id"], c["name"], c["class"]), (vip, "王建国 " + HOSTILE, "vip"))
        self.assertEqual(c["class_label"], "VIP")
        self.assertEqual(c["numbers"], ["13800138000", "01065528888"])
        self.assertEqual(c["fields"], [{"key": "plan", "label": "Plan 套餐", "value": HOSTILE}])
        self.assertEqual(c["url"], f"/customers/view?id={vip}")
        self.assertEqual([h["call_id"] for h in pop["last_calls"]], [second, earlier])
        # how each ended: the code, and its name in the reader's language ("" still going)
        outcomes = [(h["outcome"], h["outcome_label"]) for h in pop["last_calls"]]
        self.assertEqual(outcomes, [("", ""), ("completed", "Completed")])
        zh = await self.call(
            b.get, f"/api/desk/pop?call_id={call_id}", {"Accept-Language": "zh-CN"}
        )
        self.assertEqual(zh.json()["last_calls"][1]["outcome_label"], "已完成")
        [ticket] = pop["open_tickets"]
        self.assertEqual((ticket["id"], ticket["subject"]), (late, "Line down " + HOSTILE))
        self.assertEqual(
            (ticket["state"], ticket["state_label"], ticket["overdue"]), ("new", "New", True)
        )
        self.assertEqual(ticket["url"], f"/tickets/view?id={late}")
        self.assertEqual(pop["new_ticket_url"], f"/tickets/new?call_id={call_id}")
        # queue, IVR node and the open ticket's type; English first for an English reader
        shown = [a["id"] for a in pop["kb_suggestions"]]
        self.assertEqual(
            sorted(shown[:2]), sorted([articles["node_en"], articles["fault_en"]]), pop
        )
        self.assertEqual(shown[2:], [articles["queue_zh"]])
        self.assertEqual(pop["kb_suggestions"][2]["url"], f"/kb/article?id={articles['queue_zh']}")
        # the call is the customer's now (its timeline finds it)
        facts = await self.db.run(
            lambda conn: conn.exec_driver_sql(
                "SELECT customer_id FROM calls WHERE id = ?", (call_id,)
            ).scalar()
        )
        self.assertEqual(facts, vip)

        # the knowledge base's search: published only, the matches as marked text pieces
        r = await self.call(b.get, "/api/desk/kb?q=%E5%85%89%E7%8C%AB")  # 光猫
        self.assertEqual(r.status, 200, r.body)
        hits = r.json()["hits"]
        self.assertNotIn(articles["draft"], [h["id"] for h in hits])
        top = hits[0]
        self.assertEqual(top["url"], f"/kb/article?id={top['id']}")
        self.assertIn(["光猫", True], top["snippet"])
        self.assertIn(HOSTILE, "".join(t for t, _ in top["snippet"]))  # text, unescaped once
        r = await self.call(b.get, "/api/desk/kb?q=modem+lights")
        self.assertEqual(r.json()["hits"][0]["id"], articles["node_en"])
        for bad in ("", "%20", "x" * 201):
            self.assertEqual((await self.call(b.get, f"/api/desk/kb?q={bad}")).status, 400, bad)
        qa = await self.app.logged_in("qa")
        self.assertEqual((await self.call(qa.get, "/api/desk/kb?q=modem")).status, 403)
        await self._one_click_customer(b)

    async def _one_click_customer(self, b: Any) -> None:
        """One click makes a customer of an unknown caller, once."""
        token = (await self.call(b.get, "/")).csrf()
        self._hang_up()  # the VIP's call is over
        # a withheld number: nothing to make a customer of
        anonymous = await self._ring("", "u-3")
        r = await self.call(b.post_json, "/api/desk/customer", {"call_id": anonymous}, token)
        self.assertEqual(r.status, 400)
        self._hang_up()  # the caller hung up while it rang
        call_id = await self._ring(UNKNOWN, "u-2")
        pop = (await self.call(b.get, f"/api/desk/pop?call_id={call_id}")).json()
        self.assertIsNone(pop["customer"])
        self.assertEqual((pop["open_tickets"], pop["caller_name"]), ([], HOSTILE))
        body = {"call_id": call_id, "name": pop["caller_name"]}
        r = await self.call(b.post_json, "/api/desk/customer", body, None)
        self.assertEqual(r.status, 403)  # no CSRF token
        r = await self.call(b.post_json, "/api/desk/customer", body, token)
        self.assertEqual(r.status, 200, r.body)
        made = r.json()["customer_id"]
        customer = await CustomerStore(self.db).get(made)
        assert customer is not None
        self.assertEqual((customer.name, customer.numbers), (HOSTILE, (UNKNOWN,)))
        pop = (await self.call(b.get, f"/api/desk/pop?call_id={call_id}")).json()
        self.assertEqual(pop["customer"]["id"], made)
        r = await self.call(b.post_json, "/api/desk/customer", body, token)
        self.assertEqual(r.status, 409)  # the number is a customer's now
        self.assertEqual(len(await CustomerStore(self.db).search(UNKNOWN)), 1)
        audit = [e for e in await self.db.audit.recent() if e.action == "desk.customer_created"]
        self.assertEqual([(e.actor, e.target) for e in audit], [("agent", f"customer:{made}")])
        for bad in ({"call_id": "x"}, {"call_id": call_id, "name": 5}, {"name": "a"}):
            r = await self.call(b.post_json, "/api/desk/customer", bad, token)
            self.assertEqual(r.status, 400, bad)
        r = await self.call(b.post_json, "/api/desk/customer", {"call_id": 999999}, token)
        self.assertEqual(r.status, 404)
