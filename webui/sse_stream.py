"""A logged-in browser's Server-Sent Events stream, served by Twisted on the reactor, with
its bounds: the producer and the hub shared by the live feed (``/events``,
webui/live_sse.py) and the desk's chat stream (``/chat-desk/stream``,
webui/desk_chat/stream.py).

The stream is a streaming producer: when the socket's buffer fills the transport pauses
it and its frames wait, up to a backlog per stream and one for every paused stream of the
hub together; past that what waits is dropped, the stream is marked stale and, when the
socket drains, the browser gets one frame that brings it up to date (``resync_frame``:
the feed's snapshot, the desk's ``resync``), with a log line. The hub's heartbeat writes a
comment line to each stream, closes the streams whose session ended and the ones paused
for longer than ``stalled_s``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from twisted.internet import task
from twisted.logger import Logger

if TYPE_CHECKING:
    from webui.sessions import Session, SessionStore


class SseStream:
    """One connected browser tab (IPushProducer: pause/resume/stopProducing). Subclasses
    say how they log (``what``, ``after_drop``; the hub's ``log``), their backlog
    (``limits``) and what the browser gets after a drop (``resync_frame``)."""

    what: ClassVar[str] = "stream"  # "<what> of <user>" in log lines
    after_drop: ClassVar[str] = ""  # what the browser gets when it reads again, for the log

    def __init__(self, hub: SseHub[Any], request: Any, session: Session) -> None:
        self.hub = hub
        self.request = request
        self.session = session
        self.paused_at: float | None = None
        self.pending: dict[Hashable, bytes] = {}  # in the order they came
        self.pending_bytes = 0
        self.stale = False  # dropped what it missed: a resync frame when it drains
        self.closed = False
        self.written = 0
        self._held = 0  # keys for frames held on their own

    def limits(self) -> tuple[int, int]:
        """The bytes one paused stream may hold, and every paused stream of the hub."""
        raise NotImplementedError

    def resync_frame(self) -> bytes:
        """What the browser gets after its backlog was dropped."""
        raise NotImplementedError

    @property
    def user(self) -> str:
        user = self.session.user
        return user.username if user is not None else "?"

    # IPushProducer: the transport's buffer is full / drained / the connection is gone.
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
            self.write(self.resync_frame())
        elif self.pending:
            chunk = b"".join(self.pending.values())
            self._drop_pending()
            self.write(chunk)

    def stopProducing(self) -> None:
        self.close()

    def hold(self, data: bytes, key: Hashable | None = None) -> None:
        """While paused: ``data`` waits, in place of what waits under ``key`` (moved to
        the end); without a key it waits on its own. ``check_backlog`` after."""
        if key is None:
            self._held += 1
            key = ("held", self._held)
        old = self.pending.pop(key, None)
        if old is not None:
            self.pending_bytes -= len(old)
            self.hub.pending_bytes -= len(old)
        self.pending[key] = data
        self.pending_bytes += len(data)
        self.hub.pending_bytes += len(data)

    def check_backlog(self) -> None:
        """Past the stream's or the hub's backlog: drop what waits, the stream is stale."""
        assert self.paused_at is not None
        most, hub_most = self.limits()
        if self.pending_bytes > most or self.hub.pending_bytes > hub_most:
            held = self.pending_bytes
            self._drop_pending()
            self.stale = True
            self.hub.dropped += 1
            self.hub.log.warn(
                "{what} of {user}: the browser has not read for {s:.1f} s; {kb} KB "
                "waiting for it dropped ({after})",
                what=self.what,
                user=self.user,
                s=self.hub.reactor.seconds() - self.paused_at,
                kb=held // 1024,
                after=self.after_drop,
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
        """The stream is over: what it holds goes, the hub forgets it."""
        self.closed = True
        self._drop_pending()
        self.hub.forget(self)

    def close(self) -> None:
        """Finish the response (server side: stop, session over, stalled)."""
        if self.closed:
            return
        self._release()
        try:
            self.request.unregisterProducer()
            self.request.finish()
        except Exception as exc:  # the connection went first
            self.hub.log.debug("{what} already gone: {exc}", what=self.what, exc=exc)

    def gone(self, _result: object) -> None:
        """The browser went away (or finish() ran)."""
        if not self.closed:
            self._release()


S = TypeVar("S", bound=SseStream)


class SseHub(Generic[S]):
    """Every open stream of one kind: the backlog of them all, the heartbeat, the
    session checks."""

    def __init__(
        self,
        reactor: Any,
        sessions: SessionStore,
        heartbeat_s: float,
        stalled_s: float,
        log: Logger,
    ) -> None:
        self.reactor = reactor
        self.log = log  # its streams' too (an instance's: a class's Logger is a descriptor)
        self.sessions = sessions
        self.heartbeat_s = heartbeat_s
        self.stalled_s = stalled_s
        self.streams: set[S] = set()
        self.pending_bytes = 0  # what every paused stream holds, together
        self.dropped = 0  # times a stream's backlog was dropped for a resync
        self._heartbeat: task.LoopingCall | None = None

    def start(self) -> None:
        self._heartbeat = task.LoopingCall(self.heartbeat)
        self._heartbeat.clock = self.reactor
        self._heartbeat.start(self.heartbeat_s, now=False)

    def stop(self) -> None:
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        for s in list(self.streams):
            s.close()

    def forget(self, stream: SseStream) -> None:
        self.streams.discard(stream)

    def per_session(self, session: Session) -> int:
        return sum(1 for s in self.streams if s.session is session)

    def touches(self, stream: S) -> bool:
        """Whether the heartbeat counts ``stream`` as its session's activity."""
        return False

    def heartbeat(self) -> None:
        now = self.reactor.seconds()
        for s in list(self.streams):
            if self.sessions.peek(s.session.id, touch=self.touches(s)) is not s.session:
                s.close()
            elif s.paused_at is not None:
                if now - s.paused_at > self.stalled_s:
                    self.log.warn(
                        "{what} of {user}: not read for {s:.0f} s: closed",
                        what=s.what,
                        user=s.user,
                        s=now - s.paused_at,
                    )
                    s.close()
            else:
                s.write(b": hb\n\n")


def no_nagle(request: Any) -> None:
    """A frame the moment it comes: without TCP_NODELAY Nagle's algorithm holds a frame
    written soon after another for the browser's delayed ACK (up to 200 ms; the bare relay
    of tests/benchmarks/bench_chat.py: p99 279 ms without, 22 ms with)."""
    transport = getattr(getattr(request, "channel", None), "transport", None)
    no_delay = getattr(transport, "setTcpNoDelay", None)
    if no_delay is not None:
        no_delay(True)
