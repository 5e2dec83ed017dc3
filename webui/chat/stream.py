"""``GET /chat/api/stream?t=<token>``: a visitor's conversation as Server-Sent Events.

The stream subscribes to the engine's customer side of the conversation
(``subscribe_conversation(id, listener, side="customer")``) and writes each event the
moment it comes (no batching timer: a chat line's latency is the point). On connect it
sends the history so far (a reconnect after the visitor moved to another page shows the
whole chat) and the conversation's state, events that arrived meanwhile after them without
duplicates.

A slow client: the stream is a streaming producer; while the socket's buffer is full it
holds at most ``PENDING_BYTES`` for it, then closes it (the browser reconnects and gets
the history). Every ``HEARTBEAT_S`` a comment line; the stream closes once the
conversation ended.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from acd.channels.conversation import Message, iso
from webui.sse_stream import no_nagle

if TYPE_CHECKING:
    from webui.chat.visitors import VisitorSession

log = Logger(namespace="ccbox.web.chat")

HEARTBEAT_S = 15.0
PENDING_BYTES = 64 * 1024
RETRY_MS = 3000
EARLY_MAX = 500  # events held while the history is read
# For the visitor the chat is over (the agent's wrap-up is the agent's business).
OVER = frozenset({"wrap_up", "ended", "message"})
LIVE = frozenset({"waiting", "offered", "active", "wrap_up"})  # the engine's open chats
# Never to a visitor, whatever the engine hands over (it filters them itself).
STAFF_ONLY = frozenset({"offer", "offer_withdrawn"})


def frame(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"


def for_customer(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event as a visitor may see it; None for what is not theirs."""
    kind = event.get("type")
    if not isinstance(kind, str) or kind in STAFF_ONLY:
        return None
    if kind == "message":
        message = event.get("message") or {}
        if message.get("internal"):
            return None
    return event


def visitor_message(m: Message) -> dict[str, Any]:
    """A line of the history as the widget shows it, with ``read_at`` (the other side's
    read mark: after a reconnect the widget marks the visitor's lines the agent read)."""
    return {**m.to_dict(), "read_at": iso(m.read_at)}


def current_state(channels: Any, conversation_id: int) -> dict[str, Any] | None:
    """Where the conversation stands now, as a ``state`` event (a reconnect after the
    visitor moved to another page missed the last one); the agent's name comes with the
    next state change or from their lines. None when it is over. One look-up: every
    visitor's browser reconnects at once after a network blip, and walking every
    conversation for each would hold the reactor for seconds."""
    conv = channels.conversation(conversation_id)
    if conv is None or conv.state not in LIVE:
        return None
    return {
        "type": "state",
        "conversation": conversation_id,
        "state": conv.state,
        "agent": None,
        "queue": None,
        "position": None,
    }


