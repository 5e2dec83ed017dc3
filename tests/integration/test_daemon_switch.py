"""The master with AMI and FastAGI on: one inbound call through the placeholder flow."""

from __future__ import annotations

from twisted.internet import protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial import unittest

from appliance import config as config_mod
from appliance import health
from appliance.db import migrate
from appliance.db.engine import create_engine
from appliance.master import ApplianceMaster
from tests.conftest import write_config
from tests.support.fake_switch import FakeAGICaller, FakeManager
from tests.support.tmp import temp_dir

HEADER = (
    b"agi_network: yes\nagi_network_script: inbound\n"
    b"agi_request: agi://127.0.0.1:4573/inbound\nagi_channel: DAHDI/1-1\n"
    b"agi_uniqueid: 1795353435.74\nagi_callerid: 13800138000\n"
    b"agi_calleridname: <img src=x onerror=alert(1)>\nagi_extension: 4008001234\n"
    b"agi_arg_1: 4008001234\n\n"
)


class SwitchTests(unittest.TestCase):
    async def start_master(self) -> ApplianceMaster:
        tmp = temp_dir(self)
        manager = reactor.listenTCP(
            0,
            protocol.Factory.forProtocol(FakeManager),  # type: ignore[attr-defined]
            interface="127.0.0.1",
        )
        self.addCleanup(manager.stopListening)
        config = config_mod.load(write_config(tmp, switch=True))
        config = config_mod.Config(
            **{
                **config.__dict__,
                "ami": config_mod.AmiConfig("127.0.0.1", manager.getHost().port, "ccbox", "s"),
            }
        )
        engine = create_engine(config.database_url)
        migrate.upgrade(engine)
        engine.dispose()
        master = ApplianceMaster(config, reactor)
        master.startService()
        await master.ready
        self.addCleanup(master.stopService)
        for _ in range(50):  # the AMI login happens in the background
            if master.ami is not None and master.ami.ready:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        assert master.ami is not None and master.ami.ready
        assert {p.name: p.state for p in master.health.parts()}["ami"] == health.OK
        return master

    async def call(self, master: ApplianceMaster, answer) -> FakeAGICaller:  # type: ignore[no-untyped-def]
        assert master.fastagi is not None
        caller = FakeAGICaller(HEADER, answer)
        await connectProtocol(
            TCP4ClientEndpoint(reactor, "127.0.0.1", master.fastagi.port_number), caller
        )
        await caller.closed
        for _ in range(50):  # the last writes finish after the socket closes
            if await master.db.calls.count_completed() == 1:
                break
            await task.deferLater(reactor, 0.05, lambda: None)
        return caller

    async def test_inbound_call_through_fastagi_writes_the_call_and_its_events(self) -> None:
        master = await self.start_master()

        def answer(line: str) -> list[str]:
            if line.startswith("STREAM FILE"):
                return ["200 result=0 endpos=8000"]
            if line == "HANGUP":
                return ["200 result=1", "HANGUP"]
            return ["200 result=0"]

        caller = await self.call(master, answer)
        self.assertEqual(caller.commands, ["ANSWER", 'STREAM FILE ccbox-welcome ""', "HANGUP"])
        row = await master.db.calls.get(1)
        assert row is not None
        self.assertEqual(
            (row["uniqueid"], row["caller_number"], row["called_number"]),
            ("1795353435.74", "13800138000", "4008001234"),
        )
        self.assertEqual(row["caller_name"], "<img src=x onerror=alert(1)>")  # as given
        self.assertEqual(row["disposition"], "completed")
        self.assertIsNotNone(row["answered_at"])
        kinds = [k for k, _ in await master.db.calls.events(1)]
        self.assertEqual(kinds, ["flow_start", "prompt", "hangup"])
        assert master.fastagi is not None
        self.assertEqual(len(master.fastagi.factory.sessions), 0)  # nothing leaked

    async def test_caller_hanging_up_during_the_prompt(self) -> None:
        master = await self.start_master()

        def answer(line: str) -> list[str]:
            if line.startswith("STREAM FILE"):  # as the traces show: -1, then HANGUP
                return ["200 result=-1 endpos=1200", "HANGUP"]
            return ["200 result=0"]

        caller = await self.call(master, answer)
        self.assertEqual(caller.commands, ["ANSWER", 'STREAM FILE ccbox-welcome ""'])
        row = await master.db.calls.get(1)
        assert row is not None
        self.assertEqual(row["disposition"], "caller_hangup")
        self.assertIsNotNone(row["ended_at"])
