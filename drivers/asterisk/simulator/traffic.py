"""Simulated traffic: calls entering ccboxd over FastAGI, as the trunks would bring them.

``place_calls`` places a fixed number of calls (tests, benchmarks, ``ccbox simulator
--calls``); ``PoissonTraffic`` keeps calls arriving at a mean rate (the demo). Every call is
a channel on the given switch, so the AMI side sees it too.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.application import service
from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.logger import Logger

from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome, SimulatedCall
from drivers.asterisk.simulator.switch import SimChannel, Switch

log = Logger(namespace="ccbox.simulator.traffic")


@dataclass
class TrafficSummary:
    offered: int = 0
    completed: int = 0  # the script hung up (a normal end)
    caller_hangups: int = 0
    failed: int = 0  # could not connect, or the server closed without a hangup
    unreachable: int = 0  # of the failed: no FastAGI server answered the connection

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def count(self, outcome: CallOutcome | None) -> None:
        if outcome is None:
            self.failed += 1
            self.unreachable += 1
        elif outcome.script_hung_up or outcome.redirected:
            self.completed += 1
        elif outcome.caller_hung_up:
            self.caller_hangups += 1
        else:
            self.failed += 1


class _OneCall(protocol.Factory):
    """connectProtocol's factory, without a log line per call."""

    noisy = False

    def __init__(self, call: SimulatedCall) -> None:
        self.call = call

    def buildProtocol(self, addr: Any) -> SimulatedCall:
        return self.call


async def run_call(
    reactor: Any,
    endpoint: Any,
    script: CallerScript,
    agi_script: str,
    switch: Switch,
    channel: SimChannel | None = None,
) -> CallOutcome | None:
    """One call through FastAGI; None when ccboxd could not be reached (the channel then
    runs the dialplan's fallback and hangs up, as the generated config does)."""
    call = SimulatedCall(reactor, script, agi_script, switch, channel)
    try:
        await endpoint.connect(_OneCall(call))
    except Exception as exc:
        log.warn("FastAGI connect failed: {err}", err=exc)
        call.channel.agi = None
        # res_agi: AGI() returns FAILURE and the dialplan goes on after it (the generated
        # one plays its "no service" fallback, then hangs up)
        switch.agi_ended(call.channel, "FAILURE")
        if call.channel.alive:  # a dialplan with nothing after AGI() would have ended
            switch.hangup(call.channel, 16)
        return None
    return await call.finished


async def place_calls(
    reactor: Any,
    host: str,
    port: int,
    calls: int,
    concurrency: int,
    script: Callable[[int], CallerScript] = lambda i: CallerScript(),
    agi_script: str = "inbound",
    switch: Switch | None = None,
) -> TrafficSummary:
    """Place ``calls`` calls, at most ``concurrency`` at once; wait for all to end."""
    summary = TrafficSummary()
    gate = defer.DeferredSemaphore(concurrency)
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=2)
    sw = switch if switch is not None else Switch(reactor)

    async def one(i: int) -> None:
        summary.offered += 1
        summary.count(await run_call(reactor, endpoint, script(i), agi_script, sw))

    await defer.gatherResults([gate.run(one, i) for i in range(calls)])
    return summary


def demo_caller(rng: random.Random, n: int) -> CallerScript:
    """A caller of the demo center: a mobile number, a name, a few digits, some patience."""
    names = ["Zhang San", "Li Si", "Wang Wu", "Zhao Liu", "陈小姐", "O'Brien", "Mary Smith"]
    return CallerScript(
        caller_number=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
        caller_name=rng.choice(names),
        dialed=rng.choice(["4008001234", "4008005678"]),
        digits="".join(rng.choice("123") for _ in range(rng.randrange(3))),
        patience_s=rng.uniform(5, 60) if rng.random() < 0.2 else None,
        prompt_s=rng.uniform(1.0, 3.0),
    )


class PoissonTraffic(service.Service):
    """Calls arrive with exponential gaps (mean ``rate_per_s`` calls a second).

    ``curve`` makes the rate vary (a day's quiet and busy hours): given the seconds since the
    start it says which share (0 to 1) of ``rate_per_s`` arrives then. Arrivals are drawn at
    the full rate and each is kept with that share (thinning, which gives a Poisson process
    of the varying rate).
    """

    def __init__(
        self,
        reactor: Any,
        switch: Switch,
        host: str,
        port: int,
        rate_per_s: float,
        script: Callable[[random.Random, int], CallerScript] = demo_caller,
        seed: int | None = None,
        max_concurrent: int = 200,
        curve: Callable[[float], float] | None = None,
    ) -> None:
        self.reactor = reactor
        self.switch = switch
        self.endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=2)
        self.rate = rate_per_s
        self.script = script
        self.rng = random.Random(seed)
        self.max_concurrent = max_concurrent
        self.summary = TrafficSummary()
        self.in_flight: set[defer.Deferred[None]] = set()
        self._next: Any = None
        self._numbers = itertools.count(1)
        self.curve = curve
        self.started_at = 0.0
        self.thinned = 0  # arrivals the curve left out

    def startService(self) -> None:
        super().startService()
        self.started_at = self.reactor.seconds()
        self._next = self.reactor.callLater(0, self._arrive)  # the first caller is waiting

    def _schedule(self) -> None:
        self._next = self.reactor.callLater(self.rng.expovariate(self.rate), self._arrive)

    def _arrive(self) -> None:
        self._schedule()
        if self.curve is not None:
            share = self.curve(self.reactor.seconds() - self.started_at)
            if self.rng.random() >= share:
                self.thinned += 1
                return  # a quieter hour: this arrival does not happen
        if len(self.in_flight) >= self.max_concurrent:
            return  # all trunk channels busy: the caller hears congestion from the carrier
        self.summary.offered += 1
        script = self.script(self.rng, next(self._numbers))
        d = defer.ensureDeferred(
            run_call(self.reactor, self.endpoint, script, "inbound", self.switch)
        )
        done = d.addCallback(self.summary.count)
        self.in_flight.add(done)
        done.addBoth(lambda _: self.in_flight.discard(done))

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._next is not None and self._next.active():
            self._next.cancel()
        # Calls in progress end as the callers hang up.
        for ch in list(self.switch.channels.values()):
            if ch.agi is not None:
                ch.agi.caller_hangs_up()
        waiting = list(self.in_flight)
        return defer.DeferredList(waiting).addCallback(lambda _: None)
