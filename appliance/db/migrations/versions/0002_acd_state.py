"""ACD: agent states and events, number lists, queue limits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 18:57:17.174910
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "number_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("note", sa.String(length=255), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('black', 'red')", name=op.f("ck_number_lists_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_lists")),
        sa.UniqueConstraint("number", "kind", name=op.f("uq_number_lists_number_kind")),
    )
    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_events_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
    )
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.create_index("ix_agent_events_agent_id_at", ["agent_id", "at"], unique=False)

    op.create_table(
        "agent_states",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), server_default="", nullable=False),
        sa.Column("since", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('logged_out', 'available', 'ringing', 'on_call', 'wrap_up', 'paused')",
            name=op.f("ck_agent_states_state"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_agent_states_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_states")),
    )
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_len", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("overflow_queue_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("auto_pause_misses", sa.Integer(), server_default="3", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_queues_overflow_queue_id_queues"),
            "queues",
            ["overflow_queue_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:

    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_queues_overflow_queue_id_queues"), type_="foreignkey"
        )
        batch_op.drop_column("auto_pause_misses")
        batch_op.drop_column("overflow_queue_id")
        batch_op.drop_column("max_len")

    op.drop_table("agent_states")
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_events_agent_id_at")

    op.drop_table("agent_events")
    op.drop_table("number_lists")
