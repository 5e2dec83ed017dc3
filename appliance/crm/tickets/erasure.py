"""A customer's tickets and messages in an erasure (appliance/crm/erasure.py calls this in its
transaction): what was written to or about the customer goes, the work's record stays.

Blanked: the messages' addresses, subjects and bodies; the tickets' subjects (replaced by
"(erased)"), descriptions, field values and comments, and the notes in their history. Kept:
the tickets' numbers, types, states, dates, assignees and the history's who and when (the
supervisors' figures).

The attachment files are stored once by content (appliance/uploads.py), so one may be
another ticket's, a knowledge-base article's or a chat's too: their rows go in the
transaction, then ``remove_files`` removes each file no ``ticket_attachments``,
``kb_attachments`` or ``conversation_attachments`` row names any more, in the disk runner's
thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.logger import Logger

from appliance.db import model
from appliance.uploads import UploadStore

ERASED_SUBJECT = "(erased)"
log = Logger(namespace="ccbox.crm.erasure")


def attachment_hashes(conn: Connection, customer_id: int) -> list[str]:
    """The sha256 of every file attached to the customer's tickets."""
    a, t = model.ticket_attachments, model.tickets
    return sorted(
        set(
            conn.execute(
                sa.select(a.c.sha256)
                .select_from(a.join(t, a.c.ticket_id == t.c.id))
                .where(t.c.customer_id == customer_id)
            ).scalars()
        )
    )


def unreferenced(conn: Connection, hashes: Collection[str]) -> list[str]:
    """Those of ``hashes`` that no ticket, knowledge-base or conversation attachment row
    names."""
    left = sorted(set(hashes))
    for table in (
        model.ticket_attachments,
        model.kb_attachments,
        model.conversation_attachments,
    ):
        named: set[str] = set()
        for start in range(0, len(left), 500):
            chunk = left[start : start + 500]
            named.update(
                conn.execute(sa.select(table.c.sha256).where(table.c.sha256.in_(chunk))).scalars()
            )
        left = [h for h in left if h not in named]
    return left


def unlink_stored(root: Path, hashes: list[str]) -> tuple[int, int]:
    """Remove the stored files of ``hashes`` (blocking: the disk runner's thread);
    (removed, failed). A file already gone counts as neither."""
    store = UploadStore(root)
    removed = failed = 0
    for sha in hashes:
        path = store.path(sha)
        if path is None:
            continue
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed += 1
            log.warn("attachment {sha} not removed: {why}", sha=sha, why=exc)
    return removed, failed


async def remove_files(
    db: Any,
    root: Path,
    hashes: Collection[str],
    disk: Callable[..., Awaitable[Any]],
) -> tuple[int, int]:
    """After the rows are gone: remove the files of ``hashes`` that nothing names any more
    (the check in the database's pool, the unlinking through ``disk``); (removed, failed)."""
    if not hashes:
        return 0, 0
    orphans: list[str] = await db.run(lambda conn: unreferenced(conn, hashes))
    if not orphans:
        return 0, 0
    done: tuple[int, int] = await disk(unlink_stored, root, orphans)
    return done


def blank_customer(conn: Connection, customer_id: int) -> int:
    """Blank the customer's tickets and messages; how many tickets were."""
    m, t = model.crm_messages, model.tickets
    conn.execute(
        m.update().where(m.c.customer_id == customer_id).values(address="", subject="", body="")
    )
    ids = list(conn.execute(sa.select(t.c.id).where(t.c.customer_id == customer_id)).scalars())
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        conn.execute(
            t.update().where(t.c.id.in_(chunk)).values(subject=ERASED_SUBJECT, body="", fields="{}")
        )
        c, a, h = model.ticket_comments, model.ticket_attachments, model.ticket_history
        conn.execute(c.delete().where(c.c.ticket_id.in_(chunk)))
        conn.execute(a.delete().where(a.c.ticket_id.in_(chunk)))
        conn.execute(h.update().where(h.c.ticket_id.in_(chunk)).values(detail="{}"))
        attached = h.c.ticket_id.in_(chunk) & (h.c.action == "attachment")
        conn.execute(h.update().where(attached).values(to_value=""))  # the file's name
        conn.execute(
            m.update().where(m.c.ticket_id.in_(chunk)).values(address="", subject="", body="")
        )
    return len(ids)
