"""What was said to a customer outside calls (``crm_messages``): e-mails, SMS, callback
tasks, read for a ticket's page and a customer's timeline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model


@dataclass(frozen=True)
class CrmMessage:
    id: int
    customer_id: int | None
    ticket_id: int | None
    channel: str
    direction: str
    address: str
    subject: str
    body: str
    state: str
    error: str
    callback_id: int | None
    created_by: str
    at: dt.datetime


def message_of_row(r: Any) -> CrmMessage:
    return CrmMessage(
        r.id,
        r.customer_id,
        r.ticket_id,
        r.channel,
        r.direction,
        r.address,
        r.subject,
        r.body,
        r.state,
        r.error,
        r.callback_id,
        r.created_by,
        r.at,
    )


def messages_of(
    conn: Connection, *, ticket_id: int | None = None, customer_id: int | None = None
) -> list[CrmMessage]:
    """A ticket's or a customer's messages, newest first (the ticket page, the timeline)."""
    m = model.crm_messages
    q = m.select().order_by(m.c.at.desc(), m.c.id.desc()).limit(500)
    if ticket_id is not None:
        q = q.where(m.c.ticket_id == ticket_id)
    if customer_id is not None:
        q = q.where(m.c.customer_id == customer_id)
    if ticket_id is None and customer_id is None:
        q = q.where(sa.false())
    return [message_of_row(r) for r in conn.execute(q)]
