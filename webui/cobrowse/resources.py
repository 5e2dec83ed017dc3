"""The relay's HTTP side, Twisted resources on the reactor thread.

``VisitorCobrowse``, on the PUBLIC chat site at ``/chat/api/cobrowse/`` (no admin cookie is
read there; the chat site's root checked the origin, set CORS and counted the address): the
widget joins a chat's request with its chat token or redeems a caller's code, and from then
on authenticates with the session's recording token. Both travel in ``X-Chat-Token``, the
one header the chat site's CORS allows (``?t=`` for the SSE GET only):

    POST join {"session"}    POST code {"code"}    POST consent {"allow"}
    POST events [rrweb events]    POST stop    GET stream?t=

``StaffCobrowse``, on the admin site at ``/chat-desk/api/cobrowse/`` (the session cookie;
every POST with the CSRF token and from this site's pages, webui/desk_chat/auth.py):

    POST request {"conversation"}   POST code   POST push {"session","url"}
    POST highlight {"session","node"}   POST stop {"session"}
    POST watch {"agent"} (supervisor, admin)   GET stream?session=  (a viewer)
    GET desk  (the agent's desk: watch notices)   POST desk_events?session=  (its recording)

Every refusal is ``{"error": text}`` with its status, in the asker's language. A batch of
events that crosses its session's end (within the minute the hub remembers an ended
session) is no refusal: it is dropped and answered 200 ``{"ended": reason}``, on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.web import resource, server

from appliance.text import N_
from webui import i18n
from webui.access import from_event_source
from webui.cobrowse.codes import CodeBook, CodeError
from webui.cobrowse.hub import (
    MAX_SNAPSHOT_BYTES,
    CobrowseError,
    CobrowseHub,
    CobrowseSession,
)
from webui.cobrowse.stream import EventStream
from webui.desk_chat.auth import SUPERVISING, posted_by_page, session_of

if TYPE_CHECKING:
    from webui.sessions import Session, SessionStore

MAX_CONTROL_BODY = 4096
JSON_TYPE = b"application/json; charset=utf-8"


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _read_body(request: Any, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes (413 past it)."""
    declared = request.getHeader(b"Content-Length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _Refused(413, N_("too many page events at once"))
        except ValueError:
            raise _Refused(400, N_("bad request")) from None
    request.content.seek(0)
    raw: bytes = request.content.read(limit + 1)
    if len(raw) > limit:
        raise _Refused(413, N_("too many page events at once"))
    return raw


def _read_json(request: Any, limit: int) -> Any:
    """The request's body as JSON, at most ``limit`` bytes (413 past it, 400 if not JSON)."""
    return _parse_json(_read_body(request, limit))


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant), len(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: [[[[...]]]]
        raise _Refused(400, N_("bad request")) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python reads them, browsers not


def _answer(request: Any, status: int, body: dict[str, Any]) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", JSON_TYPE)
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body, ensure_ascii=False).encode()


def _over(request: Any, session: CobrowseSession) -> bytes:
    """A recording side's batch that crossed its session's end: dropped, and the sender told
    so with a success. Such a batch is no mistake (the end travels on the other stream, so
    one batch can always be on its way), and an error status would be a red line in the
    console of the shop's page or the desk."""
    return _answer(request, 200, {"ended": session.ended_reason or "ended"})


def _address(request: Any) -> str:
    return str(getattr(request.getClientAddress(), "host", "") or "")


def _arg(request: Any, name: bytes) -> str:
    values = request.args.get(name) or [b""]
    return values[0][:200].decode("ascii", "replace")


class _Base(resource.Resource):
    isLeaf = True

    def __init__(self, hub: CobrowseHub, default_locale: str) -> None:
        super().__init__()
        self.hub = hub
        self.default_locale = default_locale

    def _translate(self, request: Any) -> Callable[[str], str]:
        accept = (request.getHeader(b"Accept-Language") or b"").decode("latin-1")
        return i18n.translator(i18n.negotiate(accept, self.default_locale))

    def _action(self, request: Any) -> str:
        path = request.postpath
        return path[0].decode("ascii", "replace") if len(path) == 1 else ""

    def render(self, request: Any) -> Any:
        try:
            if request.method == b"GET":
                return self.get(request, self._action(request))
            if request.method == b"POST":
                return self.post(request, self._action(request))
            request.setHeader(b"Allow", b"GET, POST")
            raise _Refused(405, N_("This method is not allowed here."))
        except _Refused as exc:
            return _answer(request, exc.status, {"error": self._translate(request)(exc.message)})
        except (CobrowseError, CodeError) as exc:
            return _answer(request, exc.status, {"error": self._translate(request)(exc.message)})

    def get(self, request: Any, action: str) -> Any:
        raise _Refused(404, N_("not found"))

    def post(self, request: Any, action: str) -> Any:
        raise _Refused(404, N_("not found"))

    def _stream(self, request: Any) -> EventStream:
        stream = EventStream(request, self.hub.reactor, self.hub.stream_gone)
        stream.open()
        return stream


