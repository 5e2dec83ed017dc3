"""Ticket types (built-in and an admin's own, each with its fields) and their SLA rules."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.crm.fields import FieldDef, FieldErrors, check_def
from appliance.crm.tickets import sla
from appliance.db import model
from appliance.db.components import _Component
from appliance.text import N_

KEY_MAX = 32
NAME_MAX = 100
MAX_FIELDS = 30
# The built-in types' names, translated where they are shown (the stored name is English).
BUILTIN_NAMES = {
    "inquiry": N_("Inquiry"),
    "complaint": N_("Complaint"),
    "suggestion": N_("Suggestion"),
    "fault": N_("Fault"),
    "sales": N_("Sales"),
}
assert tuple(BUILTIN_NAMES) == model.TICKET_BUILTIN_TYPES


@dataclass(frozen=True)
class TicketType:
    key: str
    name: str  # a built-in type's: an N_ text (translated where shown)
    builtin: bool
    fields: tuple[FieldDef, ...]
    active: bool


def defs_to_json(defs: tuple[FieldDef, ...]) -> str:
    return json.dumps(
        [
            {
                "key": d.key,
                "label": d.label,
                "kind": d.kind,
                "choices": list(d.choices),
                "required": d.required,
            }
            for d in defs
        ],
        ensure_ascii=False,
    )


def defs_from_json(text: str) -> tuple[FieldDef, ...]:
    """The stored definitions (checked when saved; a broken entry is left out)."""
    try:
        raw = json.loads(text)
    except ValueError:
        return ()
    out: list[FieldDef] = []
    for item in raw if isinstance(raw, list) else ():
        try:
            out.append(
                FieldDef(
                    key=str(item["key"]),
                    label=str(item["label"]),
                    kind=str(item["kind"]),
                    choices=tuple(str(c) for c in item.get("choices") or ()),
                    required=bool(item.get("required", False)),
                )
            )
        except (KeyError, TypeError, AttributeError):
            continue
    return tuple(out)


def type_of_row(r: Any) -> TicketType:
    name = BUILTIN_NAMES.get(r.key, r.name) if r.builtin else r.name
    return TicketType(r.key, name, bool(r.builtin), defs_from_json(r.fields), bool(r.active))


def rule_of_row(r: Any) -> sla.SlaRule:
    return sla.SlaRule(
        r.type_key, r.priority, r.respond_minutes, r.resolve_minutes, sla.parse_steps(r.escalation)
    )


def load_type(conn: Connection, key: str) -> TicketType | None:
    t = model.ticket_types
    r = conn.execute(t.select().where(t.c.key == key)).first()
    return type_of_row(r) if r is not None else None


def load_rule(conn: Connection, type_key: str, priority: str) -> sla.SlaRule | None:
    r_ = model.ticket_sla_rules
    r = conn.execute(
        r_.select().where((r_.c.type_key == type_key) & (r_.c.priority == priority))
    ).first()
    return rule_of_row(r) if r is not None else None


def check_type(key: str, name: str, fields: tuple[FieldDef, ...]) -> None:
    """A type an admin sends (ValueError or FieldErrors with ``N_`` texts)."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", key):
        raise ValueError(
            N_("a type key is a lower-case letter, then letters, digits or _ (at most 32)")
        )
    if not name.strip() or len(name) > NAME_MAX:
        raise ValueError(N_("a type name has 1 to {max} characters", max=NAME_MAX))
    if len(fields) > MAX_FIELDS:
        raise ValueError(N_("at most {n} fields", n=MAX_FIELDS))
    errors: dict[str, str] = {}
    for d in fields:
        try:
            check_def(d)
        except FieldErrors as exc:
            errors.update({f"{d.key}.{k}": v for k, v in exc.errors.items()})
    if len({d.key for d in fields}) != len(fields):
        errors["fields"] = N_("two fields have the same key")
    if errors:
        raise FieldErrors(errors)


class TicketCatalog(_Component):
    """The types and the SLA rules (the admin pages and the ticket forms read them)."""

    def types(self, active_only: bool = False) -> defer.Deferred[list[TicketType]]:
        t = model.ticket_types

        def thd(conn: Connection) -> list[TicketType]:
            q = t.select().order_by(t.c.builtin.desc(), t.c.key)
            if active_only:
                q = q.where(t.c.active == sa.true())
            return [type_of_row(r) for r in conn.execute(q)]

        return self.db.run(thd)

    def get_type(self, key: str) -> defer.Deferred[TicketType | None]:
        return self.db.run(lambda conn: load_type(conn, key))

    def save_type(
        self, key: str, name: str, fields: tuple[FieldDef, ...], active: bool = True
    ) -> defer.Deferred[TicketType]:
        """Add a type or change one (a built-in type keeps its key and name; its fields and
        whether it is offered may change)."""
        try:
            check_type(key, name, fields)
        except ValueError as exc:
            return defer.fail(exc)
        t = model.ticket_types

        def thd(conn: Connection) -> TicketType:
            old = load_type(conn, key)
            values = {"fields": defs_to_json(fields), "active": active}
            if old is None:
                conn.execute(t.insert().values(key=key, name=name.strip(), builtin=False, **values))
            else:
                if not old.builtin:
                    values["name"] = name.strip()
                conn.execute(t.update().where(t.c.key == key).values(**values))
            found = load_type(conn, key)
            assert found is not None
            return found

        return self.db.run(thd)

    def rules(self, type_key: str | None = None) -> defer.Deferred[list[sla.SlaRule]]:
        r_ = model.ticket_sla_rules

        def thd(conn: Connection) -> list[sla.SlaRule]:
            q = r_.select().order_by(r_.c.type_key, r_.c.id)
            if type_key is not None:
                q = q.where(r_.c.type_key == type_key)
            rows = [rule_of_row(r) for r in conn.execute(q)]
            order = model.TICKET_PRIORITIES
            return sorted(rows, key=lambda x: (x.type_key, order.index(x.priority)))

        return self.db.run(thd)

    def save_rule(
        self,
        type_key: str,
        priority: str,
        respond_minutes: object,
        resolve_minutes: object,
        steps: object,
    ) -> defer.Deferred[sla.SlaRule]:
        """Add or replace the rule of (type, priority). Tickets created afterwards take its
        due dates; open tickets keep theirs and escalate by its steps from their level."""
        try:
            rule = sla.check_rule(type_key, priority, respond_minutes, resolve_minutes, steps)
        except ValueError as exc:
            return defer.fail(exc)
        r_ = model.ticket_sla_rules

        def thd(conn: Connection) -> sla.SlaRule:
            if load_type(conn, type_key) is None:
                raise ValueError(N_("no ticket type {key}", key=type_key[:KEY_MAX]))
            values = {
                "respond_minutes": rule.respond_minutes,
                "resolve_minutes": rule.resolve_minutes,
                "escalation": sla.dump_steps(rule.steps),
            }
            where = (r_.c.type_key == type_key) & (r_.c.priority == priority)
            if conn.execute(r_.update().where(where).values(**values)).rowcount == 0:
                conn.execute(r_.insert().values(type_key=type_key, priority=priority, **values))
            return rule

        return self.db.run(thd)

    def delete_rule(self, type_key: str, priority: str) -> defer.Deferred[bool]:
        r_ = model.ticket_sla_rules

        def thd(conn: Connection) -> bool:
            where = (r_.c.type_key == type_key) & (r_.c.priority == priority)
            return bool(conn.execute(r_.delete().where(where)).rowcount)

        return self.db.run(thd)
