"""The CherryPy application: pages and JSON API. Handlers run in WSGI threads.

Every handler is declared with an access rule (``webui.access``); state changes are POSTs
with a CSRF token; everything rendered goes through autoescaping templates.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import cherrypy
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance import logsetup, passwords
from appliance.db.components import DuplicateError, UserRow
from appliance.db.model import ROLES
from appliance.text import N_
from webui import access, cobrowse_pages, i18n, report_export
from webui.access import api, current_session, page, public
from webui.acd_api import AcdApi
from webui.admin_agents import AgentsAdmin
from webui.admin_campaigns import CampaignsAdmin
from webui.admin_channels import ChannelsAdmin
from webui.admin_dids import DidsAdmin
from webui.admin_dnc import DncAdmin
from webui.admin_forms import bounded
from webui.admin_queues import QueuesAdmin
from webui.admin_system import SystemAdmin
from webui.callback_pages import CallbackPage, CallbackService, PublicApi
from webui.context import WebContext
from webui.customer_pages import CustomerPages
from webui.desk_api import DeskApi
from webui.desk_lead_api import DeskLeadApi
from webui.desk_pages import DeskPages
from webui.flow_pages import FlowPages
from webui.ivr_api import IvrApi
from webui.json_body import MAX_BODY, read_json_body
from webui.kb_pages import KBPages
from webui.notice_api import NoticeApi
from webui.prompt_pages import PromptPages
from webui.qa_api import QaApi
from webui.qa_pages import QaPages
from webui.recording_admin_api import RecordingAdminApi
from webui.recording_api import RecordingApi
from webui.recording_control_api import RecordingControlApi
from webui.recording_pages import RecordingPages
from webui.render import render
from webui.report_pages import ReportPages
from webui.sessions import SessionUser
from webui.supervisor_api import SupervisorApi
from webui.supervisor_pages import SupervisorPages
from webui.ticket_pages import TicketPages
from webui.training_pages import TrainingPages
from webui.voicemail_api import VoicemailApi
from webui.voicemail_pages import VoicemailPages
from webui.wallboard_pages import WallboardPages

MAX_FIELD = 4096
log = Logger(namespace="ccbox.web")


def safe_next(target: str) -> str:
    """Only local paths: '/x' yes; '//evil', 'http://evil', '/\\evil' no."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target):
        return "/"
    return target


def user_json(u: UserRow) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "role": u.role,
        "display_name": u.display_name,
        "locale": u.locale,
        "active": u.active,
    }


class UsersAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page("admin")
    def index(self) -> str:
        users = self.ctx.call(self.ctx.db.users.list_all)
        return render(self.ctx, "users.html", users=users, roles=ROLES)

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        session = current_session()
        try:
            self.ctx.call(
                self.ctx.db.users.add,
                bounded(params, "username", 64),
                bounded(params, "password", passwords.MAX_LENGTH),
                bounded(params, "role", 16),
                display_name=bounded(params, "display_name", 128),
            )
        except (DuplicateError, ValueError) as exc:
            session.flash.append(i18n._("Could not add the user: {reason}").format(reason=exc))
        else:
            session.flash.append(i18n._("User added."))
        raise cherrypy.HTTPRedirect("/admin/users", 303)

    @page("admin", methods=("POST",))
    def save(self, **params: Any) -> None:
        """Role, display name and active; the last active admin stays one. A user whose
        role or active changed is logged out everywhere (its sessions hold the old role)."""
        from appliance.db.admin_store import AdminStore
        from webui import admin_forms as f

        user_id = f.target_id(params)

        def work() -> str:
            role = f.choice(params, "role", i18n._("Role"), ROLES)
            display_name = f.text(params, "display_name", i18n._("Name"), 128)
            active = f.checkbox(params, "active")
            db = self.ctx.db
            before = self.ctx.call(db.users.get, user_id)
            if before is None:
                raise f.FormError(i18n._("That user no longer exists."))
            self.ctx.call(AdminStore(db).update_user, user_id, role, display_name, active)
            if (before.role, before.active) != (role, active):
                self.ctx.sessions.drop_user(user_id)
            log.info(
                "{who} changed user {name}: role {role}, active {active}",
                who=self._who(),
                name=before.username,
                role=role,
                active=active,
            )
            f.audit(self.ctx, "user.save", f"user:{user_id}", role=role, active=active)
            return i18n._("User {name} saved.").format(name=before.username)

        f.finish("/admin/users", work)

    @page("admin", methods=("POST",))
    def password(self, **params: Any) -> None:
        """A new password; the user's sessions end (it logs in again with the new one)."""
        from appliance.db.admin_store import AdminStore
        from webui import admin_forms as f

        user_id = f.target_id(params)

        def work() -> str:
            password = params.get("password", "")
            if not isinstance(password, str) or len(password) > passwords.MAX_LENGTH:
                raise f.FormError(i18n._("Password: send it once, of at most 256 characters."))
            db = self.ctx.db
            user = self.ctx.call(db.users.get, user_id)
            if user is None:
                raise f.FormError(i18n._("That user no longer exists."))
            self.ctx.call(AdminStore(db).reset_password, user_id, password)
            self.ctx.sessions.drop_user(user_id)
            log.info("{who} reset the password of {name}", who=self._who(), name=user.username)
            f.audit(self.ctx, "user.password", f"user:{user_id}")
            return i18n._("Password of {name} reset.").format(name=user.username)

        f.finish("/admin/users", work)

    @staticmethod
    def _who() -> str:
        user = current_session().user
        return user.username if user else "?"


