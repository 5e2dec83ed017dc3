"""Calls rows written as the call happens, against the switch simulator over loopback: the
agent's answer when it happens, the talk time, the switch's hangup cause, and a uniqueid
the switch repeats (after a restart within a second), which must never cost a call."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor, task

from acd import agent_state as st
from appliance.db import model
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.support.acd_rig import ACDRig, wait_for


async def rows_of(master: Any, uniqueid: str) -> list[dict[str, Any]]:
    def thd(conn: Any) -> list[dict[str, Any]]:
        c = model.calls.c
        q = model.calls.select().where(c.uniqueid == uniqueid).order_by(c.id)
        return [r._asdict() for r in conn.execute(q)]

    result: list[dict[str, Any]] = await master.db.run(thd)
    return result


async def settled(master: Any, uniqueid: str, count: int = 1) -> list[dict[str, Any]]:
    """The rows of ``uniqueid`` once ``count`` of them are closed (and the writes that
    follow a hangup have had their turn)."""
    for _ in range(200):
        rows = await rows_of(master, uniqueid)
        if len([r for r in rows if r["ended_at"] is not None]) >= count:
            await master.call_rows.flush()
            return await rows_of(master, uniqueid)
        await task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"the calls rows of {uniqueid} were not finished: {rows}")


class CallRowsTests(ACDRig):
    async def test_the_answer_is_on_the_row_while_the_call_is_up(self) -> None:
        master = await self.start({"PJSIP/1001": Device(ring_s=0.3, talk_s=1.2)})
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        call = defer.ensureDeferred(self.call(CallerScript(prompt_s=0.1)))
        await wait_for(lambda: a1001.state == st.ON_CALL, "agent 1001 to answer")
        uniqueid = next(iter(master.acd.by_uniqueid))
        for _ in range(40):  # the write is on its way (database pool)
            (row,) = await rows_of(master, uniqueid)
            if row["agent_answered_at"] is not None:
                break
            await task.deferLater(reactor, 0.025, lambda: None)
        # written at the answer: the call is still up, the row still open
        self.assertEqual((row["agent_id"], row["ended_at"]), (a1001.id, None))
        self.assertIsNotNone(row["agent_answered_at"])
        kinds = [k for k, _ in await master.db.calls.events(row["id"])]
        self.assertEqual(kinds[-2:], ["queued", "answered"])
        await call
        # the caller's Hangup has reached ccboxd's call model (its cause is written then)
        await wait_for(lambda: uniqueid not in master.callmodel.channels, "the caller's Hangup")
        (row,) = await settled(master, uniqueid)
        # the report columns of its queue visit (appliance/reports/README.md): the wait is
        # from joining the queue to the agent's answer
        self.assertEqual(
            (row["entry_queue_id"], row["queue_outcome"]), (row["queue_id"], "answered")
        )
        self.assertIsNone(row["overflow_queue_id"])
        waited = (row["agent_answered_at"] - row["queued_at"]).total_seconds() * 1000
        self.assertGreater(row["wait_ms"], 0)
        self.assertLess(abs(waited - row["wait_ms"]), 50)
        # the talk time is the agent's 1.2 s (not the IVR and the wait before it)
        self.assertGreater(row["talk_ms"], 1000)
        self.assertLess(row["talk_ms"], 1900)
        talk = (row["ended_at"] - row["agent_answered_at"]).total_seconds()
        self.assertLess(abs(talk * 1000 - row["talk_ms"]), 50)
        # the cause is the switch's: the Hangup of the caller's channel (Asterisk's 0,
        # "Unknown", is no cause: the row keeps none rather than an invented 16)
        caller_hangups = [h for h in self.sim_events("Hangup") if h.get("Uniqueid") == uniqueid]
        self.assertEqual(len(caller_hangups), 1)
        cause = int(caller_hangups[0]["Cause"])
        self.assertEqual(row["hangup_cause"], cause if cause > 0 else None)
        kinds = [k for k, _ in await master.db.calls.events(row["id"])]
        self.assertEqual(kinds.count("answered"), 1)  # not written again at the end

    async def test_a_repeated_uniqueid_still_reaches_an_agent(self) -> None:
        """The switch hands ccboxd a uniqueid a calls row has already (possible after a
        restart within a second): logged, and the call routes like any other."""
        master = await self.start({"PJSIP/1001": Device(ring_s=0.1, talk_s=0.3)})
        a1001 = self.agent(master, "1001")
        master.acd.login(a1001.id)
        self.sim.switch.next_uniqueid = lambda: "1765000000.1"  # type: ignore[method-assign]
        first = await self.call(CallerScript(prompt_s=0.1))
        await wait_for(lambda: a1001.state == st.AVAILABLE, "the first call's wrap-up")
        second = await self.call(CallerScript(prompt_s=0.1, caller_number="13900000002"))
        self.assertEqual(first.uniqueid, second.uniqueid)
        self.assertTrue(second.script_hung_up)
        rows = await settled(master, "1765000000.1", count=2)
        self.assertEqual(
            [(r["caller_number"], r["disposition"], r["agent_id"]) for r in rows],
            [("13800138000", "completed", a1001.id), ("13900000002", "completed", a1001.id)],
        )
        self.assertEqual(master.acd.snapshot()["queues"][0]["answered"], 2)

    async def test_a_callbacks_row_has_its_agent_talk_and_the_switchs_cause(self) -> None:
        customer = "13800000001"
        master = await self.start(
            {
                "PJSIP/1001": Device(ring_s=0.2, talk_s=5.0),
                f"Local/{customer}@ccbox-outbound": Device(ring_s=0.2, talk_s=0.8),
            },
            callback_key="5",
            announce_every_s=0,
            wrapup_s=0,
        )
        a1001 = self.agent(master, "1001")
        await self.call(CallerScript(customer, digits="5", prompt_s=0.2))
        master.acd.login(a1001.id)
        await wait_for(lambda: not master.acd.callbacks, "the callback to finish")

        def outbound(conn: Any) -> Any:
            q = model.calls.select().where(model.calls.c.direction == "outbound")
            return conn.execute(q).one()._asdict()

        for _ in range(100):
            row = await master.db.run(outbound)
            if row["ended_at"] is not None:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual((row["disposition"], row["agent_id"]), ("completed", a1001.id))
        self.assertEqual(row["agent_answered_at"], row["answered_at"])
        since_agent = (row["ended_at"] - row["agent_answered_at"]).total_seconds() * 1000
        # The talk is the customer's 0.8 s, counted from the customer's answer (AMI DialEnd
        # on the agent's leg), not from the agent's: the customer's 0.2 s ring is no talk.
        self.assertGreater(row["talk_ms"], 750)
        self.assertLess(row["talk_ms"], 1150)
        self.assertLess(row["talk_ms"], since_agent - 150)
        # the cause: the Hangup of the agent's leg, the callback's first channel
        uniqueid = row["uniqueid"]
        await wait_for(lambda: uniqueid not in master.callmodel.channels, "the agent's Hangup")
        await master.call_rows.flush()
        row = await master.db.run(outbound)
        [hangup] = [h for h in self.sim_events("Hangup") if h.get("Uniqueid") == uniqueid]
        cause = int(hangup["Cause"])
        self.assertEqual(row["hangup_cause"], cause if cause > 0 else None)
