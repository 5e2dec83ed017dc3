"""Every path that ends or moves a call frees every agent it was offered to, and agents are
found by their device however Asterisk names its legs (issue 13: agents rang for minutes on
calls another agent had answered; a Local agent's answered call was recorded with no agent).

The real ACD class on an inline SQLite database, time from a Clock (as test_acd_service.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from twisted.internet import defer

from acd import agent_state as st
from acd.service import ACD, ACDError, CallbackAttemptFailed, Offer, QueuedCall
from acd.switch_link import TransferFailed
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from drivers.asterisk.callmodel import DialEnded
from tests.support.inline_db import inline_db
from tests.unit.test_acd_service import FakeSwitch, offer_of, ring_all_offer, seed, start


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


def _states(acd: ACD) -> dict[str, str]:
    return {a.number: a.state for a in acd.agents.values()}


def _dial_end(call: QueuedCall, channel: str, at: float) -> DialEnded:
    return DialEnded("L1", call.uniqueid, "d1", channel, "ANSWER", at)


def test_a_misread_no_answer_never_rings_a_second_agent_for_an_answered_call(
    db: DBConnector,
) -> None:
    ids = seed(db, wrapup_s=5)
    acd, clock, _ = start(db)
    acd.login(ids["1001"])
    clock.advance(1)
    acd.login(ids["1002"])
    call = acd.join(ids["support"], "13800000001", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and [a.number for a in offer.agents] == ["1001"]
    acd.on_dial_end(_dial_end(call, "PJSIP/1001-0000000a", clock.seconds()))
    assert _states(acd)["1001"] == st.ON_CALL
    # The Dial's reply misread (a stale SAY reply taken for it): "no answer" for a call
    # that is being talked. Before: the call went back and rang 1002 for nothing.
    acd.no_answer(call)
    assert _states(acd) == {"1001": "on_call", "1002": "available", "1003": "logged_out"}
    assert acd.position(call) == 0 and call.ringing == ()
    # The Dial result tells the answer again; the call ends: 1001 to wrap-up, nobody rings.
    assert acd.answered(call, "PJSIP/1001") is acd.agents[ids["1001"]]
    clock.advance(30)
    acd.call_ended(call)
    assert _states(acd) == {"1001": "wrap_up", "1002": "available", "1003": "logged_out"}
    assert all(a.call is None for a in acd.agents.values())


def test_an_answer_reported_again_frees_an_agent_rung_since(db: DBConnector) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    acd.login(ids["1001"])
    clock.advance(1)
    acd.login(ids["1002"])
    call = acd.join(ids["support"], "13800000001", "u1")
    assert isinstance(offer_of(call), Offer)
    acd.answered(call, "PJSIP/1001")
    # However a second offer of the answered call came about, the next report of the
    # answer ends it (before: answered() returned at once and 1002 rang on).
    other = acd.agents[ids["1002"]]
    other.call = call
    acd._enter(other, st.RINGING)
    call.ringing = (other,)
    assert acd.answered(call, "PJSIP/1001") is acd.agents[ids["1001"]]
    assert (other.state, other.call) == (st.AVAILABLE, None)


ENDINGS: dict[str, Callable[[ACD, QueuedCall, dict[str, int]], None]] = {
    # the session ended the call (its Dial failed under it, a session lost)
    "call_ended": lambda acd, call, ids: acd.call_ended(call),
    # overflow to voicemail or an extension, a key pressed for voicemail
    "gave_up": lambda acd, call, ids: acd.gave_up(call),
    # overflow into another queue while the offer rang
    "moved": lambda acd, call, ids: acd.move(call, ids["backup"]),
    "abandoned": lambda acd, call, ids: acd.abandoned(call),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_every_end_of_a_ringing_call_frees_every_agent_it_rang(
    db: DBConnector, ending: str
) -> None:
    acd, call, _, ids = ring_all_offer(db)
    ENDINGS[ending](acd, call, ids)
    assert _states(acd) == {"1001": "available", "1002": "available", "1003": "available"}
    assert all(a.call is None for a in acd.agents.values())
    assert call.ringing == ()


def test_a_ring_all_answer_frees_the_others_and_the_end_frees_the_answerer(
    db: DBConnector,
) -> None:
    acd, call, _, _ids = ring_all_offer(db)
    acd.on_dial_end(_dial_end(call, "PJSIP/1002-00000001", acd.reactor.seconds()))
    assert _states(acd) == {"1001": "available", "1002": "on_call", "1003": "available"}
    acd.call_ended(call)
    assert _states(acd)["1002"] == st.WRAP_UP


def test_a_hangup_after_the_answer_ends_the_call_instead_of_leaving_the_agent_on_it(
    db: DBConnector,
) -> None:
    ids = seed(db, wrapup_s=0)
    acd, clock, _ = start(db)
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1")
    assert isinstance(offer_of(call), Offer)
    acd.answered(call, "PJSIP/1001")
    clock.advance(20)
    acd.abandoned(call)  # the caller's side reported a hangup after the answer
    agent = acd.agents[ids["1001"]]
    assert agent.state in (st.WRAP_UP, st.AVAILABLE) and agent.call is None
    assert (agent.stats.handled, agent.stats.talk_s) == (1, 20.0)
    s = acd.snapshot()["queues"][0]
    assert (s["answered"], s["abandoned"]) == (1, 0)


def test_a_local_agent_dialed_with_n_is_found_by_the_leg_asterisk_names(
    db: DBConnector,
) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    acd.login(ids["1001"], "Local/1001@agent-phones/n")
    call = acd.join(ids["support"], "13800000001", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and offer.agents[0].device == "Local/1001@agent-phones/n"
    acd.on_dial_end(_dial_end(call, "Local/1001@agent-phones-00000081;1", clock.seconds()))
    assert call.agent is acd.agents[ids["1001"]] and _states(acd)["1001"] == st.ON_CALL
    # After a restart, the live ;1 leg puts the agent back on its call.
    acd.call_ended(call)
    acd._enter(acd.agents[ids["1001"]], st.AVAILABLE)
    assert acd.reattach([("ch-1", "Local/1001@agent-phones-00000081;1")]) == 1


class RefusingSwitch(FakeSwitch):
    """Asterisk refusing the Originate (originate-unknown-extension.trace)."""

    async def originate(
        self, device: str, context: str, exten: str, caller: tuple[str, str], timeout_s: float
    ) -> str:
        self.originated.append((device, context, exten, caller))
        raise RuntimeError("Originate: Extension does not exist.")


def test_a_callback_the_switch_refuses_to_ring_is_an_attempt_with_its_reason(
    db: DBConnector,
) -> None:
    ids = seed(db)
    acd, clock, published = start(db)
    acd.switch = RefusingSwitch()
    acd.callback_max_attempts = 2
    cb = acd.join(ids["support"], "13800000001", "u1")
    assert acd.request_callback(cb)
    acd.login(ids["1001"])
    agent = acd.agents[ids["1001"]]
    assert cb.attempts == 1 and "Extension does not exist." in cb.last_failure
    assert (agent.state, agent.misses, agent.call) == (st.AVAILABLE, 0, None)
    failed = [e for e in published if isinstance(e, CallbackAttemptFailed)]
    assert [(e.callback_id, e.attempt) for e in failed] == [(cb.callback_id, 1)]
    assert [(r.state, r.attempts) for r in resolved(db.acd.open_callbacks())] == [("waiting", 1)]
    clock.advance(acd.callback_retry_s)  # tried again, refused again: the last attempt
    assert cb.done and cb.attempts == 2 and not acd.callbacks
    assert resolved(db.acd.open_callbacks()) == []
    assert len(acd.switch.originated) == 2
    clock.advance(acd.callback_retry_s * 5)
    assert len(acd.switch.originated) == 2  # no longer retried every 120 s forever


class Refusals(FakeSwitch):
    """A switch whose transfers fail as acd/switch_link.py reports them."""

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        raise TransferFailed(f"the switch dropped the caller: {exten}@{context} did not take it")

    async def atxfer(self, channel: str, context: str, exten: str) -> defer.Deferred[bool]:
        raise TransferFailed(f"the switch did not call {exten}@{context}: ... Dial option t")


def _talking(db: DBConnector, switch: FakeSwitch) -> tuple[ACD, QueuedCall, dict[str, int]]:
    ids = seed(db, wrapup_s=5)
    acd, _clock, _ = start(db)
    acd.switch = switch
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1", channel="DAHDI/1-1")
    assert isinstance(offer_of(call), Offer)
    acd.answered(call, "PJSIP/1001")
    acd.login(ids["1002"])
    return acd, call, ids


def test_an_attended_transfer_moves_the_call_when_asterisk_says_it_is_done(
    db: DBConnector,
) -> None:
    switch = FakeSwitch()
    acd, call, ids = _talking(db, switch)
    a1001, a1002 = acd.agents[ids["1001"]], acd.agents[ids["1002"]]
    acd.reactor.advance(30)
    said = resolved(defer.ensureDeferred(acd.transfer(a1001.id, "agent", "1002", attended=True)))
    assert said == "calling agent 1002: hang up to complete the transfer"
    # The consult rings 1002: no queue call may be offered to it meanwhile.
    assert (a1002.state, a1002.reason) == (st.ON_CALL, "consult")
    acd.reactor.advance(10)
    switch.done.callback(True)  # AttendedTransfer Result: Success
    assert (a1001.state, a1001.reason, a1001.call) == (st.WRAP_UP, "transferred", None)
    assert a1001.stats.handled == 1 and a1001.stats.talk_s == 40.0
    assert (a1002.state, a1002.call, call.agent) == (st.ON_CALL, call, a1002)
    acd.reactor.advance(60)
    acd.call_ended(call)  # the caller's Dial returns when the target hangs up
    assert a1002.state == st.WRAP_UP and a1002.stats.talk_s == 60.0


def test_an_attended_transfer_that_ends_without_asterisk_doing_it_frees_the_target(
    db: DBConnector,
) -> None:
    switch = FakeSwitch()
    acd, call, ids = _talking(db, switch)
    a1001, a1002 = acd.agents[ids["1001"]], acd.agents[ids["1002"]]
    resolved(defer.ensureDeferred(acd.transfer(a1001.id, "agent", "1002", attended=True)))
    switch.done.callback(False)  # the consult hung up: the agent is back with the caller
    assert (a1001.state, a1001.call) == (st.ON_CALL, call)
    assert (a1002.state, a1002.call) == (st.AVAILABLE, None)


def test_transfers_the_switch_did_not_do_are_reported_as_failed(db: DBConnector) -> None:
    acd, call, ids = _talking(db, Refusals())
    a1001, a1002 = acd.agents[ids["1001"]], acd.agents[ids["1002"]]
    with pytest.raises(ACDError, match="not transferred to queue backup: the switch dropped"):
        resolved(defer.ensureDeferred(acd.transfer(a1001.id, "queue", "backup")))
    assert not call.transferred and acd.last_queue_of("u1") is None
    with pytest.raises(ACDError, match="Dial option t"):
        resolved(defer.ensureDeferred(acd.transfer(a1001.id, "agent", "1002", attended=True)))
    assert (a1001.state, a1002.state) == (st.ON_CALL, st.AVAILABLE)
