"""ACD: queue members, callbacks, overflow targets, announcements

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 21:26:09.438932
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requested_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="queue", nullable=False),
        sa.Column("state", sa.String(length=16), server_default="waiting", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("done_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('waiting', 'dialing', 'done', 'failed', 'cancelled')",
            name=op.f("ck_callbacks_state"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_callbacks_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_callbacks_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_callbacks_state_queue_id", ["state", "queue_id"], unique=False)

    op.create_table(
        "queue_members",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("penalty", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_queue_members_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_members_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "agent_id", name=op.f("pk_queue_members")),
    )
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overflow_kind", sa.String(length=16), server_default="queue", nullable=False)
        )
        batch_op.add_column(
            sa.Column("overflow_target", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("join_empty", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("announce_every_s", sa.Integer(), server_default="45", nullable=False)
        )
        batch_op.add_column(
            sa.Column("announce_position", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("moh_class", sa.String(length=32), server_default="default", nullable=False)
        )
        batch_op.add_column(
            sa.Column("callback_key", sa.String(length=1), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("voicemail_key", sa.String(length=1), server_default="2", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_queues_overflow_kind"),
            "overflow_kind IN ('hangup', 'queue', 'voicemail', 'extension')",
        )


def downgrade() -> None:
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_queues_overflow_kind"), type_="check")
        batch_op.drop_column("voicemail_key")
        batch_op.drop_column("callback_key")
        batch_op.drop_column("moh_class")
        batch_op.drop_column("announce_position")
        batch_op.drop_column("announce_every_s")
        batch_op.drop_column("join_empty")
        batch_op.drop_column("overflow_target")
        batch_op.drop_column("overflow_kind")

    op.drop_table("queue_members")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_callbacks_state_queue_id")

    op.drop_table("callbacks")