class VisitorStream:
    """One open stream of one visitor (IPushProducer for the request)."""

    def __init__(self, hub: StreamHub, request: Any, session: VisitorSession) -> None:
        self.hub = hub
        self.request = request
        self.session = session
        self.sub: Any = None
        self.paused = False
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.closed = False
        self.ready = False  # the history is written: events go straight out
        self.early: list[dict[str, Any]] = []
        no_nagle(request)  # a line the moment it comes

    async def open(self) -> None:
        channels = self.hub.channels
        cid = self.session.conversation_id
        self.sub = channels.subscribe_conversation(cid, self.on_event, side="customer")
        try:
            history = await channels.history(cid)
        except Exception as exc:
            log.warn("chat {id}: history not read for the stream: {e}", id=cid, e=exc)
            history = []
        if self.closed:
            return
        messages = [visitor_message(m) for m in history if not m.internal]
        self.write(frame({"type": "history", "conversation": cid, "messages": messages}))
        state = current_state(channels, cid)
        if state is None or state["state"] in OVER:
            # ended while the visitor had no stream (the agent ended it, the idle sweep)
            self.write(frame({"type": "ended", "conversation": cid, "reason": "ended"}))
            self.hub.ended(cid)
            self.close()
            return
        self.write(frame(state))
        seen = {m["id"] for m in messages}
        self.ready = True
        early, self.early = self.early, []
        for event in early:
            if event.get("type") == "message" and (event.get("message") or {}).get("id") in seen:
                continue
            self.on_event(event)

    def on_event(self, event: dict[str, Any]) -> None:
        """The engine's listener: never raises, never blocks."""
        try:
            if self.closed:
                return
            visible = for_customer(event)
            if visible is None:
                return
            if not self.ready:
                self.early.append(visible)
                if len(self.early) > EARLY_MAX:  # the history read stalls: start again
                    self.close()
                return
            self.write(frame(visible))
            if visible.get("type") == "ended":
                self.hub.ended(self.session.conversation_id)
                self.close()
        except Exception as exc:
            log.warn("chat stream event not written: {e}", e=exc)

    # IPushProducer
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        if self.pending and not self.closed:
            chunk = b"".join(self.pending)
            self.pending.clear()
            self.pending_bytes = 0
            self.request.write(chunk)

    def stopProducing(self) -> None:
        self.close()

    def write(self, data: bytes) -> None:
        if self.closed:
            return
        if self.paused:
            self.pending.append(data)
            self.pending_bytes += len(data)
            if self.pending_bytes > PENDING_BYTES:
                log.info(
                    "chat {id}: the visitor's stream is not read; closed (it reconnects)",
                    id=self.session.conversation_id,
                )
                self.close()
            return
        self.request.write(data)

    def close(self) -> None:
        if self.closed:
            return
        self._forget()
        try:
            self.request.unregisterProducer()
            self.request.finish()
        except Exception as exc:  # the connection went first
            log.debug("chat stream already gone: {e}", e=exc)

    def gone(self, _result: object) -> None:
        self._forget()

    def _forget(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pending.clear()
        self.pending_bytes = 0
        self.hub.forget(self)
        if self.sub is not None:
            try:
                self.hub.channels.unsubscribe(self.sub)
            except Exception as exc:
                log.warn("chat stream not unsubscribed: {e}", e=exc)
            self.sub = None


class StreamHub:
    """Every open visitor stream: the count for ``max_visitors``, the heartbeat. A
    visitor's last stream closing counts as their activity (the idle sweep measures from
    it: a visitor who watched a stream longer than ``idle_close_min`` and moves to another
    page is not idle in the second it takes the next page to reconnect)."""

    def __init__(self, channels: Any, max_streams: int, on_ended: Any, clock: Any) -> None:
        self.channels = channels
        self.max_streams = max_streams
        self.on_ended = on_ended  # conversation id -> None (the visitor registry)
        self.clock = clock
        self.streams: set[VisitorStream] = set()

    def open(self, request: Any, session: VisitorSession) -> VisitorStream:
        stream = VisitorStream(self, request, session)
        self.streams.add(stream)
        session.streams += 1
        request.registerProducer(stream, True)
        request.notifyFinish().addBoth(stream.gone)
        stream.write(f"retry: {RETRY_MS}\n\n".encode())
        d = defer.ensureDeferred(stream.open())

        def failed(f: Any) -> None:
            log.failure("chat stream not opened", f)
            stream.close()

        d.addErrback(failed)
        return stream

    def forget(self, stream: VisitorStream) -> None:
        if stream in self.streams:
            self.streams.discard(stream)
            stream.session.streams -= 1
            stream.session.last_seen = self.clock.seconds()

    def ended(self, conversation_id: int) -> None:
        self.on_ended(conversation_id)

    def heartbeat(self) -> None:
        for s in list(self.streams):
            if s.session.ended:
                s.close()
            elif not s.paused:
                s.write(b": hb\n\n")

    def close_all(self) -> None:
        for s in list(self.streams):
            s.close()
