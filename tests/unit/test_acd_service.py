"""The ACD service: offers, answers, misses, priorities, overflow, wrap-up, restart.

A Clock drives time; the database is SQLite, inline (no threads). The caller's side is
played by the test: it reads ``wait_offer()`` and reports what the phone did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.task import Clock

from acd import agent_state as st
from acd.day_rollover import seconds_to_midnight
from acd.service import ACD, ACDError, Offer, Overflow, QueuedCall
from acd.stats import QueueStatsChanged
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from tests.support.inline_db import inline_db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


def seed(db: DBConnector, **queue_settings: Any) -> dict[str, int]:
    """Agents 1001-1003 (tech 5, 7, 9), queue support (tech >= 3), queue backup (no skills:
    members only)."""
    tech = resolved(db.skills.add("tech")).id
    ids = {}
    for number, level in (("1001", 5), ("1002", 7), ("1003", 9)):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, level))
        ids[number] = agent.id
    ids["support"] = resolved(db.queues.add("support", skills={tech: 3}, **queue_settings)).id
    ids["backup"] = resolved(db.queues.add("backup")).id
    return ids


def start(db: DBConnector, clock: Clock | None = None) -> tuple[ACD, Clock, list[object]]:
    clock = clock or Clock()
    clock.advance(1_795_353_000)
    bus = EventBus()
    published: list[object] = []
    bus.subscribe(object, published.append)
    acd = ACD(clock, db, bus)
    resolved(acd.startService())
    return acd, clock, published


def offer_of(call: QueuedCall) -> Offer | Overflow | None:
    d = call.wait_offer()
    box: list[Any] = []
    d.addCallback(box.append)
    if not box:
        call._waiter = None  # nothing yet: a later offer waits in the call for the next look
        return None
    return box[0]


def test_a_call_goes_to_the_longest_idle_agent_and_through_wrap_up(db: DBConnector) -> None:
    ids = seed(db, wrapup_s=5)
    acd, clock, published = start(db)
    for number in ("1002", "1001"):
        acd.login(ids[number])
        clock.advance(1)
    call = acd.join(ids["support"], "13800138000", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and [a.number for a in offer.agents] == ["1002"]
    agent = acd.agents[ids["1002"]]
    assert agent.state == st.RINGING
    clock.advance(3)
    assert acd.answered(call, "PJSIP/1002") is agent
    assert acd.answered(call, "PJSIP/1002") is agent  # AMI and the Dial result both tell
    assert agent.state == st.ON_CALL
    clock.advance(60)
    acd.call_ended(call)
    assert agent.state == st.WRAP_UP and agent.stats.handled == 1
    clock.advance(5)
    assert agent.state == st.AVAILABLE
    stats = acd.snapshot()["queues"][0]
    assert (stats["answered"], stats["service_level"], stats["avg_wait_s"]) == (1, 1.0, 3.0)
    changes = [(e.old, e.new) for e in published if isinstance(e, st.AgentStateChanged)]
    assert changes[-4:] == [
        ("available", "ringing"),
        ("ringing", "on_call"),
        ("on_call", "wrap_up"),
        ("wrap_up", "available"),
    ]
    history = [s for _, s, _ in resolved(db.acd.events(ids["1002"]))]
    assert history == ["available", "ringing", "on_call", "wrap_up", "available"]


def test_no_answer_keeps_the_place_and_auto_pauses_after_misses(db: DBConnector) -> None:
    ids = seed(db, auto_pause_misses=2)
    acd, _, _ = start(db)
    acd.login(ids["1001"])
    first = acd.join(ids["support"], "13800000001", "u1")
    second = acd.join(ids["support"], "13800000002", "u2")
    assert isinstance(offer_of(first), Offer)
    assert offer_of(second) is None  # one agent: the second call waits
    acd.no_answer(first)
    # 1001 is available again and gets the first call again: its place was kept.
    assert isinstance(offer_of(first), Offer) and offer_of(second) is None
    acd.no_answer(first)
    agent = acd.agents[ids["1001"]]
    assert (agent.state, agent.reason, agent.stats.missed) == (st.PAUSED, "missed_calls", 2)
    acd.login(ids["1003"])
    assert isinstance(offer_of(first), Offer)  # the first caller still goes first
    assert acd.position(second) == 1


def test_vip_jumps_the_queue_and_blacklist_is_known(db: DBConnector) -> None:
    ids = seed(db)
    resolved(db.acd.add_number("13900000000", "red", priority=10, note="VIP"))
    resolved(db.acd.add_number("13666666666", "black", note="abusive"))
    acd, _, _ = start(db)
    assert acd.is_blacklisted("13666666666") and not acd.is_blacklisted("13900000000")
    plain = [acd.join(ids["support"], f"1380000000{i}", f"u{i}") for i in range(3)]
    vip = acd.join(ids["support"], "13900000000", "uv", acd.priority_of("13900000000"))
    assert acd.position(vip) == 1 and acd.position(plain[0]) == 2
    acd.login(ids["1001"])
    assert isinstance(offer_of(vip), Offer) and offer_of(plain[0]) is None


def ring_all_offer(db: DBConnector) -> tuple[ACD, QueuedCall, Offer, dict[str, int]]:
    """A ring-all queue, agents 1001-1003 logged in, a call offered to all three (the
    offer: ``offer_of`` takes it once)."""
    ids = seed(db)
    with db.engine.begin() as conn:
        conn.execute(model.queues.update().values(strategy="ring_all"))
    acd, _, _ = start(db)
    for number in ("1001", "1002", "1003"):
        acd.login(ids[number])
    call = acd.join(ids["support"], "13800000001", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and len(offer.agents) == 3
    return acd, call, offer, ids


def test_ring_all_rings_every_available_agent_and_the_answer_frees_the_rest(
    db: DBConnector,
) -> None:
    acd, call, offer, _ = ring_all_offer(db)
    assert {a.state for a in offer.agents} == {st.RINGING}
    acd.answered(call, "PJSIP/1003")
    states = {a.number: a.state for a in acd.agents.values()}
    assert states == {"1001": "available", "1002": "available", "1003": "on_call"}


def test_overflow_on_timeout_and_when_full(db: DBConnector) -> None:
    ids = seed(db, max_wait_s=30, max_len=1)
    with db.engine.begin() as conn:
        conn.execute(
            model.queues.update()
            .where(model.queues.c.id == ids["support"])
            .values(overflow_queue_id=ids["backup"])
        )
    acd, clock, _ = start(db)
    waiting = acd.join(ids["support"], "13800000001", "u1")
    full = acd.join(ids["support"], "13800000002", "u2")
    assert offer_of(full) == Overflow(ids["backup"], "full")
    clock.advance(29)
    assert offer_of(waiting) is None
    clock.advance(2)
    assert offer_of(waiting) == Overflow(ids["backup"], "timeout")
    acd.move(waiting, ids["backup"])  # the caller's session follows the overflow
    assert waiting.queue_id == ids["backup"] and acd.position(waiting) == 1
    stats = {q["name"]: q for q in acd.snapshot()["queues"]}
    assert stats["support"]["overflowed"] == 2 and stats["backup"]["waiting"] == 1


def test_abandon_counts_against_service_level_only_after_the_threshold(db: DBConnector) -> None:
    ids = seed(db)  # threshold 20 s
    acd, clock, _ = start(db)
    quick = acd.join(ids["support"], "13800000001", "u1")
    slow = acd.join(ids["support"], "13800000002", "u2")
    clock.advance(10)
    acd.abandoned(quick)
    clock.advance(20)
    acd.abandoned(slow)
    acd.login(ids["1001"])
    answered = acd.join(ids["support"], "13800000003", "u3")
    acd.answered(answered, "PJSIP/1001")
    s = acd.snapshot()["queues"][0]
    assert (s["abandoned"], s["answered"], s["service_level"]) == (2, 1, 0.5)
    assert acd.agents[ids["1001"]].state == st.ON_CALL


def test_state_rules_are_clear_errors(db: DBConnector) -> None:
    ids = seed(db)
    acd, _, _ = start(db)
    with pytest.raises(ACDError, match="cannot pause when logged out"):
        acd.pause(ids["1001"], "lunch")
    acd.login(ids["1001"])
    with pytest.raises(ACDError, match="pause reason must be one of"):
        acd.pause(ids["1001"], "<script>")
    acd.join(ids["support"], "13800000001", "u1")
    with pytest.raises(ACDError, match="finish the call first"):
        acd.logout(ids["1001"])
    with pytest.raises(ACDError, match="no agent 999"):
        acd.login(999)
    with db.engine.begin() as conn:
        conn.execute(model.agents.update().values(status="resigned"))
    acd2, _, _ = start(db)
    with pytest.raises(ACDError, match="is resigned"):
        acd2.login(ids["1002"])


def test_states_survive_a_restart(db: DBConnector) -> None:
    ids = seed(db)
    acd, _, _ = start(db)
    acd.login(ids["1001"])
    acd.login(ids["1002"])
    acd.pause(ids["1002"], "lunch")
    call = acd.join(ids["support"], "13800000001", "u1")
    acd.answered(call, "PJSIP/1001")
    resolved(acd.stopService())
    again, _, _ = start(db)
    states = {a.number: (a.state, a.reason) for a in again.agents.values()}
    # The call went with the old process; its agent comes back available.
    assert states == {
        "1001": ("available", ""),
        "1002": ("paused", "lunch"),
        "1003": ("logged_out", ""),
    }
    with db.engine.connect() as conn:
        saved = conn.execute(sa.select(model.agent_states.c.state)).scalars().all()
    assert sorted(saved) == ["available", "paused"]


class FakeSwitch:
    """The switch as the ACD sees it (acd/switch_link.py), recording what it was asked."""

    def __init__(self) -> None:
        self.originated: list[tuple[str, str, str, tuple[str, str]]] = []
        self.redirected: list[tuple[str, str, str]] = []
        self.transfers: list[tuple[str, str, str]] = []

    async def originate(
        self, device: str, context: str, exten: str, caller: tuple[str, str], timeout_s: float
    ) -> str:
        self.originated.append((device, context, exten, caller))
        return f"action-{len(self.originated)}"

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        self.redirected.append((channel, context, exten))

    async def atxfer(self, channel: str, context: str, exten: str) -> defer.Deferred[bool]:
        """The consult call started; ``self.done`` fires with AttendedTransfer's outcome."""
        self.transfers.append((channel, context, exten))
        self.done: defer.Deferred[bool] = defer.Deferred()
        return self.done

    def channel_of(self, device: str) -> str | None:
        return f"{device}-0000002a"


