"""The dialing engine against the simulated switch, in virtual time and in memory.

The real pieces: the ACD and the dialer's store on an inline SQLite database, the Dialer
with its pacer, the call model fed by the simulator's AMI events, AMISwitch sending real
Originate actions into the simulator's manager session (its checks, its answers), the
simulated switch running the generated dialplan (Local pair, ccbox-outbound, AMD, the
called-party population) and the FastAGI server's factory running the ``dialer`` script for
each answered call over iosim. Only the sockets are replaced: the AMI session is a
StringTransport and the FastAGI connections iosim pumps, both driven from ``step``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from acd.dialer import outbound_call
from acd.dialer.service import Dialer, DialerLimits
from acd.service import ACD
from acd.switch_link import AMISwitch
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from drivers.asterisk.agi.server import FastAGIFactory
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.ami.codec import Message, Parser
from drivers.asterisk.ami.protocol import ActionError
from drivers.asterisk.callmodel import CallModel, ChannelHungUp, DialEnded, OriginateResult
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.called_parties import Population
from drivers.asterisk.simulator.manager import ManagerFactory
from drivers.asterisk.simulator.switch import Device, SimChannel, Switch
from tests.support.sim_sounds import sounds_for_tests

START = 1_795_353_000.0  # 2026-11-23 10:30 UTC, a Monday: 18:30 in Shanghai


class ManagerLink:
    """What AMISwitch and actions.* use of the AMI client (send_action, subscribe, ready,
    reactor), over the simulator's manager session on a StringTransport."""

    def __init__(self, clock: Clock, switch: Switch) -> None:
        self.reactor = clock
        self.ready = True
        factory = ManagerFactory(clock, switch, "ccbox", "ccbox-secret", read="all", write="all")
        self.session = factory.buildProtocol(None)
        self.transport = StringTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 5038),
            peerAddress=IPv4Address("TCP", "127.0.0.1", 43046),
        )
        self.session.makeConnection(self.transport)
        self.parser = Parser()
        self.subscribers: list[tuple[frozenset[str], Any]] = []
        self.pending: dict[str, tuple[str, defer.Deferred[Message]]] = {}
        self.actions: list[Message] = []  # every action sent, as sent
        self._ids = itertools.count(1)
        self.at: list[tuple[float, Message]] = []  # every event, with its virtual time
        self._write("Login", [("Username", "ccbox"), ("Secret", "ccbox-secret")], "login")
        self.pump()

    def subscribe(self, events: Iterable[str], handler: Any) -> None:
        self.subscribers.append((frozenset(events), handler))

    def _write(self, name: str, headers: list[tuple[str, str]], action_id: str) -> None:
        lines = [f"Action: {name}", f"ActionID: {action_id}"] + [f"{k}: {v}" for k, v in headers]
        self.actions.append(Message(tuple((k, v) for k, v in [("Action", name), *headers])))
        self.session.dataReceived(("\r\n".join(lines) + "\r\n\r\n").encode())

    def send_action(self, name: str, headers: list[tuple[str, str]]) -> defer.Deferred[Message]:
        action_id = f"d{next(self._ids)}"
        d: defer.Deferred[Message] = defer.Deferred()
        self.pending[action_id] = (name, d)
        self._write(name, headers, action_id)
        return d  # answered at the next pump, with the events after it, as over a socket

    def pump(self) -> int:
        data = self.transport.value()
        self.transport.clear()
        if self.parser.banner is not None and not data:
            return 0
        messages = self.parser.feed(data)
        for msg in messages:
            if msg.event:
                self.at.append((self.reactor.seconds(), msg))
                for names, handler in self.subscribers:
                    if msg.event in names:
                        handler(msg)
                continue
            waiting = self.pending.pop(msg.action_id or "", None)
            if waiting is None:
                continue
            name, d = waiting
            if msg.get("Response") == "Error":
                d.errback(ActionError(name, msg))
            else:
                d.callback(msg)
        return len(messages)

    def events(self, name: str) -> list[tuple[float, Message]]:
        return [(t, m) for t, m in self.at if m.event == name]


