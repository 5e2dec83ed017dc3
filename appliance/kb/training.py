"""Training: quizzes built from knowledge-base articles, assigned to agents, scored here.

A quiz is a list of questions, each tied to the article it checks: one correct option
(``single``), one or more (``multiple``) or true/false. It is assigned to agents (one, several
or a queue's members) with a due date, and taken once unless the quiz allows retakes. The
correct options never leave this module before an attempt is scored: the taking page gets
``QuestionToTake`` rows, which have no such field. Every attempt keeps one row per question,
so the results per agent and per question are plain SQL sums.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

KINDS = model.TRAINING_QUESTION_KINDS
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_QUESTION = 1000
MAX_OPTION = 300
MAX_OPTIONS = 6
MAX_QUESTIONS = 100
MAX_ASSIGNEES = 1000
TRUE_FALSE = ("true", "false")  # stored options of a true/false question; shown translated


class TrainingError(ValueError):
    """A quiz, an assignment or an attempt that cannot be: the message says why (N_ text)."""


class NotFound(LookupError):
    """No such quiz, or no such quiz assigned to that agent."""


class AlreadyTaken(TrainingError):
    """The agent submitted this quiz already and it allows no retake."""


@dataclass(frozen=True)
class QuestionDraft:
    """A question as its author wrote it (checked by ``check_question``)."""

    article_id: int
    kind: str
    text: str
    options: tuple[str, ...] = ()
    correct: tuple[int, ...] = ()


@dataclass(frozen=True)
class Question:
    """A stored question with its correct options: for the quiz's authors and results."""

    id: int
    position: int
    article_id: int | None
    article_title: str
    kind: str
    text: str
    options: tuple[str, ...]
    correct: tuple[int, ...]


@dataclass(frozen=True)
class QuestionToTake:
    """What the agent taking the quiz sees: no correct options, by construction."""

    id: int
    position: int
    article_id: int | None
    article_title: str
    kind: str
    text: str
    options: tuple[str, ...]


@dataclass(frozen=True)
class Quiz:
    id: int
    title: str
    description: str
    allow_retake: bool
    created_by: str
    created_at: dt.datetime
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class QuizSummary:
    id: int
    title: str
    allow_retake: bool
    created_by: str
    created_at: dt.datetime
    questions: int
    assigned: int
    submitted: int  # assignments with at least one attempt


@dataclass(frozen=True)
class Assignment:
    """One agent's assignment of a quiz, with its attempts so far."""

    id: int
    quiz_id: int
    title: str
    description: str
    agent_id: int
    due_at: dt.datetime
    allow_retake: bool
    attempts: int
    last_score: float | None
    last_at: dt.datetime | None

    @property
    def can_take(self) -> bool:
        return self.attempts == 0 or self.allow_retake

    def overdue(self, now: dt.datetime) -> bool:
        return self.attempts == 0 and now > self.due_at


@dataclass(frozen=True)
class AttemptResult:
    id: int
    number: int
    score: float
    correct: int
    total: int
    submitted_at: dt.datetime
    marks: tuple[tuple[int, bool], ...]  # (question id, answered right), in question order


@dataclass(frozen=True)
class AgentResult:
    agent_id: int
    agent_number: str
    agent_name: str
    due_at: dt.datetime
    attempts: int
    last_score: float | None
    best_score: float | None
    last_at: dt.datetime | None


@dataclass(frozen=True)
class QuestionResult:
    question_id: int
    position: int
    text: str
    answered: int
    correct: int

    @property
    def rate(self) -> float | None:
        return round(100.0 * self.correct / self.answered, 1) if self.answered else None


@dataclass(frozen=True)
class Results:
    quiz: Quiz
    agents: tuple[AgentResult, ...]
    questions: tuple[QuestionResult, ...]


