"""reports: scheduled reports e-mailed daily, weekly or monthly

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=12), server_default="center", nullable=False),
        sa.Column("key", sa.String(length=64), server_default="", nullable=False),
        sa.Column("range_kind", sa.String(length=8), nullable=False),
        sa.Column("every", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=4), nullable=False),
        sa.Column("recipients", sa.String(length=1000), nullable=False),
        sa.Column("locale", sa.String(length=8), server_default="en", nullable=False),
        sa.Column("last_period", sa.String(length=16), server_default="", nullable=False),
        sa.Column("last_sent_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "scope IN ('center', 'queue', 'skill', 'agent', 'department', 'did', 'flow',"
            " 'campaign')",
            name=op.f("ck_report_schedules_scope"),
        ),
        sa.CheckConstraint(
            "range_kind IN ('day', 'week', 'month')", name=op.f("ck_report_schedules_range_kind")
        ),
        sa.CheckConstraint(
            "every IN ('daily', 'weekly', 'monthly')", name=op.f("ck_report_schedules_every")
        ),
        sa.CheckConstraint(
            "format IN ('csv', 'xlsx', 'pdf')", name=op.f("ck_report_schedules_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedules")),
        sa.UniqueConstraint("name", name=op.f("uq_report_schedules_name")),
    )


def downgrade() -> None:
    op.drop_table("report_schedules")
