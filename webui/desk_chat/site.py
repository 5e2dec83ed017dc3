"""``/chat-desk`` on the admin site: the desk's stream and JSON API for chats and e-mails,
served by Twisted on the reactor (not by the WSGI threads: an agent's line must not wait
for a free worker, and the engine's calls are reactor calls anyway).

``GET  /chat-desk/stream``                  SSE (webui/desk_chat/stream.py)
``POST /chat-desk/api/<action>``            accept, decline, send, typing, read, transfer, end,
                                            wrapup-done, attach, ticket (an agent, on its own
                                            conversations); join, say (supervisor, admin)
``GET  /chat-desk/api/<view>``              conversations, history/<id>, file/<id>,
                                            canned?conversation=, suggest?conversation=,
                                            context/<id>, targets?conversation=

Every request carries the admin site's session cookie (401 without a logged-in one); every
POST the session's CSRF token in ``X-CSRF-Token`` and an Origin/Referer of this site (403),
as webui/access.py's guard asks of the WSGI pages. Answers are JSON; an error is
``{"error": message}`` in the user's language. Database work runs in the DBConnector's
pool; the engine's methods on the reactor, where this code runs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import cherrypy
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.web import resource, server, static
from twisted.web.resource import IResource

from appliance import typed_text, uploads
from appliance.db.connector import DatabaseStopped
from appliance.text import N_, Message
from webui import i18n
from webui.access import SECURITY_HEADERS, from_event_source
from webui.desk_chat import auth
from webui.desk_chat.stream import (
    MAX_PER_SESSION,
    MAX_STREAMS,
    MAX_WATCH,
    RETRY_MS,
    DeskHub,
    DeskStream,
    frame,
)
from webui.requests_in_flight import RequestsInFlight, ask_to_retry

if TYPE_CHECKING:
    from webui.sessions import Session, SessionStore

log = Logger(namespace="ccbox.web.deskchat")

MAX_JSON = 64 * 1024
MAX_TEXT = 20_000  # an agent's line or e-mail reply, characters
MAX_NOTE = 500
MAX_FILE_NAME = 200
HISTORY_LIMIT = 200
RECENT_LINES = 50  # lines of each open conversation in ``conversations``
# The answer while the daemon stops (a restart takes a few seconds).
STOPPING = N_("ccbox is restarting; try again in a moment.")
SUGGESTIONS = 5
TIMELINE_ITEMS = 20
OPEN_TICKETS = 10
MAX_ATTACHMENTS = 10


class DeskError(Exception):
    """An answer other than 200: the status and an ``N_`` text the user reads."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Asker:
    """Who sent the request: the session's user, its agent (None for a login that is no
    agent's), its language."""

    request: Any
    session: Session
    agent_id: int | None
    locale: str
    body: dict[str, Any]

    @property
    def role(self) -> str:
        assert self.session.user is not None
        return self.session.user.role

    @property
    def username(self) -> str:
        assert self.session.user is not None
        return self.session.user.username

    @property
    def supervising(self) -> bool:
        return self.role in auth.SUPERVISING

    @property
    def ip(self) -> str:
        host = self.request.getClientAddress()
        return str(getattr(host, "host", ""))

    def tr(self, text: str) -> str:
        return i18n.translator(self.locale)(text)

    def arg(self, name: str) -> str:
        raw = (self.request.args.get(name.encode()) or [b""])[0]
        return str(raw[:64].decode("utf-8", "replace"))


Handler = Callable[[Asker], Coroutine[Any, Any, Any]]


@contextlib.contextmanager
def in_language(locale: str) -> Iterator[None]:
    """The label tables (webui/labels.py, ticket_labels.py) translate with the CherryPy
    request's catalog; here on the reactor there is none, so the reactor thread's idle
    request gets this one while an answer is built (no await inside)."""
    request = cherrypy.serving.request
    before = getattr(request, "ccbox_translations", None)
    request.ccbox_translations = i18n.translations(locale if locale in i18n.LOCALES else "en")
    try:
        yield
    finally:
        request.ccbox_translations = before


def _id(value: Any, what: str) -> int:
    """A positive database id from JSON or a path (400 otherwise)."""
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or not 0 < value < 2**53:
        raise DeskError(400, N_("name the {what} by its id", what=what))
    return value


