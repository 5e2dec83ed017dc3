"""``/api/desk/dnc`` over real HTTP: the customer tells the agent "don't call me" and the
number is on the center's do-not-call list at once, from the agent's own call only (inbound:
the caller; outbound: the called party) or typed; refused clearly otherwise; audited."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from acd.dialer.dnc import DoNotCall
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_desk import CALLER, T0, offer_to, seed


class DeskDoNotCallTests(WebTestCase):
    async def _ring(self, agent_number: str, uniqueid: str) -> tuple[int, Any]:
        """A calls row and the ACD offering that call to one agent (the others paused)."""
        call_id = await self.db.calls.start(uniqueid, uniqueid, "inbound", T0, CALLER, "", "4000")
        return call_id, offer_to(self.acd, agent_number, uniqueid)

    async def test_dont_call_me_from_the_desk(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.acd = self.app.master.acd
        self.db = self.app.master.db
        master = self.app.master
        # The master runs no dialer without a switch: the desk finds a real index where it
        # would find the running dialer's (and the master gets its own back before it stops).
        assert master.dialer is None
        index = DoNotCall(self.db.dialer)
        setattr(master, "dialer", SimpleNamespace(dnc=index))  # noqa: B010
        self.addCleanup(setattr, master, "dialer", None)
        b = await self.app.logged_in("agent")
        page = await self.call(b.get, "/desk")
        self.assertIn("Put on the do-not-call list", page.body)
        token = page.csrf()

        async def post(body: dict[str, object]) -> tuple[int, dict[str, object]]:
            r = await self.call(b.post_json, "/api/desk/dnc", body, token)
            return r.status, r.json()

        status, answer = await post({})
        self.assertEqual(status, 409, answer)  # no call yet: nothing to take the number from
        self.assertIn("type the number", str(answer["error"]))

        # the agent's ringing call: the caller's number, in force at once
        mine, qcall = await self._ring("1001", "u-1")
        self.assertIsNone(index.blocks(CALLER))
        status, answer = await post({})
        self.assertEqual((status, answer["number"], answer["added"]), (200, CALLER, True))
        self.assertEqual(answer["message"], f"{CALLER} will not be called again")
        self.assertEqual(index.blocks(CALLER), "center")
        self.assertIn((CALLER, "center", None), await self.db.dialer.dnc_entries())
        status, answer = await post({"call_id": mine})
        self.assertEqual((status, answer["added"]), (200, False))

        # another agent's call is not this agent's to use
        self.acd.answered(qcall, "PJSIP/1001")
        self.acd.call_ended(qcall)
        theirs = await self.db.calls.start("u-9", "u-9", "inbound", T0, "13900000009", "x", "4000")
        status, answer = await post({"call_id": theirs})
        self.assertEqual(status, 404, answer)
        self.assertIsNone(index.blocks("13900000009"))

        # an outbound call the agent made: the number it called
        a1001 = self.acd.agent_by_number("1001")
        assert a1001 is not None
        out = await self.db.calls.start("u-3", "u-3", "outbound", T0, "4000", "", "13700000007")
        await self.db.calls.finish(out, T0, T0, 16, "completed", agent_id=a1001.id)
        status, answer = await post({"call_id": out})
        self.assertEqual((status, answer["number"]), (200, "13700000007"), answer)

        # a number the customer gave, typed as people type it; a bad one refused with a reason
        status, answer = await post({"number": "(010) 1234-5678"})
        self.assertEqual((status, answer["number"]), (200, "01012345678"))
        self.assertEqual(index.blocks("01012345678"), "center")
        status, answer = await post({"number": "<script>alert(1)</script>"})
        self.assertEqual(status, 400)
        self.assertIn("markup", str(answer["error"]))
        status, answer = await post({"number": "1" * 65})
        self.assertEqual(status, 400)

        audit = await self.db.audit.recent(action="desk.dnc")
        self.assertEqual(
            [(a.actor, a.target, a.detail["number"], a.detail["added"]) for a in reversed(audit)],
            [
                ("agent", "agent:1001", CALLER, True),
                ("agent", "agent:1001", CALLER, False),
                ("agent", "agent:1001", "13700000007", True),
                ("agent", "agent:1001", "01012345678", True),
            ],
        )
        # a supervisor has no call of its own to take a number from
        sup = await self.app.logged_in("sup")
        sup_token = (await self.call(sup.get, "/")).csrf()
        r = await self.call(sup.post_json, "/api/desk/dnc", {"number": "123456"}, sup_token)
        self.assertEqual(r.status, 403)
