"""Training quizzes on both databases: built from articles and checked, assigned (agents
and a queue's members), taken without the answers, scored on the server, taken once unless
retakes are allowed, and the results per agent and per question."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy.engine import Connection

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.kb import training
from appliance.kb.training import (
    AlreadyTaken,
    NotFound,
    QuestionDraft,
    QuestionToTake,
    TrainingError,
    TrainingStore,
    score_answer,
)

HOSTILE = "<img src=x onerror=alert(1)>'; DROP TABLE training_quizzes;--"
DUE = dt.datetime(2030, 1, 31, 15, 59, 59, tzinfo=dt.UTC)


def article(db: DBConnector, title: str) -> int:
    """An article row as the knowledge base keeps it (only what a quiz needs: its id and
    title)."""
    from appliance.db import model
    from appliance.db.components import utcnow

    def thd(conn: Connection) -> int:
        now = utcnow()
        category = conn.execute(
            model.kb_categories.insert().values(name="培训", created_at=now)
        ).inserted_primary_key
        assert category is not None
        key = conn.execute(
            model.kb_articles.insert().values(
                category_id=category[0],
                title=title,
                lang="zh",
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key
        assert key is not None
        return int(key[0])

    article_id: int = resolved(db.run(thd))
    return article_id


def questions(a1: int, a2: int) -> list[QuestionDraft]:
    return [
        QuestionDraft(a1, "single", "退款要几天?", ("1 天", "3 天", "7 天"), (1,)),
        QuestionDraft(a2, "multiple", "Which prove who calls?", ("ID card", "PIN", "mood"), (0, 1)),
        QuestionDraft(a1, "true_false", "VIP 客户优先接听", (), (0,)),
    ]


@pytest.fixture
def world(db: DBConnector) -> dict[str, Any]:
    a1 = resolved(db.agents.add("1001", HOSTILE)).id
    a2 = resolved(db.agents.add("1002", "李雷")).id
    a3 = resolved(db.agents.add("1003", "韩梅梅")).id
    queue = resolved(db.queues.add("support")).id
    for member in (a2, a3):
        resolved(db.agents.set_member(queue, member))
    art1, art2 = article(db, "退款流程"), article(db, "Identity checks")
    store = TrainingStore(db)
    quiz = resolved(store.create_quiz("sup", " 退款培训 ", questions(art1, art2)))
    return {"a1": a1, "a2": a2, "a3": a3, "queue": queue, "art1": art1, "art2": art2,
            "store": store, "quiz": quiz}  # fmt: skip


def test_a_question_is_right_only_with_exactly_the_correct_options() -> None:
    assert score_answer((1,), [1])
    assert not score_answer((0, 1), [0])
    assert not score_answer((0, 1), [0, 1, 2])
    assert score_answer((0, 1), [1, 0])
    assert not score_answer((0,), [])


BAD: list[tuple[dict[str, Any], str]] = [
    ({"kind": "essay"}, "question 1: unknown kind"),
    ({"text": " "}, "question 1 is missing"),
    ({"options": ("only one",)}, "give 2 to 6 options"),
    ({"options": ("same", "same")}, "two options say the same"),
    ({"correct": ()}, "mark the correct option"),
    ({"correct": (5,)}, "mark the correct option"),
    ({"correct": (0, 1)}, "mark exactly one correct option"),
    ({"article_id": 999_999}, "question 1: no article 999999"),
]


def test_a_quiz_is_stored_with_its_questions_and_bad_ones_are_refused(
    db: DBConnector, world: dict[str, Any]
) -> None:
    store: TrainingStore = world["store"]
    quiz = resolved(store.quiz(world["quiz"]))
    assert (quiz.title, quiz.created_by, quiz.allow_retake) == ("退款培训", "sup", False)
    assert [(q.position, q.kind, q.correct) for q in quiz.questions] == [
        (1, "single", (1,)),
        (2, "multiple", (0, 1)),
        (3, "true_false", (0,)),
    ]
    assert quiz.questions[2].options == ("true", "false")
    assert [q.article_title for q in quiz.questions] == ["退款流程", "Identity checks", "退款流程"]
    [summary] = resolved(store.quizzes())
    assert (summary.questions, summary.assigned, summary.submitted) == (3, 0, 0)
    with pytest.raises(NotFound):
        resolved(store.quiz(world["quiz"] + 9))
    for change, message in BAD:
        bad = dataclasses.replace(questions(world["art1"], world["art2"])[0], **change)
        with pytest.raises(TrainingError, match=message):
            resolved(store.create_quiz("sup", "Bad", [bad]))
    with pytest.raises(TrainingError, match="at least one question"):
        resolved(store.create_quiz("sup", "Empty", []))
    with pytest.raises(TrainingError, match="the title is missing"):
        resolved(store.create_quiz("sup", "", questions(world["art1"], world["art2"])))
    assert len(resolved(store.quizzes())) == 1  # nothing half-written


def test_assigned_taken_without_the_answers_and_scored_on_the_server(
    db: DBConnector, world: dict[str, Any]
) -> None:
    store: TrainingStore = world["store"]
    count = resolved(store.assign("sup", world["quiz"], DUE, [world["a1"]], [world["queue"]]))
    assert count == 3
    later = DUE + dt.timedelta(days=7)
    assert resolved(store.assign("sup", world["quiz"], later, [world["a2"]])) == 1
    [mine] = resolved(store.assignments(world["a2"]))
    assert (mine.title, mine.due_at, mine.attempts, mine.can_take) == ("退款培训", later, 0, True)
    assert mine.overdue(later + dt.timedelta(seconds=1))
    assert resolved(store.assignments(world["a1"]))[0].due_at == DUE
    with pytest.raises(TrainingError, match="no agent 999"):
        resolved(store.assign("sup", world["quiz"], DUE, [999]))
    with pytest.raises(TrainingError, match="choose at least one agent"):
        resolved(store.assign("sup", world["quiz"], DUE, [], []))
    with pytest.raises(NotFound):
        resolved(store.assign("sup", world["quiz"] + 9, DUE, [world["a1"]]))
    assignment, taking = resolved(store.to_take(world["a1"], world["quiz"]))
    assert assignment.quiz_id == world["quiz"]
    assert all(type(q) is QuestionToTake for q in taking)
    assert "correct" not in {f.name for f in dataclasses.fields(QuestionToTake)}
    q1, q2, q3 = (q.id for q in taking)
    for answers, message in (
        ({q1: [3]}, "question 1: no such option"),
        ({q1: [0, 1]}, "question 1: choose one option"),
        ({q3: [0, 1]}, "question 3: choose one option"),
        ({q2: "0"}, "send a list of option numbers"),
        ({q2: [True]}, "send a list of option numbers"),
        ({q1 + 1000: [0]}, "no question"),
    ):
        with pytest.raises(TrainingError, match=message):
            resolved(store.submit(world["a1"], world["quiz"], answers))
    assert resolved(store.attempts(world["a1"], world["quiz"])) == []
    # right, half right (wrong: no partial credit), right
    result = resolved(store.submit(world["a1"], world["quiz"], {q1: [1], q2: [0], q3: [0]}))
    assert (result.number, result.correct, result.total, result.score) == (1, 2, 3, 66.7)
    assert result.marks == ((q1, True), (q2, False), (q3, True))
    # an unanswered question is wrong
    other = resolved(store.submit(world["a2"], world["quiz"], {q2: [1, 0]}))
    assert (other.correct, other.score) == (1, 33.3)
    results = resolved(store.results(world["quiz"]))
    assert [(r.agent_number, r.attempts, r.last_score) for r in results.agents] == [
        ("1001", 1, 66.7),
        ("1002", 1, 33.3),
        ("1003", 0, None),
    ]
    assert results.agents[0].agent_name == HOSTILE
    assert [(r.answered, r.correct, r.rate) for r in results.questions] == [
        (2, 1, 50.0),
        (2, 1, 50.0),
        (2, 1, 50.0),
    ]
    [summary] = resolved(store.quizzes())
    assert (summary.assigned, summary.submitted) == (3, 2)


def test_a_second_attempt_is_refused_unless_retakes_are_allowed_and_others_see_nothing(
    db: DBConnector, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store: TrainingStore = world["store"]
    resolved(store.assign("sup", world["quiz"], DUE, [world["a1"]]))
    stale, taking = resolved(store.to_take(world["a1"], world["quiz"]))
    resolved(store.submit(world["a1"], world["quiz"], {taking[0].id: [1]}))
    with pytest.raises(AlreadyTaken):
        resolved(store.submit(world["a1"], world["quiz"], {taking[0].id: [1]}))
    # two submissions racing: the second read no attempt yet; the unique number refuses it
    with monkeypatch.context() as m:
        m.setattr(training, "_assignment", lambda conn, agent_id, quiz_id: stale)
        with pytest.raises(AlreadyTaken):
            resolved(store.submit(world["a1"], world["quiz"], {taking[0].id: [0]}))
    with pytest.raises(AlreadyTaken):
        resolved(store.to_take(world["a1"], world["quiz"]))
    assert [a.number for a in resolved(store.attempts(world["a1"], world["quiz"]))] == [1]
    # another agent's: not theirs to take, submit or look at
    with pytest.raises(NotFound):
        resolved(store.to_take(world["a2"], world["quiz"]))
    with pytest.raises(NotFound):
        resolved(store.attempts(world["a2"], world["quiz"]))
    with pytest.raises(NotFound):
        resolved(store.submit(world["a2"], world["quiz"], {}))
    assert resolved(store.assignments(world["a2"])) == []

    again = resolved(
        store.create_quiz(
            "sup", "Again", questions(world["art1"], world["art2"]), allow_retake=True
        )
    )
    resolved(store.assign("sup", again, DUE, [world["a1"]]))
    _, taking = resolved(store.to_take(world["a1"], again))
    first = resolved(store.submit(world["a1"], again, {}))
    best = {q.id: ([1] if q.kind == "single" else [0, 1] if q.kind == "multiple" else [0])
            for q in taking}  # fmt: skip
    second = resolved(store.submit(world["a1"], again, best))
    assert (second.number, second.score) == (2, 100.0)
    attempts = resolved(store.attempts(world["a1"], again))
    assert [(a.number, a.score) for a in attempts] == [(2, 100.0), (1, 0.0)]
    assert [a.marks for a in attempts] == [second.marks, first.marks]
    assert {ok for _, ok in first.marks} == {False} and {ok for _, ok in second.marks} == {True}
    [row] = resolved(store.results(again)).agents
    assert (row.attempts, row.last_score, row.best_score) == (2, 100.0, 100.0)
    # max() of a UTCDateTime column keeps its type: aware on both databases
    assert row.last_at is not None and row.last_at.utcoffset() == dt.timedelta(0)
    [mine] = [a for a in resolved(store.assignments(world["a1"])) if a.quiz_id == again]
    assert mine.last_at == row.last_at
