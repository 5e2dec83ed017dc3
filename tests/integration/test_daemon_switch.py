"""The master with AMI and FastAGI on, against the switch simulator on loopback sockets."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor, task
from twisted.trial import unittest

from appliance import health
from appliance.master import ApplianceMaster
from drivers.asterisk.callmodel import CallEnded, CallStarted
from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome
from drivers.asterisk.simulator.service import SwitchSimulator
from drivers.asterisk.simulator.traffic import run_call
from tests.support.acd_rig import master_on_switch

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
MARK = 'SET VARIABLE CCBOX_AGI "1"'  # the session mark (drivers/asterisk/agi/server.py)


async def wait_for(predicate: Any, what: str, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return
        await task.deferLater(reactor, 0.05, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


class SwitchTests(unittest.TestCase):
    async def start(self) -> tuple[ApplianceMaster, SwitchSimulator, list[object]]:
        master, sim, published = await master_on_switch(self)
        assert {p.name: p.state for p in master.health.parts()}["ami"] == health.OK
        self.assertEqual(sim.manager.actions["coreshowchannels"], 1)  # the resync
        return master, sim, published

    async def call(
        self, master: ApplianceMaster, sim: SwitchSimulator, script: CallerScript
    ) -> CallOutcome:
        outcome = await run_call(reactor, sim.agi_endpoint, script, "inbound", sim.switch)
        assert outcome is not None

        async def written() -> bool:  # the last writes finish after the socket closes
            row = await master.db.calls.get(1)
            return row is not None and row["ended_at"] is not None

        await wait_for(written, "the calls row")
        return outcome

    async def test_inbound_call_writes_the_call_and_the_call_model_follows_it(self) -> None:
        master, sim, published = await self.start()
        outcome = await self.call(master, sim, CallerScript(caller_name=HOSTILE_NAME))
        self.assertEqual(
            outcome.commands,
            [
                MARK,
                "ANSWER",
                'STREAM FILE ccbox-welcome ""',
                'STREAM FILE ccbox-goodbye ""',
                "HANGUP",
            ],
        )
        row = await master.db.calls.get(1)
        assert row is not None
        self.assertEqual(
            (row["uniqueid"], row["caller_number"], row["called_number"], row["channel"]),
            (outcome.uniqueid, "13800138000", "4008001234", "DAHDI/1-1"),
        )
        self.assertEqual(row["caller_name"], HOSTILE_NAME)  # stored as given
        self.assertEqual(row["disposition"], "self_service")
        self.assertIsNotNone(row["answered_at"])
        kinds = [k for k, _ in await master.db.calls.events(1)]
        self.assertEqual(kinds, ["flow_start", "ivr_step", "ivr_step", "hangup"])
        assert master.fastagi is not None
        self.assertEqual(len(master.fastagi.factory.sessions), 0)  # nothing leaked

        # The same call, seen over AMI by the call model.
        async def ended() -> bool:
            return any(isinstance(e, CallEnded) for e in published)

        await wait_for(ended, "CallEnded on the bus")
        [started] = [e for e in published if isinstance(e, CallStarted)]
        [end] = [e for e in published if isinstance(e, CallEnded)]
        self.assertEqual((started.linkedid, started.channel), (outcome.uniqueid, "DAHDI/1-1"))
        self.assertEqual(started.caller_name, HOSTILE_NAME)  # escaped on the wire, unescaped
        # ccboxd hung up with AGI HANGUP and nothing had set a cause: Asterisk's Hangup says
        # 0 Unknown then (hangup-causes.trace), not 16.
        self.assertEqual((end.linkedid, end.cause), (outcome.uniqueid, 0))
        assert master.callmodel is not None
        self.assertEqual(master.callmodel.summary()["calls"], 0)

    async def test_caller_hanging_up_during_the_prompt(self) -> None:
        master, sim, _ = await self.start()
        outcome = await self.call(master, sim, CallerScript(patience_s=0.3, prompt_s=5.0))
        self.assertTrue(outcome.caller_hung_up)
        # STREAM FILE's -1 alone is no hangup (a missing sound gives it too): CHANNEL STATUS
        # asks, and its 511 says the caller has gone.
        self.assertEqual(
            outcome.commands,
            [MARK, "ANSWER", 'STREAM FILE ccbox-welcome ""', "CHANNEL STATUS"],
        )
        row = await master.db.calls.get(1)
        assert row is not None
        self.assertEqual(row["disposition"], "caller_hangup")
        self.assertIsNotNone(row["ended_at"])
