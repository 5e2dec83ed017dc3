"""Who may move a ticket from which state to which: one table, read by the store.

An agent works on the tickets that are its own (assigned to its agent number); it may also
accept one that waits for its group (unassigned, or assigned to a queue it serves or to its
department). Supervisors and admins may make every move of the table, and they alone
dispatch, reassign and reopen. A move that is not in the table is refused for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.db.model import TICKET_STATES
from appliance.text import N_

# An agent's relation to a ticket, from the closest to none.
OWN = "own"  # assigned to this agent
POOL = "pool"  # unassigned, or assigned to a queue it serves or to its department
OTHER = "other"

MANAGERS = frozenset({"admin", "supervisor"})

# (from, to) -> the relations that let an agent make the move (empty: managers only).
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("new", "accepted"): frozenset({OWN, POOL}),
    ("new", "dispatched"): frozenset(),
    ("dispatched", "accepted"): frozenset({OWN, POOL}),
    ("accepted", "in_progress"): frozenset({OWN}),
    ("in_progress", "replied"): frozenset({OWN}),
    ("replied", "closed"): frozenset({OWN}),
    ("replied", "in_progress"): frozenset({OWN}),
    ("closed", "reopened"): frozenset(),
    ("reopened", "accepted"): frozenset({OWN, POOL}),
    ("reopened", "dispatched"): frozenset(),
    ("reopened", "in_progress"): frozenset({OWN}),
}
# The states in which a ticket waits on the center: its SLA timers run. "replied" waits on
# the customer and "closed" on nobody: their timers stop.
RUNNING_STATES = ("new", "accepted", "dispatched", "in_progress", "reopened")
# A ticket that nobody has taken yet: an assignment makes it "dispatched".
DISPATCHABLE_STATES = ("new", "reopened")
# A ticket an agent has taken: given to a group (a queue or a department) it is
# "dispatched" again, for one of them to accept (an agent moves only its own tickets on, so
# left "accepted" it would wait for a manager); given to another agent, that agent carries on.
TAKEN_STATES = ("accepted", "in_progress")


def state_after_assignment(state: str, kind: str) -> str:
    """The state of a ticket in ``state`` once assigned to an assignee of ``kind``."""
    if state in DISPATCHABLE_STATES or (state in TAKEN_STATES and kind != "agent"):
        return "dispatched"
    return state


assert {s for pair in TRANSITIONS for s in pair} == set(TICKET_STATES)


class TransitionError(ValueError):
    """A move the table or the actor's role does not allow (an ``N_`` text)."""


@dataclass(frozen=True)
class AgentSelf:
    """The actor as an agent: its number, department and the names of the queues it
    serves (what makes a ticket its own or its group's)."""

    number: str
    department: str
    queues: frozenset[str]

    def relation(self, assignee_kind: str | None, assignee: str) -> str:
        if assignee_kind == "agent":
            return OWN if assignee == self.number else OTHER
        if assignee_kind is None:
            return POOL
        if assignee_kind == "queue" and assignee in self.queues:
            return POOL
        if assignee_kind == "department" and self.department and assignee == self.department:
            return POOL
        return OTHER


def check(
    role: str,
    me: AgentSelf | None,
    from_state: str,
    to_state: str,
    assignee_kind: str | None,
    assignee: str,
) -> None:
    """Raise :class:`TransitionError` unless ``role`` (an agent: ``me``) may move a ticket
    so assigned from ``from_state`` to ``to_state``."""
    if to_state not in TICKET_STATES:
        raise TransitionError(N_("unknown ticket state {state}", state=to_state[:32]))
    allowed = TRANSITIONS.get((from_state, to_state))
    if allowed is None:
        raise TransitionError(
            N_(
                "a ticket cannot go from {from_state} to {to_state}",
                from_state=from_state,
                to_state=to_state,
            )
        )
    if role in MANAGERS:
        return
    if role != "agent":
        raise TransitionError(N_("only agents, supervisors and admins work on tickets"))
    if not allowed:
        raise TransitionError(N_("only a supervisor or an admin may do that"))
    if me is None:
        raise TransitionError(N_("your login is not linked to an agent"))
    if me.relation(assignee_kind, assignee) not in allowed:
        raise TransitionError(N_("this ticket is not yours"))
