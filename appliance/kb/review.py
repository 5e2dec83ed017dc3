"""An article's review workflow: who may move its working copy from which state to which.

Authors (agents, supervisors, admins) write drafts and submit them; reviewers (supervisors
and admins) approve them (published: the version readers see) or reject them with a comment
(back to draft), archive and restore. An agent can never publish. Saving a published
article makes a new draft version; the published one stays live until that draft is
approved.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.text import N_

AUTHORS = frozenset({"agent", "supervisor", "admin"})
REVIEWERS = frozenset({"supervisor", "admin"})


class ReviewError(ValueError):
    """A transition refused (its message is an N_() text for the person who asked)."""


@dataclass(frozen=True)
class Transition:
    froms: frozenset[str]
    to: str
    roles: frozenset[str]


TRANSITIONS = {
    "submit": Transition(frozenset({"draft"}), "review", AUTHORS),
    "approve": Transition(frozenset({"review"}), "published", REVIEWERS),
    "reject": Transition(frozenset({"review"}), "draft", REVIEWERS),
    "archive": Transition(frozenset({"draft", "review", "published"}), "archived", REVIEWERS),
    "restore": Transition(frozenset({"archived"}), "draft", REVIEWERS),
}


def check_author(role: str) -> None:
    if role not in AUTHORS:
        raise ReviewError(N_("Only agents, supervisors and admins write articles."))


def check_save(role: str, state: str) -> str:
    """The working copy's state after a save in ``state`` (always a draft: a saved review
    goes back to its author's hands, a saved published article waits for review)."""
    check_author(role)
    if state == "archived":
        raise ReviewError(N_("An archived article must be restored before it is edited."))
    return "draft"


def check(action: str, role: str, state: str) -> str:
    """The state ``action`` leads to from ``state``; ReviewError when ``role`` may not take
    it or the article is not in a state it starts from."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise ReviewError(N_("Unknown action: {action}", action=action[:20]))
    if role not in transition.roles:
        if action in ("approve", "reject"):
            raise ReviewError(N_("Only supervisors and admins review articles."))
        if action in ("archive", "restore"):
            raise ReviewError(N_("Only supervisors and admins archive and restore articles."))
        raise ReviewError(N_("Only agents, supervisors and admins write articles."))
    if state not in transition.froms:
        raise ReviewError(WRONG_STATE[action])
    return transition.to


WRONG_STATE = {
    "submit": N_("Only a draft can be submitted for review."),
    "approve": N_("Only an article in review can be approved or rejected."),
    "reject": N_("Only an article in review can be approved or rejected."),
    "archive": N_("The article is archived already."),
    "restore": N_("Only an archived article can be restored."),
}
