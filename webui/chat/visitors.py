"""The visitors of the public chat endpoint: each started chat gets a random token (its only
credential: no cookie) that names its session here.

The sessions are in memory: a daemon restart ends them (the engine ends the conversations
it finds open). A visitor with no open stream and no request for ``idle_close_s`` has its
chat ended (``customer_left(..., reason="idle")``); an ended chat's session stays
``keep_ended_s`` so the visitor may still fetch its files and ask for the transcript.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import task
from twisted.logger import Logger

log = Logger(namespace="ccbox.web.chat")

SWEEP_S = 30.0
KEEP_ENDED_S = 3600.0


@dataclass(eq=False)
class VisitorSession:
    token: str
    conversation_id: int
    address: str
    origin: str
    name: str
    email: str
    language: str
    last_seen: float
    streams: int = 0
    ended_at: float | None = None
    transcript_sent: bool = False
    attachments: set[int] = field(default_factory=set)  # stored, not yet sent
    files_stored: int = 0

    @property
    def ended(self) -> bool:
        return self.ended_at is not None


class VisitorRegistry:
    """Sessions by token; the idle sweep on the reactor's clock."""

    def __init__(
        self,
        clock: Any,
        idle_close_s: float,
        on_idle: Callable[[VisitorSession], object],
        keep_ended_s: float = KEEP_ENDED_S,
    ) -> None:
        self.clock = clock
        self.idle_close_s = idle_close_s
        self.on_idle = on_idle
        self.keep_ended_s = keep_ended_s
        self._by_token: dict[str, VisitorSession] = {}
        self._sweep: task.LoopingCall | None = None

    def start(self) -> None:
        self._sweep = task.LoopingCall(self.sweep)
        self._sweep.clock = self.clock
        self._sweep.start(SWEEP_S, now=False)

    def stop(self) -> None:
        if self._sweep is not None and self._sweep.running:
            self._sweep.stop()

    def add(
        self,
        conversation_id: int,
        *,
        address: str,
        origin: str,
        name: str,
        email: str,
        language: str,
    ) -> VisitorSession:
        token = secrets.token_urlsafe(32)
        s = VisitorSession(
            token=token,
            conversation_id=conversation_id,
            address=address,
            origin=origin,
            name=name,
            email=email,
            language=language,
            last_seen=self.clock.seconds(),
        )
        self._by_token[token] = s
        return s

    def by_token(self, token: str | bytes | None) -> VisitorSession | None:
        """The session of that token (not touched: the caller checks the request's site
        first, then ``touch``es it; a leaked token sent from elsewhere keeps no chat
        alive)."""
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                return None
        if not token or len(token) > 64:
            return None
        return self._by_token.get(token)

    def touch(self, s: VisitorSession) -> None:
        """The visitor did something: its idle time starts again."""
        s.last_seen = self.clock.seconds()

    def by_conversation(self, conversation_id: int) -> list[VisitorSession]:
        return [s for s in self._by_token.values() if s.conversation_id == conversation_id]

    def mark_ended(self, conversation_id: int) -> None:
        now = self.clock.seconds()
        for s in self.by_conversation(conversation_id):
            if s.ended_at is None:
                s.ended_at = now

    def sweep(self) -> None:
        """End the idle visitors' chats; forget the sessions ended long ago."""
        now = self.clock.seconds()
        for token, s in list(self._by_token.items()):
            if s.ended_at is not None:
                if now - s.ended_at >= self.keep_ended_s:
                    del self._by_token[token]
            elif s.streams == 0 and now - s.last_seen >= self.idle_close_s:
                s.ended_at = now
                log.info("chat {id}: visitor idle, ended", id=s.conversation_id)
                try:
                    self.on_idle(s)
                except Exception as exc:  # never stop the sweep
                    log.warn("chat {id}: idle end failed: {e}", id=s.conversation_id, e=exc)

    def __len__(self) -> int:
        return len(self._by_token)
