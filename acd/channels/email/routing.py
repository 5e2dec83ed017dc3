"""Which queue a new e-mail thread goes to.

An account's own routes first, then the global ones (no account), each by position: a
``sender`` route matches an exact address or ``@domain`` (and that domain's subdomains); a
``keyword`` route matches its word in the subject or the text, case-insensitively (Chinese
keywords too: a substring, Chinese has no spaces between words). No route: the account's
own queue. The text looked at is what the thread keeps of it (``TEXT_MAX``), folded once:
this runs on the reactor, and a 25 MB mail folded for each keyword route held it seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

from appliance.db.email_store import Route  # the row; which queue it means is decided here

TEXT_MAX = 200_000  # as much of a mail's text as its thread keeps (ingest.BODY_MAX)


def _fold(text: str) -> str:
    return (text or "").casefold()


def sender_matches(pattern: str, address: str) -> bool:
    """``pattern`` an address (exact) or ``@domain`` (that domain or a subdomain of it)."""
    pat, addr = _fold(pattern).strip(), _fold(address).strip()
    if not pat or "@" not in addr:
        return False
    if pat.startswith("@"):
        domain = addr.rsplit("@", 1)[1]
        want = pat[1:]
        return bool(want) and (domain == want or domain.endswith("." + want))
    return pat == addr


def ordered(routes: Iterable[Route], account_id: int) -> list[Route]:
    """The routes that apply to an account's mail, in the order they are tried."""
    found = list(routes)
    own = sorted((r for r in found if r.account_id == account_id), key=lambda r: (r.position, r.id))
    rest = sorted((r for r in found if r.account_id is None), key=lambda r: (r.position, r.id))
    return own + rest


def route(
    routes: Iterable[Route],
    *,
    account_id: int,
    default_queue_id: int | None,
    sender: str,
    subject: str,
    text: str,
) -> tuple[int | None, Route | None]:
    """The queue of a new thread and the route that chose it (None: the account's queue)."""
    folded_subject, folded_text = _fold(subject), _fold((text or "")[:TEXT_MAX])
    for r in ordered(routes, account_id):
        if r.kind == "sender" and sender_matches(r.pattern, sender):
            return r.queue_id, r
        if r.kind == "keyword":
            word = _fold(r.pattern).strip()
            if word and (word in folded_subject or word in folded_text):
                return r.queue_id, r
    return default_queue_id, None
