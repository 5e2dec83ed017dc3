"""IVR: flow versions, prompts, mailboxes, customers, lookup records

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 23:39:06.189391
"""

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), server_default="", nullable=False),
        sa.Column("account", sa.String(length=64), server_default="", nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("customer_class", sa.String(length=32), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("note", sa.String(length=1000), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customers_account"), ["account"], unique=False)
        batch_op.create_index(batch_op.f("ix_customers_number"), ["number"], unique=False)

    op.create_table(
        "lookup_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), server_default="{}", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lookup_records")),
        sa.UniqueConstraint("book", "key", name=op.f("uq_lookup_records_book_key")),
    )
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), server_default="", nullable=False),
        sa.Column("owner_kind", sa.String(length=16), server_default="department", nullable=False),
        sa.Column("owner", sa.String(length=64), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), server_default="", nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=True),
        sa.Column("greeting", sa.String(length=64), server_default="", nullable=False),
        sa.Column("max_message_s", sa.Integer(), server_default="120", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "owner_kind IN ('agent', 'queue', 'department')", name=op.f("ck_mailboxes_owner_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("number", name=op.f("uq_mailboxes_number")),
    )
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), server_default="", nullable=False),
        sa.Column("language", sa.String(length=8), server_default="", nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("duration_ms", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sha256", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "source IN ('upload', 'recorded', 'tts')", name=op.f("ck_prompts_source")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompts")),
        sa.UniqueConstraint("name", name=op.f("uq_prompts_name")),
    )
    op.create_table(
        "ivr_flow_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("graph", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), server_default="", nullable=False),
        sa.Column("note", sa.String(length=255), server_default="", nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["ivr_flows.id"],
            name=op.f("fk_ivr_flow_versions_flow_id_ivr_flows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_flow_versions")),
        sa.UniqueConstraint(
            "flow_id", "version", name=op.f("uq_ivr_flow_versions_flow_id_version")
        ),
    )
    with op.batch_alter_table("ivr_flows", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("updated_by", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("published_version", sa.Integer(), nullable=True))

    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("forwarded_from", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="message", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("voicemails", schema=None) as batch_op:
        batch_op.drop_column("kind")
        batch_op.drop_column("forwarded_from")

    with op.batch_alter_table("ivr_flows", schema=None) as batch_op:
        batch_op.drop_column("published_version")
        batch_op.drop_column("updated_by")

    op.drop_table("ivr_flow_versions")
    op.drop_table("prompts")
    op.drop_table("mailboxes")
    op.drop_table("lookup_records")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_number"))
        batch_op.drop_index(batch_op.f("ix_customers_account"))

    op.drop_table("customers")
