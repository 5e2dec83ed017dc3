"""Agents and callbacks after ``kill -9``. A callback whose agent's phone was being rung
when ccboxd died: the new process must neither lose it nor call the customer twice; what
the first AMI resync shows of the agent's phone decides (acd/service.py
``_resume_callbacks``). A ring for a caller that outlived the process, and a wrap-up the
old process was timing, go on."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from twisted.internet.task import Clock

from acd import agent_state as st
from acd.service import ACD
from acd.switch_link import Leg
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from drivers.asterisk.callmodel import ChannelHungUp, DialEnded
from tests.unit.test_acd_service import FakeSwitch, seed

T0 = 1_795_353_000.0
RING_S = 20
LEG = "1795352990.12"


class PhoneLegs(FakeSwitch):
    """The switch after the resync: the live legs of each phone."""

    def __init__(self) -> None:
        super().__init__()
        self.legs: dict[str, list[Leg]] = {}

    def legs_of(self, device: str) -> list[Leg]:
        return self.legs.get(device, [])

    def has_device_channel(self, device: str) -> bool | None:
        return bool(self.legs.get(device))


def killed_while_ringing(db: DBConnector) -> tuple[dict[str, int], int]:
    """What the killed process left: agent 1001 ringing, the callback ``dialing`` on it."""
    ids = seed(db, ring_timeout_s=RING_S)
    at = dt.datetime.fromtimestamp(T0 - 10, dt.UTC)
    cb = resolved(db.acd.add_callback(ids["support"], "13800000001", "", 0, at, "queue"))
    resolved(db.acd.update_callback(cb, "dialing", 0, ids["1001"]))
    resolved(db.acd.save_state(ids["1001"], st.RINGING, "", at))
    return ids, cb


def restart(db: DBConnector, switch: PhoneLegs | None, at: float = T0) -> tuple[ACD, Clock]:
    clock = Clock()
    clock.advance(at)
    acd = ACD(clock, db, EventBus())
    acd.switch = switch  # set before the start, as the master does
    resolved(acd.startService())
    return acd, clock


def callback_row(db: DBConnector, cb: int) -> Any:
    def thd(conn: Any) -> Any:
        return conn.execute(model.callbacks.select().where(model.callbacks.c.id == cb)).one()

    return resolved(db.run(thd))


def hangup(acd: ACD, uniqueid: str = LEG) -> None:
    acd.on_channel_hangup(ChannelHungUp(uniqueid, uniqueid, "PJSIP/1001-0000002a", 16, "", T0))


def test_held_on_its_agent_until_the_switch_is_asked(db: DBConnector) -> None:
    ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    acd, _clock = restart(db, switch)
    agent = acd.agents[ids["1001"]]
    assert agent.state == st.RINGING
    call = acd.callback(cb)
    assert call is not None and call.ringing == (agent,) and agent.call is call
    assert acd.position(call) <= 0  # not in line: nobody else is offered it
    acd.login(ids["1002"])
    assert acd.agents[ids["1002"]].state == st.AVAILABLE
    assert switch.originated == []


def test_the_ring_gone_while_down_puts_it_back_in_line(db: DBConnector) -> None:
    _ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    acd, _clock = restart(db, switch)
    acd.reattach([])  # the resync: no channel of PJSIP/1001
    # Back in line, and rung again: the old ring is over, so this is no second call.
    assert [o[:3] for o in switch.originated] == [("PJSIP/1001", "ccbox-callback", str(cb))]
    assert callback_row(db, cb).attempts == 0


def test_still_ringing_is_left_to_ring_and_back_in_line_if_unanswered(db: DBConnector) -> None:
    ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    switch.legs["PJSIP/1001"] = [Leg(LEG, "PJSIP/1001-0000002a", up=False, bridged=False)]
    acd, _clock = restart(db, switch)
    acd.reattach([])
    assert acd.agents[ids["1001"]].state == st.RINGING
    assert switch.originated == []
    switch.legs.clear()
    hangup(acd)  # rang out
    assert [o[:3] for o in switch.originated] == [("PJSIP/1001", "ccbox-callback", str(cb))]
    assert acd.agents[ids["1001"]].misses == 1


def test_still_ringing_then_answered_runs_its_session_in_the_new_process(db: DBConnector) -> None:
    ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    switch.legs["PJSIP/1001"] = [Leg(LEG, "PJSIP/1001-0000002a", up=False, bridged=False)]
    acd, _clock = restart(db, switch)
    acd.reattach([])
    call = acd.callback(cb)
    assert call is not None
    agent = acd.answered(call, "PJSIP/1001")  # its ccbox-callback session came here
    assert agent is acd.agents[ids["1001"]] and agent.state == st.ON_CALL
    acd.callback_finished(call, reached=True)
    hangup(acd)  # the leg's end after the session's: nothing more
    assert callback_row(db, cb).state == "done"
    assert switch.originated == []
    assert agent.state == st.WRAP_UP


@pytest.mark.parametrize(
    ("bridged", "customer_answers", "state", "attempts"),
    [
        (True, False, "done", 1),  # talking at the resync
        (False, True, "done", 1),  # the customer answered after it
        (False, False, "waiting", 1),  # never reached: an attempt, tried again later
    ],
)
def test_answered_before_the_kill_ends_with_its_leg(
    db: DBConnector, bridged: bool, customer_answers: bool, state: str, attempts: int
) -> None:
    ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    switch.legs["PJSIP/1001"] = [Leg(LEG, "PJSIP/1001-0000002a", up=True, bridged=bridged)]
    acd, clock = restart(db, switch)
    agent = acd.agents[ids["1001"]]
    acd.reattach([(LEG, "PJSIP/1001-0000002a")])
    assert (agent.state, agent.reason) == (st.ON_CALL, "reattached")
    assert acd.violations() == []
    if customer_answers:
        dest = "Local/13800000001@ccbox-outbound-0000001;1"
        acd.on_dial_end(DialEnded(LEG, LEG, "1.2", dest, "ANSWER", T0 + 1))
    clock.advance(30)
    hangup(acd)
    row = callback_row(db, cb)
    assert (row.state, row.attempts) == (state, attempts)
    assert switch.originated == []  # never dialed again at once
    assert agent.state == (st.WRAP_UP if state == "done" else st.AVAILABLE)


def test_without_a_view_of_the_switch_it_goes_back_in_line_after_the_ring_time(
    db: DBConnector,
) -> None:
    ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    acd, clock = restart(db, switch)  # AMI never logs in: no resync
    clock.advance(RING_S - 1)
    assert switch.originated == []
    clock.advance(1)
    assert [o[:3] for o in switch.originated] == [("PJSIP/1001", "ccbox-callback", str(cb))]
    assert acd.agents[ids["1001"]].misses == 0


def test_without_an_ami_link_at_all_it_is_simply_back_in_line(db: DBConnector) -> None:
    ids, cb = killed_while_ringing(db)
    acd, _clock = restart(db, None)
    call = acd.callback(cb)
    assert call is not None and call.ringing == ()
    assert acd.agents[ids["1001"]].state == st.AVAILABLE


def test_a_ring_for_a_caller_that_outlived_the_kill_keeps_the_agent_ringing(
    db: DBConnector,
) -> None:
    """Not a callback: agent 1001 was rung for a queued caller; Asterisk's Dial rings on
    without the FastAGI session. Not available (no second call on a ringing phone); on the
    call when it answers (told on the bus for the calls row), free at the leg's end."""
    from acd.service import RingAnswered

    ids = seed(db, ring_timeout_s=RING_S)
    at = dt.datetime.fromtimestamp(T0 - 3, dt.UTC)
    resolved(db.acd.save_state(ids["1001"], st.RINGING, "", at))
    switch = PhoneLegs()
    switch.legs["PJSIP/1001"] = [Leg(LEG, "PJSIP/1001-0000002a", False, False, rung=True)]
    acd, _clock = restart(db, switch)
    told: list[RingAnswered] = []
    acd.bus.subscribe(RingAnswered, told.append)
    agent = acd.agents[ids["1001"]]
    assert agent.state == st.AVAILABLE  # the database alone cannot know
    assert acd.reattach([]) == 1
    assert (agent.state, agent.reason) == (st.RINGING, "reattached")
    assert acd.reattach([]) == 0  # a second resync changes nothing
    acd.login(ids["1002"])
    offer = acd.join(ids["support"], "13800000002", "u2").wait_offer()
    assert [a.number for a in offer.result.agents] == ["1002"]  # type: ignore[attr-defined]
    acd.on_dial_end(DialEnded("1.1", "caller-1", LEG, "PJSIP/1001-0000002a", "ANSWER", T0 + 2))
    assert (agent.state, agent.reason) == (st.ON_CALL, "reattached")
    assert told == [RingAnswered("caller-1", ids["1001"], T0 + 2)]
    hangup(acd)
    assert agent.state == st.AVAILABLE


