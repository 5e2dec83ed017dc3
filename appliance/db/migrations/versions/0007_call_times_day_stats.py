"""calls: agent answer and talk time, uniqueid no longer unique; queue day stats

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 07:30:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("agent_answered_at", appliance.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("talk_ms", sa.Integer(), nullable=True))
        # Asterisk's uniqueids may repeat after a restart within a second.
        batch_op.drop_constraint("uq_calls_uniqueid", type_="unique")
        batch_op.create_index(batch_op.f("ix_calls_uniqueid"), ["uniqueid"], unique=False)

    op.create_table(
        "queue_day_stats",
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("offered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("answered_in_sl", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("abandoned_after_sl", sa.Integer(), server_default="0", nullable=False),
        sa.Column("overflowed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("callbacks", sa.Integer(), server_default="0", nullable=False),
        sa.Column("wait_answered_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("talk_s", sa.Float(), server_default="0", nullable=False),
        sa.Column("updated_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_day_stats_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("queue_id", "day", name=op.f("pk_queue_day_stats")),
    )


def downgrade() -> None:
    op.drop_table("queue_day_stats")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_uniqueid"))
        batch_op.create_unique_constraint("uq_calls_uniqueid", ["uniqueid"])
        batch_op.drop_column("talk_ms")
        batch_op.drop_column("agent_answered_at")