def _text(value: object, limit: int, what: str, required: bool = True) -> str:
    if not isinstance(value, str):
        raise TrainingError(N_("{what} must be text", what=what))
    value = value.strip()
    if required and not value:
        raise TrainingError(N_("{what} is missing", what=what))
    if len(value) > limit:
        raise TrainingError(N_("{what} is at most {limit} characters", what=what, limit=limit))
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise TrainingError(N_("{what} has control characters", what=what))
    return value


def check_question(n: int, q: QuestionDraft) -> QuestionDraft:
    """The question as stored, or TrainingError naming question ``n`` (1-based)."""
    what = N_("question {n}", n=n)
    if q.kind not in KINDS:
        raise TrainingError(N_("question {n}: unknown kind", n=n))
    text = _text(q.text, MAX_QUESTION, what)
    if q.kind == "true_false":
        options: tuple[str, ...] = TRUE_FALSE
    else:
        options = tuple(
            _text(o, MAX_OPTION, N_("question {n}: an option", n=n)) for o in q.options if o.strip()
        )
        if not 2 <= len(options) <= MAX_OPTIONS:
            raise TrainingError(N_("question {n}: give 2 to {most} options", n=n, most=MAX_OPTIONS))
        if len(set(options)) != len(options):
            raise TrainingError(N_("question {n}: two options say the same", n=n))
    correct = tuple(sorted(set(q.correct)))
    if not correct or any(not 0 <= i < len(options) for i in correct):
        raise TrainingError(N_("question {n}: mark the correct option", n=n))
    if q.kind != "multiple" and len(correct) != 1:
        raise TrainingError(N_("question {n}: mark exactly one correct option", n=n))
    return QuestionDraft(q.article_id, q.kind, text, options, correct)


def score_answer(correct: Sequence[int], chosen: Iterable[int]) -> bool:
    """Right only when exactly the correct options were chosen (no partial credit)."""
    return set(chosen) == set(correct)


def _as_ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise TrainingError(N_("{what}: send a list of option numbers", what=what))
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            raise TrainingError(N_("{what}: send a list of option numbers", what=what))
        out.append(v)
    return tuple(sorted(set(out)))


