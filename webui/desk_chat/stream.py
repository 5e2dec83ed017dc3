"""``GET /chat-desk/stream``: the desk's chat lines and offers as Server-Sent Events, written
the moment the engine hands them over (no flush timer: a chat line must not wait).

An agent's stream carries what ``ChannelService.subscribe_agent`` gives (offers, its
conversations' events) plus its load after each change of state; a supervisor's or an
admin's carries the conversations it watches (``?watch=<id>``, up to ``MAX_WATCH``, each
written to the audit log). Each frame is ``data: <json>`` with the event's own ``type``.

A slow client never makes the server hold much for it (as webui/live_sse.py): the stream
is a streaming producer; while the transport is paused its frames wait, up to
``PENDING_BYTES`` (all paused streams together ``HUB_PENDING_BYTES``); past that they are
dropped and the browser gets ``{"type": "resync"}`` when it reads again (it reloads its
conversations from the API, which reads the database). A stream paused for ``STALLED_S`` is
closed; every ``HEARTBEAT_S`` each gets a comment line and is closed if its session ended.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import task
from twisted.logger import Logger

if TYPE_CHECKING:
    from webui.sessions import Session, SessionStore

log = Logger(namespace="ccbox.web.deskchat")

HEARTBEAT_S = 15.0
PENDING_BYTES = 512 * 1024
HUB_PENDING_BYTES = 16 * 1024 * 1024
STALLED_S = 60.0
MAX_STREAMS = 2000
MAX_PER_SESSION = 16
MAX_WATCH = 20
RETRY_MS = 2000
# Events after which an agent's load may have changed: its stream gets a "load" frame.
LOAD_EVENTS = frozenset({"state", "offer", "offer_withdrawn", "ended", "transferred"})


def frame(event: dict[str, Any]) -> bytes:
    """One SSE frame: JSON never holds a raw newline, so one ``data:`` line is enough."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
    return b"data: " + text.encode("utf-8") + b"\n\n"


