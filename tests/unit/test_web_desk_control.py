"""The desk's call control over real HTTP (webui/call_control_api.py; the switch replaced by a
recording fake, the ACD and DeskControl real): who may act, on which call, validation, what
reaches the switch, and the audit rows. The switch itself: tests/integration/
test_desk_control_switch.py and tests/asterisk/test_desk_control.py."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import defer

from appliance.cli import resolved
from appliance.db import model
from appliance.db.admin_store import AdminStore
from drivers.asterisk.callmodel import ChannelHungUp
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_supervisor import seed

DID = "4008001234"


def seed_with_did(db: Any) -> None:
    seed(db)
    resolved(AdminStore(db).add_did(DID, None, "main line", True))


class FakeSwitch:
    """Every phone's answered call is ``<device>-0000002a``; an Atxfer's consult leg exists at
    once and ends (rebridged) when it is hung up."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []
        self.consults: dict[str, str] = {}
        self.done: dict[str, defer.Deferred[bool]] = {}
        self.left: list[str] = []  # a hold leg ccboxd does not know of (before a restart)

    def channel_of(self, device: str) -> str | None:
        return f"{device}-0000002a"

    def has_device_channel(self, device: str) -> bool | None:
        return False

    def consult_channel(self, channel: str) -> str | None:
        return self.consults.get(channel)

    def in_threeway(self, channel: str) -> bool:
        return False

    def bridged_with(self, channel: str) -> list[str]:
        return ["DAHDI/9-1", *self.left]  # the caller's channel (on_call below)

    async def atxfer(self, channel: str, context: str, exten: str) -> defer.Deferred[bool]:
        self.sent.append(("atxfer", channel, context, exten))
        self.consults[channel] = f"Local/{exten}@{context}-00000001;1"
        self.done[channel] = defer.Deferred()
        return self.done[channel]

    async def hangup(self, channel: str) -> None:
        self.sent.append(("hangup", channel))
        for agent, leg in list(self.consults.items()):
            if leg == channel:
                del self.consults[agent]
                self.done.pop(agent).callback(False)

    async def mute(self, channel: str, muted: bool) -> None:
        self.sent.append(("mute", channel, muted))

    async def music_class(self, channel: str, music_class: str) -> None:
        self.sent.append(("music", channel, music_class))

    async def press(self, channel: str, digits: str) -> None:
        self.sent.append(("press", channel, digits))

    async def desk_dial(
        self,
        device: str,
        number: str,
        caller: tuple[str, str],
        shown: tuple[str, str],
        auto_answer: bool = False,
    ) -> str:
        self.sent.append(("dial", device, number, caller) + (("auto",) if auto_answer else ()))
        return "ccbox-desk-1"


class DeskControlRig(WebTestCase):
    """The appliance with the fake switch, and the helpers (the consult-a-queue tests too)."""

    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed_with_did)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd
        self.switch = FakeSwitch()
        self.acd.switch = self.switch  # type: ignore[assignment]

    async def post(self, who: tuple[Any, str], path: str, body: Any) -> Any:
        b, token = who
        return await self.call(b.post_json, path, body, token)

    def on_call(self, number: str) -> None:
        agent = self.agent(number)
        self.acd.login(agent.id)
        queued = self.acd.join(self.acd.queue("support").id, "13800138000", "u-1", 0, "DAHDI/9-1")
        self.acd.answered(queued, agent.device)
        self.assertEqual(agent.state, "on_call")

    async def _audit(self) -> list[tuple[str, str, str, str]]:
        c = model.audit_log.c
        rows = await self.app.master.db.run(
            lambda conn: conn.execute(
                sa.select(c.actor, c.action, c.target, c.detail).order_by(c.id)
            ).all()
        )
        return [tuple(r) for r in rows]