def _session_field(body: Any, hub: CobrowseHub) -> CobrowseSession:
    sid = body.get("session") if isinstance(body, dict) else None
    session = hub.sessions.get(sid) if isinstance(sid, str) else None
    if session is None:
        raise _Refused(404, N_("no such co-browsing session"))
    return session


class VisitorCobrowse(_Base):
    """The visitor's side; ``chat_visitor(request)`` is the chat endpoint's visitor session
    of the request (``.conversation_id``: its ``X-Chat-Token``, good only from the site it
    was given to) or None; ``address_of(request)`` the client's address as the chat
    endpoint sees it (the same rate limits behind a proxy)."""

    def __init__(
        self,
        hub: CobrowseHub,
        codes: CodeBook,
        chat_visitor: Callable[[Any], Any],
        address_of: Callable[[Any], str],
        default_locale: str = "en",
    ) -> None:
        super().__init__(hub, default_locale)
        self.codes = codes
        self.chat_visitor = chat_visitor
        self.address_of = address_of

    def _own(self, request: Any, token: str | None = None, ended: bool = False) -> CobrowseSession:
        """The live session of the request's recording token (401 if none); ``ended``: a
        session that ended a moment ago too."""
        if token is None:
            raw = request.getHeader(b"X-Chat-Token") or b""  # here: the recording token
            token = raw[:100].decode("ascii", "replace")
        session = self.hub.by_token.get(token) if token else None
        if session is None or session.kind == "desk" or not session.joined:
            raise _Refused(401, N_("this co-browsing session is over"))
        if not session.live and not ended:
            raise _Refused(401, N_("this co-browsing session is over"))
        return session

    def _joined(self, request: Any, session: CobrowseSession) -> bytes:
        return _answer(
            request,
            200,
            {
                "session": session.id,
                "token": session.token,
                "agent": session.agent_name,
                "config": self.hub.client_config(),
            },
        )

    def get(self, request: Any, action: str) -> Any:
        if action == "config":
            return _answer(request, 200, self.hub.client_config())
        if action != "stream":
            raise _Refused(404, N_("not found"))
        session = self._own(request, _arg(request, b"t"))
        self.hub.add_source(session, self._stream(request))
        return server.NOT_DONE_YET

    def post(self, request: Any, action: str) -> Any:
        if action == "events":
            session = self._own(request, ended=True)
            if not session.live:
                return _over(request, session)
            raw = _read_body(request, MAX_SNAPSHOT_BYTES)
            self.hub.admit(session, len(raw))  # the rate, before any parsing
            events, size = _parse_json(raw)
            self.hub.post(session, size, events, admitted=True)
            return _answer(request, 202, {})
        body, _size = _read_json(request, MAX_CONTROL_BODY)
        if not isinstance(body, dict):
            raise _Refused(400, N_("bad request"))
        if action == "join":
            visitor = self.chat_visitor(request)
            if visitor is None or getattr(visitor, "ended", False):
                raise _Refused(401, N_("this chat is over"))
            sid = body.get("session")
            if not isinstance(sid, str):
                raise _Refused(400, N_("bad request"))
            return self._joined(request, self.hub.join_chat(sid, visitor.conversation_id))
        if action == "code":
            code = body.get("code")
            if not isinstance(code, str):
                raise _Refused(400, N_("bad request"))
            caller = self.address_of(request)
            issued = self.codes.redeem(code.strip(), caller)
            session = self.hub.join_code(
                issued.agent_id, issued.agent_name, issued.by, issued.by_address, caller
            )
            return self._joined(request, session)
        if action == "consent":
            allow = body.get("allow")
            if not isinstance(allow, bool):
                raise _Refused(400, N_("bad request"))
            self.hub.consent(self._own(request), allow)
            return _answer(request, 200, {"state": "active" if allow else "ended"})
        if action == "stop":
            self.hub.end(self._own(request), "visitor_stopped")
            return _answer(request, 200, {})
        raise _Refused(404, N_("not found"))


