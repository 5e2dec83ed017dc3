"""backups: the archives the daemon wrote, a scheduled one's period claimed once

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:30:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=True),
        sa.Column("started_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("file_name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("detail", sa.String(length=500), server_default="", nullable=False),
        sa.Column("requested_by", sa.String(length=64), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backups")),
        sa.UniqueConstraint("period", name=op.f("uq_backups_period")),
    )


def downgrade() -> None:
    op.drop_table("backups")