def test_a_callback_keeps_its_place_survives_a_restart_and_is_retried(db: DBConnector) -> None:
    from drivers.asterisk.callmodel import OriginateResult

    ids = seed(db)
    acd, clock, _ = start(db)
    first = acd.join(ids["support"], "13800000001", "u1")
    second = acd.join(ids["support"], "13800000002", "u2")
    assert acd.request_callback(first) and first.callback_id is not None
    assert not acd.request_callback(acd.join(ids["support"], "<script>", "u3"))
    resolved(acd.stopService())

    # A restart: the callback comes back from the database, ahead of newer callers.
    acd, clock, _ = start(db, Clock())
    acd.switch = FakeSwitch()
    [cb] = acd.callbacks.values()
    assert (cb.caller, cb.attempts) == ("13800000001", 0)
    newer = acd.join(ids["support"], "13800000004", "u4")
    acd.login(ids["1003"])
    assert acd.switch.originated == [
        ("PJSIP/1003", "ccbox-callback", str(cb.callback_id), ("Callback", "13800000001"))
    ]
    assert acd.agents[ids["1003"]].state == st.RINGING
    # The agent's phone did not answer: missed; the callback goes back ahead of the newer
    # caller, and (the only agent) is rung again.
    acd.on_originate(OriginateResult("", "action-1", False, 3, "", ""))
    assert acd.agents[ids["1003"]].misses == 1
    assert len(acd.switch.originated) == 2 and acd.position(newer) == 1
    # The agent answers this time (the callback's session); the customer does not.
    assert acd.answered(cb, "PJSIP/1003") is acd.agents[ids["1003"]]
    acd.callback_finished(cb, reached=False)
    assert cb.attempts == 1 and acd.agents[ids["1003"]].state != st.ON_CALL
    assert acd.position(cb) == 0  # waits callback_retry_s before the next attempt
    rows = resolved(db.acd.open_callbacks())
    assert [(r.state, r.attempts) for r in rows] == [("waiting", 1)]
    clock.advance(acd.callback_retry_s)
    assert acd.position(cb) >= 1 or cb.ringing
    del second


