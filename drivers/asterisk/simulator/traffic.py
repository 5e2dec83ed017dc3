"""Simulated inbound traffic: many calls entering ccboxd over FastAGI at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

from drivers.asterisk.simulator.agi_caller import CallerScript, CallOutcome, SimulatedCall


@dataclass
class TrafficSummary:
    offered: int = 0
    completed: int = 0  # the script hung up (a normal end)
    caller_hangups: int = 0
    failed: int = 0  # could not connect, or the server closed without a hangup

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


async def place_calls(
    reactor: Any,
    host: str,
    port: int,
    calls: int,
    concurrency: int,
    script: Callable[[int], CallerScript] = lambda i: CallerScript(),
    agi_script: str = "inbound",
) -> TrafficSummary:
    """Place ``calls`` calls, at most ``concurrency`` at once; wait for all to end."""
    summary = TrafficSummary()
    gate = defer.DeferredSemaphore(concurrency)
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=2)

    async def one(i: int) -> None:
        summary.offered += 1
        call = SimulatedCall(reactor, script(i), agi_script)
        try:
            await connectProtocol(endpoint, call)
        except Exception:
            summary.failed += 1
            return
        outcome: CallOutcome = await call.finished
        if outcome.script_hung_up:
            summary.completed += 1
        elif outcome.caller_hung_up:
            summary.caller_hangups += 1
        else:
            summary.failed += 1

    await defer.gatherResults([gate.run(one, i) for i in range(calls)])
    return summary