class Admin:
    def __init__(self, ctx: WebContext) -> None:
        self.users = UsersAdmin(ctx)
        self.agents = AgentsAdmin(ctx)
        self.queues = QueuesAdmin(ctx)
        self.dids = DidsAdmin(ctx)
        self.system = SystemAdmin(ctx)
        self.campaigns = CampaignsAdmin(ctx)
        self.dnc = DncAdmin(ctx, self.campaigns.uploads)  # one registry of imports
        self.channels = ChannelsAdmin(ctx)  # chat topics, origins, canned, e-mail accounts


class Api:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.acd = AcdApi(ctx)
        self.ivr = IvrApi(ctx)
        self.voicemail = VoicemailApi(ctx)
        self.recordings = RecordingApi(ctx)
        self.recording_control = RecordingControlApi(ctx)
        self.recording_admin = RecordingAdminApi(ctx)
        self.qa = QaApi(ctx)
        self.supervisor = SupervisorApi(ctx)
        self.desk = DeskApi(ctx)
        self.desk_lead = DeskLeadApi(ctx)
        self.notices = NoticeApi(ctx)
        self.public = PublicApi(CallbackService(ctx))  # no login: /api/public/callback

    @api()
    @cherrypy.tools.json_out()
    def status(self) -> dict[str, Any]:
        h = self.ctx.health
        return {
            "overall": h.overall(),
            "parts": [
                {"name": p.name, "state": p.state, "detail": p.detail, "since": p.since.isoformat()}
                for p in h.parts()
            ],
        }

    @api()
    @cherrypy.tools.json_out()
    def me(self) -> dict[str, Any]:
        user = current_session().user
        assert user is not None
        return {
            "id": user.id,
            "username": user.username,
            "role": user.role,
            "locale": cherrypy.serving.request.ccbox_locale,
        }

    @api("admin", methods=("GET", "POST"))
    @cherrypy.tools.json_out()
    def users(self) -> Any:
        db = self.ctx.db
        if cherrypy.serving.request.method == "GET":
            return [user_json(u) for u in self.ctx.call(db.users.list_all)]
        body = read_json_body()
        if not isinstance(body, dict):
            access.json_error(400, N_("send a JSON object"))
        fields = {}
        for name in ("username", "password", "role", "display_name"):
            value = body.get(name, "")
            if not isinstance(value, str) or len(value) > passwords.MAX_LENGTH:
                access.json_error(
                    400, N_("{name} must be a string of at most 256 characters", name=name)
                )
            fields[name] = value
        try:
            user = self.ctx.call(db.users.add, **fields)
        except (DuplicateError, ValueError) as exc:
            access.json_error(409 if isinstance(exc, DuplicateError) else 400, exc)
        cherrypy.serving.response.status = 201
        return user_json(user)


