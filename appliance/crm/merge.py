"""Merging a duplicate customer into the one that stays (the survivor).

Timeline items point at a customer through a ``customer_id`` column: the merge re-points
that column in every table of :data:`CUSTOMER_REFERENCES` (tables of later migrations add
their names here), moves the numbers, and leaves the duplicate as a row that points to the
survivor (``merged_into``), so an old link to it still finds the survivor. Items found by
the customer's numbers (recordings, voicemail, callbacks) follow the numbers.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.crm.fields import stored_values
from appliance.db import model
from appliance.db.components import utcnow

# Every table whose ``customer_id`` column points at a customer (the tickets' and messages'
# tables add themselves here). A name whose table is not in the model yet is skipped.
CUSTOMER_REFERENCES: tuple[str, ...] = ("calls", "tickets", "crm_messages")
# The higher class wins (a VIP merged with a normal record stays a VIP).
_CLASS_RANK = {"normal": 0, "key_account": 1, "vip": 2}


def merge_rows(conn: Connection, survivor_id: int, duplicate_id: int) -> dict[str, int]:
    """Merge in one transaction (both must be live: the caller checked). Returns how many
    rows moved, by table."""
    c, n = model.customers, model.customer_numbers
    keep, dup = (
        conn.execute(sa.select(c).where(c.c.id == i)).one() for i in (survivor_id, duplicate_id)
    )
    moved: dict[str, int] = {}
    # numbers: the duplicate's that the survivor lacks move; the others go
    have = set(conn.execute(sa.select(n.c.match).where(n.c.customer_id == survivor_id)).scalars())
    extra = conn.execute(
        n.update()
        .where((n.c.customer_id == duplicate_id) & n.c.match.not_in(have or {""}))
        .values(customer_id=survivor_id)
    ).rowcount
    conn.execute(n.delete().where(n.c.customer_id == duplicate_id))
    moved["customer_numbers"] = extra
    for name in CUSTOMER_REFERENCES:
        table = model.metadata.tables.get(name)
        if table is None or "customer_id" not in table.c:
            continue
        moved[name] = conn.execute(
            table.update()
            .where(table.c.customer_id == duplicate_id)
            .values(customer_id=survivor_id)
        ).rowcount
    # customers merged into the duplicate before now point at the survivor
    conn.execute(c.update().where(c.c.merged_into == duplicate_id).values(merged_into=survivor_id))
    # the survivor's empty values are filled from the duplicate's; its own stay
    fields = {**stored_values(dup.fields), **stored_values(keep.fields)}
    changes: dict[str, object] = {
        k: getattr(dup, k)
        for k in ("name", "email", "account", "note")
        if not getattr(keep, k) and getattr(dup, k)
    }
    if _CLASS_RANK.get(dup.customer_class, 0) > _CLASS_RANK.get(keep.customer_class, 0):
        changes["customer_class"] = dup.customer_class
    now = utcnow()
    conn.execute(
        c.update()
        .where(c.c.id == survivor_id)
        .values(
            **changes,
            fields=json.dumps(fields, ensure_ascii=False, sort_keys=True),
            updated_at=now,
        )
    )
    conn.execute(
        c.update().where(c.c.id == duplicate_id).values(merged_into=survivor_id, updated_at=now)
    )
    return moved
