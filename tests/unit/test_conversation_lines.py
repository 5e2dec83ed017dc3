"""Chat lines are stored by group commit (appliance/db/conversation_store.py): the lines that
come while a batch is being written go together in the next transaction, so a busy center's
lines do not each wait for a disk sync of their own; a line that fails fails alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer
from twisted.python.failure import Failure

from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.conversation_store import ConversationStore

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


class HeldDB:
    """The real connector, each ``run`` held until ``release`` (as a busy database thread
    holds the next transaction): what the store hands it, and when, is what is tested."""

    def __init__(self, db: DBConnector) -> None:
        self.db = db
        self.held: list[tuple[Callable[[Any], Any], defer.Deferred[Any]]] = []
        self.runs = 0

    def run(self, thd: Callable[[Any], Any]) -> defer.Deferred[Any]:
        self.runs += 1
        d: defer.Deferred[Any] = defer.Deferred()
        self.held.append((thd, d))
        return d

    def release(self) -> None:
        thd, d = self.held.pop(0)
        self.db.run(thd).chainDeferred(d)


def conversation(db: DBConnector) -> int:
    c = model.conversations

    def thd(conn: sa.Connection) -> int:
        pk = conn.execute(
            c.insert().values(media="chat", state="active", created_at=T0, name="王先生")
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    return int(resolved(db.run(thd)))


def test_lines_that_come_during_a_write_share_the_next_transaction(db: DBConnector) -> None:
    cid = conversation(db)
    held = HeldDB(db)
    store = ConversationStore(held)  # type: ignore[arg-type]
    results: list[Any] = []

    def say(conv: int, text: str) -> None:
        d = store.add_message(conv, sender="customer", author="王先生", body=text, created_at=T0)
        d.addBoth(results.append)

    say(cid, "第一行")  # written at once: the database is free
    assert held.runs == 1
    for text in ("二", "three", "四"):
        say(cid, text)
    say(cid + 999, "no such conversation")  # its foreign key fails: this line alone
    assert held.runs == 1 and results == []  # waiting for the first write
    held.release()
    assert [r.body for r in results] == ["第一行"]
    assert held.runs == 2  # the four that waited: one transaction
    held.release()
    assert held.runs == 2 and not held.held
    good, bad = results[1:4], results[4]
    assert [m.body for m in good] == ["二", "three", "四"]
    assert [m.id for m in results[:4]] == sorted(m.id for m in results[:4])
    assert isinstance(bad, Failure)
    assert "foreign" in str(bad.value).lower() or "constraint" in str(bad.value).lower()
    m = model.conversation_messages
    stored = resolved(
        db.run(
            lambda conn: [
                r.body
                for r in conn.execute(
                    sa.select(m.c.body).where(m.c.conversation_id == cid).order_by(m.c.id)
                )
            ]
        )
    )
    assert stored == ["第一行", "二", "three", "四"]
    # the database free again: the next line is written at once
    say(cid, "again")
    assert held.runs == 3
    held.release()
    assert results[-1].body == "again"


def test_a_batch_of_good_writes_takes_one_savepoint(db: DBConnector) -> None:
    """A savepoint (and its release) per write doubled a busy batch's statements; the
    batch goes in one, each write in its own only when one of them failed (above)."""
    cid = conversation(db)
    held = HeldDB(db)
    store = ConversationStore(held)  # type: ignore[arg-type]
    results: list[Any] = []
    for text in ("一", "二", "三"):
        store.add_message(
            cid, sender="customer", author="王先生", body=text, created_at=T0
        ).addBoth(results.append)
    held.release()  # the first alone, the two that waited in the next batch
    savepoints: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.upper().startswith("SAVEPOINT"):
            savepoints.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        held.release()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)
    assert [m.body for m in results] == ["一", "二", "三"]
    assert len(savepoints) == 1


def test_every_line_is_inserted_by_one_statement_object(db: DBConnector) -> None:
    """The row goes as parameters of one INSERT, compiled once: built with .values(**row)
    each line was a new statement to key and look up (3-4 times the database thread's
    work per line, on the thread that takes the GIL from the reactor)."""
    cid = conversation(db)
    store = ConversationStore(db)
    inserts: list[Any] = []

    def seen(_conn: Any, clause: Any, *_: Any) -> None:
        if isinstance(clause, sa.Insert) and clause.table is model.conversation_messages:
            inserts.append(clause)

    sa.event.listen(db.engine, "before_execute", seen)
    try:
        for text in ("一", "二"):
            resolved(
                store.add_message(cid, sender="customer", author="王", body=text, created_at=T0)
            )
    finally:
        sa.event.remove(db.engine, "before_execute", seen)
    assert len(inserts) == 2 and inserts[0] is inserts[1]


def test_with_a_linger_a_write_on_an_idle_database_waits_for_company(db: DBConnector) -> None:
    """The daemon's store lingers (WRITE_LINGER_S): the first write on an idle database
    waits that long, and what comes meanwhile goes in the same transaction; at the stop
    what lingers is written at once, and every write after it too."""
    from twisted.internet.task import Clock

    cid = conversation(db)
    held = HeldDB(db)
    clock = Clock()
    store = ConversationStore(held, clock, linger_s=0.05)  # type: ignore[arg-type]
    results: list[Any] = []
    for text in ("一", "二", "三"):
        store.add_message(
            cid, sender="customer", author="王先生", body=text, created_at=T0
        ).addBoth(results.append)
    assert held.runs == 0  # lingering
    clock.advance(0.05)
    assert held.runs == 1  # the three in one transaction
    held.release()
    assert [m.body for m in results] == ["一", "二", "三"]
    store.add_message(cid, sender="agent", author="A", body="四", created_at=T0)
    assert held.runs == 1
    store.flush_now()  # the engine's stop
    assert held.runs == 2
    held.release()
    store.add_message(cid, sender="agent", author="A", body="五", created_at=T0)
    assert held.runs == 3 and not clock.getDelayedCalls()
