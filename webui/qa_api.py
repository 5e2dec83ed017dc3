"""QA over JSON: scoring forms, evaluations of recordings, averages per agent and queue.
``/api/qa/...`` and the ``/qa`` pages (webui/qa_pages.py) make the same checks (``QaActions``).

Who may do what: admins and QA users make and deactivate forms; QA users, supervisors and
admins score recordings and read evaluations and averages; an agent reads only its own
evaluations (``mine``), found through the agent linked to its login, never by an id from
the request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cherrypy

from appliance.db.components import DuplicateError
from appliance.db.qa_store import GROUP_BY, MAX_PER_AGENT, FormInactive, FormInUse, ToScoreRow
from appliance.text import N_
from recorder.qa_form import FormError
from webui import access, audit_trail, i18n
from webui.access import api, current_session
from webui.context import WebContext
from webui.json_body import json_object

if TYPE_CHECKING:
    from appliance.db.qa_store import AverageRow, EvaluationRow, QAFormRow
    from appliance.db.recording_store import RecordingRow

SCORERS = ("admin", "supervisor", "qa")
FORM_EDITORS = ("admin", "qa")
DEFAULT_DAYS = 30
MAX_DAYS = 366


def form_json(f: QAFormRow) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.name,
        "definition": f.definition,
        "active": f.active,
        "created_by": f.created_by,
        "created_at": f.created_at.isoformat(),
        "evaluations": f.evaluations,
    }


def evaluation_json(e: EvaluationRow) -> dict[str, Any]:
    return {
        "id": e.id,
        "recording_id": e.recording_id,
        "form_id": e.form_id,
        "form_name": e.form_name,
        "agent_id": e.agent_id,
        "agent_name": e.agent_name,
        "queue_id": e.queue_id,
        "queue_name": e.queue_name,
        "evaluator": e.evaluator,
        "score": e.score,
        "answers": e.answers,
        "comment": e.comment,
        "created_at": e.created_at.isoformat(),
    }


def average_json(a: AverageRow) -> dict[str, Any]:
    return {
        "id": a.id,
        "name": a.name,
        "count": a.count,
        "mean": a.mean,
        "min": a.min,
        "max": a.max,
    }


def parse_id(value: Any, what: str) -> int:
    """A row id from a request (a JSON number or a query string); 400 when it is not one,
    404 when it cannot exist."""
    if isinstance(value, bool):
        raise cherrypy.HTTPError(400, i18n._("{what} must be a whole number").format(what=what))
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int):
        raise cherrypy.HTTPError(400, i18n._("{what} must be a whole number").format(what=what))
    if not 0 < value < 2**31:
        raise cherrypy.HTTPError(
            404, i18n._("no such {what}").format(what=what.replace("_id", "").replace("_", " "))
        )
    return value


def parse_period(start: Any, end: Any, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """``from`` and ``to`` (YYYY-MM-DD, both days included; default: the last 30 days)."""

    def day(value: Any, name: str) -> dt.date | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or len(value) != 10:
            raise cherrypy.HTTPError(
                400, i18n._("{name} must be a date YYYY-MM-DD").format(name=name)
            )
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise cherrypy.HTTPError(
                400, i18n._("{name} must be a date YYYY-MM-DD").format(name=name)
            ) from None

    last = day(end, "to") or today or dt.datetime.now(dt.UTC).date()
    first = day(start, "from") or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise cherrypy.HTTPError(400, i18n._("from must not be after to"))
    if (last - first).days >= MAX_DAYS:
        raise cherrypy.HTTPError(
            400, i18n._("a period is at most {MAX_DAYS} days").format(MAX_DAYS=MAX_DAYS)
        )
    return first, last


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


class QaActions:
    """What the API and the pages both do, with the same checks (errors as HTTPError)."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @property
    def db(self) -> Any:
        return self.ctx.db

    def _user(self) -> Any:
        user = current_session().user
        assert user is not None
        return user

    def forms(self, active_only: bool = False) -> list[QAFormRow]:
        rows: list[QAFormRow] = self.ctx.call(self.db.qa.list_forms, active_only)
        return rows

    def form(self, form_id: Any) -> QAFormRow:
        row: QAFormRow | None = self.ctx.call(self.db.qa.get_form, parse_id(form_id, "form id"))
        if row is None:
            raise cherrypy.HTTPError(404, i18n._("no such form"))
        return row

    def save_form(self, form_id: Any, name: Any, definition: Any) -> tuple[QAFormRow, bool]:
        """Add a form (``form_id`` None) or change an unused one; (row, created)."""
        if not isinstance(name, str) or len(name) > 1000:
            raise cherrypy.HTTPError(400, i18n._("name must be text"))
        try:
            if form_id is None:
                row = self.ctx.call(self.db.qa.add_form, name, definition, self._user().username)
                return row, True
            fid = parse_id(form_id, "form id")
            return self.ctx.call(self.db.qa.update_form, fid, name, definition), False
        except FormError as exc:
            raise cherrypy.HTTPError(400, i18n.error(exc)) from None
        except (DuplicateError, FormInUse) as exc:
            raise cherrypy.HTTPError(409, i18n.error(exc)) from None
        except LookupError:
            raise cherrypy.HTTPError(404, i18n._("no such form")) from None

    def set_active(self, form_id: Any, active: Any) -> QAFormRow:
        if not isinstance(active, bool):
            raise cherrypy.HTTPError(400, i18n._("active must be true or false"))
        try:
            row: QAFormRow = self.ctx.call(
                self.db.qa.set_active, parse_id(form_id, "form id"), active
            )
        except LookupError:
            raise cherrypy.HTTPError(404, i18n._("no such form")) from None
        return row

    def recording(self, recording_id: Any) -> RecordingRow:
        row: RecordingRow | None = self.ctx.call(
            self.db.recordings.get, parse_id(recording_id, "recording_id")
        )
        if row is None:
            raise cherrypy.HTTPError(404, i18n._("no such recording"))
        return row

    def evaluate(
        self, recording_id: Any, form_id: Any, answers: Any, comment: Any
    ) -> EvaluationRow:
        rid = parse_id(recording_id, "recording_id")
        fid = parse_id(form_id, "form_id")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise cherrypy.HTTPError(400, i18n._("comment must be text"))
        user = self._user()
        try:
            row: EvaluationRow = self.ctx.call(
                self.db.qa.evaluate, rid, fid, answers, user.username, comment
            )
        except FormError as exc:
            raise cherrypy.HTTPError(400, i18n.error(exc)) from None
        except FormInactive as exc:
            raise cherrypy.HTTPError(409, i18n.error(exc)) from None
        except LookupError as exc:
            raise cherrypy.HTTPError(404, i18n.error(exc)) from None
        audit_trail.record(
            self.ctx,
            "qa.evaluate",
            f"recording:{rid}",
            {"evaluation": row.id, "form": fid, "score": row.score},
        )
        return row

    def evaluations(self, recording_id: Any) -> list[EvaluationRow]:
        rows: list[EvaluationRow] = self.ctx.call(
            self.db.qa.evaluations_of_recording, parse_id(recording_id, "recording_id")
        )
        return rows

    def mine(self) -> tuple[Any, list[EvaluationRow]]:
        """The agent linked to this login and its evaluations (None, [] when none is)."""
        agent = self.ctx.acd.agent_of_user(self._user().id)
        if agent is None:
            return None, []
        return agent, self.ctx.call(self.db.qa.evaluations_of_agent, agent.id)

    def averages(self, by: Any, start: Any, end: Any) -> tuple[dt.date, dt.date, list[AverageRow]]:
        if by not in GROUP_BY:
            raise cherrypy.HTTPError(400, i18n._("by must be agent or queue"))
        first, last = parse_period(start, end)
        rows = self.ctx.call(
            self.db.qa.averages,
            by,
            _midnight(first),
            _midnight(last + dt.timedelta(days=1)),
        )
        return first, last, rows