def test_a_callback_is_given_up_after_the_last_attempt(db: DBConnector) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    acd.switch = FakeSwitch()
    acd.callback_max_attempts = 2
    cb = acd.join(ids["support"], "13800000001", "u1")
    assert acd.request_callback(cb)
    acd.login(ids["1001"])
    for attempt in (1, 2):
        assert cb.ringing, attempt
        assert acd.answered(cb, "PJSIP/1001") is not None
        acd.callback_finished(cb, reached=False)
        clock.advance(acd.callback_retry_s)
    assert cb.done and not acd.callbacks
    assert resolved(db.acd.open_callbacks()) == []


def test_a_closed_queue_sends_callers_away_when_its_last_agent_logs_out(db: DBConnector) -> None:
    ids = seed(db, join_empty=False, overflow_kind="voicemail")
    acd, _clock, _ = start(db)
    early = acd.join(ids["support"], "13800000001", "u1")
    assert offer_of(early) == Overflow(None, "empty", "voicemail", "")
    acd.login(ids["1001"])
    acd.pause(ids["1001"], "lunch")  # paused still counts as staffed: callers may wait
    waiting = acd.join(ids["support"], "13800000002", "u2")
    assert offer_of(waiting) is None
    acd.logout(ids["1001"])
    assert offer_of(waiting) == Overflow(None, "empty", "voicemail", "")


