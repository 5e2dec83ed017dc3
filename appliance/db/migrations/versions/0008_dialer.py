"""dialer: campaigns, lists, leads, attempts, do-not-call; callbacks due_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:22:05
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

RETRY_DEFAULT = '{"no_answer": 60, "busy": 10, "congestion": 5, "machine": 240, "callback": 0}'


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), server_default="progressive", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="stopped", nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("ratio", sa.Float(), server_default="1.0", nullable=False),
        sa.Column("caller_id_number", sa.String(length=32), server_default="", nullable=False),
        sa.Column("caller_id_name", sa.String(length=128), server_default="", nullable=False),
        sa.Column(
            "window_days",
            sa.String(length=64),
            server_default="mon,tue,wed,thu,fri",
            nullable=False,
        ),
        sa.Column("window_start", sa.String(length=5), server_default="09:00", nullable=False),
        sa.Column("window_end", sa.String(length=5), server_default="20:00", nullable=False),
        sa.Column(
            "default_tz", sa.String(length=64), server_default="Asia/Shanghai", nullable=False
        ),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column(
            "retry_json",
            sa.Text(),
            server_default=RETRY_DEFAULT,
            nullable=False,
        ),
        sa.Column("dispositions_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("script", sa.Text(), server_default="", nullable=False),
        sa.Column("record", sa.String(length=8), server_default="all", nullable=False),
        sa.Column("amd", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("target_abandon_pct", sa.Float(), server_default="3.0", nullable=False),
        sa.Column("backoff", sa.String(length=16), server_default="hard", nullable=False),
        sa.Column("max_dial_level", sa.Float(), server_default="3.0", nullable=False),
        sa.Column("min_predictive_agents", sa.Integer(), server_default="5", nullable=False),
        sa.Column("trunk_group", sa.String(length=32), server_default="default", nullable=False),
        sa.Column("safe_harbor_prompt", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "backoff IN ('hard', 'average', 'tapered')", name=op.f("ck_campaigns_backoff")
        ),
        sa.CheckConstraint(
            "mode IN ('preview', 'progressive', 'predictive')", name=op.f("ck_campaigns_mode")
        ),
        sa.CheckConstraint("record IN ('all', 'none')", name=op.f("ck_campaigns_record")),
        sa.CheckConstraint(
            "state IN ('stopped', 'running', 'paused')", name=op.f("ck_campaigns_state")
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_campaigns_queue_id_queues"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "call_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=255), server_default="", nullable=False),
        sa.Column("imported_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("rows_ok", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rows_bad", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_call_lists_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_lists")),
    )
    with op.batch_alter_table("call_lists", schema=None) as batch_op:
        batch_op.create_index("ix_call_lists_campaign_id", ["campaign_id"], unique=False)

    op.create_table(
        "campaign_holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_holidays_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_holidays")),
        sa.UniqueConstraint(
            "campaign_id", "day", name=op.f("uq_campaign_holidays_campaign_id_day")
        ),
    )
    op.create_table(
        "dnc_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=16), server_default="admin", nullable=False),
        sa.Column("list_date", sa.Date(), nullable=True),
        sa.Column("added_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "scope IN ('center', 'campaign', 'national')", name=op.f("ck_dnc_numbers_scope")
        ),
        sa.CheckConstraint(
            "source IN ('admin', 'ivr', 'agent', 'import')", name=op.f("ck_dnc_numbers_source")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dnc_numbers_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_numbers")),
    )
    with op.batch_alter_table("dnc_numbers", schema=None) as batch_op:
        batch_op.create_index("ix_dnc_numbers_number", ["number"], unique=False)
        batch_op.create_index(
            "ix_dnc_numbers_scope_campaign_id", ["scope", "campaign_id"], unique=False
        )

    op.create_table(
        "leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("tz", sa.String(length=64), server_default="", nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("fields_json", sa.Text(), server_default="{}", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), server_default="", nullable=False),
        sa.Column("disposition", sa.String(length=32), server_default="", nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('new', 'scheduled', 'dialing', 'done', 'dnc', 'failed')",
            name=op.f("ck_leads_status"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_leads_agent_id_agents"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_leads_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["call_lists.id"],
            name=op.f("fk_leads_list_id_call_lists"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("campaign_id", "number", name=op.f("uq_leads_campaign_id_number")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_leads_campaign_id_status_next_at_id",
            ["campaign_id", "status", "next_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_leads_list_id", ["list_id"], unique=False)

    op.create_table(
        "dial_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("started_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("answered_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("ended_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("uniqueid", sa.String(length=64), server_default="", nullable=False),
        sa.Column("channel_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("wait_ms", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('answered', 'no_answer', 'busy', 'congestion', 'machine', "
            "'abandoned', 'failed', 'dnc')",
            name=op.f("ck_dial_attempts_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_dial_attempts_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dial_attempts_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_dial_attempts_lead_id_leads"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dial_attempts")),
    )
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dial_attempts_campaign_id_started_at", ["campaign_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_dial_attempts_channel_id", ["channel_id"], unique=False)
        batch_op.create_index("ix_dial_attempts_lead_id", ["lead_id"], unique=False)

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", appliance.db.types.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_column("due_at")

    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_dial_attempts_lead_id")
        batch_op.drop_index("ix_dial_attempts_channel_id")
        batch_op.drop_index("ix_dial_attempts_campaign_id_started_at")

    op.drop_table("dial_attempts")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ix_leads_list_id")
        batch_op.drop_index("ix_leads_campaign_id_status_next_at_id")

    op.drop_table("leads")
    with op.batch_alter_table("dnc_numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_dnc_numbers_scope_campaign_id")
        batch_op.drop_index("ix_dnc_numbers_number")

    op.drop_table("dnc_numbers")
    op.drop_table("campaign_holidays")
    with op.batch_alter_table("call_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_call_lists_campaign_id")

    op.drop_table("call_lists")
    op.drop_table("campaigns")
