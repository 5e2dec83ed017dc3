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
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance.crm import erasure
from appliance.crm.erasure import Erased, ErasureFiles
from appliance.crm.field_admin import FieldRow, field_rows
from appliance.crm.fields import FieldDef, FieldErrors, clean_values, stored_values
from appliance.crm.merge import merge_rows
from appliance.crm.numbers import display_number, match_key
from appliance.db import model
from appliance.db.components import utcnow
from appliance.email_address import MAX_LENGTH, is_email
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.config import CrmConfig
    from appliance.db.connector import DBConnector

log = Logger(namespace="ccbox.crm")

NAME_MAX = 128
ACCOUNT_MAX = 64
EMAIL_MAX = MAX_LENGTH
NOTE_MAX = 1000
NUMBERS_MAX = 20
SEARCH_MAX = 100
# How many merges a get() follows (a chain is short: merge re-points the older ones).
_FOLLOW_MAX = 8
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Lookups by number_within() at once in the database pool, at most: a late one runs on
# (a query cannot be stopped), so a burst of slow ones would fill the pool (one thread on
# SQLite) ahead of the calls' writes; past it a caller is answered "no customer" at once.
LOOKUPS_MAX = 4
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
    def __init__(
        self,
        db: DBConnector,
        country_code: str = "86",
        trunk_prefix: str = "0",
        *,
        priorities: Mapping[str, int] | None = None,
        files: ErasureFiles | None = None,
        lookups_max: int = LOOKUPS_MAX,
    ) -> None:
        """``priorities``: the least queue priority of a class's calls ([crm]);
        ``files``: what :meth:`erase` removes files with (None: erase refuses);
        ``lookups_max``: :meth:`by_number_within`'s lookups in the pool at once, at most."""
        self.db = db
        self.lookups_max = lookups_max
        self.lookups = 0  # by_number_within()'s queries in the pool (late ones included)
        self._refusing = False  # said once a burst, not once a caller
        self.country_code = country_code
        self.trunk_prefix = trunk_prefix
        self.priorities = dict(priorities or {})
        self.files = files

    @classmethod
    def from_config(
        cls, db: DBConnector, crm: CrmConfig, files: ErasureFiles | None = None
    ) -> CustomerStore:
        return cls(
            db,
            crm.country_code,
            crm.trunk_prefix,
            priorities={"vip": crm.vip_priority, "key_account": crm.key_account_priority},
            files=files,
        )

    def class_priority(self, customer_class: str) -> int:
        """The least queue priority of a class's calls ([crm]; 0 for normal or unknown)."""
        return self.priorities.get(customer_class, 0)

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
        return self.db.read(lambda conn: _by_key(conn, key))

    def by_number_within(
        self, clock: Any, raw: str, timeout_s: float
    ) -> defer.Deferred[Customer | None]:
        """:meth:`by_number`, or None once ``timeout_s`` passed on ``clock`` (a reactor) or
        the database failed: a caller is never held by a slow database. The lookup itself
        runs on; its late answer is dropped. None at once while ``lookups_max`` lookups are
        in the pool still (late ones too): slow lookups never pile up ahead of the calls'
        writes."""
        if self.lookups >= self.lookups_max:
            if not self._refusing:
                self._refusing = True
                log.warn(
                    "{n} customer lookups still in the database: calls go on without",
                    n=self.lookups,
                )
            return defer.succeed(None)
        result: defer.Deferred[Customer | None] = defer.Deferred()

        def give(value: Customer | None) -> None:
            if not result.called:
                result.callback(value)

        def late() -> None:
            log.warn("customer lookup slower than {s} s: the call goes on without", s=timeout_s)
            give(None)

        timer = clock.callLater(timeout_s, late)

        def done(value: Customer | None) -> None:
            if timer.active():
                timer.cancel()
            give(value)

        def failed(failure: Failure) -> None:
            log.failure("customer lookup failed: the call goes on without", failure)
            done(None)

        def finished(value: object) -> object:
            self.lookups -= 1
            self._refusing = False
            return value

        self.lookups += 1
        self.by_number(raw).addBoth(finished).addCallbacks(done, failed)
        return result

    def get(self, customer_id: int) -> defer.Deferred[Customer | None]:
        """The customer, or the one it was merged into; None if unknown or erased."""
        return self.db.run(lambda conn: _get(conn, customer_id))

    def field_defs(self, active_only: bool = True) -> defer.Deferred[list[FieldDef]]:
        """The custom fields an admin defined, in their order."""
        return self.db.run(lambda conn: _field_defs(conn, active_only))

    def search(self, text: str, limit: int = 50, offset: int = 0) -> defer.Deferred[list[Customer]]:
        """Live customers whose name, e-mail or account contains ``text``, or one of whose
        numbers is ``text`` in any format or starts with it; newest first. Empty text: all."""
        text = text.strip()[:SEARCH_MAX] if isinstance(text, str) else ""
        limit, offset = max(1, min(int(limit), 500)), max(0, int(offset))
        key = self.key(text) if text else None
        prefix = text if text.isascii() and text.isdigit() and len(text) >= 3 else None
        return self.db.run(lambda conn: _search(conn, text, key, prefix, limit, offset))

    def duplicates(self, limit: int = 100) -> defer.Deferred[list[tuple[Customer, Customer, str]]]:
        """Pairs of live customers that look like one: the same number, the same e-mail
        (any case), the same name (any case, spaces ignored). The older first; the reason is
        an ``N_`` text."""
        return self.db.run(lambda conn: _duplicates(conn, max(1, min(int(limit), 1000))))

    def rekey(self, batch: int = 5000) -> defer.Deferred[tuple[int, int]]:
        """Every stored number's key made again with this store's rules (after a change of
        ``[crm] country_code`` or ``trunk_prefix``), a batch per transaction. A number that
        now has the key of another number of the same customer goes (it was one number
        written two ways). Returns (keys changed, numbers dropped)."""
        return defer.ensureDeferred(self._rekey(batch))

    async def _rekey(self, batch: int) -> tuple[int, int]:
        changed = dropped = 0
        after = 0
        while True:
            step = await self.db.run(
                partial(
                    _rekey_batch,
                    after=after,
                    batch=batch,
                    country_code=self.country_code,
                    trunk_prefix=self.trunk_prefix,
                )
            )
            if step is None:
                return changed, dropped
            after, c, d = step
            changed, dropped = changed + c, dropped + d

    # ---- the call's customer ----------------------------------------------------------------

    def link_call(self, call_id: int, customer_id: int) -> defer.Deferred[None]:
        """The call's customer, once known (the IVR's lookup); one already written stays.
        Through the calls rows' ordered writes (the row may still be on its way)."""
        c = model.calls.c

        def thd(conn: Connection) -> None:
            conn.execute(
                model.calls.update()
                .where((c.id == call_id) & c.customer_id.is_(None))
                .values(customer_id=customer_id)
            )

        return self.db.backlog.submit(f"call {call_id}: its customer", call_id, thd)

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
            cleaned = _clean_fields(_field_defs(conn, True), checked.fields or {})
            now = utcnow()
            result = conn.execute(
                model.customers.insert().values(
                    **values,
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

    def update(self, actor: str, customer_id: int, **changes: object) -> defer.Deferred[None]:
        """Change some of name, customer_class, email, account, note, numbers (the whole
        list) and fields (the active fields' values; an inactive field's stored value stays).
        A merged customer's survivor is changed. Fails with :class:`FieldErrors` (every bad
        value, unknown keys too) or :class:`CustomerNotFound`."""
        return defer.ensureDeferred(self._update(actor, customer_id, changes))

    async def _update(self, actor: str, customer_id: int, changes: Mapping[str, object]) -> None:
        unknown = {k: N_("unknown field") for k in changes if k not in CHANGEABLE}
        if unknown:
            raise FieldErrors(unknown)
        checked = self._check(changes)

        def thd(conn: Connection) -> int:
            live = _live_id(conn, customer_id)
            if live is None:
                raise CustomerNotFound(N_("no customer {id}", id=customer_id))
            c = model.customers
            values = dict(checked.values)
            if checked.fields is not None:
                values["fields"] = _merged_fields(conn, live, checked.fields)
            if checked.numbers is not None:
                if not checked.numbers:
                    name = values.get("name")
                    if name == "" or (
                        name is None
                        and not conn.execute(sa.select(c.c.name).where(c.c.id == live)).scalar()
                    ):
                        raise FieldErrors({"name": N_("a customer needs a name or a number")})
                _replace_numbers(conn, live, checked.numbers)
            elif values.get("name") == "":
                has = conn.execute(
                    sa.select(model.customer_numbers.c.id)
                    .where(model.customer_numbers.c.customer_id == live)
                    .limit(1)
                ).first()
                if has is None:
                    raise FieldErrors({"name": N_("a customer needs a name or a number")})
            conn.execute(c.update().where(c.c.id == live).values(**values, updated_at=utcnow()))
            return live

        live: int = await self.db.run(thd)
        await self.db.audit.add(
            actor, "customer.update", f"customer {live}", {"changed": sorted(changes)}
        )

    def merge(self, actor: str, survivor_id: int, duplicate_id: int) -> defer.Deferred[None]:
        """Merge ``duplicate_id`` into ``survivor_id``: its numbers, calls and every other
        timeline item (``merge.CUSTOMER_REFERENCES``) now belong to the survivor, whose
        empty values it fills; it then points there. Both must be live and different (else
        :class:`CustomerNotFound` / ValueError)."""
        return defer.ensureDeferred(self._merge(actor, survivor_id, duplicate_id))

    async def _merge(self, actor: str, survivor_id: int, duplicate_id: int) -> None:
        if survivor_id == duplicate_id:
            raise ValueError(N_("a customer cannot be merged into itself"))

        def thd(conn: Connection) -> dict[str, int]:
            c = model.customers
            for i in (survivor_id, duplicate_id):
                r = conn.execute(
                    sa.select(c.c.merged_into, c.c.erased_at).where(c.c.id == i)
                ).first()
                if r is None or r.merged_into is not None or r.erased_at is not None:
                    raise CustomerNotFound(N_("no customer {id}", id=i))
            return merge_rows(conn, survivor_id, duplicate_id)

        moved = await self.db.run(thd)
        await self.db.audit.add(
            actor,
            "customer.merge",
            f"customer {survivor_id}",
            {"duplicate": duplicate_id, "moved": moved},
        )

    def erase(
        self, actor: str, customer_id: int, files: ErasureFiles | None = None, ip: str = ""
    ) -> defer.Deferred[Erased]:
        """Erase the customer's personal data (appliance/crm/erasure.py), its recordings and
        voicemail files included, leaving one audit row without the data."""
        files = files or self.files
        if files is None:
            raise RuntimeError("CustomerStore.erase needs files (ErasureFiles)")
        return defer.ensureDeferred(erasure.erase(self, actor, customer_id, files, ip))

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
            elif key == "email" and value and not is_email(value):
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
    return Customer(
        id=r.id,
        name=r.name,
        customer_class=r.customer_class,
        account=r.account,
        email=r.email,
        note=r.note,
        numbers=numbers,
        fields=stored_values(r.fields),
        created_at=r.created_at,
    )


_COLUMNS = ("id", "name", "customer_class", "account", "email", "note", "fields", "created_at")


def _by_key_query() -> sa.Select[Any]:
    """The screen pop's one query, built once (building it costs more than running it):
    the customer of a number key with all its numbers, in a row per number."""
    c, n1, n2 = model.customers, model.customer_numbers, model.customer_numbers.alias("n2")
    return (
        sa.select(*(c.c[k] for k in _COLUMNS), n2.c.number.label("n"))
        .select_from(n1.join(c, c.c.id == n1.c.customer_id).join(n2, n2.c.customer_id == c.c.id))
        .where(n1.c.match == sa.bindparam("key"))
        .where(c.c.merged_into.is_(None) & c.c.erased_at.is_(None))
        .order_by(c.c.id, n2.c.id)
    )


_BY_KEY = _by_key_query()


def _by_key(conn: Connection, key: str) -> Customer | None:
    rows = conn.execute(_BY_KEY, {"key": key}).all()
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
    return _defs(field_rows(conn), active_only)


def _defs(rows: Sequence[FieldRow], active_only: bool) -> list[FieldDef]:
    """The definitions of the field admin's rows (the active ones, or all)."""
    return [r.definition for r in rows if r.active or not active_only]


def _clean_fields(active: Sequence[FieldDef], raw: Mapping[str, object]) -> dict[str, str]:
    """Custom field values checked against the active definitions; errors keyed
    ``fields.<key>``."""
    try:
        return clean_values(active, raw)
    except FieldErrors as exc:
        raise FieldErrors({f"fields.{k}": v for k, v in exc.errors.items()}) from None


def _merged_fields(conn: Connection, customer_id: int, raw: Mapping[str, object]) -> str:
    """The stored JSON of new field values: the active fields' from ``raw`` (checked), the
    inactive fields' as they were (what ``raw`` says of them is ignored)."""
    rows = field_rows(conn)  # one read: the active definitions and the inactive keys
    inactive = {r.definition.key for r in rows if not r.active}
    cleaned = _clean_fields(_defs(rows, True), {k: v for k, v in raw.items() if k not in inactive})
    stored = conn.execute(
        sa.select(model.customers.c.fields).where(model.customers.c.id == customer_id)
    ).scalar()
    kept = {k: v for k, v in stored_values(stored).items() if k in inactive}
    return json.dumps({**kept, **cleaned}, ensure_ascii=False, sort_keys=True)


def _replace_numbers(
    conn: Connection, customer_id: int, numbers: Sequence[tuple[str, str]]
) -> None:
    n = model.customer_numbers
    rows = {r.match: r for r in conn.execute(sa.select(n).where(n.c.customer_id == customer_id))}
    wanted = {key for _shown, key in numbers}
    gone = [r.id for key, r in rows.items() if key not in wanted]
    if gone:
        conn.execute(n.delete().where(n.c.id.in_(gone)))
    for shown, key in numbers:
        if key in rows:
            if rows[key].number != shown:
                conn.execute(n.update().where(n.c.id == rows[key].id).values(number=shown))
        else:
            _add_numbers(conn, customer_id, [(shown, key)])


_LIKE_ESCAPE = "\\"


def _like(text: str) -> str:
    """``%text%`` for LIKE, its own wildcards escaped."""
    for ch in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(ch, _LIKE_ESCAPE + ch)
    return f"%{text.lower()}%"


def _search(
    conn: Connection, text: str, key: str | None, prefix: str | None, limit: int, offset: int
) -> list[Customer]:
    c, n = model.customers, model.customer_numbers
    live = c.c.merged_into.is_(None) & c.c.erased_at.is_(None)
    q = sa.select(c.c.id).where(live)
    if text:
        pattern = _like(text)
        found = [
            sa.func.lower(c.c.name).like(pattern, escape=_LIKE_ESCAPE),
            sa.func.lower(c.c.email).like(pattern, escape=_LIKE_ESCAPE),
            sa.func.lower(c.c.account).like(pattern, escape=_LIKE_ESCAPE),
        ]
        by_number = []
        if key is not None:
            by_number.append(n.c.match == key)
        if prefix is not None:  # a range on the index: keys starting with these digits
            by_number.append((n.c.match >= prefix) & (n.c.match < prefix + ":"))
        if by_number:
            found.append(c.c.id.in_(sa.select(n.c.customer_id).where(sa.or_(*by_number))))
        q = q.where(sa.or_(*found))
    ids = list(conn.execute(q.order_by(c.c.id.desc()).limit(limit).offset(offset)).scalars())
    loaded = _load(conn, ids)
    return [loaded[i] for i in ids if i in loaded]


_SAME = (N_("same number"), N_("same e-mail"), N_("same name"))


def _duplicates(conn: Connection, limit: int) -> list[tuple[Customer, Customer, str]]:
    c, n = model.customers, model.customer_numbers
    live = c.c.merged_into.is_(None) & c.c.erased_at.is_(None)
    name_key = sa.func.lower(sa.func.replace(c.c.name, " ", ""))
    email_key = sa.func.lower(c.c.email)
    groups: list[tuple[str, Any]] = [
        (
            _SAME[0],
            sa.select(n.c.match.label("k"), n.c.customer_id.label("id")).select_from(
                n.join(c, c.c.id == n.c.customer_id)
            ),
        ),
        (_SAME[1], sa.select(email_key.label("k"), c.c.id.label("id")).where(c.c.email != "")),
        (
            _SAME[2],
            sa.select(name_key.label("k"), c.c.id.label("id")).where(
                sa.func.length(sa.func.replace(c.c.name, " ", "")) >= 2
            ),
        ),
    ]
    pairs: list[tuple[int, int, str]] = []
    seen: set[tuple[int, int]] = set()
    for reason, members in groups:
        members = members.where(live).subquery()
        keys = (
            sa.select(members.c.k)
            .group_by(members.c.k)
            .having(sa.func.count(sa.distinct(members.c.id)) > 1)
            .limit(limit)
        )
        ids_by_key: dict[str, list[int]] = {}
        for r in conn.execute(
            sa.select(members.c.k, members.c.id)
            .where(members.c.k.in_(keys))
            .order_by(members.c.k, members.c.id)
        ):
            ids = ids_by_key.setdefault(r.k, [])
            if r.id not in ids:
                ids.append(r.id)
        for ids in ids_by_key.values():
            for other in ids[1:]:
                if (ids[0], other) not in seen:
                    seen.add((ids[0], other))
                    pairs.append((ids[0], other, reason))
        if len(pairs) >= limit:
            break
    pairs = pairs[:limit]
    loaded = _load(conn, sorted({i for a, b, _r in pairs for i in (a, b)}))
    return [(loaded[a], loaded[b], r) for a, b, r in pairs if a in loaded and b in loaded]


def _rekey_batch(
    conn: Connection, after: int, batch: int, country_code: str, trunk_prefix: str
) -> tuple[int, int, int] | None:
    """(the last id, keys changed, numbers dropped) of the batch after ``after``; None at
    the end."""
    n = model.customer_numbers
    rows = conn.execute(
        sa.select(n.c.id, n.c.customer_id, n.c.number, n.c.match)
        .where(n.c.id > after)
        .order_by(n.c.id)
        .limit(batch)
    ).all()
    if not rows:
        return None
    changed = dropped = 0
    for r in rows:
        key = match_key(r.number, country_code, trunk_prefix)
        if key is None or key == r.match:
            continue
        taken = conn.execute(
            sa.select(n.c.id).where((n.c.customer_id == r.customer_id) & (n.c.match == key))
        ).first()
        if taken is not None:
            conn.execute(n.delete().where(n.c.id == r.id))
            dropped += 1
        else:
            conn.execute(n.update().where(n.c.id == r.id).values(match=key))
            changed += 1
    return rows[-1].id, changed, dropped


def _add_numbers(conn: Connection, customer_id: int, numbers: Sequence[tuple[str, str]]) -> None:
    if numbers:
        conn.execute(
            model.customer_numbers.insert(),
            [
                {"customer_id": customer_id, "number": shown, "match": key, "label": ""}
                for shown, key in numbers
            ],
        )
