"""The ACD's JSON API over real HTTP: an agent's own state, supervisors acting for agents,
role checks, and bad bodies."""

from __future__ import annotations

from typing import Any

from appliance.cli import resolved
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    agent_user = resolved(db.users.login_record("agent")).user.id
    for number in ("1001", "1002"):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        if number == "1001":
            resolved(db.agents.link_user(agent.id, agent_user))
    resolved(db.queues.add("support", skills={tech: 3}))


class AcdApiTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)

    async def test_an_agent_logs_in_pauses_and_reads_its_own_state(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.get, "/api/acd/state")
        self.assertEqual(
            (r.status, r.json()["number"], r.json()["state"]), (200, "1001", "logged_out")
        )
        r = await self.call(b.post_json, "/api/acd/state", {"action": "login"}, token)
        self.assertEqual((r.status, r.json()["state"]), (200, "available"))
        r = await self.call(
            b.post_json, "/api/acd/state", {"action": "pause", "reason": "lunch"}, token
        )
        self.assertEqual((r.json()["state"], r.json()["reason"]), ("paused", "lunch"))
        r = await self.call(
            b.post_json, "/api/acd/state", {"action": "pause", "reason": "nap"}, token
        )
        self.assertEqual(r.status, 409)
        self.assertIn("pause reason must be one of", r.json()["error"])
        r = await self.call(b.post_json, "/api/acd/state", {"action": "login"}, token)
        self.assertEqual(
            (r.status, r.json()["error"]), (409, "agent 1001: cannot login when paused")
        )
        # Another agent's state is a supervisor's business.
        r = await self.call(
            b.post_json, "/api/acd/state", {"action": "login", "agent": "1002"}, token
        )
        self.assertEqual(r.status, 403)
        r = await self.call(b.get, "/api/acd/snapshot")
        self.assertEqual(r.status, 403)
        agent = self.app.master.acd.agent_by_number("1001")
        assert agent is not None
        self.assertEqual((agent.state, agent.reason), ("paused", "lunch"))
        # An agent's own buttons are its state history, not the supervisors' audit trail.
        self.assertEqual(await self.app.master.db.audit.recent(), [])

    async def test_a_supervisor_acts_for_an_agent_and_sees_the_snapshot(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.get, "/api/acd/state")
        self.assertEqual((r.status, r.json()["error"]), (404, "this login is not an agent's"))
        r = await self.call(
            b.post_json, "/api/acd/state", {"action": "login", "agent": "1002"}, token
        )
        self.assertEqual((r.status, r.json()["state"]), (200, "available"))
        r = await self.call(
            b.post_json,
            "/api/acd/state",
            {"action": "pause", "reason": "meeting", "agent": "1002"},
            token,
        )
        self.assertEqual((r.status, r.json()["state"]), (200, "paused"))
        r = await self.call(
            b.post_json,
            "/api/acd/transfer",
            {"kind": "queue", "target": "support", "agent": "1002"},
            token,
        )
        self.assertEqual(r.status, 409)  # no call: refused, and nothing done to audit
        # Acting for an agent is audited like the console's own actions.
        rows = await self.app.master.db.audit.recent(target="agent:1002")
        self.assertEqual(
            [(row.actor, row.action, row.detail) for row in rows],
            [
                ("sup", "supervisor.pause", {"reason": "meeting"}),
                ("sup", "supervisor.login", {}),
            ],
        )
        self.assertEqual(rows[0].ip, "127.0.0.1")
        r = await self.call(
            b.post_json, "/api/acd/state", {"action": "unpause", "agent": "1002"}, token
        )
        r = await self.call(b.get, "/api/acd/snapshot")
        states = {a["number"]: a["state"] for a in r.json()["agents"]}
        self.assertEqual(states, {"1001": "logged_out", "1002": "available"})
        self.assertEqual([q["name"] for q in r.json()["queues"]], ["support"])
        r = await self.call(
            b.post_json, "/api/acd/state", {"action": "login", "agent": "9999"}, token
        )
        self.assertEqual(r.status, 404)

    async def test_bad_bodies_are_400_and_a_transfer_without_a_call_is_409(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        for body in (
            {"action": "explode"},
            {"action": ["login"]},
            {"action": "pause", "reason": "x" * 100},
            [1],
        ):
            r = await self.call(b.post_json, "/api/acd/state", body, token)
            self.assertEqual(r.status, 400, body)
        r = await self.call(b.post_json, "/api/acd/state", {"action": "login"}, None)
        self.assertEqual(r.status, 403)  # no CSRF token
        r = await self.call(
            b.post_json, "/api/acd/transfer", {"kind": "queue", "target": "support"}, token
        )
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 1001 has no call to transfer"))
        r = await self.call(
            b.post_json, "/api/acd/transfer", {"kind": "moon", "target": "x"}, token
        )
        self.assertEqual(r.status, 400)

    async def test_an_agent_the_switch_contradicts_is_freed_from_the_desk_or_the_console(
        self,
    ) -> None:
        from tests.unit.test_acd_invariants import Phones

        await self._start()
        acd = self.app.master.acd
        a1001 = acd.agent_by_number("1001")
        assert a1001 is not None
        acd.login(a1001.id)
        acd.join(acd.queue("support").id, "13800000001", "u1")
        self.assertEqual(a1001.state, "ringing")
        switch = Phones()
        switch.live.add("PJSIP/1001")
        acd.switch = switch
        b = await self.app.logged_in("agent")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.post_json, "/api/acd/state", {"action": "release"}, token)
        self.assertEqual(r.status, 409)  # the phone really rings: not the desk's to undo
        self.assertIn("the switch has a call on PJSIP/1001", r.json()["error"])
        switch.live.clear()  # the switch has nothing: the ACD's ringing is a lie
        r = await self.call(b.post_json, "/api/acd/state", {"action": "release"}, token)
        self.assertEqual((r.status, r.json()["state"]), (200, "available"))
        self.assertEqual(a1001.reason, "released")
        # The console: a supervisor frees the agent stuck again, by number.
        acd.join(acd.queue("support").id, "13800000002", "u2")
        self.assertEqual(a1001.state, "ringing")
        s = await self.app.logged_in("sup")
        s_token = (await self.call(s.get, "/")).csrf()
        r = await self.call(s.post_json, "/api/supervisor/release", {"agent": "1001"}, s_token)
        self.assertEqual((r.status, r.json()["state"]), (200, "available"))
        r = await self.call(
            s.post_json, "/api/acd/state", {"action": "release", "agent": "1002"}, s_token
        )
        self.assertEqual(
            (r.status, r.json()["error"]), (409, "agent 1002 is logged out: nothing to release")
        )
        rows = await self.app.master.db.audit.recent(target="agent:1001")
        self.assertEqual(
            [(row.actor, row.action, row.detail) for row in rows],
            [
                ("sup", "supervisor.release", {"was": "ringing"}),
                ("agent", "agent.release", {"was": "ringing"}),
            ],
        )