class DialerRig:
    """``db`` seeded by the test (agents, a queue, a campaign, leads); ``start`` builds the
    rest. ``population`` answers the numbers dialed out; agents' phones are ``devices``."""

    def __init__(
        self,
        db: DBConnector,
        population: Population,
        *,
        trunks: dict[str, int] | None = None,
        devices: dict[str, Device] | None = None,
        dnc: Any = None,
        offer_wait_s: float = 2.0,
        ring_timeout_s: float = 25.0,
        span_free: Callable[[str], tuple[int, float] | None] | None = None,
    ) -> None:
        self.db = db
        self.clock = Clock()
        self.clock.advance(START)
        self.bus = EventBus()
        self.published: list[object] = []
        self.bus.subscribe(object, self.published.append)
        self.switch = Switch(
            self.clock,
            devices=devices,
            default_device=Device(ring_s=1.0),
            seed=7,
            sounds=sounds_for_tests("demo-congrats", "ccbox-goodbye", "safe-harbor"),
        )
        self.switch.population = population
        self.ami = ManagerLink(self.clock, self.switch)
        self.model = CallModel(self.clock.seconds, self.bus.publish)
        self.ami.subscribe(CallModel.EVENTS, self.model.handle)
        self.link = AMISwitch(self.ami, self.model, clock=self.clock)  # type: ignore[arg-type]
        self.acd = ACD(self.clock, db, self.bus, switch=self.link)
        # as appliance/master.py wires them
        self.bus.subscribe(DialEnded, self.acd.on_dial_end)
        self.bus.subscribe(OriginateResult, self.acd.on_originate)
        self.bus.subscribe(ChannelHungUp, self.acd.on_channel_hangup)
        if dnc is None:
            from acd.dialer.dnc import DoNotCall

            dnc = DoNotCall(db.dialer)
            resolved(dnc.load_from_store())
        self.dnc = dnc
        self.dialer = Dialer(
            self.clock,
            self.acd,
            self.link,
            db.dialer,
            dnc,
            self.bus,
            DialerLimits(
                trunks=trunks or {"default": 30},
                offer_wait_s=offer_wait_s,
                ring_timeout_s=ring_timeout_s,
            ),
            span_free=span_free,
        )
        self.outcomes: list[str] = []

        async def dialer_route(session: AGISessionProtocol) -> None:
            self.outcomes.append(
                await outbound_call.run(session, self.dialer, db, None, lambda name: name)
            )

        self.agi = FastAGIFactory(self.clock, {"dialer": dialer_route})
        self.pumps: list[Any] = []
        self.calls: list[SimulatedCall] = []
        self.switch.agi_starter = self._start_agi

    def _start_agi(self, channel: SimChannel, script: str, exten: str) -> None:
        caller = SimulatedCall(
            self.clock,
            CallerScript(caller_number=channel.caller_num, dialed=exten),
            script,
            self.switch,
            channel,
        )
        server = self.agi.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert server is not None
        self.calls.append(caller)
        self.pumps.append(connect(server, makeFakeServer(server), caller, makeFakeClient(caller)))

    def start(self) -> None:
        resolved(self.acd.startService())
        self.dialer.startService()
        self.settle()

    def stop(self, dt: float = 0.05, limit_s: float = 3600.0) -> None:
        """End a session before its database closes: the dialer gets no trunk channel for a
        new call, the calls in progress (ringing ones included: the dialer still hears the
        switch) run to their end and write their outcomes (at most ``limit_s`` of virtual
        time), then the dialer and the ACD stop. The database is the caller's to close."""
        self.dialer.limits = replace(self.dialer.limits, trunks={})
        waited = 0.0
        while waited < limit_s and (
            self.pumps or any(line.state != "done" for line in self.dialer.lines.values())
        ):
            self.step(1.0, dt)
            waited += 1.0
        resolved(self.dialer.stopService())
        self.step(1.0, dt)  # the last outcomes' writes and events
        resolved(self.acd.stopService())

    def settle(self) -> None:
        """Deliver everything in flight (AMI both ways, FastAGI both ways) until quiet."""
        for _ in range(1000):
            moved = self.ami.pump()
            for pump in self.pumps:
                moved += int(bool(pump.pump()))
            self.pumps = [p for p in self.pumps if not _closed(p)]
            if not moved:
                return

    def step(self, seconds: float, dt: float = 0.05) -> None:
        for _ in range(round(seconds / dt)):
            self.clock.advance(dt)
            self.settle()

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.published if isinstance(e, kind)]


def _closed(pump: Any) -> bool:
    return bool(pump.clientIO.disconnected and pump.serverIO.disconnected)
