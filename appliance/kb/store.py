"""The knowledge base's storage: categories, articles with their versions, review history
and comments, attachments, links for the desk's suggestions, votes, and search.

Every public method returns a Deferred and runs its SQL in the database pool
(``db.run``); only plain dataclasses come back. Every text is checked and bounded here,
whoever calls: HTML is cleaned by ``appliance.rich_text.clean_html`` before it is stored,
and the plain text beside it is what search indexes and snippets quote. The review rules
(who may move an article where) are ``appliance.kb.review``'s.

Readers see an article's live version (the last approved) while a newer version is
drafted and reviewed: ``kb_articles`` holds the live title/HTML/text (or the newest
draft's before any version was approved), ``kb_versions`` every save.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model, upload_quota
from appliance.db.components import _Component, utcnow
from appliance.kb import review, search, snippets, tokens
from appliance.rich_text import MAX_HTML, clean_html, plain_text
from appliance.text import N_

# A file of ours an article shows or links (the editor inserts this URL).
_ATTACHMENT_URL = re.compile(r"/kb/attachments/([0-9]{1,10})(?![0-9])")

MAX_TITLE = 200
MAX_CATEGORY = 100
MAX_TAGS = 20
MAX_TAG = 40
MAX_COMMENT = 2000
MAX_TARGET = 128
MAX_LINKS = 100
MAX_QUERY = 200
MAX_LIMIT = 100
LANGS = model.KB_LANGS
LINK_KINDS = model.KB_LINK_KINDS


# What agents may read (``Article.live`` in SQL): approved once and not archived.
_LIVE = model.kb_articles.c.live_version.is_not(None) & (model.kb_articles.c.state != "archived")


class KBError(ValueError):
    """Bad input or a missing row (an N_() message for the person who asked)."""


ReviewError = review.ReviewError


@dataclass(frozen=True)
class Category:
    id: int
    parent_id: int | None
    name: str
    position: int


@dataclass(frozen=True)
class Article:
    """An article as readers see it (the live version), or, from ``get(latest=True)``, its
    newest version's title, HTML and tags (what the editor opens)."""

    id: int
    category_id: int
    title: str
    html: str
    text: str
    lang: str
    state: str
    tags: tuple[str, ...]
    author: str
    reviewer: str
    version: int  # the newest version's number
    live_version: int | None  # the approved one readers see (None: never approved)
    shown_version: int  # the version title/html/text are from
    published_at: dt.datetime | None
    views: int
    helpful_yes: int
    helpful_no: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def live(self) -> bool:
        """Agents may read it: approved once and not archived."""
        return self.live_version is not None and self.state != "archived"


@dataclass(frozen=True)
class ArticleSummary:
    id: int
    category_id: int
    title: str
    lang: str
    state: str
    views: int
    helpful_yes: int
    helpful_no: int
    updated_at: dt.datetime
    author: str = ""


@dataclass(frozen=True)
class Version:
    number: int
    title: str
    html: str
    tags: tuple[str, ...]
    author: str
    created_at: dt.datetime


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    actor: str
    action: str
    from_state: str
    to_state: str
    version: int
    note: str


