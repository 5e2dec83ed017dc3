"""QA forms: strict checks of a definition (messages naming the group and question), and
the weighted score with critical questions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from recorder.qa_form import FormError, normalize_answers, parse_form, score

FORM: dict[str, Any] = {
    "groups": [
        {
            "name": "Greeting",
            "weight": 20,
            "questions": [
                {"id": "greet", "text": "Greeted the caller by the script", "kind": "yes_no"},
                {"id": "name", "text": "Gave their name", "kind": "yes_no"},
            ],
        },
        {
            "name": "解决问题",
            "weight": 50,
            "questions": [
                {"id": "solved", "text": "问题是否解决", "kind": "scale", "max": 5},
            ],
        },
        {
            "name": "Compliance",
            "weight": 30,
            "questions": [
                {"id": "verify", "text": "Verified identity", "kind": "yes_no", "critical": True},
                {"id": "tone", "text": "Tone", "kind": "scale", "max": 4},
            ],
        },
    ]
}
ALL_GOOD = {"greet": True, "name": True, "solved": 5, "verify": True, "tone": 4}


def test_a_good_form_parses_and_normalizes() -> None:
    form = parse_form(FORM)
    assert [g.name for g in form.groups] == ["Greeting", "解决问题", "Compliance"]
    assert [q.max_points for q in form.questions()] == [1, 1, 5, 1, 4]
    assert form.questions()[3].critical and not form.questions()[0].critical
    assert parse_form(form.to_json()) == form
    assert form.to_json()["groups"][1]["questions"][0] == {
        "id": "solved",
        "text": "问题是否解决",
        "kind": "scale",
        "max": 5,
    }


def test_score_is_the_weighted_share_of_points() -> None:
    form = parse_form(FORM)
    assert score(form, ALL_GOOD) == 100.0
    # greeting 1/2, solved 3/5, compliance (1+2)/5:
    # (20*0.5 + 50*0.6 + 30*0.6) / 100 * 100 = 58.0
    answers = {"greet": True, "name": False, "solved": 3, "verify": True, "tone": 2}
    assert score(form, answers) == 58.0
    # 1/0 count as yes/no too; thirds round to 0.1
    thirds = {
        "groups": [
            {
                "name": "a",
                "weight": 1,
                "questions": [{"id": "x", "text": "x", "kind": "scale", "max": 3}],
            },
            {"name": "b", "weight": 2, "questions": [{"id": "y", "text": "y"}]},
        ]
    }
    assert score(parse_form(thirds), {"x": 1, "y": 0}) == 11.1  # 1/3 * 1/3 * 100
    assert score(parse_form(thirds), {"x": 2, "y": 1}) == 88.9  # (2/3 + 2) / 3


def test_a_failed_critical_question_makes_the_score_zero() -> None:
    form = parse_form(FORM)
    assert score(form, {**ALL_GOOD, "verify": False}) == 0.0
    crit_scale = copy.deepcopy(FORM)
    crit_scale["groups"][1]["questions"][0]["critical"] = True
    assert score(parse_form(crit_scale), {**ALL_GOOD, "solved": 0}) == 0.0
    assert score(parse_form(crit_scale), {**ALL_GOOD, "solved": 1}) == 60.0


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({k: v for k, v in ALL_GOOD.items() if k != "tone"}, 'question "tone" is not answered'),
        ({**ALL_GOOD, "tone": None}, 'question "tone" is not answered'),
        ({**ALL_GOOD, "tone": 5}, 'question "tone": answer a whole number 0 to 4'),
        ({**ALL_GOOD, "tone": -1}, 'question "tone": answer a whole number 0 to 4'),
        ({**ALL_GOOD, "tone": 2.5}, 'question "tone": answer a whole number 0 to 4'),
        ({**ALL_GOOD, "tone": True}, 'question "tone": answer a whole number 0 to 4'),
        ({**ALL_GOOD, "greet": "yes"}, 'question "greet": answer yes (true) or no (false)'),
        ({**ALL_GOOD, "greet": 2}, 'question "greet": answer yes (true) or no (false)'),
        ({**ALL_GOOD, "extra": 1}, "unknown questions: extra"),
        ([1, 2], "the answers must be an object"),
    ],
)
def test_bad_answers_are_refused_naming_the_question(answers: Any, message: str) -> None:
    with pytest.raises(FormError, match=None) as err:
        score(parse_form(FORM), answers)
    assert message in str(err.value)


def test_answers_normalize_to_points() -> None:
    assert normalize_answers(parse_form(FORM), {**ALL_GOOD, "name": 0, "greet": 1}) == {
        "greet": 1,
        "name": 0,
        "solved": 5,
        "verify": 1,
        "tone": 4,
    }


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(FORM)
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _q(gi: int, qi: int, key: str) -> tuple[Any, ...]:
    return ("groups", gi, "questions", qi, key)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], 'a form definition is an object with only "groups"'),
        ({"groups": [], "x": 1}, 'a form definition is an object with only "groups"'),
        ({"groups": []}, "a form needs at least one group"),
        (_with(("groups", 0, "name"), " "), "group 1: the name is empty"),
        (_with(("groups", 0, "name"), 7), "group 1: the name must be text"),
        (_with(("groups", 0, "name"), "x" * 501), "group 1: the name is longer than 500"),
        (_with(("groups", 0, "name"), "a\nb"), "group 1: the name has control characters"),
        (_with(("groups", 1, "weight"), 0), 'group 2 ("解决问题"): the weight must be a number'),
        (_with(("groups", 1, "weight"), -3), 'group 2 ("解决问题"): the weight must be a number'),
        (_with(("groups", 1, "weight"), True), "the weight must be a number"),
        (_with(("groups", 1, "weight"), "5"), "the weight must be a number"),
        (_with(("groups", 1, "weight"), float("nan")), "the weight must be a number"),
        (_with(("groups", 1, "questions"), []), 'group 2 ("解决问题"): a group needs at least'),
        (_with(("groups", 0, "colour"), "red"), "group 1: unknown fields colour"),
        (_with(_q(0, 1, "id"), "Name"), 'group 1 ("Greeting"), question 2: the id must be'),
        (_with(_q(0, 1, "id"), "x" * 33), "question 2: the id must be 1-32"),
        (_with(_q(0, 1, "id"), "a-b"), "question 2: the id must be 1-32"),
        (
            _with(_q(2, 0, "id"), "greet"),
            'group 3 ("Compliance"), question 1: the id "greet" is used twice',
        ),
        (
            _with(_q(0, 0, "kind"), "essay"),
            'question 1 ("greet"): the kind must be yes_no or scale',
        ),
        (_with(_q(1, 0, "max"), 11), 'question 1 ("solved"): the maximum points must be'),
        (_with(_q(1, 0, "max"), 0), "the maximum points must be a whole number 1 to 10"),
        (_with(_q(1, 0, "max"), 2.5), "the maximum points must be a whole number 1 to 10"),
        (_with(_q(0, 0, "max"), 3), "a yes/no question is worth 1 point"),
        (_with(_q(0, 0, "critical"), "yes"), "critical must be true or false"),
        (_with(_q(0, 0, "text"), ""), 'question 1 ("greet"): the text is empty'),
        (_with(_q(0, 0, "script"), "<x>"), "unknown fields script"),
        (_with(("groups", 0, "questions", 0), "q"), "question 1: a question must be an object"),
        ({"groups": [FORM["groups"][0]] * 21}, "a form has at most 20 groups"),
    ],
)
def test_bad_definitions_are_refused_naming_the_group_and_question(doc: Any, message: str) -> None:
    with pytest.raises(FormError) as err:
        parse_form(doc)
    assert message in str(err.value)


def test_sizes_are_bounded() -> None:
    many = [{"id": f"q{i}", "text": "x"} for i in range(51)]
    with pytest.raises(FormError, match="at most 50 questions"):
        parse_form({"groups": [{"name": "g", "weight": 1, "questions": many}]})
    # exactly at the limits is fine
    form = parse_form({"groups": [{"name": "g" * 500, "weight": 1, "questions": many[:50]}]})
    assert len(form.questions()) == 50
