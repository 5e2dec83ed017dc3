"""An in-memory simulated switch: its AMI session on a StringTransport, calls over iosim."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.ami.codec import Message, Parser
from drivers.asterisk.dialplan import Dialplan
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.manager import ManagerFactory, ManagerSession
from drivers.asterisk.simulator.switch import Device, Switch
from tests.support.sim_sounds import sounds_for_tests
from tests.support.traces import ami_bytes, load


def trace_messages(name: str, direction: str = "<") -> list[Message]:
    """The AMI messages of a trace in one direction (``>``: the actions sent)."""
    parser = Parser()
    data = ami_bytes(load(name), direction)
    if not data.startswith(b"Asterisk Call Manager/"):
        parser.banner = ""  # the client's side, or a trace that began after the banner
    return parser.feed(data)


class Rig:
    def __init__(
        self,
        devices: dict[str, Device] | None = None,
        login: bool = True,
        dialplan: Dialplan | None = None,
        perms: str = "all",
    ) -> None:
        self.clock = Clock()
        self.clock.advance(1795353000)
        self.switch = Switch(
            self.clock,
            devices=devices,
            seed=1,
            dialplan=dialplan,
            sounds=sounds_for_tests("demo-congrats"),  # the traces' prompt, and ccbox's
        )
        # The lab's AMI user (read = all, write = all), whose sessions the traces recorded.
        self.factory = ManagerFactory(
            self.clock, self.switch, "ccbox", "ccbox-secret", read=perms, write=perms
        )
        self.ami: ManagerSession = self.factory.buildProtocol(None)
        self.transport = StringTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 5038),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 43046),
        )
        self.ami.makeConnection(self.transport)
        self.parser = Parser()
        self.messages: list[Message] = []
        if login:
            self.read()
            self.send("Action: Login\r\nActionID: a1\r\nUsername: ccbox\r\nSecret: ccbox-secret")
            self.read()

    def send(self, text: str) -> None:
        self.ami.dataReceived(text.encode() + b"\r\n\r\n")

    def read(self) -> list[Message]:
        data = self.transport.value()
        self.transport.clear()
        new = self.parser.feed(data)
        self.messages.extend(new)
        return new

    def events(self, name: str | None = None) -> list[Message]:
        self.read()
        return [m for m in self.messages if m.event and (name is None or m.event == name)]

    def call(
        self,
        script: CallerScript,
        body: Callable[[AGISessionProtocol], Awaitable[Any]],
        max_seconds: float = 120,
        step: float = 0.1,
    ) -> tuple[Any, SimulatedCall]:
        """Run ``body(session)`` as ccboxd's side of one inbound call; return its result."""
        result: dict[str, Any] = {}

        def ready(session: AGISessionProtocol) -> None:
            d = defer.ensureDeferred(body(session))
            d.addBoth(lambda r: result.__setitem__("r", r))
            d.addBoth(lambda _: session.transport.loseConnection())  # as FastAGIServer does

        server = AGISessionProtocol(self.clock, ready)
        caller = SimulatedCall(self.clock, script, switch=self.switch)
        pump = connect(server, makeFakeServer(server), caller, makeFakeClient(caller))
        waited = 0.0
        while waited < max_seconds:
            pump.flush()
            if "r" in result and caller.finished.called:
                break
            self.clock.advance(step)
            waited += step
        pump.flush()
        self.read()
        return result.get("r"), caller
