"""A hold from the desk adds its length to the call's row (calls.hold_ms, the reports' hold
time): the real ACD and DeskControl over HTTP, the switch the recording fake."""

from __future__ import annotations

import datetime as dt

from twisted.internet import reactor, task

from appliance.db import model
from tests.unit.test_web_desk_control import DeskControlRig


class HoldTimeTests(DeskControlRig):
    async def test_two_holds_add_up_on_the_calls_row(self) -> None:
        await self._start()
        db = self.app.master.db
        row, written = db.calls.open_row("h-1", "h-1", "inbound", dt.datetime.now(dt.UTC))
        await written
        agent = await self._as("agent")  # agent 1001's login
        a1001 = self.agent("1001")
        self.acd.login(a1001.id)
        queued = self.acd.join(self.acd.queue("support").id, "13800138000", "u-1", 0, "DAHDI/9-1")
        queued.record_id = row  # as ivr/queue_step.py sets it
        self.acd.answered(queued, a1001.device)
        for pause_s in (0.15, 0.1):
            r = await self.post(agent, "/api/desk/hold", {})
            self.assertEqual(r.status, 200, r.body)
            await task.deferLater(reactor, pause_s, lambda: None)
            r = await self.post(agent, "/api/desk/resume", {})
            self.assertEqual(r.status, 200, r.body)
        await db.calls.written()
        c = model.calls.c
        held = await db.run(
            lambda conn: conn.execute(
                model.calls.select().with_only_columns(c.hold_ms).where(c.id == row)
            ).scalar_one()
        )
        self.assertGreaterEqual(held, 250)
        self.assertLess(held, 5000)
