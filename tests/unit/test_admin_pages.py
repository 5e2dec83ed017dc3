"""The admin pages over real HTTP: agents, queues, dialed numbers, users and the system
status. Roles, CSRF, bad values (a message, nothing changed), hostile names escaped, and
changes seen by the running ACD at once."""

from __future__ import annotations

from typing import Any

from acd import agent_state as st
from acd.service import ACDError
from appliance.cli import resolved
from appliance.db.admin_store import AdminStore
from tests.support.appliance import USERS, RunningAppliance
from tests.support.http import Browser, Response
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

HOSTILE = "<img src=x onerror=alert(1)>"
PAGES = ("/admin/agents", "/admin/queues", "/admin/dids", "/admin/users", "/admin/system")


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    resolved(db.skills.add("billing"))
    agent_user = resolved(db.users.login_record("agent")).user.id
    a = resolved(db.agents.add("1001", "Agent 1001", "sales", "PJSIP/1001"))
    resolved(db.agents.set_skill(a.id, tech, 5))
    resolved(db.agents.link_user(a.id, agent_user))
    resolved(db.agents.add("1002", "Agent 1002", "", "PJSIP/1002"))
    resolved(db.queues.add("support", "Support", skills={tech: 3}))
    resolved(db.queues.add("billing", "Billing", overflow_kind="hangup"))


QUEUE_FORM = {
    "display_name": "Help desk",
    "strategy": "fewest_calls",
    "service_level_s": "30",
    "max_wait_s": "600",
    "wrapup_s": "20",
    "ring_timeout_s": "25",
    "max_len": "10",
    "auto_pause_misses": "2",
    "announce_every_s": "60",
    "overflow_kind": "extension",
    "overflow_queue_id": "",
    "overflow_target": "8000",
    "callback_key": "1",
    "voicemail_key": "2",
    "moh_class": "calm",
    "recording_retention_days": "90",
    "join_empty": "1",
    "record_calls": "1",
}