@dataclass(frozen=True)
class Waiting:
    """The calls a sample picked for scoring, and the choices that picked them."""

    first: dt.date
    last: dt.date
    per_agent: int
    seed: int
    queue_id: int | None
    agent_id: int | None
    calls: list[ToScoreRow]


def _small_int(value: Any, name: str, low: int, high: int, default: int) -> int:
    if value in (None, ""):
        return default
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise cherrypy.HTTPError(
            400,
            i18n._("{name} must be a whole number from {low} to {high}").format(
                name=name, low=low, high=high
            ),
        )
    return value


def waiting(ctx: WebContext, params: dict[str, Any]) -> Waiting:
    """Up to ``per_agent`` (default 3) recorded, unscored calls of each agent in the period
    (``from``/``to``, the last 30 days by default), of one ``queue`` or ``agent`` if given.
    The same ``seed`` picks the same calls; without one the period's own (a reload shows
    the same list, a scored call leaves it and the next of the sample takes its place)."""
    first, last = parse_period(params.get("from"), params.get("to"))
    per_agent = _small_int(params.get("per_agent"), "per_agent", 1, MAX_PER_AGENT, 3)
    seed = _small_int(
        params.get("seed"), "seed", 0, 2**31 - 1, first.toordinal() * 7 + last.toordinal()
    )
    queue_id = parse_id(params["queue"], "queue") if params.get("queue") else None
    agent_id = parse_id(params["agent"], "agent") if params.get("agent") else None
    rows: list[ToScoreRow] = ctx.call(
        ctx.db.qa.to_score,
        _midnight(first),
        _midnight(last + dt.timedelta(days=1)),
        per_agent,
        seed,
        queue_id,
        agent_id,
    )
    return Waiting(first, last, per_agent, seed, queue_id, agent_id, rows)


