"""Who may call what: route declarations and the guard that enforces them on every request.

Every exposed handler declares its access with ``@page(...)``, ``@api(...)`` or
``@public(...)``. The guard runs before every handler and fails closed: a handler with no
declaration is answered 404, as if it did not exist. It also loads the session, picks the
language, sets security headers and checks the CSRF token and the Origin/Referer
(``same_origin``) on every state-changing request.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

import cherrypy
from twisted.internet import defer

from appliance.db.model import ROLES
from appliance.text import N_
from webui import i18n
from webui.sessions import Session

if TYPE_CHECKING:
    from acd.service import Agent
    from webui.context import WebContext

F = TypeVar("F", bound=Callable[..., Any])
COOKIE = "ccbox_session"
SAFE_METHODS = ("GET", "HEAD")
ALL_ROLES = frozenset(ROLES)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Cache-Control": "no-store",
}


def from_event_source(accept: bytes | None) -> bool:
    """Whether a stream's GET (its ``Accept`` header) comes from an EventSource, which
    sends ``Accept: text/event-stream``. The admin site's streams (``/events``,
    ``/chat-desk/stream``, co-browsing's) open only then: a co-browsed page replayed on
    this site (its frame has the site's origin, so the staff's cookie goes along) could
    put ``<img src="/chat-desk/stream">`` or a style's ``url()`` in it, each opening a
    stream that never ends and holding one of the six connections a browser keeps to a
    site (six of them and the desk stands still)."""
    return b"text/event-stream" in (accept or b"").lower()


@dataclass(frozen=True)
class Access:
    roles: frozenset[str]
    methods: tuple[str, ...]
    api: bool  # JSON answers (401/403 bodies) instead of redirects and HTML
    public: bool = False


def _declare(access: Access) -> Callable[[F], F]:
    unknown = access.roles - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def deco(fn: F) -> F:
        fn._ccbox_access = access  # type: ignore[attr-defined]
        fn.exposed = True  # type: ignore[attr-defined]
        return fn

    return deco


def page(*roles: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[F], F]:
    """An HTML page for logged-in users with one of ``roles`` (all roles when none given)."""
    return _declare(Access(frozenset(roles) or ALL_ROLES, methods, api=False))


def api(*roles: str, methods: tuple[str, ...] = ("GET",)) -> Callable[[F], F]:
    """A JSON endpoint for logged-in users with one of ``roles`` (all roles when none given)."""
    return _declare(Access(frozenset(roles) or ALL_ROLES, methods, api=True))


def public(methods: tuple[str, ...] = ("GET",)) -> Callable[[F], F]:
    """Reachable without logging in (the login form, the language switch)."""
    return _declare(Access(frozenset(), methods, api=False, public=True))


def access_of(handler: Any) -> Access | None:
    return getattr(handler, "_ccbox_access", None)


def current_session() -> Session:
    session: Session = cherrypy.serving.request.ccbox_session
    return session


def set_session_cookie(ctx: WebContext, session: Session) -> None:
    cookie = cherrypy.serving.response.cookie
    cookie[COOKIE] = session.id
    morsel = cookie[COOKIE]
    morsel["path"] = "/"
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if ctx.config.web.secure_cookies:
        morsel["secure"] = True


def json_error(status: int, message: str | BaseException) -> NoReturn:
    """Answer ``{"error": message}`` in the request's language (``i18n.shown``: a message
    marked with ``N_``, an exception carrying one, or a driver's text labels.py knows)."""
    text = i18n.error(message) if isinstance(message, BaseException) else i18n.shown(message)
    raise JsonError(status, text)


def session_agent(ctx: WebContext) -> Agent:
    """The ACD agent of the logged-in user (read on the reactor); 404 for a login that is
    no agent's."""
    user = current_session().user
    assert user is not None
    acd, user_id = ctx.acd, user.id
    agent: Agent | None = ctx.call(lambda: defer.succeed(acd.agent_of_user(user_id)))
    if agent is None:
        json_error(404, N_("this login is not an agent's"))
    return agent


class JsonError(cherrypy.HTTPError):
    """An HTTP error whose body is ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.json_message = message

    def set_response(self) -> None:
        super().set_response()
        response = cherrypy.serving.response
        response.headers["Content-Type"] = "application/json"
        response.body = json.dumps({"error": self.json_message}).encode()
        response.headers.pop("Content-Length", None)


def guard(ctx: WebContext) -> None:
    """The before_handler hook (see module docstring)."""
    request = cherrypy.serving.request
    response = cherrypy.serving.response
    response.headers.update(SECURITY_HEADERS)
    handler = request.handler
    if not isinstance(handler, cherrypy._cpdispatch.PageHandler):
        return  # not found / redirects: nothing to guard
    access = access_of(handler.callable)
    if access is None:
        raise cherrypy.NotFound()

    cookie = request.cookie.get(COOKIE)
    session, new = ctx.sessions.get_or_create(cookie.value if cookie else None)
    if new:
        set_session_cookie(ctx, session)
    request.ccbox_session = session
    locale = session.locale or i18n.negotiate(
        request.headers.get("Accept-Language", ""), ctx.config.locale
    )
    request.ccbox_locale = locale
    request.ccbox_translations = i18n.translations(locale)

    if request.method not in access.methods:
        response.headers["Allow"] = ", ".join(access.methods)
        _refuse(access, 405, i18n._("This method is not allowed here."))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token") or request.params.pop("_csrf", "")
        secure = request.scheme == "https" or ctx.config.web.secure_cookies
        if (
            not isinstance(sent, str)
            or not hmac.compare_digest(sent.encode(), session.csrf_token.encode())
            or not same_origin(request.headers, secure)
        ):
            _refuse(
                access,
                403,
                i18n._(
                    "The form has expired or was not sent from ccbox. "
                    "Reload the page and try again."
                ),
            )
    else:
        request.params.pop("_csrf", None)
    if access.public:
        return
    if session.user is None:
        if access.api:
            json_error(401, N_("not logged in"))
        target = request.path_info
        if request.query_string:
            target += "?" + request.query_string
        raise cherrypy.HTTPRedirect("/login?next=" + quote(target, safe="/"), 303)
    if session.user.role not in access.roles:
        _refuse(access, 403, i18n._("Your role may not open this page."))


def same_origin(headers: Any, secure: bool) -> bool:
    """Whether a state-changing request came from this site's own pages, besides its CSRF
    token (Django's rule): an ``Origin`` header, when sent, must name this host; over HTTPS
    (or behind a TLS proxy: ``secure_cookies``) a request without one must carry a
    ``Referer`` naming this host over https. Over plain HTTP a request without ``Origin``
    is let through (browsers and proxies may drop it; the token still holds)."""
    host = str(headers.get("Host", "")).lower()
    origin = headers.get("Origin")
    if origin is not None:
        return _names_host(str(origin), host, secure)
    if not secure:
        return True
    referer = headers.get("Referer")
    return referer is not None and _names_host(str(referer), host, secure)


def _names_host(url: str, host: str, secure: bool) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    schemes = ("https",) if secure else ("http", "https")
    return bool(host) and parts.scheme in schemes and parts.netloc.lower() == host


def _refuse(access: Access, status: int, message: str) -> None:
    if access.api:
        json_error(status, message)
    raise cherrypy.HTTPError(status, message)


def install_tool() -> None:
    """Register the guard as ``tools.ccbox_guard`` (CherryPy's toolbox is global)."""
    if not hasattr(cherrypy.tools, "ccbox_guard"):
        cherrypy.tools.ccbox_guard = cherrypy.Tool("before_handler", guard, priority=10)
