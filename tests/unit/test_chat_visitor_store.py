"""The web chat's visitor sessions outlive a restart (webui/chat/visitors.py with
appliance/db/chat_visitor_store.py): read back with what the database says of their
conversation, only as a hash of their token, the stale ones deleted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from appliance.cli import resolved
from appliance.db import model
from appliance.db.chat_visitor_store import ChatVisitorStore
from appliance.db.connector import DBConnector
from tests.support.inline_db import inline_db
from webui.chat.visitors import VisitorRegistry, token_hash

IDLE_S = 15 * 60.0


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "chat.sqlite") as connector:
        yield connector


def conversation(db: DBConnector, state: str, ended_ago_s: float | None = None) -> int:
    ended = None if ended_ago_s is None else now() - dt.timedelta(seconds=ended_ago_s)

    def thd(conn: sa.Connection) -> int:
        key = conn.execute(
            model.conversations.insert().values(
                media="chat", state=state, created_at=now(), ended_at=ended
            )
        ).inserted_primary_key
        assert key is not None
        return int(key[0])

    return resolved(db.run(thd))


def attachment(db: DBConnector, cid: int, sent: bool) -> int:
    def thd(conn: sa.Connection) -> int:
        message = None
        if sent:
            m = conn.execute(
                model.conversation_messages.insert().values(
                    conversation_id=cid, sender="customer", created_at=now()
                )
            ).inserted_primary_key
            assert m is not None
            message = int(m[0])
        key = conn.execute(
            model.conversation_attachments.insert().values(
                conversation_id=cid,
                message_id=message,
                file_name="a.png",
                content_type="image/png",
                size_bytes=3,
                sha256="0" * 64,
                created_at=now(),
            )
        ).inserted_primary_key
        assert key is not None
        return int(key[0])

    return resolved(db.run(thd))


def registry(db: DBConnector, idle: list[int] | None = None) -> VisitorRegistry:
    clock = MemoryReactorClock()
    clock.advance(now().timestamp())  # the reactor's clock is the wall's, as in the daemon
    seen = idle if idle is not None else []
    return VisitorRegistry(
        clock, IDLE_S, lambda s: seen.append(s.conversation_id), store=ChatVisitorStore(db)
    )


def visit(reg: VisitorRegistry, cid: int) -> str:
    s = reg.add(cid, address="10.0.0.1", origin="https://shop.example.cn", name="李雷",
                email="li@example.cn", language="zh")  # fmt: skip
    return s.token


def rows(db: DBConnector) -> list[Any]:
    return list(resolved(db.run(lambda c: c.execute(model.chat_visitors.select()).all())))


def test_a_session_is_read_back_by_its_token_which_is_stored_only_as_its_hash(
    db: DBConnector,
) -> None:
    first = registry(db)
    assert not first.restored  # nothing of the last run read yet: tokens wait
    assert resolved(defer.ensureDeferred(first.restore())) == 0
    cid = conversation(db, "active")
    token = visit(first, cid)
    [row] = rows(db)
    assert row.token_hash == token_hash(token) and token not in repr(row)

    idle: list[int] = []
    again = registry(db, idle)
    assert again.by_token(token) is None and not again.restored
    assert resolved(defer.ensureDeferred(again.restore())) == 1
    s = again.by_token(token)
    assert s is not None and again.by_token(token.encode()) is s
    assert (s.conversation_id, s.name, s.email, s.language) == (cid, "李雷", "li@example.cn", "zh")
    assert s.origin == "https://shop.example.cn" and s.token == "" and not s.ended
    assert again.by_token(token[:-1]) is None and again.by_token("é" * 43) is None
    # a visitor who does not come back has the idle time from the restart
    again.clock.advance(IDLE_S - 1)  # type: ignore[attr-defined]
    again.sweep()
    assert idle == []
    again.clock.advance(1)  # type: ignore[attr-defined]
    again.sweep()
    assert idle == [cid]


def test_an_ended_chat_keeps_its_session_an_hour_with_its_files(db: DBConnector) -> None:
    reg = registry(db)
    resolved(defer.ensureDeferred(reg.restore()))
    recent = conversation(db, "ended", ended_ago_s=600)
    old = conversation(db, "ended", ended_ago_s=4000)
    wrapped = conversation(db, "wrap_up", ended_ago_s=10)  # over for the customer
    tokens = {cid: visit(reg, cid) for cid in (recent, old, wrapped)}
    unsent = attachment(db, recent, sent=False)
    attachment(db, recent, sent=True)

    again = registry(db)
    assert resolved(defer.ensureDeferred(again.restore())) == 2
    assert again.by_token(tokens[old]) is None
    assert {r.conversation_id for r in rows(db)} == {recent, wrapped}  # the stale one deleted
    s = again.by_token(tokens[recent])
    assert s is not None and s.ended and s.files_stored == 2 and s.attachments == {unsent}
    assert s.ended_at == pytest.approx(again.clock.seconds() - 600, abs=5)
    w = again.by_token(tokens[wrapped])
    assert w is not None and w.ended
    # the sweep forgets it an hour after its end, on disk too
    again.clock.advance(3000 + 5)  # type: ignore[attr-defined]
    again.sweep()
    assert again.by_token(tokens[recent]) is None
    assert {r.conversation_id for r in rows(db)} == {wrapped}


def test_a_session_goes_with_its_conversation(db: DBConnector) -> None:
    reg = registry(db)
    resolved(defer.ensureDeferred(reg.restore()))
    cid = conversation(db, "active")
    visit(reg, cid)
    resolved(db.run(lambda c: c.execute(model.conversations.delete())))
    assert rows(db) == []
