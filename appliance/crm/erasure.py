"""Erasing one customer's personal data on request.

What goes: the record's name, e-mail, account, note and custom field values, its numbers,
the recordings and voicemail of those numbers and of its calls (``calls.customer_id``: a
withheld number, one since removed), files and rows, through the recorder's
``upkeep.delete_forms`` / ``delete_calls`` and the voicemail's own delete, the numbers
and caller names on its calls rows (masked: the last four digits stay, the times and
queues for the reports), the raw caller IDs logged with those calls, and the callback
requests of its numbers (masked; a waiting one cancelled), the agents' notes of its calls,
its numbers' campaign leads (name and list columns; the number masked, the status and
outcomes kept for the campaigns' figures), what its tickets and messages say
(appliance/crm/tickets/erasure.py), its web chats and e-mail threads (what it gave: name,
number, address, page; every line's text; the events' details; their attachments), and
then the files attached to its tickets and conversations that no other row names. What
stays: its numbers on the do-not-call lists (whoever asked not to be called stays uncalled),
and one audit row that says who erased which customer id, and how much, without any of the
data. Files go first, the record last: an
erasure cut short (a full disk, a restart) can simply be run again. The attachment files
are the exception: they can only go once no row names them, so after the record (one that
could not be removed is logged and counted in the audit row).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.crm.tickets import erasure as tickets_erasure
from appliance.crm.timeline import customer_forms
from appliance.db import model
from appliance.db.components import utcnow
from recorder import upkeep

if TYPE_CHECKING:
    from appliance.crm.customer_store import CustomerStore


@dataclass(frozen=True)
class ErasureFiles:
    """Where the files are and how to remove them: the recordings' root, the recorder's
    disk runner (``upkeep.DiskRunner``), the voicemail's delete (row and file:
    ``ivr.voicemail.Voicemail.delete``) and the uploads' root (tickets' attachments:
    appliance/uploads.py, ``<data_dir>/uploads``)."""

    recordings_root: Path
    disk: upkeep.DiskRunner
    delete_voicemail: Callable[[int], Awaitable[bool]]
    uploads_root: Path


@dataclass(frozen=True)
class Erased:
    recordings: int
    recordings_failed: int
    voicemails: int
    calls: int
    attachments: int = 0  # files removed (those no other ticket or article names)


def masked(number: str) -> str:
    return upkeep.masked(number) if number else number


async def erase(
    store: CustomerStore, actor: str, customer_id: int, files: ErasureFiles, ip: str = ""
) -> Erased:
    """Erase the live customer ``customer_id`` (raises ``CustomerNotFound`` otherwise)."""
    from appliance.crm.customer_store import CustomerNotFound

    db = store.db

    def gather(conn: Connection) -> tuple[list[str], list[int], list[int]] | None:
        c, v = model.customers, model.voicemails
        row = conn.execute(
            sa.select(c.c.merged_into, c.c.erased_at).where(c.c.id == customer_id)
        ).first()
        if row is None or row.merged_into is not None or row.erased_at is not None:
            return None
        # every number, however many merges gave it
        forms = customer_forms(conn, customer_id, store.country_code, store.trunk_prefix, None)
        calls = sorted(
            conn.execute(sa.select(model.calls.c.id).where(_their_calls(customer_id, forms)))
            .scalars()
            .all()
        )
        # the messages of its numbers, and of its calls whatever their number (withheld)
        theirs: sa.ColumnElement[bool] = sa.false()
        if forms:
            theirs = theirs | v.c.caller_number.in_(forms)
        for start in range(0, len(calls), 500):
            theirs = theirs | v.c.call_id.in_(calls[start : start + 500])
        voicemails = sorted(conn.execute(sa.select(v.c.id).where(theirs)).scalars().all())
        return forms, calls, voicemails

    found = await db.run(gather)
    if found is None:
        raise CustomerNotFound(customer_id)
    forms, calls_ids, voicemails = found
    # the recordings of its numbers (every form already), then of its calls whatever their
    # numbers (withheld, or since removed)
    deleted, failed = await upkeep.delete_forms(db, files.recordings_root, forms, files.disk)
    d, f = await upkeep.delete_calls(db, files.recordings_root, calls_ids, files.disk)
    deleted, failed = deleted + d, failed + f
    gone = 0
    for message_id in voicemails:
        gone += bool(await files.delete_voicemail(message_id))

    hashes: list[str] = []

    def blank(conn: Connection) -> int:
        # the attachments' files, read in the transaction that deletes their rows
        hashes[:] = tickets_erasure.attachment_hashes(conn, customer_id)
        hashes.extend(_conversation_hashes(conn, customer_id))
        return _blank(conn, customer_id, forms)

    calls = await db.run(blank)
    # The rows are gone: the files only this customer's tickets named go too.
    attachments, attachments_failed = await tickets_erasure.remove_files(
        db, files.uploads_root, hashes, files.disk
    )
    await db.audit.add(
        actor,
        "customer.erase",
        f"customer {customer_id}",
        {
            "recordings": deleted,
            "recordings_failed": failed,
            "voicemails": gone,
            "calls": calls,
            "attachments": attachments,
            "attachments_failed": attachments_failed,
        },
        ip=ip,
    )
    return Erased(deleted, failed, gone, calls, attachments)


def _blank_leads(conn: Connection, forms: list[str]) -> None:
    """Campaign leads of its numbers: name and list columns blanked, the number masked; the
    status, attempts and outcomes stay (the campaign's figures). A masked number is not
    dialable: a lead still due is finished ``failed`` by the dialer, never dialed. The
    do-not-call lists keep the number (whoever asked not to be called stays uncalled)."""
    leads = model.leads
    for r in conn.execute(
        sa.select(leads.c.id, leads.c.campaign_id, leads.c.number).where(leads.c.number.in_(forms))
    ).all():
        number = masked(r.number)
        taken = conn.execute(
            sa.select(leads.c.id).where(
                (leads.c.campaign_id == r.campaign_id)
                & (leads.c.number == number)
                & (leads.c.id != r.id)
            )
        ).first()
        if taken is not None:  # two of its numbers masked alike in one campaign (unique)
            number = f"erased-{r.id}"
        conn.execute(
            leads.update()
            .where(leads.c.id == r.id)
            .values(number=number, name="", fields_json="{}", updated_at=utcnow())
        )


def _their_calls(customer_id: int, forms: list[str] | set[str]) -> sa.ColumnElement[bool]:
    """The customer's calls: linked to it (``customer_id``), or of one of its numbers."""
    calls = model.calls
    theirs = calls.c.customer_id == customer_id
    if forms:
        theirs = theirs | calls.c.caller_number.in_(forms) | calls.c.called_number.in_(forms)
    return theirs


def _their_conversations(conn: Connection, customer_id: int) -> list[int]:
    cv = model.conversations
    return list(conn.execute(sa.select(cv.c.id).where(cv.c.customer_id == customer_id)).scalars())


def _conversation_hashes(conn: Connection, customer_id: int) -> list[str]:
    """The sha256 of every file sent in the customer's chats and e-mail threads."""
    a, ids = model.conversation_attachments, _their_conversations(conn, customer_id)
    out: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        out.update(
            conn.execute(sa.select(a.c.sha256).where(a.c.conversation_id.in_(chunk))).scalars()
        )
    return sorted(out)


def _blank_conversations(conn: Connection, customer_id: int) -> None:
    """The customer's chats and e-mail threads keep their times, queues, agents and states
    (the channels' figures); what was said and by whom goes."""
    cv, m = model.conversations, model.conversation_messages
    e, a = model.conversation_events, model.conversation_attachments
    ids = _their_conversations(conn, customer_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(
            cv.update()
            .where(cv.c.id.in_(chunk))
            .values(name="", phone="", email="", subject="", origin="")
        )
        conn.execute(m.update().where(m.c.conversation_id.in_(chunk)).values(body="", html=""))
        customer_lines = m.c.conversation_id.in_(chunk) & (m.c.sender == "customer")
        conn.execute(m.update().where(customer_lines).values(author=""))
        conn.execute(e.update().where(e.c.conversation_id.in_(chunk)).values(detail=""))
        conn.execute(a.delete().where(a.c.conversation_id.in_(chunk)))


def _blank(conn: Connection, customer_id: int, forms: list[str]) -> int:
    """The database part, in one transaction: the calls' numbers masked, the raw caller IDs
    dropped, callbacks masked, the record blanked and marked erased. Returns the calls."""
    calls, events, cb, notes = model.calls, model.call_events, model.callbacks, model.call_notes
    c, n = model.customers, model.customer_numbers
    rows = conn.execute(
        sa.select(calls.c.id, calls.c.caller_number, calls.c.called_number).where(
            _their_calls(customer_id, forms)
        )
    ).all()
    for r in rows:
        values: dict[str, str] = {"caller_number": masked(r.caller_number), "caller_name": ""}
        if r.called_number in forms:
            values["called_number"] = masked(r.called_number)
        conn.execute(calls.update().where(calls.c.id == r.id).values(**values))
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(
            events.update()
            .where(events.c.call_id.in_(chunk) & (events.c.kind == "caller_id"))
            .values(data="{}")
        )
        # what the agents wrote of its calls (the disposition, a code from a list, stays)
        conn.execute(notes.update().where(notes.c.call_id.in_(chunk)).values(notes=""))
    if forms:
        _blank_leads(conn, forms)
        for r in conn.execute(
            sa.select(cb.c.id, cb.c.number, cb.c.state).where(cb.c.number.in_(forms))
        ).all():
            values = {"number": masked(r.number), "name": ""}
            if r.state == "waiting":  # nobody is to dial a masked number
                values["state"] = "cancelled"
            conn.execute(cb.update().where(cb.c.id == r.id).values(**values))
    conn.execute(n.delete().where(n.c.customer_id == customer_id))
    tickets_erasure.blank_customer(conn, customer_id)
    _blank_conversations(conn, customer_id)
    now = utcnow()
    conn.execute(
        c.update()
        .where(c.c.id == customer_id)
        .values(
            name="",
            email="",
            account="",
            note="",
            fields="{}",
            customer_class="normal",
            erased_at=now,
            updated_at=now,
        )
    )
    return len(rows)
