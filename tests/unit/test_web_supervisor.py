"""The supervisor's JSON API over real HTTP (the switch replaced by a recording fake): who may
act, CSRF, validation, what reaches the ACD and the switch, and the audit rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from acd.service import QueuedCall
from appliance.cli import resolved
from appliance.db import model
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

ACTIONS = ("spy", "pause", "logout", "move", "hangup")


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    links = {"1001": "agent", "2001": "sup"}
    for number in ("1001", "1002", "2001"):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        if number in links:
            user = resolved(db.users.login_record(links[number])).user.id
            resolved(db.agents.link_user(agent.id, user))
    resolved(db.queues.add("support", skills={tech: 3}))
    resolved(db.queues.add("sales", skills={tech: 3}))


class FakeSwitch:
    """What the ACD asks of the switch, recorded; every phone's call is ``<device>-0000002a``."""

    def __init__(self) -> None:
        self.supervised: list[tuple[str, str, str]] = []
        self.hungup: list[str] = []

    def channel_of(self, device: str) -> str | None:
        return f"{device}-0000002a"

    async def supervise(self, device: str, target_channel: str, mode: str) -> str:
        self.supervised.append((device, target_channel, mode))
        return "a1"

    async def hangup(self, channel: str) -> None:
        self.hungup.append(channel)


class SupervisorApiTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd
        self.switch = FakeSwitch()
        self.acd.switch = self.switch

    async def post(self, who: tuple[Any, str], action: str, body: Any) -> Any:
        b, token = who
        return await self.call(b.post_json, f"/api/supervisor/{action}", body, token)

    async def _waiting_call(self, uniqueid: str, name: str = "Zhang San") -> tuple[int, Any]:
        """A calls row and its ACD entry waiting in "support" (agent 1002 paused: staffed)."""
        row_id = await self.app.master.db.calls.start(
            uniqueid,
            uniqueid,
            "inbound",
            dt.datetime.now(dt.UTC),
            "13800138000",
            name,
            channel=f"DAHDI/{row_hint(uniqueid)}-1",
        )
        q = self.acd.queue("support")
        queued = self.acd.join(q.id, "13800138000", uniqueid, 0, f"DAHDI/{row_hint(uniqueid)}-1")
        self.assertTrue(self.acd.is_waiting(queued))
        return row_id, queued

    async def _on_call(self, number: str, uniqueid: str) -> QueuedCall:
        agent = self.agent(number)
        self.acd.login(agent.id)
        q = self.acd.queue("support")
        queued = self.acd.join(q.id, "13800138000", uniqueid, 0, "DAHDI/9-1")
        self.assertEqual(agent.state, "ringing")
        self.acd.answered(queued, agent.device)
        self.assertEqual(agent.state, "on_call")
        return queued

    async def _audit(self) -> list[tuple[str, str, str, str]]:
        c = model.audit_log.c
        rows = await self.app.master.db.run(
            lambda conn: conn.execute(
                sa.select(c.actor, c.action, c.target, c.detail).order_by(c.id)
            ).all()
        )
        return [tuple(r) for r in rows]

    async def test_only_admins_and_supervisors_with_the_csrf_token(self) -> None:
        await self._start()
        anonymous = self.app.browser()
        agent = await self._as("agent")
        qa = await self._as("qa")
        sup_browser, _token = await self._as("sup")
        for action in ACTIONS:
            path = f"/api/supervisor/{action}"
            r = await self.call(anonymous.post_json, path, {}, "x")
            self.assertEqual(r.status, 403, action)  # no session: no token to match
            r = await self.call(anonymous.get, path)
            self.assertEqual(r.status, 405, action)
            for who in (agent, qa):
                r = await self.post(who, action, {"agent": "1002", "reason": "break"})
                self.assertEqual(r.status, 403, (action, r.body))
            r = await self.call(sup_browser.post_json, path, {"agent": "1002"}, None)
            self.assertEqual(r.status, 403, action)  # no CSRF token
            r = await self.call(sup_browser.post_json, path, {"agent": "1002"}, "forged")
            self.assertEqual(r.status, 403, action)
        # A session without a login (the login page's cookie and token): 401.
        page = await self.call(anonymous.get, "/login")
        r = await self.call(anonymous.post_json, "/api/supervisor/pause", {}, page.csrf())
        self.assertEqual(r.status, 401)
        self.assertEqual(self.switch.supervised, [])
        self.assertEqual(await self._audit(), [])

    async def test_listen_whisper_barge_ring_the_supervisors_phone(self) -> None:
        await self._start()
        sup, admin = await self._as("sup"), await self._as("admin")
        await self._on_call("1001", "u-spy")
        r = await self.post(sup, "spy", {"agent": "1001", "mode": "listen"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["channel"], "PJSIP/1001-0000002a")
        r = await self.post(admin, "spy", {"agent": "1001", "mode": "whisper"})
        self.assertEqual(r.status, 400)  # the admin's login has no agent phone
        self.assertIn("name your phone", r.json()["error"])
        r = await self.post(
            admin, "spy", {"agent": "1001", "mode": "barge", "device": "Local/3001@sup/n"}
        )
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(
            self.switch.supervised,
            [
                ("PJSIP/2001", "PJSIP/1001-0000002a", "listen"),
                ("Local/3001@sup/n", "PJSIP/1001-0000002a", "barge"),
            ],
        )
        bad = [
            {"agent": "1001", "mode": "snoop"},
            {"agent": "1001"},
            {"agent": "1001", "mode": "listen", "device": "PJSIP/3001&DAHDI/g0/99"},
            {"agent": "1001", "mode": "listen", "device": "Local/1@ccbox-outbound"},
            {"agent": "1001", "mode": "listen", "device": "SIP/3001"},
            {"agent": "1001", "mode": "listen", "device": 'PJSIP/3001"'},
            {"agent": "1001", "mode": "listen", "device": "Local/3001@sup/n,qB"},
            {"agent": "10 01", "mode": "listen"},
            {"agent": 1001, "mode": "listen"},
            {"agent": "1001", "mode": "listen", "device": "PJSIP/1001"},  # the agent's own
        ]
        for body in bad:
            r = await self.post(admin, "spy", body)
            self.assertEqual(r.status, 400, (body, r.body))
        r = await self.post(sup, "spy", {"agent": "9999", "mode": "listen"})
        self.assertEqual(r.status, 404)
        r = await self.post(sup, "spy", {"agent": "1002", "mode": "listen"})
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 1002 is not on a call"))
        r = await self.call(
            sup[0].request,
            "POST",
            "/api/supervisor/spy",
            b"{",
            {"Content-Type": "application/json", "X-CSRF-Token": sup[1]},
        )
        self.assertEqual(r.status, 400)
        self.assertEqual(len(self.switch.supervised), 2)
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit],
            [("sup", "supervisor.spy", "agent:1001"), ("admin", "supervisor.spy", "agent:1001")],
        )
        self.assertIn('"mode": "barge"', audit[1][3])
        self.assertIn('"device": "Local/3001@sup/n"', audit[1][3])

    async def test_force_pause_and_logout(self) -> None:
        await self._start()
        sup = await self._as("sup")
        agent = self.agent("1002")
        self.acd.login(agent.id)
        r = await self.post(sup, "pause", {"agent": "1002", "reason": "nap"})
        self.assertEqual(r.status, 400)
        self.assertIn("reason must be one of", r.json()["error"])
        r = await self.post(sup, "pause", {"agent": "1002"})
        self.assertEqual(r.status, 400)
        r = await self.post(sup, "pause", {"agent": "1002", "reason": "meeting"})
        self.assertEqual((r.status, r.json()["state"]), (200, "paused"), r.body)
        self.assertEqual((agent.state, agent.reason), ("paused", "meeting"))
        r = await self.post(sup, "logout", {"agent": "1002"})
        self.assertEqual((r.status, r.json()["state"]), (200, "logged_out"))
        r = await self.post(sup, "logout", {"agent": "1002"})
        self.assertEqual(r.status, 409)  # already out: nothing done, nothing audited
        await self._on_call("1001", "u-busy")
        r = await self.post(sup, "pause", {"agent": "1001", "reason": "break"})
        self.assertEqual(r.status, 409)
        self.assertIn("finish the call first", r.json()["error"])
        r = await self.post(sup, "logout", {"agent": "0000"})
        self.assertEqual(r.status, 404)
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit],
            [("sup", "supervisor.pause", "agent:1002"), ("sup", "supervisor.logout", "agent:1002")],
        )
        self.assertIn('"reason": "meeting"', audit[0][3])

    async def test_move_a_waiting_call_to_a_queue_or_an_agent(self) -> None:
        await self._start()
        sup = await self._as("sup")
        other = self.agent("1002")
        self.acd.login(other.id)
        self.acd.pause(other.id, "break")
        row_id, queued = await self._waiting_call("u-move")
        sales = self.acd.queue("sales")
        for body in (
            {"call_id": row_id},
            {"call_id": row_id, "queue": "sales", "agent": "1002"},
            {"call_id": "12; DROP TABLE calls", "queue": "sales"},
            {"call_id": -1, "queue": "sales"},
            {"call_id": True, "queue": "sales"},
            {"call_id": row_id, "queue": ["sales"]},
        ):
            r = await self.post(sup, "move", body)
            self.assertEqual(r.status, 400, (body, r.body))
        r = await self.post(sup, "move", {"call_id": row_id, "queue": "nowhere"})
        self.assertEqual(r.status, 404)
        r = await self.post(sup, "move", {"call_id": 999999, "queue": "sales"})
        self.assertEqual(r.status, 404)
        r = await self.post(sup, "move", {"call_id": row_id, "queue": "support"})
        self.assertEqual(r.status, 409)  # already there
        r = await self.post(sup, "move", {"call_id": row_id, "queue": "sales"})
        self.assertEqual((r.status, r.json()["queue"]), (200, "sales"), r.body)
        self.assertEqual(queued.queue_id, sales.id)
        self.assertTrue(self.acd.is_waiting(queued))
        r = await self.post(sup, "move", {"call_id": row_id, "agent": "1002"})
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 1002 is paused"))
        self.assertEqual(self.acd.stats[sales.id].offered, 1)
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit], [("sup", "supervisor.move", f"call:{row_id}")]
        )
        self.assertIn(f'"to_queue": {sales.id}', audit[0][3])

    async def test_move_a_waiting_callback_by_its_live_id(self) -> None:
        await self._start()
        sup = await self._as("sup")
        other = self.agent("1002")
        self.acd.login(other.id)
        self.acd.pause(other.id, "break")
        callback_id = await self.acd.schedule_callback("support", "13800138000", "Li")
        assert callback_id is not None
        queued = self.acd.callback(callback_id)
        assert queued is not None
        live_id = f"acd-{queued.id}"
        for bad in ("acd-", "acd-1x", "ACD-1", f"{live_id} "):
            r = await self.post(sup, "move", {"call_id": bad, "queue": "sales"})
            self.assertEqual(r.status, 400, bad)
        r = await self.post(sup, "move", {"call_id": "acd-99999", "queue": "sales"})
        self.assertEqual(r.status, 404)
        r = await self.post(sup, "hangup", {"call_id": live_id})
        self.assertEqual(r.status, 400)  # a callback has no channel to hang up
        r = await self.post(sup, "move", {"call_id": live_id, "queue": "sales"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(queued.queue_id, self.acd.queue("sales").id)
        self.assertTrue(self.acd.is_waiting(queued))
        audit = await self._audit()
        self.assertEqual([t for _, _, t, _ in audit], [f"call:{live_id}"])

    async def test_offer_a_waiting_call_to_a_named_agent(self) -> None:
        await self._start()
        sup = await self._as("sup")
        named = self.agent("2001")
        paused = self.agent("1002")
        self.acd.login(paused.id)
        self.acd.pause(paused.id, "break")
        row_id, queued = await self._waiting_call("u-named", "<img src=x onerror=alert(1)>")
        self.assertEqual(named.state, "logged_out")
        r = await self.post(sup, "move", {"call_id": row_id, "agent": "2001"})
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 2001 is logged out"))
        # Available but the queue not dispatched: an agent who does not serve "support".
        stranger = self.agent("1001")
        self.acd.router.set_skill(stranger.id, next(iter(stranger.skills)), 0)
        stranger.skills = {}
        self.acd.login(stranger.id)
        self.assertEqual(stranger.state, "available")  # not offered: not skilled
        self.assertTrue(self.acd.is_waiting(queued))
        r = await self.post(sup, "move", {"call_id": str(row_id), "agent": "1001"})
        self.assertEqual((r.status, r.json()["agent"]), (200, "1001"), r.body)
        self.assertEqual(stranger.state, "ringing")
        self.assertEqual(queued.ringing, (stranger,))
        self.assertFalse(self.acd.is_waiting(queued))
        r = await self.post(sup, "move", {"call_id": row_id, "queue": "sales"})
        self.assertEqual(r.status, 409)  # ringing now: not waiting
        self.acd.no_answer(queued)  # unanswered: back in its place in "support"
        self.assertTrue(self.acd.is_waiting(queued))
        self.assertEqual(queued.queue_id, self.acd.queue("support").id)
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit], [("sup", "supervisor.move", f"call:{row_id}")]
        )
        self.assertIn('"to_agent": "1001"', audit[0][3])

    async def test_hang_up_a_stuck_call(self) -> None:
        await self._start()
        sup = await self._as("sup")
        row_id, _queued = await self._waiting_call("u-stuck")
        r = await self.post(sup, "hangup", {"call_id": 424242})
        self.assertEqual(r.status, 404)
        r = await self.post(sup, "hangup", {"call_id": "x"})
        self.assertEqual(r.status, 400)
        r = await self.post(sup, "hangup", {"call_id": row_id})
        self.assertEqual((r.status, r.json()["channel"]), (200, "DAHDI/7-1"), r.body)
        self.assertEqual(self.switch.hungup, ["DAHDI/7-1"])
        self.acd.switch = None
        r = await self.post(sup, "hangup", {"call_id": row_id})
        self.assertEqual((r.status, r.json()["error"]), (409, "no AMI link to the switch"))
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit],
            [("sup", "supervisor.hangup", f"call:{row_id}")],
        )
        self.assertIn('"channel": "DAHDI/7-1"', audit[0][3])


