"""The wallboard: a full-screen page for the big screen, and its thresholds and colors.

``/wallboard`` (admin, supervisor) renders the queues it knows with empty numbers; the
script (webui/static/wallboard.js) fills them from the live feed's ``wallboard`` topic and
keeps the waits ticking, with a tile per logged-in agent (state, time in state, calls handled
today) and one per outbound campaign the dialer reports on (talk occupancy, the abandon
rate red above the campaign's target, the dial level). ``/wallboard?queues=sales,billing``
shows those queues only (and their agents, their campaigns): each screen on the floor its
own set, chosen on the page and kept in the URL; a name that is no
queue is refused (400) with the names there are. ``/wallboard/settings`` (admin) edits when
numbers turn to the warning or alarm color (appliance/db/settings_store.py checks every
field); a change is audited.
"""

from __future__ import annotations

from typing import Any

import cherrypy

from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.db.components import QueueRow
from appliance.db.settings_store import (
    WALLBOARD_FIELDS,
    WALLBOARD_RANGES,
    InvalidSettings,
    Problem,
)
from webui import audit_trail, i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render
from webui.system_spans import ALARMS

VIEWERS = ("admin", "supervisor")
MAX_FIELD = 32  # characters of one settings field
MAX_CHOICE = 2000  # characters of ?queues=
CHANNELS = ("chat", "email")  # the media with a channels' card (calls have the ACD's)


def texts() -> dict[str, str]:
    """What the script shows, translated."""
    return {
        "waiting": i18n._("Waiting"),
        "longest_wait": i18n._("Longest wait"),
        "service_level": i18n._("Service level"),
        "answered": i18n._("Answered"),
        "abandoned": i18n._("Abandoned"),
        "offered": i18n._("Offered"),
        "available": i18n._("Available"),
        "ringing": i18n._("Ringing"),
        "on_call": i18n._("On call"),
        "wrap_up": i18n._("Wrap-up"),
        "paused": i18n._("Paused"),
        "logged_out": i18n._("Logged out"),
        "live": i18n._("Live"),
        "connecting": i18n._("Connecting…"),
        "lost": i18n._("Connection lost: reconnecting…"),
        "no_queues": i18n._("No queues yet."),
        "call_1": i18n._("1 call"),
        "calls_n": i18n._("{n} calls"),
        "more_agents": i18n._("+{n} more"),
        "no_agents": i18n._("No agent logged in."),
        # the outbound campaigns' tiles
        "occupancy": i18n._("Talk occupancy"),
        "abandon_24h": i18n._("Abandon rate (24 h)"),
        "abandon_30d": i18n._("30 days"),
        "dial_level": i18n._("Dial level"),
        "placed": i18n._("Placed"),
        "target": i18n._("Target"),
        "campaign_running": i18n._("Running"),
        "campaign_paused": i18n._("Paused"),
        "campaign_stopped": i18n._("Stopped"),
        # the banner while an E1/DAHDI span is in alarm
        "span_alarm": i18n._("Trunk alarm: span {span} {name}: {alarms}"),
        # the channels' tiles (calls, chat, e-mail) and their queues' cards
        "active": i18n._("Active now"),
        "sla_breaches": i18n._("Past reply due"),
        "media_call": i18n._("Calls"),
        "media_chat": i18n._("Chat"),
        "media_email": i18n._("E-mail"),
        **{f"alarm_{name}": i18n._(text) for name, (text, _colour) in ALARMS.items()},
    }


def labels() -> dict[str, str]:
    """The settings form's field labels, translated."""
    return {
        "waiting_warning": i18n._("Calls waiting: warning at"),
        "waiting_alarm": i18n._("Calls waiting: alarm at"),
        "longest_wait_warning_s": i18n._("Longest wait (seconds): warning at"),
        "longest_wait_alarm_s": i18n._("Longest wait (seconds): alarm at"),
        "service_level_warning": i18n._("Service level (%): warning below"),
        "service_level_alarm": i18n._("Service level (%): alarm below"),
        "color_normal": i18n._("Color when normal"),
        "color_warning": i18n._("Color of a warning"),
        "color_alarm": i18n._("Color of an alarm"),
    }


