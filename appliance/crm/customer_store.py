"""Customers: found by any of their numbers (the screen pop, the IVR), created, changed,
searched, merged with their duplicates and erased on request.

Every method runs its SQL in the database pool (``db.run``) and hands back plain frozen
:class:`Customer` values. Every text is attacker-controlled (forms, imports, caller IDs):
checked and bounded here, stored as given, escaped by whoever shows it. A change writes an
audit row that names the customer by id only, never its personal data.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.crm.fields import FieldDef, FieldErrors, clean_values
from appliance.crm.numbers import display_number, match_key
from appliance.db import model
from appliance.db.components import utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

NAME_MAX = 128
ACCOUNT_MAX = 64
EMAIL_MAX = 254
NOTE_MAX = 1000
NUMBERS_MAX = 20
# How many merges a get() follows (a chain is short: merge re-points the older ones).
_FOLLOW_MAX = 8
_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# What update() may change (numbers and fields are replaced whole).
CHANGEABLE = ("name", "customer_class", "email", "account", "note", "numbers", "fields")


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    customer_class: str
    account: str
    email: str
    note: str
    numbers: tuple[str, ...]
    fields: dict[str, str]
    created_at: dt.datetime


class CustomerNotFound(LookupError):
    """No such customer (or it was erased)."""


@dataclass(frozen=True)
class _Values:
    """The checked standard values of a create or an update (None: unchanged)."""

    values: dict[str, Any]
    numbers: list[tuple[str, str]] | None  # (number for display, match key)
    fields: Mapping[str, object] | None


class CustomerStore:
    def __init__(self, db: DBConnector, country_code: str = "86", trunk_prefix: str = "0") -> None:
        self.db = db
        self.country_code = country_code
        self.trunk_prefix = trunk_prefix

    def key(self, raw: str) -> str | None:
        """The lookup key of a number with this box's country and trunk prefix."""
        return match_key(raw, self.country_code, self.trunk_prefix)

    # ---- reading ----------------------------------------------------------------------------

    def by_number(self, raw: str) -> defer.Deferred[Customer | None]:
        """The customer with this number in any format (the oldest when several share it);
        None for no number (withheld, ``anonymous``, markup) or no customer. One indexed
        query."""
        key = self.key(raw)
        if key is None:
            return defer.succeed(None)
        return self.db.run(lambda conn: _by_key(conn, key))

    def get(self, customer_id: int) -> defer.Deferred[Customer | None]:
        """The customer, or the one it was merged into; None if unknown or erased."""
        return self.db.run(lambda conn: _get(conn, customer_id))

    def field_defs(self, active_only: bool = True) -> defer.Deferred[list[FieldDef]]:
        """The custom fields an admin defined, in their order."""
        return self.db.run(lambda conn: _field_defs(conn, active_only))

    # ---- writing ----------------------------------------------------------------------------

    def create(
        self,
        actor: str,
        name: str,
        numbers: Sequence[str],
        customer_class: str = "normal",
        email: str = "",
        account: str = "",
        note: str = "",
        fields: Mapping[str, object] | None = None,
    ) -> defer.Deferred[int]:
        """A new customer's id. Fails with :class:`FieldErrors` for every bad value at once
        (keys: name, customer_class, email, account, note, numbers, ``fields.<key>``)."""
        return defer.ensureDeferred(
            self._create(actor, name, numbers, customer_class, email, account, note, fields)
        )

    async def _create(
        self,
        actor: str,
        name: str,
        numbers: Sequence[str],
        customer_class: str,
        email: str,
        account: str,
        note: str,
        fields: Mapping[str, object] | None,
    ) -> int:
        checked = self._check(
            {
                "name": name,
                "customer_class": customer_class,
                "email": email,
                "account": account,
                "note": note,
                "numbers": numbers,
                "fields": fields or {},
            }
        )
        values = checked.values
        if not values["name"] and not checked.numbers:
            raise FieldErrors({"name": N_("a customer needs a name or a number")})

        def thd(conn: Connection) -> int:
            cleaned = _clean_fields(conn, checked.fields or {})
            now = utcnow()
            first = checked.numbers[0][0] if checked.numbers else ""
            result = conn.execute(
                model.customers.insert().values(
                    **values,
                    number=first,
                    fields=json.dumps(cleaned, ensure_ascii=False, sort_keys=True),
                    created_at=now,
                    updated_at=now,
                )
            )
            pk = result.inserted_primary_key
            assert pk is not None
            customer_id = int(pk[0])
            _add_numbers(conn, customer_id, checked.numbers or [])
            return customer_id

        customer_id: int = await self.db.run(thd)
        await self.db.audit.add(actor, "customer.create", f"customer {customer_id}")
        return customer_id

    # ---- checks -----------------------------------------------------------------------------

    def _check(self, raw: Mapping[str, object]) -> _Values:
        """The standard values of ``raw`` checked (custom fields are checked in the
        transaction, against the definitions it reads). Raises :class:`FieldErrors`."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key, limit in (
            ("name", NAME_MAX),
            ("email", EMAIL_MAX),
            ("account", ACCOUNT_MAX),
            ("note", NOTE_MAX),
        ):
            if key not in raw:
                continue
            value = raw[key]
            if not isinstance(value, str):
                errors[key] = N_("not text")
                continue
            value = value.strip()
            if len(value) > limit:
                errors[key] = N_("at most {max} characters", max=limit)
            elif _CONTROL.search(value) or (key != "note" and "\n" in value):
                errors[key] = N_("contains control characters")
            elif key == "email" and value and not _EMAIL.fullmatch(value):
                errors[key] = N_("not an e-mail address")
            else:
                values[key] = value
        if "customer_class" in raw:
            cls = raw["customer_class"]
            if cls not in model.CUSTOMER_CLASSES:
                errors["customer_class"] = N_("not a customer class")
            else:
                values["customer_class"] = cls
        numbers: list[tuple[str, str]] | None = None
        if "numbers" in raw:
            try:
                numbers = self._numbers(raw["numbers"])
            except ValueError as exc:
                errors["numbers"] = exc.args[0]
        fields: Mapping[str, object] | None = None
        if "fields" in raw:
            given = raw["fields"]
            if not isinstance(given, Mapping):
                errors["fields"] = N_("not a set of fields")
            else:
                fields = given
        if errors:
            raise FieldErrors(errors)
        return _Values(values, numbers, fields)

    def _numbers(self, raw: object) -> list[tuple[str, str]]:
        """(display form, key) of each number, the first of each key kept, in order."""
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            raise ValueError(N_("not a list of numbers"))
        items = list(raw)
        if len(items) > NUMBERS_MAX:
            raise ValueError(N_("at most {max} numbers", max=NUMBERS_MAX))
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, str):
                raise ValueError(N_("not a list of numbers"))
            if not item.strip():
                continue
            shown = display_number(item)  # raises ValueError with the reason
            key = self.key(shown)
            if key is None or len(shown) > 32:
                raise ValueError(N_("{number} is not a phone number", number=item[:40]))
            if key not in seen:
                seen.add(key)
                out.append((shown, key))
        return out


# ---- SQL (in the pool) -----------------------------------------------------------------------


def _customer(r: Any, numbers: tuple[str, ...]) -> Customer:
    try:
        fields = json.loads(r.fields or "{}")
    except ValueError:
        fields = {}
    return Customer(
        id=r.id,
        name=r.name,
        customer_class=r.customer_class,
        account=r.account,
        email=r.email,
        note=r.note,
        numbers=numbers,
        fields={str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {},
        created_at=r.created_at,
    )


_COLUMNS = ("id", "name", "customer_class", "account", "email", "note", "fields", "created_at")


def _by_key(conn: Connection, key: str) -> Customer | None:
    c, n1, n2 = model.customers, model.customer_numbers, model.customer_numbers.alias("n2")
    rows = conn.execute(
        sa.select(*(c.c[k] for k in _COLUMNS), n2.c.number.label("n"))
        .select_from(n1.join(c, c.c.id == n1.c.customer_id).join(n2, n2.c.customer_id == c.c.id))
        .where(n1.c.match == key)
        .where(c.c.merged_into.is_(None) & c.c.erased_at.is_(None))
        .order_by(c.c.id, n2.c.id)
    ).all()
    if not rows:
        return None
    first = rows[0].id
    return _customer(rows[0], tuple(r.n for r in rows if r.id == first))


def _load(conn: Connection, ids: Sequence[int]) -> dict[int, Customer]:
    """The customers of ``ids`` (as stored: no merge followed) with their numbers."""
    if not ids:
        return {}
    c, n = model.customers, model.customer_numbers
    numbers: dict[int, list[str]] = {}
    for r in conn.execute(
        sa.select(n.c.customer_id, n.c.number).where(n.c.customer_id.in_(ids)).order_by(n.c.id)
    ):
        numbers.setdefault(r.customer_id, []).append(r.number)
    rows = conn.execute(sa.select(*(c.c[k] for k in _COLUMNS)).where(c.c.id.in_(ids))).all()
    return {r.id: _customer(r, tuple(numbers.get(r.id, ()))) for r in rows}


def _live_id(conn: Connection, customer_id: int) -> int | None:
    """``customer_id``, or the survivor it was merged into; None if unknown or erased."""
    c = model.customers
    for _ in range(_FOLLOW_MAX):
        r = conn.execute(
            sa.select(c.c.merged_into, c.c.erased_at).where(c.c.id == customer_id)
        ).first()
        if r is None or r.erased_at is not None:
            return None
        if r.merged_into is None:
            return customer_id
        customer_id = r.merged_into
    return None


def _get(conn: Connection, customer_id: int) -> Customer | None:
    live = _live_id(conn, customer_id)
    if live is None:
        return None
    return _load(conn, [live]).get(live)


def _field_defs(conn: Connection, active_only: bool) -> list[FieldDef]:
    f = model.customer_fields
    q = sa.select(f).order_by(f.c.position, f.c.id)
    if active_only:
        q = q.where(f.c.active.is_(True))
    out = []
    for r in conn.execute(q):
        try:
            choices = tuple(str(x) for x in json.loads(r.choices or "[]"))
        except ValueError:
            choices = ()
        out.append(FieldDef(r.key, r.label, r.kind, choices, bool(r.required)))
    return out


def _clean_fields(conn: Connection, raw: Mapping[str, object]) -> dict[str, str]:
    """Custom field values checked against the active definitions; errors keyed
    ``fields.<key>``."""
    try:
        return clean_values(_field_defs(conn, True), raw)
    except FieldErrors as exc:
        raise FieldErrors({f"fields.{k}": v for k, v in exc.errors.items()}) from None


def _add_numbers(conn: Connection, customer_id: int, numbers: Sequence[tuple[str, str]]) -> None:
    if numbers:
        conn.execute(
            model.customer_numbers.insert(),
            [
                {"customer_id": customer_id, "number": shown, "match": key, "label": ""}
                for shown, key in numbers
            ],
        )
