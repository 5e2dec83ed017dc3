"""The e-mail channel's store on both databases: thread lookup, the auto-reply ledger, the
replies still to send, the SLA's breaches, threads kept when not routable, the customer by
address."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.email_store import EmailStore

T0 = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def insert(db: DBConnector, table: sa.Table, **values: Any) -> int:
    def thd(conn: sa.Connection) -> int:
        pk = conn.execute(table.insert().values(**values)).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    return int(resolved(db.run(thd)))


def thread(db: DBConnector, email: str, key: str, **kw: Any) -> int:
    values = dict(media="email", state="waiting", email=email, thread_key=key, created_at=T0)
    return insert(db, model.conversations, **(values | kw))


def line(db: DBConnector, cid: int, sender: str, mid: str | None, at: dt.datetime = T0) -> int:
    return insert(
        db,
        model.conversation_messages,
        conversation_id=cid,
        sender=sender,
        body="x",
        created_at=at,
        message_id=mid,
    )


def test_find_thread_by_ids_in_order_then_own_id_then_reference(db: DBConnector) -> None:
    store = EmailStore(db)
    a = thread(db, "ann@example.com", "<a1@x>")
    b = thread(db, "bob@example.com", "<b1@x>")
    line(db, a, "customer", "<a1@x>")
    line(db, a, "system", "<auto-a@center>")
    line(db, b, "customer", "<b1@x>")
    chat = insert(db, model.conversations, media="chat", state="active", created_at=T0)
    line(db, chat, "customer", "<c1@x>")

    def find(ids: list[str], ref: int | None = None, sender: str = "", own: str = "") -> Any:
        found = resolved(store.find_thread(ids, ref, sender, own))
        return found.id if found is not None else None

    assert find(["<auto-a@center>"]) == a
    assert find(["<nothing@x>", "<b1@x>", "<a1@x>"]) == b  # the first id that is known
    assert find(["<c1@x>"]) is None  # a chat's line is no e-mail thread
    assert find([], own="<b1@x>") == b  # a mail taken again finds the thread it started
    assert find([], ref=a, sender="ANN@example.com") == a
    assert find([], ref=a, sender="mallory@example.net") is None
    assert find([], ref=chat, sender="") is None
    assert resolved(store.seen("<a1@x>")) and not resolved(store.seen("<zz@x>"))


def test_one_auto_reply_per_address_per_interval(db: DBConnector) -> None:
    clock = Clock()
    store = EmailStore(db, clock)
    hour = dt.timedelta(hours=1)
    assert resolved(store.claim_auto_reply("Ann@Example.com", hour)) is True
    assert resolved(store.claim_auto_reply("ann@example.com", hour)) is False
    assert resolved(store.claim_auto_reply("bob@example.com", hour)) is True
    clock.now = T0 + dt.timedelta(minutes=59)
    assert resolved(store.claim_auto_reply("ann@example.com", hour)) is False
    clock.now = T0 + dt.timedelta(minutes=61)
    assert resolved(store.claim_auto_reply("ann@example.com", hour)) is True
    ar = model.email_auto_replies
    found = resolved(db.run(lambda conn: conn.execute(sa.select(ar.c.address)).scalars().all()))
    assert sorted(found) == ["ann@example.com", "ann@example.com", "bob@example.com"]


def test_recent_mails_of_an_address(db: DBConnector) -> None:
    store = EmailStore(db)
    a = thread(db, "ann@example.com", "<a1@x>")
    for minute in (0, 5, 9):
        line(db, a, "customer", None, T0 + dt.timedelta(minutes=minute))
    line(db, a, "system", None, T0 + dt.timedelta(minutes=9))
    assert resolved(store.recent_from("ANN@example.com", T0 + dt.timedelta(minutes=1))) == 2
    assert resolved(store.recent_from("bob@example.com", T0)) == 0


def test_replies_unsent_until_marked_sent(db: DBConnector) -> None:
    store = EmailStore(db)
    acct = insert(db, model.email_accounts, name="help", address="help@c.example", imap_host="")
    a = thread(db, "ann@example.com", "<a1@x>", account_id=acct, subject="Order")
    line(db, a, "customer", "<a1@x>")
    reply = line(db, a, "agent", None)
    insert(
        db,
        model.conversation_messages,
        conversation_id=a,
        sender="supervisor",
        body="note",
        internal=True,
        created_at=T0,
    )
    chat = insert(db, model.conversations, media="chat", state="active", created_at=T0)
    line(db, chat, "agent", None)
    [u] = resolved(store.unsent())
    assert (u.message_row_id, u.conversation_id, u.account_id, u.subject) == (
        reply,
        a,
        acct,
        "Order",
    )
    assert resolved(store.unsent(after=reply)) == []  # the next page
    resolved(store.mark_sent(reply, "<ccbox.1@c.example>"))
    assert resolved(store.unsent()) == []
    ctx = resolved(store.reply_context(a))
    assert ctx.chain == ("<a1@x>", "<ccbox.1@c.example>")
    assert ctx.last_customer_id == "<a1@x>" and ctx.thread_key == "<a1@x>"


def test_a_breach_is_told_once_and_counted_while_unanswered(db: DBConnector) -> None:
    clock = Clock()
    store = EmailStore(db, clock)
    due = T0 + dt.timedelta(hours=1)
    late = thread(db, "a@example.com", "<1@x>", due_at=due)
    answered = thread(db, "b@example.com", "<2@x>", due_at=due)
    line(db, answered, "agent", None)
    thread(db, "c@example.com", "<3@x>", due_at=due, state="ended")
    thread(db, "d@example.com", "<4@x>", due_at=T0 + dt.timedelta(hours=5))
    assert resolved(store.breach_due()) == []
    clock.now = due
    assert [b.conversation_id for b in resolved(store.breach_due())] == [late]
    assert resolved(store.breach_due()) == []
    assert resolved(store.open_breached()) == 1
    line(db, late, "agent", None)
    assert resolved(store.open_breached()) == 0


def test_a_thread_not_routed_is_kept_as_a_message(db: DBConnector) -> None:
    store = EmailStore(db)
    cid = resolved(
        store.park_thread(
            account_id=None,
            queue_id=None,
            name="张三",
            email="zhang@example.cn",
            subject="发票",
            language="zh",
            thread_key="<p@x>",
            customer_id=None,
            reason="the account has no queue",
        )
    )
    c, e = model.conversations, model.conversation_events

    def thd(conn: sa.Connection) -> tuple[Any, list[Any]]:
        row = conn.execute(sa.select(c).where(c.c.id == cid)).one()
        kinds = conn.execute(sa.select(e.c.kind, e.c.detail).where(e.c.conversation_id == cid))
        return row, list(kinds)

    row, kinds = resolved(db.run(thd))
    assert (row.media, row.state, row.subject, row.thread_key) == (
        "email",
        "message",
        "发票",
        "<p@x>",
    )
    assert [tuple(k) for k in kinds] == [("not_routed", "the account has no queue")]


def test_the_customer_by_address_is_a_live_one(db: DBConnector) -> None:
    store = EmailStore(db)
    gone = insert(db, model.customers, name="old", email="li@example.cn", created_at=T0)
    live = insert(db, model.customers, name="Li", email="Li@Example.cn", created_at=T0)
    c = model.customers
    resolved(
        db.run(lambda conn: conn.execute(c.update().where(c.c.id == gone).values(merged_into=live)))
    )
    assert resolved(store.customer_by_email("LI@example.cn")) == live
    resolved(
        db.run(lambda conn: conn.execute(c.update().where(c.c.id == live).values(erased_at=T0)))
    )
    assert resolved(store.customer_by_email("li@example.cn")) is None


def test_an_accounts_passwords_are_not_in_its_repr(db: DBConnector) -> None:
    insert(
        db,
        model.email_accounts,
        name="help",
        address="help@c.example",
        imap_host="imap.c.example",
        imap_password="imap-s3cret",
        smtp_password="smtp-s3cret",
    )
    [account] = resolved(EmailStore(db).accounts())
    assert account.imap_password == "imap-s3cret" and account.smtp_password == "smtp-s3cret"
    assert "s3cret" not in repr(account)  # an account in a log line or a traceback


def test_a_replys_context_reads_the_text_of_one_mail_only(db: DBConnector) -> None:
    """A long thread (a flood's: thousands of mails of up to 200,000 characters) was read
    whole, every body, for each agent's reply."""
    store = EmailStore(db)
    a = thread(db, "ann@example.com", "<a1@x>")
    for i in range(1, 6):
        line(db, a, "customer", f"<a{i}@x>")
    line(db, a, "agent", "<ours@c>")
    bodies: list[str] = []  # the statements that read messages' text

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "body" in statement and "conversation_messages" in statement:
            bodies.append(statement.upper())

    # reads go to the reader engine on PostgreSQL (DBConnector.read), to the engine on SQLite
    engine = db._reader if db._reader is not None else db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        ctx = resolved(store.reply_context(a))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert bodies and all("LIMIT" in q for q in bodies)  # one mail's text, never all
    assert ctx.last_customer_id == "<a5@x>" and ctx.last_customer_text == "x"
    assert ctx.chain == ("<a1@x>", "<a2@x>", "<a3@x>", "<a4@x>", "<a5@x>", "<ours@c>")
