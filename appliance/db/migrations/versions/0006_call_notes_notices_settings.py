"""call notes, notices, settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 16:52:15.882952
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("updated_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("level", sa.String(length=16), server_default="info", nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("level IN ('info', 'warning', 'urgent')", name=op.f("ck_notices_level")),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_notices_queue_id_queues"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "call_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("disposition", sa.String(length=32), server_default="", nullable=False),
        sa.Column("notes", sa.String(length=4000), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_call_notes_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_notes_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_notes")),
    )
    with op.batch_alter_table("call_notes", schema=None) as batch_op:
        batch_op.create_index("ix_call_notes_call_id", ["call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_call_notes_call_id")

    op.drop_table("call_notes")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_expires_at"))

    op.drop_table("notices")
    op.drop_table("settings")
