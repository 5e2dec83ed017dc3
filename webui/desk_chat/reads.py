"""What the desk reads and writes in the database about a conversation, beside the engine:
whose it was, its attachments, canned replies, the ticket made of it, KB suggestions from
its lines. Each function is a ``thd(conn)`` body run in the DBConnector's pool; only plain
data comes back."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.db import model
from appliance.kb import search, tokens
from appliance.text import N_

TICKET_TYPE = "inquiry"  # a chat's ticket's type when it is offered (else a built-in one)
TRANSCRIPT_MAX = 60_000  # characters of a ticket's description (the store's BODY_MAX is more)
SUGGEST_LINES = 5  # the customer's last lines the suggestions read
SUGGEST_TOKENS = 12  # at most this many of their words are looked up (one query each)
MIN_WORD = 3  # shorter Latin words say little (a, to, is)


@dataclass(frozen=True)
class ConversationFacts:
    id: int
    media: str
    state: str
    queue_id: int | None
    topic_id: int | None
    agent_id: int | None
    customer_id: int | None
    ticket_id: int | None
    name: str
    phone: str
    email: str
    subject: str
    language: str
    created_at: dt.datetime


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    conversation_id: int
    file_name: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CannedRow:
    id: int
    title: str
    body: str
    language: str
    scope: str  # "topic", "queue" or "all"


@dataclass(frozen=True)
class Line:
    sender: str
    author: str
    body: str
    internal: bool
    created_at: dt.datetime


def conversation(conn: Connection, conversation_id: int) -> ConversationFacts | None:
    c = model.conversations.c
    r = conn.execute(sa.select(model.conversations).where(c.id == conversation_id)).first()
    if r is None:
        return None
    return ConversationFacts(
        r.id,
        r.media,
        r.state,
        r.queue_id,
        r.topic_id,
        r.agent_id,
        r.customer_id,
        r.ticket_id,
        r.name,
        r.phone,
        r.email,
        r.subject,
        r.language,
        r.created_at,
    )


def had_it(conn: Connection, conversation_id: int, agent_id: int) -> bool:
    """The agent has or had the conversation: it is its agent, or an event names it (it
    accepted it, then transferred it on)."""
    c, e = model.conversations.c, model.conversation_events.c
    if conn.execute(
        sa.select(c.id).where((c.id == conversation_id) & (c.agent_id == agent_id))
    ).first():
        return True
    return (
        conn.execute(
            sa.select(e.id)
            .where((e.conversation_id == conversation_id) & (e.agent_id == agent_id))
            .where(e.kind.in_(("accepted", "transferred", "assigned")))
            .limit(1)
        ).first()
        is not None
    )


def attachment(conn: Connection, attachment_id: int) -> AttachmentRow | None:
    a = model.conversation_attachments.c
    r = conn.execute(
        sa.select(
            a.id, a.conversation_id, a.file_name, a.content_type, a.size_bytes, a.sha256
        ).where(a.id == attachment_id)
    ).first()
    if r is None:
        return None
    return AttachmentRow(
        r.id, r.conversation_id, r.file_name, r.content_type, r.size_bytes, r.sha256
    )


def canned(
    conn: Connection, topic_id: int | None, queue_id: int | None, language: str
) -> list[CannedRow]:
    """The replies for the topic, then the queue, then everyone's; within each by position,
    those in the conversation's language (or in none) first."""
    r = model.canned_replies.c
    scope = r.topic_id.is_(None) & r.queue_id.is_(None)
    if topic_id is not None:
        scope = scope | (r.topic_id == topic_id)
    if queue_id is not None:
        scope = scope | (r.queue_id == queue_id)
    rows = conn.execute(sa.select(model.canned_replies).where(scope).order_by(r.position, r.id))
    out: list[CannedRow] = []
    for row in rows:
        kind = (
            "topic" if row.topic_id is not None else "queue" if row.queue_id is not None else "all"
        )
        out.append(CannedRow(row.id, row.title, row.body, row.language, kind))
    rank = {"topic": 0, "queue": 1, "all": 2}
    lang = language.split("_")[0].lower()

    def key(c: CannedRow) -> tuple[int, int]:
        mine = not c.language or c.language.split("_")[0].lower() == lang
        return (rank[c.scope], 0 if mine else 1)

    return sorted(out, key=key)  # stable: position order within


def lines(conn: Connection, conversation_id: int, limit: int = 1000) -> list[Line]:
    m = model.conversation_messages.c
    rows = conn.execute(
        sa.select(m.sender, m.author, m.body, m.internal, m.created_at)
        .where(m.conversation_id == conversation_id)
        .order_by(m.id)
        .limit(limit)
    )
    return [Line(r.sender, r.author, r.body, bool(r.internal), r.created_at) for r in rows]


