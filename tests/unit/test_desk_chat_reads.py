"""The desk's database reads beside the engine (webui/desk_chat/reads.py), on a migrated
SQLite database: canned replies by scope and language, KB suggestions from the customer's
last lines (Chinese and English), the transcript of a ticket, the ticket linked once, and
which agent had a conversation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.kb.store import KBStore
from tests.support.inline_db import inline_db
from webui.desk_chat import reads

NOW = dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "desk.sqlite") as connector:
        yield connector


def _insert(db: DBConnector, table: sa.Table, **values: Any) -> int:
    def thd(conn: sa.Connection) -> int:
        key = conn.execute(table.insert().values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    return int(resolved(db.run(thd)))


def _world(db: DBConnector) -> dict[str, int]:
    queue = resolved(db.queues.add("web"))
    other_queue = resolved(db.queues.add("mail"))
    ann = resolved(db.agents.add("1001", "Ann", "", "PJSIP/1001")).id
    bob = resolved(db.agents.add("1002", "Bob", "", "PJSIP/1002")).id
    topic = _insert(db, model.chat_topics, name="billing", label_zh="账单", label_en="Billing")
    other_topic = _insert(db, model.chat_topics, name="sales", label_zh="销售", label_en="Sales")
    conv = _insert(
        db,
        model.conversations,
        media="chat",
        state="active",
        queue_id=queue.id,
        topic_id=topic,
        agent_id=ann,
        name="王小明",
        subject="账单",
        language="zh_CN",
        created_at=NOW,
    )
    return {
        "queue": queue.id,
        "other_queue": other_queue.id,
        "ann": ann,
        "bob": bob,
        "topic": topic,
        "other_topic": other_topic,
        "conv": conv,
    }


def _say(db: DBConnector, conv: int, sender: str, body: str, **extra: Any) -> int:
    return _insert(
        db,
        model.conversation_messages,
        conversation_id=conv,
        sender=sender,
        body=body,
        created_at=NOW,
        **extra,
    )


def test_canned_replies_topic_then_queue_then_everyones_the_conversations_language_first(
    db: DBConnector,
) -> None:
    w = _world(db)
    c = model.canned_replies
    _insert(db, c, title="all en", body="Hello", language="en", position=0)
    _insert(db, c, title="all zh", body="您好", language="zh_CN", position=1)
    _insert(db, c, title="queue", body="q", queue_id=w["queue"], position=0)
    _insert(db, c, title="topic", body="t", topic_id=w["topic"], position=5)
    _insert(db, c, title="other topic", body="x", topic_id=w["other_topic"])
    _insert(db, c, title="other queue", body="x", queue_id=w["other_queue"])
    rows = resolved(db.read(lambda conn: reads.canned(conn, w["topic"], w["queue"], "zh_CN")))
    assert [(r.title, r.scope) for r in rows] == [
        ("topic", "topic"),
        ("queue", "queue"),
        ("all zh", "all"),
        ("all en", "all"),
    ]
    # no topic, no queue (an e-mail thread of a deleted queue): everyone's only, English first
    rows = resolved(db.read(lambda conn: reads.canned(conn, None, None, "en")))
    assert [r.title for r in rows] == ["all en", "all zh"]


def test_suggestion_words_skip_short_words_digits_and_single_cjk_characters() -> None:
    words = reads.suggestion_words(["My invoice is wrong, invoice 12345!", "我的账单有问题"])
    assert words[0] == "invoic"  # twice, stemmed
    assert "is" not in words and "my" not in words and "12345" not in words
    assert "账单" in words and "问题" in words
    assert all(len(w) >= 2 for w in words)
    assert len(reads.suggestion_words([f"word{i} " * 3 for i in range(50)])) == reads.SUGGEST_TOKENS


def test_suggestions_come_from_the_customers_last_lines_only_live_articles(
    db: DBConnector,
) -> None:
    w = _world(db)
    kb = KBStore(db)
    cat = resolved(kb.add_category("Billing"))
    live = []
    for title, text in (
        ("账单查询", "<p>如何查询您的账单和发票。</p>"),
        ("Refund policy", "<p>Refunds of a wrong invoice take 7 days.</p>"),
        ("密码重置", "<p>如何重置密码。</p>"),
    ):
        a = resolved(kb.create("sue", cat, title, text, "zh" if "<p>如" in text else "en"))
        resolved(kb.submit("sue", "supervisor", a))
        resolved(kb.approve("sue", "supervisor", a))
        live.append(a)
    draft = resolved(kb.create("sue", cat, "账单草稿", "<p>账单 发票</p>", "zh"))
    _say(db, w["conv"], "customer", "你好，我的账单不对，发票金额错了")  # noqa: RUF001
    _say(db, w["conv"], "agent", "密码重置")  # the agent's words are not the customer's
    found = resolved(db.read(lambda conn: reads.suggest(conn, w["conv"], 5)))
    ids = [i for i, _title, _lang in found]
    assert ids[0] == live[0]
    assert live[2] not in ids and draft not in ids
    _say(db, w["conv"], "customer", "I need a refund for a wrong invoice")
    found = resolved(db.read(lambda conn: reads.suggest(conn, w["conv"], 5)))
    assert {live[0], live[1]} <= {i for i, _t, _l in found}
    assert resolved(db.read(lambda conn: reads.suggest(conn, 999, 5))) == []


def test_transcript_marks_internal_lines_and_is_bounded(db: DBConnector) -> None:
    w = _world(db)
    _say(db, w["conv"], "customer", "我的账单有问题", author="王小明")
    _say(db, w["conv"], "agent", "请稍等", author="Ann")
    _say(db, w["conv"], "supervisor", "check the refund", author="sue", internal=True)
    facts = resolved(db.read(lambda conn: reads.conversation(conn, w["conv"])))
    assert facts is not None
    lines = resolved(db.read(lambda conn: reads.lines(conn, w["conv"])))
    text = reads.transcript(facts, lines, "内部")
    assert text.splitlines() == [
        "账单",
        "",
        "[2026-12-07 08:30:00] 王小明: 我的账单有问题",
        "[2026-12-07 08:30:00] Ann: 请稍等",
        "[2026-12-07 08:30:00] sue [内部]: check the refund",
    ]
    many = [reads.Line("customer", "x", "y" * 1000, False, NOW)] * 100
    assert len(reads.transcript(facts, many, "i")) <= reads.TRANSCRIPT_MAX


def test_a_conversation_links_one_ticket(db: DBConnector) -> None:
    w = _world(db)
    t = model.tickets

    def ticket(conn: sa.Connection) -> int:
        kind = reads.ticket_type(conn)
        key = conn.execute(
            t.insert().values(
                number=f"T{conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()}",
                type_key=kind,
                subject="s",
                state="new",
                priority="normal",
                source="chat",
                created_by="ann",
                created_at=NOW,
                updated_at=NOW,
                escalation_level=0,
                fields="{}",
            )
        ).inserted_primary_key
        assert key is not None
        return int(key[0])

    first, second = resolved(db.run(ticket)), resolved(db.run(ticket))
    assert resolved(db.run(lambda c: reads.link_ticket(c, w["conv"], first, w["ann"], "ann")))
    assert not resolved(db.run(lambda c: reads.link_ticket(c, w["conv"], second, w["ann"], "ann")))
    facts = resolved(db.read(lambda conn: reads.conversation(conn, w["conv"])))
    assert facts is not None and facts.ticket_id == first
    e = model.conversation_events.c
    kinds = resolved(
        db.read(
            lambda conn: conn.execute(
                sa.select(e.kind, e.detail).where(e.conversation_id == w["conv"])
            ).all()
        )
    )
    assert [tuple(k) for k in kinds] == [("ticket", f"ticket:{first}")]


def test_who_had_a_conversation(db: DBConnector) -> None:
    w = _world(db)
    assert resolved(db.read(lambda conn: reads.had_it(conn, w["conv"], w["ann"])))
    assert not resolved(db.read(lambda conn: reads.had_it(conn, w["conv"], w["bob"])))
    # Bob accepted it before it went to Ann
    _insert(
        db,
        model.conversation_events,
        conversation_id=w["conv"],
        at=NOW,
        kind="accepted",
        agent_id=w["bob"],
    )
    assert resolved(db.read(lambda conn: reads.had_it(conn, w["conv"], w["bob"])))
    # being offered one is not having it
    carl = resolved(db.agents.add("1003", "Carl", "", "PJSIP/1003")).id
    _insert(
        db,
        model.conversation_events,
        conversation_id=w["conv"],
        at=NOW,
        kind="offered",
        agent_id=carl,
    )
    assert not resolved(db.read(lambda conn: reads.had_it(conn, w["conv"], carl)))
