"""A consultation with a queue over real HTTP (webui/call_control_api.py; the switch the
recording fake of test_web_desk_control, the ACD and DeskControl real): the desk's form
offers the agent's queues by name, an unknown queue is 400 with its message, a queue with
nobody free is 409, and a known one rings the agent its routing puts first."""

from __future__ import annotations

import json
import re

from tests.unit.test_web_desk_control import DeskControlRig


class DeskConsultQueueApiTests(DeskControlRig):
    async def test_consult_a_queue(self) -> None:
        await self._start()
        agent = await self._as("agent")  # agent 1001's login
        b, _token = agent
        page = (await self.call(b.get, "/desk")).body
        select = re.search(r'<select id="consult-queue".*?</select>', page, re.S)
        assert select is not None, "no queue list in the consultation form"
        # 1001 (tech 5) serves both queues (tech 3): by name, sorted
        self.assertEqual(
            re.findall(r'<option value="([^"]*)">([^<]*)</option>', select.group(0)),
            [("sales", "sales"), ("support", "support")],
        )
        self.assertIn('<option value="queue">', page)
        self.on_call("1001")
        leg = "PJSIP/1001-0000002a"
        for target in ("nope", "support\r\nAction: Originate", "99"):
            r = await self.post(agent, "/api/desk/consult", {"kind": "queue", "target": target})
            self.assertEqual((r.status, r.json()["error"]), (400, f"no queue {target}"))
        self.assertEqual(self.switch.sent, [])
        r = await self.post(agent, "/api/desk/consult", {"kind": "queue", "target": "sales"})
        self.assertEqual(
            (r.status, r.json()["error"]),
            (
                409,
                "no agent of queue sales is free to consult: transfer the caller to the queue "
                "instead",
            ),
        )  # 1002 is logged out, 1001 is the one asking
        self.acd.login(self.agent("1002").id)
        r = await self.post(agent, "/api/desk/consult", {"kind": "queue", "target": "sales"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(
            r.json()["message"], "calling agent 1002 of queue sales: transfer, conference or cancel"
        )
        self.assertEqual(r.json()["state"]["consulting"], "queue sales: agent 1002")
        self.assertEqual(self.switch.sent, [("atxfer", leg, "ccbox-agents", "1002")])
        self.assertEqual(self.agent("1002").reason, "consult")  # no queue call offered to it
        r = await self.post(agent, "/api/desk/cancel", {})
        self.assertEqual((r.status, r.json()["message"]), (200, "back with the caller"))
        self.assertEqual(self.agent("1002").state, "available")
        audit = await self._audit()
        self.assertEqual(
            [(act, json.loads(detail)) for _a, act, _t, detail in audit if act == "desk.consult"],
            [("desk.consult", {"kind": "queue", "target": "sales"})],
        )
