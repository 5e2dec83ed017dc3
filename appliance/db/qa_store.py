"""QA: scoring forms and the evaluations of recordings made with them (see recorder/qa_form.py
for what a form holds and how a score is computed).

A form that has evaluations is frozen (``FormInUse``): their scores were computed from it.
Make a new form, or deactivate the old one. An evaluation copies its recording's agent and
queue, so the averages survive the recording's purge; the recording's ``qa_score`` is set to
the latest evaluation's score in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import DuplicateError, _Component, _insert, inbox_add, utcnow
from appliance.text import N_
from recorder.qa_form import FormError, normalize_answers, parse_form, score

MAX_NAME = 128
MAX_COMMENT = 2000
MAX_LIST = 1000
GROUP_BY = ("agent", "queue")


class FormInUse(Exception):
    """The form has evaluations: it cannot change (make a new one or deactivate it)."""


class FormInactive(Exception):
    """The form is deactivated: no new evaluations with it."""


@dataclass(frozen=True)
class QAFormRow:
    id: int
    name: str
    definition: dict[str, Any]
    active: bool
    created_by: str
    created_at: dt.datetime
    evaluations: int


@dataclass(frozen=True)
class EvaluationRow:
    id: int
    recording_id: int | None
    form_id: int
    form_name: str
    agent_id: int | None
    agent_name: str
    queue_id: int | None
    queue_name: str
    evaluator: str
    score: float
    answers: dict[str, int]
    comment: str
    created_at: dt.datetime


@dataclass(frozen=True)
class AverageRow:
    """The evaluations of one agent or queue over a period."""

    id: int
    name: str
    count: int
    mean: float
    min: float
    max: float


def _name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise FormError(N_("a form needs a name"))
    name = name.strip()
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise FormError(
            N_(
                "a form name is at most {MAX_NAME} characters, without control characters",
                MAX_NAME=MAX_NAME,
            )
        )
    return name


def _definition_text(definition: Any) -> str:
    return json.dumps(parse_form(definition).to_json(), ensure_ascii=False, sort_keys=True)


def _eval_select() -> sa.Select[Any]:
    e, f, a, q = model.qa_evaluations, model.qa_forms, model.agents, model.queues
    return (
        sa.select(
            e.c.id,
            e.c.recording_id,
            e.c.form_id,
            f.c.name.label("form_name"),
            e.c.agent_id,
            sa.func.coalesce(a.c.name, "").label("agent_name"),
            e.c.queue_id,
            sa.func.coalesce(q.c.name, "").label("queue_name"),
            e.c.evaluator,
            e.c.score,
            e.c.answers,
            e.c.comment,
            e.c.created_at,
        )
        .select_from(
            e.join(f, f.c.id == e.c.form_id)
            .outerjoin(a, a.c.id == e.c.agent_id)
            .outerjoin(q, q.c.id == e.c.queue_id)
        )
        .order_by(e.c.created_at.desc(), e.c.id.desc())
    )


def _eval_row(r: Any) -> EvaluationRow:
    values = dict(r._mapping)
    values["answers"] = json.loads(values["answers"] or "{}")
    values["score"] = float(values["score"])
    return EvaluationRow(**values)


class QAStore(_Component):
    # ---- forms ----------------------------------------------------------------------------

    def add_form(self, name: str, definition: Any, created_by: str) -> defer.Deferred[QAFormRow]:
        """A new form; FormError for a bad name or definition, DuplicateError for a name in
        use."""
        try:
            values = {
                "name": _name(name),
                "definition": _definition_text(definition),
                "created_by": created_by[:64],
                "created_at": utcnow(),
            }
        except FormError as exc:
            return defer.fail(exc)

        def thd(conn: Connection) -> QAFormRow:
            fid = _insert(conn, model.qa_forms, N_("form {name!r}", name=values["name"]), **values)
            return self._load_forms(conn, fid)[0]

        return self.db.run(thd)

    def update_form(self, form_id: int, name: str, definition: Any) -> defer.Deferred[QAFormRow]:
        """Change a form nobody has used yet (FormInUse otherwise; LookupError: no form)."""
        try:
            values = {"name": _name(name), "definition": _definition_text(definition)}
        except FormError as exc:
            return defer.fail(exc)
        f, e = model.qa_forms, model.qa_evaluations

        def thd(conn: Connection) -> QAFormRow:
            # Lock the form (PostgreSQL): an evaluation starting now waits for this change.
            if (
                conn.execute(sa.select(f.c.id).where(f.c.id == form_id).with_for_update()).first()
                is None
            ):
                raise LookupError(f"no form {form_id}")
            used = conn.execute(
                sa.select(sa.func.count()).select_from(e).where(e.c.form_id == form_id)
            ).scalar_one()
            if used:
                raise FormInUse(
                    N_(
                        "the form has {used} evaluations and cannot change: make a new form or "
                        "deactivate this one",
                        used=used,
                    )
                )
            try:
                with conn.begin_nested():
                    conn.execute(f.update().where(f.c.id == form_id).values(**values))
            except sa.exc.IntegrityError:
                raise DuplicateError(
                    N_("form {name!r} already exists", name=values["name"])
                ) from None
            return self._load_forms(conn, form_id)[0]

        return self.db.run(thd)

    def set_active(self, form_id: int, active: bool) -> defer.Deferred[QAFormRow]:
        f = model.qa_forms

        def thd(conn: Connection) -> QAFormRow:
            done = conn.execute(f.update().where(f.c.id == form_id).values(active=active))
            if not done.rowcount:
                raise LookupError(f"no form {form_id}")
            return self._load_forms(conn, form_id)[0]

        return self.db.run(thd)

    def list_forms(self, active_only: bool = False) -> defer.Deferred[list[QAFormRow]]:
        return self.db.run(lambda conn: self._load_forms(conn, None, active_only))

    def get_form(self, form_id: int) -> defer.Deferred[QAFormRow | None]:
        def thd(conn: Connection) -> QAFormRow | None:
            rows = self._load_forms(conn, form_id)
            return rows[0] if rows else None

        return self.db.run(thd)

    @staticmethod
    def _load_forms(
        conn: Connection, form_id: int | None, active_only: bool = False
    ) -> list[QAFormRow]:
        f, e = model.qa_forms, model.qa_evaluations
        used = sa.select(e.c.form_id, sa.func.count().label("n")).group_by(e.c.form_id).subquery()
        q = (
            sa.select(f, sa.func.coalesce(used.c.n, 0).label("evaluations"))
            .select_from(f.outerjoin(used, used.c.form_id == f.c.id))
            .order_by(f.c.active.desc(), f.c.name)
        )
        if form_id is not None:
            q = q.where(f.c.id == form_id)
        if active_only:
            q = q.where(f.c.active.is_(True))
        return [
            QAFormRow(
                id=r.id,
                name=r.name,
                definition=json.loads(r.definition),
                active=bool(r.active),
                created_by=r.created_by,
                created_at=r.created_at,
                evaluations=int(r.evaluations),
            )
            for r in conn.execute(q)
        ]

    # ---- evaluations ------------------------------------------------------------------------

    def evaluate(
        self,
        recording_id: int,
        form_id: int,
        answers: Any,
        evaluator: str,
        comment: str = "",
        at: dt.datetime | None = None,
    ) -> defer.Deferred[EvaluationRow]:
        """Score a recording with a form. LookupError: no such recording or form;
        FormInactive; FormError: the answers do not fit the form (nothing is written)."""
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            return defer.fail(
                FormError(
                    N_(
                        "a comment is text of at most {MAX_COMMENT} characters",
                        MAX_COMMENT=MAX_COMMENT,
                    )
                )
            )
        f, r, e = model.qa_forms, model.recordings, model.qa_evaluations

        def thd(conn: Connection) -> EvaluationRow:
            form_row = conn.execute(
                sa.select(f.c.definition, f.c.active).where(f.c.id == form_id).with_for_update()
            ).first()
            if form_row is None:
                raise LookupError(f"no form {form_id}")
            if not form_row.active:
                raise FormInactive(N_("the form is deactivated"))
            rec = conn.execute(
                sa.select(r.c.agent_id, r.c.queue_id).where(r.c.id == recording_id)
            ).first()
            if rec is None:
                raise LookupError(f"no recording {recording_id}")
            form = parse_form(json.loads(form_row.definition))
            points = normalize_answers(form, answers)
            value = score(form, points)
            eid = _insert(
                conn,
                e,
                N_("evaluation"),
                recording_id=recording_id,
                form_id=form_id,
                agent_id=rec.agent_id,
                queue_id=rec.queue_id,
                evaluator=evaluator[:64],
                score=value,
                answers=json.dumps(points, sort_keys=True),
                comment=comment,
                created_at=at or utcnow(),
            )
            conn.execute(r.update().where(r.c.id == recording_id).values(qa_score=value))
            inbox_add(conn, "qa", eid)
            return _eval_row(conn.execute(_eval_select().where(e.c.id == eid)).one())

        return self.db.run(thd)

    def evaluations_of_recording(self, recording_id: int) -> defer.Deferred[list[EvaluationRow]]:
        e = model.qa_evaluations
        q = _eval_select().where(e.c.recording_id == recording_id).limit(MAX_LIST)
        return self.db.run(lambda conn: [_eval_row(x) for x in conn.execute(q)])

    def evaluations_of_agent(
        self,
        agent_id: int,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int = 200,
    ) -> defer.Deferred[list[EvaluationRow]]:
        """The agent's evaluations, newest first, created in [start, end)."""
        e = model.qa_evaluations
        q = _eval_select().where(e.c.agent_id == agent_id)
        if start is not None:
            q = q.where(e.c.created_at >= start)
        if end is not None:
            q = q.where(e.c.created_at < end)
        q = q.limit(max(1, min(limit, MAX_LIST)))
        return self.db.run(lambda conn: [_eval_row(x) for x in conn.execute(q)])

    def averages(
        self, by: str, start: dt.datetime, end: dt.datetime
    ) -> defer.Deferred[list[AverageRow]]:
        """Per agent (``by="agent"``) or queue: count, mean, min and max score of the
        evaluations created in [start, end). Evaluations without one are left out."""
        if by not in GROUP_BY:
            return defer.fail(ValueError(N_("averages are by agent or by queue")))
        e = model.qa_evaluations
        key = e.c.agent_id if by == "agent" else e.c.queue_id
        other = model.agents if by == "agent" else model.queues
        q = (
            sa.select(
                key.label("id"),
                sa.func.coalesce(sa.func.max(other.c.name), "").label("name"),
                sa.func.count().label("count"),
                sa.func.avg(e.c.score).label("mean"),
                sa.func.min(e.c.score).label("min"),
                sa.func.max(e.c.score).label("max"),
            )
            .select_from(e.outerjoin(other, other.c.id == key))
            .where(key.is_not(None), e.c.created_at >= start, e.c.created_at < end)
            .group_by(key)
            .order_by(sa.func.avg(e.c.score).desc(), key)
        )

        def thd(conn: Connection) -> list[AverageRow]:
            return [
                AverageRow(
                    int(x.id),
                    x.name,
                    int(x._mapping["count"]),  # Row.count is the tuple method
                    round(float(x.mean), 1),
                    float(x.min),
                    float(x.max),
                )
                for x in conn.execute(q)
            ]

        return self.db.run(thd)

    # ---- calls waiting to be scored ----------------------------------------------------------

    def to_score(
        self,
        start: dt.datetime,
        end: dt.datetime,
        per_agent: int,
        seed: int,
        queue_id: int | None = None,
        agent_id: int | None = None,
    ) -> defer.Deferred[list[ToScoreRow]]:
        """Up to ``per_agent`` recorded, unscored calls of each agent that started in
        [start, end), picked at random by ``seed`` (the same seed, the same calls), optionally
        of one queue or one agent; by agent number, then by time."""
        if not 1 <= per_agent <= MAX_PER_AGENT:
            return defer.fail(
                ValueError(N_("per_agent must be between 1 and {limit}", limit=MAX_PER_AGENT))
            )
        r, a, q = model.recordings, model.agents, model.queues
        key = sample_key(sa.cast(r.c.id, sa.BigInteger), seed)
        where = [
            r.c.agent_id.is_not(None),
            r.c.qa_score.is_(None),
            r.c.started_at >= start,
            r.c.started_at < end,
        ]
        if queue_id is not None:
            where.append(r.c.queue_id == queue_id)
        if agent_id is not None:
            where.append(r.c.agent_id == agent_id)
        ranked = (
            sa.select(
                r.c.id,
                r.c.agent_id,
                sa.func.row_number()
                .over(partition_by=r.c.agent_id, order_by=(key, r.c.id))
                .label("rank"),
            )
            .where(*where)
            .subquery()
        )
        query = (
            sa.select(
                r.c.id.label("recording_id"),
                r.c.started_at,
                r.c.duration_ms,
                r.c.direction,
                r.c.caller_number,
                r.c.agent_id,
                a.c.number.label("agent_number"),
                a.c.name.label("agent_name"),
                r.c.queue_id,
                sa.func.coalesce(sa.func.nullif(q.c.display_name, ""), q.c.name, "").label(
                    "queue_name"
                ),
            )
            .select_from(
                ranked.join(r, r.c.id == ranked.c.id)
                .join(a, a.c.id == r.c.agent_id)
                .outerjoin(q, q.c.id == r.c.queue_id)
            )
            .where(ranked.c.rank <= per_agent)
            .order_by(a.c.number, r.c.started_at, r.c.id)
        )

        def thd(conn: Connection) -> list[ToScoreRow]:
            return [ToScoreRow(**row._mapping) for row in conn.execute(query)]

        return self.db.run(thd)


