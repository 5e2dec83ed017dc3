"""The web service: the CherryPy app under twisted.web's WSGIResource, on its own thread pool.

Static assets, the npm libraries (``/vendor``, webui/vendor.py) and the live events
(``/events``, webui/live_sse.py) are served by Twisted directly, not by WSGI threads.
Stopping closes the port and every live stream first, then lets requests in flight finish
before the pool stops, without blocking the reactor they may be waiting on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from twisted.web import resource, server, static, wsgi
from twisted.web.resource import IResource

from appliance import uploads
from ivr import prompt_audio
from webui import ticket_files, vendor
from webui.access import SECURITY_HEADERS
from webui.cobrowse.hub import MAX_SNAPSHOT_BYTES
from webui.context import WebContext
from webui.desk_chat.site import DeskChatRoot
from webui.json_body import MAX_BODY
from webui.list_upload import MAX_UPLOAD_BYTES
from webui.live_feed import LiveFeed
from webui.live_sse import LiveEventsResource, LiveHub
from webui.span_alarms import alarmed_spans

STATIC = Path(__file__).parent / "static"
# Static files may be cached, if revalidated; the rest as on every page (webui/access.py).
TWISTED_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
log = Logger(namespace="ccbox.web")
FORM = 64 * 1024  # the multipart form around an uploaded file
# A refused body is read and dropped for at most this long and this much before the close.
LINGER_S = 5.0
LINGER_BYTES = 64 * 1024 * 1024


def admin_body_limits(max_attachment_kb: int) -> dict[bytes, int]:
    """The paths of the admin site that take a body larger than ``MAX_BODY`` (CherryPy's
    limit everywhere else), each with the limit its handler sets (its
    ``request.body.maxbytes``, or what it reads of a raw body)."""
    lists = MAX_UPLOAD_BYTES + FORM
    prompts = prompt_audio.MAX_UPLOAD_BYTES + FORM
    return {
        b"/tickets/attach": ticket_files.MAX_BODY,
        b"/kb/upload": uploads.MAX_SIZE + FORM,
        b"/customers/upload": lists,
        b"/admin/campaigns/upload": lists,
        b"/admin/dnc/national": lists,
        b"/api/ivr/prompts": prompts,
        b"/prompts/upload": prompts,
        b"/chat-desk/api/attach": max_attachment_kb * 1024,
        b"/chat-desk/api/cobrowse/desk_events": MAX_SNAPSHOT_BYTES,
    }


class RootResource(resource.Resource):
    """Twisted children first (static, live events), with the security headers the WSGI
    app's guard sets on its own answers; every other path goes to WSGI."""

    def __init__(self, wsgi_resource: resource.Resource) -> None:
        super().__init__()
        self.wsgi_resource = wsgi_resource

    def getChildWithDefault(self, path: bytes, request: Any) -> resource.Resource:
        if path in self.children:
            for name, value in TWISTED_HEADERS.items():
                request.setHeader(name, value)
        return super().getChildWithDefault(path, request)

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        request.prepath.pop()
        request.postpath.insert(0, path)
        return self.wsgi_resource

    def render(self, request: Any) -> Any:
        return self.wsgi_resource.render(request)


class AnonymousRequest(server.Request):
    """A request whose answer does not name the server or its version (Twisted's
    ``Server: TwistedWeb/x.y``): no free hint for a scanner."""

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:
        if (name.encode() if isinstance(name, str) else name).lower() == b"server":
            return
        super().setHeader(name, value)