def ticket_number(conn: Connection, ticket_id: int) -> str:
    """The number people say and type (T20261206-0001), "" for a ticket gone."""
    t = model.tickets.c
    return str(conn.execute(sa.select(t.number).where(t.id == ticket_id)).scalar() or "")


def ticket_type(conn: Connection) -> str:
    """``TICKET_TYPE`` when it is offered, else an offered type (a built-in one first)."""
    t = model.ticket_types.c
    if conn.execute(sa.select(t.key).where((t.key == TICKET_TYPE) & t.active)).first():
        return TICKET_TYPE
    key = conn.execute(
        sa.select(t.key).where(t.active).order_by(t.builtin.desc(), t.key).limit(1)
    ).scalar()
    if key is None:
        raise ValueError(N_("no ticket type is offered"))
    return str(key)


def agent_number(conn: Connection, agent_id: int) -> str | None:
    a = model.agents.c
    row = conn.execute(
        sa.select(a.number).where((a.id == agent_id) & (a.status == "active"))
    ).first()
    return None if row is None else str(row.number)


def link_ticket(
    conn: Connection, conversation_id: int, ticket_id: int, agent_id: int | None, user: str
) -> bool:
    """The conversation's ticket, unless it has one already (False then: two clicks make
    one ticket's link, the second ticket stays unlinked and is reported)."""
    c = model.conversations.c
    done = conn.execute(
        model.conversations.update()
        .where((c.id == conversation_id) & c.ticket_id.is_(None))
        .values(ticket_id=ticket_id)
    )
    if done.rowcount != 1:
        return False
    conn.execute(
        model.conversation_events.insert().values(
            conversation_id=conversation_id,
            at=dt.datetime.now(dt.UTC),
            kind="ticket",
            agent_id=agent_id,
            user=user[:64],
            detail=f"ticket:{ticket_id}",
        )
    )
    return True


def transcript(facts: ConversationFacts, rows: list[Line], internal_label: str) -> str:
    """The conversation as plain text for a ticket's description (internal notes marked)."""
    out = []
    if facts.subject:
        out.append(facts.subject)
        out.append("")
    for line in rows:
        at = line.created_at.strftime("%Y-%m-%d %H:%M:%S")
        who = line.author or line.sender
        mark = f" [{internal_label}]" if line.internal else ""
        out.append(f"[{at}] {who}{mark}: {line.body}")
    text = "\n".join(out)
    if len(text) > TRANSCRIPT_MAX:
        text = text[: TRANSCRIPT_MAX - 1] + "…"
    return text


def suggestion_words(texts: list[str]) -> list[str]:
    """The words of the customer's last lines (newest first) worth looking up: their search
    tokens, the most frequent first, then the newest line's, then the longest."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for n, text in enumerate(texts):
        for tok in tokens.query_tokens(text[:2000]):
            cjk = not tok.isascii()
            if (cjk and len(tok) < 2) or (not cjk and len(tok) < MIN_WORD) or tok.isdigit():
                continue
            counts[tok] += 1
            first_seen.setdefault(tok, n)
    ranked = sorted(counts, key=lambda t: (-counts[t], first_seen[t], -len(t), t))
    return ranked[:SUGGEST_TOKENS]


def suggest(conn: Connection, conversation_id: int, limit: int) -> list[tuple[int, str, str]]:
    """(article id, title, lang) of the live articles matching most of the customer's last
    words: each word searched alone (the search asks for every word of a query), the
    articles ranked by how many words found them, then by their summed score."""
    m = model.conversation_messages.c
    texts = list(
        conn.execute(
            sa.select(m.body)
            .where((m.conversation_id == conversation_id) & (m.sender == "customer"))
            .order_by(m.id.desc())
            .limit(SUGGEST_LINES)
        ).scalars()
    )
    words = suggestion_words(texts)
    found: dict[int, tuple[int, float]] = {}
    for word in words:
        for article_id, score in search.ranked(conn, [word], limit * 2):
            hits, total = found.get(article_id, (0, 0.0))
            found[article_id] = (hits + 1, total + score)
    best = sorted(found, key=lambda i: (-found[i][0], -found[i][1], i))[:limit]
    if not best:
        return []
    a = model.kb_articles.c
    rows = {r.id: r for r in conn.execute(sa.select(a.id, a.title, a.lang).where(a.id.in_(best)))}
    return [(i, rows[i].title, rows[i].lang) for i in best if i in rows]
