"""The web service: the CherryPy app under twisted.web's WSGIResource, on its own thread pool.

Static assets and the live events (``/events``, webui/live_sse.py) are served by Twisted
directly, not by WSGI threads. Stopping closes the port and every live stream first, then
lets requests in flight finish before the pool stops, without blocking the reactor they
may be waiting on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool
from twisted.web import resource, server, static, wsgi
from twisted.web.resource import IResource

from webui.context import WebContext
from webui.live_feed import LiveFeed
from webui.live_sse import LiveEventsResource, LiveHub

STATIC = Path(__file__).parent / "static"
log = Logger(namespace="ccbox.web")


class RootResource(resource.Resource):
    """Twisted children first (static, later live events); every other path goes to WSGI."""

    def __init__(self, wsgi_resource: resource.Resource) -> None:
        super().__init__()
        self.wsgi_resource = wsgi_resource

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        request.prepath.pop()
        request.postpath.insert(0, path)
        return self.wsgi_resource

    def render(self, request: Any) -> Any:
        return self.wsgi_resource.render(request)


class QuietSite(server.Site):
    """Access lines go to the debug log, not to a file."""

    noisy = False

    def log(self, request: Any) -> None:
        log.debug(
            "{method} {uri} {code}",
            method=request.method.decode("ascii", "replace"),
            uri=request.uri.decode("ascii", "replace")[:200],
            code=request.code,
        )


class WebService(service.Service):
    name = "web"

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.pool = ThreadPool(minthreads=2, maxthreads=16, name="ccbox-web")
        self.port: Any = None
        self._purge: task.LoopingCall | None = None
        self.feed: LiveFeed | None = None
        self.hub: LiveHub | None = None

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
        root.putChild(b"events", cast(IResource, self._live_events(reactor)))
        site = QuietSite(root)
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
        feed = self.feed = LiveFeed(reactor, ctx.bus, ctx.acd, ctx.health)
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

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._purge is not None and self._purge.running:
            self._purge.stop()
        if self.hub is not None:
            self.hub.stop()  # finishes every stream: the browsers reconnect elsewhere/later
        if self.feed is not None:
            self.feed.stop()
        d: defer.Deferred[Any] = (
            defer.maybeDeferred(self.port.stopListening) if self.port else (defer.succeed(None))
        )
        # Joining the pool blocks: do it off the reactor, which the requests may still need.
        if self.pool.started:
            d.addCallback(lambda _: threads.deferToThread(self.pool.stop))
        return d
