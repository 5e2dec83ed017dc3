"""sms: the GSM modem channel's outbox on crm_messages, the parts' delivery reports, SMS tickets

crm_messages gets the outbox's attempts, next attempt time and delivery time, and the states
delivered and undeliverable; sms_parts holds each sent part's message reference and its
delivery report; a ticket's source may be "sms".

Widening a CHECK constraint: PostgreSQL drops and adds it. SQLite cannot alter one, and a
batch copy of ``tickets`` would drop the table under foreign keys that cascade (every
ticket's history and attachments would go), so SQLite's stored CREATE TABLE text is edited
in place as https://www.sqlite.org/lang_altertable.html ("Making Other Kinds Of Table Schema
Changes") documents for loosening a constraint: the rows are not touched.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:30:00
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD_SOURCES = "source IN ('phone', 'voicemail', 'ivr', 'web', 'manual')"
NEW_SOURCES = "source IN ('phone', 'voicemail', 'ivr', 'web', 'manual', 'sms')"
OLD_STATES = "state IN ('queued', 'sent', 'failed', 'waiting_for_modem')"
NEW_STATES = (
    "state IN ('queued', 'sent', 'failed', 'waiting_for_modem', 'delivered', 'undeliverable')"
)
CHECKS = (
    ("tickets", "ck_tickets_source", OLD_SOURCES, NEW_SOURCES),
    ("crm_messages", "ck_crm_messages_state", OLD_STATES, NEW_STATES),
)


def _sqlite_check(table: str, old: str, new: str) -> None:
    conn = op.get_bind()
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if old not in sql:
        raise RuntimeError(f"{table}: its CHECK constraint is not {old!r}")
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
        (sql.replace(old, new), table),
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    # As the SQLite page says: check the edited table (its rows against the new CHECK, the
    # new text parses); a failure raises and the migration's transaction rolls it back.
    problems = conn.exec_driver_sql(f'PRAGMA quick_check("{table}")').scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"{table}: the database's check failed after 0016: {problems[:5]}")


def _checks(upgrade: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, name, old, new in CHECKS:
        before, after = (old, new) if upgrade else (new, old)
        if sqlite:
            _sqlite_check(table, before, after)
        else:
            op.drop_constraint(op.f(name), table, type_="check")
            op.create_check_constraint(op.f(name), table, after)


def upgrade() -> None:
    _checks(upgrade=True)
    with op.batch_alter_table("crm_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("next_attempt_at", appliance.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("delivered_at", appliance.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            "ix_crm_messages_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_crm_messages_address_at", ["address", "at"], unique=False)
    op.create_table(
        "sms_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="sent", nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("sent_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.Column("reported_at", appliance.db.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('sent', 'delivered', 'undeliverable')", name=op.f("ck_sms_parts_state")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["crm_messages.id"],
            name=op.f("fk_sms_parts_message_id_crm_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_parts")),
    )
    op.create_index(op.f("ix_sms_parts_message_id"), "sms_parts", ["message_id"], unique=False)
    op.create_index(
        "ix_sms_parts_reference_state", "sms_parts", ["reference", "state"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sms_parts_reference_state", table_name="sms_parts")
    op.drop_index(op.f("ix_sms_parts_message_id"), table_name="sms_parts")
    op.drop_table("sms_parts")
    op.execute("UPDATE crm_messages SET state = 'sent' WHERE state = 'delivered'")
    op.execute("UPDATE crm_messages SET state = 'failed' WHERE state = 'undeliverable'")
    op.execute("UPDATE tickets SET source = 'manual' WHERE source = 'sms'")
    with op.batch_alter_table("crm_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_messages_address_at")
        batch_op.drop_index("ix_crm_messages_state_next_attempt_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
    _checks(upgrade=False)
