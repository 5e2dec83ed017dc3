"""The desk and notice APIs and pages over real HTTP: the screen pop of the agent's own call
(ringing, answered, wrapping up) and 404 for another agent's, the disposition and notes,
notices for everyone and for a queue with audit and bus events, roles, CSRF, validation,
and hostile values stored as given and escaped."""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui.live_feed import NoticePosted, NoticeWithdrawn

HOSTILE = "<img src=x onerror=alert(1)>"
CALLER = "13800138000"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    sales_skill = resolved(db.skills.add("sales")).id
    agent_user = resolved(db.users.login_record("agent")).user.id
    for number in ("1001", "1002"):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        if number == "1001":
            resolved(db.agents.link_user(agent.id, agent_user))
    resolved(db.queues.add("support", "Support", skills={tech: 3}))
    resolved(db.queues.add("sales", skills={sales_skill: 3}))
    customers = CustomerStore(db)
    resolved(customers.create("admin", HOSTILE, [CALLER], "vip", "x@example.com", "ACC-7", HOSTILE))
    # an earlier call from the same number, with a note
    old = resolved(db.calls.start("old-1", "old-1", "inbound", T0, CALLER, "Zhang", "4000"))
    a1002 = resolved(db.agents.list_all())[1].id
    resolved(db.calls.finish(old, T0, T0, 16, "completed", agent_id=a1002))
    resolved(db.desk.add_note(old, a1002, "complaint", "said " + HOSTILE))


def offer_to(acd: Any, agent_number: str, uniqueid: str) -> Any:
    """The ACD offers CALLER's call ``uniqueid`` on queue support to ``agent_number`` alone
    (every agent logged in, the others paused while it joins); the queued call."""
    for a in acd.agents.values():
        if a.state == "logged_out":
            acd.login(a.id)
    other = [a for a in acd.agents.values() if a.number != agent_number]
    for a in other:
        acd.pause(a.id, "break")
    qcall = acd.join(acd.queue("support").id, CALLER, uniqueid)
    for a in other:
        acd.unpause(a.id)
    return qcall


class DeskTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd
        self.db = self.app.master.db

    async def _ring(self, agent_number: str, uniqueid: str, name: str = HOSTILE) -> tuple[int, Any]:
        """A calls row (with IVR input) and the ACD offering that call to one agent."""
        db = self.db
        call_id = await db.calls.start(uniqueid, uniqueid, "inbound", T0, CALLER, name, "4000")
        await db.calls.add_event(
            call_id, "ivr_step", T0, {"flow": "main", "node": "menu", "input": "2"}
        )
        await db.calls.add_event(
            call_id, "ivr_step", T0, {"flow": "main", "node": "hello", "input": ""}
        )
        return call_id, offer_to(self.acd, agent_number, uniqueid)

    async def test_the_pop_of_the_own_call_while_ringing_answered_and_in_wrap_up(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.get, "/api/desk/me")
        self.assertEqual((r.status, r.json()["number"], r.json()["call_id"]), (200, "1001", None))
        call_id, qcall = await self._ring("1001", "u-1")
        agent = self.acd.agent_by_number("1001")
        assert agent is not None
        self.assertEqual(agent.state, "ringing")
        r = await self.call(b.get, "/api/desk/me")
        self.assertEqual((r.json()["state"], r.json()["call_id"]), ("ringing", call_id))
        r = await self.call(b.get, f"/api/desk/pop?call_id={call_id}")
        self.assertEqual(r.status, 200, r.body)
        pop = r.json()
        self.assertEqual((pop["caller_number"], pop["caller_name"]), (CALLER, HOSTILE))
        self.assertEqual(pop["customer"]["name"], HOSTILE)
        self.assertEqual(pop["customer"]["account"], "ACC-7")
        self.assertEqual([(s["node"], s["input"]) for s in pop["ivr"]], [("menu", "2")])
        self.assertEqual(pop["open_tickets"], [])
        self.assertEqual(pop["queue"], "Support")
        [old] = pop["last_calls"]
        self.assertEqual((old["agent"], old["outcome"]), ("Agent 1002", "completed"))
        self.assertEqual(
            [(n["disposition"], n["notes"]) for n in old["notes"]],
            [("complaint", "said " + HOSTILE)],
        )
        # answered, then over: the agent wraps up and may still read and note the call
        self.acd.answered(qcall, "PJSIP/1001")
        self.assertEqual((await self.call(b.get, f"/api/desk/pop?call_id={call_id}")).status, 200)
        self.acd.call_ended(qcall)
        self.assertEqual(agent.state, "wrap_up")
        r = await self.call(b.get, f"/api/desk/pop?call_id={call_id}")
        self.assertEqual(r.status, 200)
        r = await self.call(
            b.post_json,
            "/api/desk/notes",
            {"call_id": call_id, "disposition": "resolved", "notes": HOSTILE},
            token,
        )
        self.assertEqual(
            (r.status, r.json()["notes"], r.json()["agent"]), (200, HOSTILE, "Agent 1001")
        )
        saved = await self.db.desk.notes(call_id)
        self.assertEqual([(n.disposition, n.notes) for n in saved], [("resolved", HOSTILE)])
        r = await self.call(b.get, f"/api/desk/pop?call_id={call_id}")
        self.assertEqual([n["notes"] for n in r.json()["notes"]], [HOSTILE])

    async def test_another_agents_call_is_404_and_supervisors_read_any(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        theirs, _ = await self._ring("1002", "u-2")
        self.assertEqual(self.acd.agent_by_number("1002").state, "ringing")  # type: ignore[union-attr]
        r = await self.call(b.get, f"/api/desk/pop?call_id={theirs}")
        self.assertEqual(r.status, 404)
        self.assertNotIn(CALLER, r.body)
        for call_id in (theirs, 999999):
            r = await self.call(
                b.post_json,
                "/api/desk/notes",
                {"call_id": call_id, "disposition": "resolved", "notes": "x"},
                token,
            )
            self.assertEqual(r.status, 404)
        self.assertEqual(await self.db.desk.notes(theirs), [])
        sup = await self.app.logged_in("sup")
        r = await self.call(sup.get, f"/api/desk/pop?call_id={theirs}")
        self.assertEqual((r.status, r.json()["caller_name"]), (200, HOSTILE))
        self.assertEqual((await self.call(sup.get, "/api/desk/pop?call_id=999999")).status, 404)
        sup_token = (await self.call(sup.get, "/")).csrf()
        r = await self.call(
            sup.post_json,
            "/api/desk/notes",
            {"call_id": theirs, "disposition": "resolved", "notes": "x"},
            sup_token,
        )
        self.assertEqual(r.status, 403)  # notes are the agent's
        qa = await self.app.logged_in("qa")
        self.assertEqual((await self.call(qa.get, f"/api/desk/pop?call_id={theirs}")).status, 403)
        anon = self.app.browser()
        self.assertEqual((await self.call(anon.get, f"/api/desk/pop?call_id={theirs}")).status, 401)

    async def test_bad_notes_are_400_and_without_csrf_403(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        call_id, qcall = await self._ring("1001", "u-3")
        qcall.record_id = call_id  # as the IVR's queue step sets it
        good = {"call_id": call_id, "disposition": "other", "notes": "fine"}
        for bad in (
            {**good, "disposition": "fixed"},
            {**good, "disposition": ["other"]},
            {**good, "notes": "x" * 4001},
            {**good, "notes": 5},
            {**good, "call_id": "abc"},
            {**good, "call_id": -1},
            {**good, "call_id": True},
            {"disposition": "other"},
            [good],
        ):
            r = await self.call(b.post_json, "/api/desk/notes", bad, token)
            self.assertEqual(r.status, 400, bad)
        for path in ("/api/desk/pop", "/api/desk/pop?call_id=x", "/api/desk/pop?call_id=0"):
            self.assertEqual((await self.call(b.get, path)).status, 400, path)
        r = await self.call(b.post_json, "/api/desk/notes", good, None)
        self.assertEqual(r.status, 403)
        self.assertEqual(await self.db.desk.notes(call_id), [])
        r = await self.call(b.post_json, "/api/desk/notes", {**good, "notes": "y" * 4000}, token)
        self.assertEqual(r.status, 200)

    async def test_notices_posted_listed_by_queue_withdrawn_audited_published(self) -> None:
        await self._start()
        seen: list[object] = []
        self.app.master.bus.subscribe(NoticePosted, seen.append)
        self.app.master.bus.subscribe(NoticeWithdrawn, seen.append)
        sup = await self.app.logged_in("sup")
        token = (await self.call(sup.get, "/")).csrf()
        support = self.acd.queue("support").id
        sales = self.acd.queue("sales").id
        posted = []
        for body in (
            {"text": HOSTILE, "level": "urgent", "minutes": 30},
            {"text": "support only", "level": "info", "minutes": 5, "queue_id": support},
            {"text": "sales only", "level": "warning", "minutes": 5, "queue_id": sales},
        ):
            r = await self.call(sup.post_json, "/api/notices/", body, token)
            self.assertEqual(r.status, 200, r.body)
            posted.append(r.json())
        self.assertEqual(posted[0]["text"], HOSTILE)
        self.assertAlmostEqual(posted[0]["expires_at"] - posted[0]["created_at"], 1800, places=3)
        self.assertEqual([type(e).__name__ for e in seen], ["NoticePosted"] * 3)
        self.assertEqual(seen[0].notice["text"], HOSTILE)  # type: ignore[attr-defined]
        # the agent (1001, tech 5) serves support, not sales
        agent = await self.app.logged_in("agent")
        r = await self.call(agent.get, "/api/notices/")
        self.assertEqual(
            sorted(n["text"] for n in r.json()["notices"]), sorted([HOSTILE, "support only"])
        )
        r = await self.call(sup.get, "/api/notices/")
        self.assertEqual(len(r.json()["notices"]), 3)
        agent_token = (await self.call(agent.get, "/")).csrf()
        r = await self.call(
            agent.post_json, "/api/notices/", {"text": "hi", "minutes": 5}, agent_token
        )
        self.assertEqual(r.status, 403)
        r = await self.call(
            agent.post_json, "/api/notices/withdraw", {"id": posted[0]["id"]}, agent_token
        )
        self.assertEqual(r.status, 403)
        r = await self.call(sup.post_json, "/api/notices/withdraw", {"id": posted[1]["id"]}, token)
        self.assertEqual(r.status, 200)
        self.assertEqual(type(seen[-1]).__name__, "NoticeWithdrawn")
        self.assertEqual(seen[-1].notice_id, posted[1]["id"])  # type: ignore[attr-defined]
        r = await self.call(sup.post_json, "/api/notices/withdraw", {"id": posted[1]["id"]}, token)
        self.assertEqual(r.status, 404)
        r = await self.call(agent.get, "/api/notices/")
        self.assertEqual([n["text"] for n in r.json()["notices"]], [HOSTILE])
        audit = await self.db.audit.recent()
        actions = [(e.action, e.target, e.actor) for e in audit if e.action.startswith("notice.")]
        self.assertEqual(
            sorted(actions),
            sorted(
                [("notice.post", f"notice:{p['id']}", "sup") for p in posted]
                + [("notice.withdraw", f"notice:{posted[1]['id']}", "sup")]
            ),
        )
        # a ticket's escalation addresses one agent, or the supervisors only
        from appliance.db import notice_store

        one = self.acd.agent_by_number("1001")
        assert one is not None
        now = dt.datetime.now(dt.UTC)

        def escalated(conn: Any) -> None:
            add = notice_store.add
            add(conn, "ann's ticket", "urgent", "escalation", 5, None, now, agent_id=one.id)
            add(conn, "nobody's ticket", "urgent", "escalation", 5, None, now, supervisors=True)

        await self.db.run(escalated)
        r = await self.call(agent.get, "/api/notices/")
        self.assertEqual(sorted(n["text"] for n in r.json()["notices"]), [HOSTILE, "ann's ticket"])
        r = await self.call(sup.get, "/api/notices/")
        for_ann = [n for n in r.json()["notices"] if n["text"] == "ann's ticket"]
        self.assertEqual([(n["agent_id"], n["agent_number"]) for n in for_ann], [(one.id, "1001")])
        self.assertIn("nobody's ticket", [n["text"] for n in r.json()["notices"]])

    async def test_bad_notices_are_400_and_without_csrf_403(self) -> None:
        await self._start()
        sup = await self.app.logged_in("sup")
        token = (await self.call(sup.get, "/")).csrf()
        good = {"text": "hello", "level": "info", "minutes": 10}
        for bad in (
            {**good, "text": ""},
            {**good, "text": "   "},
            {**good, "text": "x" * 501},
            {**good, "text": 5},
            {**good, "level": "panic"},
            {**good, "minutes": 0},
            {**good, "minutes": 1441},
            {**good, "minutes": "10"},
            {**good, "minutes": True},
            {**good, "queue_id": 999},
            {**good, "queue_id": "support"},
            {"text": "no minutes"},
        ):
            r = await self.call(sup.post_json, "/api/notices/", bad, token)
            self.assertEqual(r.status, 400, bad)
        for bad_id in ({"id": "1"}, {"id": 0}, {}):
            r = await self.call(sup.post_json, "/api/notices/withdraw", bad_id, token)
            self.assertEqual(r.status, 400, bad_id)
        r = await self.call(sup.post_json, "/api/notices/", good, None)
        self.assertEqual(r.status, 403)
        self.assertEqual((await self.call(sup.get, "/api/notices/")).json()["notices"], [])
        anon = self.app.browser()
        self.assertEqual((await self.call(anon.get, "/api/notices/")).status, 401)

    async def test_the_pages_by_role_with_translated_strings_and_escaped_values(self) -> None:
        await self._start()
        agent = await self.app.logged_in("agent")
        r = await self.call(agent.get, "/desk")
        self.assertEqual(r.status, 200)
        for needle in ('id="desk-pop"', "/static/desk.js", 'value="follow_up"', 'value="lunch"'):
            self.assertIn(needle, r.body)
        self.assertNotIn(HOSTILE, r.body)  # the agent's display name is hostile
        self.assertIn(html.escape(HOSTILE, quote=False), r.body)
        self.assertEqual((await self.call(agent.get, "/desk/notices")).status, 403)
        sup = await self.app.logged_in("sup")
        self.assertEqual((await self.call(sup.get, "/desk")).status, 403)
        r = await self.call(sup.get, "/desk/notices")
        self.assertEqual(r.status, 200)
        self.assertIn("Support", r.body)
        anon = self.app.browser()
        r = await self.call(anon.get, "/desk")
        self.assertEqual((r.status, "/login?next=/desk" in r.location), (303, True))
        zh = await self.app.logged_in("agent")
        r = await self.call(zh.get, "/desk", {"Accept-Language": "zh-CN"})
        self.assertEqual(r.status, 200)
        self.assertIn('<html lang="zh-CN">', r.body)
        # the page's own labels and the strings its script shows are both in Chinese
        for chinese in ("我的状态", "暂停录音", "立即录音", "午餐"):
            self.assertIn(chinese, r.body)
        strings = json.loads(r.body.split('id="desk-strings">')[1].split("</script>")[0])
        self.assertEqual(
            (strings["rec_on"], strings["rec_off"], strings["ringing"]),
            ("录音中", "未录音", "来电"),
        )
        self.assertEqual((await self.call(zh.get, "/static/desk.js")).status, 200)
