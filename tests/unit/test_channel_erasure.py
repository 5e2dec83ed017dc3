# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
"""Erasing a customer erases what its chats and e-mail threads say: the name, number,
address and page it gave, every line's text, the events' details and the files sent (a
file another row still names stays); times, queues, agents and states stay for the figures.
Another customer's conversation is untouched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from acd.channels.conversation import NewMessage
from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.erasure import ErasureFiles
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.uploads import UploadStore
from recorder import upkeep
from tests.support.channel_rig import Rig, seed
from tests.support.inline_db import inline_db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "erasure.sqlite") as connector:
        yield connector


def rows(db: DBConnector, table: sa.Table, **where: Any) -> list[Any]:
    q = table.select().where(*(table.c[k] == v for k, v in where.items())).order_by(table.c.id)
    return resolved(db.run(lambda conn: list(conn.execute(q).all())))


def test_erasing_a_customer_blanks_its_conversations(db: DBConnector, tmp_path: Path) -> None:
    ids = seed(db)
    customers = CustomerStore(db)
    li = resolved(customers.create("admin", "李雷", ["13800138000"], email="li@example.cn"))
    han = resolved(customers.create("admin", "Han", ["13900139000"]))
    files = UploadStore(tmp_path / "uploads")
    own = files.put("李雷的身份证\n".encode(), "id.txt")
    shared = files.put(b"price list\n", "prices.txt")
    rig = Rig(db, customers=customers)
    rig.acd.login(ids["1001"])
    chat = rig.chat(ids, "李雷", phone="13800138000")
    other = rig.chat(ids, "Han", phone="13900139000")
    assert (chat.customer_id, other.customer_id) == (li, han)
    rig.run(rig.ch.accept(ids["1001"], chat.id))
    for conv_id, f in ((chat.id, own), (chat.id, shared), (other.id, shared)):
        a = rig.run(
            rig.ch.add_attachment(
                conv_id, file_name=f.filename, content_type=f.mime, size=f.size, sha256=f.sha256
            )
        )
        rig.run(rig.ch.customer_says(conv_id, "我的身份证号是 110101199001011234", (a.id,)))
    rig.run(rig.ch.agent_says(ids["1001"], chat.id, "李先生您好"))
    rig.run(
        rig.ch.transfer(ids["1001"], chat.id, to_queue_id=ids["web"], note="李雷 wants a refund")
    )
    thread = rig.run(
        rig.ch.start_email_thread(
            queue_id=ids["mail"],
            account_id=None,  # type: ignore[arg-type]
            name="李雷",
            email="li@example.cn",
            subject="退款：订单 8812",
            language="zh",
            thread_key="<a@example.cn>",
            due_at=None,
        )
    )
    rig.run(rig.ch.email_received(thread.id, NewMessage("请退款", html="<p>请退款</p>")))
    assert thread.customer_id == li

    async def no_voicemail(message_id: int) -> bool:
        return False

    erased = resolved(
        defer.ensureDeferred(
            customers.erase(
                "admin",
                li,
                ErasureFiles(
                    tmp_path / "rec", upkeep.inline_disk, no_voicemail, tmp_path / "uploads"
                ),
            )
        )
    )
    assert erased.attachments == 1  # the file only this customer's chat named
    assert files.path(own.sha256) is None and files.path(shared.sha256) is not None
    for conv_id in (chat.id, thread.id):
        (c,) = rows(db, model.conversations, id=conv_id)
        assert (c.name, c.phone, c.email, c.subject, c.origin) == ("", "", "", "", "")
        assert c.queue_id is not None and c.created_at is not None  # the figures stay
        lines = rows(db, model.conversation_messages, conversation_id=conv_id)
        assert lines and all(m.body == "" and m.html == "" for m in lines)
        assert all(m.author == "" for m in lines if m.sender == "customer")
        assert all(
            e.detail == "" for e in rows(db, model.conversation_events, conversation_id=conv_id)
        )
        assert rows(db, model.conversation_attachments, conversation_id=conv_id) == []
    (o,) = rows(db, model.conversations, id=other.id)
    assert (o.name, o.phone) == ("Han", "13900139000")
    assert rows(db, model.conversation_messages, conversation_id=other.id)[0].body != ""
    assert len(rows(db, model.conversation_attachments, conversation_id=other.id)) == 1
