# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
"""A chat line goes to its listeners before its row is written (its id given on the
reactor), the row written behind it in order; a write that fails is retried and the line
kept meanwhile (the engine's health degraded), never lost; the e-mail store's own messages
take their ids from the same allocator (no collision with a line not written yet)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from acd.channels.line_writer import RETRY_S
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.email_store import EmailStore
from drivers.health import DEGRADED, OK, LastReports
from tests.support.channel_rig import Rig, seed
from tests.support.inline_db import inline_db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "channels.sqlite") as connector:
        yield connector


def rows(db: DBConnector, conversation_id: int) -> list[tuple[int, str, str]]:
    m = model.conversation_messages
    q = sa.select(m.c.id, m.c.sender, m.c.body).where(m.c.conversation_id == conversation_id)
    return [tuple(r) for r in resolved(db.run(lambda conn: conn.execute(q.order_by(m.c.id))))]


class HeldWrites:
    """The database's run() held until released (a slow disk): nothing is written."""

    def __init__(self, db: DBConnector) -> None:
        self.db = db
        self.real = db.run
        self.held: list[tuple[Callable[..., Any], defer.Deferred[Any]]] = []
        db.run = self.run  # type: ignore[method-assign]

    def run(self, thd: Callable[..., Any]) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.held.append((thd, d))
        return d

    def release(self, last_first: bool = False) -> None:
        self.db.run = self.real  # type: ignore[method-assign]
        while self.held:
            thd, d = self.held.pop(-1 if last_first else 0)
            self.real(thd).chainDeferred(d)


def active_chat(db: DBConnector, health: Any = None) -> tuple[Rig, dict[str, int], int]:
    ids = seed(db)
    rig = Rig(db, health=health)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    rig.run(rig.ch.accept(ids["1001"], conv.id))
    return rig, ids, conv.id


def test_a_line_reaches_its_listeners_before_its_row_is_written(db: DBConnector) -> None:
    rig, ids, cid = active_chat(db)
    visitor: list[dict[str, Any]] = []
    desk = rig.watch_agent(ids["1001"])
    rig.ch.subscribe_conversation(cid, visitor.append, "customer")
    held = HeldWrites(db)
    said = rig.ch.customer_says(cid, "你好，打印机坏了")
    reply = rig.ch.agent_says(ids["1001"], cid, "请问是哪一台？")
    first, second = resolved(defer.ensureDeferred(said)), resolved(defer.ensureDeferred(reply))
    assert held.held  # nothing written yet ...
    assert [e["message"]["body"] for e in desk if e["type"] == "message"] == [
        "你好，打印机坏了",
        "请问是哪一台？",
    ]  # ... and both lines are out, with their ids
    assert [e["message"]["id"] for e in visitor if e["type"] == "message"] == [first.id, second.id]
    assert first.id < second.id
    assert rig.ch.lines.unwritten.keys() == {first.id, second.id}
    held.release()
    assert rows(db, cid) == [
        (first.id, "customer", "你好，打印机坏了"),
        (second.id, "agent", "请问是哪一台？"),
    ]  # written behind, in order, under the ids sent
    assert rig.ch.lines.unwritten == {}
    history = rig.run(rig.ch.history(cid))
    assert [m.id for m in history] == [first.id, second.id]


def test_a_failed_write_is_retried_and_the_line_kept_until_written(db: DBConnector) -> None:
    health = LastReports()
    rig, ids, cid = active_chat(db, health)
    store = rig.ch.store
    real_add = store.add_message
    failures = [RuntimeError("disk full"), RuntimeError("disk full")]

    def add_message(*args: Any, **kw: Any) -> defer.Deferred[Any]:
        if failures:
            return defer.fail(failures.pop(0))
        return real_add(*args, **kw)

    store.add_message = add_message  # type: ignore[method-assign]
    line = rig.run(rig.ch.customer_says(cid, "还在吗？"))
    assert rows(db, cid) == []
    assert rig.ch.lines.unwritten == {line.id: line}
    report = health.get("channels")
    assert report is not None and report.state == DEGRADED
    history = rig.run(rig.ch.history(cid))  # the line kept is in the history meanwhile
    assert [(m.id, m.body) for m in history] == [(line.id, "还在吗？")]
    rig.clock.advance(RETRY_S[0])  # the second try fails too
    assert rows(db, cid) == [] and line.id in rig.ch.lines.unwritten
    rig.clock.advance(RETRY_S[1])  # the third is written
    assert rows(db, cid) == [(line.id, "customer", "还在吗？")]
    assert rig.ch.lines.unwritten == {}
    report = health.get("channels")
    assert report is not None and report.state == OK
    later = rig.run(rig.ch.agent_says(ids["1001"], cid, "在的"))  # the next line after it
    assert later.id > line.id and [r[0] for r in rows(db, cid)] == [line.id, later.id]


def test_a_line_not_written_at_stop_gets_a_last_try(db: DBConnector) -> None:
    rig, _, cid = active_chat(db)
    store = rig.ch.store
    real_add = store.add_message
    failures = [RuntimeError("database restarting")]

    def add_message(*args: Any, **kw: Any) -> defer.Deferred[Any]:
        if failures:
            return defer.fail(failures.pop(0))
        return real_add(*args, **kw)

    store.add_message = add_message  # type: ignore[method-assign]
    line = rig.run(rig.ch.customer_says(cid, "bye"))
    assert rows(db, cid) == []
    resolved(rig.ch.stopService())  # no wait for the retry's timer: tried at once
    assert rows(db, cid) == [(line.id, "customer", "bye")]


def test_the_email_stores_messages_take_ids_from_the_same_allocator(db: DBConnector) -> None:
    """The e-mail store's auto-reply written while a chat line's row waits: with the
    table's own next id it would take the line's, and the line could never be written."""
    rig, _, cid = active_chat(db)
    held = HeldWrites(db)
    line = resolved(defer.ensureDeferred(rig.ch.customer_says(cid, "first")))
    appended = EmailStore(db).append(cid, sender="system", author="", body="auto")
    held.release(last_first=True)  # the e-mail store's insert before the line's
    other = resolved(appended)
    assert other != line.id
    assert rows(db, cid) == sorted([(line.id, "customer", "first"), (other, "system", "auto")])
    assert rig.ch.lines.unwritten == {}


def test_holds_is_conversations_of_for_one_conversation(db: DBConnector) -> None:
    """The desk's check on every action: offered to the agent, or the agent's."""
    ids = seed(db)
    rig = Rig(db)
    rig.acd.login(ids["1001"])
    conv = rig.chat(ids)
    a, b = ids["1001"], ids["1002"]
    assert rig.ch.holds(a, conv.id) and not rig.ch.holds(b, conv.id)  # offered to 1001
    rig.run(rig.ch.accept(a, conv.id))
    assert rig.ch.holds(a, conv.id) and not rig.ch.holds(b, conv.id)
    assert not rig.ch.holds(a, conv.id + 1000)  # no such conversation
    rig.run(rig.ch.end(a, conv.id))
    for agent in (a, b):
        assert rig.ch.holds(agent, conv.id) == any(
            c.id == conv.id for c in rig.ch.conversations_of(agent)
        )
