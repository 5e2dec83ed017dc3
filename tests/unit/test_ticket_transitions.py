"""The ticket transition table, one case per move: who may make it and who may not, and every
move outside the table refused for everyone (no database: the store calls this check)."""

from __future__ import annotations

import itertools

import pytest

from appliance.crm.tickets.transitions import (
    OWN,
    POOL,
    TRANSITIONS,
    AgentSelf,
    TransitionError,
    check,
)
from appliance.db.model import TICKET_STATES

ME = AgentSelf("1001", "billing", frozenset({"support"}))
# An assignment for each relation an agent can have to a ticket.
ASSIGNED = {
    OWN: ("agent", "1001"),
    POOL: ("queue", "support"),
    "other": ("agent", "1002"),
}
MOVES = sorted(TRANSITIONS)


def test_the_agent_relations() -> None:
    assert ME.relation("agent", "1001") == OWN
    assert ME.relation(None, "") == POOL
    assert ME.relation("queue", "support") == POOL
    assert ME.relation("department", "billing") == POOL
    assert ME.relation("queue", "sales") == "other"
    assert ME.relation("department", "sales") == "other"
    assert ME.relation("agent", "1002") == "other"
    assert AgentSelf("1003", "", frozenset()).relation("department", "") == "other"


@pytest.mark.parametrize(("from_state", "to_state"), MOVES)
def test_each_move_is_allowed_to_managers_and_the_agents_it_names(
    from_state: str, to_state: str
) -> None:
    for role in ("admin", "supervisor"):
        check(role, None, from_state, to_state, "agent", "1002")
    allowed = TRANSITIONS[(from_state, to_state)]
    for relation, (kind, target) in ASSIGNED.items():
        if relation in allowed:
            check("agent", ME, from_state, to_state, kind, target)
        else:
            with pytest.raises(TransitionError):
                check("agent", ME, from_state, to_state, kind, target)
    with pytest.raises(TransitionError):
        check("qa", None, from_state, to_state, "agent", "1001")
    if allowed:  # an agent whose login is no agent's may not either
        with pytest.raises(TransitionError, match="not linked"):
            check("agent", None, from_state, to_state, "agent", "1001")


def test_the_agents_moves_are_these() -> None:
    """The issue's rules: agents accept, progress, reply and close their own; only managers
    dispatch and reopen."""
    agent_moves = {m for m, who in TRANSITIONS.items() if who}
    assert agent_moves == {
        ("new", "accepted"),
        ("dispatched", "accepted"),
        ("accepted", "in_progress"),
        ("in_progress", "replied"),
        ("replied", "closed"),
        ("replied", "in_progress"),
        ("reopened", "accepted"),
        ("reopened", "in_progress"),
    }
    assert {m for m, who in TRANSITIONS.items() if not who} == {
        ("new", "dispatched"),
        ("closed", "reopened"),
        ("reopened", "dispatched"),
    }


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [p for p in itertools.product(TICKET_STATES, TICKET_STATES) if p not in TRANSITIONS],
)
def test_a_move_outside_the_table_is_refused_for_everyone(from_state: str, to_state: str) -> None:
    for role, me in (("admin", None), ("supervisor", None), ("agent", ME)):
        with pytest.raises(TransitionError, match="cannot go from"):
            check(role, me, from_state, to_state, "agent", "1001")


def test_an_unknown_state_is_refused() -> None:
    with pytest.raises(TransitionError, match="unknown ticket state"):
        check("admin", None, "new", "done<script>", None, "")
