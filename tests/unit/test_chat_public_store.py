"""The public chat endpoint's store on both databases: an attachment with its conversation,
the one transcript per conversation, and a chat's file kept by an erasure that removes another
row's copy of the same content."""

from __future__ import annotations

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.crm.tickets import erasure
from appliance.db import model
from appliance.db.chat_public_store import ChatPublicStore
from appliance.db.components import utcnow
from appliance.db.connector import DBConnector

SHA = "ab" * 32


def _conversation(db: DBConnector) -> int:
    def thd(conn: sa.Connection) -> int:
        row = conn.execute(
            model.conversations.insert().values(media="chat", state="waiting", created_at=utcnow())
        )
        return int(row.inserted_primary_key[0])  # type: ignore[index]

    return resolved(db.run(thd))


def _attachment(db: DBConnector, cid: int, name: str, sha: str) -> int:
    def thd(conn: sa.Connection) -> int:
        row = conn.execute(
            model.conversation_attachments.insert().values(
                conversation_id=cid,
                file_name=name,
                content_type="image/png",
                size_bytes=1234,
                sha256=sha,
                created_at=utcnow(),
            )
        )
        return int(row.inserted_primary_key[0])  # type: ignore[index]

    return resolved(db.run(thd))


def test_an_attachment_is_found_with_its_conversation(db: DBConnector) -> None:
    store = ChatPublicStore(db)
    cid = _conversation(db)
    aid = _attachment(db, cid, "照片.png", SHA)
    row = resolved(store.attachment(aid))
    assert row is not None
    assert (row.conversation_id, row.message_id, row.file_name) == (cid, None, "照片.png")
    assert (row.content_type, row.size_bytes, row.sha256) == ("image/png", 1234, SHA)
    assert resolved(store.attachment(aid + 1)) is None


def test_the_transcript_is_marked_once_per_conversation(db: DBConnector) -> None:
    store = ChatPublicStore(db)
    first, second = _conversation(db), _conversation(db)
    assert resolved(store.mark_transcript(first, "li@example.cn")) is True
    assert resolved(store.mark_transcript(first, "li@example.cn")) is False
    assert resolved(store.mark_transcript(second, "han@example.cn")) is True
    resolved(store.unmark_transcript(second))  # its mail did not go
    assert resolved(store.mark_transcript(second, "han@example.cn")) is True

    def events(conn: sa.Connection) -> list[tuple[int, str, str]]:
        e = model.conversation_events
        rows = conn.execute(sa.select(e.c.conversation_id, e.c.kind, e.c.detail).order_by(e.c.id))
        return [tuple(r) for r in rows]

    assert resolved(db.run(events)) == [
        (first, "transcript", "li@example.cn"),
        (second, "transcript", "han@example.cn"),
    ]


def test_an_erasure_keeps_a_file_a_chat_still_names(db: DBConnector) -> None:
    cid = _conversation(db)
    _attachment(db, cid, "a.png", SHA)
    other = "cd" * 32

    def left(conn: sa.Connection) -> list[str]:
        return erasure.unreferenced(conn, [SHA, other])

    assert resolved(db.run(left)) == [other]