class TrainingStore:
    """Quizzes, assignments and attempts on the database's pool (``db.run``)."""

    def __init__(self, db: DBConnector) -> None:
        self.db = db

    # ---- quizzes --------------------------------------------------------------------------

    def create_quiz(
        self,
        actor: str,
        title: str,
        questions: Sequence[QuestionDraft],
        description: str = "",
        allow_retake: bool = False,
    ) -> defer.Deferred[int]:
        """A new quiz; TrainingError for a bad title, question or article."""
        try:
            title = _text(title, MAX_TITLE, N_("the title"))
            description = _text(description, MAX_DESCRIPTION, N_("the description"), False)
            if not questions:
                raise TrainingError(N_("a quiz needs at least one question"))
            if len(questions) > MAX_QUESTIONS:
                raise TrainingError(N_("a quiz has at most {most} questions", most=MAX_QUESTIONS))
            checked = [check_question(n, q) for n, q in enumerate(questions, 1)]
        except TrainingError as exc:
            return defer.fail(exc)

        def thd(conn: Connection) -> int:
            wanted = {q.article_id for q in checked}
            a = model.kb_articles
            found = set(conn.execute(sa.select(a.c.id).where(a.c.id.in_(wanted))).scalars())
            for n, q in enumerate(checked, 1):
                if q.article_id not in found:
                    raise TrainingError(N_("question {n}: no article {id}", n=n, id=q.article_id))
            quiz_id = conn.execute(
                model.training_quizzes.insert().values(
                    title=title,
                    description=description,
                    allow_retake=bool(allow_retake),
                    created_by=actor[:64],
                    created_at=utcnow(),
                )
            ).inserted_primary_key
            assert quiz_id is not None
            conn.execute(
                model.training_questions.insert(),
                [
                    {
                        "quiz_id": quiz_id[0],
                        "position": n,
                        "article_id": q.article_id,
                        "kind": q.kind,
                        "text": q.text,
                        "options": json.dumps(q.options, ensure_ascii=False),
                        "correct": json.dumps(q.correct),
                    }
                    for n, q in enumerate(checked, 1)
                ],
            )
            return int(quiz_id[0])

        return self.db.run(thd)

    def quizzes(self) -> defer.Deferred[list[QuizSummary]]:
        qz, qs, asg, att = (
            model.training_quizzes,
            model.training_questions,
            model.training_assignments,
            model.training_attempts,
        )
        n_questions = sa.select(sa.func.count()).where(qs.c.quiz_id == qz.c.id).scalar_subquery()
        n_assigned = sa.select(sa.func.count()).where(asg.c.quiz_id == qz.c.id).scalar_subquery()
        n_submitted = (
            sa.select(sa.func.count(sa.distinct(att.c.assignment_id)))
            .select_from(att.join(asg, asg.c.id == att.c.assignment_id))
            .where(asg.c.quiz_id == qz.c.id)
            .scalar_subquery()
        )
        query = sa.select(
            qz.c.id,
            qz.c.title,
            qz.c.allow_retake,
            qz.c.created_by,
            qz.c.created_at,
            n_questions.label("questions"),
            n_assigned.label("assigned"),
            n_submitted.label("submitted"),
        ).order_by(qz.c.created_at.desc(), qz.c.id.desc())

        def thd(conn: Connection) -> list[QuizSummary]:
            return [QuizSummary(**r._mapping) for r in conn.execute(query)]

        return self.db.run(thd)

    def quiz(self, quiz_id: int) -> defer.Deferred[Quiz]:
        """The quiz with its correct options (its authors' and supervisors' view)."""
        return self.db.run(lambda conn: _load_quiz(conn, quiz_id))

    # ---- assignments ----------------------------------------------------------------------

    def assign(
        self,
        actor: str,
        quiz_id: int,
        due_at: dt.datetime,
        agent_ids: Iterable[int] = (),
        queue_ids: Iterable[int] = (),
    ) -> defer.Deferred[int]:
        """Assign the quiz to these agents and every member of these queues, due at
        ``due_at``; an agent who has it already gets the new due date. Returns how many
        agents have it now from this call."""
        agents, queues = set(agent_ids), set(queue_ids)
        if due_at.tzinfo is None:
            return defer.fail(TrainingError(N_("the due date needs a time zone")))

        def thd(conn: Connection) -> int:
            _load_quiz(conn, quiz_id)  # NotFound
            a, m = model.agents, model.queue_members
            known = set(conn.execute(sa.select(a.c.id).where(a.c.id.in_(agents))).scalars())
            if agents - known:
                raise TrainingError(N_("no agent {id}", id=min(agents - known)))
            if queues:
                members = sa.select(m.c.agent_id).where(m.c.queue_id.in_(queues))
                known |= set(conn.execute(members).scalars())
            if not known:
                raise TrainingError(N_("choose at least one agent or a queue with members"))
            if len(known) > MAX_ASSIGNEES:
                raise TrainingError(N_("at most {most} agents at once", most=MAX_ASSIGNEES))
            t = model.training_assignments
            have = set(
                conn.execute(
                    sa.select(t.c.agent_id).where(t.c.quiz_id == quiz_id, t.c.agent_id.in_(known))
                ).scalars()
            )
            if have:
                conn.execute(
                    t.update()
                    .where(t.c.quiz_id == quiz_id, t.c.agent_id.in_(have))
                    .values(due_at=due_at)
                )
            now = utcnow()
            new = sorted(known - have)
            if new:
                conn.execute(
                    t.insert(),
                    [
                        {
                            "quiz_id": quiz_id,
                            "agent_id": agent_id,
                            "due_at": due_at,
                            "assigned_by": actor[:64],
                            "assigned_at": now,
                        }
                        for agent_id in new
                    ],
                )
            return len(known)

        return self.db.run(thd)

    def agent_of_user(self, user_id: int) -> defer.Deferred[int | None]:
        """The agent a login belongs to (agents.user_id), None for a login that is no
        agent's."""
        a = model.agents

        def thd(conn: Connection) -> int | None:
            found = conn.execute(
                sa.select(a.c.id).where(a.c.user_id == user_id).order_by(a.c.id).limit(1)
            ).scalar()
            return None if found is None else int(found)

        return self.db.run(thd)

    def assignments(self, agent_id: int) -> defer.Deferred[list[Assignment]]:
        """The agent's quizzes, the soonest due first."""
        return self.db.run(lambda conn: _assignments(conn, agent_id))

    def assignment(self, agent_id: int, quiz_id: int) -> defer.Deferred[Assignment]:
        """The agent's assignment of one quiz; NotFound when it is not the agent's."""
        return self.db.run(lambda conn: _assignment(conn, agent_id, quiz_id))

    # ---- taking ---------------------------------------------------------------------------

    def to_take(
        self, agent_id: int, quiz_id: int
    ) -> defer.Deferred[tuple[Assignment, list[QuestionToTake]]]:
        """The questions without their answers; NotFound when the quiz is not the agent's,
        AlreadyTaken when it was submitted and allows no retake."""

        def thd(conn: Connection) -> tuple[Assignment, list[QuestionToTake]]:
            assignment = _assignment(conn, agent_id, quiz_id)
            if not assignment.can_take:
                raise AlreadyTaken(N_("You have taken this quiz already."))
            quiz = _load_quiz(conn, quiz_id)
            return assignment, [
                QuestionToTake(
                    q.id, q.position, q.article_id, q.article_title, q.kind, q.text, q.options
                )
                for q in quiz.questions
            ]

        return self.db.run(thd)

    def submit(
        self, agent_id: int, quiz_id: int, answers: Mapping[int, object]
    ) -> defer.Deferred[AttemptResult]:
        """Score ``answers`` ({question id: [option index, ...]}; a missing question is
        answered wrong) and keep the attempt. NotFound when not the agent's, AlreadyTaken
        for a second attempt without retakes (also when two submissions race)."""

        def thd(conn: Connection) -> AttemptResult:
            assignment = _assignment(conn, agent_id, quiz_id)
            if not assignment.can_take:
                raise AlreadyTaken(N_("You have taken this quiz already."))
            quiz = _load_quiz(conn, quiz_id)
            by_id = {q.id: q for q in quiz.questions}
            unknown = set(answers) - set(by_id)
            if unknown:
                raise TrainingError(N_("no question {id} in this quiz", id=min(unknown)))
            chosen: dict[int, tuple[int, ...]] = {}
            for q in quiz.questions:
                picks = _as_ints(answers.get(q.id, []), N_("question {n}", n=q.position))
                if any(not 0 <= i < len(q.options) for i in picks):
                    raise TrainingError(N_("question {n}: no such option", n=q.position))
                if q.kind != "multiple" and len(picks) > 1:
                    raise TrainingError(N_("question {n}: choose one option", n=q.position))
                chosen[q.id] = picks
            marks = tuple((q.id, score_answer(q.correct, chosen[q.id])) for q in quiz.questions)
            right = sum(ok for _, ok in marks)
            total = len(marks)
            score = round(100.0 * right / total, 1) if total else 0.0
            now = utcnow()
            number = assignment.attempts + 1
            att = model.training_attempts
            try:
                with conn.begin_nested():
                    key = conn.execute(
                        att.insert().values(
                            assignment_id=assignment.id,
                            number=number,
                            score=score,
                            correct=right,
                            total=total,
                            submitted_at=now,
                        )
                    ).inserted_primary_key
            except sa.exc.IntegrityError:
                raise AlreadyTaken(N_("You have taken this quiz already.")) from None
            assert key is not None
            attempt_id = int(key[0])
            conn.execute(
                model.training_answers.insert(),
                [
                    {
                        "attempt_id": attempt_id,
                        "question_id": qid,
                        "chosen": json.dumps(chosen[qid]),
                        "is_correct": ok,
                    }
                    for qid, ok in marks
                ],
            )
            return AttemptResult(attempt_id, number, score, right, total, now, marks)

        return self.db.run(thd)

    def attempts(self, agent_id: int, quiz_id: int) -> defer.Deferred[list[AttemptResult]]:
        """One agent's attempts at a quiz, the latest first (its own page, or a supervisor's
        look at one agent)."""

        def thd(conn: Connection) -> list[AttemptResult]:
            assignment = _assignment(conn, agent_id, quiz_id)
            att, ans, qs = model.training_attempts, model.training_answers, model.training_questions
            rows = conn.execute(
                sa.select(att)
                .where(att.c.assignment_id == assignment.id)
                .order_by(att.c.number.desc())
            ).all()
            marks: dict[int, list[tuple[int, bool]]] = {r.id: [] for r in rows}
            if marks:  # every attempt's answers in one query, not one query an attempt
                for m in conn.execute(
                    sa.select(ans.c.attempt_id, ans.c.question_id, ans.c.is_correct)
                    .select_from(ans.join(qs, qs.c.id == ans.c.question_id))
                    .where(ans.c.attempt_id.in_(list(marks)))
                    .order_by(ans.c.attempt_id, qs.c.position)
                ):
                    marks[m.attempt_id].append((int(m.question_id), bool(m.is_correct)))
            return [
                AttemptResult(
                    r.id,
                    r.number,
                    float(r.score),
                    r.correct,
                    r.total,
                    r.submitted_at,
                    tuple(marks[r.id]),
                )
                for r in rows
            ]

        return self.db.run(thd)

    # ---- results --------------------------------------------------------------------------

    def results(self, quiz_id: int) -> defer.Deferred[Results]:
        """Per agent (attempts, last and best score) and per question (how many answered it,
        how many right), for supervisors."""

        def thd(conn: Connection) -> Results:
            quiz = _load_quiz(conn, quiz_id)
            t, att, a = model.training_assignments, model.training_attempts, model.agents
            last = _last_score(t)
            per_agent = (
                sa.select(
                    t.c.agent_id,
                    a.c.number.label("agent_number"),
                    a.c.name.label("agent_name"),
                    t.c.due_at,
                    sa.func.count(att.c.id).label("attempts"),
                    last.label("last_score"),
                    sa.func.max(att.c.score).label("best_score"),
                    sa.func.max(att.c.submitted_at).label("last_at"),
                )
                .select_from(
                    t.join(a, a.c.id == t.c.agent_id).outerjoin(att, att.c.assignment_id == t.c.id)
                )
                .where(t.c.quiz_id == quiz_id)
                .group_by(t.c.id, t.c.agent_id, a.c.number, a.c.name, t.c.due_at)
                .order_by(a.c.number)
            )
            agents = tuple(
                AgentResult(
                    agent_id=r.agent_id,
                    agent_number=r.agent_number,
                    agent_name=r.agent_name,
                    due_at=r.due_at,
                    attempts=r.attempts,
                    last_score=None if r.last_score is None else float(r.last_score),
                    best_score=None if r.best_score is None else float(r.best_score),
                    last_at=r.last_at,  # max() keeps UTCDateTime: aware
                )
                for r in conn.execute(per_agent)
            )
            ans = model.training_answers
            counts = {
                r.question_id: (r.answered, int(r.right or 0))
                for r in conn.execute(
                    sa.select(
                        ans.c.question_id,
                        sa.func.count().label("answered"),
                        sa.func.sum(sa.case((ans.c.is_correct, 1), else_=0)).label("right"),
                    )
                    .where(ans.c.question_id.in_([q.id for q in quiz.questions]))
                    .group_by(ans.c.question_id)
                )
            }
            questions = tuple(
                QuestionResult(q.id, q.position, q.text, *counts.get(q.id, (0, 0)))
                for q in quiz.questions
            )
            return Results(quiz, agents, questions)

        return self.db.run(thd)