class AdminPagesCase(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.db = self.app.master.db
        self.acd = self.app.master.acd

    async def submit(self, b: Browser, page: str, action: str, form: dict[str, str]) -> Response:
        """Post ``form`` from ``page`` (its CSRF token) and open where it redirects."""
        token = (await self.call(b.get, page)).csrf()
        r = await self.call(b.post, action, {"_csrf": token, **form})
        self.assertEqual(r.status, 303, r.body[:300])
        path = "/" + r.location.split("/", 3)[3] if "://" in r.location else r.location
        page_after: Response = await self.call(b.get, path)
        self.assertEqual(page_after.status, 200, (path, page_after.body[:300]))
        return page_after

    async def admin(self) -> Browser:
        return await self.app.logged_in("admin")

    def agent(self, number: str) -> Any:
        agent = self.acd.agent_by_number(number)
        assert agent is not None
        return agent

    async def detail(self, number: str) -> Any:
        agents = await AdminStore(self.db).agents()
        return next(a for a in agents if a.number == number)


class AccessTests(AdminPagesCase):
    async def test_each_page_is_admin_only_and_unauthenticated_goes_to_login(self) -> None:
        await self._start()
        anon = self.app.browser()
        for path in PAGES:
            r = await self.call(anon.get, path)
            self.assertEqual(r.status, 303, path)
            self.assertIn("/login?next=" + path, r.location)
        for name in ("sup", "agent", "qa"):
            b = await self.app.logged_in(name)
            for path in (*PAGES, "/admin/agents/edit?id=1", "/admin/queues/edit?id=1"):
                self.assertEqual((await self.call(b.get, path)).status, 403, (name, path))
            token = (await self.call(b.get, "/")).csrf()
            r = await self.call(
                b.post, "/admin/users/save", {"_csrf": token, "id": "1", "role": "qa"}
            )
            self.assertEqual(r.status, 403)
        admin = await self.admin()
        for path in PAGES:
            self.assertEqual((await self.call(admin.get, path)).status, 200, path)
        users = await self.db.users.list_all()
        self.assertEqual([u.role for u in users if u.username == "admin"], ["admin"])

    async def test_posts_without_the_csrf_token_are_refused_and_change_nothing(self) -> None:
        await self._start()
        b = await self.admin()
        agent_id = self.agent("1001").id
        posts = [
            ("/admin/agents/add", {"number": "1500", "name": "x", "status": "active"}),
            ("/admin/agents/save", {"id": str(agent_id), "name": "x", "status": "resigned"}),
            ("/admin/queues/add", {"name": "sneaky", "strategy": "random"}),
            ("/admin/dids/add", {"number": "5551234"}),
            ("/admin/users/save", {"id": "1", "role": "qa", "display_name": "x"}),
        ]
        for path, form in posts:
            r = await self.call(b.post, path, form)
            self.assertEqual(r.status, 403, path)
            self.assertIn("The form has expired", r.body)
        self.assertEqual(self.agent("1001").status, "active")
        self.assertIsNone(self.acd.agent_by_number("1500"))
        self.assertNotIn("sneaky", self.acd.queue_by_name)
        self.assertEqual(await AdminStore(self.db).dids(), [])


class AgentPageTests(AdminPagesCase):
    async def test_add_edit_and_status_reach_the_running_acd(self) -> None:
        await self._start()
        b = await self.admin()
        page = await self.submit(
            b,
            "/admin/agents",
            "/admin/agents/add",
            {
                "number": "1003",
                "name": HOSTILE,
                "department": "<b>ops</b>",
                "device": "PJSIP/1003",
                "status": "active",
            },
        )
        self.assertIn("Agent 1003 added.", page.body)
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertIn("&lt;b&gt;ops&lt;/b&gt;", page.body)
        new = self.agent("1003")
        self.assertEqual((new.name, new.device), (HOSTILE, "PJSIP/1003"))
        self.assertIs(self.acd.by_device["PJSIP/1003"], new)
        edit = f"/admin/agents/edit?id={new.id}"
        page = await self.call(b.get, edit)
        self.assertNotIn(HOSTILE, page.body)
        # Logged in, then put on leave: logged out at once, and cannot log in again.
        self.acd.login(new.id)
        page = await self.submit(
            b,
            edit,
            "/admin/agents/save",
            {
                "id": str(new.id),
                "name": "Nina",
                "department": "ops",
                "device": "Local/1003@agent-phones/n",  # follow-me through a context
                "status": "on_leave",
                "user_id": "",
            },
        )
        self.assertIn("Agent saved.", page.body)
        self.assertEqual((new.name, new.status, new.state), ("Nina", "on_leave", st.LOGGED_OUT))
        self.assertEqual(new.device, "Local/1003@agent-phones/n")
        with self.assertRaises(ACDError):
            self.acd.login(new.id)
        rows = await self.db.audit.recent(target=f"agent:{new.id}")
        self.assertEqual([r.action for r in rows], ["admin.agent.save", "admin.agent.add"])
        self.assertEqual((rows[0].actor, rows[0].detail["status"]), ("admin", "on_leave"))
        [row] = [a for a in await AdminStore(self.db).agents() if a.id == new.id]
        self.assertEqual(row.department, "ops")

    async def test_agents_by_department(self) -> None:
        await self._start()
        b = await self.admin()
        for number, department in (("1101", "Sales 销售"), ("1102", "Sales 销售"), ("1103", "")):
            await self.submit(
                b,
                "/admin/agents",
                "/admin/agents/add",
                {
                    "number": number,
                    "name": f"A{number}",
                    "department": department,
                    "status": "active",
                },
            )
        page = await self.call(b.get, "/admin/agents")
        # the departments typed so far, with their head counts, to filter by and to pick from
        self.assertIn('Sales 销售 <span class="muted">(2)</span>', page.body)
        self.assertIn('<option value="Sales 销售">', page.body)
        self.assertIn("1103", page.body)
        page = await self.call(b.get, "/admin/agents?department=Sales+%E9%94%80%E5%94%AE")
        self.assertEqual(page.status, 200)
        self.assertIn("1101", page.body)
        self.assertIn("1102", page.body)
        self.assertNotIn("<td>1103</td>", page.body)
        page = await self.call(b.get, "/admin/agents?department=%3Cimg%3E")
        self.assertEqual(page.status, 200)
        self.assertNotIn("<td>1101</td>", page.body)
        self.assertNotIn("<img>", page.body)

    async def test_bad_agent_values_give_a_message_and_change_nothing(self) -> None:
        await self._start()
        b = await self.admin()
        agent = self.agent("1001")
        edit = f"/admin/agents/edit?id={agent.id}"
        good = {
            "id": str(agent.id),
            "name": "Agent 1001",
            "department": "sales",
            "device": "PJSIP/1001",
            "status": "active",
            "user_id": "",
        }
        cases = [
            ({"device": "PJSIP/1001&PJSIP/9999"}, "Phone: like PJSIP/1001"),
            ({"device": "SIP/1001"}, "Asterisk 22 has no SIP/"),  # no chan_sip any more
            ({"device": "Local/1@ctx,tT"}, "Phone: like PJSIP/1001"),
            ({"device": "Local/${EXTEN}@ctx"}, "Phone: like PJSIP/1001"),
            ({"device": "PJSIP/1002"}, "the phone PJSIP/1002 is agent 1002"),
            ({"status": "boss"}, "Status: not a valid choice."),
            ({"name": ""}, "Name: required."),
            ({"name": "x" * 129}, "Name: at most 128 characters."),
            ({"name": "a\x00b"}, "control characters"),
            ({"user_id": "99999"}, "no user 99999"),
            ({"user_id": "abc"}, "Web login: not a valid choice."),
        ]
        for change, message in cases:
            page = await self.submit(b, edit, "/admin/agents/save", {**good, **change})
            self.assertIn(message, page.body, change)
        detail = await self.detail("1001")
        self.assertEqual(
            (detail.device, detail.status, detail.name), ("PJSIP/1001", "active", "Agent 1001")
        )
        self.assertEqual((agent.device, agent.status), ("PJSIP/1001", "active"))
        for form, message in (
            ({"number": "12a", "name": "x", "status": "active"}, "2 to 16 digits"),
            ({"number": "1001", "name": "x", "status": "active"}, "agent 1001 already exists"),
        ):
            page = await self.submit(b, "/admin/agents", "/admin/agents/add", form)
            self.assertIn(message, page.body)
        self.assertEqual(len(await self.db.agents.list_all()), 2)
        token = (await self.call(b.get, edit)).csrf()
        r = await self.call(b.post, "/admin/agents/save", {"_csrf": token, "id": "x"})
        self.assertEqual(r.status, 400)
        self.assertEqual((await self.call(b.get, "/admin/agents/edit?id=999")).status, 404)
        self.assertEqual((await self.call(b.get, "/admin/agents/edit?id=-1")).status, 404)

    async def test_skills_memberships_pin_and_login_link(self) -> None:
        await self._start()
        b = await self.admin()
        agent = self.agent("1002")
        edit = f"/admin/agents/edit?id={agent.id}"
        skills = {s.name: s.id for s in await self.db.skills.list_all()}
        page = await self.submit(
            b,
            edit,
            "/admin/agents/skill",
            {"id": str(agent.id), "skill_id": str(skills["tech"]), "level": "11"},
        )
        self.assertIn("Level: a whole number from 1 to 10.", page.body)
        self.assertEqual(agent.skills, {})
        # A waiting support call (tech >= 3) goes to 1002 as soon as it has the skill.
        self.acd.login(agent.id)
        call = self.acd.join(self.acd.queue("support").id, "13800138000", "u-1")
        self.assertEqual(agent.state, st.AVAILABLE)
        await self.submit(
            b,
            edit,
            "/admin/agents/skill",
            {"id": str(agent.id), "skill_id": str(skills["tech"]), "level": "4"},
        )
        self.assertEqual(agent.skills, {skills["tech"]: 4})
        self.assertEqual((agent.state, call.ringing), (st.RINGING, (agent,)))
        self.acd.abandoned(call)
        page = await self.submit(
            b,
            edit,
            "/admin/agents/skill",
            {"id": str(agent.id), "skill_id": str(skills["tech"]), "remove": "1"},
        )
        self.assertIn("Skill removed.", page.body)
        self.assertEqual(agent.skills, {})
        page = await self.submit(
            b, edit, "/admin/agents/new_skill", {"id": str(agent.id), "name": "bad name!"}
        )
        self.assertIn("Skill: letters, digits", page.body)
        page = await self.submit(
            b, edit, "/admin/agents/new_skill", {"id": str(agent.id), "name": "french"}
        )
        self.assertIn("Skill french created.", page.body)
        # Membership with a penalty.
        billing = self.acd.queue("billing")
        page = await self.submit(
            b,
            edit,
            "/admin/agents/member",
            {"id": str(agent.id), "queue_id": str(billing.id), "penalty": "101"},
        )
        self.assertIn("Penalty: a whole number from 0 to 100.", page.body)
        await self.submit(
            b,
            edit,
            "/admin/agents/member",
            {"id": str(agent.id), "queue_id": str(billing.id), "penalty": "3"},
        )
        self.assertEqual(self.acd.queue("billing").members, ((agent.id, 3),))
        self.assertTrue(self.acd.serves(agent, self.acd.queue("billing")))
        await self.submit(
            b,
            edit,
            "/admin/agents/member",
            {"id": str(agent.id), "queue_id": str(billing.id), "remove": "1"},
        )
        self.assertEqual(self.acd.queue("billing").members, ())
        # PIN: set (the phone login works), then cleared.
        page = await self.submit(b, edit, "/admin/agents/pin", {"id": str(agent.id), "pin": "12"})
        self.assertIn("PIN: 4 to 8 digits", page.body)
        await self.submit(b, edit, "/admin/agents/pin", {"id": str(agent.id), "pin": "4321"})
        self.assertEqual(await self.db.agents.check_pin("1002", "4321"), agent.id)
        await self.submit(b, edit, "/admin/agents/pin", {"id": str(agent.id), "clear": "1"})
        self.assertIsNone(await self.db.agents.check_pin("1002", "4321"))
        pins = await self.db.audit.recent(action="admin.agent.pin")
        self.assertEqual([r.detail for r in pins], [{"pin": "cleared"}, {"pin": "set"}])
        self.assertNotIn("4321", str(await self.db.audit.recent()))
        # The web login: the one of 1001 cannot be given to 1002 too.
        agent_user = (await self.db.users.login_record("agent")).user.id
        form = {
            "id": str(agent.id),
            "name": "Agent 1002",
            "device": "PJSIP/1002",
            "status": "active",
        }
        page = await self.submit(
            b, edit, "/admin/agents/save", {**form, "user_id": str(agent_user)}
        )
        self.assertIn("that login already belongs to agent 1001", page.body)
        self.assertIsNone(agent.user_id)


class QueuePageTests(AdminPagesCase):
    async def test_every_setting_is_saved_and_reaches_the_acd(self) -> None:
        await self._start()
        b = await self.admin()
        q = self.acd.queue("support")
        edit = f"/admin/queues/edit?id={q.id}"
        page = await self.submit(b, edit, "/admin/queues/save", {"id": str(q.id), **QUEUE_FORM})
        self.assertIn("Queue saved.", page.body)
        live = self.acd.queue("support")
        self.assertEqual(
            (
                live.display_name,
                live.strategy,
                live.service_level_s,
                live.max_wait_s,
                live.wrapup_s,
            ),
            ("Help desk", "fewest_calls", 30, 600, 20),
        )
        self.assertEqual(
            (live.ring_timeout_s, live.max_len, live.auto_pause_misses, live.announce_every_s),
            (25, 10, 2, 60),
        )
        self.assertEqual(
            (live.overflow_kind, live.overflow_queue_id, live.overflow_target),
            ("extension", None, "8000"),
        )
        self.assertEqual(
            (live.join_empty, live.announce_position, live.record_calls), (True, False, True)
        )
        self.assertEqual(
            (live.moh_class, live.callback_key, live.voicemail_key), ("calm", "1", "2")
        )
        row = await AdminStore(self.db).queue(q.id)
        assert row is not None
        self.assertEqual(row["recording_retention_days"], 90)
        self.assertEqual(self.acd.stats[q.id].threshold_s, 30)
        # Overflow into another queue; empty keys and retention.
        billing = self.acd.queue("billing")
        form = {**QUEUE_FORM, "overflow_kind": "queue", "overflow_queue_id": str(billing.id)}
        form.update(callback_key="", voicemail_key="", recording_retention_days="")
        await self.submit(b, edit, "/admin/queues/save", {"id": str(q.id), **form})
        live = self.acd.queue("support")
        self.assertEqual(
            (live.overflow_kind, live.overflow_queue_id, live.overflow_target),
            ("queue", billing.id, ""),
        )
        self.assertEqual((live.callback_key, live.voicemail_key), ("", ""))
        row = await AdminStore(self.db).queue(q.id)
        assert row is not None
        self.assertIsNone(row["recording_retention_days"])

    async def test_bad_queue_values_give_a_message_and_change_nothing(self) -> None:
        await self._start()
        b = await self.admin()
        q = self.acd.queue("support")
        edit = f"/admin/queues/edit?id={q.id}"
        cases = [
            ({"strategy": "fastest"}, "Strategy: not a valid choice."),
            ({"ring_timeout_s": "2"}, "a whole number from 5 to 300"),
            ({"wrapup_s": "-1"}, "a whole number from 0 to 3600"),
            ({"max_len": "lots"}, "a whole number from 0 to 10000"),
            ({"overflow_kind": "queue", "overflow_queue_id": ""}, "choose the queue"),
            (
                {"overflow_kind": "queue", "overflow_queue_id": str(q.id)},
                "cannot overflow into itself",
            ),
            ({"overflow_kind": "queue", "overflow_queue_id": "999"}, "no queue 999"),
            ({"overflow_kind": "extension", "overflow_target": "12;x"}, "1 to 20 digits"),
            ({"overflow_kind": "elsewhere"}, "Overflow to: not a valid choice."),
            ({"callback_key": "12"}, "Callback key: at most 1 characters."),
            ({"callback_key": "#"}, "Callback key: one digit"),
            ({"voicemail_key": "1"}, "must differ"),
            ({"recording_retention_days": "-5"}, "Keep recordings (days): 0 (forever)"),
            ({"moh_class": "a b"}, "Music on hold class:"),
        ]
        for change, message in cases:
            page = await self.submit(
                b, edit, "/admin/queues/save", {"id": str(q.id), **QUEUE_FORM, **change}
            )
            self.assertIn(message, page.body, change)
        self.assertIs(self.acd.queue("support"), q)  # never replaced
        row = await AdminStore(self.db).queue(q.id)
        assert row is not None
        self.assertEqual((row["strategy"], row["display_name"]), (q.strategy, "Support"))

    async def test_add_a_queue_and_its_required_skills_route_at_once(self) -> None:
        await self._start()
        b = await self.admin()
        page = await self.submit(
            b,
            "/admin/queues",
            "/admin/queues/add",
            {"name": "vip", "display_name": HOSTILE, "strategy": "ring_all"},
        )
        self.assertIn("Queue vip added.", page.body)
        self.assertNotIn(HOSTILE, page.body)
        for form, message in (
            ({"name": "vip", "strategy": "ring_all"}, "already exists"),
            ({"name": "has space", "strategy": "ring_all"}, "Queue name: letters"),
            ({"name": "x", "strategy": "nope"}, "Strategy: not a valid choice."),
        ):
            page = await self.submit(b, "/admin/queues", "/admin/queues/add", form)
            self.assertIn(message, page.body)
        vip = self.acd.queue("vip")
        self.assertEqual((vip.display_name, vip.strategy), (HOSTILE, "ring_all"))
        edit = f"/admin/queues/edit?id={vip.id}"
        page = await self.call(b.get, edit)
        self.assertNotIn(HOSTILE, page.body)
        skills = {s.name: s.id for s in await self.db.skills.list_all()}
        agent = self.agent("1001")  # tech 5
        self.acd.login(agent.id)
        call = self.acd.join(vip.id, "13800138000", "u-9")
        self.assertEqual(call.ringing, ())  # no skills, no members: nobody serves it
        page = await self.submit(
            b,
            edit,
            "/admin/queues/skill",
            {"id": str(vip.id), "skill_id": str(skills["tech"]), "min_level": "0"},
        )
        self.assertIn("Minimum level: a whole number from 1 to 10.", page.body)
        await self.submit(
            b,
            edit,
            "/admin/queues/skill",
            {"id": str(vip.id), "skill_id": str(skills["tech"]), "min_level": "5"},
        )
        self.assertEqual(self.acd.queue("vip").requirements, ((skills["tech"], 5),))
        self.assertEqual(call.ringing, (agent,))


class DidPageTests(AdminPagesCase):
    async def test_add_edit_delete_a_number(self) -> None:
        await self._start()
        b = await self.admin()
        ivr = self.app.master.db.ivr
        flow = await ivr.create_flow("welcome", {"nodes": []}, "admin")
        draft = await ivr.create_flow("draft", {"nodes": []}, "admin")
        await ivr.publish(flow.id, 1, "admin")
        page = await self.submit(
            b,
            "/admin/dids",
            "/admin/dids/add",
            {
                "number": "4008001234",
                "flow_id": str(flow.id),
                "description": HOSTILE,
                "record_calls": "1",
            },
        )
        self.assertIn("Number 4008001234 added.", page.body)
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn(f'<option value="{flow.id}" selected>welcome</option>', page.body)
        self.assertNotIn(">draft<", page.body)  # unpublished flows are not offered
        for form, message in (
            ({"number": "4008001234"}, "already exists"),
            ({"number": "400-800"}, "Number: digits, or *"),
            ({"number": "5550000", "flow_id": str(draft.id)}, "that flow is not published yet"),
            ({"number": "5550000", "flow_id": "777"}, "no flow 777"),
            ({"number": "5550000", "description": "d" * 256}, "at most 255 characters"),
        ):
            page = await self.submit(b, "/admin/dids", "/admin/dids/add", form)
            self.assertIn(message, page.body, form)
        dids = await AdminStore(self.db).dids()
        self.assertEqual(
            [(d.number, d.flow_id, d.record_calls) for d in dids], [("4008001234", flow.id, True)]
        )
        await self.submit(b, "/admin/dids", "/admin/dids/add", {"number": "*"})
        did = dids[0]
        page = await self.submit(
            b,
            "/admin/dids",
            "/admin/dids/save",
            {"id": str(did.id), "flow_id": "", "description": "main"},
        )
        self.assertIn("Number saved.", page.body)
        self.assertIsNone(await ivr.flow_for_did("4008001234"))
        self.assertFalse(await self.db.recordings.did_records("4008001234"))
        await self.submit(b, "/admin/dids", "/admin/dids/delete", {"id": str(did.id)})
        page = await self.submit(b, "/admin/dids", "/admin/dids/delete", {"id": str(did.id)})
        self.assertIn("That number no longer exists.", page.body)
        self.assertEqual([d.number for d in await AdminStore(self.db).dids()], ["*"])


class UserPageTests(AdminPagesCase):
    async def test_edit_role_name_active_and_reset_password(self) -> None:
        await self._start()
        b = await self.admin()
        qa_browser = await self.app.logged_in("qa")
        qa = (await self.db.users.login_record("qa")).user
        page = await self.submit(
            b,
            "/admin/users",
            "/admin/users/save",
            {"id": str(qa.id), "role": "supervisor", "display_name": HOSTILE, "active": "1"},
        )
        self.assertIn("User qa saved.", page.body)
        self.assertNotIn(HOSTILE, page.body)
        user = await self.db.users.get(qa.id)
        assert user is not None
        self.assertEqual((user.role, user.display_name, user.active), ("supervisor", HOSTILE, True))
        # The old session held the old role: it is gone.
        self.assertEqual((await self.call(qa_browser.get, "/")).status, 303)
        page = await self.submit(
            b, "/admin/users", "/admin/users/save", {"id": str(qa.id), "role": "root"}
        )
        self.assertIn("Role: not a valid choice.", page.body)
        await self.submit(
            b,
            "/admin/users",
            "/admin/users/save",
            {"id": str(qa.id), "role": "qa", "display_name": "Q"},
        )
        user = await self.db.users.get(qa.id)
        assert user is not None
        self.assertFalse(user.active)
        r = await self.call(self.app.browser().login, "qa", USERS["qa"][1])
        self.assertEqual(r.status, 401)  # disabled
        await self.submit(
            b, "/admin/users", "/admin/users/save", {"id": str(qa.id), "role": "qa", "active": "1"}
        )
        page = await self.submit(
            b, "/admin/users", "/admin/users/password", {"id": str(qa.id), "password": "short"}
        )
        self.assertIn("Not changed:", page.body)
        await self.submit(
            b,
            "/admin/users",
            "/admin/users/password",
            {"id": str(qa.id), "password": "a brand new one"},
        )
        self.assertEqual(
            (await self.call(self.app.browser().login, "qa", USERS["qa"][1])).status, 401
        )
        self.assertEqual(
            (await self.call(self.app.browser().login, "qa", "a brand new one")).status, 303
        )
        audit = await self.db.audit.recent(target=f"user:{qa.id}")
        self.assertEqual(audit[0].action, "admin.user.password")
        self.assertNotIn("a brand new one", str(audit))

    async def test_the_last_active_admin_cannot_be_disabled_or_demoted(self) -> None:
        await self._start()
        b = await self.admin()
        me = (await self.db.users.login_record("admin")).user
        for form in ({"role": "admin"}, {"role": "supervisor", "active": "1"}):
            page = await self.submit(
                b, "/admin/users", "/admin/users/save", {"id": str(me.id), **form}
            )
            self.assertIn("this is the last active admin", page.body)
        user = await self.db.users.get(me.id)
        assert user is not None
        self.assertEqual((user.role, user.active), ("admin", True))
        # With a second admin, the first may step down (and its session ends).
        sup = (await self.db.users.login_record("sup")).user
        await self.submit(
            b,
            "/admin/users",
            "/admin/users/save",
            {"id": str(sup.id), "role": "admin", "active": "1"},
        )
        token = (await self.call(b.get, "/admin/users")).csrf()
        r = await self.call(
            b.post,
            "/admin/users/save",
            {"_csrf": token, "id": str(me.id), "role": "supervisor", "active": "1"},
        )
        self.assertEqual(r.status, 303)
        self.assertEqual((await self.call(b.get, "/admin/users")).status, 303)  # logged out
        user = await self.db.users.get(me.id)
        assert user is not None
        self.assertEqual(user.role, "supervisor")


class SystemPageTests(AdminPagesCase):
    async def test_the_status_page_shows_every_part(self) -> None:
        await self._start()
        b = await self.admin()
        self.app.master.health.report("web", "degraded", HOSTILE)
        page = await self.call(b.get, "/admin/system")
        self.assertEqual(page.status, 200)
        # the parts db, acd, recorder and web by their names (webui/labels.py)
        for part in ("Database", "ACD", "Recorder", "Web UI"):
            self.assertIn(f"<td>{part}</td>", page.body)
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn("sqlite", page.body)
        from appliance.db import migrate

        self.assertIn(migrate.head_revision(), page.body)
        self.assertNotIn("(expected", page.body)
        self.assertIn(" MB", page.body)
        self.assertIn('id="sys-modem-none"', page.body)  # no [modem] device: no SMS service
        self.assertIn('id="sys-spans-none"', page.body)  # no [dahdi]: no span monitor
        self.assertIn("Not configured.", page.body)  # the test appliance has no AMI link

    async def test_the_status_page_shows_the_ami_link_fastagi_sessions_and_trunk_channels(
        self,
    ) -> None:
        """The real AMIClient logged in to the switch simulator and the real FastAGI server
        with two connections open: a fake client with ``ready`` as a method once hid a 500
        here (AMIClient.ready is a property)."""
        from twisted.internet import reactor
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Protocol

        from appliance.master import ApplianceMaster
        from drivers.asterisk.ami.client import AMIClient
        from drivers.asterisk.callmodel import Channel
        from tests.support.acd_rig import simulated_switch, wait_for
        from tests.support.appliance import migrate_and_seed

        _sim, config = simulated_switch(self)
        migrate_and_seed(config)
        master = ApplianceMaster(config, reactor)
        master.startService()
        self.addCleanup(master.stopService)  # before ready: a half-started master is stopped too
        await master.ready
        self.app = RunningAppliance(master)
        await wait_for(lambda: master.ami is not None and master.ami.ready, "the AMI login")
        self.assertIsInstance(master.ami, AMIClient)
        assert master.fastagi is not None and master.callmodel is not None
        model = master.callmodel
        names = ("DAHDI/1-1", "DAHDI/2-1", "PJSIP/1001-00000001", "DAHDI/3-1")
        for n, name in enumerate(names):
            ch = Channel(f"u{n}", "l1", name, 6, "", "", "", "", 0.0)
            if n == 3:
                ch.hungup_at = 5.0  # gone: not in use
            model.channels[ch.uniqueid] = ch
        for _ in range(2):  # two FastAGI connections that have not sent their headers yet
            endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", master.fastagi.port_number)
            proto = await connectProtocol(endpoint, Protocol())
            self.addCleanup(proto.transport.loseConnection)
        await wait_for(lambda: len(master.fastagi.factory.sessions) == 2, "two sessions")
        b = await self.admin()
        r = await self.call(b.get, "/admin/system")
        self.assertEqual(r.status, 200, r.body[:300])
        page = r.body
        self.assertIn('class="health-ok">connected<', page)
        self.assertIn(f"connected to 127.0.0.1:{config.ami.port}", page)
        self.assertIn('<dd class="sessions-open">2</dd>', page)
        self.assertIn(f"<dd>{config.fastagi.bind}:{master.fastagi.port_number}</dd>", page)
        self.assertIn("<dt>DAHDI</dt><dd>2</dd>", page)
        self.assertIn("<dt>PJSIP</dt><dd>1</dd>", page)
        self.assertIn('<span class="chip">DAHDI/1-1</span>', page)
        self.assertNotIn("DAHDI/3-1", page)
        self.assertNotIn("Not configured.", page)
