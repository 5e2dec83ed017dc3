"""``PublicChatService``: the web chat's public endpoint on ``[chat] bind:port``, its own
twisted.web Site (webui/chat/site.py) that serves the widget and its API and nothing else
of the box. Started by appliance/master.py after the channels' engine.

``root`` exists from construction, so other parts mount their API before the start
(``service.root.add_api(b"cobrowse", ...)``).

A port it cannot listen on (taken, a wrong bind address) is the web chat's trouble, not the
call center's: the part reports itself down with the reason and the daemon goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.internet import defer, error, task
from twisted.logger import Logger

from appliance import health, uploads
from appliance.config import ChatConfig, SmtpConfig
from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.db.chat_public_store import ChatPublicStore
from appliance.db.chat_visitor_store import ChatVisitorStore
from webui.chat import api
from webui.chat.origins import OriginAllowList
from webui.chat.site import (
    BODY_SLACK,
    CONNECTION_SLACK,
    CONNECTIONS_PER_VISITOR,
    ChatSite,
    PublicChatRoot,
)
from webui.chat.stream import HEARTBEAT_S, StreamHub
from webui.chat.visitors import VisitorRegistry, VisitorSession

log = Logger(namespace="ccbox.web.chat")


class PublicChatService(service.Service):
    name = "chat-public"

    def __init__(
        self,
        *,
        reactor: Any,
        db: Any,
        channels: Any,
        config: ChatConfig,
        smtp: SmtpConfig,
        data_dir: Path | str,
        requests_per_minute: int | None = None,
        health_registry: health.HealthRegistry | None = None,
    ) -> None:
        self.reactor = reactor
        self.db = db
        self.channels = channels
        self.config = config
        self.health = health_registry
        admin = ChannelAdminStore(db)

        def load_origins() -> defer.Deferred[list[str]]:
            return admin.origins().addCallback(lambda rows: [r.origin for r in rows])

        self.origins = OriginAllowList(reactor, load_origins)
        self.visitors = VisitorRegistry(
            reactor, config.idle_close_min * 60.0, self._idle, store=ChatVisitorStore(db)
        )
        extra = {} if requests_per_minute is None else {"requests_per_minute": requests_per_minute}
        self.root = PublicChatRoot(
            clock=reactor,
            origins=self.origins,
            visitors=self.visitors,
            trusted_proxies=config.trusted_proxies,
            **extra,
        )
        self.hub = StreamHub(channels, config.max_visitors, self.visitors.mark_ended, reactor)
        self.api = api.ChatEndpointState(
            root=self.root,
            channels=channels,
            config=config,
            smtp=smtp,
            store=ChatPublicStore(db),
            files=uploads.UploadStore(uploads.uploads_root(data_dir)),
            hub=self.hub,
            reactor=reactor,
        )
        api.mount(self.api)
        self.port: Any = None
        self.site: ChatSite | None = None
        self._heartbeat: task.LoopingCall | None = None

    @property
    def port_number(self) -> int:
        return int(self.port.getHost().port) if self.port else 0

    def _idle(self, s: VisitorSession) -> None:
        d = defer.ensureDeferred(self.channels.customer_left(s.conversation_id, reason="idle"))
        d.addErrback(
            lambda f: log.warn("chat {id}: idle end refused: {f}", id=s.conversation_id, f=f.value)
        )

    def startService(self) -> Any:
        super().startService()
        cfg = self.config
        self.site = site = ChatSite(
            self.root,
            cfg.max_attachment_kb * 1024 + BODY_SLACK,
            max_connections=cfg.max_visitors * CONNECTIONS_PER_VISITOR + CONNECTION_SLACK,
            trusted_proxies=cfg.trusted_proxies,
        )
        try:
            self.port = self.reactor.listenTCP(cfg.port, site, interface=cfg.bind)
        except error.CannotListenError as exc:
            why = f"cannot listen on {cfg.bind}:{cfg.port}: {exc.socketError}"
            log.error("web chat: {why}", why=why)
            if self.health is not None:
                self.health.report(self.name, health.DOWN, why)
            return defer.succeed(None)
        self.visitors.start()
        restored = defer.ensureDeferred(self.visitors.restore())
        restored.addCallbacks(
            lambda n: log.info("web chat: {n} visitors' sessions restored", n=n),
            lambda f: log.failure("web chat: the visitors' sessions not restored", f),
        )
        self._heartbeat = task.LoopingCall(self.hub.heartbeat)
        self._heartbeat.clock = self.reactor
        self._heartbeat.start(HEARTBEAT_S, now=False)
        log.info("web chat listening on {bind}:{port}", bind=cfg.bind, port=self.port_number)
        return self.origins.start()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self.origins.stop()
        self.visitors.stop()
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        self.hub.close_all()
        # The API calls running finish before the engine and the database stop (the
        # services stop in reverse order); new ones are answered 503.
        drained = self.api.in_flight.close()
        if self.port is None:
            return drained.addCallback(lambda _: None)
        listening = defer.maybeDeferred(self.port.stopListening)
        both = defer.gatherResults([listening, drained], consumeErrors=True)
        return both.addCallback(lambda _: None)