def test_a_wrap_up_goes_on_for_what_is_left_of_it(db: DBConnector) -> None:
    def at(offset: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(T0 + offset, dt.UTC)

    ids = seed(db, wrapup_s=30)
    resolved(db.acd.save_state(ids["1001"], st.WRAP_UP, "", at(-10)))
    resolved(db.acd.save_state(ids["1002"], st.WRAP_UP, "", at(-40)))
    resolved(db.acd.save_state(ids["1003"], st.WRAP_UP, "", at(0)))
    acd, clock = restart(db, PhoneLegs())
    writing, over = acd.agents[ids["1001"]], acd.agents[ids["1002"]]
    assert over.state == st.AVAILABLE  # its 30 s were over before the start
    assert writing.state == st.WRAP_UP
    clock.advance(19.9)
    assert writing.state == st.WRAP_UP
    clock.advance(0.1)
    assert writing.state == st.AVAILABLE
    resolved(acd.stopService())
    # Killed again in 1003's wrap-up: it still counts from when it began.
    again, clock = restart(db, PhoneLegs(), T0 + 20)
    assert again.agents[ids["1003"]].state == st.WRAP_UP
    clock.advance(9.9)
    assert again.agents[ids["1003"]].state == st.WRAP_UP
    clock.advance(0.1)
    assert again.agents[ids["1003"]].state == st.AVAILABLE


def test_a_session_that_came_before_the_resync_keeps_the_call_it_took(
    db: DBConnector,
) -> None:
    """1001 answered the old ring before ccboxd logged in to AMI: its session ran here and
    did not reach the customer; the resync after it changes nothing (the retry stays)."""
    _ids, cb = killed_while_ringing(db)
    switch = PhoneLegs()
    acd, clock = restart(db, switch)
    acd.callback_retry_s = 60
    call = acd.callback(cb)
    assert call is not None
    acd.answered(call, "PJSIP/1001")
    acd.callback_finished(call, reached=False)
    acd.reattach([])  # the late resync: no leg of PJSIP/1001 any more
    assert switch.originated == []
    assert callback_row(db, cb).attempts == 1
    clock.advance(RING_S)  # the hold's timer is gone with the hold
    assert switch.originated == []
    clock.advance(60 - RING_S)  # the retry
    assert [o[:3] for o in switch.originated] == [("PJSIP/1001", "ccbox-callback", str(cb))]