@dataclass(frozen=True)
class Comment:
    id: int
    version: int
    author: str
    body: str
    created_at: dt.datetime


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: kind " " (both), "-" (only the older), "+" (only the newer)."""

    kind: str
    text: str


@dataclass(frozen=True)
class Hit:
    article_id: int
    title: str
    snippet_html: Markup  # escaped text with <mark> around the matches: safe as markup
    score: float
    lang: str = ""
    category_id: int = 0


@dataclass(frozen=True)
class Attachment:
    id: int
    article_id: int | None
    sha256: str
    size: int
    mime: str
    kind: str
    filename: str
    uploaded_by: str
    created_at: dt.datetime


class StoredFileLike(Protocol):
    """What appliance/uploads.py's UploadStore.put returns (only these are read; read-only,
    so its frozen StoredFile is one)."""

    @property
    def sha256(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mime(self) -> str: ...
    @property
    def filename(self) -> str: ...


# ---- checks (pure) ----------------------------------------------------------------------


def _line(text: str, limit: int, error: str) -> str:
    value = " ".join((text or "").split())
    if not value or len(value) > limit:
        raise KBError(error)
    return value


def check_title(title: str) -> str:
    return _line(title, MAX_TITLE, N_("The title must have 1 to {n} characters.", n=MAX_TITLE))


def check_category_name(name: str) -> str:
    error = N_("The category name must have 1 to {n} characters.", n=MAX_CATEGORY)
    return _line(name, MAX_CATEGORY, error)


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise KBError(N_("Unknown article language: {lang}", lang=str(lang)[:8]))
    return lang


def check_tags(tags: Iterable[str] | str) -> tuple[str, ...]:
    """Tags lowercased, without commas or controls, each at most MAX_TAG long, duplicates
    dropped, at most MAX_TAGS."""
    items = tags.split(",") if isinstance(tags, str) else list(tags)
    out: list[str] = []
    for raw in items:
        tag = " ".join(str(raw).replace(",", " ").split()).casefold()
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise KBError(N_("A tag has at most {n} characters.", n=MAX_TAG))
        out.append(tag)
    out = list(dict.fromkeys(out))
    if len(out) > MAX_TAGS:
        raise KBError(N_("At most {n} tags.", n=MAX_TAGS))
    return tuple(out)


def check_html(html: str) -> tuple[str, str]:
    """The cleaned HTML and its plain text; KBError when it is too long to keep."""
    if len(html or "") > MAX_HTML:
        raise KBError(N_("The article is too long (at most {n} KB).", n=MAX_HTML // 1024))
    cleaned = clean_html(html or "")
    return cleaned, plain_text(cleaned)


def flow_node_key(flow: str, node: str) -> str:
    """The link target of an IVR flow's node, as a call's ivr_step events name them."""
    return f"{flow}:{node}"[:MAX_TARGET]


def diff_lines(old: Version, new: Version) -> list[DiffLine]:
    """The two versions' titles and texts, line by line (difflib)."""

    def lines(v: Version) -> list[str]:
        return [v.title, "", *plain_text(v.html).split("\n")]

    out: list[DiffLine] = []
    a, b = lines(old), lines(new)
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.extend(DiffLine(" ", t) for t in a[i1:i2])
            continue
        out.extend(DiffLine("-", t) for t in a[i1:i2])
        out.extend(DiffLine("+", t) for t in b[j1:j2])
    return out


def _tags(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split(",") if t)


def _kind_of(mime: str) -> str:
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("audio/"):
        return "audio"
    return "document"


# ---- the store ----------------------------------------------------------------------------


