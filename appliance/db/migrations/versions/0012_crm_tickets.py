"""crm: tickets (work orders), SLA rules, escalation, messages to customers, notices for
one agent or the supervisors

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:50:00
"""

import json

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The built-in types (their names are translated where shown) and a default SLA for each
# priority: (respond within, resolve within) minutes; overdue: a notice at once, the
# priority one step up two hours later.
BUILTIN_TYPES = {
    "inquiry": "Inquiry",
    "complaint": "Complaint",
    "suggestion": "Suggestion",
    "fault": "Fault",
    "sales": "Sales",
}
DEFAULT_SLA = {"low": (480, 4320), "normal": (120, 1440), "high": (30, 480), "urgent": (15, 240)}
DEFAULT_ESCALATION = [{"after": 0, "action": "notify"}, {"after": 120, "action": "raise_priority"}]


def upgrade() -> None:
    op.create_table(
        "ticket_types",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("builtin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("fields", sa.Text(), server_default="[]", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ticket_types")),
    )
    op.create_table(
        "ticket_sla_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type_key", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("respond_minutes", sa.Integer(), nullable=False),
        sa.Column("resolve_minutes", sa.Integer(), nullable=False),
        sa.Column("escalation", sa.Text(), server_default="[]", nullable=False),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')",
            name=op.f("ck_ticket_sla_rules_priority"),
        ),
        sa.ForeignKeyConstraint(
            ["type_key"],
            ["ticket_types.key"],
            name=op.f("fk_ticket_sla_rules_type_key_ticket_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_sla_rules")),
        sa.UniqueConstraint(
            "type_key", "priority", name=op.f("uq_ticket_sla_rules_type_key_priority")
        ),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("type_key", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("priority", sa.String(length=16), server_default="normal", nullable=False),
        sa.Column("source", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("voicemail_id", sa.Integer(), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("assignee_kind", sa.String(length=16), nullable=True),
        sa.Column("assignee", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("respond_due_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("due_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_escalation_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("closed_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("fields", sa.Text(), server_default="{}", nullable=False),
        sa.CheckConstraint(
            "assignee_kind IN ('agent', 'queue', 'department')",
            name=op.f("ck_tickets_assignee_kind"),
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_tickets_priority")
        ),
        sa.CheckConstraint(
            "source IN ('phone', 'voicemail', 'ivr', 'web', 'manual')",
            name=op.f("ck_tickets_source"),
        ),
        sa.CheckConstraint(
            "state IN ('new', 'accepted', 'dispatched', 'in_progress', 'replied', 'closed',"
            " 'reopened')",
            name=op.f("ck_tickets_state"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_tickets_call_id_calls"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_tickets_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_tickets_recording_id_recordings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["type_key"],
            ["ticket_types.key"],
            name=op.f("fk_tickets_type_key_ticket_types"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["voicemail_id"],
            ["voicemails.id"],
            name=op.f("fk_tickets_voicemail_id_voicemails"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("number", name=op.f("uq_tickets_number")),
    )
    op.create_index(
        "ix_tickets_assignee_kind_assignee", "tickets", ["assignee_kind", "assignee"], unique=False
    )
    op.create_index(op.f("ix_tickets_customer_id"), "tickets", ["customer_id"], unique=False)
    op.create_index(
        op.f("ix_tickets_next_escalation_at"), "tickets", ["next_escalation_at"], unique=False
    )
    op.create_index("ix_tickets_state_due_at", "tickets", ["state", "due_at"], unique=False)
    op.create_table(
        "crm_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), server_default="outbound", nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), server_default="", nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("state", sa.String(length=24), server_default="queued", nullable=False),
        sa.Column("error", sa.String(length=500), server_default="", nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "channel IN ('sms', 'email', 'callback')", name=op.f("ck_crm_messages_channel")
        ),
        sa.CheckConstraint(
            "direction IN ('outbound', 'inbound')", name=op.f("ck_crm_messages_direction")
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'sent', 'failed', 'waiting_for_modem')",
            name=op.f("ck_crm_messages_state"),
        ),
        sa.ForeignKeyConstraint(
            ["callback_id"],
            ["callbacks.id"],
            name=op.f("fk_crm_messages_callback_id_callbacks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_crm_messages_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_crm_messages_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_messages")),
    )
    op.create_index(
        op.f("ix_crm_messages_customer_id"), "crm_messages", ["customer_id"], unique=False
    )
    op.create_index(op.f("ix_crm_messages_ticket_id"), "crm_messages", ["ticket_id"], unique=False)
    op.create_table(
        "ticket_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_attachments_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_attachments")),
    )
    op.create_index(
        op.f("ix_ticket_attachments_sha256"), "ticket_attachments", ["sha256"], unique=False
    )
    op.create_index(
        op.f("ix_ticket_attachments_ticket_id"), "ticket_attachments", ["ticket_id"], unique=False
    )
    op.create_index(
        "ix_ticket_attachments_uploaded_by_created_at",
        "ticket_attachments",
        ["uploaded_by", "created_at"],
        unique=False,
    )
    op.create_table(
        "ticket_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_comments_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_comments")),
    )
    op.create_index(
        op.f("ix_ticket_comments_ticket_id"), "ticket_comments", ["ticket_id"], unique=False
    )
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_value", sa.String(length=100), server_default="", nullable=False),
        sa.Column("to_value", sa.String(length=100), server_default="", nullable=False),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_history_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_history")),
    )
    op.create_index(
        "ix_ticket_history_ticket_id_at", "ticket_history", ["ticket_id", "at"], unique=False
    )
    # ### end Alembic commands ###
    types = sa.table(
        "ticket_types",
        sa.column("key", sa.String),
        sa.column("name", sa.String),
        sa.column("builtin", sa.Boolean),
        sa.column("fields", sa.Text),
        sa.column("active", sa.Boolean),
    )
    op.bulk_insert(
        types,
        [
            {"key": k, "name": n, "builtin": True, "fields": "[]", "active": True}
            for k, n in BUILTIN_TYPES.items()
        ],
    )
    rules = sa.table(
        "ticket_sla_rules",
        sa.column("type_key", sa.String),
        sa.column("priority", sa.String),
        sa.column("respond_minutes", sa.Integer),
        sa.column("resolve_minutes", sa.Integer),
        sa.column("escalation", sa.Text),
    )
    op.bulk_insert(
        rules,
        [
            {
                "type_key": k,
                "priority": p,
                "respond_minutes": respond,
                "resolve_minutes": resolve,
                "escalation": json.dumps(DEFAULT_ESCALATION),
            }
            for k in BUILTIN_TYPES
            for p, (respond, resolve) in DEFAULT_SLA.items()
        ],
    )

    # A notice may be for one agent (an escalation telling a ticket's assignee) or for the
    # supervisors only (an unassigned ticket's escalation).
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("supervisors", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_notices_agent_id_agents"),
            "agents",
            ["agent_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_notices_agent_id_agents"), type_="foreignkey")
        batch_op.drop_column("supervisors")
        batch_op.drop_column("agent_id")
    op.drop_index("ix_ticket_history_ticket_id_at", table_name="ticket_history")
    op.drop_table("ticket_history")
    op.drop_index(op.f("ix_ticket_comments_ticket_id"), table_name="ticket_comments")
    op.drop_table("ticket_comments")
    op.drop_index("ix_ticket_attachments_uploaded_by_created_at", table_name="ticket_attachments")
    op.drop_index(op.f("ix_ticket_attachments_ticket_id"), table_name="ticket_attachments")
    op.drop_index(op.f("ix_ticket_attachments_sha256"), table_name="ticket_attachments")
    op.drop_table("ticket_attachments")
    op.drop_index(op.f("ix_crm_messages_ticket_id"), table_name="crm_messages")
    op.drop_index(op.f("ix_crm_messages_customer_id"), table_name="crm_messages")
    op.drop_table("crm_messages")
    op.drop_index("ix_tickets_state_due_at", table_name="tickets")
    op.drop_index(op.f("ix_tickets_next_escalation_at"), table_name="tickets")
    op.drop_index(op.f("ix_tickets_customer_id"), table_name="tickets")
    op.drop_index("ix_tickets_assignee_kind_assignee", table_name="tickets")
    op.drop_table("tickets")
    op.drop_table("ticket_sla_rules")
    op.drop_table("ticket_types")
    # ### end Alembic commands ###