def _whole_characters(text: str) -> str:
    """``text`` with each lone surrogate (JSON may escape one: ``"\\ud83d"``, half an
    emoji, as a script that cuts a string by UTF-16 units sends it) as U+FFFD, a pair
    joined: UTF-8 has no surrogates, so the database refused the line (a 500, the line
    lost)."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _text(body: dict[str, Any], name: str, max_len: int, required: bool = False) -> str:
    value = body.get(name, "")
    if isinstance(value, str):  # controls and bidi overrides go, as from a visitor
        value = typed_text.message(_whole_characters(value))
    if not isinstance(value, str) or len(value) > max_len:
        raise DeskError(
            400,
            N_(
                "{name} must be a string of at most {max_len} characters",
                name=name,
                max_len=max_len,
            ),
        )
    if required and not value.strip():
        raise DeskError(400, N_("{name} is required", name=name))
    return value


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise DeskError(400, N_("{name} must be true or false", name=name))
    return value


class ApiResource(resource.Resource):
    """One endpoint: the method, the roles, the checks, then ``handler(asker)`` on the
    reactor; its result as JSON (bytes with a content type for a file)."""

    isLeaf = True

    def __init__(
        self,
        root: DeskChatRoot,
        handler: Handler,
        method: bytes,
        roles: tuple[str, ...] = (),
        raw_body: bool = False,
    ) -> None:
        super().__init__()
        self.root = root
        self.handler = handler
        self.method = method
        self.roles = roles
        self.raw_body = raw_body

    def render(self, request: Any) -> Any:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name.encode(), value.encode())
        session = auth.session_of(self.root.sessions, request)
        locale = auth.locale_of(session, request, self.root.default_locale)
        try:
            asker = self._asker(request, session, locale)
        except DeskError as exc:
            return self._error(request, locale, exc)
        if self.root.in_flight.closed:
            ask_to_retry(request)
            return self._error(request, locale, DeskError(503, STOPPING))
        ended = self.root.in_flight.begin()
        d: defer.Deferred[Any] = defer.ensureDeferred(self.handler(asker))
        # an error in _done too becomes an answer: the request always finishes
        d.addCallback(lambda result: self._done(request, result))
        d.addErrback(lambda f: self._failed(request, locale, f))
        d.addBoth(ended)
        request.notifyFinish().addErrback(lambda _: None)
        return server.NOT_DONE_YET

    def _asker(self, request: Any, session: Session | None, locale: str) -> Asker:
        if session is None or session.user is None:
            raise DeskError(401, N_("not logged in"))
        if request.method != self.method:
            request.setHeader(b"Allow", self.method)
            raise DeskError(405, N_("This method is not allowed here."))
        if request.method == b"POST" and not auth.posted_by_page(
            request, session, self.root.secure
        ):
            raise DeskError(
                403,
                N_(
                    "The form has expired or was not sent from ccbox. "
                    "Reload the page and try again."
                ),
            )
        if self.roles and session.user.role not in self.roles:
            raise DeskError(403, N_("Your role may not do this."))
        body: dict[str, Any] = {}
        if request.method == b"POST" and not self.raw_body:
            body = self._json(request)
        agent_id = self.root.agent_of_user(session.user.id)
        return Asker(request, session, agent_id, locale, body)

    def _json(self, request: Any) -> dict[str, Any]:
        ctype = (request.getHeader(b"Content-Type") or b"").split(b";")[0].strip()
        if ctype != b"application/json":
            raise DeskError(415, N_("send the body as application/json"))
        raw = request.content.read(MAX_JSON + 1)
        if len(raw) > MAX_JSON:
            raise DeskError(413, N_("body larger than {n} bytes", n=MAX_JSON))
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise DeskError(400, N_("the body is not valid JSON")) from None
        if not isinstance(body, dict):
            raise DeskError(400, N_("send a JSON object"))
        return body

    def _done(self, request: Any, result: Any) -> None:
        if request._disconnected or request.finished:
            if isinstance(result, FileAnswer):
                result.file.close()
            return
        if isinstance(result, FileAnswer):
            request.setHeader(b"Content-Type", result.content_type.encode("ascii"))
            request.setHeader(b"Content-Disposition", result.disposition.encode("ascii"))
            request.setHeader(b"Content-Security-Policy", b"default-src 'none'; sandbox")
            request.setHeader(b"Content-Length", str(result.size).encode("ascii"))
            # a piece at a time as the socket takes it (a file may weigh 50 MB); the
            # producer finishes the request and closes the file, also when the client goes
            static.NoRangeStaticProducer(request, result.file).start()
            return
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        body = json.dumps(result, ensure_ascii=False, default=str).encode("utf-8")
        # with its length the answer goes as one write, not a chunk and a last chunk
        request.setHeader(b"Content-Length", b"%d" % len(body))
        request.write(body)
        request.finish()

    def _failed(self, request: Any, locale: str, failure: Any) -> None:
        from acd.channels.errors import ChannelError

        exc = failure.value
        if isinstance(exc, DeskError):
            error = exc
        elif isinstance(exc, ChannelError):
            error = DeskError(409, exc.message)
        elif isinstance(exc, uploads.UploadRefused):
            error = DeskError(400, exc.args[0] if exc.args else str(exc))
        elif isinstance(exc, ValueError) and exc.args and isinstance(exc.args[0], Message):
            error = DeskError(400, exc.args[0])  # a store's refusal, written for the user
        elif isinstance(exc, DatabaseStopped):  # the stop's wait for this call ran out
            log.info("desk chat API {uri}: cut short by the stop", uri=request.uri[:200])
            ask_to_retry(request)
            error = DeskError(503, STOPPING)
        else:
            log.failure("desk chat API {uri} failed", failure, uri=request.uri[:200])
            error = DeskError(500, N_("Something went wrong in ccbox: the log has the details."))
        if request._disconnected or request.finished:
            return
        body = self._error(request, locale, error)
        request.setHeader(b"Content-Length", b"%d" % len(body))
        request.write(body)
        request.finish()

    def _error(self, request: Any, locale: str, exc: DeskError) -> bytes:
        request.setResponseCode(exc.status)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        text = i18n.translator(locale)(exc.message)
        return json.dumps({"error": text}, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class FileAnswer:
    file: BinaryIO  # open, read on the reactor a buffer at a time
    size: int
    content_type: str
    disposition: str


class NotHere(resource.Resource):
    """What is not an endpoint (``/chat-desk``, ``/chat-desk/api``, an unknown name): 401
    without a logged-in session, as every path of the box, else 404."""

    isLeaf = True

    def __init__(self, root: DeskChatRoot) -> None:
        super().__init__()
        self.root = root

    def render(self, request: Any) -> bytes:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name.encode(), value.encode())
        session = auth.session_of(self.root.sessions, request)
        locale = auth.locale_of(session, request, self.root.default_locale)
        if session is None:
            error = DeskError(401, N_("not logged in"))
        else:
            error = DeskError(404, N_("There is no such page."))
        request.setResponseCode(error.status)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        text = i18n.translator(locale)(error.message)
        return json.dumps({"error": text}, ensure_ascii=False).encode("utf-8")


class ApiRoot(resource.Resource):
    """``/chat-desk/api``: its endpoints, plus what ``add_api`` mounts."""

    def __init__(self, root: DeskChatRoot) -> None:
        super().__init__()
        self.root = root

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        return NotHere(self.root)

    def render(self, request: Any) -> bytes:
        return NotHere(self.root).render(request)


class StreamResource(resource.Resource):
    isLeaf = True

    def __init__(self, root: DeskChatRoot) -> None:
        super().__init__()
        self.root = root

    def _refuse(self, request: Any, locale: str, code: int, message: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        text = i18n.translator(locale)(message)
        return json.dumps({"error": text}, ensure_ascii=False).encode("utf-8")

    def render(self, request: Any) -> Any:
        root = self.root
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name.encode(), value.encode())
        session = auth.session_of(root.sessions, request)
        locale = auth.locale_of(session, request, root.default_locale)
        if session is None or session.user is None:
            return self._refuse(request, locale, 401, N_("not logged in"))
        if request.method != b"GET":  # HEAD too: a stream has no head without a body
            request.setHeader(b"Allow", b"GET")
            return self._refuse(request, locale, 405, N_("This method is not allowed here."))
        if not from_event_source(request.getHeader(b"Accept")):
            return self._refuse(request, locale, 406, N_("bad request"))
        user = session.user
        if root.channels is None:
            return self._refuse(request, locale, 503, N_("chats and e-mails are not running"))
        try:
            watch = [
                _id(w.decode("ascii", "replace"), "conversation")
                for w in request.args.get(b"watch", [])
            ]
        except DeskError as exc:
            return self._refuse(request, locale, exc.status, exc.message)
        watch = list(dict.fromkeys(watch))
        if watch and user.role not in auth.SUPERVISING:
            return self._refuse(request, locale, 403, N_("Your role may not do this."))
        if len(watch) > MAX_WATCH:
            return self._refuse(
                request, locale, 400, N_("watch at most {n} conversations", n=MAX_WATCH)
            )
        agent_id = root.agent_of_user(user.id)
        if agent_id is None and not watch and user.role not in auth.SUPERVISING:
            return self._refuse(request, locale, 404, N_("this login is not an agent's"))
        hub = root.hub
        if len(hub.streams) >= MAX_STREAMS:
            return self._refuse(request, locale, 503, N_("too many live streams"))
        if hub.per_session(session) >= MAX_PER_SESSION:
            return self._refuse(request, locale, 429, N_("too many live streams for this session"))
        stream = DeskStream(hub, request, session, agent_id)
        channels = root.channels
        try:
            for cid in watch:
                stream.subscriptions.append(channels.watch(cid, stream.listener))
                stream.watching.add(cid)
        except Exception as exc:
            for sub in stream.subscriptions:
                channels.unsubscribe(sub)
            from acd.channels.errors import ChannelError

            if isinstance(exc, ChannelError):
                return self._refuse(request, locale, 404, exc.message)
            raise
        if agent_id is not None:
            stream.subscriptions.append(channels.subscribe_agent(agent_id, stream.listener))
        ip = str(getattr(request.getClientAddress(), "host", ""))
        for cid in watch:
            d = root.db.audit.add(user.username, "chat.watch", f"conversation:{cid}", {}, ip)
            d.addErrback(lambda f: log.failure("chat watch not audited", f))
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Accel-Buffering", b"no")
        hub.streams.add(stream)
        request.registerProducer(stream, True)
        request.notifyFinish().addBoth(stream.gone)
        hello: dict[str, Any] = {"type": "hello", "agent": agent_id, "watching": watch}
        stream.write(f"retry: {RETRY_MS}\n\n".encode() + frame(hello))
        if agent_id is not None:
            stream.send(hub.load_event(agent_id))
        return server.NOT_DONE_YET


class DeskChatRoot(resource.Resource):
    """``/chat-desk``: the stream and the API. ``add_api(name, resource)`` mounts more
    endpoints under ``/chat-desk/api/`` (co-browsing: webui/cobrowse/)."""

    def __init__(
        self,
        *,
        reactor: Any,
        db: Any,
        channels: Any,
        sessions: SessionStore,
        agent_of_user: Callable[[int], int | None],
        acd: Any = None,
        config: Any = None,
        bus: Any = None,
    ) -> None:
        super().__init__()
        from webui.desk_chat.api import DeskChatApi

        self.reactor = reactor
        self.db = db
        self.channels = channels
        self.sessions = sessions
        self.agent_of_user = agent_of_user
        self.acd = acd
        self.config = config
        self.bus = bus
        self.secure = bool(config is not None and config.web.secure_cookies)
        self.default_locale = str(getattr(config, "locale", "en") or "en")
        self.hub = DeskHub(reactor, channels, sessions)
        # the API calls running: the web service's stop lets them finish (webui/service.py)
        self.in_flight = RequestsInFlight(reactor)
        self.api = ApiRoot(self)
        self.putChild(b"api", cast(IResource, self.api))
        self.putChild(b"stream", cast(IResource, StreamResource(self)))
        self.endpoints = DeskChatApi(self)
        for name, (handler, method, roles, raw) in self.endpoints.routes().items():
            self.api.putChild(
                name.encode(), cast(IResource, ApiResource(self, handler, method, roles, raw))
            )

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        return NotHere(self)

    def render(self, request: Any) -> bytes:
        return NotHere(self).render(request)

    def add_api(self, name: bytes, child: resource.Resource) -> None:
        """Mount ``child`` at ``/chat-desk/api/<name>`` (refuses to replace one)."""
        if name in self.api.children:
            raise ValueError(f"/chat-desk/api/{name.decode()} is mounted already")
        self.api.putChild(name, cast(IResource, child))

    def start(self) -> None:
        self.hub.start()

    def stop(self) -> defer.Deferred[int]:
        """End every stream; fires when the API calls running have ended (new ones get
        503), or after a bound with how many had not."""
        self.hub.stop()
        return self.in_flight.close()

    @property
    def upload_root(self) -> Path:
        return uploads.uploads_root(self.config.data_dir)

    def in_thread(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        """Disk work off the reactor."""
        return threads.deferToThread(fn, *args)
