"""The co-browsing relay: sessions pairing one recording page with its viewers, on the
reactor thread.

Three kinds of session:

* ``chat``: an agent asks to see the page of a visitor it chats with; the request reaches
  the widget through the channels engine (``relay``), the visitor joins with its chat token
  and must allow it before its page records anything;
* ``code``: a caller on the phone types the agent's 6-digit code into the widget
  (codes.py) and joins the same way, without a chat;
* ``desk``: a supervisor watches an agent's desk; the desk page records itself and the
  agent sees a banner for as long as it lasts; start and stop go in the audit log.

The relay keeps nothing of the DOM: a batch of rrweb events is checked (shape, size, rate),
framed once and written to each viewer's stream. A viewer that connects or falls behind
gets nothing until the recording side sends a full snapshot, which the relay asks for.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from twisted.internet import task
from twisted.logger import Logger

from appliance.text import N_
from webui.cobrowse.stream import EventStream, frame

log = Logger(namespace="ccbox.web.cobrowse")

KINDS = ("chat", "code", "desk")
MAX_SESSIONS = 1000
MAX_VIEWERS = 4  # viewer streams of one session (an agent's window, reloaded)
MAX_DESK_STREAMS = 8  # desk pages of one agent (tabs)
# One POST of events: 256 KB; one that starts with a full snapshot may be larger (a page's
# whole DOM), up to MAX_SNAPSHOT_BYTES.
MAX_BATCH_BYTES = 256 * 1024
MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024
MAX_EVENTS = 2000
# Per session, what the recording side may post: a token bucket of batches and of bytes.
BATCH_RATE = 8.0  # a second (the page posts every 250 ms)
BATCH_BURST = 20.0
BYTE_RATE = 1024 * 1024.0
BYTE_BURST = 8 * 1024 * 1024.0
SNAPSHOT_ASK_S = 3.0  # at most one fresh-snapshot request this often
HEARTBEAT_S = 15.0
STALLED_S = 60.0
REQUEST_TIMEOUT_S = 300.0  # a request nobody joined or allowed
ALONE_S = 120.0  # an active session with no viewer and no recording side
DESK_ALONE_S = 10.0  # a live view whose supervisor's page went (the desk stops recording)
MAX_URL = 2000
# A chat visitor's page that went (a pushed page, a link) is called back through the chat
# stream of the next page's widget: every RESUME_EVERY_S for RESUME_FOR_S.
RESUME_EVERY_S = 1.0
RESUME_FOR_S = 30.0
# rrweb's EventType: DomContentLoaded, Load, FullSnapshot, Incremental, Meta, Custom, Plugin.
FULL_SNAPSHOT = 2
META = 4
EVENT_TYPES = range(0, 7)


class CobrowseError(Exception):
    """A refusal with a user-safe (N_-marked) message and the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def check_events(body: Any) -> bool:
    """Whether ``body`` (parsed JSON) is a batch of rrweb events: a non-empty list of at
    most MAX_EVENTS objects, each with an integer ``type`` of rrweb's, a numeric
    ``timestamp`` and an object ``data``. Anything else is refused whole. True when the
    batch holds a full snapshot."""
    if not isinstance(body, list) or not body or len(body) > MAX_EVENTS:
        raise CobrowseError(N_("not a batch of page events"))
    full = False
    for event in body:
        if not isinstance(event, dict):
            raise CobrowseError(N_("not a batch of page events"))
        kind, stamp = event.get("type"), event.get("timestamp")
        if type(kind) is not int or kind not in EVENT_TYPES:
            raise CobrowseError(N_("not a batch of page events"))
        if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not stamp >= 0:
            raise CobrowseError(N_("not a batch of page events"))
        if not isinstance(event.get("data"), dict):
            raise CobrowseError(N_("not a batch of page events"))
        full = full or kind == FULL_SNAPSHOT
    return full


