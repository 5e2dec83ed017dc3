"""A QA scoring form: what a definition may hold, and the score a set of answers earns.

A definition is JSON from a web form (attacker-controlled): ``{"groups": [{"name", "weight",
"questions": [{"id", "text", "kind", "max", "critical"}]}]}``. ``parse_form`` checks it
strictly, with a message naming the group and question at fault, and bounded sizes.

The score is the weighted share of the points: each group counts ``weight`` times the
fraction of its points given; the sum is divided by the sum of the weights, times 100,
rounded to 0.1. A "no" (or 0 points) on a ``critical`` question makes the score 0: a call
that broke a compliance rule is not saved by a friendly greeting.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from appliance.text import N_

KINDS = ("yes_no", "scale")
MAX_GROUPS = 20
MAX_QUESTIONS = 50  # in the whole form
MAX_TEXT = 500
MAX_WEIGHT = 1000
MAX_SCALE = 10
QUESTION_ID = re.compile(r"[a-z0-9_]{1,32}")
GROUP_KEYS = frozenset({"name", "weight", "questions"})
QUESTION_KEYS = frozenset({"id", "text", "kind", "max", "critical"})


class FormError(ValueError):
    """A definition or a set of answers that is not acceptable; the message says where."""


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    kind: str  # yes_no or scale
    max_points: int  # 1 for yes_no
    critical: bool

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "text": self.text, "kind": self.kind}
        if self.kind == "scale":
            out["max"] = self.max_points
        if self.critical:
            out["critical"] = True
        return out


@dataclass(frozen=True)
class Group:
    name: str
    weight: float
    questions: tuple[Question, ...]

    def to_json(self) -> dict[str, Any]:
        weight: float | int = int(self.weight) if self.weight.is_integer() else self.weight
        return {
            "name": self.name,
            "weight": weight,
            "questions": [q.to_json() for q in self.questions],
        }


@dataclass(frozen=True)
class Form:
    groups: tuple[Group, ...]

    def questions(self) -> list[Question]:
        return [q for g in self.groups for q in g.questions]

    def to_json(self) -> dict[str, Any]:
        """The normalized definition (what the database stores)."""
        return {"groups": [g.to_json() for g in self.groups]}


def _text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise FormError(N_("{where}: {what} must be text", where=where, what=what))
    text = value.strip()
    if not text:
        raise FormError(N_("{where}: {what} is empty", where=where, what=what))
    if len(text) > MAX_TEXT:
        raise FormError(
            N_(
                "{where}: {what} is longer than {MAX_TEXT} characters",
                where=where,
                what=what,
                MAX_TEXT=MAX_TEXT,
            )
        )
    if any(ord(c) < 32 for c in text):
        raise FormError(N_("{where}: {what} has control characters", where=where, what=what))
    return text


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _question(raw: Any, where: str) -> Question:
    if not isinstance(raw, dict):
        raise FormError(N_("{where}: a question must be an object", where=where))
    unknown = set(raw) - QUESTION_KEYS
    if unknown:
        raise FormError(
            N_(
                "{where}: unknown fields {items}",
                where=where,
                items=", ".join(sorted(map(str, unknown))),
            )
        )
    qid = raw.get("id")
    if not isinstance(qid, str) or not QUESTION_ID.fullmatch(qid):
        raise FormError(N_("{where}: the id must be 1-32 of a-z, 0-9 and _", where=where))
    where = N_('{where} ("{qid}")', where=where, qid=qid)
    text = _text(raw.get("text"), where, N_("the text"))
    kind = raw.get("kind", "yes_no")
    if kind not in KINDS:
        raise FormError(N_("{where}: the kind must be yes_no or scale", where=where))
    critical = raw.get("critical", False)
    if not isinstance(critical, bool):
        raise FormError(N_("{where}: critical must be true or false", where=where))
    if kind == "yes_no":
        if "max" in raw and raw["max"] != 1:
            raise FormError(N_("{where}: a yes/no question is worth 1 point", where=where))
        return Question(qid, text, kind, 1, critical)
    points = raw.get("max")
    if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= MAX_SCALE:
        raise FormError(
            N_(
                "{where}: the maximum points must be a whole number 1 to {MAX_SCALE}",
                where=where,
                MAX_SCALE=MAX_SCALE,
            )
        )
    return Question(qid, text, kind, points, critical)


def parse_form(definition: Any) -> Form:
    """The form a definition describes, or FormError saying what is wrong and where."""
    if not isinstance(definition, dict) or set(definition) != {"groups"}:
        raise FormError(N_('a form definition is an object with only "groups"'))
    groups_raw = definition["groups"]
    if not isinstance(groups_raw, list) or not groups_raw:
        raise FormError(N_("a form needs at least one group"))
    if len(groups_raw) > MAX_GROUPS:
        raise FormError(N_("a form has at most {MAX_GROUPS} groups", MAX_GROUPS=MAX_GROUPS))
    groups: list[Group] = []
    seen: set[str] = set()
    total = 0
    for gi, graw in enumerate(groups_raw, 1):
        where = N_("group {gi}", gi=gi)
        if not isinstance(graw, dict):
            raise FormError(N_("{where}: a group must be an object", where=where))
        unknown = set(graw) - GROUP_KEYS
        if unknown:
            raise FormError(
                N_(
                    "{where}: unknown fields {items}",
                    where=where,
                    items=", ".join(sorted(map(str, unknown))),
                )
            )
        name = _text(graw.get("name"), where, N_("the name"))
        where = N_('group {gi} ("{name}")', gi=gi, name=name)
        weight: Any = graw.get("weight")
        if not _number(weight) or not math.isfinite(weight) or not 0 < weight <= MAX_WEIGHT:
            raise FormError(
                N_(
                    "{where}: the weight must be a number above 0, at most {MAX_WEIGHT}",
                    where=where,
                    MAX_WEIGHT=MAX_WEIGHT,
                )
            )
        qraw = graw.get("questions")
        if not isinstance(qraw, list) or not qraw:
            raise FormError(N_("{where}: a group needs at least one question", where=where))
        total += len(qraw)
        if total > MAX_QUESTIONS:
            raise FormError(
                N_("a form has at most {MAX_QUESTIONS} questions", MAX_QUESTIONS=MAX_QUESTIONS)
            )
        questions = []
        for qi, q in enumerate(qraw, 1):
            question = _question(q, f"{where}, question {qi}")
            if question.id in seen:
                raise FormError(
                    N_(
                        '{where}, question {qi}: the id "{id}" is used twice',
                        where=where,
                        qi=qi,
                        id=question.id,
                    )
                )
            seen.add(question.id)
            questions.append(question)
        groups.append(Group(name, float(weight), tuple(questions)))
    return Form(tuple(groups))


def points_of(question: Question, value: Any) -> int:
    """The points an answer gives: yes/no takes true/false (or 1/0), a scale 0..max."""
    where = N_('question "{id}"', id=question.id)
    if question.kind == "yes_no":
        if value is True or value is False:
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return value
        raise FormError(N_("{where}: answer yes (true) or no (false)", where=where))
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= question.max_points:
        return value
    raise FormError(
        N_(
            "{where}: answer a whole number 0 to {max_points}",
            where=where,
            max_points=question.max_points,
        )
    )


def normalize_answers(form: Form, answers: Any) -> dict[str, int]:
    """``{question id: points}`` for every question, or FormError (missing, unknown, out of
    range)."""
    if not isinstance(answers, dict):
        raise FormError(N_("the answers must be an object of question id: answer"))
    known = {q.id for q in form.questions()}
    unknown = sorted(str(k) for k in answers if k not in known)
    if unknown:
        raise FormError(N_("unknown questions: {items}", items=", ".join(unknown[:5])))
    out: dict[str, int] = {}
    for q in form.questions():
        if q.id not in answers or answers[q.id] is None:
            raise FormError(N_('question "{id}" is not answered', id=q.id))
        out[q.id] = points_of(q, answers[q.id])
    return out


def score(form: Form, answers: Any) -> float:
    """The score (0-100, to 0.1) the answers earn; FormError when they do not fit the form."""
    points = normalize_answers(form, answers)
    if any(q.critical and points[q.id] == 0 for q in form.questions()):
        return 0.0
    weights = sum(g.weight for g in form.groups)
    earned = 0.0
    for g in form.groups:
        possible = sum(q.max_points for q in g.questions)
        got = sum(points[q.id] for q in g.questions)
        earned += g.weight * got / possible
    return round(earned / weights * 100, 1)
