"""chat visitors: the web chat's visitor sessions kept across a restart

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 18:40:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_visitors",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), server_default="", nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("language", sa.String(length=8), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_chat_visitors_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_chat_visitors")),
    )
    with op.batch_alter_table("chat_visitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chat_visitors_conversation_id"), ["conversation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("chat_visitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_visitors_conversation_id"))

    op.drop_table("chat_visitors")