def page_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL as a browser sends it in Origin, or None
    for anything else (other schemes, credentials in the URL, control characters)."""
    if not url or len(url) > MAX_URL or any(ord(c) < 0x21 or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port: int | None = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


class Bucket:
    """A token bucket on the reactor's clock."""

    def __init__(self, clock: Any, rate: float, burst: float) -> None:
        self.clock, self.rate, self.burst = clock, rate, burst
        self.level = burst
        self.at = clock.seconds()

    def take(self, amount: float) -> bool:
        now = self.clock.seconds()
        self.level = min(self.burst, self.level + (now - self.at) * self.rate)
        self.at = now
        if amount > self.level:
            return False
        self.level -= amount
        return True


@dataclass(eq=False)
class CobrowseSession:
    id: str  # names the session to the staff side (desk pages, viewer streams)
    kind: str
    agent_id: int
    agent_name: str
    created_at: float
    conversation_id: int | None = None
    watcher: str | None = None  # desk: the supervisor's user name
    watcher_name: str = ""
    watcher_address: str = ""
    # who started it, for the audit log: the agent (chat, code) or the supervisor (desk)
    actor: str = ""
    actor_address: str = ""
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))  # the recorder's
    state: str = "requested"  # requested -> active -> ended (or requested -> ended)
    joined: bool = False  # chat/code: a visitor holds the token
    ended_reason: str = ""
    viewers: set[EventStream] = field(default_factory=set)
    source: EventStream | None = None  # control stream of the recording page
    last_ask: float = -1e9
    alone_since: float | None = None
    batches: Bucket | None = None
    volume: Bucket | None = None
    resume_call: Any = None  # the next call back of a chat visitor whose page went

    @property
    def live(self) -> bool:
        return self.state != "ended"


Audit = Callable[[str, str, str, dict[str, Any], str], object]
Relay = Callable[[int, str, dict[str, Any]], object]


