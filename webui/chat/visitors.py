"""The visitors of the public chat endpoint: each started chat gets a random token (its only
credential: no cookie) that names its session here, by the token's SHA-256.

A visitor with no open stream and no request for ``idle_close_s`` has its chat ended
(``customer_left(..., reason="idle")``); an ended chat's session stays ``keep_ended_s`` so
the visitor may still fetch its files and ask for the transcript.

With a store (appliance/db/chat_visitor_store.py) the sessions outlive a daemon restart, as
the engine's conversations do: ``restore()`` reads them back before a token is answered (a
token asked for meanwhile is "restarting", never "unknown", which would end the visitor's
chat in the widget). A restored visitor has ``idle_close_s`` from the restart to come back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.logger import Logger

if TYPE_CHECKING:
    from appliance.db.chat_visitor_store import ChatVisitorStore

log = Logger(namespace="ccbox.web.chat")

SWEEP_S = 30.0
KEEP_ENDED_S = 3600.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(eq=False)
class VisitorSession:
    # the token as given to the widget; "" once restored (only its hash is stored)
    token: str
    key: str  # token_hash(token): what the session is known by
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
        store: ChatVisitorStore | None = None,
    ) -> None:
        self.clock = clock
        self.idle_close_s = idle_close_s
        self.on_idle = on_idle
        self.keep_ended_s = keep_ended_s
        self.store = store
        self.restored = store is None  # the last run's sessions are read back
        self._by_key: dict[str, VisitorSession] = {}
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
            key=token_hash(token),
            conversation_id=conversation_id,
            address=address,
            origin=origin,
            name=name,
            email=email,
            language=language,
            last_seen=self.clock.seconds(),
        )
        self._by_key[s.key] = s
        if self.store is not None:
            d = self.store.add(
                s.key,
                conversation_id,
                address=address,
                origin=origin,
                name=name,
                email=email,
                language=language,
            )
            d.addErrback(
                lambda f: log.warn(
                    "chat {id}: its visitor's session not stored (a restart would end it): {why}",
                    id=conversation_id,
                    why=f.getErrorMessage(),
                )
            )
        return s

    async def restore(self) -> int:
        """The sessions of the last run, read back (the stale ones deleted); how many."""
        if self.store is None or self.restored:
            return 0
        try:
            rows = await self.store.restorable(dt.timedelta(seconds=self.keep_ended_s))
        finally:
            self.restored = True  # (a failure is the caller's to log: the chats go on)
        now, wall = self.clock.seconds(), dt.datetime.now(dt.UTC)
        for r in rows:
            if r.token_hash in self._by_key:
                continue
            ended_at = None
            if r.ended_at is not None:
                ended_at = now - max(0.0, (wall - r.ended_at).total_seconds())
            self._by_key[r.token_hash] = VisitorSession(
                token="",
                key=r.token_hash,
                conversation_id=r.conversation_id,
                address=r.address,
                origin=r.origin,
                name=r.name,
                email=r.email,
                language=r.language,
                last_seen=now,
                ended_at=ended_at,
                attachments=set(r.unsent),
                files_stored=r.files_stored,
            )
        return len(rows)

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
        try:
            return self._by_key.get(token_hash(token))
        except UnicodeEncodeError:
            return None

    def touch(self, s: VisitorSession) -> None:
        """The visitor did something: its idle time starts again."""
        s.last_seen = self.clock.seconds()

    def by_conversation(self, conversation_id: int) -> list[VisitorSession]:
        return [s for s in self._by_key.values() if s.conversation_id == conversation_id]

    def mark_ended(self, conversation_id: int) -> None:
        now = self.clock.seconds()
        for s in self.by_conversation(conversation_id):
            if s.ended_at is None:
                s.ended_at = now

    def sweep(self) -> None:
        """End the idle visitors' chats; forget the sessions ended long ago."""
        now = self.clock.seconds()
        for key, s in list(self._by_key.items()):
            if s.ended_at is not None:
                if now - s.ended_at >= self.keep_ended_s:
                    del self._by_key[key]
                    self._forget(s)
            elif s.streams == 0 and now - s.last_seen >= self.idle_close_s:
                s.ended_at = now
                log.info("chat {id}: visitor idle, ended", id=s.conversation_id)
                try:
                    self.on_idle(s)
                except Exception as exc:  # never stop the sweep
                    log.warn("chat {id}: idle end failed: {e}", id=s.conversation_id, e=exc)

    def _forget(self, s: VisitorSession) -> None:
        if self.store is None:
            return
        d: defer.Deferred[None] = self.store.remove(s.key)
        d.addErrback(
            lambda f: log.warn(
                "chat {id}: an ended visitor's session not deleted: {why}",
                id=s.conversation_id,
                why=f.getErrorMessage(),
            )
        )

    def __len__(self) -> int:
        return len(self._by_key)
