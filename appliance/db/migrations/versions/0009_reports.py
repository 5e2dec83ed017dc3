"""reports: rollup tables (q15, hour, day, month), their inbox; calls' report columns

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:26:12
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_agent",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("logged_in_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("available_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("ringing_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("on_call_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("wrap_up_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("paused_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("handled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("missed", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_agent_grain")
        ),
        sa.PrimaryKeyConstraint("grain", "bucket", "agent_id", name=op.f("pk_report_agent")),
    )
    op.create_table(
        "report_agent_open",
        sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), server_default="", nullable=False),
        sa.Column("since", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("event_id", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_report_agent_open")),
    )
    op.create_table(
        "report_call_applied",
        sa.Column("call_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deltas", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_report_call_applied")),
    )
    op.create_table(
        "report_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_inbox")),
    )
    op.create_table(
        "report_ivr",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("flow_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("node", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=72), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_ivr_grain")
        ),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "flow_id", "node", "outcome", name=op.f("pk_report_ivr")
        ),
    )
    op.create_table(
        "report_outbound",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("campaign_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("talk_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("wait_s", sa.Float(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_outbound_grain")
        ),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "campaign_id", "outcome", name=op.f("pk_report_outbound")
        ),
    )
    op.create_table(
        "report_overflow",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("queue_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_overflow_grain")
        ),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "queue_id", "kind", "target", name=op.f("pk_report_overflow")
        ),
    )
    op.create_table(
        "report_pause",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_pause_grain")
        ),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "agent_id", "reason", name=op.f("pk_report_pause")
        ),
    )
    op.create_table(
        "report_qa",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("queue_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("form_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("item", sa.String(length=64), nullable=False),
        sa.Column("score_sum", sa.Float(), server_default="0", nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_qa_grain")
        ),
        sa.PrimaryKeyConstraint(
            "grain", "bucket", "agent_id", "queue_id", "form_id", "item", name=op.f("pk_report_qa")
        ),
    )
    op.create_table(
        "report_traffic",
        sa.Column("grain", sa.String(length=5), nullable=False),
        sa.Column("bucket", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("offered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered_in_sl", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned_in_sl", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned_short", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_lt10", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_lt20", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_lt30", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_lt60", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_lt120", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_lt300", sa.Integer(), server_default="0", nullable=False),
        sa.Column("ab_ge300", sa.Integer(), server_default="0", nullable=False),
        sa.Column("overflowed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("voicemail", sa.Integer(), server_default="0", nullable=False),
        sa.Column("callbacks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transferred", sa.Integer(), server_default="0", nullable=False),
        sa.Column("handled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("outbound", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recordings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("voicemails", sa.Integer(), server_default="0", nullable=False),
        sa.Column("wait_answered_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("wait_abandoned_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("wait_max_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("talk_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("hold_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("wrapup_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("recording_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("voicemail_s", sa.Float(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "grain IN ('q15', 'hour', 'day', 'month')", name=op.f("ck_report_traffic_grain")
        ),
        sa.CheckConstraint(
            "scope IN ('center', 'queue', 'skill', 'agent', 'department', 'did', 'flow', "
            "'campaign')",
            name=op.f("ck_report_traffic_scope"),
        ),
        sa.PrimaryKeyConstraint("grain", "bucket", "scope", "key", name=op.f("pk_report_traffic")),
    )
    op.create_index(
        op.f("ix_report_traffic_scope_key_grain_bucket"),
        "report_traffic",
        ["scope", "key", "grain", "bucket"],
        unique=False,
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flow_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("entry_queue_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("queued_at", appliance.db.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("overflow_queue_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("queue_outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("wait_ms", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hold_ms", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("transfers", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_calls_queue_id_queued_at", ["queue_id", "queued_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_queue_id_queued_at")
        batch_op.drop_column("transfers")
        batch_op.drop_column("hold_ms")
        batch_op.drop_column("wait_ms")
        batch_op.drop_column("queue_outcome")
        batch_op.drop_column("overflow_queue_id")
        batch_op.drop_column("queued_at")
        batch_op.drop_column("entry_queue_id")
        batch_op.drop_column("flow_id")

    op.drop_index(op.f("ix_report_traffic_scope_key_grain_bucket"), table_name="report_traffic")
    op.drop_table("report_traffic")
    op.drop_table("report_qa")
    op.drop_table("report_pause")
    op.drop_table("report_overflow")
    op.drop_table("report_outbound")
    op.drop_table("report_ivr")
    op.drop_table("report_inbox")
    op.drop_table("report_call_applied")
    op.drop_table("report_agent_open")
    op.drop_table("report_agent")
