"""SLA rules: a (type, priority)'s due dates and its escalation steps, checked and computed.

A ticket's due dates come from the rule when it is created and when its priority changes by
hand (both counted from its creation). Once it is overdue (past ``due_at``), the rule's steps
fire in order, each ``after`` minutes past the due date: ``escalation_level`` counts those
done and ``next_escalation_at`` is the next one's moment, kept in the ticket's row so the
timers keep counting through a restart (appliance/crm/tickets/escalation.py).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from appliance.db.model import ASSIGNEE_KINDS, TICKET_PRIORITIES
from appliance.text import N_

ACTIONS = ("notify", "reassign", "raise_priority")
MAX_STEPS = 10
MAX_MINUTES = 365 * 24 * 60


@dataclass(frozen=True)
class EscalationStep:
    after: int  # minutes past the due date
    action: str
    kind: str = ""  # reassign: an assignee kind and target
    target: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"after": self.after, "action": self.action}
        if self.action == "reassign":
            out.update(kind=self.kind, target=self.target)
        return out


@dataclass(frozen=True)
class SlaRule:
    type_key: str
    priority: str
    respond_minutes: int
    resolve_minutes: int
    steps: tuple[EscalationStep, ...]

    def due_dates(self, created_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """(respond by, resolve by)."""
        return (
            created_at + dt.timedelta(minutes=self.respond_minutes),
            created_at + dt.timedelta(minutes=self.resolve_minutes),
        )


def _minutes(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MINUTES:
        raise ValueError(N_("{what} must be 0 to {max} minutes", what=what, max=MAX_MINUTES))
    return value


def check_rule(
    type_key: str, priority: str, respond_minutes: object, resolve_minutes: object, steps: object
) -> SlaRule:
    """A rule an admin sends, checked (ValueError with an ``N_`` text)."""
    if priority not in TICKET_PRIORITIES:
        raise ValueError(N_("priority must be one of: {items}", items=", ".join(TICKET_PRIORITIES)))
    respond = _minutes(respond_minutes, N_("respond within"))
    resolve = _minutes(resolve_minutes, N_("resolve within"))
    if resolve < respond:
        raise ValueError(N_("the resolve time cannot be shorter than the respond time"))
    return SlaRule(type_key, priority, respond, resolve, check_steps(steps))


def check_steps(raw: object) -> tuple[EscalationStep, ...]:
    """Escalation steps from JSON-like data: a list of at most 10 objects, ``after``
    (minutes past due, never decreasing), ``action`` and, to reassign, ``kind`` and
    ``target``. ValueError with an ``N_`` text."""
    if not isinstance(raw, list) or len(raw) > MAX_STEPS:
        raise ValueError(N_("escalation: a list of at most {n} steps", n=MAX_STEPS))
    steps: list[EscalationStep] = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError(N_("escalation: each step is an object"))
        after = _minutes(item.get("after"), N_("escalation: after"))
        if steps and after < steps[-1].after:
            raise ValueError(N_("escalation: the steps must be in the order they fire"))
        action = item.get("action")
        if action not in ACTIONS:
            raise ValueError(
                N_("escalation: the action is one of: {items}", items=", ".join(ACTIONS))
            )
        kind = target = ""
        if action == "reassign":
            raw_kind, raw_target = item.get("kind"), item.get("target")
            if raw_kind not in ASSIGNEE_KINDS:
                raise ValueError(
                    N_("escalation: reassign to one of: {items}", items=", ".join(ASSIGNEE_KINDS))
                )
            if not isinstance(raw_target, str) or not 1 <= len(raw_target.strip()) <= 64:
                raise ValueError(N_("escalation: reassign needs a target"))
            kind, target = str(raw_kind), raw_target.strip()
        steps.append(EscalationStep(after, str(action), str(kind), str(target)))
    return tuple(steps)


def parse_steps(text: str) -> tuple[EscalationStep, ...]:
    """The steps as stored (they were checked when saved; a broken row escalates nothing)."""
    try:
        return check_steps(json.loads(text))
    except ValueError:
        return ()


def dump_steps(steps: tuple[EscalationStep, ...]) -> str:
    return json.dumps([s.as_json() for s in steps])


def next_moment(
    due_at: dt.datetime | None, steps: tuple[EscalationStep, ...], level: int
) -> dt.datetime | None:
    """When the step after the ``level`` done ones fires (None: no due date, no step left)."""
    if due_at is None or level >= len(steps):
        return None
    return due_at + dt.timedelta(minutes=steps[level].after)


def raised(priority: str) -> str:
    """The next priority up (the highest stays)."""
    i = TICKET_PRIORITIES.index(priority)
    return TICKET_PRIORITIES[min(i + 1, len(TICKET_PRIORITIES) - 1)]