def to_score_json(c: ToScoreRow) -> dict[str, Any]:
    return {
        "recording_id": c.recording_id,
        "started_at": c.started_at.isoformat(),
        "duration_ms": c.duration_ms,
        "direction": c.direction,
        "caller_number": c.caller_number,
        "agent_id": c.agent_id,
        "agent_number": c.agent_number,
        "agent_name": c.agent_name,
        "queue_id": c.queue_id,
        "queue_name": c.queue_name,
    }


def _json(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except cherrypy.HTTPError as exc:
        access.json_error(exc.status, exc._message or N_("error"))


class QaApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.actions = QaActions(ctx)

    @api(*SCORERS, methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def forms(self) -> Any:
        """GET: every form; POST {name, definition} adds one, {id, name, definition}
        changes one nobody has used (admin, qa)."""
        if cherrypy.serving.request.method == "GET":
            return [form_json(f) for f in _json(self.actions.forms)]
        user = current_session().user
        assert user is not None
        if user.role not in FORM_EDITORS:
            access.json_error(403, N_("only an admin or a QA user makes forms"))
        body = json_object()
        row, created = _json(
            self.actions.save_form, body.get("id"), body.get("name"), body.get("definition")
        )
        if created:
            cherrypy.serving.response.status = 201
        return form_json(row)

    @api(*SCORERS)
    @cherrypy.tools.json_out()
    def form(self, id: str = "") -> dict[str, Any]:
        return form_json(_json(self.actions.form, id))

    @api(*FORM_EDITORS, methods=("POST",))
    @cherrypy.tools.json_out()
    def deactivate(self) -> dict[str, Any]:
        """{id} deactivates a form; {id, active: true} brings it back."""
        body = json_object()
        return form_json(_json(self.actions.set_active, body.get("id"), body.get("active", False)))

    @api(*SCORERS, methods=("POST",))
    @cherrypy.tools.json_out()
    def evaluate(self) -> dict[str, Any]:
        body = json_object()
        row = _json(
            self.actions.evaluate,
            body.get("recording_id"),
            body.get("form_id"),
            body.get("answers"),
            body.get("comment", ""),
        )
        cherrypy.serving.response.status = 201
        return evaluation_json(row)

    @api(*SCORERS)
    @cherrypy.tools.json_out()
    def evaluations(self, recording_id: str = "") -> list[dict[str, Any]]:
        return [evaluation_json(e) for e in _json(self.actions.evaluations, recording_id)]

    @api()
    @cherrypy.tools.json_out()
    def mine(self) -> dict[str, Any]:
        agent, rows = _json(self.actions.mine)
        return {
            "agent": None if agent is None else {"id": agent.id, "number": agent.number},
            "evaluations": [evaluation_json(e) for e in rows],
        }

    @api(*SCORERS)
    @cherrypy.tools.json_out()
    def averages(self, by: str = "agent", **params: Any) -> dict[str, Any]:
        first, last, rows = _json(
            self.actions.averages, by, params.get("from", ""), params.get("to", "")
        )
        return {
            "by": by,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "rows": [average_json(a) for a in rows],
        }

    @api(*SCORERS)
    @cherrypy.tools.json_out()
    def waiting(self, **params: Any) -> dict[str, Any]:
        """The calls waiting to be scored: ``from``, ``to``, ``per_agent``, ``queue``,
        ``agent``, ``seed`` (see ``waiting``)."""
        w: Waiting = _json(waiting, self.ctx, params)
        return {
            "from": w.first.isoformat(),
            "to": w.last.isoformat(),
            "per_agent": w.per_agent,
            "seed": w.seed,
            "queue": w.queue_id,
            "agent": w.agent_id,
            "calls": [to_score_json(c) for c in w.calls],
        }
