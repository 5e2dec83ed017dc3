"""SLA rules as an admin sends them: checked with a message for each mistake; the due dates
and the escalation moments computed from them (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.crm.tickets import sla

T0 = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
STEPS = [
    {"after": 0, "action": "notify"},
    {"after": 30, "action": "reassign", "kind": "department", "target": " billing "},
    {"after": 30, "action": "raise_priority"},
]


def test_a_rule_gives_due_dates_and_the_steps_moments() -> None:
    rule = sla.check_rule("fault", "high", 30, 240, STEPS)
    assert rule.due_dates(T0) == (T0 + dt.timedelta(minutes=30), T0 + dt.timedelta(hours=4))
    assert rule.steps[1] == sla.EscalationStep(30, "reassign", "department", "billing")
    due = T0 + dt.timedelta(hours=4)
    moments = [sla.next_moment(due, rule.steps, level) for level in range(4)]
    assert moments == [due, due + dt.timedelta(minutes=30), due + dt.timedelta(minutes=30), None]
    assert sla.next_moment(None, rule.steps, 0) is None
    assert sla.parse_steps(sla.dump_steps(rule.steps)) == rule.steps
    assert [sla.raised(p) for p in ("low", "normal", "high", "urgent")] == [
        "normal",
        "high",
        "urgent",
        "urgent",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("asap", 1, 2, []), "priority must be"),
        (("high", -1, 2, []), "respond within must be 0 to"),
        (("high", True, 2, []), "respond within must be 0 to"),
        (("high", 1, "2", []), "resolve within must be 0 to"),
        (("high", 10, 5, []), "cannot be shorter"),
        (("high", 1, 2, {"after": 0}), "a list of at most 10"),
        (("high", 1, 2, [{"after": 0, "action": "notify"}] * 11), "a list of at most 10"),
        (("high", 1, 2, ["notify"]), "each step is an object"),
        (("high", 1, 2, [{"after": 5, "action": "notify"}, {"after": 1, "action": "notify"}]),
         "in the order they fire"),
        (("high", 1, 2, [{"after": 0, "action": "delete"}]), "the action is one of"),
        (("high", 1, 2, [{"after": 0, "action": "reassign", "kind": "boss", "target": "x"}]),
         "reassign to one of"),
        (("high", 1, 2, [{"after": 0, "action": "reassign", "kind": "queue", "target": " "}]),
         "needs a target"),
    ],
)  # fmt: skip
def test_a_bad_rule_is_refused_with_its_mistake(args: tuple[object, ...], message: str) -> None:
    priority, respond, resolve, steps = args
    with pytest.raises(ValueError, match=message):
        sla.check_rule("fault", str(priority), respond, resolve, steps)


def test_a_broken_stored_rule_escalates_nothing() -> None:
    assert sla.parse_steps("not json") == ()
    assert sla.parse_steps('[{"after": "soon", "action": "notify"}]') == ()
