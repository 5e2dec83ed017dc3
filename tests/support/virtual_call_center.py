"""A whole call center in virtual time: the ACD, the caller's FastAGI sessions and the switch
simulator, joined by in-memory pipes and driven by one ``task.Clock``.

Everything between the trunk and the agent's phone is the production code (AGI session,
acd/caller.py, the ACD service, the routing engine); only the sockets are replaced by
``Pipe`` (bytes delivered on the next clock tick) and AMI by handing the switch's DialEnd
straight to the ACD. Hours of Poisson traffic run in seconds, which is what a statistical
check (Erlang C) needs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock

from acd.caller import wait_in_queue
from acd.erlang import erlang_c, service_level
from acd.service import ACD
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from drivers.asterisk.agi.server import FastAGIFactory
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.callmodel import DialEnded
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.switch import Device, Switch
from tests.support.sim_sounds import sounds_for_tests


class Pipe:
    """One direction of an in-memory connection: writes arrive at the peer on the next
    clock tick, in order; closing one side closes both."""

    def __init__(self, clock: Clock, port: int) -> None:
        self.clock = clock
        self.peer: Any = None  # the protocol at the other end
        self.other: Pipe | None = None
        self.protocol: Any = None
        self.open = True
        self.disconnecting = False
        self.addr = IPv4Address("TCP", "127.0.0.1", port)

    def write(self, data: bytes) -> None:
        if self.open:
            self.clock.callLater(0, self._deliver, data)

    def _deliver(self, data: bytes) -> None:
        if self.other is not None and self.other.open:
            self.peer.dataReceived(data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        if self.open and not self.disconnecting:
            self.disconnecting = True
            self.clock.callLater(0, self._close)

    abortConnection = loseConnection

    def _close(self) -> None:
        for side in (self, self.other):
            if side is not None and side.open:
                side.open = False
                side.protocol.connectionLost(None)

    def getPeer(self) -> IPv4Address:
        return self.addr

    def getHost(self) -> IPv4Address:
        return self.addr

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


def connect(clock: Clock, server: Any, client: Any) -> None:
    to_client, to_server = Pipe(clock, 4573), Pipe(clock, 40000)
    to_client.peer, to_client.other, to_client.protocol = client, to_server, server
    to_server.peer, to_server.other, to_server.protocol = server, to_client, client
    server.makeConnection(to_client)
    client.makeConnection(to_server)


@dataclass
class CenterResult:
    waits: list[float] = field(default_factory=list)  # per answered call, in arrival order
    abandoned: int = 0
    offered: int = 0
    first_arrival: float = 0.0
    last_arrival: float = 0.0
    talk_s: list[float] = field(default_factory=list)  # every talk time the phones drew


class VirtualCenter:
    """``agents`` agents answering at once, talking exp(mean_talk_s); Poisson arrivals."""

    def __init__(self, db: DBConnector, queue_id: int, agent_ids: list[int], seed: int = 1) -> None:
        self.clock = Clock()
        self.clock.advance(1_795_353_000)
        self.rng = random.Random(seed)
        self.acd = ACD(self.clock, db, EventBus())
        self.queue_id = queue_id
        self.agent_ids = agent_ids
        self.result = CenterResult()
        self._left, self._rate = 0, 1.0
        self.switch = Switch(self.clock, seed=seed, sounds=sounds_for_tests())
        self.switch.subscribe(self._switch_event)
        self.factory = FastAGIFactory(self.clock, {"inbound": self._inbound})

    def _switch_event(self, headers: Any) -> None:
        h = dict(headers)
        if h.get("Event") == "DialEnd" and "Uniqueid" in h:
            self.acd.on_dial_end(
                DialEnded(
                    h.get("Linkedid", ""),
                    h["Uniqueid"],
                    h.get("DestUniqueid", ""),
                    h.get("DestChannel", ""),
                    h.get("DialStatus", ""),
                    self.clock.seconds(),
                )
            )

    async def _inbound(self, session: AGISessionProtocol) -> None:
        env = session.env
        assert env is not None
        call = self.acd.join(self.queue_id, env.caller_number, env.uniqueid)
        outcome = await wait_in_queue(self.acd, session, call)
        if outcome == "answered" and call.answered_at is not None:
            self.result.waits.append(call.answered_at - call.joined_at)
        elif outcome == "abandoned":
            self.result.abandoned += 1
        if not session.hung_up:
            await session.hangup()

    def run(self, calls: int, rate_per_s: float, mean_talk_s: float) -> CenterResult:
        self.switch.default_device = _ExpTalk(self.rng, mean_talk_s)
        started = self.acd.startService()
        self._settle()
        assert started.called
        for agent_id in self.agent_ids:
            self.acd.login(agent_id)
        self._left, self._rate = calls, rate_per_s
        self.clock.callLater(self.rng.expovariate(rate_per_s), self._arrive, 0)
        self._settle()
        self.result.offered = calls
        return self.result

    def _arrive(self, i: int) -> None:
        if i == 0:
            self.result.first_arrival = self.clock.seconds()
        self.result.last_arrival = self.clock.seconds()
        if i + 1 < self._left:  # one arrival scheduled at a time keeps the clock's list short
            self.clock.callLater(self.rng.expovariate(self._rate), self._arrive, i + 1)
        script = CallerScript(caller_number=f"1380000{i:04d}", prompt_s=0.0)
        client = SimulatedCall(self.clock, script, "inbound", self.switch)
        server = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        connect(self.clock, server, client)

    def _done_arriving(self) -> bool:
        return not any(c.func == self._arrive for c in self.clock.getDelayedCalls())

    def _settle(self) -> None:
        """Run the clock until nothing is scheduled but the long waits of callers on hold."""
        while True:
            pending = [c.getTime() for c in self.clock.getDelayedCalls()]
            if not pending:
                return
            busy = (
                not self._done_arriving()
                or bool(self.acd.calls)
                or any(ch.agi is not None for ch in self.switch.channels.values())
            )
            if not busy and min(pending) - self.clock.seconds() > 600:
                return
            self.clock.advance(max(0.0, min(pending) - self.clock.seconds()))


@dataclass
class _ExpTalk(Device):
    """A phone answered at once by an agent who talks an exponential time."""

    rng: Any = None
    mean_talk_s: float = 60.0

    def __init__(self, rng: random.Random, mean_talk_s: float) -> None:
        super().__init__(ring_s=0.0)
        self.rng, self.mean_talk_s = rng, mean_talk_s

    def talk_time(self, rng: random.Random) -> float | None:
        return self.rng.expovariate(1.0 / self.mean_talk_s)


__all__ = ["VirtualCenter", "defer", "erlang_c", "service_level"]
