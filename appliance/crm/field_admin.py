"""The customers' custom field definitions as an admin keeps them (the customer_fields
table; appliance/crm/customer_store.py reads the active ones to check values).

A field is added or changed, never deleted: one no longer wanted is made inactive, and the
values customers hold for it stay in their JSON, unshown, until it is made active again. A
field's key and kind never change once it exists (its values are stored under the key, in
the kind's form): a new field is the way to a new kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.crm.fields import FieldDef, FieldErrors, check_def
from appliance.db import model
from appliance.db.components import utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

MAX_FIELDS = 100
POSITION_LIMIT = 10_000


@dataclass(frozen=True)
class FieldRow:
    id: int
    definition: FieldDef
    position: int
    active: bool


class FieldAdmin:
    def __init__(self, db: DBConnector) -> None:
        self.db = db

    def rows(self) -> defer.Deferred[list[FieldRow]]:
        """Every definition, the inactive ones too, in their order."""
        return self.db.run(field_rows)

    def save(
        self,
        actor: str,
        field_id: int | None,
        definition: FieldDef,
        position: int = 0,
        active: bool = True,
    ) -> defer.Deferred[int]:
        """Add a field (``field_id`` None) or change one: its label, choices, required,
        position and active. FieldErrors keyed key, label, kind, choices, position."""
        return defer.ensureDeferred(self._save(actor, field_id, definition, position, active))

    async def _save(
        self, actor: str, field_id: int | None, definition: FieldDef, position: int, active: bool
    ) -> int:
        check_def(definition)
        if not -POSITION_LIMIT <= position <= POSITION_LIMIT:
            raise FieldErrors({"position": N_("a whole number from -10000 to 10000")})
        saved: int = await self.db.run(
            lambda conn: save_field(conn, field_id, definition, position, active)
        )
        await self.db.audit.add(
            actor,
            "customer.field." + ("add" if field_id is None else "save"),
            f"customer field {definition.key}",
            {"kind": definition.kind, "active": active},
        )
        return saved


def field_rows(conn: Connection) -> list[FieldRow]:
    f = model.customer_fields
    out = []
    for r in conn.execute(sa.select(f).order_by(f.c.position, f.c.id)):
        try:
            choices = tuple(str(x) for x in json.loads(r.choices or "[]"))
        except ValueError:
            choices = ()
        definition = FieldDef(r.key, r.label, r.kind, choices, bool(r.required))
        out.append(FieldRow(r.id, definition, r.position, bool(r.active)))
    return out


def save_field(
    conn: Connection, field_id: int | None, d: FieldDef, position: int, active: bool
) -> int:
    f = model.customer_fields
    values = {
        "label": d.label.strip(),
        "choices": json.dumps(list(d.choices), ensure_ascii=False),
        "required": d.required,
        "position": position,
        "active": active,
    }
    if field_id is None:
        if conn.execute(sa.select(f.c.id).where(f.c.key == d.key)).first() is not None:
            raise FieldErrors({"key": N_("a field with this key exists already")})
        count = conn.execute(sa.select(sa.func.count()).select_from(f)).scalar_one()
        if count >= MAX_FIELDS:
            raise FieldErrors({"key": N_("at most {n} fields", n=MAX_FIELDS)})
        result = conn.execute(
            f.insert().values(key=d.key, kind=d.kind, created_at=utcnow(), **values)
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])
    row = conn.execute(sa.select(f.c.key, f.c.kind).where(f.c.id == field_id)).first()
    if row is None:
        raise FieldErrors({"key": N_("this field no longer exists")})
    if row.key != d.key:
        raise FieldErrors({"key": N_("a field's key cannot change (its values are kept by it)")})
    if row.kind != d.kind:
        raise FieldErrors({"kind": N_("a field's kind cannot change: add a new field")})
    conn.execute(f.update().where(f.c.id == field_id).values(**values))
    return field_id