class DeskControlApiTests(DeskControlRig):
    async def test_the_agent_holds_mutes_and_hangs_up_its_own_call(self) -> None:
        await self._start()
        agent = await self._as("agent")  # agent 1001's login
        r = await self.post(agent, "/api/desk/hold", {})
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 1001 is not on a call"))
        self.on_call("1001")
        # put on hold before a restart: the switch's bridges show the hold leg
        self.switch.left = ["Local/0@ccbox-desk-hold-00000003;1"]
        b, _token = agent
        self.assertTrue((await self.call(b.get, "/api/desk/control")).json()["held"])
        r = await self.post(agent, "/api/desk/resume", {})
        self.assertEqual((r.status, r.json()["message"]), (200, "back with the caller"))
        self.assertEqual(self.switch.sent, [("hangup", "Local/0@ccbox-desk-hold-00000003;1")])
        self.switch.left, self.switch.sent = [], []
        r = await self.post(agent, "/api/desk/hold", {})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["message"], "the caller is on hold")
        self.assertTrue(r.json()["state"]["held"])
        leg = "PJSIP/1001-0000002a"
        self.assertEqual(self.switch.sent[-1], ("atxfer", leg, "ccbox-desk-hold", "0"))
        r = await self.post(agent, "/api/desk/hold", {})
        self.assertEqual((r.status, r.json()["error"]), (409, "the caller is on hold already"))
        # the caller hangs up on hold: the hold leg, left to the agent, is hung up
        self.acd.bus.publish(ChannelHungUp("u-1", "u-1", "DAHDI/9-1", 16, "Normal Clearing", 0.0))
        self.assertEqual(self.switch.sent[-1], ("hangup", "Local/0@ccbox-desk-hold-00000001;1"))
        b, _token = agent
        r = await self.call(b.get, "/api/desk/control")
        self.assertFalse(r.json()["held"])
        r = await self.post(agent, "/api/desk/hold", {})
        self.assertEqual(r.status, 200, r.body)
        for action in ("transfer", "conference", "consult"):  # never to the silent hold leg
            r = await self.post(
                agent, f"/api/desk/{action}", {"kind": "number", "target": "5551234"}
            )
            self.assertEqual((r.status, r.json()["error"]), (409, "resume the caller first"))
        r = await self.post(agent, "/api/desk/resume", {})
        self.assertEqual((r.status, r.json()["message"]), (200, "back with the caller"))
        self.assertEqual(self.switch.sent[-1], ("hangup", "Local/0@ccbox-desk-hold-00000001;1"))
        r = await self.post(agent, "/api/desk/mute", {"muted": "yes"})
        self.assertEqual(r.status, 400)
        r = await self.post(agent, "/api/desk/mute", {"muted": True})
        self.assertEqual(r.json()["state"]["muted"], True)
        self.assertEqual(self.switch.sent[-1], ("mute", leg, True))
        b, _token = agent
        r = await self.call(b.get, "/api/desk/control")
        self.assertEqual(r.json()["muted"], True)
        # a consultation the transfer form started: the switch has it, the desk says so
        self.switch.consults[leg] = "Local/1002@ccbox-agents-00000009;1"
        r = await self.call(b.get, "/api/desk/control")
        self.assertEqual(r.json()["consulting"], "the party called")
        del self.switch.consults[leg]
        r = await self.post(agent, "/api/desk/hangup", {})
        self.assertEqual((r.status, r.json()["message"]), (200, "hung up"))
        self.assertEqual(self.switch.sent[-1], ("hangup", leg))
        # the fake's hangup leaves the ACD's call up: on to a consultation
        for body in ({"kind": "fax", "target": "1"}, {"kind": "number"}, {"kind": 3}):
            r = await self.post(agent, "/api/desk/consult", body)
            self.assertEqual(r.status, 400, body)
        r = await self.post(agent, "/api/desk/conference", {})
        self.assertEqual((r.status, r.json()["error"]), (409, "no consultation is under way"))
        r = await self.post(agent, "/api/desk/consult", {"kind": "number", "target": "555 1234"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"]["consulting"], "number 5551234")
        self.assertEqual(
            self.switch.sent[-1], ("atxfer", "PJSIP/1001-0000002a", "ccbox-outbound", "5551234")
        )
        r = await self.post(agent, "/api/desk/hangup", {})
        self.assertEqual(r.status, 409)  # transfer, conference or cancel first
        r = await self.post(agent, "/api/desk/conference", {})
        self.assertEqual((r.status, r.json()["message"]), (200, "three-way call"))
        self.assertEqual(self.switch.sent[-1], ("press", "PJSIP/1001-0000002a", "*3"))
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit],
            [
                ("agent", "desk.resume", "agent:1001"),
                ("agent", "desk.hold", "agent:1001"),
                ("agent", "desk.hold", "agent:1001"),
                ("agent", "desk.resume", "agent:1001"),
                ("agent", "desk.mute", "agent:1001"),
                ("agent", "desk.hangup", "agent:1001"),
                ("agent", "desk.consult", "agent:1001"),
                ("agent", "desk.conference", "agent:1001"),
            ],
        )

    async def test_click_to_dial_with_the_lines_caller_id_and_redial(self) -> None:
        await self._start()
        agent = await self._as("agent")
        a1001 = self.agent("1001")
        r = await self.post(agent, "/api/desk/redial", {})
        self.assertEqual((r.status, r.json()["error"]), (409, "nothing to redial yet"))
        for bad in ("555\r\nApplication: System", "PJSIP/1002&DAHDI/g0/1", "$(reboot)", ""):
            r = await self.post(agent, "/api/desk/dial", {"number": bad})
            self.assertEqual(r.status, 400, bad)
        self.acd.login(a1001.id)
        r = await self.post(agent, "/api/desk/dial", {"number": "13800138000", "auto_answer": 1})
        self.assertEqual(r.status, 400)
        r = await self.post(agent, "/api/desk/dial", {"number": "+86 138 0013 8000"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["state"]["last_number"], "+8613800138000")
        self.assertEqual(self.switch.sent, [("dial", "PJSIP/1001", "+8613800138000", ("", DID))])
        self.assertEqual((a1001.state, a1001.reason), ("on_call", "desk call"))
        r = await self.post(agent, "/api/desk/redial", {})
        self.assertEqual(r.status, 409)  # on that call still
        self.assertIn("on a call", r.json()["error"])
        r = await self.post(agent, "/api/desk/dial", {"number": "1", "campaign": 999})
        self.assertEqual(r.status, 400)  # one digit is no phone number
        # on that desk call: a supervisor acts for the agent, never at the agent's desk
        sup = await self._as("sup")
        r = await self.post(sup, "/api/desk/hold", {})
        self.assertEqual(r.status, 403)  # the desk is the agent's own
        r = await self.post(agent, "/api/supervisor/control", {"agent": "1001", "action": "hold"})
        self.assertEqual(r.status, 403)
        b, _token = agent
        r = await self.call(b.post_json, "/api/desk/hold", {}, None)
        self.assertEqual(r.status, 403)  # no CSRF token
        r = await self.post(sup, "/api/supervisor/control", {"agent": "1001", "action": "fly"})
        self.assertEqual(r.status, 400)
        r = await self.post(sup, "/api/supervisor/control", {"agent": "1002", "action": "hold"})
        self.assertEqual((r.status, r.json()["error"]), (409, "agent 1002 is not on a call"))
        r = await self.post(sup, "/api/supervisor/control", {"agent": "1001", "action": "hold"})
        self.assertEqual((r.status, r.json()["message"]), (200, "the caller is on hold"), r.body)
        audit = await self._audit()
        self.assertEqual(
            [(a, act, t) for a, act, t, _ in audit],
            [("agent", "desk.dial", "agent:1001"), ("sup", "supervisor.hold", "agent:1001")],
        )
        self.assertIn('"number": "+8613800138000"', audit[0][3])
