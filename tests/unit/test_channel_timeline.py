"""Chats and e-mail threads in the customer's timeline: found by the customer they were
linked to, each with its kind, title and what it opens (its ticket), paged with the rest,
and nobody else's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from appliance.cli import resolved
from appliance.crm import timeline
from appliance.crm.customer_store import CustomerStore
from appliance.crm.timeline import Cursor
from appliance.db import model
from appliance.db.connector import DBConnector
from tests.support.inline_db import inline_db

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "timeline.sqlite") as connector:
        yield connector


def insert(conn: Any, table: sa.Table, **values: Any) -> int:
    key = conn.execute(table.insert().values(**values)).inserted_primary_key
    return int(key[0])


def test_chats_and_email_threads_are_in_the_timeline(db: DBConnector) -> None:
    store = CustomerStore(db)
    li = resolved(store.create("admin", "Li Lei", ["13800138000"]))
    han = resolved(store.create("admin", "Han Meimei", ["13900139000"]))
    with db.engine.begin() as conn:
        queue = insert(conn, model.queues, name="web", display_name="Web chat", created_at=T0)
        agent = insert(conn, model.agents, number="1001", name="Agent One", created_at=T0)
        ticket = insert(
            conn,
            model.tickets,
            number="T-1",
            type_key="inquiry",
            subject="x",
            created_at=T0,
            updated_at=T0,
        )
        common = {"queue_id": queue, "state": "ended"}
        chat = insert(
            conn,
            model.conversations,
            media="chat",
            customer_id=li,
            agent_id=agent,
            name="<b>李雷</b>",
            subject="销售",
            created_at=T0 + dt.timedelta(minutes=1),
            **common,
        )
        thread = insert(
            conn,
            model.conversations,
            media="email",
            customer_id=li,
            email="li@example.cn",
            subject="发票",
            ticket_id=ticket,
            created_at=T0 + dt.timedelta(minutes=1),  # the same time: the kind breaks the tie
            **common,
        )
        insert(
            conn,
            model.conversations,
            media="chat",
            customer_id=han,
            name="Han",
            created_at=T0 + dt.timedelta(minutes=2),
            **common,
        )

    def page(before: Cursor | None = None, limit: int = 50) -> list[timeline.TimelineItem]:
        return resolved(defer.ensureDeferred(timeline.timeline(db, li, before=before, limit=limit)))

    items = page()
    assert [(i.kind, i.ref_kind, i.ref_id) for i in items] == [
        ("email_thread", "conversation", thread),
        ("chat", "conversation", chat),
    ]
    mail, talk = items
    assert mail.title == "E-mail from li@example.cn" and mail.ref_group == str(ticket)
    assert talk.title == "Chat with <b>李雷</b>" and talk.ref_group == ""
    assert talk.detail == "销售 · Web chat · 1001 Agent One"
    first = page(limit=1)
    assert first == [mail]
    assert page(before=Cursor.parse(first[0].cursor.token()), limit=1) == [talk]
    counts = resolved(db.run(lambda conn: timeline.counts(conn, li)))
    assert (counts["chat"], counts["email_thread"]) == (1, 1)
