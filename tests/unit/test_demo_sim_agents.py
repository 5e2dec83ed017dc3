"""The demo's simulated agents (appliance/demo_channels.py SimAgents) stop answering when
the demo stops: no think time left on the reactor, no answer still under way against an
engine and a database that stop next."""

from __future__ import annotations

from typing import Any
from unittest import mock

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from acd.channels.service import ChannelService
from appliance.demo_channels import SimAgents


def agents_on(clock: MemoryReactorClock) -> tuple[SimAgents, Any, list[Any]]:
    channels = mock.create_autospec(ChannelService, instance=True)  # the real one's shape
    listeners: list[Any] = []
    channels.subscribe_agent.side_effect = lambda aid, listener: listeners.append(listener)
    agents = SimAgents(clock, channels, [7], seed=1, accept_s=(1.0, 1.0))
    agents.start()
    return agents, channels, listeners


def test_a_stop_cancels_the_think_times_to_come() -> None:
    clock = MemoryReactorClock()
    agents, channels, listeners = agents_on(clock)
    listeners[0]({"type": "offer", "conversation": 5, "media": "chat"})
    assert len(clock.getDelayedCalls()) == 1
    agents.stop()
    assert clock.getDelayedCalls() == []
    clock.advance(10)
    channels.accept.assert_not_called()
    channels.unsubscribe.assert_called_once()
    listeners[0]({"type": "offer", "conversation": 6, "media": "chat"})  # a late event
    assert clock.getDelayedCalls() == []


def test_a_stop_cancels_an_answer_under_way_and_counts_no_failure() -> None:
    clock = MemoryReactorClock()
    agents, channels, listeners = agents_on(clock)
    held: defer.Deferred[None] = defer.Deferred()

    async def accept(aid: int, cid: int) -> None:
        await held

    channels.accept.side_effect = accept  # ChannelService.accept is a coroutine
    listeners[0]({"type": "offer", "conversation": 5, "media": "chat"})
    clock.advance(1.0)
    channels.accept.assert_called_once_with(7, 5)
    assert not held.called
    agents.stop()
    assert held.called  # cancelled: its greeting is never scheduled
    assert clock.getDelayedCalls() == []
    assert agents.counts == {"accepted": 0, "chat_lines": 0, "mail_replies": 0, "failed": 0}


def test_a_refusal_while_running_is_counted() -> None:
    clock = MemoryReactorClock()
    agents, channels, listeners = agents_on(clock)
    channels.accept.side_effect = ValueError("offer withdrawn")
    listeners[0]({"type": "offer", "conversation": 5, "media": "chat"})
    clock.advance(1.0)
    assert agents.counts["failed"] == 1
