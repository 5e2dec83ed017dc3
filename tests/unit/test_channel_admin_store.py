"""The Channels admin store on each backend: origins in the exact form a browser sends,
topics, canned replies, accounts and routes only on queues of their medium, write-only
passwords, and a queue that keeps its medium while something of the old one uses it."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.admin_store import AdminError
from appliance.db.channel_admin_store import (
    ChannelAdminStore,
    QueueInUse,
    normalize_origin,
)
from appliance.db.components import DuplicateError, utcnow
from appliance.db.connector import DBConnector


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Example.COM", "https://www.example.com"),
        ("HTTPS://shop.example.com/", "https://shop.example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://example.com:8080", "http://example.com:8080"),
        ("https://localhost:3000", "https://localhost:3000"),
        ("http://10.0.0.5:8000", "http://10.0.0.5:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://例子.中国", "https://xn--fsqu00a.xn--fiqs8s"),
        ("  https://a.example.com  ", "https://a.example.com"),
    ],
)
def test_an_origin_is_stored_as_a_browser_sends_it(raw: str, expected: str) -> None:
    assert normalize_origin(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "example.com",
        "ftp://example.com",
        "javascript://example.com",
        "https://example.com/shop",
        "https://example.com?x=1",
        "https://example.com#top",
        "https://user@example.com",
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:80a",
        "https://exa mple.com",
        "https://exa_mple.com",
        "https://-bad.com",
        "https://example.com\r\nX: y",
        "https://[zz::1]",
        "https://" + "a" * 200 + ".com",
        "https://<script>.com",
    ],
)
def test_what_is_not_an_origin_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_origin(raw)


def _queue(db: DBConnector, name: str, media: str) -> int:
    q = resolved(db.queues.add(name, name.title()))
    resolved(ChannelAdminStore(db).set_queue_media(q.id, media))
    return int(q.id)


def test_origins_are_unique_in_their_normal_form(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    resolved(store.add_origin("https://Shop.Example.com:443/"))
    with pytest.raises(DuplicateError):
        resolved(store.add_origin("https://shop.example.com"))
    with pytest.raises(ValueError):
        resolved(store.add_origin("https://shop.example.com/path"))
    rows = resolved(store.origins())
    assert [r.origin for r in rows] == ["https://shop.example.com"]
    resolved(store.delete_origin(rows[0].id))
    assert resolved(store.origins()) == []
    with pytest.raises(AdminError, match="no origin"):
        resolved(store.delete_origin(rows[0].id))


def test_a_topic_names_a_chat_queue(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    calls = _queue(db, "calls", "call")
    chat = _queue(db, "chat", "chat")
    mail = _queue(db, "mail", "email")
    values = {"name": "billing", "label_zh": "账单", "label_en": "Billing", "position": 2}
    for wrong in (calls, mail):
        with pytest.raises(AdminError, match="takes"):
            resolved(store.save_topic(None, {**values, "queue_id": wrong, "enabled": True}))
    with pytest.raises(AdminError, match="no queue 999"):
        resolved(store.save_topic(None, {**values, "queue_id": 999, "enabled": True}))
    tid = resolved(store.save_topic(None, {**values, "queue_id": chat, "enabled": True}))
    with pytest.raises(DuplicateError):
        resolved(store.save_topic(None, {**values, "queue_id": chat, "enabled": True}))
    resolved(
        store.save_topic(tid, {**values, "label_zh": "付款", "queue_id": None, "enabled": False})
    )
    (row,) = resolved(store.topics())
    assert (row.label_zh, row.queue_id, row.enabled, row.position) == ("付款", None, False, 2)
    resolved(store.save_topic(tid, {**values, "queue_id": chat, "enabled": True}))
    assert resolved(store.topics())[0].queue_name == "chat"
    with pytest.raises(AdminError, match="unknown settings"):
        resolved(store.save_topic(tid, {"origin": "x"}))


def test_canned_replies_are_for_a_topic_a_conversation_queue_or_all(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    calls = _queue(db, "calls", "call")
    chat = _queue(db, "chat", "chat")
    tid = resolved(store.save_topic(None, {"name": "t", "queue_id": chat}))
    base = {"title": "Hello", "body": "Hi {customer_name}", "language": "en", "position": 0}
    resolved(store.save_canned(None, {**base, "topic_id": None, "queue_id": None}))
    resolved(store.save_canned(None, {**base, "topic_id": tid, "queue_id": None}))
    cid = resolved(store.save_canned(None, {**base, "topic_id": None, "queue_id": chat}))
    with pytest.raises(AdminError, match="not both"):
        resolved(store.save_canned(cid, {**base, "topic_id": tid, "queue_id": chat}))
    with pytest.raises(AdminError, match="chat and e-mail queues"):
        resolved(store.save_canned(cid, {**base, "topic_id": None, "queue_id": calls}))
    with pytest.raises(AdminError, match="no topic"):
        resolved(store.save_canned(cid, {**base, "topic_id": 999, "queue_id": None}))
    rows = resolved(store.canned())
    assert sorted(((r.topic_id or 0), (r.queue_id or 0)) for r in rows) == [
        (0, 0),
        (0, chat),
        (tid, 0),
    ]
    assert next(r for r in rows if r.id == cid).queue_id == chat


def _account(queue_id: int | None, name: str = "support") -> dict[str, object]:
    return {
        "name": name,
        "address": "support@example.com",
        "display_name": "客服",
        "imap_host": "imap.example.com",
        "imap_port": 993,
        "imap_security": "tls",
        "imap_user": "support",
        "imap_folder": "INBOX",
        "smtp_host": "smtp.example.com",
        "smtp_port": 587,
        "smtp_security": "starttls",
        "smtp_user": "support",
        "queue_id": queue_id,
        "auto_reply": True,
        "auto_reply_body": "",
        "make_tickets": False,
        "sla_minutes": 240,
        "enabled": True,
    }


def _passwords(db: DBConnector) -> tuple[str, str]:
    a = model.email_accounts

    def thd(conn: sa.Connection) -> tuple[str, str]:
        r = conn.execute(sa.select(a.c.imap_password, a.c.smtp_password)).one()
        return str(r.imap_password), str(r.smtp_password)

    return resolved(db.run(thd))


def test_account_passwords_are_write_only_and_blank_keeps_them(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    mail = _queue(db, "mail", "email")
    chat = _queue(db, "chat", "chat")
    with pytest.raises(AdminError, match="takes chats"):
        resolved(store.save_account(None, _account(chat)))
    aid = resolved(store.save_account(None, _account(mail), "imap secret", "smtp secret"))
    (row,) = resolved(store.accounts())
    assert row.imap_password_set and row.smtp_password_set
    assert "secret" not in repr(row)
    resolved(store.save_account(aid, {**_account(mail), "sla_minutes": 60}, None, None))
    assert _passwords(db) == ("imap secret", "smtp secret")
    resolved(store.save_account(aid, _account(mail), "new imap", None))
    assert _passwords(db) == ("new imap", "smtp secret")
    assert resolved(store.accounts())[0].sla_minutes == 240
    with pytest.raises(DuplicateError):
        resolved(store.save_account(None, _account(mail)))


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"imap_host": "imap.attacker.example"}, "IMAP"),
        ({"imap_port": 143}, "IMAP"),
        ({"imap_security": "none"}, "IMAP"),
        ({"smtp_host": "mx.attacker.example"}, "SMTP"),
        ({"smtp_security": "none"}, "SMTP"),
    ],
)
def test_a_kept_password_never_follows_its_account_to_another_server(
    db: DBConnector, change: dict[str, object], kind: str
) -> None:
    """A blank password keeps the stored one only for the server it was given for: a form
    naming another host, port or security must carry the password again."""
    store = ChannelAdminStore(db)
    mail = _queue(db, "mail", "email")
    aid = resolved(store.save_account(None, _account(mail), "imap secret", "smtp secret"))
    with pytest.raises(AdminError, match=f"the {kind} server changed"):
        resolved(store.save_account(aid, {**_account(mail), **change}, None, None))
    assert resolved(store.accounts())[0].imap_host == "imap.example.com"  # nothing saved
    # typed again: saved; the same server spelled in capitals with a root dot: kept
    both = ("new imap", "new smtp")
    resolved(store.save_account(aid, {**_account(mail), **change}, *both))
    assert _passwords(db) == both
    resolved(store.save_account(aid, _account(mail), *both))
    same = {"imap_host": "IMAP.Example.com.", "smtp_host": "SMTP.example.COM"}
    resolved(store.save_account(aid, {**_account(mail), **same}, None, None))
    assert _passwords(db) == both


def test_an_account_without_a_stored_password_may_move(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    mail = _queue(db, "mail", "email")
    aid = resolved(store.save_account(None, _account(mail)))
    resolved(store.save_account(aid, {**_account(mail), "imap_host": "imap2.example.com"}))
    assert resolved(store.accounts())[0].imap_host == "imap2.example.com"


def test_an_account_with_open_threads_is_not_deleted(db: DBConnector) -> None:
    """Its threads' replies go out from it: deleting it left every agent's reply refused."""
    store = ChannelAdminStore(db)
    mail = _queue(db, "mail", "email")
    aid = resolved(store.save_account(None, _account(mail)))
    c = model.conversations

    def thread(state: str) -> int:
        def thd(conn: sa.Connection) -> int:
            values = {"media": "email", "state": state, "queue_id": mail, "account_id": aid}
            return int(
                conn.execute(c.insert().values(**values, created_at=utcnow())).inserted_primary_key[
                    0
                ]
            )

        return resolved(db.run(thd))

    thread("ended")
    open_id = thread("waiting")
    with pytest.raises(AdminError, match="1 open e-mail thread"):
        resolved(store.delete_account(aid))
    assert [a.id for a in resolved(store.accounts())] == [aid]

    def end(conn: sa.Connection) -> None:
        conn.execute(c.update().where(c.c.id == open_id).values(state="ended"))

    resolved(db.run(end))
    resolved(store.delete_account(aid))
    assert resolved(store.accounts()) == []
    with pytest.raises(AdminError, match="no account"):
        resolved(store.delete_account(aid))


def test_routes_go_to_email_queues(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    mail = _queue(db, "mail", "email")
    chat = _queue(db, "chat", "chat")
    aid = resolved(store.save_account(None, _account(mail)))
    route = {"account_id": aid, "kind": "sender", "pattern": "@vip.example.com", "position": 1}
    with pytest.raises(AdminError, match="takes chats"):
        resolved(store.save_route(None, {**route, "queue_id": chat}))
    with pytest.raises(AdminError, match="sender or by keyword"):
        resolved(store.save_route(None, {**route, "kind": "regex", "queue_id": mail}))
    with pytest.raises(AdminError, match="no account"):
        resolved(store.save_route(None, {**route, "account_id": 999, "queue_id": mail}))
    rid = resolved(store.save_route(None, {**route, "queue_id": mail}))
    resolved(
        store.save_route(rid, {**route, "kind": "keyword", "pattern": "退款", "queue_id": mail})
    )
    (row,) = resolved(store.routes())
    assert (row.kind, row.pattern, row.queue_id, row.account_id) == ("keyword", "退款", mail, aid)


def test_a_queue_keeps_its_medium_while_something_uses_it(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    sales = _queue(db, "sales", "call")
    resolved(db.queues.add("spill", "Spill", overflow_kind="queue", overflow_queue_id=sales))
    with pytest.raises(QueueInUse, match="overflow of queue spill"):
        resolved(store.set_queue_media(sales, "chat"))

    flow_queue = _queue(db, "ivrq", "call")
    graph = {"nodes": [{"id": "q", "type": "queue", "props": {"queue": "ivrq"}}], "edges": []}
    f = model.ivr_flows

    def add_flow(conn: sa.Connection) -> None:
        conn.execute(f.insert().values(name="main", graph=json.dumps(graph), updated_at=utcnow()))

    resolved(db.run(add_flow))
    with pytest.raises(QueueInUse, match="IVR flow main"):
        resolved(store.set_queue_media(flow_queue, "email"))

    chat = _queue(db, "chat", "chat")
    tid = resolved(store.save_topic(None, {"name": "t", "queue_id": chat}))
    with pytest.raises(QueueInUse, match="chat topic t"):
        resolved(store.set_queue_media(chat, "call"))
    resolved(store.delete_topic(tid))
    c = model.conversations

    def open_chat(conn: sa.Connection) -> None:
        conn.execute(
            c.insert().values(media="chat", state="active", queue_id=chat, created_at=utcnow())
        )

    resolved(db.run(open_chat))
    with pytest.raises(QueueInUse, match="1 open conversation"):
        resolved(store.set_queue_media(chat, "email"))

    mail = _queue(db, "mail", "email")
    resolved(store.save_account(None, _account(mail)))
    with pytest.raises(QueueInUse, match="e-mail account support"):
        resolved(store.set_queue_media(mail, "chat"))
    with pytest.raises(AdminError, match="calls, chats or e-mails"):
        resolved(store.set_queue_media(mail, "fax"))

    free = _queue(db, "free", "call")
    assert resolved(store.set_queue_media(free, "email")) == "call"
    assert resolved(store.queue_media())[free] == "email"


def test_agent_capacity(db: DBConnector) -> None:
    store = ChannelAdminStore(db)
    a = resolved(db.agents.add("1001", "A", "", ""))
    assert resolved(store.agent_capacity(a.id)) == (3, False, True)
    resolved(store.set_agent_capacity(a.id, 5, True, False))
    assert resolved(store.agent_capacity(a.id)) == (5, True, False)
    with pytest.raises(AdminError, match="0 to 10"):
        resolved(store.set_agent_capacity(a.id, 11, True, False))
    with pytest.raises(AdminError, match="no agent"):
        resolved(store.set_agent_capacity(999, 1, True, False))
    assert resolved(store.agent_capacity(999)) is None
