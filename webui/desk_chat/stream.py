"""``GET /chat-desk/stream``: the desk's chat lines and offers as Server-Sent Events, written
the moment the engine hands them over (no flush timer: a chat line must not wait).

An agent's stream carries what ``ChannelService.subscribe_agent`` gives (offers, its
conversations' events) plus its load after each change of state; a supervisor's or an
admin's carries the conversations it watches (``?watch=<id>``, up to ``MAX_WATCH``, each
written to the audit log). Each frame is ``data: <json>`` with the event's own ``type``.

A slow client never makes the server hold much for it (webui/sse_stream.py, as the live
feed's): the stream is a streaming producer; while the transport is paused its frames wait, up to
``PENDING_BYTES`` (all paused streams together ``HUB_PENDING_BYTES``); past that they are
dropped and the browser gets ``{"type": "resync"}`` when it reads again (it reloads its
conversations from the API, which reads the database). A stream paused for ``STALLED_S`` is
closed; every ``HEARTBEAT_S`` each gets a comment line and is closed if its session ended.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from webui.sse_stream import SseHub, SseStream, no_nagle

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


class DeskStream(SseStream):
    """One connected desk or console tab: a streaming producer."""

    what = "desk stream"
    after_drop = "it reloads when it reads again"

    def __init__(self, hub: DeskHub, request: Any, session: Session, agent_id: int | None):
        super().__init__(hub, request, session)
        self.hub: DeskHub = hub
        self.agent_id = agent_id
        self.watching: set[int] = set()
        self.subscriptions: list[Any] = []
        no_nagle(request)

    def limits(self) -> tuple[int, int]:
        return PENDING_BYTES, HUB_PENDING_BYTES

    def resync_frame(self) -> bytes:
        return frame({"type": "resync"})

    def listener(self, event: dict[str, Any]) -> None:
        """What the engine calls (on the reactor): never blocks, never raises."""
        try:
            if self.agent_id is not None and event.get("type") in LOAD_EVENTS:
                # the event and the load it changed in one write (one TLS record, one send)
                self.send(event, self.hub.load_event(self.agent_id))
            else:
                self.send(event)
        except Exception:
            log.failure("desk stream of {user}: an event not written", user=self.user)

    def send(self, event: dict[str, Any], *more: dict[str, Any]) -> None:
        """``event`` (and ``more``, in order) as one write."""
        if self.closed:
            return
        data = frame(event)
        if more:
            data = b"".join([data, *(frame(e) for e in more)])
        if self.paused_at is None:
            self.write(data)
            return
        if self.stale:
            return
        self.hold(data)
        self.check_backlog()

    def _release(self) -> None:
        super()._release()
        subs, self.subscriptions = self.subscriptions, []
        for sub in subs:
            try:
                self.hub.channels.unsubscribe(sub)
            except Exception:
                log.failure("desk stream of {user}: not unsubscribed", user=self.user)


class DeskHub(SseHub[DeskStream]):
    """Every open desk stream; the heartbeat and the session checks."""

    def __init__(self, reactor: Any, channels: Any, sessions: SessionStore) -> None:
        super().__init__(reactor, sessions, HEARTBEAT_S, STALLED_S, log)
        self.channels = channels

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


Listener = Callable[[dict[str, Any]], None]