def test_login_from_another_phone_moves_the_agent_there(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    acd.login(ids["1001"], "PJSIP/2001")
    assert acd.by_device["PJSIP/2001"].number == "1001"
    assert "PJSIP/1001" not in acd.by_device
    with pytest.raises(ACDError, match="in use by agent 1001"):
        acd.login(ids["1002"], "PJSIP/2001")
    call = acd.join(ids["support"], "13800000001", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and [a.device for a in offer.agents] == ["PJSIP/2001"]


def test_expected_wait_uses_the_measured_talk_time(db: DBConnector) -> None:
    ids = seed(db, wrapup_s=0)
    acd, clock, _ = start(db)
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1")
    assert isinstance(offer_of(call), Offer)
    acd.answered(call, "PJSIP/1001")
    clock.advance(60)
    acd.call_ended(call)
    acd.logout(ids["1001"])
    acd.login(ids["1001"])
    acd.pause(ids["1001"], "break")
    waiting = [acd.join(ids["support"], f"1380000000{i}", f"w{i}") for i in range(3)]
    # 3rd in line, 60 s per call, one agent (paused: not working) -> max(1, 0) = 1.
    assert acd.expected_wait_s(waiting[2]) == 3 * 60.0


def test_the_hold_music_follows_the_queue_class_and_refuses_odd_names() -> None:
    from acd.caller import moh_class

    assert moh_class("default") == "default"
    assert moh_class("jazz") == "jazz"
    assert moh_class("Soft_Piano-2") == "Soft_Piano-2"
    assert moh_class("../../etc/passwd") == "default"
    assert moh_class('x" 1') == "default"
    assert moh_class("") == "default"
    assert moh_class("a" * 33) == "default"


def test_after_a_restart_agents_on_live_calls_are_reattached(db: DBConnector) -> None:
    from drivers.asterisk.callmodel import ChannelHungUp

    ids = seed(db)
    acd, _clock, _ = start(db)
    acd.login(ids["1001"])
    acd.login(ids["1002"])
    call = acd.join(ids["support"], "13800000001", "u1")
    [agent] = offer_of(call).agents  # type: ignore[union-attr]
    acd.answered(call, agent.device)
    resolved(acd.stopService())  # the process ends with the call up on the switch

    acd, _clock, _ = start(db, Clock())
    restored = acd.agents[agent.id]
    assert restored.state == st.AVAILABLE  # the database alone cannot know
    live = [("ch-1", f"{agent.device}-0000002a"), ("ch-2", "DAHDI/1-1")]
    assert acd.reattach(live) == 1
    assert (restored.state, restored.reason) == (st.ON_CALL, "reattached")
    assert acd.reattach(live) == 0  # a second resync changes nothing
    other = acd.join(ids["support"], "13800000002", "u2")
    offer = offer_of(other)
    assert isinstance(offer, Offer) and restored not in offer.agents
    acd.on_channel_hangup(ChannelHungUp("", "ch-1", "", 16, "", 0.0))
    assert restored.state == st.AVAILABLE


def test_transfers_redirect_the_caller_or_start_an_attended_transfer(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    switch = FakeSwitch()
    acd.switch = switch
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1", channel="DAHDI/1-1")
    offer = offer_of(call)
    assert isinstance(offer, Offer)
    agent = offer.agents[0]
    acd.answered(call, agent.device)
    acd.login(ids["1002"])

    said = resolved(defer.ensureDeferred(acd.transfer(agent.id, "agent", "1002", attended=True)))
    assert said == "calling agent 1002: hang up to complete the transfer"
    assert switch.transfers == [(f"{agent.device}-0000002a", "ccbox-agents", "1002")]
    with pytest.raises(ACDError, match="attended transfer goes to an agent or an extension"):
        resolved(defer.ensureDeferred(acd.transfer(agent.id, "queue", "backup", attended=True)))

    said = resolved(defer.ensureDeferred(acd.transfer(agent.id, "queue", "backup")))
    assert said == "transferred to queue backup"
    assert switch.redirected == [("DAHDI/1-1", "ccbox-transfer-queue", str(ids["backup"]))]
    assert call.transferred and acd.last_queue_of("u1") == ids["support"]


def test_at_midnight_the_day_counters_start_again_and_waiting_callers_stay(
    db: DBConnector,
) -> None:
    ids = seed(db)
    clock = Clock()
    t0 = 1_795_353_000.0
    clock.advance(t0 + seconds_to_midnight(t0) - 30)  # half a minute before local midnight
    bus = EventBus()
    published: list[object] = []
    bus.subscribe(object, published.append)
    acd = ACD(clock, db, bus, daily_reset=True)
    resolved(acd.startService())
    acd.login(ids["1001"])
    answered = acd.join(ids["support"], "13800138000", "u1")
    offer_of(answered)
    acd.answered(answered, "PJSIP/1001")
    waiting = acd.join(ids["support"], "13900139000", "u2")  # nobody free: it waits
    assert acd.stats[ids["support"]].answered == 1
    assert acd.rollover is not None and acd.rollover._call is not None
    del published[:]
    assert acd.rollover._call.getTime() - clock.seconds() == 30
    clock.advance(30)
    stats = acd.stats[ids["support"]]
    assert (stats.offered, stats.answered, stats.abandoned) == (0, 0, 0)
    assert stats.waiting == 1 and waiting.id in acd.calls
    assert acd.agents[ids["1001"]].state == st.ON_CALL  # states are not a day's counters
    snaps = [e.stats for e in published if isinstance(e, QueueStatsChanged)]
    [snap] = [x for x in snaps if x["queue_id"] == ids["support"]]
    assert snap["answered"] == 0 and snap["waiting"] == 1
    assert acd.rollover._call is not None  # the next midnight is scheduled
    resolved(acd.stopService())
    assert acd.rollover._call is None


def test_an_agent_who_answered_while_ami_was_down_is_on_the_call_after_the_resync(
    db: DBConnector,
) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1")
    [agent] = offer_of(call).agents  # type: ignore[union-attr]
    assert agent.state == st.RINGING
    # AMI was down when the phone answered: no DialEnd. The resync finds the phone up.
    assert acd.reattach([("u1", "DAHDI/1-1"), ("ch-1", f"{agent.device}-0000002a")]) == 1
    assert agent.state == st.ON_CALL and call.agent is agent and call.answered_at is not None
    assert acd.reattach([("ch-1", f"{agent.device}-0000002a")]) == 0  # once only
    assert agent.state == st.ON_CALL
