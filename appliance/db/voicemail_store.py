"""Mailboxes and the messages in them (the audio files live under <data_dir>/voicemail)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance import passwords
from appliance.db import model
from appliance.db.components import _Component, _insert, inbox_add, utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector  # noqa: F401


@dataclass(frozen=True)
class MailboxRow:
    id: int
    number: str
    name: str
    owner_kind: str
    owner: str
    email: str
    has_pin: bool
    greeting: str
    max_message_s: int


@dataclass(frozen=True)
class VoicemailRow:
    id: int
    mailbox: str
    call_id: int | None
    caller_number: str
    caller_name: str
    received_at: dt.datetime
    duration_ms: int
    path: str  # relative to the voicemail folder
    heard: bool
    kind: str
    forwarded_from: int | None


def _mailbox(r: Any) -> MailboxRow:
    return MailboxRow(
        r.id,
        r.number,
        r.name,
        r.owner_kind,
        r.owner,
        r.email,
        r.pin_hash is not None,
        r.greeting,
        r.max_message_s,
    )


def _message(r: Any) -> VoicemailRow:
    return VoicemailRow(
        r.id,
        r.mailbox,
        r.call_id,
        r.caller_number,
        r.caller_name,
        r.received_at,
        r.duration_ms,
        r.path,
        bool(r.heard),
        r.kind,
        r.forwarded_from,
    )


class VoicemailStore(_Component):
    def add_mailbox(
        self,
        number: str,
        name: str,
        owner_kind: str = "department",
        owner: str = "",
        email: str = "",
        max_message_s: int = 120,
        greeting: str = "",
    ) -> defer.Deferred[MailboxRow]:
        if owner_kind not in model.MAILBOX_OWNERS:
            return defer.fail(
                ValueError(
                    N_(
                        "a mailbox belongs to one of {MAILBOX_OWNERS}",
                        MAILBOX_OWNERS=model.MAILBOX_OWNERS,
                    )
                )
            )
        if not (number.isascii() and number.isdigit() and 2 <= len(number) <= 16):
            return defer.fail(ValueError(N_("a mailbox number is 2-16 digits")))
        if not 5 <= max_message_s <= 600:
            return defer.fail(ValueError(N_("a message may last 5 to 600 seconds")))
        m = model.mailboxes

        def thd(conn: Connection) -> MailboxRow:
            mid = _insert(
                conn,
                m,
                N_("mailbox {number}", number=number),
                number=number,
                name=name[:128],
                owner_kind=owner_kind,
                owner=owner[:64],
                email=email[:254],
                greeting=greeting,
                max_message_s=max_message_s,
                created_at=utcnow(),
            )
            return MailboxRow(
                mid, number, name[:128], owner_kind, owner, email, False, greeting, max_message_s
            )

        return self.db.run(thd)

    def set_pin(self, number: str, pin: str) -> defer.Deferred[None]:
        m = model.mailboxes

        def thd(conn: Connection) -> None:
            pin_hash = passwords.hash_pin(pin)  # slow by design: here, in the pool
            conn.execute(m.update().where(m.c.number == number).values(pin_hash=pin_hash))

        return self.db.run(thd)

    def check_pin(self, number: str, pin: str) -> defer.Deferred[bool]:
        m = model.mailboxes

        def thd(conn: Connection) -> bool:
            row = conn.execute(sa.select(m.c.pin_hash).where(m.c.number == number[:32])).first()
            return passwords.verify_password(row.pin_hash if row else None, pin[:16])

        return self.db.run(thd)

    def mailbox(self, number: str) -> defer.Deferred[MailboxRow | None]:
        m = model.mailboxes

        def thd(conn: Connection) -> MailboxRow | None:
            r = conn.execute(m.select().where(m.c.number == number[:32])).first()
            return _mailbox(r) if r else None

        return self.db.run(thd)

    def mailboxes(self) -> defer.Deferred[list[MailboxRow]]:
        m = model.mailboxes
        return self.db.run(
            lambda conn: [_mailbox(r) for r in conn.execute(m.select().order_by(m.c.number))]
        )

    # ---- messages ------------------------------------------------------------------------

    def add(
        self,
        mailbox: str,
        path: str,
        duration_ms: int,
        caller_number: str,
        caller_name: str,
        call_id: int | None = None,
        kind: str = "message",
        forwarded_from: int | None = None,
        received_at: dt.datetime | None = None,
    ) -> defer.Deferred[VoicemailRow]:
        v = model.voicemails

        def thd(conn: Connection) -> VoicemailRow:
            link = call_id
            if (
                link is not None
                and not conn.execute(
                    sa.select(model.calls.c.id).where(model.calls.c.id == link)
                ).first()
            ):
                # The call's row still waits in the write backlog (a slow or failing
                # database): the message is kept, without the link a missing row refuses.
                link = None
            values = dict(
                mailbox=mailbox,
                call_id=link,
                caller_number=caller_number[:80],
                caller_name=caller_name[:256],
                received_at=received_at or utcnow(),
                duration_ms=duration_ms,
                path=path,
                heard=False,
                kind=kind,
                forwarded_from=forwarded_from,
            )
            vid = _insert(conn, v, N_("voicemail"), **values)
            inbox_add(conn, "voicemail", vid)
            return VoicemailRow(vid, **values)  # type: ignore[arg-type]

        return self.db.run(thd)

    def messages(
        self, mailbox: str | None = None, limit: int = 200
    ) -> defer.Deferred[list[VoicemailRow]]:
        v = model.voicemails

        def thd(conn: Connection) -> list[VoicemailRow]:
            q = v.select().order_by(v.c.received_at.desc(), v.c.id.desc()).limit(limit)
            if mailbox is not None:
                q = q.where(v.c.mailbox == mailbox)
            return [_message(r) for r in conn.execute(q)]

        return self.db.run(thd)

    def message(self, message_id: int) -> defer.Deferred[VoicemailRow | None]:
        v = model.voicemails

        def thd(conn: Connection) -> VoicemailRow | None:
            r = conn.execute(v.select().where(v.c.id == message_id)).first()
            return _message(r) if r else None

        return self.db.run(thd)

    def mark(self, message_id: int, heard: bool) -> defer.Deferred[bool]:
        v = model.voicemails
        return self.db.run(
            lambda conn: (
                conn.execute(v.update().where(v.c.id == message_id).values(heard=heard)).rowcount
                > 0
            )
        )

    def delete(self, message_id: int) -> defer.Deferred[tuple[bool, str | None]]:
        """Remove the row: (found, the path of a file no other row uses: the caller removes
        it; None while a forwarded copy still uses it)."""
        v = model.voicemails

        def thd(conn: Connection) -> tuple[bool, str | None]:
            r = conn.execute(sa.select(v.c.path).where(v.c.id == message_id)).first()
            if r is None:
                return False, None
            conn.execute(v.delete().where(v.c.id == message_id))
            shared = conn.execute(
                sa.select(sa.func.count()).select_from(v).where(v.c.path == r.path)
            ).scalar_one()
            return True, (None if shared else str(r.path))

        return self.db.run(thd)

    def count(
        self, mailbox: str | None = None, unheard: bool = False, since: dt.datetime | None = None
    ) -> defer.Deferred[int]:
        v = model.voicemails

        def thd(conn: Connection) -> int:
            q = sa.select(sa.func.count()).select_from(v)
            if mailbox is not None:
                q = q.where(v.c.mailbox == mailbox)
            if since is not None:
                q = q.where(v.c.received_at >= since)
            if unheard:
                q = q.where(v.c.heard.is_(False))
            return int(conn.execute(q).scalar_one())

        return self.db.run(thd)
