"""The QA pages: forms (with a builder), scoring a recording, an agent's own evaluations,
averages. The same checks as the JSON API (``QaActions`` in webui/qa_api.py); scoring is a
plain form POST with the CSRF token (the script only shows the running total), the builder
saves through ``/api/qa/forms``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import cherrypy

from recorder.qa_form import parse_form
from webui import admin_forms, i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.qa_api import FORM_EDITORS, SCORERS, QaActions, Waiting, waiting
from webui.recording_pages import directions, duration
from webui.render import render

MAX_ANSWER = 8  # characters of one answer field ("10", "1", "0")


def builder_texts() -> dict[str, str]:
    """What the builder script shows, translated."""
    return {
        "group": i18n._("Group"),
        "group_name": i18n._("Group name"),
        "weight": i18n._("Weight"),
        "question": i18n._("Question"),
        "kind": i18n._("Kind"),
        "yes_no": i18n._("Yes / no"),
        "scale": i18n._("Scale"),
        "max": i18n._("Max points"),
        "critical": i18n._("Critical (a no or 0 makes the score 0)"),
        "add_question": i18n._("Add a question"),
        "remove": i18n._("Remove"),
        "saved": i18n._("Form saved."),
        "copy_suffix": i18n._("(copy)"),
        "failed": i18n._("Could not save the form:"),
    }


def _answers(params: dict[str, Any]) -> dict[str, Any]:
    """``q_<id>`` fields as answers: "" is unanswered, digits are points; anything else is
    passed on for the form model to refuse with its message."""
    answers: dict[str, Any] = {}
    for key, value in params.items():
        if not key.startswith("q_"):
            continue
        if isinstance(value, str) and len(value) <= MAX_ANSWER:
            value = int(value) if value.isascii() and value.isdigit() else (value or None)
        answers[key[2:]] = value
    return answers


class QaPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.actions = QaActions(ctx)

    def _names(self) -> tuple[dict[int, Any], dict[int, str]]:
        db = self.ctx.db
        agents = {a.id: a for a in self.ctx.call(db.agents.list_all)}
        queues = {q.id: q.display_name or q.name for q in self.ctx.call(db.queues.list_all)}
        return agents, queues

    @page()
    def index(self) -> str:
        user = current_session().user
        assert user is not None
        if user.role not in SCORERS:  # an agent's part of QA is its own evaluations
            raise cherrypy.HTTPRedirect("/qa/mine", 303)
        forms = self.actions.forms()
        return render(
            self.ctx,
            "qa_forms.html",
            forms=forms,
            parsed={f.id: parse_form(f.definition) for f in forms},
            can_edit=user.role in FORM_EDITORS,
            texts=builder_texts(),
        )

    @page(*FORM_EDITORS, methods=("POST",))
    def deactivate(self, **params: Any) -> None:
        active = admin_forms.short_text(params, "active", 1) == "1"
        row = self.actions.set_active(params.get("id"), active)
        session = current_session()
        if active:
            session.flash.append(i18n._("Form {name} is active again.").format(name=row.name))
        else:
            session.flash.append(i18n._("Form {name} is deactivated.").format(name=row.name))
        raise cherrypy.HTTPRedirect("/qa", 303)

    @page(*SCORERS, methods=("GET", "POST"))
    def score(self, **params: Any) -> str:
        request = cherrypy.serving.request
        recording = self.actions.recording(params.get("recording"))
        forms = self.actions.forms(active_only=True)
        wanted = params.get("form", "")
        chosen = next((f for f in forms if str(f.id) == wanted), forms[0] if forms else None)
        error = None
        comment = ""
        answers: dict[str, Any] = {}
        if request.method == "POST":
            comment = admin_forms.short_text(params, "comment", 4000)
            answers = _answers(params)
            try:
                row = self.actions.evaluate(recording.id, params.get("form"), answers, comment)
            except cherrypy.HTTPError as exc:
                if exc.status == 404 and "recording" in (exc._message or ""):
                    raise
                error = exc._message
                cherrypy.serving.response.status = exc.status
            else:
                current_session().flash.append(
                    i18n._("Evaluation saved: score {score}.").format(score=row.score)
                )
                raise cherrypy.HTTPRedirect(
                    f"/qa/score?recording={recording.id}&form={row.form_id}", 303
                )
        agents, queues = self._names()
        return render(
            self.ctx,
            "qa_score.html",
            recording=recording,
            agent=agents.get(recording.agent_id) if recording.agent_id else None,
            queue_name=queues.get(recording.queue_id, "") if recording.queue_id else "",
            forms=forms,
            form=chosen,
            parsed=parse_form(chosen.definition) if chosen else None,
            evaluations=self.actions.evaluations(recording.id),
            peaks=",".join(str(int(p)) for p in recording.peaks[:2000]),
            duration=duration,
            error=error,
            comment=comment,
            answers=answers,
        )

    @page()
    def mine(self) -> str:
        agent, rows = self.actions.mine()
        forms = {f.id: parse_form(f.definition) for f in self.actions.forms()}
        return render(self.ctx, "qa_mine.html", agent=agent, evaluations=rows, forms=forms)

    @page(*SCORERS)
    def averages(self, **params: Any) -> str:
        start, end = params.get("from", ""), params.get("to", "")
        first, last, by_agent = self.actions.averages("agent", start, end)
        _, _, by_queue = self.actions.averages("queue", start, end)
        agents, queues = self._names()
        return render(
            self.ctx,
            "qa_averages.html",
            first=first,
            last=last,
            by_agent=by_agent,
            by_queue=by_queue,
            agents=agents,
            queues=queues,
            today=dt.datetime.now(dt.UTC).date(),
        )

    @page(*SCORERS)
    def waiting(self, **params: Any) -> str:
        """The calls waiting to be scored, a sample per agent (``webui.qa_api.waiting``)."""
        w: Waiting | None = None
        error = None
        try:
            w = waiting(self.ctx, params)
        except cherrypy.HTTPError as exc:
            error = exc._message
            cherrypy.serving.response.status = exc.status
        agents, queues = self._names()
        form = {k: v for k, v in params.items() if isinstance(v, str)}
        return render(
            self.ctx,
            "qa_waiting.html",
            w=w,
            error=error,
            form=form,
            agents=sorted(agents.values(), key=lambda a: a.number),
            queues=sorted(queues.items(), key=lambda q: q[1]),
            directions=directions(),
            duration=duration,
            today=dt.datetime.now(dt.UTC).date(),
        )
