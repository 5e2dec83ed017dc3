"""Admin changes reach the running ACD (acd/live_config.py): statuses, skills, memberships,
phones and queue settings, without disturbing the calls in progress."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acd import agent_state as st
from acd.live_config import LiveConfig
from acd.service import ACDError, Offer
from appliance.cli import resolved
from appliance.db.admin_store import AdminStore
from appliance.db.connector import DBConnector
from tests.support.inline_db import inline_db
from tests.unit.test_acd_service import offer_of, seed, start


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "live.sqlite") as connector:
        yield connector


def test_an_agent_put_on_leave_cannot_log_in_and_an_idle_one_is_logged_out(
    db: DBConnector,
) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    acd.login(ids["1001"])
    for number in ("1001", "1002"):
        resolved(store.update_agent(ids[number], "X", "", f"PJSIP/{number}", "on_leave", None))
        resolved(live.reload_agent(ids[number]))
    assert acd.agents[ids["1001"]].state == st.LOGGED_OUT
    with pytest.raises(ACDError, match="on leave"):
        acd.login(ids["1002"])
    assert acd.agents[ids["1002"]].name == "X"
    resolved(store.update_agent(ids["1002"], "X", "", "PJSIP/1002", "active", None))
    resolved(live.reload_agent(ids["1002"]))
    acd.login(ids["1002"])
    assert acd.agents[ids["1002"]].state == st.AVAILABLE


def test_an_agent_on_a_call_is_logged_out_and_moved_to_its_new_phone_after_the_call(
    db: DBConnector,
) -> None:
    ids = seed(db, wrapup_s=5)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    acd.login(ids["1003"])
    call = acd.join(ids["support"], "13800138000", "u1")
    assert isinstance(offer_of(call), Offer)
    acd.answered(call, "PJSIP/1003")
    resolved(store.update_agent(ids["1003"], "Agent 1003", "", "PJSIP/2003", "resigned", None))
    resolved(live.reload_agent(ids["1003"]))
    agent = acd.agents[ids["1003"]]
    assert agent.state == st.ON_CALL and agent.device == "PJSIP/1003"  # the call goes on
    assert acd.by_device["PJSIP/1003"] is agent
    acd.call_ended(call)
    assert agent.state == st.LOGGED_OUT
    assert agent.device == "PJSIP/2003" and acd.by_device["PJSIP/2003"] is agent
    assert "PJSIP/1003" not in acd.by_device


def test_a_new_skill_routes_a_waiting_call_at_once(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    billing = resolved(db.skills.add("billing")).id
    qid = resolved(db.queues.add("billing", skills={billing: 4})).id
    resolved(live.reload_queue(qid))
    acd.login(ids["1001"])
    call = acd.join(qid, "13800138000", "u1")
    assert offer_of(call) is None  # nobody has billing
    resolved(store.set_agent_skill(ids["1001"], billing, 3))
    resolved(live.reload_agent(ids["1001"]))
    assert offer_of(call) is None  # 3 < 4
    resolved(store.set_agent_skill(ids["1001"], billing, 6))
    resolved(live.reload_agent(ids["1001"]))
    offer = offer_of(call)
    assert isinstance(offer, Offer) and [a.number for a in offer.agents] == ["1001"]
    assert acd.agents[ids["1001"]].skills[billing] == 6


def test_a_membership_added_and_removed_reaches_the_engine(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    acd.login(ids["1002"])
    resolved(store.set_member(ids["backup"], ids["1002"], 2))
    resolved(live.reload_agent(ids["1002"]))
    assert (ids["1002"], 2) in acd.queues[ids["backup"]].members
    assert acd.serves(acd.agents[ids["1002"]], acd.queues[ids["backup"]])
    call = acd.join(ids["backup"], "13800138000", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and offer.agents[0].number == "1002"
    acd.abandoned(call)
    resolved(store.set_member(ids["backup"], ids["1002"], None))
    resolved(live.reload_agent(ids["1002"]))
    assert acd.queues[ids["backup"]].members == ()
    call = acd.join(ids["backup"], "13800138001", "u2")
    assert offer_of(call) is None


def test_queue_settings_and_a_stricter_requirement_rebuild_the_engine_keeping_waiters(
    db: DBConnector,
) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    tech = resolved(db.skills.list_all())[0].id
    waiting = [acd.join(ids["support"], f"1380013800{n}", f"u{n}") for n in range(3)]
    resolved(
        store.update_queue(
            ids["support"],
            {"display_name": "Help", "wrapup_s": 42, "strategy": "fewest_calls"},
        )
    )
    resolved(store.set_queue_skill(ids["support"], tech, 8))  # only 1003 (tech 9) serves now
    resolved(live.reload_queue(ids["support"]))
    q = acd.queue("support")
    assert (q.display_name, q.wrapup_s, q.strategy, q.requirements) == (
        "Help",
        42,
        "fewest_calls",
        ((tech, 8),),
    )
    assert acd.router.waiting(ids["support"]) == [c.id for c in waiting]  # same order
    acd.login(ids["1001"])
    assert offer_of(waiting[0]) is None
    acd.login(ids["1003"])
    offer = offer_of(waiting[0])
    assert isinstance(offer, Offer) and offer.agents[0].number == "1003"


def test_a_renamed_queue_is_found_by_its_new_name_only(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live = LiveConfig(acd)
    from appliance.db import model

    resolved(
        db.run(
            lambda conn: conn.execute(
                model.queues.update().where(model.queues.c.id == ids["backup"]).values(name="b2")
            )
        )
    )
    resolved(live.reload_queue(ids["backup"]))
    assert acd.queue("b2").id == ids["backup"]
    with pytest.raises(ACDError):
        acd.queue("backup")
    assert acd.stats[ids["backup"]].name == "b2"


def test_a_new_agent_is_added_to_the_running_acd(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    new = resolved(db.agents.add("1009", "New", "", "PJSIP/1009")).id
    resolved(store.set_member(ids["backup"], new, 0))
    resolved(live.reload_agent(new))
    acd.login(new)
    call = acd.join(ids["backup"], "13800138000", "u1")
    offer = offer_of(call)
    assert isinstance(offer, Offer) and offer.agents[0].number == "1009"
    assert acd.by_device["PJSIP/1009"].id == new


def test_a_logged_in_agent_keeps_the_phone_it_is_at_until_it_logs_out(db: DBConnector) -> None:
    ids = seed(db)
    acd, _clock, _ = start(db)
    live, store = LiveConfig(acd), AdminStore(db)
    acd.login(ids["1001"], "PJSIP/2222")  # logged in from another desk
    agent = acd.agents[ids["1001"]]
    resolved(store.update_agent(ids["1001"], "Renamed", "", "PJSIP/1001", "active", None))
    resolved(live.reload_agent(ids["1001"]))
    assert (agent.name, agent.device, acd.by_device["PJSIP/2222"]) == (
        "Renamed",
        "PJSIP/2222",
        agent,
    )
    resolved(store.update_agent(ids["1001"], "Renamed", "", "PJSIP/3001", "active", None))
    resolved(live.reload_agent(ids["1001"]))
    assert agent.device == "PJSIP/2222"
    acd.logout(ids["1001"])
    assert agent.device == "PJSIP/3001" and acd.by_device["PJSIP/3001"] is agent
    assert "PJSIP/2222" not in acd.by_device
