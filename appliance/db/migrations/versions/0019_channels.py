"""channels: web chat and e-mail conversations, routed by the ACD beside calls

A queue takes a medium (call, chat or email); an agent has a capacity for conversations;
chat topics, allowed origins, e-mail accounts and routes, conversations with their messages,
attachments and events, canned replies, and the auto-replies sent. A ticket's source may be
"chat" or "email": the CHECK is widened as 0016 did (SQLite's stored text edited in place,
the rows untouched).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 05:28:20.308272
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


OLD_SOURCES = "source IN ('phone', 'voicemail', 'ivr', 'web', 'manual', 'sms')"
NEW_SOURCES = "source IN ('phone', 'voicemail', 'ivr', 'web', 'manual', 'sms', 'chat', 'email')"


def _sqlite_check(table: str, old: str, new: str) -> None:
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if old not in sql:
        raise RuntimeError(f"{table}: its CHECK constraint is not {old!r}")
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
        (sql.replace(old, new), table),
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = conn.exec_driver_sql(f'PRAGMA quick_check("{table}")').scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"{table}: the database's check failed after 0019: {problems[:5]}")


def _ticket_sources(upgrade: bool) -> None:
    before, after = (OLD_SOURCES, NEW_SOURCES) if upgrade else (NEW_SOURCES, OLD_SOURCES)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_check("tickets", before, after)
    else:
        op.drop_constraint(op.f("ck_tickets_source"), "tickets", type_="check")
        op.create_check_constraint(op.f("ck_tickets_source"), "tickets", after)


def upgrade() -> None:
    _ticket_sources(upgrade=True)
    op.create_table(
        "chat_origins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_origins")),
        sa.UniqueConstraint("origin", name=op.f("uq_chat_origins_origin")),
    )
    op.create_table(
        "email_auto_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_auto_replies")),
    )
    with op.batch_alter_table("email_auto_replies", schema=None) as batch_op:
        batch_op.create_index("ix_email_auto_replies_address_at", ["address", "at"], unique=False)

    op.create_table(
        "chat_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("label_zh", sa.String(length=128), server_default="", nullable=False),
        sa.Column("label_en", sa.String(length=128), server_default="", nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_chat_topics_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_topics")),
        sa.UniqueConstraint("name", name=op.f("uq_chat_topics_name")),
    )
    op.create_table(
        "email_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("imap_host", sa.String(length=253), nullable=False),
        sa.Column("imap_port", sa.Integer(), server_default="993", nullable=False),
        sa.Column("imap_security", sa.String(length=8), server_default="tls", nullable=False),
        sa.Column("imap_user", sa.String(length=254), server_default="", nullable=False),
        sa.Column("imap_password", sa.String(length=500), server_default="", nullable=False),
        sa.Column("imap_folder", sa.String(length=128), server_default="INBOX", nullable=False),
        sa.Column("smtp_host", sa.String(length=253), server_default="", nullable=False),
        sa.Column("smtp_port", sa.Integer(), server_default="587", nullable=False),
        sa.Column("smtp_security", sa.String(length=8), server_default="starttls", nullable=False),
        sa.Column("smtp_user", sa.String(length=254), server_default="", nullable=False),
        sa.Column("smtp_password", sa.String(length=500), server_default="", nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("auto_reply", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("auto_reply_body", sa.Text(), server_default="", nullable=False),
        sa.Column("make_tickets", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("sla_minutes", sa.Integer(), server_default="240", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("checked_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), server_default="", nullable=False),
        sa.CheckConstraint(
            "imap_security IN ('tls', 'starttls', 'none')",
            name=op.f("ck_email_accounts_imap_security"),
        ),
        sa.CheckConstraint(
            "smtp_security IN ('tls', 'starttls', 'none')",
            name=op.f("ck_email_accounts_smtp_security"),
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_email_accounts_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_email_accounts_name")),
    )
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), server_default="", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_canned_replies_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["chat_topics.id"],
            name=op.f("fk_canned_replies_topic_id_chat_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
    )
    op.create_table(
        "email_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("pattern", sa.String(length=254), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("kind IN ('sender', 'keyword')", name=op.f("ck_email_routes_kind")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["email_accounts.id"],
            name=op.f("fk_email_routes_account_id_email_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_email_routes_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_routes")),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("media", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=8), server_default="waiting", nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("phone", sa.String(length=32), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("subject", sa.String(length=200), server_default="", nullable=False),
        sa.Column("language", sa.String(length=8), server_default="", nullable=False),
        sa.Column("origin", sa.String(length=200), server_default="", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("thread_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("answered_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("first_reply_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("due_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("ended_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=24), server_default="", nullable=False),
        sa.CheckConstraint("media IN ('chat', 'email')", name=op.f("ck_conversations_media")),
        sa.CheckConstraint(
            "state IN ('waiting', 'offered', 'active', 'wrap_up', 'ended', 'message')",
            name=op.f("ck_conversations_state"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["email_accounts.id"],
            name=op.f("fk_conversations_account_id_email_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversations_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_conversations_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_conversations_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_conversations_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["chat_topics.id"],
            name=op.f("fk_conversations_topic_id_chat_topics"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_agent_id_created_at", ["agent_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_conversations_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_conversations_customer_id_created_at", ["customer_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_conversations_state_media", ["state", "media"], unique=False)
        batch_op.create_index("ix_conversations_thread_key", ["thread_key"], unique=False)

    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("user", sa.String(length=64), server_default="", nullable=False),
        sa.Column("detail", sa.String(length=500), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversation_events_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_events_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_conversation_events_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_events")),
    )
    with op.batch_alter_table("conversation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_events_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=128), server_default="", nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("html", sa.Text(), server_default="", nullable=False),
        sa.Column("internal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("read_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("in_reply_to", sa.String(length=255), nullable=True),
        sa.CheckConstraint(
            "sender IN ('customer', 'agent', 'supervisor', 'system')",
            name=op.f("ck_conversation_messages_sender"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversation_messages_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
    )
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_messages_conversation_id_id", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index("ix_conversation_messages_message_id", ["message_id"], unique=False)

    op.create_table(
        "conversation_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_attachments_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["conversation_messages.id"],
            name=op.f("fk_conversation_attachments_message_id_conversation_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_attachments")),
    )
    with op.batch_alter_table("conversation_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_attachments_conversation_id"),
            ["conversation_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_attachments_message_id"), ["message_id"], unique=False
        )

    # Added in place, as 0017 did: a batch copy of agents or queues would DROP the table,
    # and on SQLite the foreign keys that cascade from it (skills, memberships, training
    # assignments, ...) would empty their tables. A column with a constant default and no
    # constraint is an ALTER TABLE on both databases.
    op.add_column(
        "agents", sa.Column("max_chats", sa.Integer(), server_default="3", nullable=False)
    )
    op.add_column(
        "agents", sa.Column("chat_on_call", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        "agents",
        sa.Column("call_with_chats", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.add_column(
        "queues", sa.Column("media", sa.String(length=8), server_default="call", nullable=False)
    )


def downgrade() -> None:
    op.execute("UPDATE tickets SET source = 'manual' WHERE source IN ('chat', 'email')")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), never a batch copy (see upgrade)
    op.drop_column("queues", "media")
    op.drop_column("agents", "call_with_chats")
    op.drop_column("agents", "chat_on_call")
    op.drop_column("agents", "max_chats")

    with op.batch_alter_table("conversation_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_attachments_message_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_attachments_conversation_id"))

    op.drop_table("conversation_attachments")
    with op.batch_alter_table("conversation_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_messages_message_id")
        batch_op.drop_index("ix_conversation_messages_conversation_id_id")

    op.drop_table("conversation_messages")
    with op.batch_alter_table("conversation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_events_conversation_id"))

    op.drop_table("conversation_events")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_thread_key")
        batch_op.drop_index("ix_conversations_state_media")
        batch_op.drop_index("ix_conversations_customer_id_created_at")
        batch_op.drop_index("ix_conversations_created_at")
        batch_op.drop_index("ix_conversations_agent_id_created_at")

    op.drop_table("conversations")
    op.drop_table("email_routes")
    op.drop_table("canned_replies")
    op.drop_table("email_accounts")
    op.drop_table("chat_topics")
    with op.batch_alter_table("email_auto_replies", schema=None) as batch_op:
        batch_op.drop_index("ix_email_auto_replies_address_at")

    op.drop_table("email_auto_replies")
    op.drop_table("chat_origins")
    _ticket_sources(upgrade=False)
