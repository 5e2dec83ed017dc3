"""``GET /events``: the live feed as Server-Sent Events, served by Twisted on the reactor.

The session cookie authenticates the stream (401 without a logged-in session); the role
and the user's agent decide what it carries (webui/live_feed.py). The feed already sends
at most one message per key per flush; a client gets each flush as one write.

A slow client never makes the server hold much for it: the stream is a streaming
producer, so when the socket's buffer fills the transport pauses it; while paused the
client keeps only the latest frame per key, up to ``PENDING_BYTES`` (and all paused
clients together up to ``HUB_PENDING_BYTES``: 2,000 streams of 256 KB would be half a
gigabyte); past that it keeps nothing and gets a fresh snapshot when the socket drains,
with a log line. A client paused for longer than ``STALLED_S`` is disconnected, logged
too (the browser reconnects and resumes).

Every ``HEARTBEAT_S`` each stream gets a comment line (proxies and the browser see it is
alive) and is closed if its session ended (logout, disabled user, expiry).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.web import resource, server

from webui.access import COOKIE, SECURITY_HEADERS, from_event_source
from webui.live_feed import Message, Viewer
from webui.sse_stream import SseHub, SseStream

if TYPE_CHECKING:
    from webui.live_feed import LiveFeed
    from webui.sessions import Session, SessionStore

log = Logger(namespace="ccbox.web.live")

HEARTBEAT_S = 15.0
PENDING_BYTES = 256 * 1024
HUB_PENDING_BYTES = 8 * 1024 * 1024
STALLED_S = 60.0
MAX_STREAMS = 2000
MAX_PER_SESSION = 16
RETRY_MS = 2000
TOPICS = ("all", "wallboard")
LAST_ID_MAX = 64


class Stream(SseStream):
    """One connected browser tab; while paused it keeps the latest frame per key."""

    what = "live stream"
    after_drop = "a fresh snapshot when it reads again"

    def __init__(self, hub: LiveHub, request: Any, session: Session, viewer: Viewer) -> None:
        super().__init__(hub, request, session)
        self.hub: LiveHub = hub
        self.viewer = viewer

    def limits(self) -> tuple[int, int]:
        return PENDING_BYTES, HUB_PENDING_BYTES

    def resync_frame(self) -> bytes:
        return self.hub.feed.snapshot(self.viewer)

    def deliver(self, messages: list[Message], chunk: bytes | None) -> None:
        """One flush: ``chunk`` is what this viewer sees of it, already joined."""
        if self.closed:
            return
        if self.paused_at is None:
            if chunk:
                self.write(chunk)
            return
        if self.stale:
            return
        for m in messages:
            frame = self.viewer.frame(m)
            if frame is not None:
                self.hold(frame, key=m.key)
        self.check_backlog()


class LiveHub(SseHub[Stream]):
    """Every open stream; fans each flush of the feed out to them."""

    def __init__(self, reactor: Any, feed: LiveFeed, sessions: SessionStore) -> None:
        super().__init__(reactor, sessions, HEARTBEAT_S, STALLED_S, log)
        self.feed = feed

    def start(self) -> None:
        self.feed.listeners.append(self.on_flush)
        super().start()

    def stop(self) -> None:
        if self.on_flush in self.feed.listeners:
            self.feed.listeners.remove(self.on_flush)
        super().stop()

    def on_flush(self, messages: list[Message]) -> None:
        chunks: dict[tuple[bool, int | None, bool], bytes] = {}
        for s in list(self.streams):
            key = s.viewer.cache_key
            chunk = chunks.get(key)
            if chunk is None:
                frames = (s.viewer.frame(m) for m in messages)
                chunk = chunks[key] = b"".join(f for f in frames if f is not None)
            s.deliver(messages, chunk)

    def touches(self, stream: Stream) -> bool:
        # An open wallboard (the TV on the wall) keeps its login alive; other pages count
        # as activity only when they connect.
        return stream.viewer.wallboard


class LiveEventsResource(resource.Resource):
    isLeaf = True

    def __init__(self, hub: LiveHub, agent_of_user: Any) -> None:
        super().__init__()
        self.hub = hub
        self.agent_of_user = agent_of_user  # user id -> ACD agent id or None

    def _refuse(self, request: Any, code: int, message: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"error": message}).encode()

    def render_GET(self, request: Any) -> Any:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name.encode(), value.encode())
        raw = request.getCookie(COOKIE.encode())
        session = None
        if raw:
            try:
                session = self.hub.sessions.peek(raw.decode("ascii"), touch=True)
            except UnicodeDecodeError:
                session = None
        if session is None or session.user is None:
            return self._refuse(request, 401, "not logged in")
        if not from_event_source(request.getHeader(b"Accept")):  # webui/access.py says why
            return self._refuse(request, 406, "an EventSource's stream only")
        topics = (request.args.get(b"topics") or [b"all"])[0].decode("ascii", "replace")
        if topics not in TOPICS:
            return self._refuse(request, 400, "topics must be all or wallboard")
        if len(self.hub.streams) >= MAX_STREAMS:
            return self._refuse(request, 503, "too many live streams")
        if self.hub.per_session(session) >= MAX_PER_SESSION:
            return self._refuse(request, 429, "too many live streams for this session")
        user = session.user
        viewer = Viewer(user.role, self.agent_of_user(user.id), topics == "wallboard")
        raw_last = request.getHeader(b"Last-Event-ID") or b""
        if not raw_last:
            raw_last = (request.args.get(b"last_id") or [b""])[0]
        last = raw_last[:LAST_ID_MAX].decode("ascii", "replace")
        replay = self.hub.feed.replay(viewer, last) if last else None
        first = f"retry: {RETRY_MS}\n\n".encode()
        first += self.hub.feed.snapshot(viewer) if replay is None else b"".join(replay)
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Accel-Buffering", b"no")
        stream = Stream(self.hub, request, session, viewer)
        self.hub.streams.add(stream)
        request.registerProducer(stream, True)
        request.notifyFinish().addBoth(stream.gone)
        stream.write(first)
        return server.NOT_DONE_YET

    def render(self, request: Any) -> Any:
        if request.method != b"GET":  # HEAD too: a stream has no head without a body
            for name, value in SECURITY_HEADERS.items():
                request.setHeader(name.encode(), value.encode())
            request.setHeader(b"Allow", b"GET")
            return self._refuse(request, 405, "GET only")
        return self.render_GET(request)
