"""What the web chat's public endpoint (webui/chat/) reads and writes itself: an attachment
with its conversation (a visitor downloads only their own), and the one transcript mail a
conversation may send. Conversations, messages and attachment rows are written by the
channels' engine (acd/channels/); this store never routes anything."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, utcnow

TRANSCRIPT_EVENT = "transcript"


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    conversation_id: int
    message_id: int | None
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: dt.datetime


class ChatPublicStore(_Component):
    def attachment(self, attachment_id: int) -> defer.Deferred[AttachmentRow | None]:
        t = model.conversation_attachments

        def thd(conn: Connection) -> AttachmentRow | None:
            r = conn.execute(sa.select(t).where(t.c.id == attachment_id)).first()
            if r is None:
                return None
            return AttachmentRow(
                id=r.id,
                conversation_id=r.conversation_id,
                message_id=r.message_id,
                file_name=r.file_name,
                content_type=r.content_type,
                size_bytes=r.size_bytes,
                sha256=r.sha256,
                created_at=r.created_at,
            )

        return self.db.read(thd)

    def ticket_number(self, ticket_id: int) -> defer.Deferred[str | None]:
        """The number people say and type (T20261206-0001) of a left message's ticket."""
        t = model.tickets

        def thd(conn: Connection) -> str | None:
            return conn.execute(sa.select(t.c.number).where(t.c.id == ticket_id)).scalar()

        return self.db.read(thd)

    def mark_transcript(self, conversation_id: int, address: str) -> defer.Deferred[bool]:
        """Record that the conversation's transcript is being mailed to ``address``; False
        when it already was (one per conversation)."""
        t = model.conversation_events

        def thd(conn: Connection) -> bool:
            done = conn.execute(
                sa.select(t.c.id).where(
                    t.c.conversation_id == conversation_id, t.c.kind == TRANSCRIPT_EVENT
                )
            ).first()
            if done is not None:
                return False
            conn.execute(
                t.insert().values(
                    conversation_id=conversation_id,
                    at=utcnow(),
                    kind=TRANSCRIPT_EVENT,
                    detail=address[:500],
                )
            )
            return True

        return self.db.run(thd)

    def unmark_transcript(self, conversation_id: int) -> defer.Deferred[None]:
        """Forget the mark (the mail could not be sent: the visitor may ask again)."""
        t = model.conversation_events

        def thd(conn: Connection) -> None:
            conn.execute(
                t.delete().where(
                    t.c.conversation_id == conversation_id, t.c.kind == TRANSCRIPT_EVENT
                )
            )

        return self.db.run(thd)