def _load_quiz(conn: Connection, quiz_id: int) -> Quiz:
    qz, qs, a = model.training_quizzes, model.training_questions, model.kb_articles
    row = conn.execute(sa.select(qz).where(qz.c.id == quiz_id)).first()
    if row is None:
        raise NotFound(N_("no quiz {id}", id=quiz_id))
    questions = tuple(
        Question(
            id=r.id,
            position=r.position,
            article_id=r.article_id,
            article_title=r.article_title or "",
            kind=r.kind,
            text=r.text,
            options=tuple(json.loads(r.options)),
            correct=tuple(json.loads(r.correct)),
        )
        for r in conn.execute(
            sa.select(qs, a.c.title.label("article_title"))
            .select_from(qs.outerjoin(a, a.c.id == qs.c.article_id))
            .where(qs.c.quiz_id == quiz_id)
            .order_by(qs.c.position)
        )
    )
    return Quiz(
        row.id,
        row.title,
        row.description,
        bool(row.allow_retake),
        row.created_by,
        row.created_at,
        questions,
    )


def _last_score(t: sa.Table) -> sa.ScalarSelect[float]:
    """The score of an assignment's latest attempt (a subquery on its own alias of the
    attempts, which the outer query joins too)."""
    last = model.training_attempts.alias("last_attempt")
    return (
        sa.select(last.c.score)
        .where(last.c.assignment_id == t.c.id)
        .order_by(last.c.number.desc())
        .limit(1)
        .correlate(t)
        .scalar_subquery()
    )