def row_hint(uniqueid: str) -> int:
    """A trunk channel number per test call (the stuck call is on DAHDI/7-1)."""
    return {"u-stuck": 7}.get(uniqueid, 3)


class SupervisorPageTests(WebTestCase):
    async def test_the_console_is_for_admins_and_supervisors(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        r = await self.call(self.app.browser().get, "/supervisor")
        self.assertEqual(r.status, 303)
        self.assertIn("/login?next=/supervisor", r.location)
        for username in ("agent", "qa"):
            b = await self.app.logged_in(username)
            r = await self.call(b.get, "/supervisor")
            self.assertEqual(r.status, 403, username)
        b = await self.app.logged_in("sup")
        r = await self.call(b.get, "/supervisor")
        self.assertEqual(r.status, 200)
        token = (await self.call(b.get, "/")).csrf()
        self.assertIn(f'data-csrf="{token}"', r.body)
        self.assertIn('value="PJSIP/2001"', r.body)  # the phone of sup's agent
        self.assertIn('<script type="application/json" id="sv-i18n">', r.body)
        self.assertIn("/static/supervisor.js", r.body)
        r = await self.call(b.get, "/static/supervisor.js")
        self.assertEqual(r.status, 200)
        b = await self.app.logged_in("admin")
        r = await self.call(b.get, "/supervisor")
        self.assertEqual(r.status, 200)
        self.assertIn('id="sv-device" value=""', r.body)  # no phone of its own: typed in


def seed_idle(db: Any) -> None:
    """The seed, and two queues agent 1001 (tech 5) cannot serve: "vip" wants tech 8, "team"
    takes its members only (none)."""
    seed(db)
    tech = next(s.id for s in resolved(db.skills.list_all()) if s.name == "tech")
    resolved(db.queues.add("vip", "VIP 贵宾", skills={tech: 8}))
    resolved(db.queues.add("team"))


class IdleReasonsApiTests(WebTestCase):
    async def test_why_a_ready_agent_gets_no_calls(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed_idle)
        self.addCleanup(self.app.stop)
        acd = self.app.master.acd
        sup = await self.app.logged_in("sup")
        r = await self.call(sup.get, "/api/supervisor/idle")
        self.assertEqual((r.status, r.json()), (200, {"agents": {}}))  # nobody waits
        agent = acd.agent_by_number("1001")
        assert agent is not None
        acd.login(agent.id)
        vip, team = acd.queue("vip"), acd.queue("team")
        for i, q in enumerate((vip, vip, team)):
            acd.join(q.id, f"1380013800{i}", f"u-idle-{i}")
        r = await self.call(sup.get, "/api/supervisor/idle")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(list(r.json()["agents"]), [str(agent.id)])  # the one ready agent
        found = r.json()["agents"][str(agent.id)]
        self.assertEqual(
            [(x["queue_id"], x["waiting"], x["why"], x["missing"]) for x in found],
            [
                (vip.id, 2, "skills", [{"skill": "tech", "have": 5, "need": 8}]),
                (team.id, 1, "not_member", []),
            ],
        )
        self.assertEqual(found[0]["text"], "VIP 贵宾 (2 waiting): needs tech 8 (has 5)")
        self.assertEqual(found[1]["text"], "team (1 waiting): not a member of this queue")
        # Paused, it is not ready: no reasons.
        acd.pause(agent.id, "break")
        r = await self.call(sup.get, "/api/supervisor/idle")
        self.assertEqual(r.json(), {"agents": {}})
        for username in ("agent", "qa"):
            b = await self.app.logged_in(username)
            r = await self.call(b.get, "/api/supervisor/idle")
            self.assertEqual(r.status, 403, username)

    async def test_the_console_filters_by_queue_and_team_from_the_url(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed_idle)
        self.addCleanup(self.app.stop)
        agent = self.app.master.acd.agent_by_number("1002")
        assert agent is not None
        await self.app.master.db.run(
            lambda conn: conn.execute(
                model.agents.update()
                .where(model.agents.c.id == agent.id)
                .values(department="Night <shift>")
            )
        )
        sup = await self.app.logged_in("sup")
        r = await self.call(sup.get, "/supervisor?queue=sales&team=Night+%3Cshift%3E")
        self.assertEqual(r.status, 200)
        self.assertIn('<option value="sales" selected>sales</option>', r.body)
        self.assertIn(
            '<option value="Night &lt;shift&gt;" selected>Night &lt;shift&gt;</option>', r.body
        )
        # the page's script knows each agent's team and how many calls a queue lists
        self.assertIn(f'"teams": {{"{agent.id}": "Night \\u003cshift\\u003e"}}', r.body)
        self.assertIn('"max_calls": 10', r.body)
        # a name that is no queue or team: everything shown, nothing selected
        r = await self.call(sup.get, "/supervisor?queue=nope&team=Day")
        self.assertEqual(r.status, 200)
        filters = r.body[r.body.index('id="sv-filters"') :].split("</form>")[0]
        self.assertIn('<option value="sales">', filters)
        self.assertNotIn(" selected>", filters)
