"""The web chat's visitor sessions on disk (webui/chat/visitors.py keeps them in memory and
here), so a daemon restart does not cut every open chat off from its visitor: the widget's
token is kept only as its SHA-256, and a session is read back with what the database says
of its conversation (open or ended, the files the visitor stored, those not yet sent)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, utcnow
from appliance.db.conversation_store import OPEN_STATES


@dataclass(frozen=True)
class StoredVisitor:
    token_hash: str
    conversation_id: int
    address: str
    origin: str
    name: str
    email: str
    language: str
    ended_at: dt.datetime | None  # None: the conversation is still open for the visitor
    files_stored: int
    unsent: tuple[int, ...]  # attachments stored and not yet sent with a line


class ChatVisitorStore(_Component):
    def add(
        self,
        token_hash: str,
        conversation_id: int,
        *,
        address: str,
        origin: str,
        name: str,
        email: str,
        language: str,
    ) -> defer.Deferred[None]:
        t = model.chat_visitors

        def thd(conn: Connection) -> None:
            conn.execute(
                t.insert().values(
                    token_hash=token_hash,
                    conversation_id=conversation_id,
                    address=address[:64],
                    origin=origin[:200],
                    name=name[:128],
                    email=email[:254],
                    language=language[:8],
                    created_at=utcnow(),
                )
            )

        return self.db.run(thd)

    def remove(self, token_hash: str) -> defer.Deferred[None]:
        t = model.chat_visitors

        def thd(conn: Connection) -> None:
            conn.execute(t.delete().where(t.c.token_hash == token_hash))

        return self.db.run(thd)

    def restorable(self, keep_ended: dt.timedelta) -> defer.Deferred[list[StoredVisitor]]:
        """The sessions a restart keeps: of a conversation still open for the visitor, or
        that ended within ``keep_ended`` (its files and transcript may still be asked for);
        the others are deleted."""
        v, c, a = model.chat_visitors, model.conversations, model.conversation_attachments

        def thd(conn: Connection) -> list[StoredVisitor]:
            since = utcnow() - keep_ended
            is_open = c.c.state.in_(OPEN_STATES)
            stale = sa.select(c.c.id).where(
                ~is_open, sa.or_(c.c.ended_at.is_(None), c.c.ended_at < since)
            )
            conn.execute(v.delete().where(v.c.conversation_id.in_(stale)))
            rows = conn.execute(
                sa.select(v, c.c.state, c.c.ended_at.label("conversation_ended_at"))
                .join(c, c.c.id == v.c.conversation_id)
                .order_by(v.c.created_at)
            ).all()
            files: dict[int, list[tuple[int, bool]]] = {}
            ids = {r.conversation_id for r in rows}
            if ids:
                for f in conn.execute(
                    sa.select(a.c.conversation_id, a.c.id, a.c.message_id).where(
                        a.c.conversation_id.in_(ids)
                    )
                ):
                    files.setdefault(f.conversation_id, []).append((f.id, f.message_id is None))
            out = []
            for r in rows:
                stored = files.get(r.conversation_id, [])
                ended = None
                if r.state not in OPEN_STATES:
                    ended = r.conversation_ended_at or utcnow()
                out.append(
                    StoredVisitor(
                        token_hash=r.token_hash,
                        conversation_id=r.conversation_id,
                        address=r.address,
                        origin=r.origin,
                        name=r.name,
                        email=r.email,
                        language=r.language,
                        ended_at=ended,
                        files_stored=len(stored),
                        unsent=tuple(i for i, unsent in stored if unsent),
                    )
                )
            return out

        return self.db.run(thd)
