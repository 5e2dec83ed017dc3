"""crm: tickets (work orders), SLA rules, escalation, messages to customers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 23:50:00
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
