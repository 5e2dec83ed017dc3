"""The ACD's invariants (acd/invariants.py): no agent rings longer than its queue's ring time
plus a margin, no agent is on a call the switch does not have; the watch frees such agents
with a reason, and a supervisor may force one out of a state the switch contradicts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from acd import agent_state as st
from acd.invariants import MARGIN_S, NO_CALL_ON_SWITCH, STUCK_RINGING
from acd.service import ACD, ACDError, Offer
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from tests.support.inline_db import inline_db
from tests.unit.test_acd_service import FakeSwitch, offer_of, seed, start


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


class Phones(FakeSwitch):
    """The switch's channels, by device: ``live`` lists the devices that have one."""

    def __init__(self) -> None:
        super().__init__()
        self.live: set[str] = set()

    def has_device_channel(self, device: str) -> bool | None:
        return device in self.live


def _ringing(db: DBConnector) -> tuple[ACD, Clock, list[object], int]:
    ids = seed(db)
    acd, clock, published = start(db)
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1")
    assert isinstance(offer_of(call), Offer)
    return acd, clock, published, ids["1001"]


def test_an_agent_ringing_past_its_queue_ring_time_is_a_violation(db: DBConnector) -> None:
    acd, clock, published, agent_id = _ringing(db)
    agent = acd.agents[agent_id]
    limit = acd.queues[agent.call.queue_id].ring_timeout_s  # type: ignore[union-attr]
    clock.advance(limit + MARGIN_S - 0.5)
    assert acd.violations() == []  # the Dial may still be ringing
    clock.advance(1)
    [v] = acd.violations()
    assert (v.agent_id, v.kind) == (agent_id, STUCK_RINGING)
    assert f"longer than the ring time {limit} s" in v.detail
    assert acd.check_invariants() == [v]
    assert (agent.state, agent.reason, agent.call) == (st.AVAILABLE, STUCK_RINGING, None)
    changes = [e for e in published if isinstance(e, st.AgentStateChanged)]
    assert (changes[-1].old, changes[-1].new, changes[-1].reason) == (
        "ringing",
        "available",
        STUCK_RINGING,
    )
    assert acd.violations() == [] and acd.released == 1


def test_an_agent_on_a_call_the_switch_does_not_have_is_a_violation(db: DBConnector) -> None:
    acd, clock, _published, agent_id = _ringing(db)
    agent = acd.agents[agent_id]
    acd.answered(agent.call, agent.device)  # type: ignore[arg-type]
    clock.advance(MARGIN_S + 1)
    assert acd.violations() == []  # no AMI link: the switch cannot be asked
    phones = Phones()
    acd.switch = phones
    phones.live.add(agent.device)
    assert acd.violations() == []  # the call is on the switch
    phones.live.clear()
    [v] = acd.violations()
    assert (v.kind, v.detail) == (
        NO_CALL_ON_SWITCH,
        "agent 1001 is on a call but the switch has no channel of PJSIP/1001",
    )
    # The first check only notes it: the caller's session may be ending the call now.
    assert acd.check_invariants() == [] and agent.state == st.ON_CALL
    assert acd.check_invariants() == [v]
    assert (agent.state, agent.reason) == (st.AVAILABLE, NO_CALL_ON_SWITCH)


def test_a_check_between_the_hangup_and_the_end_of_the_call_leaves_the_agent(
    db: DBConnector,
) -> None:
    """AMI's Hangup of the agent's phone comes a moment before the caller's session ends
    the call: a check in between must not free the agent (it would skip its wrap-up)."""
    acd, clock, _published, agent_id = _ringing(db)
    agent = acd.agents[agent_id]
    call = agent.call
    acd.answered(call, agent.device)  # type: ignore[arg-type]
    phones = Phones()
    acd.switch = phones
    clock.advance(MARGIN_S + 60)  # talking; the phone just hung up (no channel)
    assert acd.check_invariants() == []
    acd.call_ended(call)  # type: ignore[arg-type]
    assert agent.state == st.WRAP_UP and agent.reason != NO_CALL_ON_SWITCH
    assert acd.check_invariants() == [] and acd.released == 0


def test_the_watch_frees_a_stuck_agent_by_itself(db: DBConnector) -> None:
    ids = seed(db)
    clock = Clock()
    clock.advance(1_795_353_000)
    acd = ACD(clock, db, EventBus(), watch_s=5)
    resolved(acd.startService())
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1")
    assert isinstance(offer_of(call), Offer)
    # The caller's session never reports back (the bug this guards against).
    for _ in range(12):
        clock.advance(5)
    agent = acd.agents[ids["1001"]]
    assert agent.state != st.RINGING and acd.released == 1

    def watching() -> list[object]:
        return [c for c in clock.getDelayedCalls() if "check_invariants" in repr(c.func)]

    assert watching()
    resolved(acd.stopService())
    assert not watching()


def test_a_supervisor_forces_an_agent_out_only_where_the_switch_disagrees(
    db: DBConnector,
) -> None:
    acd, _clock, _published, agent_id = _ringing(db)
    agent = acd.agents[agent_id]
    phones = Phones()
    acd.switch = phones
    phones.live.add(agent.device)
    with pytest.raises(ACDError, match="the switch has a call on PJSIP/1001"):
        acd.release_agent(agent_id, "forced")
    phones.live.clear()
    acd.release_agent(agent_id, "forced")
    assert (agent.state, agent.reason) == (st.AVAILABLE, "forced")
    with pytest.raises(ACDError, match="is available: nothing to release"):
        acd.release_agent(agent_id, "forced")
