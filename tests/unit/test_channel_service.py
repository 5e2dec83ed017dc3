# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
"""The channels' engine with the call ACD, on a real database (SQLite, inline) and a Clock:
offers, accepts, timeouts and misses, ring-all, transfer, wrap-up, service level, leave a
message, e-mail threads, the listeners' sides, and a restart. Capacity with calls and chats
mixed is in test_channel_capacity.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from acd import agent_state as st
from acd.channels.conversation import Conversation, NewMessage
from acd.channels.errors import ChannelError
from acd.channels.events import ConversationStateChanged
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from tests.support.channel_rig import OFFER_S, Rig, event_kinds, seed, stored
from tests.support.inline_db import inline_db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "channels.sqlite") as connector:
        yield connector


def test_a_chat_goes_to_the_longest_idle_agent_who_accepts_and_talks(db: DBConnector) -> None:
    ids = seed(db, service_level_s=20)
    rig = Rig(db)
    for number in ("1002", "1001"):
        rig.acd.login(ids[number])
        rig.clock.advance(1)
    desk = rig.watch_agent(ids["1002"])
    conv = rig.chat(ids)
    visitor: list[dict[str, Any]] = []
    staff: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(conv.id, visitor.append, "customer")
    rig.ch.subscribe_conversation(conv.id, staff.append, "staff")
    assert conv.state == "offered" and conv.subject == "销售"  # as it is once routed
    assert rig.offered_to(conv.id) == (ids["1002"],)
    assert desk[0]["type"] == "offer" and desk[0]["timeout_s"] == OFFER_S
    assert desk[0]["queue"] == {"id": ids["web"], "name": "Web chat"}
    rig.clock.advance(5)
    rig.run(rig.ch.accept(ids["1002"], conv.id))
    assert rig.state(conv.id) == "active"
    assert visitor[-1]["type"] == "state" and visitor[-1]["agent"]["name"] == "Agent 1002"
    said = rig.run(rig.ch.customer_says(conv.id, "你好，我想买一台打印机"))
    reply = rig.run(rig.ch.agent_says(ids["1002"], conv.id, "您好！请问需要什么型号？"))
    note = rig.run(rig.ch.supervisor_says("boss", conv.id, "offer the discount", internal=True))
    assert said.id < reply.id < note.id
    assert [e["message"]["body"] for e in visitor if e["type"] == "message"] == [
        "你好，我想买一台打印机",
        "您好！请问需要什么型号？",
    ]  # the internal note is not the customer's
    assert [e["message"]["author"] for e in staff if e["type"] == "message"] == [
        "Li Lei",
        "Agent 1002",
        "boss",
    ]
    assert any(e["type"] == "message" and e["message"]["internal"] for e in desk)
    history = rig.run(rig.ch.history(conv.id))
    assert [(m.sender, m.body) for m in history][:2] == [
        ("customer", "你好，我想买一台打印机"),
        ("agent", "您好！请问需要什么型号？"),
    ]
    row = stored(db, conv.id)
    assert row.state == "active" and row.agent_id == ids["1002"] and row.answered_at is not None
    assert row.first_reply_at is not None
    stats = rig.ch.queue_stats()[ids["web"]]
    assert (stats.offered_today, stats.answered_today, stats.answered_in_sl_today) == (1, 1, 1)
    assert stats.service_level_pct == 100.0 and stats.active == 1 and stats.media == "chat"
    states = [e.new for e in rig.published if isinstance(e, ConversationStateChanged)]
    assert states == ["waiting", "offered", "active"]


def test_an_offer_not_accepted_goes_to_the_next_agent_and_counts_a_miss(db: DBConnector) -> None:
    ids = seed(db, auto_pause_misses=2)
    rig = Rig(db)
    for number in ("1001", "1002"):
        rig.acd.login(ids[number])
        rig.clock.advance(1)
    first = rig.watch_agent(ids["1001"])
    conv = rig.chat(ids)
    assert rig.offered_to(conv.id) == (ids["1001"],)
    rig.clock.advance(OFFER_S)
    assert rig.offered_to(conv.id) == (ids["1002"],)  # the next agent, not the one who let it go
    assert first[-1] == {"type": "offer_withdrawn", "conversation": conv.id}
    assert rig.ch.misses[ids["1001"]] == 1
    assert ("missed", ids["1001"]) in event_kinds(db, conv.id)
    rig.clock.advance(OFFER_S)  # 1002 lets it go too: 1001 again (1002 just missed it)
    assert rig.offered_to(conv.id) == (ids["1001"],)
    rig.clock.advance(OFFER_S)  # 1001's second miss in a row: paused as with calls
    assert rig.acd.agents[ids["1001"]].state == st.PAUSED
    assert rig.acd.agents[ids["1001"]].reason == "missed_calls"
    assert rig.offered_to(conv.id) == (ids["1002"],)
    rig.run(rig.ch.accept(ids["1002"], conv.id))
    assert rig.ch.misses[ids["1002"]] == 0
    with pytest.raises(ChannelError, match="no longer offered"):
        rig.run(rig.ch.accept(ids["1001"], conv.id))


def test_a_declined_offer_goes_to_another_agent(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    for number in ("1001", "1002"):
        rig.acd.login(ids[number])
        rig.clock.advance(1)
    conv = rig.chat(ids)
    rig.run(rig.ch.decline(ids["1001"], conv.id))
    assert rig.offered_to(conv.id) == (ids["1002"],)
    assert ids["1001"] not in rig.ch.misses  # a decline is no miss


def test_ring_all_offers_every_candidate_and_the_first_accept_wins(db: DBConnector) -> None:
    ids = seed(db, strategy="ring_all")
    rig = Rig(db)
    for number in ("1001", "1002", "1003"):
        rig.acd.login(ids[number])
    desks = {n: rig.watch_agent(ids[n]) for n in ("1001", "1002", "1003")}
    conv = rig.chat(ids)
    assert sorted(rig.offered_to(conv.id)) == sorted(ids[n] for n in ("1001", "1002", "1003"))
    assert all(rig.ch.load(ids[n]).open == 1 for n in ("1001", "1002", "1003"))
    rig.run(rig.ch.accept(ids["1003"], conv.id))
    assert desks["1001"][-1]["type"] == "offer_withdrawn"
    assert desks["1002"][-1]["type"] == "offer_withdrawn"
    assert [rig.ch.load(ids[n]).open for n in ("1001", "1002", "1003")] == [0, 0, 1]
    with pytest.raises(ChannelError):
        rig.run(rig.ch.accept(ids["1001"], conv.id))


def test_wrap_up_holds_the_slot_for_the_queues_wrapup(db: DBConnector) -> None:
    ids = seed(db, wrapup_s=10)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    convs = [rig.chat(ids, name=f"v{i}") for i in range(3)]
    for c in convs[:2]:
        rig.run(rig.ch.accept(ids["1001"], c.id))
    assert rig.state(convs[2].id) == "waiting"  # two chats is 1001's limit
    rig.run(rig.ch.end(ids["1001"], convs[0].id))
    assert rig.state(convs[0].id) == "wrap_up"
    assert rig.state(convs[2].id) == "waiting"  # the wrap-up still holds the slot
    assert stored(db, convs[0].id).end_reason == "agent_ended"
    rig.clock.advance(10)
    assert rig.state(convs[0].id) == "gone" and stored(db, convs[0].id).state == "ended"
    assert rig.state(convs[2].id) == "offered"
    rig.run(rig.ch.accept(ids["1001"], convs[2].id))
    rig.run(rig.ch.end(ids["1001"], convs[1].id))
    rig.ch.wrapup_done(ids["1001"], convs[1].id)  # done early: the slot is free at once
    assert rig.ch.load(ids["1001"]).open == 1


def test_abandons_and_the_service_level(db: DBConnector) -> None:
    ids = seed(db, service_level_s=20)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    rig.acd.pause(ids["1001"], "break")  # on duty, but nobody takes chats now
    late, gone = rig.chat(ids, "late"), rig.chat(ids, "gone")
    rig.clock.advance(5)
    rig.run(rig.ch.customer_left(gone.id))
    assert rig.state(gone.id) == "gone" and stored(db, gone.id).end_reason == "customer_left"
    rig.clock.advance(25)
    rig.acd.unpause(ids["1001"])
    rig.run(rig.ch.accept(ids["1001"], late.id))  # answered after 30 s: outside 20 s
    s = rig.ch.queue_stats()[ids["web"]]
    assert (s.offered_today, s.answered_today, s.answered_in_sl_today, s.abandoned_today) == (
        2,
        1,
        0,
        1,
    )
    assert s.service_level_pct == 0.0


def test_transfer_to_an_agent_who_declines_goes_back_to_the_queue(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    rig.acd.login(ids["1002"])
    target = rig.watch_agent(ids["1002"])
    rig.run(rig.ch.transfer(ids["1001"], conv.id, to_agent_id=ids["1002"], note="wants billing"))
    assert rig.offered_to(conv.id) == (ids["1002"],)
    assert rig.ch.load(ids["1001"]).open == 0
    assert [e["type"] for e in target][:2] == ["transferred", "offer"]
    assert target[0]["note"] == "wants billing"
    rig.run(rig.ch.decline(ids["1002"], conv.id))
    assert rig.offered_to(conv.id) == (ids["1001"],)  # back in line: the next agent is 1001
    kinds = [k for k, _a in event_kinds(db, conv.id)]
    assert kinds.count("transferred") == 1 and "declined" in kinds
    history = rig.run(rig.ch.history(conv.id))
    assert history[-1].sender == "system" and "Agent 1002" in history[-1].body


def test_a_transfer_note_is_kept_as_an_internal_line(db: DBConnector) -> None:
    """The desk that takes a transferred chat reads the note from the history (it was only
    in the event row and the live event: lost when that desk reloaded); the customer never
    gets it."""
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    rig.acd.login(ids["1002"])
    visitor: list[dict[str, Any]] = []
    staff: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(conv.id, visitor.append, "customer")
    rig.ch.subscribe_conversation(conv.id, staff.append, "staff")
    rig.run(rig.ch.transfer(ids["1001"], conv.id, to_agent_id=ids["1002"], note="要发票"))
    rig.run(rig.ch.accept(ids["1002"], conv.id))
    history = rig.run(rig.ch.history(conv.id))
    notes = [m for m in history if m.internal]
    assert [(m.sender, m.body) for m in notes] == [("system", "Agent 1001 → Agent 1002: 要发票")]
    assert not any("要发票" in str(e) for e in visitor)
    assert any(e["type"] == "message" and e["message"]["internal"] for e in staff)
    # without a note, no internal line
    rig.run(rig.ch.transfer(ids["1002"], conv.id, to_queue_id=ids["web"]))
    assert [m for m in rig.run(rig.ch.history(conv.id)) if m.internal] == notes


def test_queue_stats_of_some_queues(db: DBConnector) -> None:
    """``queue_stats(only)``: the figures of those queues (the live feed's marked ones), the
    same as in the whole answer; an unknown id is left out."""
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    rig.chat(ids, "second")
    every = rig.ch.queue_stats()
    assert set(every) == {ids["web"], ids["mail"]}
    assert every[ids["web"]].active == 1
    some = rig.ch.queue_stats([ids["web"], 999_999, ids["web"]])
    assert some == {ids["web"]: every[ids["web"]]}


def test_transfer_to_a_queue_keeps_the_priority(db: DBConnector) -> None:
    ids = seed(db)
    resolved(db.acd.add_number("13900000001", "red", priority=5))
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    vip = rig.chat(ids, "vip", phone="13900000001")
    assert vip.priority == 5
    rig.run(rig.ch.accept(ids["1001"], vip.id))

    def to_chat(conn: sa.Connection) -> None:
        q = model.queues
        conn.execute(q.update().where(q.c.id == ids["mail"]).values(media="chat"))

    resolved(db.run(to_chat))
    from acd.live_config import for_acd

    resolved(for_acd(rig.acd).reload_queue(ids["mail"]))
    plain = rig.chat(ids, "plain")
    rig.run(rig.ch.accept(ids["1001"], plain.id))
    rig.run(rig.ch.transfer(ids["1001"], plain.id, to_queue_id=ids["mail"]))
    rig.run(rig.ch.transfer(ids["1001"], vip.id, to_queue_id=ids["mail"]))
    assert rig.ch.router.waiting(ids["mail"]) == [vip.id, plain.id]  # the VIP first
    assert stored(db, vip.id).queue_id == ids["mail"]
    rig.acd.pause(ids["1001"], "break")
    rig.acd.login(ids["1002"])  # a member of mail
    assert rig.offered_to(vip.id) == (ids["1002"],)


def test_nobody_on_duty_and_leaving_a_message(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    assert [(t.label, t.on_duty) for t in rig.ch.topics("en")] == [("Sales", False)]
    with pytest.raises(ChannelError, match="nobody on duty"):
        rig.chat(ids)
    ticket_id = rig.run(
        rig.ch.leave_message(
            topic_id=ids["topic"],
            name="<script>x</script>",
            phone="13800138000",
            email="",
            language="zh",
            origin="https://shop.example",
            text="请回电：明天上午",
        )
    )
    t = model.tickets
    row = resolved(db.run(lambda conn: conn.execute(t.select().where(t.c.id == ticket_id)).one()))
    assert row.source == "chat" and row.body == "请回电：明天上午"
    c = model.conversations
    conv = resolved(
        db.run(lambda conn: conn.execute(c.select().where(c.c.ticket_id == ticket_id)).one())
    )
    assert conv.state == "message" and conv.name == "<script>x</script>"
    rig.acd.login(ids["1003"])
    assert [(t.label, t.on_duty) for t in rig.ch.topics("zh-CN")] == [("销售", True)]


def test_an_email_thread_is_offered_and_replied_through_the_sender(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    sent: list[tuple[int, str, str]] = []

    class Sender:
        def send_reply(self, conversation: Conversation, message: Any, agent_name: str) -> Any:
            sent.append((conversation.id, message.body, agent_name))
            return defer.succeed(None)

    rig.ch.set_email_sender(Sender())
    rig.acd.login(ids["1002"])
    conv = rig.run(
        rig.ch.start_email_thread(
            queue_id=ids["mail"],
            account_id=None,  # type: ignore[arg-type]
            name="王芳",
            email="wang@example.cn",
            subject="发票",
            language="zh",
            thread_key="<a1@example.cn>",
            due_at=None,
        )
    )
    first = rig.run(
        rig.ch.email_received(conv.id, NewMessage("请开发票", message_id="<a1@example.cn>"))
    )
    assert first.message_id == "<a1@example.cn>"
    assert rig.offered_to(conv.id) == (ids["1002"],)
    rig.run(rig.ch.accept(ids["1002"], conv.id))
    rig.run(rig.ch.agent_says(ids["1002"], conv.id, "已开具"))
    assert sent == [(conv.id, "已开具", "Agent 1002")]
    rig.run(rig.ch.end(ids["1002"], conv.id))
    rig.ch.wrapup_done(ids["1002"], conv.id)
    assert rig.state(conv.id) == "gone"
    # A reply to an ended thread opens it again, back in its queue.
    rig.run(rig.ch.email_received(conv.id, NewMessage("谢谢", in_reply_to="<r1@box>")))
    assert rig.state(conv.id) == "offered"


def test_a_pause_withdraws_the_offer_and_a_logout_puts_chats_back_in_line(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    rig.clock.advance(1)
    rig.acd.login(ids["1002"])
    rig.clock.advance(1)
    a = rig.chat(ids, "a")  # 1001 idle longest; then 1002, who was not offered one since
    b = rig.chat(ids, "b")
    assert rig.offered_to(a.id) == (ids["1001"],) and rig.offered_to(b.id) == (ids["1002"],)
    rig.acd.pause(ids["1002"], "break")
    assert rig.offered_to(b.id) == (ids["1001"],)
    rig.run(rig.ch.accept(ids["1001"], a.id))
    rig.run(rig.ch.accept(ids["1001"], b.id))
    visitor: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(a.id, visitor.append, "customer")
    rig.acd.logout(ids["1001"])
    assert rig.state(a.id) == "waiting" and rig.state(b.id) == "waiting"
    assert rig.ch.router.waiting(ids["web"]) == [a.id, b.id]  # their order kept
    assert rig.ch.load(ids["1001"]).open == 0
    assert any(e["type"] == "message" and e["message"]["sender"] == "system" for e in visitor)
    rig.acd.unpause(ids["1002"])
    assert rig.offered_to(a.id) == (ids["1002"],)


def test_past_max_wait_the_customer_is_offered_to_leave_a_message(db: DBConnector) -> None:
    ids = seed(db, max_wait_s=60)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    rig.acd.pause(ids["1001"], "lunch")
    conv = rig.chat(ids)
    visitor: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(conv.id, visitor.append, "customer")
    rig.clock.advance(60)
    assert {"type": "overflow", "conversation": conv.id, "reason": "max_wait"} in visitor
    assert rig.state(conv.id) == "waiting"  # still in line: the customer chooses
    assert ("max_wait", None) in event_kinds(db, conv.id)


def test_relay_passes_only_cobrowse_events_to_the_other_side(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    visitor: list[dict[str, Any]] = []
    staff: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(conv.id, visitor.append, "customer")
    rig.ch.subscribe_conversation(conv.id, staff.append, "staff")
    rig.ch.relay(conv.id, "customer", {"type": "cobrowse.dom", "data": [1]})
    assert staff == [{"type": "cobrowse.dom", "data": [1]}] and visitor == []
    with pytest.raises(ChannelError):
        rig.ch.relay(conv.id, "customer", {"type": "message", "message": {"body": "forged"}})
    rig.ch.customer_typing(conv.id, True)
    assert staff[-1] == {
        "type": "typing",
        "conversation": conv.id,
        "side": "customer",
        "typing": True,
    }
    assert visitor == []


def test_a_listener_that_raises_does_not_stop_the_others(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("a closed stream")

    seen: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(conv.id, broken, "customer")
    sub = rig.ch.subscribe_conversation(conv.id, seen.append, "customer")
    rig.run(rig.ch.customer_says(conv.id, "hello"))
    assert seen[-1]["message"]["body"] == "hello"
    rig.ch.unsubscribe(sub)
    rig.run(rig.ch.customer_says(conv.id, "again"))
    assert seen[-1]["message"]["body"] == "hello"


def test_bad_messages_are_refused_with_a_clear_error(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    with pytest.raises(ChannelError, match="empty"):
        rig.run(rig.ch.customer_says(conv.id, "   "))
    with pytest.raises(ChannelError, match="characters at most"):
        rig.run(rig.ch.customer_says(conv.id, "x" * 2001))
    with pytest.raises(ChannelError, match="not yours"):
        rig.run(rig.ch.agent_says(ids["1002"], conv.id, "hi"))
    with pytest.raises(ChannelError, match="over or does not exist"):
        rig.run(rig.ch.customer_says(999, "hi"))


def test_attachments_go_with_the_message_that_names_them(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv, other = rig.chat(ids), rig.chat(ids, "other")
    mine = rig.run(
        rig.ch.add_attachment(
            conv.id, file_name="发票.pdf", content_type="application/pdf", size=10, sha256="ab" * 32
        )
    )
    theirs = rig.run(
        rig.ch.add_attachment(
            other.id, file_name="x.png", content_type="image/png", size=3, sha256="cd" * 32
        )
    )
    msg = rig.run(rig.ch.customer_says(conv.id, "", (mine.id, theirs.id)))
    assert [a.file_name for a in msg.attachments] == ["发票.pdf"]  # not another chat's file
    assert msg.to_event()["message"]["attachments"] == [
        {"id": mine.id, "file_name": "发票.pdf", "content_type": "application/pdf", "size": 10}
    ]
    assert rig.run(rig.ch.history(conv.id))[0].attachments[0].id == mine.id


def test_a_restart_restores_waiting_offered_and_active_chats(db: DBConnector) -> None:
    ids = seed(db, wrapup_s=30)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    talking = rig.chat(ids, "talking")
    rig.run(rig.ch.accept(ids["1001"], talking.id))
    offered = rig.chat(ids, "offered")
    assert rig.state(offered.id) == "offered"
    done = rig.chat(ids, "done")
    rig.run(rig.ch.accept(ids["1001"], offered.id))
    rig.run(rig.ch.end(ids["1001"], offered.id))  # in wrap-up at the stop
    waiting = [rig.chat(ids, f"w{i}") for i in range(2)]
    assert [rig.state(c.id) for c in (done, *waiting)] == ["waiting"] * 3
    resolved(rig.ch.stopService())
    resolved(rig.acd.stopService())

    again = Rig(db, clock=rig.clock)
    assert again.acd.agents[ids["1001"]].state == st.AVAILABLE  # the ACD restored the login
    assert again.state(talking.id) == "active"
    assert again.ch.conversations[talking.id].agent_id == ids["1001"]
    assert again.state(offered.id) == "gone" and stored(db, offered.id).state == "ended"
    assert again.ch.load(ids["1001"]).open == 2  # talking, and the first waiting one offered
    assert again.offered_to(done.id) == (ids["1001"],)
    assert again.ch.router.waiting(ids["web"]) == [w.id for w in waiting]


def test_an_active_chat_of_an_agent_not_logged_in_after_a_restart_waits(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    resolved(rig.ch.stopService())
    resolved(rig.acd.stopService())

    def logged_out(conn: sa.Connection) -> None:
        s = model.agent_states
        conn.execute(s.update().values(state="logged_out"))

    resolved(db.run(logged_out))
    again = Rig(db, clock=rig.clock)
    assert again.state(conv.id) == "waiting"
    again.acd.login(ids["1002"])
    assert again.offered_to(conv.id) == (ids["1002"],)


@pytest.mark.parametrize("text", ["{customer_name.__class__}", "{agent_name}"])
def test_names_are_kept_as_typed(db: DBConnector, text: str) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids, name=text)
    assert stored(db, conv.id).name == text


def test_a_chat_back_in_line_keeps_its_first_wait_for_the_service_level(db: DBConnector) -> None:
    ids = seed(db, service_level_s=40)
    rig = Rig(db)
    for number in ("1001", "1002"):
        rig.acd.login(ids[number])
        rig.clock.advance(1)
    conv = rig.chat(ids)
    rig.clock.advance(OFFER_S)  # 1001 let it go: 30 s waited so far
    rig.clock.advance(15)
    rig.run(rig.ch.accept(ids["1002"], conv.id))  # 45 s after it came: outside 40 s
    rig.run(rig.ch.transfer(ids["1002"], conv.id, to_agent_id=ids["1001"]))
    rig.run(rig.ch.accept(ids["1001"], conv.id))  # a transfer's answer is not counted again
    s = rig.ch.queue_stats()[ids["web"]]
    assert (s.offered_today, s.answered_today, s.answered_in_sl_today) == (1, 1, 0)


def test_a_read_mark_is_a_message_id(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    line = rig.run(rig.ch.agent_says(ids["1001"], conv.id, "hi"))
    staff: list[dict[str, Any]] = []
    rig.ch.subscribe_conversation(conv.id, staff.append, "staff")
    for junk in ("1; drop table", None, [1], -1, True, "9" * 40):
        with pytest.raises(ChannelError, match="read mark"):
            rig.run(rig.ch.customer_read(conv.id, junk))  # type: ignore[arg-type]
    rig.run(rig.ch.customer_read(conv.id, str(line.id)))  # type: ignore[arg-type]
    assert staff == [
        {"type": "read", "conversation": conv.id, "side": "customer", "up_to": line.id}
    ]
    assert rig.run(rig.ch.history(conv.id))[0].read_at is not None


def test_a_queue_that_stops_taking_chats_ends_its_line(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    rig.acd.pause(ids["1001"], "break")
    conv = rig.chat(ids)

    def to_calls(conn: sa.Connection) -> None:
        q = model.queues
        conn.execute(q.update().where(q.c.id == ids["web"]).values(media="call"))

    resolved(db.run(to_calls))
    from acd.live_config import for_acd

    resolved(for_acd(rig.acd).reload_queue(ids["web"]))
    assert ids["web"] in rig.acd.queues and ids["web"] not in rig.ch.router.queues
    assert rig.state(conv.id) == "gone" and stored(db, conv.id).end_reason == "queue_gone"
    assert rig.ch.topics("en") == []


def test_a_known_customer_is_linked_and_its_class_raises_the_priority(db: DBConnector) -> None:
    from appliance.crm.customer_store import CustomerStore

    ids = seed(db)
    customers = CustomerStore(db, priorities={"vip": 7, "key_account": 3})
    vip = resolved(customers.create("admin", "王总", ["+86 139-0013-9000"], customer_class="vip"))
    key = resolved(
        customers.create("admin", "Key", [], customer_class="key_account", email="Key@Example.cn")
    )
    rig = Rig(db, customers=customers)
    rig.acd.login(ids["1001"])
    rig.acd.pause(ids["1001"], "break")
    plain = rig.chat(ids, "plain", phone="13700137000")
    by_number = rig.chat(ids, "王总", phone="13900139000")
    by_mail = rig.run(
        rig.ch.start_chat(
            topic_id=ids["topic"],
            name="k",
            phone="",
            email="key@example.cn",
            language="en",
            origin="https://shop.example",
        )
    )
    assert (plain.customer_id, plain.priority) == (None, 0)
    assert (by_number.customer_id, by_number.priority) == (vip, 7)
    assert (by_mail.customer_id, by_mail.priority) == (key, 3)
    assert rig.ch.router.waiting(ids["web"]) == [by_number.id, by_mail.id, plain.id]


def test_the_engine_decides_alike_on_both_routing_engines(tmp_path: Path) -> None:
    from acd import _route_c, _route_py

    decisions = []
    for name, engine in (("c", _route_c), ("py", _route_py)):
        with inline_db(tmp_path / f"{name}.sqlite") as db:
            ids = seed(db, strategy="round_robin")
            rig = Rig(db, engine=engine)
            assert rig.ch.router.module is engine
            for number in ("1003", "1001", "1002"):
                rig.acd.login(ids[number])
            convs = [rig.chat(ids, f"v{i}") for i in range(5)]
            rig.clock.advance(OFFER_S)
            rig.run(rig.ch.accept(rig.offered_to(convs[0].id)[0], convs[0].id))
            decisions.append(
                [(c.id, rig.ch.conversations[c.id].offered_to) for c in convs[1:]]
                + [(convs[0].id, (rig.ch.conversations[convs[0].id].agent_id,))]
            )
    assert decisions[0] == decisions[1]


def test_an_offer_let_go_with_nobody_else_comes_back_to_the_same_agent(db: DBConnector) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.clock.advance(OFFER_S)  # let go: nobody else is logged in
    assert rig.offered_to(conv.id) == (ids["1001"],)
    rig.run(rig.ch.decline(ids["1001"], conv.id))
    assert rig.offered_to(conv.id) == (ids["1001"],)
    assert [k for k, _a in event_kinds(db, conv.id)].count("offered") == 3


def test_a_chat_passed_to_a_queue_goes_back_to_its_agent_only_after_a_while(
    db: DBConnector,
) -> None:
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    a, b = rig.chat(ids, "a"), rig.chat(ids, "b")
    rig.run(rig.ch.accept(ids["1001"], a.id))
    rig.run(rig.ch.accept(ids["1001"], b.id))
    rig.run(rig.ch.transfer(ids["1001"], a.id, to_queue_id=ids["web"], note="not mine"))
    assert rig.state(a.id) == "waiting"  # nobody else: not straight back to 1001
    rig.clock.advance(OFFER_S)
    assert rig.offered_to(a.id) == (ids["1001"],)


def test_every_timer_is_cancelled_at_the_stop(db: DBConnector) -> None:
    """Two chats passed to a queue one after the other, each with its grace time: the
    second's timer did not replace the first's (the stop cancelled the second only)."""
    ids = seed(db, wrapup_s=30, max_wait_s=600)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    a, b = rig.chat(ids, "a"), rig.chat(ids, "b")
    rig.run(rig.ch.accept(ids["1001"], a.id))
    rig.run(rig.ch.accept(ids["1001"], b.id))
    rig.run(rig.ch.transfer(ids["1001"], a.id, to_queue_id=ids["web"]))
    rig.clock.advance(OFFER_S / 2)
    rig.run(rig.ch.transfer(ids["1001"], b.id, to_queue_id=ids["web"]))
    assert rig.state(a.id) == rig.state(b.id) == "waiting"
    assert rig.clock.getDelayedCalls()
    resolved(rig.ch.stopService())
    resolved(rig.acd.stopService())
    assert rig.clock.getDelayedCalls() == []


def test_what_agents_and_supervisors_see(db: DBConnector) -> None:
    from acd.channels.events import AgentLoadChanged, ChannelQueueStatsChanged

    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    a, b, c = rig.chat(ids, "a"), rig.chat(ids, "b"), rig.chat(ids, "c")
    rig.run(rig.ch.accept(ids["1001"], a.id))
    assert [(x.id, x.state) for x in rig.ch.conversations_of(ids["1001"])] == [
        (a.id, "active"),
        (b.id, "offered"),
    ]
    assert [x.id for x in rig.ch.waiting()] == [b.id, c.id]
    assert [x.id for x in rig.ch.active()] == [a.id]
    rig.ch.conversations_of(ids["1001"])[0].state = "ended"  # a copy: the engine's is safe
    assert rig.state(a.id) == "active"
    watched: list[dict[str, Any]] = []
    rig.ch.watch(a.id, watched.append)
    rig.run(rig.ch.join("boss", a.id))
    rig.run(rig.ch.customer_says(a.id, "hello"))
    assert watched[-1]["message"]["body"] == "hello"
    kinds = [k for k, _a in event_kinds(db, a.id)]
    assert kinds[-2:] == ["watched", "joined"]
    loads = [e for e in rig.published if isinstance(e, AgentLoadChanged)]
    assert loads[-1] == AgentLoadChanged(ids["1001"], 2, 2)
    assert any(isinstance(e, ChannelQueueStatsChanged) for e in rig.published)
    load = rig.ch.load(ids["1001"])
    assert (load.open, load.capacity, load.on_call, load.may_take) == (2, 2, False, False)
    with pytest.raises(ChannelError):
        rig.ch.load(999)


def test_todays_figures_come_back_after_a_restart(db: DBConnector) -> None:
    ids = seed(db, service_level_s=20)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    quick = rig.chat(ids, "quick")
    rig.clock.advance(5)
    rig.run(rig.ch.accept(ids["1001"], quick.id))
    slow = rig.chat(ids, "slow")
    rig.clock.advance(25)
    rig.run(rig.ch.accept(ids["1001"], slow.id))
    gone = rig.chat(ids, "gone")  # 1001 is full: it waits
    rig.clock.advance(40)
    rig.run(rig.ch.customer_left(gone.id))
    rig.chat(ids, "waiting")
    before = rig.ch.queue_stats()[ids["web"]]
    resolved(rig.ch.stopService())
    resolved(rig.acd.stopService())
    again = Rig(db, clock=rig.clock)
    after = again.ch.queue_stats()[ids["web"]]
    figures = ("offered_today", "answered_today", "answered_in_sl_today", "abandoned_today")
    assert [getattr(after, f) for f in figures] == [getattr(before, f) for f in figures]
    assert [getattr(after, f) for f in figures] == [4, 2, 1, 1]
    assert after.service_level_pct == before.service_level_pct == 33.3


def test_a_full_line_refuses_a_new_chat(db: DBConnector) -> None:
    ids = seed(db, max_len=2)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    rig.acd.pause(ids["1001"], "break")
    rig.chat(ids, "a")
    rig.chat(ids, "b")
    with pytest.raises(ChannelError, match="leave a message"):
        rig.chat(ids, "c")


def _mail_thread(rig: Rig, ids: dict[str, int]) -> Conversation:
    return rig.run(
        rig.ch.start_email_thread(
            queue_id=ids["mail"],
            account_id=None,  # type: ignore[arg-type]
            name="x",
            email="x@example.cn",
            subject="s",
            language="en",
            thread_key="<t@x>",
            due_at=None,
        )
    )


def test_a_mail_during_the_threads_wrap_up_opens_it_again(db: DBConnector) -> None:
    ids = seed(db, wrapup_s=60)

    def to_mail_wrapup(conn: sa.Connection) -> None:
        q = model.queues
        conn.execute(q.update().where(q.c.id == ids["mail"]).values(wrapup_s=60))

    resolved(db.run(to_mail_wrapup))
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = _mail_thread(rig, ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    rig.run(rig.ch.end(ids["1001"], conv.id))
    assert rig.state(conv.id) == "wrap_up"
    rig.run(rig.ch.email_received(conv.id, NewMessage("one more thing")))
    assert rig.state(conv.id) == "offered"  # the slot the wrap-up held is free again
    assert rig.ch.load(ids["1001"]).open == 1


def test_an_engine_that_did_not_start_is_down_on_the_status_page(db: DBConnector) -> None:
    """Its error was logged and swallowed: the status page said the part was fine while
    every chat was refused as "starting"."""
    from twisted.internet.task import Clock

    from acd.channels.service import ChannelService
    from acd.service import ACD
    from appliance import health
    from appliance.config import ChatConfig
    from appliance.eventbus import EventBus

    ids = seed(db)
    clock, bus, registry = Clock(), EventBus(), health.HealthRegistry()
    acd = ACD(clock, db, bus)
    resolved(acd.startService())
    ch = ChannelService(
        reactor=clock, db=db, acd=acd, bus=bus, config=ChatConfig(), health=registry
    )

    def broken() -> defer.Deferred[Any]:
        return defer.fail(RuntimeError("database is locked"))

    ch.store.topics = broken  # type: ignore[method-assign]
    registry.report(ch.name, health.STARTING)
    resolved(ch.startService())  # the daemon goes on with its other parts
    part = registry.get(ch.name)
    assert part is not None and (part.state, part.detail) == (
        health.DOWN,
        "failed: database is locked",
    )
    assert registry.overall() == health.DOWN
    with pytest.raises(ChannelError):
        resolved(
            defer.ensureDeferred(
                ch.start_chat(
                    topic_id=ids["topic"],
                    name="Li Lei",
                    phone="",
                    email="",
                    language="zh-CN",
                    origin="https://shop.example",
                )
            )
        )
    resolved(ch.stopService())
    resolved(acd.stopService())


def test_an_offer_says_how_long_it_has_left(db: DBConnector) -> None:
    """A desk that reloads shows the offer's own countdown, not a new full one."""
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    assert rig.offered_to(conv.id) == (ids["1001"],)
    assert rig.ch.offer_left_s(conv.id) == OFFER_S
    rig.clock.advance(OFFER_S - 12)
    assert rig.ch.offer_left_s(conv.id) == 12
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    assert rig.ch.offer_left_s(conv.id) is None
    assert rig.ch.offer_left_s(999) is None


def test_a_thread_opened_again_waits_as_nobodys_and_only_once_ready(db: DBConnector) -> None:
    """A thread that was over and gets a mail waits in its queue with no agent: it kept its
    old agent's id, so its end while it waited went to that agent's desk; and a mail before
    the engine is ready is refused as a chat is (the thread is not in memory yet)."""
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    old_desk = rig.watch_agent(ids["1001"])
    conv = _mail_thread(rig, ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    rig.run(rig.ch.end(ids["1001"], conv.id))
    rig.ch.wrapup_done(ids["1001"], conv.id)
    assert rig.state(conv.id) == "gone"
    rig.acd.logout(ids["1001"])  # nobody serves the queue now: the thread will wait
    rig.run(rig.ch.email_received(conv.id, NewMessage("还有一个问题")))
    assert rig.state(conv.id) == "waiting"
    assert rig.ch.conversations[conv.id].agent_id is None
    assert stored(db, conv.id).agent_id is None
    seen = len(old_desk)
    rig.run(rig.ch.customer_left(conv.id, "spam"))
    assert old_desk[seen:] == []  # not the old agent's any more
    rig.ch.ready = False
    with pytest.raises(ChannelError, match="starting"):
        rig.run(rig.ch.email_received(conv.id, NewMessage("again")))
    assert rig.state(conv.id) == "gone"


@pytest.mark.parametrize("engine_name", ["_route_c", "_route_py"])
def test_a_chat_passed_to_a_queue_is_kept_from_its_agent_by_every_dispatch(
    tmp_path: Path, engine_name: str
) -> None:
    """The grace time of a transfer to a queue held for the transfer's own dispatch only:
    the next one (a new chat, an agent back) handed the chat straight back. Now the agent
    takes what else waits meanwhile, another agent the chat, and it only after a while;
    alike on both routing engines."""
    import importlib

    engine = importlib.import_module(f"acd.{engine_name}")
    with inline_db(tmp_path / "bar.sqlite") as db:
        ids = seed(db)
        rig = Rig(db, engine=engine)
        rig.acd.login(ids["1001"])
        a, b = rig.chat(ids, "a"), rig.chat(ids, "b")
        rig.run(rig.ch.accept(ids["1001"], a.id))
        rig.run(rig.ch.accept(ids["1001"], b.id))
        rig.run(rig.ch.transfer(ids["1001"], a.id, to_queue_id=ids["web"]))
        assert rig.state(a.id) == "waiting"
        rig.clock.advance(OFFER_S / 3)
        c = rig.chat(ids, "c")  # a dispatch: 1001 has a free slot
        assert rig.state(a.id) == "waiting"  # not handed back to 1001
        assert rig.offered_to(c.id) == (ids["1001"],)  # what else waits: behind a in line
        rig.run(rig.ch.decline(ids["1001"], c.id))  # one more dispatch
        assert rig.state(a.id) == "waiting"
        rig.acd.login(ids["1002"])  # another agent: a goes to it at once
        assert rig.offered_to(a.id) == (ids["1002"],)
        rig.run(rig.ch.decline(ids["1002"], a.id))
        rig.acd.pause(ids["1002"], "lunch")
        assert rig.state(a.id) == "waiting"  # 1001 still kept from it ...
        rig.clock.advance(OFFER_S)  # ... until the grace time is over
        assert rig.offered_to(a.id) == (ids["1001"],)
        assert rig.ch.router.barred == {}
        assert rig.ch.router.violations == 0


def test_the_history_is_read_without_a_transaction(db: DBConnector) -> None:
    """Two SELECTs: DBConnector.read (one round trip each on PostgreSQL), not run's
    BEGIN and COMMIT around them."""
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.customer_says(conv.id, "你好"))
    reads: list[object] = []
    real_read = db.read

    def read(thd: Any) -> Any:
        reads.append(thd)
        return real_read(thd)

    db.read = read  # type: ignore[method-assign]
    history = rig.run(rig.ch.history(conv.id))
    assert [m.body for m in history if m.sender == "customer"] == ["你好"]
    assert len(reads) == 1
