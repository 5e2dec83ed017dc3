"""A customer's tickets and messages in an erasure (appliance/crm/erasure.py calls this in its
transaction): what was written to or about the customer goes, the work's record stays.

Blanked: the messages' addresses, subjects and bodies; the tickets' subjects (replaced by
"(erased)"), descriptions, field values and comments, and the notes in their history. Kept:
the tickets' numbers, types, states, dates, assignees and the history's who and when (the
supervisors' figures), and the attachment files, which are stored by content and may be
another ticket's too (their rows go, so no page offers them)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model

ERASED_SUBJECT = "(erased)"


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
