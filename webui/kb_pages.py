"""The knowledge base (/kb/): the category tree, reading an article (views, "was this
helpful", its files), search with highlighted snippets, the editor, the review queue with
approve and reject, comments on drafts, versions and the diff between any two, and the
links the desk suggests an article from.

The rules are the store's (appliance/kb/store.py, appliance/kb/review.py): who may publish,
what a save does. Pages only choose what to show: an article that is not live is shown to
its author and to reviewers. HTML is marked safe only as ``rich_text.clean_html`` returns
it (again here, whatever the store did); search snippets too go through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import cherrypy
from cherrypy.lib import static
from markupsafe import Markup

from appliance import uploads
from appliance.db.upload_quota import UploadQuota
from appliance.kb import review
from appliance.kb.store import Article, Category, KBError, KBStore, flow_node_key
from appliance.rich_text import MAX_HTML, clean_html
from webui import admin_forms as f
from webui import i18n, vendor
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render
from webui.ticket_files import upload_root

AUTHORS = tuple(sorted(review.AUTHORS))
REVIEWERS = tuple(sorted(review.REVIEWERS))
MAX_SEARCH = 200
PAGE = 20  # search hits a page
MAX_PAGE = 50
MAX_FLOW_NODES = 50
MAX_LINKED_QUEUES = 200  # the queues one article is suggested for


@dataclass(frozen=True)
class TreeRow:
    category: Category
    depth: int
    path: str  # "Parent / Child": the name shown in selects


def tree(categories: list[Category]) -> list[TreeRow]:
    """The categories depth first, each under its parent (any depth; a row whose parent is
    missing shows at the top rather than not at all)."""
    by_parent: dict[int | None, list[Category]] = {}
    ids = {c.id for c in categories}
    for c in categories:
        by_parent.setdefault(c.parent_id if c.parent_id in ids else None, []).append(c)
    out: list[TreeRow] = []

    def walk(parent: int | None, depth: int, prefix: str) -> None:
        for c in by_parent.get(parent, []):
            path = f"{prefix} / {c.name}" if prefix else c.name
            out.append(TreeRow(c, depth, path))
            if depth < 64:
                walk(c.id, depth + 1, path)

    walk(None, 0, "")
    return out


def safe_html(html: str) -> Markup:
    """The only way article HTML reaches a page: cleaned here, then marked safe."""
    return Markup(clean_html(html))  # noqa: S704 (clean_html's output is an allowlist's)


def state_names() -> dict[str, str]:
    return {
        "draft": i18n._("Draft"),
        "review": i18n._("In review"),
        "published": i18n._("Published"),
        "archived": i18n._("Archived"),
    }


def action_names() -> dict[str, str]:
    """An article's history entries, by the store's action codes."""
    return {
        "created": i18n._("created"),
        "saved": i18n._("saved"),
        "submit": i18n._("submitted for review"),
        "approve": i18n._("approved"),
        "reject": i18n._("rejected"),
        "archive": i18n._("archived"),
        "restore": i18n._("restored"),
        "linked": i18n._("desk suggestions changed"),
    }


def lang_names() -> dict[str, str]:
    return {"zh": i18n._("Chinese"), "en": i18n._("English")}


def _user() -> Any:
    user = current_session().user
    assert user is not None
    return user


def _id(params: dict[str, Any], name: str = "id") -> int:
    """The id a page or a POST is about: a bad one is 404 (nothing to show)."""
    return f.page_id(params.get(name))


def _optional(params: dict[str, Any], name: str) -> int | None:
    value = params.get(name, "")
    if value in ("", None):
        return None
    return f.page_id(value)


class KBPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = KBStore(ctx.db)

    # ---- helpers --------------------------------------------------------------------------

    def _tree(self) -> list[TreeRow]:
        return tree(self.ctx.call(self.store.categories))

    def _article(self, article_id: int, latest: bool = False) -> Article:
        """The article if this user may see it (live, or theirs, or a reviewer's), else 404."""
        article = self.ctx.call(self.store.get, article_id, latest)
        if article is None or not self._may_see(article):
            raise cherrypy.NotFound()
        return article

    @staticmethod
    def _may_see(article: Article) -> bool:
        user = _user()
        return article.live or user.role in REVIEWERS or article.author == user.username

    @staticmethod
    def _may_see_unattached(uploaded_by: str) -> bool:
        """A file no saved article shows yet (uploaded from a new article's editor) is its
        uploader's and the admins' only."""
        user = _user()
        return user.role == "admin" or (bool(uploaded_by) and user.username == uploaded_by)

    @staticmethod
    def _may_edit(article: Article) -> bool:
        """Reviewers edit any article; an author its own and live ones (a new draft version
        that waits for review)."""
        user = _user()
        if user.role in REVIEWERS:
            return True
        return user.role in AUTHORS and (article.author == user.username or article.live)

    def _done(self, back: str, work: Callable[[], str]) -> NoReturn:
        """admin_forms.finish (the store's refusals become the message), except that a role
        the review rules refuse is 403, not a message."""

        def checked() -> str:
            try:
                return work()
            except review.ReviewError as exc:
                raise cherrypy.HTTPError(403, i18n.error(exc)) from None

        f.finish(back, checked)

    # ---- reading --------------------------------------------------------------------------

    @page()
    def index(self, **params: Any) -> str:
        user = _user()
        rows = self._tree()
        chosen = _optional(params, "category")
        if chosen is not None and chosen not in {r.category.id for r in rows}:
            raise cherrypy.NotFound()
        reviewer = user.role in REVIEWERS
        articles = self.ctx.call(self.store.articles, chosen, None, None, not reviewer, 100)
        drafts = []
        if not reviewer and user.role in AUTHORS:  # an author's own work in progress
            drafts = [
                a
                for state in ("draft", "review")
                for a in self.ctx.call(
                    self.store.articles, None, state, None, False, 100, 0, user.username
                )
            ]
        return render(
            self.ctx,
            "kb.html",
            rows=rows,
            chosen=chosen,
            articles=articles,
            drafts=drafts,
            reviewer=reviewer,
            author=user.role in AUTHORS,
            states=state_names(),
            langs=lang_names(),
        )

    @page()
    def search(self, **params: Any) -> str:
        query = f.bounded(params, "q", MAX_SEARCH).strip()
        lang = f.bounded(params, "lang", 2) or None
        if lang is not None and lang not in lang_names():
            raise cherrypy.HTTPError(400, i18n._("unknown language"))
        raw_page = f.bounded(params, "page", 3) or "1"
        if not raw_page.isascii() or not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
            raise cherrypy.HTTPError(
                400, i18n._("{field}: not a valid choice.").format(field="page")
            )
        number = int(raw_page)
        reviewer = _user().role in REVIEWERS
        hits = []
        more = False
        if query:
            found = self.ctx.call(
                self.store.search, query, PAGE + 1, not reviewer, lang, (number - 1) * PAGE
            )
            more = len(found) > PAGE and number < MAX_PAGE
            hits = [(h, safe_html(str(h.snippet_html))) for h in found[:PAGE]]
        return render(
            self.ctx,
            "kb_search.html",
            query=query,
            lang=lang or "",
            hits=hits,
            langs=lang_names(),
            number=number,
            more=more,
            first=(number - 1) * PAGE + 1,
        )

    @page()
    def article(self, **params: Any) -> str:
        article_id = _id(params)
        latest = params.get("latest") == "1"
        article = self._article(article_id, latest)
        if latest and not self._may_edit(article):  # a draft version is its editors' only
            latest = False
            article = self._article(article_id)
        user = _user()
        counted = article.live and not latest
        if counted:
            self.ctx.call(self.store.view, article_id)
        editor = self._may_edit(article)
        rows = self._tree()
        paths = {r.category.id: r.path for r in rows}
        comments = self.ctx.call(self.store.comments, article_id) if editor else []
        return render(
            self.ctx,
            "kb_article.html",
            article=article,
            body=safe_html(article.html),
            views=article.views + (1 if counted else 0),
            latest=latest,
            category_path=paths.get(article.category_id, ""),
            attachments=self.ctx.call(self.store.attachments, article_id),
            links=self.ctx.call(self.store.links, article_id),
            comments=comments,
            history=self.ctx.call(self.store.history, article_id) if editor else [],
            editor=editor,
            reviewer=user.role in REVIEWERS,
            is_author=user.role in AUTHORS,
            states=state_names(),
            langs=lang_names(),
            actions=action_names(),
        )

    @page(methods=("POST",))
    def vote(self, **params: Any) -> None:
        article = self._article(_id(params))
        helpful = f.bounded(params, "helpful", 3) == "yes"
        self.ctx.call(self.store.vote, article.id, _user().username, helpful)
        current_session().flash.append(i18n._("Thank you for your answer."))
        raise cherrypy.HTTPRedirect(f"/kb/article?id={article.id}", 303)

    @page()
    def attachments(self, ident: str = "", name: str = "", **params: Any) -> Any:
        """``/kb/attachments/<id>[/<name>]``: a file the index knows, with the type sniffed
        from its content when it was uploaded; images and audio inline, documents saved."""
        if not ident.isascii() or not ident.isdigit() or len(ident) > 10:
            raise cherrypy.NotFound()
        found = self.ctx.call(self.store.attachment, int(ident))
        if found is None:
            raise cherrypy.NotFound()
        if found.article_id is not None:  # a draft's files are its readers' only
            self._article(found.article_id)
        elif not self._may_see_unattached(found.uploaded_by):
            raise cherrypy.NotFound()
        path = uploads.UploadStore(upload_root(self.ctx.config)).path(found.sha256)
        if path is None:
            raise cherrypy.NotFound()
        inline = found.kind in ("image", "audio")
        return static.serve_file(
            str(path),
            content_type=found.mime,
            disposition="inline" if inline else "attachment",
            name=found.filename or f"file-{found.id}",
        )

    # ---- writing --------------------------------------------------------------------------

    @page(*AUTHORS, methods=("GET", "POST"))
    def edit(self, **params: Any) -> str:
        """A new article (no id; ``category`` preselected) or a new version of one."""
        article_id = _optional(params, "id")
        article = self._article(article_id, latest=True) if article_id is not None else None
        if article is not None and not self._may_edit(article):
            raise cherrypy.HTTPError(403, i18n._("You may not edit this article."))
        rows = self._tree()
        error = None
        form: dict[str, str] = {
            "title": article.title if article else "",
            "html": article.html if article else "",
            "lang": article.lang if article else "zh",
            "tags": ", ".join(article.tags) if article else "",
            "category": str(article.category_id if article else params.get("category", "")),
        }
        if cherrypy.serving.request.method == "POST":
            user = _user()
            try:
                form = {
                    "title": f.text(params, "title", i18n._("Title"), 200),
                    "html": self._html(params),
                    "lang": f.choice(params, "lang", i18n._("Language"), ("zh", "en")),
                    "tags": f.text(params, "tags", i18n._("Tags"), 1000),
                    "category": f.text(params, "category", i18n._("Category"), 12),
                }
                category = f.row_id(params, "category")
                if article is None:
                    article_id = self.ctx.call(
                        self.store.create,
                        user.username,
                        category,
                        form["title"],
                        form["html"],
                        form["lang"],
                        form["tags"],
                        user.role,
                    )
                else:
                    self.ctx.call(
                        self.store.update,
                        user.username,
                        user.role,
                        article.id,
                        form["title"],
                        form["html"],
                        form["tags"],
                        category,
                        form["lang"],
                    )
            except review.ReviewError as exc:
                raise cherrypy.HTTPError(403, i18n.error(exc)) from None
            except (KBError, f.FormError) as exc:
                error = i18n.error(exc)
                cherrypy.serving.response.status = 400
            else:
                current_session().flash.append(
                    i18n._("Saved as a draft: submit it for review when it is ready.")
                )
                raise cherrypy.HTTPRedirect(f"/kb/article?id={article_id}&latest=1", 303)
        return render(
            self.ctx,
            "kb_edit.html",
            article=article,
            form=form,
            error=error,
            rows=rows,
            langs=lang_names(),
            editor_missing=vendor.QUILL in vendor.missing(),
        )

    @staticmethod
    def _html(params: dict[str, Any]) -> str:
        value = params.get("html", "")
        if not isinstance(value, str):
            raise f.FormError(i18n._("{field}: send it once, as text.").format(field="html"))
        if len(value) > MAX_HTML:
            raise f.FormError(
                i18n._("The article is too long (at most {n} KB).").format(n=MAX_HTML // 1024)
            )
        return value

    @page(*AUTHORS, methods=("POST",))
    @cherrypy.config(**{"request.body.maxbytes": uploads.MAX_SIZE + 64 * 1024})
    def upload(self, **params: Any) -> bytes:
        """A file for an article (multipart ``file``; ``id``: the article, when saved). The
        editor's image button asks with ``json=1`` and inserts the URL it gets back; the
        form on the editor page comes back to it."""
        wants_json = params.get("json") == "1"
        article_id = _optional(params, "id")
        if article_id is not None and not self._may_edit(self._article(article_id, True)):
            raise cherrypy.HTTPError(403, i18n._("You may not edit this article."))
        part = params.get("file")
        try:
            if part is None or not hasattr(part, "file"):
                raise f.FormError(i18n._("Choose a file to upload."))
            data = part.file.read(uploads.MAX_SIZE + 1)
            self.ctx.call(UploadQuota(self.ctx.db).check, _user().username, len(data))
            stored = uploads.UploadStore(upload_root(self.ctx.config)).put(
                data, str(getattr(part, "filename", "") or "")[:255]
            )
            attachment_id = self.ctx.call(
                self.store.add_attachment, _user().username, stored, article_id
            )
        except (f.FormError, uploads.UploadRefused, KBError) as exc:
            if wants_json:
                cherrypy.serving.response.status = 400
                cherrypy.serving.response.headers["Content-Type"] = "application/json"
                return json.dumps({"error": i18n.error(exc)}).encode()
            current_session().flash.append(i18n.error(exc))
        else:
            url = f"/kb/attachments/{attachment_id}"
            if wants_json:
                cherrypy.serving.response.headers["Content-Type"] = "application/json"
                return json.dumps({"id": attachment_id, "url": url, "mime": stored.mime}).encode()
            current_session().flash.append(i18n._("File attached."))
        back = f"/kb/edit?id={article_id}" if article_id is not None else "/kb/edit"
        raise cherrypy.HTTPRedirect(back, 303)

    @page(*AUTHORS, methods=("POST",))
    def submit(self, **params: Any) -> None:
        article = self._article(_id(params), latest=True)
        if not self._may_edit(article):
            raise cherrypy.HTTPError(403, i18n._("You may not edit this article."))
        user = _user()
        self._done(
            f"/kb/article?id={article.id}&latest=1",
            lambda: (
                self.ctx.call(self.store.submit, user.username, user.role, article.id),
                i18n._("Sent for review."),
            )[1],
        )

    @page(*REVIEWERS, methods=("POST",))
    def approve(self, **params: Any) -> None:
        article = self._article(_id(params), latest=True)
        user = _user()
        note = f.bounded(params, "note", 2000)
        self._done(
            f"/kb/article?id={article.id}",
            lambda: (
                self.ctx.call(self.store.approve, user.username, user.role, article.id, note),
                i18n._("Published."),
            )[1],
        )

    @page(*REVIEWERS, methods=("POST",))
    def reject(self, **params: Any) -> None:
        article = self._article(_id(params), latest=True)
        user = _user()
        note = f.bounded(params, "note", 2000)
        self._done(
            f"/kb/article?id={article.id}&latest=1",
            lambda: (
                self.ctx.call(self.store.reject, user.username, user.role, article.id, note),
                i18n._("Sent back to its author as a draft."),
            )[1],
        )

    @page(*REVIEWERS, methods=("POST",))
    def archive(self, **params: Any) -> None:
        article = self._article(_id(params), latest=True)
        user = _user()
        restore = params.get("restore") == "1"

        def work() -> str:
            if restore:
                self.ctx.call(self.store.restore, user.username, user.role, article.id)
                return i18n._("Restored.")
            self.ctx.call(self.store.archive, user.username, user.role, article.id)
            return i18n._("Archived: readers no longer see it.")

        self._done(f"/kb/article?id={article.id}&latest=1", work)

    @page(*AUTHORS, methods=("POST",))
    def comment(self, **params: Any) -> None:
        article = self._article(_id(params), latest=True)
        if not self._may_edit(article):
            raise cherrypy.HTTPError(403, i18n._("You may not edit this article."))
        body = f.bounded(params, "body", 2000)
        self._done(
            f"/kb/article?id={article.id}&latest=1#comments",
            lambda: (
                self.ctx.call(self.store.comment, _user().username, article.id, body),
                i18n._("Comment added."),
            )[1],
        )

    @page(*REVIEWERS, methods=("GET", "POST"))
    def links(self, **params: Any) -> str:
        """What the desk suggests the article from: queues, IVR flow nodes, ticket types."""
        article = self._article(_id(params), latest=True)
        if cherrypy.serving.request.method == "POST":
            user = _user()

            def work() -> str:
                pairs = [("queue", str(q)) for q in f.many_ids(params, "queue", MAX_LINKED_QUEUES)]
                pairs += [("ticket_type", t) for t in _many_texts(params, "ticket_type", 64)]
                nodes = f.bounded(params, "flow_nodes", 8000)  # lines: not f.text's one line
                for line in nodes.replace("\r", "\n").split("\n")[: MAX_FLOW_NODES + 1]:
                    line = line.strip()
                    if not line:
                        continue
                    flow, sep, node = line.partition(":")
                    if not sep or not flow.strip() or not node.strip():
                        raise f.FormError(i18n._("IVR flow nodes: one flow:node a line."))
                    pairs.append(("flow_node", flow_node_key(flow.strip(), node.strip())))
                self.ctx.call(self.store.set_links, user.username, user.role, article.id, pairs)
                return i18n._("Links saved.")

            self._done(f"/kb/links?id={article.id}", work)
        links = self.ctx.call(self.store.links, article.id)
        return render(
            self.ctx,
            "kb_links.html",
            article=article,
            queues=self.ctx.call(self.ctx.db.queues.list_all),
            ticket_types=self._ticket_types(),
            linked={(k, t) for k, t in links},
            flow_nodes="\n".join(t for k, t in links if k == "flow_node"),
        )

    def _ticket_types(self) -> list[tuple[str, str]]:
        """(key, name) of the active ticket types (names translated: built-ins are N_)."""
        from appliance.crm.tickets.catalog import TicketCatalog

        types = self.ctx.call(TicketCatalog(self.ctx.db).types, True)
        return [(t.key, i18n.shown(t.name)) for t in types]

    # ---- review and history ---------------------------------------------------------------

    @page(*REVIEWERS)
    def review(self, **params: Any) -> str:
        waiting = self.ctx.call(self.store.articles, None, "review", None, False, 100)
        paths = {r.category.id: r.path for r in self._tree()}
        return render(
            self.ctx,
            "kb_review.html",
            waiting=waiting,
            paths=paths,
            langs=lang_names(),
        )

    @page(*AUTHORS)
    def versions(self, **params: Any) -> str:
        """Every version, and the diff between any two (``a``: older, ``b``: newer)."""
        article = self._article(_id(params), latest=True)
        if not self._may_edit(article):
            raise cherrypy.HTTPError(403, i18n._("You may not edit this article."))
        versions = self.ctx.call(self.store.versions, article.id)
        numbers = {v.number for v in versions}
        a, b = _optional(params, "a"), _optional(params, "b")
        diff = None
        if a is not None and b is not None:
            if a not in numbers or b not in numbers:
                raise cherrypy.NotFound()
            diff = self.ctx.call(self.store.diff, article.id, a, b)
        elif versions:
            b = versions[0].number
            a = versions[1].number if len(versions) > 1 else b
        return render(
            self.ctx,
            "kb_versions.html",
            article=article,
            versions=versions,
            a=a,
            b=b,
            diff=diff,
        )

    # ---- categories (supervisors and admins) ----------------------------------------------

    @page(*REVIEWERS, methods=("POST",))
    def category(self, **params: Any) -> None:
        """``action``: add (name, parent), rename (id, name), move (id, parent), delete
        (id, when empty)."""
        action = f.bounded(params, "action", 8)

        def work() -> str:
            if action == "add":
                name = f.text(params, "name", i18n._("Name"), 100, required=True)
                parent = f.optional_id(params, "parent", i18n._("Under"))
                self.ctx.call(self.store.add_category, name, parent)
                return i18n._("Category added.")
            target = f.row_id(params, "id")
            if action == "rename":
                name = f.text(params, "name", i18n._("Name"), 100, required=True)
                self.ctx.call(self.store.rename_category, target, name)
                return i18n._("Category renamed.")
            if action == "move":
                parent = f.optional_id(params, "parent", i18n._("Under"))
                self.ctx.call(self.store.move, target, parent)
                return i18n._("Category moved.")
            if action == "delete":
                self.ctx.call(self.store.delete_category, target)
                return i18n._("Category deleted.")
            raise f.FormError(i18n._("unknown action"))

        self._done("/kb/categories", work)

    @page(*REVIEWERS)
    def categories(self, **params: Any) -> str:
        return render(self.ctx, "kb_categories.html", rows=self._tree())


def _many_texts(params: dict[str, Any], name: str, limit: int) -> list[str]:
    value = params.get(name, [])
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values[:200]:
        if not isinstance(v, str) or len(v) > limit or not v.strip():
            raise f.FormError(i18n._("{field}: not a valid choice.").format(field=name))
        out.append(v.strip())
    return out
