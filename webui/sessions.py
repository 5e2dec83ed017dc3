"""Server-side web sessions: a random id in an HttpOnly cookie, the data in memory.

Written here rather than using CherryPy's session tool: that tool relies on CherryPy's
global engine to expire sessions, and the engine does not run inside the Twisted process.
Every visitor gets a session (so the login form has a CSRF token too); logging in rotates
the id, so a planted id can never become a logged-in one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class SessionUser:
    id: int
    username: str
    role: str
    display_name: str


@dataclass
class Session:
    id: str
    csrf_token: str
    created: float
    last_seen: float
    user: SessionUser | None = None
    locale: str | None = None
    flash: list[str] = field(default_factory=list)


class SessionStore:
    """Thread-safe: WSGI worker threads read and write it; the reactor purges it."""

    MAX_SESSIONS = 10_000

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _new(self) -> Session:
        now = self.clock()
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now, now)
        self._sessions[s.id] = s
        return s

    def get_or_create(self, session_id: str | None) -> tuple[Session, bool]:
        """The live session for ``session_id``, or a new one; the flag says it is new."""
        with self._lock:
            now = self.clock()
            s = self._sessions.get(session_id or "")
            if s is not None and now - s.last_seen <= self.idle_seconds:
                s.last_seen = now
                return s, False
            if s is not None:
                del self._sessions[s.id]
            if len(self._sessions) >= self.MAX_SESSIONS:
                self._purge_locked(now)
                # Still full: anonymous sessions are cheap to lose, logged-in ones are not.
                if len(self._sessions) >= self.MAX_SESSIONS:
                    self._drop_oldest_anonymous()
            return self._new(), True

    def peek(self, session_id: str, touch: bool = False) -> Session | None:
        """The live, logged-in session ``session_id``, never creating one (a live-events
        stream must not mint anonymous sessions); ``touch`` counts as activity. The lock is
        held for a dict look-up only, so the reactor thread may call this."""
        with self._lock:
            s = self._sessions.get(session_id)
            if s is None or s.user is None:
                return None
            now = self.clock()
            if now - s.last_seen > self.idle_seconds:
                return None
            if touch:
                s.last_seen = now
            return s

    def rotate(self, old: Session, user: SessionUser | None) -> Session:
        """A new id (and CSRF token) for a login or logout; the old id stops working."""
        with self._lock:
            self._sessions.pop(old.id, None)
            new = self._new()
            new.user = user
            new.locale = old.locale
            return new

    def drop_user(self, user_id: int) -> int:
        """End every session of a user (disabled account, password change)."""
        with self._lock:
            ids = [k for k, s in self._sessions.items() if s.user and s.user.id == user_id]
            for k in ids:
                del self._sessions[k]
            return len(ids)

    def purge(self) -> int:
        with self._lock:
            return self._purge_locked(self.clock())

    def _purge_locked(self, now: float) -> int:
        dead = [k for k, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]
        for k in dead:
            del self._sessions[k]
        return len(dead)

    def _drop_oldest_anonymous(self) -> None:
        anon = sorted(
            (s for s in self._sessions.values() if s.user is None), key=lambda s: s.last_seen
        )
        for s in anon[: max(1, len(anon) // 10)]:
            del self._sessions[s.id]

    def __len__(self) -> int:
        return len(self._sessions)
