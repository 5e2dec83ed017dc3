"""Calls and chats on one agent: the capacity rules (every combination), and the call ACD
and the channels' engine keeping them together (an agent on a call gets no chat unless
chat_on_call; with chats open gets no call unless call_with_chats; never more chats than
max_chats)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from acd import agent_state as st
from acd.channels import capacity
from acd.live_config import for_acd
from acd.service import Offer
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from tests.support.channel_rig import Rig, seed
from tests.support.inline_db import inline_db


@pytest.mark.parametrize(
    ("state", "open_count", "max_chats", "chat_on_call"),
    list(itertools.product(st.STATES, range(4), range(4), (False, True))),
)
def test_may_take_a_conversation_in_every_combination(
    state: str, open_count: int, max_chats: int, chat_on_call: bool
) -> None:
    expected = (
        state in (st.AVAILABLE, st.RINGING, st.ON_CALL, st.WRAP_UP)
        and open_count < max_chats
        and (state == st.AVAILABLE or chat_on_call)
    )
    assert capacity.may_take_conversation(state, open_count, max_chats, chat_on_call) is expected


@pytest.mark.parametrize(
    ("open_count", "call_with_chats"), list(itertools.product(range(4), (False, True)))
)
def test_may_take_a_call_in_every_combination(open_count: int, call_with_chats: bool) -> None:
    assert capacity.may_take_call(open_count, call_with_chats) is (
        open_count == 0 or call_with_chats
    )


def test_on_call_states() -> None:
    assert {s for s in st.STATES if capacity.on_call(s)} == {st.RINGING, st.ON_CALL, st.WRAP_UP}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "capacity.sqlite") as connector:
        yield connector


def set_agent(db: DBConnector, agent_id: int, **values: Any) -> None:
    a = model.agents
    resolved(
        db.run(lambda conn: conn.execute(a.update().where(a.c.id == agent_id).values(**values)))
    )


def offer_of(call: Any) -> Any:
    box: list[Any] = []
    call.wait_offer().addCallback(box.append)
    if not box:
        call._waiter = None
        return None
    return box[0]


@pytest.mark.parametrize("chat_on_call", [False, True])
def test_an_agent_on_a_call_gets_a_chat_only_with_chat_on_call(
    db: DBConnector,
    chat_on_call: bool,
) -> None:
    ids = seed(db, wrapup_s=5)
    set_agent(db, ids["1001"], chat_on_call=chat_on_call)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    call = rig.acd.join(ids["support"], "13800138000", "u1")
    assert isinstance(offer_of(call), Offer)  # ringing
    assert rig.ch.load(ids["1001"]).on_call
    conv = rig.chat(ids)
    assert rig.state(conv.id) == ("offered" if chat_on_call else "waiting")
    rig.acd.answered(call, "PJSIP/1001")
    rig.acd.call_ended(call)  # wrap-up of the call: still "on a call" for chats
    assert rig.state(conv.id) == ("offered" if chat_on_call else "waiting")
    rig.acd.wrapup_done(ids["1001"])  # the call's wrap-up is over
    assert rig.state(conv.id) == "offered"


@pytest.mark.parametrize("call_with_chats", [False, True])
def test_an_agent_with_chats_gets_a_call_only_with_call_with_chats(
    db: DBConnector,
    call_with_chats: bool,
) -> None:
    ids = seed(db)
    set_agent(db, ids["1001"], call_with_chats=call_with_chats)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    assert rig.state(conv.id) == "offered"  # an offered chat holds a slot too
    call = rig.acd.join(ids["support"], "13800138000", "u1")
    offer = offer_of(call)
    if call_with_chats:
        assert isinstance(offer, Offer) and offer.agents[0].id == ids["1001"]
        return
    assert offer is None and rig.acd.agents[ids["1001"]].state == st.AVAILABLE
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    rig.run(rig.ch.end(ids["1001"], conv.id))
    assert offer_of(call) is None  # the chat's wrap-up holds the agent still
    rig.ch.wrapup_done(ids["1001"], conv.id)
    offer = offer_of(call)  # the last chat closed: the gate opens, the call rings at once
    assert isinstance(offer, Offer) and offer.agents[0].id == ids["1001"]


def test_load_never_exceeds_max_chats_and_a_reload_applies_a_new_limit(
    db: DBConnector,
) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    convs = [rig.chat(ids, f"v{i}") for i in range(4)]
    assert [rig.state(c.id) for c in convs] == ["offered", "offered", "waiting", "waiting"]
    load = rig.ch.load(ids["1001"])
    assert (load.open, load.capacity, load.may_take) == (2, 2, False)
    set_agent(db, ids["1001"], max_chats=3)
    resolved(for_acd(rig.acd).reload_agent(ids["1001"]))
    assert [rig.state(c.id) for c in convs] == ["offered"] * 3 + ["waiting"]
    assert rig.ch.load(ids["1001"]).open == 3
    set_agent(db, ids["1001"], max_chats=0)  # takes no chats from now on
    resolved(for_acd(rig.acd).reload_agent(ids["1001"]))
    assert rig.ch.load(ids["1001"]).may_take is False
    rig.run(rig.ch.decline(ids["1001"], convs[0].id))
    assert rig.state(convs[0].id) == "waiting"


def test_a_call_queue_never_takes_a_chat_and_a_chat_queue_never_a_call(
    db: DBConnector,
) -> None:
    ids = seed(db)
    rig = Rig(db)
    assert ids["web"] not in rig.acd.queues and ids["web"] in rig.acd.channel_queues
    assert set(rig.ch.router.queues) == {ids["web"], ids["mail"]}
    from acd.service import ACDError

    with pytest.raises(ACDError):
        rig.acd.join(ids["web"], "13800138000", "u1")

    def to_chat(conn: sa.Connection) -> None:
        q = model.queues
        conn.execute(q.update().where(q.c.id == ids["support"]).values(media="chat"))

    rig.acd.login(ids["1001"])
    rig.acd.pause(ids["1001"], "break")
    waiting = rig.acd.join(ids["support"], "13800138000", "u2")
    resolved(db.run(to_chat))
    resolved(for_acd(rig.acd).reload_queue(ids["support"]))
    assert ids["support"] in rig.ch.router.queues
    overflow = offer_of(waiting)
    assert overflow is not None and overflow.why == "empty"  # its caller left the queue
    rig.acd.abandoned(waiting)  # and hung up: nothing of the queue is left in the call ACD
    rig.clock.advance(0)
    assert ids["support"] not in rig.acd.queues


def test_the_console_says_when_open_chats_keep_calls_away(db: DBConnector) -> None:
    from acd import idle_reasons

    ids = seed(db)
    set_agent(db, ids["1001"], call_with_chats=False)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.acd.join(ids["support"], "13800138000", "u1")
    reasons = idle_reasons.idle_agents(rig.acd)[ids["1001"]]
    assert [(r.queue_id, r.waiting, r.why) for r in reasons] == [
        (ids["support"], 1, idle_reasons.CHATS)
    ]
    rig.run(rig.ch.decline(ids["1001"], conv.id))  # nobody else: offered again later
    assert rig.acd.call_gate_open(ids["1001"])


def test_stopping_the_channels_keeps_calls_away_from_an_agent_in_chats(
    db: DBConnector,
) -> None:
    """The daemon stops the channels' engine before the ACD: in between, a call waiting
    must not ring an agent whose open chats forbid calls (its chats are still open: they
    come back to it at the next start)."""
    ids = seed(db)
    set_agent(db, ids["1001"], call_with_chats=False)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    call = rig.acd.join(ids["support"], "13800138000", "u1")
    assert offer_of(call) is None
    resolved(rig.ch.stopService())
    assert offer_of(call) is None
    assert not rig.acd.call_gate_open(ids["1001"])
    resolved(rig.acd.stopService())


def test_a_call_queue_turned_to_chats_keeps_its_calls_in_progress_until_they_end(
    db: DBConnector,
) -> None:
    """The admin makes a call queue a chat queue while one of its calls is up and another
    rings: both end in their queue as they began (its call_ended and abandoned raised a
    KeyError: the agent stayed on_call), then the queue leaves the call ACD."""
    ids = seed(db, wrapup_s=5)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    rig.acd.login(ids["1002"])
    talking = rig.acd.join(ids["support"], "13800138000", "u1")
    offer = offer_of(talking)
    assert isinstance(offer, Offer)
    rig.acd.answered(talking, offer.agents[0].device)
    ringing = rig.acd.join(ids["support"], "13900139000", "u2")
    assert isinstance(offer_of(ringing), Offer)

    def to_chat(conn: sa.Connection) -> None:
        q = model.queues
        conn.execute(q.update().where(q.c.id == ids["support"]).values(media="chat"))

    resolved(db.run(to_chat))
    resolved(for_acd(rig.acd).reload_queue(ids["support"]))
    assert ids["support"] in rig.ch.router.queues  # chats from now on
    rig.acd.call_ended(talking)  # in its queue: the agent's wrap-up is the queue's
    assert offer.agents[0].state == st.WRAP_UP
    assert ids["support"] in rig.acd.queues  # a call still rings in it
    rig.acd.abandoned(ringing)  # its caller hangs up
    rig.clock.advance(0)
    assert ids["support"] not in rig.acd.queues and ids["support"] in rig.ch.router.queues
    from acd.service import ACDError

    with pytest.raises(ACDError):  # no new call joins it
        rig.acd.join(ids["support"], "13700137000", "u3")


def test_an_agent_talks_on_a_call_and_answers_two_chats_at_once(db: DBConnector) -> None:
    """The issue's "done when": with chat_on_call, an agent on a call takes two chats (its
    capacity here) and writes in both while the call goes on; a third waits; the call stays
    the agent's and ends as any call does."""
    ids = seed(db)
    set_agent(db, ids["1001"], chat_on_call=True)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    call = rig.acd.join(ids["support"], "13800138000", "u1")
    assert isinstance(offer_of(call), Offer)
    rig.acd.answered(call, "PJSIP/1001")
    assert rig.acd.agents[ids["1001"]].state == st.ON_CALL
    first, second, third = rig.chat(ids, "张三"), rig.chat(ids, "李四"), rig.chat(ids, "王五")
    for conv in (first, second):
        assert rig.state(conv.id) == "offered"
        rig.run(rig.ch.accept(ids["1001"], conv.id))
        said = rig.run(rig.ch.agent_says(ids["1001"], conv.id, "您好请稍等"))
        assert said.body == "您好请稍等"
    assert rig.state(third.id) == "waiting"  # two chats is 1001's limit
    load = rig.ch.load(ids["1001"])
    assert (load.open, load.capacity, load.on_call) == (2, 2, True)
    assert rig.acd.agents[ids["1001"]].state == st.ON_CALL  # the call goes on
    assert {c.id for c in rig.ch.conversations_of(ids["1001"])} == {first.id, second.id}
    rig.acd.call_ended(call)
    assert rig.acd.agents[ids["1001"]].state == st.WRAP_UP
    assert rig.ch.load(ids["1001"]).open == 2
