"""Training (/training/): supervisors build quizzes from knowledge-base articles and assign
them; agents take theirs and see their score; supervisors see the results per agent and
per question. Scoring is the store's (appliance/kb/training.py): the taking page is built
from questions that carry no correct options, and the POST sends only the choices."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import cherrypy

from appliance.kb import training
from appliance.kb.training import (
    AlreadyTaken,
    NotFound,
    QuestionDraft,
    TrainingError,
    TrainingStore,
)
from appliance.zones import center_zone
from webui import admin_forms as f
from webui import i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render

TRAINERS = ("admin", "supervisor")
MAX_BLOCKS = 50  # question blocks on the builder page
DEFAULT_BLOCKS = 5
OPTION_SLOTS = training.MAX_OPTIONS
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
RECENT_ARTICLES = 100  # the builder's lists without a search: the most recently changed
FOUND_ARTICLES = 50  # with one: the knowledge base's best hits
MAX_QUERY = 200


class ArticleChoice(NamedTuple):
    id: int
    title: str


def kind_names() -> dict[str, str]:
    return {
        "single": i18n._("One correct option"),
        "multiple": i18n._("One or more correct options"),
        "true_false": i18n._("True or false"),
    }


def option_text(kind: str, option: str) -> str:
    """A true/false question's options are stored as "true"/"false": shown translated."""
    if kind == "true_false":
        return i18n._("True") if option == "true" else i18n._("False")
    return option


def _indexes(value: Any, most: int) -> tuple[int, ...]:
    """Option indexes from a radio (one value) or checkboxes (several): anything else is a
    broken form (400)."""
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values[: most + 1]:
        if not isinstance(v, str) or not v.isascii() or not v.isdigit() or len(v) > 2:
            raise cherrypy.HTTPError(400, i18n._("not a valid choice"))
        out.append(int(v))
    return tuple(out)


def read_questions(params: dict[str, Any]) -> list[QuestionDraft]:
    """The builder's blocks (``q<i>_...``) as drafts; a block with neither text nor article
    is an unused one and skipped. The store checks what is left."""
    drafts: list[QuestionDraft] = []
    for i in range(MAX_BLOCKS):
        p = f"q{i}_"
        text = f.text(params, p + "text", i18n._("Question"), training.MAX_QUESTION)
        article = f.optional_id(params, p + "article", i18n._("Article"))
        if not text and article is None:
            continue
        if article is None:
            raise f.FormError(
                i18n._("Question {n}: choose the article it checks.").format(n=len(drafts) + 1)
            )
        kind = f.choice(params, p + "kind", i18n._("Kind"), training.KINDS)
        options = tuple(
            f.text(params, f"{p}opt{j}", i18n._("Option"), training.MAX_OPTION)
            for j in range(OPTION_SLOTS)
        )
        if kind == "true_false":
            answer = f.text(params, p + "tf", i18n._("Answer"), 5)
            correct: tuple[int, ...] = (0,) if answer == "true" else (1,) if answer else ()
        else:
            # the ticked boxes, as positions among the filled-in options
            filled = [j for j in range(OPTION_SLOTS) if options[j]]
            correct = tuple(filled.index(j) for j in filled if f.checkbox(params, f"{p}ok{j}"))
        drafts.append(QuestionDraft(article, kind, text, options, correct))
    return drafts


def due_from(params: dict[str, Any], zone: str) -> dt.datetime:
    """The due date (a day): its end in the center's zone."""
    raw = f.text(params, "due", i18n._("Due date"), 10, required=True)
    try:
        if not DATE.fullmatch(raw):
            raise ValueError(raw)
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise f.FormError(i18n._("Due date: a day like 2026-12-31.")) from None
    end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=center_zone(zone))
    return end.astimezone(dt.UTC)


def _number(agent: Any) -> str:
    return str(agent.number)


class TrainingPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = TrainingStore(ctx.db)

    # ---- helpers --------------------------------------------------------------------------

    def _local(self, t: dt.datetime | None) -> str:
        if t is None:
            return ""
        return t.astimezone(center_zone(self.ctx.config.reports.timezone)).strftime(
            "%Y-%m-%d %H:%M"
        )

    def _my_agent(self) -> int | None:
        user = current_session().user
        assert user is not None
        return self.ctx.call(self.store.agent_of_user, user.id)

    def _quiz(self, quiz_id: int) -> training.Quiz:
        try:
            return self.ctx.call(self.store.quiz, quiz_id)
        except NotFound:
            raise cherrypy.NotFound() from None

    def _articles(self, query: str = "", chosen: Iterable[int] = ()) -> list[ArticleChoice]:
        """The published articles a question may be tied to: what the knowledge base's
        search finds for ``query`` (without one, the most recently changed), and those the
        form has chosen already, whatever the search found."""
        from appliance.kb.store import KBStore

        store = KBStore(self.ctx.db)
        if query:
            hits = self.ctx.call(store.search, query, FOUND_ARTICLES, True)
            found = [ArticleChoice(h.article_id, h.title) for h in hits]
        else:
            recent = self.ctx.call(store.articles, None, None, None, True, RECENT_ARTICLES)
            found = [ArticleChoice(a.id, a.title) for a in recent]
        listed = {a.id for a in found}
        for article_id in chosen:
            if article_id in listed:
                continue
            article = self.ctx.call(store.get, article_id)
            if article is not None and article.live:
                found.append(ArticleChoice(article.id, article.title))
                listed.add(article.id)
        return found

    @staticmethod
    def _chosen(params: dict[str, Any]) -> list[int]:
        """The articles the builder's blocks name (ids as sent; the store checks them)."""
        out = []
        for i in range(MAX_BLOCKS):
            value = params.get(f"q{i}_article")
            if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
                out.append(int(value))
        return out

    # ---- everyone -------------------------------------------------------------------------

    @page()
    def index(self) -> str:
        user = current_session().user
        assert user is not None
        agent_id = self._my_agent()
        mine = self.ctx.call(self.store.assignments, agent_id) if agent_id is not None else []
        quizzes = self.ctx.call(self.store.quizzes) if user.role in TRAINERS else []
        return render(
            self.ctx,
            "training.html",
            mine=mine,
            is_agent=agent_id is not None,
            quizzes=quizzes,
            trainer=user.role in TRAINERS,
            now=dt.datetime.now(dt.UTC),
            local=self._local,
        )

    @page(methods=("GET", "POST"))
    def take(self, **params: Any) -> str:
        """The quiz's questions (GET) and the submission (POST: scored by the store)."""
        quiz_id = f.page_id(params.get("id"))
        agent_id = self._my_agent()
        if agent_id is None:
            raise cherrypy.NotFound()
        try:
            assignment, questions = self.ctx.call(self.store.to_take, agent_id, quiz_id)
        except NotFound:
            raise cherrypy.NotFound() from None
        except AlreadyTaken as exc:
            current_session().flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect(f"/training/result?id={quiz_id}", 303) from None
        if cherrypy.serving.request.method == "POST":
            answers = {
                q.id: _indexes(params[f"a{q.id}"], training.MAX_OPTIONS)
                for q in questions
                if f"a{q.id}" in params
            }
            try:
                result = self.ctx.call(self.store.submit, agent_id, quiz_id, answers)
            except TrainingError as exc:  # AlreadyTaken too (a second tab)
                current_session().flash.append(i18n.error(exc))
            else:
                current_session().flash.append(
                    i18n._("Submitted: {correct} of {total} right, score {score}.").format(
                        correct=result.correct, total=result.total, score=result.score
                    )
                )
            raise cherrypy.HTTPRedirect(f"/training/result?id={quiz_id}", 303)
        return render(
            self.ctx,
            "training_take.html",
            assignment=assignment,
            questions=questions,
            option_text=option_text,
            local=self._local,
        )

    @page()
    def result(self, **params: Any) -> str:
        """The logged-in agent's own attempts at a quiz (another's: 404)."""
        quiz_id = f.page_id(params.get("id"))
        agent_id = self._my_agent()
        if agent_id is None:
            raise cherrypy.NotFound()
        try:
            attempts = self.ctx.call(self.store.attempts, agent_id, quiz_id)
            assignment = self.ctx.call(self.store.assignment, agent_id, quiz_id)
        except NotFound:
            raise cherrypy.NotFound() from None
        # the questions' texts only (never their correct options: a retake may follow)
        texts = {q.id: q.text for q in self._quiz(quiz_id).questions}
        return render(
            self.ctx,
            "training_result.html",
            assignment=assignment,
            attempts=attempts,
            texts=texts,
            local=self._local,
        )

    # ---- supervisors ----------------------------------------------------------------------

    @page(*TRAINERS, methods=("GET", "POST"))
    def new(self, **params: Any) -> str:
        """The quiz builder: ``blocks`` empty question blocks (more with ?blocks=); its
        article lists are the knowledge base's hits for ``q`` (the form's *Search* button
        posts what is typed and saves nothing)."""
        request = cherrypy.serving.request
        error = None
        query = f.bounded(params, "q", MAX_QUERY).strip()
        blocks = DEFAULT_BLOCKS
        raw = params.get("blocks", "")
        if isinstance(raw, str) and raw.isascii() and raw.isdigit():
            blocks = max(1, min(MAX_BLOCKS, int(raw)))
        if request.method == "POST" and not params.get("find"):
            user = current_session().user
            assert user is not None
            try:
                title = f.text(params, "title", i18n._("Title"), training.MAX_TITLE)
                description = f.text(
                    params, "description", i18n._("Description"), training.MAX_DESCRIPTION
                )
                quiz_id = self.ctx.call(
                    self.store.create_quiz,
                    user.username,
                    title,
                    read_questions(params),
                    description=description,
                    allow_retake=f.checkbox(params, "allow_retake"),
                )
            except (f.FormError, TrainingError) as exc:
                error = i18n.error(exc)
                cherrypy.serving.response.status = 400
            else:
                current_session().flash.append(i18n._("Quiz saved: now assign it."))
                raise cherrypy.HTTPRedirect(f"/training/assign?id={quiz_id}", 303)
        form = {k: v for k, v in params.items() if isinstance(v, str)}
        return render(
            self.ctx,
            "training_new.html",
            error=error,
            form=form,
            blocks=max(blocks, self._used_blocks(params)),
            slots=OPTION_SLOTS,
            kinds=kind_names(),
            articles=self._articles(query, self._chosen(params)),
            query=query,
        )

    @staticmethod
    def _used_blocks(params: dict[str, Any]) -> int:
        used = [
            i + 1
            for i in range(MAX_BLOCKS)
            if params.get(f"q{i}_text") or params.get(f"q{i}_article")
        ]
        return max(used, default=0)

    @page(*TRAINERS, methods=("GET", "POST"))
    def assign(self, **params: Any) -> str:
        quiz = self._quiz(f.page_id(params.get("id")))
        error = None
        if cherrypy.serving.request.method == "POST":
            user = current_session().user
            assert user is not None
            try:
                due = due_from(params, self.ctx.config.reports.timezone)
                count = self.ctx.call(
                    self.store.assign,
                    user.username,
                    quiz.id,
                    due,
                    agent_ids=f.many_ids(params, "agent", training.MAX_ASSIGNEES),
                    queue_ids=f.many_ids(params, "queue", training.MAX_ASSIGNEES),
                )
            except (f.FormError, TrainingError) as exc:
                error = i18n.error(exc)
                cherrypy.serving.response.status = 400
            else:
                current_session().flash.append(
                    i18n._("Assigned to {count} agents.").format(count=count)
                )
                raise cherrypy.HTTPRedirect(f"/training/results?id={quiz.id}", 303)
        db = self.ctx.db
        agents: list[Any] = self.ctx.call(db.agents.list_all)
        return render(
            self.ctx,
            "training_assign.html",
            quiz=quiz,
            error=error,
            agents=sorted(agents, key=_number),
            queues=self.ctx.call(db.queues.list_all),
            today=dt.datetime.now(center_zone(self.ctx.config.reports.timezone)).date(),
        )

    @page(*TRAINERS)
    def results(self, **params: Any) -> str:
        try:
            results = self.ctx.call(self.store.results, f.page_id(params.get("id")))
        except NotFound:
            raise cherrypy.NotFound() from None
        return render(
            self.ctx,
            "training_results.html",
            results=results,
            kinds=kind_names(),
            option_text=option_text,
            now=dt.datetime.now(dt.UTC),
            local=self._local,
        )