class DeskStream:
    """One connected desk or console tab: a streaming producer."""

    def __init__(self, hub: DeskHub, request: Any, session: Session, agent_id: int | None):
        self.hub = hub
        self.request = request
        self.session = session
        self.agent_id = agent_id
        self.watching: set[int] = set()
        self.subscriptions: list[Any] = []
        self.paused_at: float | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.stale = False
        self.closed = False
        self.written = 0
        # a line the moment it comes: without TCP_NODELAY Nagle's algorithm holds a frame
        # written soon after another for the browser's delayed ACK (up to 200 ms; the bare
        # relay of tests/benchmarks/bench_chat.py: p99 279 ms without, 22 ms with)
        transport = getattr(getattr(request, "channel", None), "transport", None)
        no_delay = getattr(transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)

    @property
    def user(self) -> str:
        user = self.session.user
        return user.username if user is not None else "?"

    # IPushProducer
    def pauseProducing(self) -> None:
        if self.paused_at is None:
            self.paused_at = self.hub.reactor.seconds()

    def resumeProducing(self) -> None:
        if self.paused_at is None or self.closed:
            return
        self.paused_at = None
        if self.stale:
            self.stale = False
            self._drop_pending()
            self.write(frame({"type": "resync"}))
        elif self.pending:
            chunk = b"".join(self.pending)
            self._drop_pending()
            self.write(chunk)

    def stopProducing(self) -> None:
        self.close()

    def listener(self, event: dict[str, Any]) -> None:
        """What the engine calls (on the reactor): never blocks, never raises."""
        try:
            self.send(event)
            if self.agent_id is not None and event.get("type") in LOAD_EVENTS:
                self.send(self.hub.load_event(self.agent_id))
        except Exception:
            log.failure("desk stream of {user}: an event not written", user=self.user)

    def send(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        data = frame(event)
        if self.paused_at is None:
            self.write(data)
            return
        if self.stale:
            return
        self.pending.append(data)
        self.pending_bytes += len(data)
        self.hub.pending_bytes += len(data)
        if self.pending_bytes > PENDING_BYTES or self.hub.pending_bytes > HUB_PENDING_BYTES:
            held = self.pending_bytes
            self._drop_pending()
            self.stale = True
            self.hub.dropped += 1
            log.warn(
                "desk stream of {user}: the browser has not read for {s:.1f} s; {kb} KB "
                "waiting for it dropped (it reloads when it reads again)",
                user=self.user,
                s=self.hub.reactor.seconds() - self.paused_at,
                kb=held // 1024,
            )

    def _drop_pending(self) -> None:
        self.hub.pending_bytes -= self.pending_bytes
        self.pending.clear()
        self.pending_bytes = 0

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.written += len(data)
            self.request.write(data)

    def _release(self) -> None:
        self.closed = True
        self._drop_pending()
        self.hub.forget(self)
        subs, self.subscriptions = self.subscriptions, []
        for sub in subs:
            try:
                self.hub.channels.unsubscribe(sub)
            except Exception:
                log.failure("desk stream of {user}: not unsubscribed", user=self.user)

    def close(self) -> None:
        """Finish the response (server side: stop, session over, stalled)."""
        if self.closed:
            return
        self._release()
        try:
            self.request.unregisterProducer()
            self.request.finish()
        except Exception as exc:  # the connection went first
            log.debug("desk stream already gone: {exc}", exc=exc)

    def gone(self, _result: object) -> None:
        """The browser went away (or finish() ran)."""
        if not self.closed:
            self._release()


class DeskHub:
    """Every open desk stream; the heartbeat and the session checks."""

    def __init__(self, reactor: Any, channels: Any, sessions: SessionStore) -> None:
        self.reactor = reactor
        self.channels = channels
        self.sessions = sessions
        self.streams: set[DeskStream] = set()
        self.pending_bytes = 0
        self.dropped = 0
        self._heartbeat: task.LoopingCall | None = None

    def start(self) -> None:
        self._heartbeat = task.LoopingCall(self.heartbeat)
        self._heartbeat.clock = self.reactor
        self._heartbeat.start(HEARTBEAT_S, now=False)

    def stop(self) -> None:
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        for s in list(self.streams):
            s.close()

    def forget(self, stream: DeskStream) -> None:
        self.streams.discard(stream)

    def per_session(self, session: Session) -> int:
        return sum(1 for s in self.streams if s.session is session)

    def load_event(self, agent_id: int) -> dict[str, Any]:
        load = self.channels.load(agent_id)
        return {
            "type": "load",
            "open": load.open,
            "capacity": load.capacity,
            "on_call": load.on_call,
            "may_take": load.may_take,
        }

    def push_to_user(self, user_id: int, event: dict[str, Any]) -> int:
        """``event`` to every open stream of the user ``user_id`` (the live view's banner
        and relays: webui/cobrowse); how many streams got it."""
        sent = 0
        for s in list(self.streams):
            if s.session.user is not None and s.session.user.id == user_id:
                s.send(event)
                sent += 1
        return sent

    def push_to_agent(self, agent_id: int, event: dict[str, Any]) -> int:
        """``event`` to every open stream of the agent ``agent_id``."""
        sent = 0
        for s in list(self.streams):
            if s.agent_id == agent_id:
                s.send(event)
                sent += 1
        return sent

    def heartbeat(self) -> None:
        now = self.reactor.seconds()
        for s in list(self.streams):
            if self.sessions.peek(s.session.id) is not s.session:
                s.close()
            elif s.paused_at is not None:
                if now - s.paused_at > STALLED_S:
                    log.warn(
                        "desk stream of {user}: not read for {s:.0f} s: closed",
                        user=s.user,
                        s=now - s.paused_at,
                    )
                    s.close()
            else:
                s.write(b": hb\n\n")


Listener = Callable[[dict[str, Any]], None]
