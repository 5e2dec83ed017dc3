"""crm: customers with several numbers, custom fields, merge and erasure

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:50:00
"""

import re

import sqlalchemy as sa
from alembic import op

import appliance.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_CHUNK = 5000
# The lookup key as appliance/crm/numbers.match_key made it when this migration was written
# (frozen here: a migration must do tomorrow what it did today), with the default [crm]
# country code 86 and trunk prefix 0.
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF1A)}
_DROP = str.maketrans(
    {
        **_FULL_WIDTH,
        **{ord(c): None for c in " \t\u00a0\u3000-\u2010\u2011\u2012\u2013\u2014\u2212.()"},
    }
)
_NUMBER = re.compile(r"\+?[0-9]{3,20}")


def match_key(raw: str) -> str | None:
    number = raw.translate(_DROP).lstrip("'")
    if not _NUMBER.fullmatch(number):
        return None
    if number.startswith("00"):
        number = "+" + number[2:]
    if number.startswith("+86"):
        national = number[3:]
    elif number.startswith("+"):
        return number if number[1:2] != "0" else None
    else:
        national = number
    national = national[1:] if national.startswith("0") else national
    return national or None


def upgrade() -> None:
    op.create_table(
        "customer_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.Text(), server_default="[]", nullable=False),
        sa.Column("required", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", appliance.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('text', 'number', 'date', 'choice')", name=op.f("ck_customer_fields_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_fields")),
        sa.UniqueConstraint("key", name=op.f("uq_customer_fields_key")),
    )
    op.create_table(
        "customer_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("match", sa.String(length=24), nullable=False),
        sa.Column("label", sa.String(length=32), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_numbers_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_numbers")),
        sa.UniqueConstraint(
            "customer_id", "match", name=op.f("uq_customer_numbers_customer_id_match")
        ),
    )
    with op.batch_alter_table("customer_numbers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_numbers_match"), ["match"], unique=False)

    # Classes were free text: the known ones kept (any case), everything else normal.
    op.execute(
        "UPDATE customers SET customer_class = CASE"
        " WHEN lower(trim(customer_class)) IN ('vip', 'key_account')"
        " THEN lower(trim(customer_class)) ELSE 'normal' END"
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fields", sa.Text(), server_default="{}", nullable=False))
        batch_op.add_column(
            sa.Column("updated_at", appliance.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("erased_at", appliance.db.types.UTCDateTime(), nullable=True))
        batch_op.alter_column(
            "customer_class",
            existing_type=sa.String(length=32),
            server_default="normal",
            existing_nullable=False,
        )
        batch_op.create_check_constraint(
            op.f("ck_customers_customer_class"),
            "customer_class IN ('normal', 'vip', 'key_account')",
        )

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_customer_id"), ["customer_id"], unique=False)

    _move_numbers()
    # Read above, then gone: customer_numbers holds every number now. Not by a batch's copy
    # of the table on SQLite: dropping the old customers table would cascade to the
    # customer_numbers rows just written (foreign keys are on); SQLite (3.35+) drops a
    # column that no index or constraint names in place.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_number"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE customers DROP COLUMN number")
    else:
        op.drop_column("customers", "number")


def _move_numbers() -> None:
    """Every customer's old ``number`` becomes its first row in customer_numbers (with the
    box's default country: [crm] country_code 86, trunk prefix 0). A value that is no number
    (unfound by the trunks' caller IDs as it stays unfound) is kept on a line of its own at
    the end of the customer's note, as far as the note's 1,000 characters allow."""
    conn = op.get_bind()
    customers = sa.table(
        "customers",
        sa.column("id", sa.Integer),
        sa.column("number", sa.String),
        sa.column("note", sa.String),
    )
    numbers = sa.table(
        "customer_numbers",
        sa.column("customer_id", sa.Integer),
        sa.column("number", sa.String),
        sa.column("match", sa.String),
        sa.column("label", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(customers.c.id, customers.c.number, customers.c.note)
            .where((customers.c.id > last) & (customers.c.number != ""))
            .order_by(customers.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        moved = []
        for r in rows:
            key = match_key(r.number)
            if key is not None:
                moved.append({"customer_id": r.id, "number": r.number, "match": key, "label": ""})
            elif r.number.strip():
                note = f"{r.note}\n{r.number}" if r.note else r.number
                conn.execute(
                    customers.update().where(customers.c.id == r.id).values(note=note[:1000])
                )
        if moved:
            conn.execute(numbers.insert(), moved)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_customer_id"))
        batch_op.drop_column("customer_id")

    # The old column held one number: the first one goes back.
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("number", sa.String(length=32), server_default="", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_customers_number"), ["number"], unique=False)
    op.execute(
        "UPDATE customers SET number = (SELECT n.number FROM customer_numbers n"
        " WHERE n.customer_id = customers.id ORDER BY n.id LIMIT 1)"
        " WHERE EXISTS (SELECT 1 FROM customer_numbers n WHERE n.customer_id = customers.id)"
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_customers_customer_class"), type_="check")
        batch_op.alter_column(
            "customer_class",
            existing_type=sa.String(length=32),
            server_default="",
            existing_nullable=False,
        )
        batch_op.drop_column("erased_at")
        batch_op.drop_column("merged_into")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("fields")

    with op.batch_alter_table("customer_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_numbers_match"))
    op.drop_table("customer_numbers")
    op.drop_table("customer_fields")