class LimitedRequest(AnonymousRequest):
    """Refuses a body past its site's limit for the path before keeping it (413, answered
    at once): a declared length at once, a chunked body when it passes the limit. Twisted
    keeps a whole body (on disk past 100 KB) before any resource runs, so before any login
    check: without this anyone could fill the disk.

    The refused body is then read and dropped, and the connection closed once it has come
    whole (at most ``LINGER_S`` and ``LINGER_BYTES`` more): the lingering close of RFC 9112
    9.6. Closed at once, the socket's unread bytes make the kernel answer with a reset, and
    a browser still sending the upload saw "connection reset", not the 413 (a test client
    posting 2 MB got a broken pipe instead of the answer)."""

    refused = False
    _limit = MAX_BODY
    _received = 0
    _linger: Any = None

    def gotLength(self, length: int | None) -> None:
        site = getattr(self.channel, "site", None)
        # The request line is read before the headers: its path is the channel's by now.
        path = bytes(getattr(self.channel, "_path", b"") or b"")
        if isinstance(site, QuietSite):
            self._limit = site.body_limit(path)
        if not self.refused and length is not None and length > self._limit:
            self._refuse(b"413 Content Too Large")
        super().gotLength(0 if self.refused else length)

    def _refuse(self, status: bytes) -> None:
        self.refused = True
        self._received = 0  # from now: the bytes dropped
        transport: Any = self.channel.transport
        transport.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        self._linger = self.channel.callLater(LINGER_S, self._close)

    def _close(self) -> None:
        self._stop_lingering()
        self.channel.loseConnection()

    def _stop_lingering(self) -> None:
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = None

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        if self.refused:
            if self._received > LINGER_BYTES:
                self._close()
            return
        if self._received > self._limit:
            self._refuse(b"413 Content Too Large")
            return
        super().handleContentChunk(data)

    def process(self) -> None:
        if self.refused:  # the refused body has come whole: nothing unread is reset
            self._close()
            return
        super().process()

    def connectionLost(self, reason: Any) -> None:
        self._stop_lingering()
        super().connectionLost(reason)


class QuietSite(server.Site):
    """Access lines go to the debug log, not to a file; no Server header; a body at most
    ``body_limits[path]`` bytes (the path without its query), else ``max_body``, and not
    parsed as a form."""

    noisy = False
    requestFactory = LimitedRequest
    max_body = MAX_BODY

    def __init__(self, root: resource.Resource, body_limits: Mapping[bytes, int] = {}) -> None:
        # Twisted would read a form's whole body (a 200 MB list upload) into memory and
        # parse it into request.args on the reactor; no resource here reads a form from
        # request.args (WSGI reads the body itself), so it is not parsed.
        super().__init__(root, parsePOSTFormSubmission=False)
        self.body_limits = dict(body_limits)

    def body_limit(self, path: bytes) -> int:
        """The most bytes a request's body to ``path`` may hold."""
        return self.body_limits.get(path.split(b"?", 1)[0], self.max_body)

    def log(self, request: Any) -> None:
        log.debug(
            "{method} {uri} {code}",
            method=request.method.decode("ascii", "replace"),
            uri=self.logged_uri(request).decode("ascii", "replace")[:200],
            code=request.code,
        )

    def logged_uri(self, request: Any) -> bytes:
        """What of the request's address the line shows (a site may leave out the query)."""
        return bytes(request.uri)


