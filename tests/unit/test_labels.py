"""Every agent state and pause reason the ACD knows has a name on the pages."""

from __future__ import annotations

from acd import agent_state
from webui import labels


def test_every_state_and_reason_is_named() -> None:
    assert tuple(labels.agent_states()) == agent_state.STATES
    assert tuple(labels.pause_reasons()) == agent_state.PAUSE_REASONS
    assert all(labels.agent_states().values()) and all(labels.pause_reasons().values())