class Root:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.admin = Admin(ctx)
        self.api = Api(ctx)
        self.voicemail = VoicemailPages(ctx)
        self.prompts = PromptPages(ctx, self.api.ivr)
        self.flows = FlowPages(ctx)
        self.recordings = RecordingPages(ctx)
        self.qa = QaPages(ctx)
        self.wallboard = WallboardPages(ctx)
        self.supervisor = SupervisorPages(ctx)
        self.desk = DeskPages(ctx)
        self.reports = ReportPages(ctx)
        self.tickets = TicketPages(ctx)  # /tickets/, /tickets/board, types, sla
        self.customers = CustomerPages(ctx, self.admin.campaigns.uploads)  # one import registry
        self.kb = KBPages(ctx)
        self.training = TrainingPages(ctx)
        report_export.mount(self.reports, ctx)  # /reports/export.*, /reports/schedules/
        cobrowse_pages.mount(self, ctx)  # /supervisor/desk/<agent>, /desk/cobrowse (replays)
        # public: web callback requests (the page and its JSON twin share one rate limit)
        self.callback = CallbackPage(ctx, self.api.public.service)

    @page()
    def index(self) -> str:
        db = self.ctx.db
        today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        counts = {
            "agents": len(self.ctx.call(db.agents.list_all)),
            "queues": len(self.ctx.call(db.queues.list_all)),
            "users": self.ctx.call(db.users.count),
            "calls_today": self.ctx.call(db.calls.count_since, today),
        }
        return render(
            self.ctx,
            "dashboard.html",
            counts=counts,
            health=self.ctx.health.parts(),
            overall=self.ctx.health.overall(),
        )

    @public(methods=("GET", "POST"))
    def login(self, **params: Any) -> str:
        session = current_session()
        request = cherrypy.serving.request
        target = safe_next(bounded(params, "next", 512) or "/")
        if request.method == "GET":
            if session.user is not None:
                raise cherrypy.HTTPRedirect(target, 303)
            return render(self.ctx, "login.html", next=target, error=None, username="")

        username = bounded(params, "username", 64).strip()
        password = bounded(params, "password", passwords.MAX_LENGTH)
        address = request.remote.ip or "?"
        error = None
        if self.ctx.throttle.locked(username, address):
            error = i18n._("Too many failed attempts. Wait a few minutes and try again.")
        else:
            record = self.ctx.call(self.ctx.db.users.login_record, username)
            ok = passwords.verify_password(record.password_hash if record else None, password)
            if record is None or not ok or not record.user.active:
                self.ctx.throttle.failed(username, address)
                log.info("failed login for {name!r} from {ip}", name=username, ip=address)
                error = i18n._("Wrong user name or password.")
        if error is not None:
            cherrypy.serving.response.status = 401
            return render(self.ctx, "login.html", next=target, error=error, username=username)

        assert record is not None
        self.ctx.throttle.succeeded(username, address)
        u = record.user
        new = self.ctx.sessions.rotate(
            session, SessionUser(u.id, u.username, u.role, u.display_name)
        )
        if u.locale:
            new.locale = u.locale
        access.set_session_cookie(self.ctx, new)
        log.info("{name} logged in ({role})", name=u.username, role=u.role)
        raise cherrypy.HTTPRedirect(target, 303)

    @page(methods=("POST",))
    def logout(self, **params: Any) -> None:
        new = self.ctx.sessions.rotate(current_session(), None)
        access.set_session_cookie(self.ctx, new)
        raise cherrypy.HTTPRedirect("/login", 303)

    @public(methods=("POST",))
    def locale(self, **params: Any) -> None:
        """Switch the language of this session (and of the user, when logged in)."""
        choice = bounded(params, "locale", 16)
        if choice not in i18n.LOCALES:
            raise cherrypy.HTTPError(400, i18n._("unknown language"))
        session = current_session()
        session.locale = choice
        if session.user is not None:
            self.ctx.call(self.ctx.db.users.set_locale, session.user.id, choice)
        raise cherrypy.HTTPRedirect(safe_next(bounded(params, "next", 512) or "/"), 303)


def error_page(status: str, message: str, traceback: str, version: str) -> str:
    """Plain, escaped error bodies; JSON under /api/. Never a traceback."""
    from markupsafe import escape

    request = cherrypy.serving.request
    status, message = i18n.error_text(status, message)  # the reader's language
    if request.path_info.startswith("/api/"):
        cherrypy.serving.response.headers["Content-Type"] = "application/json"
        return json.dumps({"error": message})
    cherrypy.serving.response.headers["Content-Type"] = "text/html;charset=utf-8"
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>ccbox</title>"
        '<link rel="stylesheet" href="/static/ccbox.css"></head><body class="error">'
        f"<main><h1>{escape(status)}</h1><p>{escape(message)}</p>"
        '<p><a href="/">ccbox</a></p></main></body></html>'
    )


class _ForwardToTwisted(logging.Handler):
    """CherryPy logs through the stdlib; send those lines to the daemon's log. An error with
    an exception (a 500) keeps its traceback and names the request by method and path only:
    CherryPy's dump of the request headers (its cookie, CSRF token, Authorization) is off
    (``tools.log_headers``), and every line goes through ``logsetup.redact`` besides."""

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info
        if exc is not None and exc[1] is not None:
            request = cherrypy.serving.request
            log.failure(
                "{method} {path} failed",
                Failure(exc[1], exc[0], exc[2]),
                method=str(request.method)[:16],
                path=str(request.path_info)[:200],
            )
            return
        level = "error" if record.levelno >= logging.ERROR else "info"
        getattr(log, level)("{msg}", msg=logsetup.redact(record.getMessage()))


def build_app(ctx: WebContext) -> cherrypy.Application:
    access.install_tool()
    conf = {
        "/": {
            "tools.ccbox_guard.on": True,
            "tools.ccbox_guard.ctx": ctx,
            "tools.trailing_slash.on": False,
            "tools.encode.on": True,
            "tools.encode.encoding": "utf-8",
            "request.show_tracebacks": False,
            "request.show_mismatched_params": False,
            "request.body.maxbytes": MAX_BODY,
            "error_page.default": error_page,
            "log.screen": False,
            "tools.log_headers.on": False,  # the cookie and tokens: never in the log
            "log.access_file": "",
            "log.error_file": "",
        }
    }
    app = cherrypy.Application(Root(ctx), script_name="", config=conf)
    app.log.screen = False
    app.log.access_log.propagate = False
    app.log.error_log.addHandler(_ForwardToTwisted())
    app.log.error_log.propagate = False
    return app
