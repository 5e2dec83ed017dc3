"""recording index, QA, audit log, recording policy

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:00:02.213908
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=128), server_default="", nullable=False),
        sa.Column("detail", sa.Text(), server_default="{}", nullable=False),
        sa.Column("ip", sa.String(length=64), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action_at", ["action", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "qa_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_forms")),
        sa.UniqueConstraint("name", name=op.f("uq_qa_forms_name")),
    )
    op.create_table(
        "qa_evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("evaluator", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("answers", sa.Text(), server_default="{}", nullable=False),
        sa.Column("comment", sa.String(length=2000), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_qa_evaluations_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["qa_forms.id"],
            name=op.f("fk_qa_evaluations_form_id_qa_forms"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_qa_evaluations_queue_id_queues"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_qa_evaluations_recording_id_recordings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_evaluations")),
    )
    with op.batch_alter_table("qa_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_qa_evaluations_agent_id_created_at", ["agent_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_qa_evaluations_queue_id_created_at", ["queue_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_qa_evaluations_recording_id", ["recording_id"], unique=False)

    with op.batch_alter_table("dids", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("record_calls", sa.Boolean(), server_default=sa.true(), nullable=False)
        )

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("record_calls", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("recording_retention_days", sa.Integer(), nullable=True))

    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("queue_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("direction", sa.String(length=16), server_default="inbound", nullable=False)
        )
        batch_op.add_column(
            sa.Column("caller_number", sa.String(length=80), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("caller_name", sa.String(length=256), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("called_number", sa.String(length=80), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("trunk", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("channel_number", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("reason", sa.String(length=16), server_default="policy", nullable=False)
        )
        batch_op.add_column(
            sa.Column("talk_over_ratio", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("silence_ratio", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("caller_talk_ratio", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("agent_talk_ratio", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("legs_mismatch_ms", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("peaks", sa.Text(), server_default="[]", nullable=False))
        batch_op.add_column(
            sa.Column("paused_ms", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("encrypted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("archived_at", appliance.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("qa_score", sa.Float(), nullable=True))
        batch_op.create_index(
            "ix_recordings_agent_id_started_at", ["agent_id", "started_at"], unique=False
        )
        batch_op.create_index("ix_recordings_call_id", ["call_id"], unique=False)
        batch_op.create_index(
            "ix_recordings_called_number_started_at", ["called_number", "started_at"], unique=False
        )
        batch_op.create_index(
            "ix_recordings_caller_number_started_at", ["caller_number", "started_at"], unique=False
        )
        batch_op.create_index(
            "ix_recordings_channel_number_started_at",
            ["channel_number", "started_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_recordings_duration_ms"), ["duration_ms"], unique=False
        )
        batch_op.create_index("ix_recordings_qa_score", ["qa_score"], unique=False)
        batch_op.create_index(
            "ix_recordings_talk_over_started_at",
            ["started_at"],
            unique=False,
            sqlite_where=sa.text("talk_over_ratio > 0"),
            postgresql_where=sa.text("talk_over_ratio > 0"),
        )
        batch_op.create_index(
            "ix_recordings_queue_id_started_at", ["queue_id", "started_at"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_recordings_agent_id_agents"),
            "agents",
            ["agent_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_recordings_queue_id_queues"),
            "queues",
            ["queue_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint(
            op.f("ck_recordings_reason"), "reason IN ('policy', 'on_demand')"
        )


def downgrade() -> None:
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_recordings_reason"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_recordings_queue_id_queues"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_recordings_agent_id_agents"), type_="foreignkey")
        batch_op.drop_index("ix_recordings_queue_id_started_at")
        batch_op.drop_index("ix_recordings_talk_over_started_at")
        batch_op.drop_index("ix_recordings_qa_score")
        batch_op.drop_index(batch_op.f("ix_recordings_duration_ms"))
        batch_op.drop_index("ix_recordings_channel_number_started_at")
        batch_op.drop_index("ix_recordings_caller_number_started_at")
        batch_op.drop_index("ix_recordings_called_number_started_at")
        batch_op.drop_index("ix_recordings_call_id")
        batch_op.drop_index("ix_recordings_agent_id_started_at")
        batch_op.drop_column("qa_score")
        batch_op.drop_column("archived_at")
        batch_op.drop_column("encrypted")
        batch_op.drop_column("paused_ms")
        batch_op.drop_column("peaks")
        batch_op.drop_column("legs_mismatch_ms")
        batch_op.drop_column("agent_talk_ratio")
        batch_op.drop_column("caller_talk_ratio")
        batch_op.drop_column("silence_ratio")
        batch_op.drop_column("talk_over_ratio")
        batch_op.drop_column("reason")
        batch_op.drop_column("channel_number")
        batch_op.drop_column("trunk")
        batch_op.drop_column("called_number")
        batch_op.drop_column("caller_name")
        batch_op.drop_column("caller_number")
        batch_op.drop_column("direction")
        batch_op.drop_column("queue_id")
        batch_op.drop_column("agent_id")

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("recording_retention_days")
        batch_op.drop_column("record_calls")

    with op.batch_alter_table("dids", schema=None) as batch_op:
        batch_op.drop_column("record_calls")

    with op.batch_alter_table("qa_evaluations", schema=None) as batch_op:
        batch_op.drop_index("ix_qa_evaluations_recording_id")
        batch_op.drop_index("ix_qa_evaluations_queue_id_created_at")
        batch_op.drop_index("ix_qa_evaluations_agent_id_created_at")

    op.drop_table("qa_evaluations")
    op.drop_table("qa_forms")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index("ix_audit_log_action_at")

    op.drop_table("audit_log")
