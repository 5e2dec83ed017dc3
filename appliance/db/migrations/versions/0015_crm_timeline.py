"""crm: indexes that find a customer's timeline by number (calls, voicemail, callbacks, leads)

A customer's timeline (appliance/crm/timeline.py) looks up the forms of its numbers in the
columns caller IDs and lists are stored in: equality on these indexes instead of a scan.
A customer's calls' voicemail is found by the messages' call_id.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 00:10:00
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_calls_caller_number_started_at", "calls", ["caller_number", "started_at"]),
    ("ix_calls_called_number_started_at", "calls", ["called_number", "started_at"]),
    ("ix_voicemails_caller_number_received_at", "voicemails", ["caller_number", "received_at"]),
    ("ix_voicemails_call_id", "voicemails", ["call_id"]),
    ("ix_callbacks_number_requested_at", "callbacks", ["number", "requested_at"]),
    ("ix_leads_number", "leads", ["number"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