# ---- calls waiting to be scored ---------------------------------------------------------------

MAX_PER_AGENT = 20
# The sample's order: a multiplicative hash of the recording id mixed with the seed, modulo a
# prime (2**31 - 1): the same on SQLite and PostgreSQL, in 64-bit integers, random-looking
# and fixed for one seed (a QA user reloading the list sees the same calls).
_PRIME = 2_147_483_647


@dataclass(frozen=True)
class ToScoreRow:
    """A recorded call the sample picked for scoring."""

    recording_id: int
    started_at: dt.datetime
    duration_ms: int
    direction: str
    caller_number: str
    agent_id: int
    agent_number: str
    agent_name: str
    queue_id: int | None
    queue_name: str


def _xor(x: Any, y: int) -> Any:
    """x XOR y for a Python int or an SQL integer (SQLite has no XOR: (x | y) - (x & y))."""
    if isinstance(x, int):
        return x ^ y
    return x.op("|")(y) - x.op("&")(y)


def sample_key(recording_id: Any, seed: int) -> Any:
    """The sample's order of a recording (an SQL expression of ``recording_id``, or a number
    for a Python int): multiply-add modulo a prime, mixed with the seed by XOR between the
    rounds (a product and a sum alone would only rotate one order), below 2**47 throughout."""
    s1, s2, s3 = seed % _PRIME, (seed * 7 + 13) % _PRIME, (seed * 31 + 101) % _PRIME
    k = (recording_id * 48_271 + s1) % _PRIME
    k = (_xor(k, s2) * 16_807 + 7) % _PRIME
    return (_xor(k, s3) * 48_271) % _PRIME