def problem_text(problem: Problem, names: dict[str, str]) -> str:
    label = names.get(problem.field, problem.field)
    if problem.code == "range":
        return i18n._("{field}: a whole number from {low} to {high}.").format(
            field=label, low=problem.low, high=problem.high
        )
    if problem.code == "color":
        return i18n._("{field}: a color written #rrggbb.").format(field=label)
    if problem.code == "order":
        return i18n._("{field}: the alarm level must be past the warning level.").format(
            field=label
        )
    return i18n._("{field} is missing.").format(field=label)


def chosen_queues(raw: Any, known: list[QueueRow]) -> tuple[list[QueueRow] | None, str]:
    """The queues of ``?queues=a,b`` in the order given (None: every queue), or an error."""
    if isinstance(raw, list):  # ?queues=a&queues=b
        raw = ",".join(v for v in raw if isinstance(v, str))
    if not isinstance(raw, str) or len(raw) > MAX_CHOICE:
        return None, i18n._("The queues to show are a list of queue names: sales,billing.")
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    if not names:
        return None, ""
    by_name = {q.name: q for q in known}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        return None, i18n._("No such queue: {names}. The queues are: {known}.").format(
            names=", ".join(unknown), known=", ".join(q.name for q in known) or "-"
        )
    return [by_name[n] for n in names], ""


class WallboardPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page(*VIEWERS)
    def index(self, queues: Any = "") -> str:
        db = self.ctx.db
        listed: list[QueueRow] = self.ctx.call(db.queues.list_all)
        rows = sorted(listed, key=lambda q: q.id)
        chosen, error = chosen_queues(queues, rows)
        if error:
            cherrypy.serving.response.status = 400
        shown = rows if chosen is None else chosen
        settings = self.ctx.call(db.settings.wallboard)
        campaigns = self.ctx.call(db.dialer.campaigns)
        media = self.ctx.call(ChannelAdminStore(db).queue_media)
        user = current_session().user
        assert user is not None
        return render(
            self.ctx,
            "wallboard.html",
            # call queues get the ACD's cards; chat and e-mail queues the channels' cards
            queues=[] if error else [q for q in shown if media.get(q.id, "call") == "call"],
            channel_queues=[] if error else [q for q in shown if media.get(q.id) in CHANNELS],
            all_queues=rows,
            chosen={q.name for q in chosen or ()},
            error=error,
            config={
                "settings": settings.as_dict(),
                "texts": texts(),
                # the queues this screen shows (None: every queue, new ones too; none
                # after a refused choice)
                "queue_ids": [] if error else None if chosen is None else [q.id for q in chosen],
                # what each queue takes (call, chat, email) and its name, for the channels'
                # tiles and cards
                "media": {str(q.id): media.get(q.id, "call") for q in rows},
                "queue_names": {str(q.id): q.display_name or q.name for q in rows},
                # each campaign's target abandon rate (its tile turns red above it) and
                # queue (a screen of chosen queues shows their campaigns)
                "campaigns": {
                    str(c.id): {"target": c.target_abandon_pct, "queue_id": c.queue_id}
                    for c in campaigns
                },
            },
            can_configure=user.role == "admin",
        )

    @page("admin", methods=("GET", "POST"))
    def settings(self, **params: Any) -> str:
        db = self.ctx.db
        request = cherrypy.serving.request
        names = labels()
        errors: list[str] = []
        bad: set[str] = set()
        if request.method == "POST":
            raw = {}
            for name in WALLBOARD_FIELDS:
                value = params.get(name, "")
                raw[name] = value if isinstance(value, str) else ""
                raw[name] = raw[name][:MAX_FIELD]
            user = current_session().user
            assert user is not None
            try:
                saved = self.ctx.call(db.settings.set_wallboard, raw, user.username)
            except InvalidSettings as exc:
                errors = [problem_text(p, names) for p in exc.problems]
                bad = {p.field for p in exc.problems}
                cherrypy.serving.response.status = 400
                values: dict[str, Any] = raw
            else:
                audit_trail.record(self.ctx, "wallboard.settings", "wallboard", saved.as_dict())
                current_session().flash.append(i18n._("Wallboard settings saved."))
                raise cherrypy.HTTPRedirect("/wallboard/settings", 303)
        else:
            values = self.ctx.call(db.settings.wallboard).as_dict()
        return render(
            self.ctx,
            "wallboard_settings.html",
            values=values,
            labels=names,
            ranges=WALLBOARD_RANGES,
            errors=errors,
            bad=bad,
        )