def _assignment_query() -> sa.Select[tuple[object, ...]]:
    t, qz, att = model.training_assignments, model.training_quizzes, model.training_attempts
    last = _last_score(t)
    return (
        sa.select(
            t.c.id,
            t.c.quiz_id,
            qz.c.title,
            qz.c.description,
            t.c.agent_id,
            t.c.due_at,
            qz.c.allow_retake,
            sa.func.count(att.c.id).label("attempts"),
            last.label("last_score"),
            sa.func.max(att.c.submitted_at).label("last_at"),
        )
        .select_from(
            t.join(qz, qz.c.id == t.c.quiz_id).outerjoin(att, att.c.assignment_id == t.c.id)
        )
        .group_by(
            t.c.id,
            t.c.quiz_id,
            qz.c.title,
            qz.c.description,
            t.c.agent_id,
            t.c.due_at,
            qz.c.allow_retake,
        )
    )


def _to_assignment(r: Any) -> Assignment:
    m = r._mapping
    return Assignment(
        id=int(m["id"]),
        quiz_id=int(m["quiz_id"]),
        title=str(m["title"]),
        description=str(m["description"]),
        agent_id=int(m["agent_id"]),
        due_at=m["due_at"],
        allow_retake=bool(m["allow_retake"]),
        attempts=int(m["attempts"]),
        last_score=None if m["last_score"] is None else float(m["last_score"]),
        last_at=m["last_at"],
    )


def _assignments(conn: Connection, agent_id: int) -> list[Assignment]:
    t = model.training_assignments
    query = _assignment_query().where(t.c.agent_id == agent_id).order_by(t.c.due_at, t.c.id)
    return [_to_assignment(r) for r in conn.execute(query)]


def _assignment(conn: Connection, agent_id: int, quiz_id: int) -> Assignment:
    t = model.training_assignments
    row = conn.execute(
        _assignment_query().where(t.c.agent_id == agent_id, t.c.quiz_id == quiz_id)
    ).first()
    if row is None:
        raise NotFound(N_("quiz {id} is not assigned to you", id=quiz_id))
    return _to_assignment(row)