class KBStore(_Component):
    """The knowledge base on the database (``KBStore(ctx.db)``)."""

    # ---- categories

    def categories(self) -> defer.Deferred[list[Category]]:
        """Every category, parents before children is the caller's to build: ordered by
        position, then name."""
        c = model.kb_categories

        def thd(conn: Connection) -> list[Category]:
            rows = conn.execute(sa.select(c).order_by(c.c.position, c.c.name, c.c.id))
            return [Category(r.id, r.parent_id, r.name, r.position) for r in rows]

        return self.db.run(thd)

    def add_category(
        self, name: str, parent_id: int | None = None, position: int = 0
    ) -> defer.Deferred[int]:
        name = check_category_name(name)
        c = model.kb_categories

        def thd(conn: Connection) -> int:
            if parent_id is not None:
                _category_exists(conn, parent_id)
            _unique_name(conn, name, parent_id, None)
            result = conn.execute(
                c.insert().values(
                    name=name, parent_id=parent_id, position=int(position), created_at=utcnow()
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        return self.db.run(thd)

    def rename_category(self, category_id: int, name: str) -> defer.Deferred[None]:
        name = check_category_name(name)
        c = model.kb_categories

        def thd(conn: Connection) -> None:
            parent = _category_exists(conn, category_id)
            _unique_name(conn, name, parent, category_id)
            conn.execute(c.update().where(c.c.id == category_id).values(name=name))

        return self.db.run(thd)

    def move(
        self, category_id: int, parent_id: int | None, position: int = 0
    ) -> defer.Deferred[None]:
        """Put a category under ``parent_id`` (None: at the top) at ``position``; refused
        when the new parent is the category itself or one below it."""
        c = model.kb_categories

        def thd(conn: Connection) -> None:
            _category_exists(conn, category_id)
            at = parent_id
            while at is not None:
                if at == category_id:
                    raise KBError(N_("A category cannot move under itself."))
                at = _category_exists(conn, at)
            name = conn.execute(sa.select(c.c.name).where(c.c.id == category_id)).scalar_one()
            _unique_name(conn, name, parent_id, category_id)
            conn.execute(
                c.update()
                .where(c.c.id == category_id)
                .values(parent_id=parent_id, position=int(position))
            )

        return self.db.run(thd)

    def delete_category(self, category_id: int) -> defer.Deferred[None]:
        """Remove an empty category (refused while it has categories or articles)."""
        c, a = model.kb_categories, model.kb_articles

        def thd(conn: Connection) -> None:
            _category_exists(conn, category_id)
            if conn.execute(sa.select(c.c.id).where(c.c.parent_id == category_id)).first():
                raise KBError(N_("The category has categories below it."))
            if conn.execute(sa.select(a.c.id).where(a.c.category_id == category_id)).first():
                raise KBError(N_("The category has articles."))
            conn.execute(c.delete().where(c.c.id == category_id))

        return self.db.run(thd)

    # ---- articles

    def create(
        self,
        actor: str,
        category_id: int,
        title: str,
        html: str,
        lang: str,
        tags: Iterable[str] | str = (),
        role: str = "agent",
        now: dt.datetime | None = None,
    ) -> defer.Deferred[int]:
        """A new draft (version 1); its id."""
        review.check_author(role)
        title = check_title(title)
        lang = check_lang(lang)
        tag_list = check_tags(tags)
        cleaned, text = check_html(html)
        a = model.kb_articles

        def thd(conn: Connection) -> int:
            at = now or utcnow()
            _category_exists(conn, category_id)
            result = conn.execute(
                a.insert().values(
                    category_id=category_id,
                    title=title,
                    html=cleaned,
                    text=text,
                    lang=lang,
                    state="draft",
                    tags=",".join(tag_list),
                    author=actor[:64],
                    version=1,
                    created_at=at,
                    updated_at=at,
                )
            )
            article_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            _add_version(conn, article_id, 1, title, cleaned, tag_list, actor, at)
            _history(conn, article_id, actor, "created", "", "draft", 1, "", at)
            _claim_uploads(conn, article_id, actor, cleaned)
            _index(conn, article_id, False, lang, title, tag_list, text)
            return article_id

        return self.db.run(thd)

    def update(
        self,
        actor: str,
        role: str,
        article_id: int,
        title: str,
        html: str,
        tags: Iterable[str] | str = (),
        category_id: int | None = None,
        lang: str | None = None,
        now: dt.datetime | None = None,
    ) -> defer.Deferred[int]:
        """Save a new version (its number). The working copy becomes a draft; readers keep
        the live version until the new one is approved."""
        title = check_title(title)
        tag_list = check_tags(tags)
        cleaned, text = check_html(html)
        if lang is not None:
            check_lang(lang)
        a = model.kb_articles

        def thd(conn: Connection) -> int:
            at = now or utcnow()
            row = _article_row(conn, article_id)
            to = review.check_save(role, row.state)
            if category_id is not None:
                _category_exists(conn, category_id)
            number = row.version + 1
            _add_version(conn, article_id, number, title, cleaned, tag_list, actor, at)
            values: dict[str, Any] = {"state": to, "version": number, "updated_at": at}
            if category_id is not None:
                values["category_id"] = category_id
            if lang is not None:
                values["lang"] = lang
            if row.live_version is None:  # nothing approved yet: readers (editors) see this
                values.update(title=title, html=cleaned, text=text, tags=",".join(tag_list))
                _index(conn, article_id, False, lang or row.lang, title, tag_list, text)
            elif lang is not None:
                conn.execute(
                    model.kb_search.update()
                    .where(model.kb_search.c.article_id == article_id)
                    .values(lang=lang)
                )
            conn.execute(a.update().where(a.c.id == article_id).values(**values))
            _history(conn, article_id, actor, "saved", row.state, to, number, "", at)
            _claim_uploads(conn, article_id, actor, cleaned)
            return number

        return self.db.run(thd)

    def submit(self, actor: str, role: str, article_id: int) -> defer.Deferred[None]:
        return self._transition(actor, role, article_id, "submit", "")

    def approve(
        self, actor: str, role: str, article_id: int, note: str = ""
    ) -> defer.Deferred[None]:
        """Publish the newest version: it becomes what readers see and search finds."""
        return self._transition(actor, role, article_id, "approve", note)

    def reject(self, actor: str, role: str, article_id: int, note: str) -> defer.Deferred[None]:
        """Send it back to draft with a comment saying why (required)."""
        if not " ".join((note or "").split()):
            raise KBError(N_("Say why the article is rejected."))
        return self._transition(actor, role, article_id, "reject", note)

    def archive(
        self, actor: str, role: str, article_id: int, note: str = ""
    ) -> defer.Deferred[None]:
        return self._transition(actor, role, article_id, "archive", note)

    def restore(self, actor: str, role: str, article_id: int) -> defer.Deferred[None]:
        """Back from the archive: live again with its last approved version, as a draft when
        a newer version waits for review."""
        return self._transition(actor, role, article_id, "restore", "")

    def _transition(
        self, actor: str, role: str, article_id: int, action: str, note: str
    ) -> defer.Deferred[None]:
        note = (note or "").strip()[:MAX_COMMENT]
        a = model.kb_articles

        def thd(conn: Connection) -> None:
            at = utcnow()
            row = _article_row(conn, article_id)
            to = review.check(action, role, row.state)
            values: dict[str, Any] = {"state": to, "updated_at": at}
            live = row.live_version is not None
            if action == "approve":
                v = _version_row(conn, article_id, row.version)
                text = plain_text(v.html)
                values.update(
                    title=v.title,
                    html=v.html,
                    text=text,
                    tags=v.tags,
                    live_version=row.version,
                    published_at=at,
                    reviewer=actor[:64],
                )
                _index(conn, article_id, True, row.lang, v.title, _tags(v.tags), text)
            elif action == "reject":
                values["reviewer"] = actor[:64]
                _add_comment(conn, article_id, row.version, actor, note, at)
            elif action == "archive":
                _set_live(conn, article_id, False)
            elif action == "restore":
                if live and row.live_version == row.version:
                    values["state"] = to = "published"
                _set_live(conn, article_id, live)
            conn.execute(a.update().where(a.c.id == article_id).values(**values))
            _history(conn, article_id, actor, action, row.state, to, row.version, note, at)

        return self.db.run(thd)

    def get(self, article_id: int, latest: bool = False) -> defer.Deferred[Article | None]:
        """The article as readers see it; ``latest``: with its newest version's title, HTML
        and tags instead (the editor's and reviewer's view)."""

        def thd(conn: Connection) -> Article | None:
            row = conn.execute(
                sa.select(model.kb_articles).where(model.kb_articles.c.id == article_id)
            ).first()
            if row is None:
                return None
            shown = row.live_version if row.live_version is not None else row.version
            title, html, text, tags = row.title, row.html, row.text, row.tags
            if latest and shown != row.version:
                v = _version_row(conn, article_id, row.version)
                title, html, text, tags = v.title, v.html, plain_text(v.html), v.tags
                shown = row.version
            return Article(
                id=row.id,
                category_id=row.category_id,
                title=title,
                html=html,
                text=text,
                lang=row.lang,
                state=row.state,
                tags=_tags(tags),
                author=row.author,
                reviewer=row.reviewer,
                version=row.version,
                live_version=row.live_version,
                shown_version=shown,
                published_at=row.published_at,
                views=row.views,
                helpful_yes=row.helpful_yes,
                helpful_no=row.helpful_no,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )

        return self.db.run(thd)

    def articles(
        self,
        category_id: int | None = None,
        state: str | None = None,
        lang: str | None = None,
        live_only: bool = False,
        limit: int = 50,
        offset: int = 0,
        author: str | None = None,
    ) -> defer.Deferred[list[ArticleSummary]]:
        """Articles newest change first (a category's, in a state: "review" is the review
        queue; ``live_only``: what agents may read; ``author``: one user's)."""
        a = model.kb_articles
        query = sa.select(a).order_by(a.c.updated_at.desc(), a.c.id.desc())
        if author is not None:
            query = query.where(a.c.author == author[:64])
        if category_id is not None:
            query = query.where(a.c.category_id == category_id)
        if state is not None:
            query = query.where(a.c.state == state)
        if lang is not None:
            query = query.where(a.c.lang == lang)
        if live_only:
            query = query.where(_LIVE)
        query = query.limit(max(1, min(int(limit), MAX_LIMIT))).offset(max(0, int(offset)))

        def thd(conn: Connection) -> list[ArticleSummary]:
            return [_summary(r) for r in conn.execute(query)]

        return self.db.run(thd)

    def versions(self, article_id: int) -> defer.Deferred[list[Version]]:
        """Every saved version, newest first."""
        v = model.kb_versions

        def thd(conn: Connection) -> list[Version]:
            rows = conn.execute(
                sa.select(v).where(v.c.article_id == article_id).order_by(v.c.number.desc())
            )
            return [_version(r) for r in rows]

        return self.db.run(thd)

    def diff(self, article_id: int, v1: int, v2: int) -> defer.Deferred[list[DiffLine]]:
        """What changed from version ``v1`` to ``v2`` (any two), line by line."""

        def thd(conn: Connection) -> list[DiffLine]:
            old = _version(_version_row(conn, article_id, v1))
            new = _version(_version_row(conn, article_id, v2))
            return diff_lines(old, new)

        return self.db.run(thd)

    def history(self, article_id: int) -> defer.Deferred[list[HistoryEntry]]:
        """Every save and transition, oldest first."""
        h = model.kb_history

        def thd(conn: Connection) -> list[HistoryEntry]:
            rows = conn.execute(
                sa.select(h).where(h.c.article_id == article_id).order_by(h.c.at, h.c.id)
            )
            return [
                HistoryEntry(r.at, r.actor, r.action, r.from_state, r.to_state, r.version, r.note)
                for r in rows
            ]

        return self.db.run(thd)

    def comment(self, actor: str, article_id: int, body: str) -> defer.Deferred[int]:
        """A remark on the article's newest version (plain text)."""
        body = (body or "").strip()
        if not body or len(body) > MAX_COMMENT:
            raise KBError(N_("A comment has 1 to {n} characters.", n=MAX_COMMENT))

        def thd(conn: Connection) -> int:
            row = _article_row(conn, article_id)
            return _add_comment(conn, article_id, row.version, actor, body, utcnow())

        return self.db.run(thd)

    def comments(self, article_id: int) -> defer.Deferred[list[Comment]]:
        c = model.kb_comments

        def thd(conn: Connection) -> list[Comment]:
            rows = conn.execute(
                sa.select(c).where(c.c.article_id == article_id).order_by(c.c.created_at, c.c.id)
            )
            return [Comment(r.id, r.version, r.author, r.body, r.created_at) for r in rows]

        return self.db.run(thd)

    # ---- reading: search, views, votes, suggestions

    def search(
        self,
        query: str,
        limit: int = 20,
        published_only: bool = True,
        lang: str | None = None,
        offset: int = 0,
    ) -> defer.Deferred[list[Hit]]:
        """Articles holding every word of ``query`` (Chinese or English), best first, with a
        highlighted snippet each; ``published_only``: only what agents may read."""
        query = (query or "")[:MAX_QUERY]
        wanted = tokens.query_tokens(query)
        if lang is not None:
            check_lang(lang)
        limit = max(1, min(int(limit), MAX_LIMIT))
        a = model.kb_articles

        def thd(conn: Connection) -> list[Hit]:
            found = search.ranked(conn, wanted, limit, max(0, int(offset)), published_only, lang)
            if not found:
                return []
            rows = {
                r.id: r
                for r in conn.execute(
                    sa.select(a.c.id, a.c.title, a.c.text, a.c.lang, a.c.category_id).where(
                        a.c.id.in_([i for i, _ in found])
                    )
                )
            }
            return [
                Hit(
                    article_id=i,
                    title=rows[i].title,
                    snippet_html=snippets.highlight(rows[i].text, query),
                    score=score,
                    lang=rows[i].lang,
                    category_id=rows[i].category_id,
                )
                for i, score in found
                if i in rows
            ]

        return self.db.run(thd)

    def view(self, article_id: int) -> defer.Deferred[None]:
        """Count one reading."""
        a = model.kb_articles

        def thd(conn: Connection) -> None:
            conn.execute(a.update().where(a.c.id == article_id).values(views=a.c.views + 1))

        return self.db.run(thd)

    def vote(self, article_id: int, user: str, helpful: bool) -> defer.Deferred[tuple[int, int]]:
        """ "Was this helpful?": one vote per user (a second replaces the first); the
        article's (yes, no) counts after it."""
        v, a = model.kb_votes, model.kb_articles
        user = (user or "")[:64]
        if not user:
            raise KBError(N_("Only a signed-in user can vote."))

        def thd(conn: Connection) -> tuple[int, int]:
            _article_row(conn, article_id)
            key = (v.c.article_id == article_id) & (v.c.username == user)
            at = utcnow()
            if conn.execute(v.update().where(key).values(helpful=helpful, at=at)).rowcount == 0:
                conn.execute(
                    v.insert().values(article_id=article_id, username=user, helpful=helpful, at=at)
                )
            counts: dict[bool, int] = dict(
                conn.execute(
                    sa.select(v.c.helpful, sa.func.count())
                    .where(v.c.article_id == article_id)
                    .group_by(v.c.helpful)
                ).all()
            )
            yes, no = int(counts.get(True, 0)), int(counts.get(False, 0))
            conn.execute(
                a.update().where(a.c.id == article_id).values(helpful_yes=yes, helpful_no=no)
            )
            return yes, no

        return self.db.run(thd)

    def set_links(
        self, actor: str, role: str, article_id: int, links: Iterable[tuple[str, str]]
    ) -> defer.Deferred[None]:
        """Replace what the desk suggests the article from: (kind, target) pairs, kind one
        of KB_LINK_KINDS (a queue's id, ``flow_node_key(flow, node)``, a ticket type key)."""
        review.check_author(role)
        pairs: list[tuple[str, str]] = []
        for kind, target in links:
            if kind not in LINK_KINDS:
                raise KBError(N_("Unknown link kind: {kind}", kind=str(kind)[:20]))
            target = str(target).strip()
            if not target or len(target) > MAX_TARGET or any(ord(c) < 32 for c in target):
                raise KBError(N_("A link names 1 to {n} characters.", n=MAX_TARGET))
            pairs.append((kind, target))
        pairs = list(dict.fromkeys(pairs))
        if len(pairs) > MAX_LINKS:
            raise KBError(N_("At most {n} links.", n=MAX_LINKS))
        t = model.kb_links

        def thd(conn: Connection) -> None:
            row = _article_row(conn, article_id)
            conn.execute(t.delete().where(t.c.article_id == article_id))
            if pairs:
                conn.execute(
                    t.insert(),
                    [{"article_id": article_id, "kind": k, "target": g} for k, g in pairs],
                )
            note = ", ".join(f"{k}={g}" for k, g in pairs)
            _history(conn, article_id, actor, "linked", "", "", row.version, note, utcnow())

        return self.db.run(thd)

    def links(self, article_id: int) -> defer.Deferred[list[tuple[str, str]]]:
        t = model.kb_links

        def thd(conn: Connection) -> list[tuple[str, str]]:
            rows = conn.execute(
                sa.select(t.c.kind, t.c.target)
                .where(t.c.article_id == article_id)
                .order_by(t.c.kind, t.c.target)
            )
            return [(r.kind, r.target) for r in rows]

        return self.db.run(thd)

    def suggest(
        self,
        queue_id: int | str | None = None,
        flow_nodes: Sequence[str] = (),
        ticket_type: str | None = None,
        limit: int = 5,
    ) -> defer.Deferred[list[ArticleSummary]]:
        """Live articles linked to the call's queue, the IVR nodes it passed
        (``flow_node_key``) or the ticket's type: the most links matched first, then the
        most helpful, the most read."""
        wanted: list[tuple[str, str]] = []
        if queue_id is not None:
            wanted.append(("queue", str(queue_id)))
        wanted.extend(("flow_node", str(n)[:MAX_TARGET]) for n in list(flow_nodes)[:50])
        if ticket_type:
            wanted.append(("ticket_type", str(ticket_type)[:MAX_TARGET]))
        limit = max(1, min(int(limit), MAX_LIMIT))
        t, a = model.kb_links, model.kb_articles

        def thd(conn: Connection) -> list[ArticleSummary]:
            if not wanted:
                return []
            matched = sa.func.count().label("matched")
            per_article = (
                sa.select(t.c.article_id, matched)
                .where(sa.or_(*((t.c.kind == k) & (t.c.target == g) for k, g in wanted)))
                .group_by(t.c.article_id)
                .subquery()
            )
            rows = conn.execute(
                sa.select(a)
                .join(per_article, per_article.c.article_id == a.c.id)
                .where(_LIVE)
                .order_by(
                    per_article.c.matched.desc(),
                    (a.c.helpful_yes - a.c.helpful_no).desc(),
                    a.c.views.desc(),
                    a.c.id,
                )
                .limit(limit)
            )
            return [_summary(r) for r in rows]

        return self.db.run(thd)

    # ---- attachments

    def add_attachment(
        self, actor: str, stored: StoredFileLike, article_id: int | None = None
    ) -> defer.Deferred[int]:
        """Record a file the upload store kept (its type sniffed from its content there);
        served as ``/kb/attachments/<id>``. Without an article (a new article's editor) it
        is its uploader's until an article that shows it is saved (``_claim_uploads``).
        QuotaExceeded past the uploader's hour (appliance/db/upload_quota.py)."""
        t = model.kb_attachments

        def thd(conn: Connection) -> int:
            if article_id is not None:
                _article_row(conn, article_id)
            upload_quota.check(conn, actor, int(stored.size), utcnow())
            result = conn.execute(
                t.insert().values(
                    article_id=article_id,
                    sha256=stored.sha256,
                    size=int(stored.size),
                    mime=stored.mime[:100],
                    kind=_kind_of(stored.mime),
                    filename=(stored.filename or "")[:255],
                    uploaded_by=actor[:64],
                    created_at=utcnow(),
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        return self.db.run(thd)

    def attachment(self, attachment_id: int) -> defer.Deferred[Attachment | None]:
        t = model.kb_attachments

        def thd(conn: Connection) -> Attachment | None:
            r = conn.execute(sa.select(t).where(t.c.id == attachment_id)).first()
            return _attachment(r) if r is not None else None

        return self.db.run(thd)

    def attachments(self, article_id: int) -> defer.Deferred[list[Attachment]]:
        t = model.kb_attachments

        def thd(conn: Connection) -> list[Attachment]:
            rows = conn.execute(sa.select(t).where(t.c.article_id == article_id).order_by(t.c.id))
            return [_attachment(r) for r in rows]

        return self.db.run(thd)


# ---- in the pool's thread -----------------------------------------------------------------


def _category_exists(conn: Connection, category_id: int) -> int | None:
    """The category's parent id; KBError when there is no such category."""
    c = model.kb_categories
    row = conn.execute(sa.select(c.c.parent_id).where(c.c.id == category_id)).first()
    if row is None:
        raise KBError(N_("No such category: {id}", id=category_id))
    return row.parent_id


def _unique_name(conn: Connection, name: str, parent_id: int | None, own: int | None) -> None:
    c = model.kb_categories
    where = c.c.parent_id.is_(None) if parent_id is None else c.c.parent_id == parent_id
    query = sa.select(c.c.id).where(where & (c.c.name == name))
    if own is not None:
        query = query.where(c.c.id != own)
    if conn.execute(query).first() is not None:
        raise KBError(N_("A category named {name} is already there.", name=name))


def _article_row(conn: Connection, article_id: int) -> Any:
    """The article's row, locked until the transaction ends (PostgreSQL: two saves of one
    article never both take the next version number; SQLite writes one at a time)."""
    a = model.kb_articles
    row = conn.execute(sa.select(a).where(a.c.id == article_id).with_for_update()).first()
    if row is None:
        raise KBError(N_("No such article: {id}", id=article_id))
    return row


def _version_row(conn: Connection, article_id: int, number: int) -> Any:
    v = model.kb_versions
    row = conn.execute(
        sa.select(v).where((v.c.article_id == article_id) & (v.c.number == number))
    ).first()
    if row is None:
        raise KBError(N_("No version {n} of this article.", n=number))
    return row


def _version(r: Any) -> Version:
    return Version(r.number, r.title, r.html, _tags(r.tags), r.author, r.created_at)


def _summary(r: Any) -> ArticleSummary:
    return ArticleSummary(
        r.id,
        r.category_id,
        r.title,
        r.lang,
        r.state,
        r.views,
        r.helpful_yes,
        r.helpful_no,
        r.updated_at,
        r.author,
    )


def _claim_uploads(conn: Connection, article_id: int, actor: str, html: str) -> None:
    """The files ``actor`` uploaded with no article yet (a new article's editor) that the
    saved HTML shows become the article's: its readers may read them from now on. Someone
    else's unattached upload is never claimed (its id in the HTML gives nobody access)."""
    ids = {int(n) for n in _ATTACHMENT_URL.findall(html)}
    if not ids:
        return
    t = model.kb_attachments
    conn.execute(
        t.update()
        .where(t.c.id.in_(sorted(ids)), t.c.article_id.is_(None), t.c.uploaded_by == actor[:64])
        .values(article_id=article_id)
    )


def _attachment(r: Any) -> Attachment:
    return Attachment(
        r.id, r.article_id, r.sha256, r.size, r.mime, r.kind, r.filename, r.uploaded_by,
        r.created_at,
    )  # fmt: skip


def _add_version(
    conn: Connection,
    article_id: int,
    number: int,
    title: str,
    html: str,
    tags: Sequence[str],
    actor: str,
    at: dt.datetime,
) -> None:
    conn.execute(
        model.kb_versions.insert().values(
            article_id=article_id,
            number=number,
            title=title,
            html=html,
            tags=",".join(tags),
            author=actor[:64],
            created_at=at,
        )
    )


def _add_comment(
    conn: Connection, article_id: int, version: int, actor: str, body: str, at: dt.datetime
) -> int:
    result = conn.execute(
        model.kb_comments.insert().values(
            article_id=article_id, version=version, author=actor[:64], body=body, created_at=at
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _history(
    conn: Connection,
    article_id: int,
    actor: str,
    action: str,
    from_state: str,
    to_state: str,
    version: int,
    note: str,
    at: dt.datetime,
) -> None:
    conn.execute(
        model.kb_history.insert().values(
            article_id=article_id,
            at=at,
            actor=actor[:64],
            action=action,
            from_state=from_state,
            to_state=to_state,
            version=version,
            note=note[:MAX_COMMENT],
        )
    )


def search_row(
    article_id: int, live: bool, lang: str, title: str, tags: Sequence[str], text: str
) -> dict[str, Any]:
    """The kb_search row of what readers see (the bench bulk-loads these too)."""
    return {
        "article_id": article_id,
        "live": live,
        "lang": lang,
        "title_tokens": tokens.token_text(" ".join([title, *tags])),
        "body_tokens": tokens.token_text(text),
    }


def _index(
    conn: Connection,
    article_id: int,
    live: bool,
    lang: str,
    title: str,
    tags: Sequence[str],
    text: str,
) -> None:
    s = model.kb_search
    row = search_row(article_id, live, lang, title, tags, text)
    conn.execute(s.delete().where(s.c.article_id == article_id))
    conn.execute(s.insert().values(**row))


def _set_live(conn: Connection, article_id: int, live: bool) -> None:
    s = model.kb_search
    conn.execute(s.update().where(s.c.article_id == article_id).values(live=live))
