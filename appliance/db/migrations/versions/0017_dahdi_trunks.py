"""dahdi: a call's trunk group and channel (calls.trunk_group, calls.trunk_channel), copied
to its recording (recordings.trunk_group; recordings.channel_number was there) and searched

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place (no batch copy of a large table): a column with a constant default
    # and no constraint is an ALTER TABLE on both databases.
    op.add_column(
        "calls", sa.Column("trunk_group", sa.String(length=32), server_default="", nullable=False)
    )
    op.add_column("calls", sa.Column("trunk_channel", sa.Integer(), nullable=True))
    op.add_column(
        "recordings",
        sa.Column("trunk_group", sa.String(length=32), server_default="", nullable=False),
    )
    op.create_index(
        op.f("ix_recordings_trunk_group_channel_number_started_at"),
        "recordings",
        ["trunk_group", "channel_number", "started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_recordings_trunk_group_channel_number_started_at"), table_name="recordings"
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_column("trunk_group")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("trunk_channel")
        batch_op.drop_column("trunk_group")