class WebService(service.Service):
    name = "web"

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.pool = ThreadPool(minthreads=2, maxthreads=16, name="ccbox-web")
        self.port: Any = None
        self._purge: task.LoopingCall | None = None
        self.feed: LiveFeed | None = None
        self.hub: LiveHub | None = None
        self.desk_chat: DeskChatRoot | None = None  # /chat-desk (add_api: co-browsing)
        # More Twisted children the root hands over (path -> resource: /metrics).
        self.resources: dict[bytes, IResource] = {}

    @property
    def port_number(self) -> int:
        return int(self.port.getHost().port) if self.port else 0

    def startService(self) -> None:
        from webui.app import build_app

        super().startService()
        reactor = self.ctx.reactor
        app = build_app(self.ctx)
        root = RootResource(cast(resource.Resource, wsgi.WSGIResource(reactor, self.pool, app)))
        root.putChild(b"static", cast(IResource, static.File(str(STATIC))))
        root.putChild(b"vendor", vendor.vendor_resource())  # the npm libraries (charts)
        vendor.check(self.ctx.health)
        root.putChild(b"events", cast(IResource, self._live_events(reactor)))
        root.putChild(b"chat-desk", cast(IResource, self._desk_chat(reactor)))
        for path, child in self.resources.items():
            root.putChild(path, child)
        site = QuietSite(root, admin_body_limits(self.ctx.config.chat.max_attachment_kb))
        site.displayTracebacks = False
        cfg = self.ctx.config.web
        self.port = reactor.listenTCP(cfg.port, site, interface=cfg.bind)
        self.pool.start()
        log.info("web UI listening on {bind}:{port}", bind=cfg.bind, port=self.port_number)
        self._purge = task.LoopingCall(self.ctx.sessions.purge)
        self._purge.clock = reactor
        self._purge.start(60, now=False)

    def _live_events(self, reactor: Any) -> LiveEventsResource:
        """The live feed on the bus, its hub of streams, and the ``/events`` resource."""
        ctx = self.ctx
        feed = self.feed = LiveFeed(
            reactor,
            ctx.bus,
            ctx.acd,
            ctx.health,
            spans=lambda: alarmed_spans(getattr(ctx.hardware, "spans", None)),
            channels=lambda: ctx.channels,
        )
        feed.start()

        def loaded(rows: list[Any]) -> None:
            feed.load_notices(r.as_message() for r in rows)

        notices = ctx.db.notices.current()  # in the snapshots after a restart
        notices.addCallback(loaded)
        notices.addErrback(lambda f: log.failure("current notices not loaded", f))
        self.hub = LiveHub(reactor, feed, self.ctx.sessions)
        self.hub.start()

        def agent_of_user(user_id: int) -> int | None:
            agent = ctx.acd.agent_of_user(user_id)
            return agent.id if agent is not None else None

        return LiveEventsResource(self.hub, agent_of_user)

    def _desk_chat(self, reactor: Any) -> DeskChatRoot:
        """``/chat-desk``: the desk's chats and e-mails (webui/desk_chat/), on the reactor."""
        ctx = self.ctx

        def agent_of_user(user_id: int) -> int | None:
            agent = ctx.acd.agent_of_user(user_id)
            return agent.id if agent is not None else None

        self.desk_chat = DeskChatRoot(
            reactor=reactor,
            db=ctx.db,
            channels=ctx.channels,
            sessions=ctx.sessions,
            agent_of_user=agent_of_user,
            acd=ctx.acd,
            config=ctx.config,
            bus=ctx.bus,
        )
        if ctx.cobrowse is not None:  # /chat-desk/api/cobrowse: escorted browsing, live view
            staff = ctx.cobrowse.staff_resource(
                acd=ctx.acd, sessions=ctx.sessions, secure=ctx.config.web.secure_cookies
            )
            self.desk_chat.add_api(b"cobrowse", staff)
        self.desk_chat.start()
        return self.desk_chat

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        waits: list[defer.Deferred[Any]] = []
        if self.desk_chat is not None:
            # finishes every desk stream, and waits for the API calls running
            waits.append(self.desk_chat.stop())
        if self._purge is not None and self._purge.running:
            self._purge.stop()
        if self.hub is not None:
            self.hub.stop()  # finishes every stream: the browsers reconnect elsewhere/later
        if self.feed is not None:
            self.feed.stop()
        if self.port:
            waits.append(defer.maybeDeferred(self.port.stopListening))
        d: defer.Deferred[Any] = defer.gatherResults(waits, consumeErrors=True)
        # Joining the pool blocks: do it off the reactor, which the requests may still need.
        if self.pool.started:
            d.addCallback(lambda _: threads.deferToThread(self.pool.stop))
        return d.addCallback(lambda _: None)