class StaffCobrowse(_Base):
    """The agents' and supervisors' side on the admin site. ``agent_of_user(user_id)`` is
    the ACD's agent (``.id``, ``.name``) or None, ``agent(agent_id)`` an agent by id or
    None, ``channels()`` the channels engine (None before it runs), ``allowed_origin``
    the chat origins' check (webui/chat/origins.py)."""

    def __init__(
        self,
        hub: CobrowseHub,
        codes: CodeBook,
        *,
        sessions: SessionStore,
        agent_of_user: Callable[[int], Any],
        agent: Callable[[int], Any],
        channels: Callable[[], Any],
        allowed_origin: Callable[[str], bool],
        secure: bool = False,
        default_locale: str = "en",
    ) -> None:
        super().__init__(hub, default_locale)
        self.codes = codes
        self.sessions = sessions
        self.agent_of_user = agent_of_user
        self.agent = agent
        self.channels = channels
        self.allowed_origin = allowed_origin
        self.secure = secure

    def _translate(self, request: Any) -> Callable[[str], str]:
        session = session_of(self.sessions, request)
        if session is not None and session.locale:
            return i18n.translator(session.locale)
        return super()._translate(request)

    def _login(self, request: Any, posting: bool) -> Session:
        session = session_of(self.sessions, request)
        if session is None:
            raise _Refused(401, N_("not logged in"))
        if posting and not posted_by_page(request, session, self.secure):
            raise _Refused(
                403,
                N_(
                    "The form has expired or was not sent from ccbox. "
                    "Reload the page and try again."
                ),
            )
        return session

    def _my_agent(self, session: Session) -> Any:
        assert session.user is not None
        agent = self.agent_of_user(session.user.id)
        if agent is None:
            raise _Refused(403, N_("this login is not an agent's"))
        return agent

    def _mine(self, session: Session, cob: CobrowseSession) -> None:
        """An agent acts only on its own chat/code sessions; a desk watch only by its
        supervisor."""
        assert session.user is not None
        if cob.kind == "desk":
            if session.user.role not in SUPERVISING or session.user.username != cob.watcher:
                raise _Refused(403, N_("this co-browsing session is not yours"))
            return
        agent = self.agent_of_user(session.user.id)
        if agent is None or agent.id != cob.agent_id:
            raise _Refused(403, N_("this co-browsing session is not yours"))

    def get(self, request: Any, action: str) -> Any:
        session = self._login(request, posting=False)
        if action in ("stream", "desk") and not from_event_source(request.getHeader(b"Accept")):
            raise _Refused(406, N_("bad request"))
        if action == "stream":
            cob = self.hub.sessions.get(_arg(request, b"session"))
            if cob is None or not cob.live:
                raise _Refused(404, N_("no such co-browsing session"))
            self._mine(session, cob)
            self.hub.add_viewer(cob, self._stream(request))
            return server.NOT_DONE_YET
        if action == "desk":
            agent = self._my_agent(session)
            self.hub.add_desk(agent.id, self._stream(request))
            return server.NOT_DONE_YET
        raise _Refused(404, N_("not found"))

    def post(self, request: Any, action: str) -> Any:
        session = self._login(request, posting=True)
        assert session.user is not None
        if action == "desk_events":
            cob = self.hub.sessions.get(_arg(request, b"session"))
            agent = self._my_agent(session)
            if cob is None or cob.kind != "desk" or cob.agent_id != agent.id:
                raise _Refused(403, N_("this co-browsing session is not yours"))
            if not cob.live:
                return _over(request, cob)
            raw = _read_body(request, MAX_SNAPSHOT_BYTES)
            self.hub.admit(cob, len(raw))
            events, size = _parse_json(raw)
            self.hub.post(cob, size, events, admitted=True)
            return _answer(request, 202, {})
        body, _size = _read_json(request, MAX_CONTROL_BODY)
        if not isinstance(body, dict):
            raise _Refused(400, N_("bad request"))
        if action == "request":
            agent = self._my_agent(session)
            conversation_id = body.get("conversation")
            if type(conversation_id) is not int:
                raise _Refused(400, N_("bad request"))
            channels = self.channels()
            if channels is None:
                raise _Refused(503, N_("the chat service is not running"))
            mine = [
                c
                for c in channels.conversations_of(agent.id)
                if c.id == conversation_id and c.media == "chat" and c.state == "active"
            ]
            if not mine:
                raise _Refused(403, N_("this chat is not yours"))
            cob = self.hub.request_chat(
                agent.id, agent.name, conversation_id, session.user.username, _address(request)
            )
            return _answer(request, 200, {"session": cob.id})
        if action == "code":
            agent = self._my_agent(session)
            issued = self.codes.issue(
                agent.id, agent.name, session.user.username, _address(request)
            )
            expires = max(0, round(issued.expires_at - self.hub.reactor.seconds()))
            return _answer(request, 200, {"code": issued.code, "expires_in": expires})
        if action == "watch":
            if session.user.role not in SUPERVISING:
                raise _Refused(403, N_("Your role may not open this page."))
            agent_id = body.get("agent")
            target = self.agent(agent_id) if type(agent_id) is int else None
            if target is None:
                raise _Refused(404, N_("no such agent"))
            user = session.user
            cob = self.hub.watch_desk(
                target.id,
                target.name,
                user.username,
                user.display_name or user.username,
                _address(request),
            )
            return _answer(request, 200, {"session": cob.id})
        cob = _session_field(body, self.hub)
        self._mine(session, cob)
        if action == "push":
            url = body.get("url")
            if not isinstance(url, str):
                raise _Refused(400, N_("bad request"))
            self.hub.push_page(cob, url.strip(), self.allowed_origin)
            return _answer(request, 200, {})
        if action == "highlight":
            self.hub.highlight(cob, body.get("node"))  # type: ignore[arg-type]
            return _answer(request, 200, {})
        if action == "stop":
            self.hub.end(cob, "staff_stopped", by=session.user.username)
            return _answer(request, 200, {})
        raise _Refused(404, N_("not found"))