class CobrowseHub:
    """Every session, with the desks' control streams (one agent's desk may be open in more
    than one tab: each gets the watch notices)."""

    def __init__(
        self,
        reactor: Any,
        *,
        mask_inputs: bool,
        audit: Audit | None = None,
        relay: Relay | None = None,
    ) -> None:
        self.reactor = reactor
        self.mask_inputs = mask_inputs
        self.audit = audit
        self.relay = relay  # ChannelService.relay(conversation_id, from_side, event)
        self.sessions: dict[str, CobrowseSession] = {}
        # the recording tokens, an ended session's for the minute it is remembered (its
        # late batches are told the end, not refused: webui/cobrowse/resources.py)
        self.by_token: dict[str, CobrowseSession] = {}
        self.desks: dict[int, set[EventStream]] = {}  # agent id -> its desk pages' streams
        self._heartbeat: task.LoopingCall | None = None
        self._forget: dict[str, Any] = {}  # ended sessions' removal, a minute later

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self._heartbeat = task.LoopingCall(self.heartbeat)
        self._heartbeat.clock = self.reactor
        self._heartbeat.start(HEARTBEAT_S, now=False)

    def stop(self) -> None:
        if self._heartbeat is not None and self._heartbeat.running:
            self._heartbeat.stop()
        for s in list(self.sessions.values()):
            self.end(s, "shutdown")
        for streams in list(self.desks.values()):
            for stream in list(streams):
                stream.close()
        for call in self._forget.values():
            if call.active():
                call.cancel()
        self._forget.clear()
        self.sessions.clear()
        self.by_token.clear()

    def client_config(self) -> dict[str, Any]:
        """What a recording page is told: masking (password fields are masked always)."""
        return {"mask_inputs": self.mask_inputs, "mask_password": True}

    # ---- creating sessions -------------------------------------------------------------
    def _new(self, kind: str, agent_id: int, agent_name: str, **more: Any) -> CobrowseSession:
        live = [s for s in self.sessions.values() if s.live]
        if len(live) >= MAX_SESSIONS:
            raise CobrowseError(N_("too many co-browsing sessions are open"), 503)
        now = self.reactor.seconds()
        session = CobrowseSession(
            id=secrets.token_urlsafe(16),
            kind=kind,
            agent_id=agent_id,
            agent_name=agent_name,
            created_at=now,
            batches=Bucket(self.reactor, BATCH_RATE, BATCH_BURST),
            volume=Bucket(self.reactor, BYTE_RATE, BYTE_BURST),
            **more,
        )
        self.sessions[session.id] = session
        self.by_token[session.token] = session
        return session

    def request_chat(
        self,
        agent_id: int,
        agent_name: str,
        conversation_id: int,
        actor: str = "",
        address: str = "",
    ) -> CobrowseSession:
        """An agent (user name ``actor``) asks to see its chat visitor's page; the widget
        hears of it through the channels engine (the engine checked nothing: the caller
        checked the agent holds the conversation). One live chat session per conversation:
        a new request replaces it. Audited."""
        for old in list(self.sessions.values()):
            if old.kind == "chat" and old.conversation_id == conversation_id and old.live:
                self.end(old, "replaced")
        session = self._new(
            "chat",
            agent_id,
            agent_name,
            conversation_id=conversation_id,
            actor=actor,
            actor_address=address,
        )
        self._audit(session, "cobrowse.start", {"session": session.id, "kind": "chat"})
        self._to_visitor_by_chat(
            session, {"type": "cobrowse.request", "session": session.id, "agent": agent_name}
        )
        return session

    def join_chat(self, session_id: str, conversation_id: int) -> CobrowseSession:
        """The widget of ``conversation_id`` takes up the request ``session_id``: it gets the
        recording token (still not recording: the visitor must allow it)."""
        session = self.sessions.get(session_id)
        if session is None or not session.live or session.kind != "chat":
            raise CobrowseError(N_("no such co-browsing request"), 404)
        if session.conversation_id != conversation_id:
            raise CobrowseError(N_("this co-browsing request is not for this chat"), 403)
        session.joined = True
        return session

    def join_code(
        self,
        agent_id: int,
        agent_name: str,
        actor: str = "",
        address: str = "",
        caller: str = "",
    ) -> CobrowseSession:
        """A caller (at address ``caller``) redeemed the code the agent (user name ``actor``,
        at ``address``) made; codes.py checked it. Audited."""
        session = self._new("code", agent_id, agent_name, actor=actor, actor_address=address)
        session.joined = True
        detail = {"session": session.id, "kind": "code", "caller": caller}
        self._audit(session, "cobrowse.start", detail)
        # the agent's desk learns the session (its viewer opens from there)
        self._to_desks(agent_id, {"type": "cobrowse.joined", "session": session.id})
        return session

    def watch_desk(
        self, agent_id: int, agent_name: str, watcher: str, watcher_name: str, address: str
    ) -> CobrowseSession:
        """A supervisor starts watching ``agent_id``'s desk: audited, and every open desk
        page of the agent hears of it (banner, then it records itself)."""
        for old in list(self.sessions.values()):
            same = old.kind == "desk" and old.agent_id == agent_id and old.watcher == watcher
            if same and old.live:
                self.end(old, "replaced")
        session = self._new(
            "desk",
            agent_id,
            agent_name,
            watcher=watcher,
            watcher_name=watcher_name,
            watcher_address=address,
            actor=watcher,
            actor_address=address,
        )
        session.state = "active"  # the agent is told, not asked: supervision is their job
        # alone until the supervisor's page opens its stream: a page closed before it did
        # must not leave the desk recording (and its banner up, its stop never audited)
        session.alone_since = session.created_at
        self._audit(session, "cobrowse.watch_start", {"session": session.id})
        self._to_desks(agent_id, self._desk_notice(session))
        return session

    def _desk_notice(self, session: CobrowseSession) -> dict[str, Any]:
        return {
            "type": "cobrowse.watch",
            "session": session.id,
            "by": session.watcher_name or session.watcher,
            **self.client_config(),
        }

    # ---- the recording side ------------------------------------------------------------
    def consent(self, session: CobrowseSession, allow: bool) -> None:
        """The visitor answered the prompt. Deny ends the session; nothing was recorded."""
        if not session.live or session.kind == "desk":
            raise CobrowseError(N_("this co-browsing session is over"), 409)
        if not allow:
            self.end(session, "denied")
            return
        session.state = "active"
        if not session.viewers and session.alone_since is None:
            session.alone_since = self.reactor.seconds()  # recording for nobody: not for long
        self._to_viewers(session, {"type": "cobrowse.state", "state": "active"})
        self.ask_snapshot(session, force=True)

    def admit(self, session: CobrowseSession, raw_size: int) -> None:
        """Whether the recording side may send a body of ``raw_size`` bytes now (allowed,
        within the rate): asked BEFORE the body is parsed, so a token's flood of large
        bodies is refused without the reactor parsing each (4 MB of ``[{},{},...]`` is a
        million objects)."""
        if session.state != "active":
            raise CobrowseError(N_("recording has not been allowed"), 409)
        if raw_size > MAX_SNAPSHOT_BYTES:
            raise CobrowseError(N_("too many page events at once"), 413)
        assert session.batches is not None and session.volume is not None
        if not session.batches.take(1) or not session.volume.take(raw_size):
            raise CobrowseError(N_("page events are sent too fast"), 429)

    def post(
        self, session: CobrowseSession, raw_size: int, events: list[Any], admitted: bool = False
    ) -> None:
        """A batch from the recording side (already parsed, and ``admitted`` when its body
        was; checked here)."""
        if not admitted:
            self.admit(session, raw_size)
        limit = MAX_SNAPSHOT_BYTES if _starts_full(events) else MAX_BATCH_BYTES
        if raw_size > limit:
            raise CobrowseError(N_("too many page events at once"), 413)
        full = check_events(events)
        try:
            data = frame({"type": "cobrowse.events", "session": session.id, "events": events})
        except RecursionError:  # nested just below what the parser took
            raise CobrowseError(N_("not a batch of page events")) from None
        behind = False
        for viewer in list(session.viewers):
            if viewer.stale and not full:
                continue
            viewer.stale = False
            if not viewer.send(data):
                viewer.stale = True
                behind = True
        if behind:
            log.info("co-browsing viewer of {id} fell behind: fresh snapshot", id=session.id)
            self.ask_snapshot(session)

    def ask_snapshot(self, session: CobrowseSession, force: bool = False) -> None:
        """Ask the recording side for a full snapshot (a viewer came or fell behind)."""
        now = self.reactor.seconds()
        if not force and now - session.last_ask < SNAPSHOT_ASK_S:
            return
        session.last_ask = now
        self._to_source(session, {"type": "cobrowse.snapshot", "session": session.id})

    # ---- the viewing side --------------------------------------------------------------
    def push_page(self, session: CobrowseSession, url: str, allowed: Callable[[str], bool]) -> None:
        """Send the visitor to ``url``, only on one of the center's sites (chat_origins)."""
        if session.kind == "desk" or session.state != "active":
            raise CobrowseError(N_("there is no visitor page to send"), 409)
        origin = page_origin(url)
        if origin is None or not allowed(origin):
            raise CobrowseError(N_("this page is not on one of the center's web sites"), 400)
        self._to_source(session, {"type": "cobrowse.push", "session": session.id, "url": url})

    def highlight(self, session: CobrowseSession, node: int) -> None:
        if session.kind == "desk" or session.state != "active":
            raise CobrowseError(N_("there is no visitor page to point at"), 409)
        if type(node) is not int or not 0 <= node < 2**31:
            raise CobrowseError(N_("not an element of the page"))
        self._to_source(
            session, {"type": "cobrowse.highlight", "session": session.id, "node": node}
        )

    # ---- streams -----------------------------------------------------------------------
    def add_viewer(self, session: CobrowseSession, stream: EventStream) -> None:
        if len(session.viewers) >= MAX_VIEWERS:  # the oldest goes (a reload's leftover)
            oldest = next(iter(session.viewers))
            session.viewers.discard(oldest)
            oldest.close()
        session.viewers.add(stream)
        session.alone_since = None
        stream.stale = True  # nothing until a full snapshot
        stream.send_event(self._state_event(session))
        if session.state == "active":
            self.ask_snapshot(session, force=True)

    def add_source(self, session: CobrowseSession, stream: EventStream) -> None:
        if session.source is not None and session.source is not stream:
            old, session.source = session.source, None
            old.close()
        session.source = stream
        session.alone_since = None
        stream.send_event(self._state_event(session))
        if session.state == "active" and session.viewers:
            self.ask_snapshot(session, force=True)

    def add_desk(self, agent_id: int, stream: EventStream) -> None:
        """A desk page of ``agent_id`` opened its control stream: it hears at once of the
        watches already running (a reload keeps the banner)."""
        streams = self.desks.setdefault(agent_id, set())
        if len(streams) >= MAX_DESK_STREAMS:
            oldest = next(iter(streams))
            streams.discard(oldest)
            oldest.close()
        self.desks.setdefault(agent_id, set()).add(stream)
        for s in self.sessions.values():
            if s.kind == "desk" and s.agent_id == agent_id and s.live:
                stream.send_event(self._desk_notice(s))

    def stream_gone(self, stream: EventStream) -> None:
        now = self.reactor.seconds()
        for session in self.sessions.values():
            session.viewers.discard(stream)
            if session.source is stream:
                session.source = None
                if session.kind == "chat" and session.state == "active":
                    self._call_back(session, now + RESUME_FOR_S)
            if session.live and not session.viewers and session.alone_since is None:
                session.alone_since = now
        for agent_id, streams in list(self.desks.items()):
            streams.discard(stream)
            if not streams:
                del self.desks[agent_id]

    def _call_back(self, session: CobrowseSession, until: float) -> None:
        """Tell the chat's widget (on whatever page it now is) to resume recording; it
        holds the token in sessionStorage. Until the page's control stream is back."""
        if session.source is not None or not session.live:
            return
        if self.reactor.seconds() > until:
            return
        event = {"type": "cobrowse.resume", "session": session.id}
        self._to_visitor_by_chat(session, event)
        session.resume_call = self.reactor.callLater(
            RESUME_EVERY_S, self._call_back, session, until
        )

    def _state_event(self, session: CobrowseSession) -> dict[str, Any]:
        return {
            "type": "cobrowse.state",
            "session": session.id,
            "kind": session.kind,
            "state": session.state,
            "agent": session.agent_name,
            "reason": session.ended_reason or None,
        }

    # ---- ending ------------------------------------------------------------------------
    def end(self, session: CobrowseSession, reason: str, by: str = "") -> None:
        """Over for both sides (idempotent); a desk watch's end is audited."""
        if not session.live:
            return
        session.state = "ended"
        session.ended_reason = reason
        event = {"type": "cobrowse.stop", "session": session.id, "reason": reason}
        self._to_source(session, event)
        self._to_viewers(session, event)
        if session.kind == "chat":
            self._to_visitor_by_chat(session, event)
        seconds = round(self.reactor.seconds() - session.created_at)
        detail: dict[str, Any] = {"session": session.id, "reason": reason, "seconds": seconds}
        if by:
            detail["by"] = by
        stop = "cobrowse.watch_stop" if session.kind == "desk" else "cobrowse.stop"
        self._audit(session, stop, detail)
        for stream in [*session.viewers, *([session.source] if session.source else [])]:
            stream.close()
        session.viewers.clear()
        session.source = None
        if session.resume_call is not None and session.resume_call.active():
            session.resume_call.cancel()
        self._forget[session.id] = self.reactor.callLater(60, self._forget_session, session.id)

    def _forget_session(self, session_id: str) -> None:
        self._forget.pop(session_id, None)
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self.by_token.pop(session.token, None)

    def end_conversation(self, conversation_id: int) -> None:
        for s in list(self.sessions.values()):
            if s.kind == "chat" and s.conversation_id == conversation_id:
                self.end(s, "chat_ended")

    def conversation_moved(self, conversation_id: int, agent_id: int | None) -> None:
        """A chat now with another agent (a transfer) or none: its co-browsing ends (the
        visitor allowed the first agent, not whoever takes the chat next)."""
        for s in list(self.sessions.values()):
            mine = s.kind == "chat" and s.conversation_id == conversation_id
            if mine and s.live and s.agent_id != agent_id:
                self.end(s, "transferred")

    def heartbeat(self) -> None:
        now = self.reactor.seconds()
        streams = {st for s in self.sessions.values() for st in s.viewers}
        streams |= {s.source for s in self.sessions.values() if s.source is not None}
        streams |= {st for group in self.desks.values() for st in group}
        for stream in streams:
            if stream.paused_at is not None and now - stream.paused_at > STALLED_S:
                stream.close()
            else:
                stream.heartbeat()
        for s in list(self.sessions.values()):
            if not s.live:
                continue
            if s.state == "requested" and now - s.created_at > REQUEST_TIMEOUT_S:
                self.end(s, "timeout")
            elif s.alone_since is not None and not s.viewers:
                alone = DESK_ALONE_S if s.kind == "desk" else ALONE_S
                if now - s.alone_since > alone:
                    self.end(s, "viewer_left")

    # ---- fan-out -----------------------------------------------------------------------
    def _to_source(self, session: CobrowseSession, event: dict[str, Any]) -> None:
        """To the recording page: a visitor's control stream, or every desk page of the
        watched agent."""
        if session.kind == "desk":
            self._to_desks(session.agent_id, event)
        elif session.source is not None:
            session.source.send_event(event)

    def _to_viewers(self, session: CobrowseSession, event: dict[str, Any]) -> None:
        data = frame({"session": session.id, **event})
        for viewer in list(session.viewers):
            viewer.send(data)

    def _to_desks(self, agent_id: int, event: dict[str, Any]) -> None:
        for stream in list(self.desks.get(agent_id, ())):
            stream.send_event(event)

    def _to_visitor_by_chat(self, session: CobrowseSession, event: dict[str, Any]) -> None:
        if self.relay is None or session.conversation_id is None:
            return
        try:
            self.relay(session.conversation_id, "staff", event)
        except Exception:  # the engine's listeners must not break the relay
            log.failure("co-browsing event not relayed to the chat")

    def _audit(self, session: CobrowseSession, action: str, detail: dict[str, Any]) -> None:
        if self.audit is None:
            return
        if session.kind == "chat":
            target = f"conversation:{session.conversation_id}"
        else:
            target = f"agent:{session.agent_id}"
        actor = session.actor or "?"
        try:
            d = self.audit(actor, action, target, detail, session.actor_address)
        except Exception:
            log.failure("co-browsing audit row not written")
            return
        add_errback = getattr(d, "addErrback", None)
        if add_errback is not None:
            add_errback(lambda f: log.failure("co-browsing audit row not written", f))


def _starts_full(events: Any) -> bool:
    """Whether a batch opens with a Meta or a full snapshot (may exceed MAX_BATCH_BYTES)."""
    if not isinstance(events, list) or not events or not isinstance(events[0], dict):
        return False
    return events[0].get("type") in (META, FULL_SNAPSHOT)
