"""The web sites allowed to embed the widget (``chat_origins``, edited by the admin), held in
memory and refreshed on a short timer so a request never waits on the database.

A browser sends ``Origin`` as ``scheme://host[:port]`` in lower case with no path and no
trailing slash. The check is an exact match against the stored rows (lower-cased when
loaded, so an admin's ``https://Shop.example.cn`` still matches what browsers send); the
header is compared as sent: ``null`` (sandboxed frames, file: pages), a trailing slash,
spaces, upper case, a second origin or a look-alike suffix never match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task
from twisted.logger import Logger

log = Logger(namespace="ccbox.web.chat")

REFRESH_S = 10.0
MAX_ORIGIN = 200


def normalise(origin: str) -> str:
    """A stored origin as browsers send it: no spaces, no trailing slash, lower case."""
    return origin.strip().rstrip("/").lower()


class OriginAllowList:
    """``allowed(origin)`` on the reactor thread; ``refresh()`` reloads from ``load``."""

    def __init__(
        self,
        reactor: Any,
        load: Callable[[], defer.Deferred[list[str]]],
        every_s: float = REFRESH_S,
    ) -> None:
        self.reactor = reactor
        self.load = load
        self.every_s = every_s
        self.origins: frozenset[str] = frozenset()
        self.loaded = False
        self._timer: task.LoopingCall | None = None

    def start(self) -> defer.Deferred[None]:
        """Load now, then every ``every_s`` seconds; fires after the first load."""
        self._timer = task.LoopingCall(self.refresh)
        self._timer.clock = self.reactor
        d = self._timer.start(self.every_s, now=False)
        d.addErrback(lambda f: log.failure("chat origins' refresh stopped", f))
        return self.refresh()

    def stop(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()

    def refresh(self) -> defer.Deferred[None]:
        """Reload; a failed load keeps the last list (logged)."""

        def loaded(rows: list[str]) -> None:
            self.origins = frozenset(normalise(r) for r in rows if r.strip())
            self.loaded = True

        def failed(f: Any) -> None:
            log.warn("chat origins not reloaded (the last list stays): {why}", why=f.value)

        return self.load().addCallbacks(loaded, failed)

    def allowed(self, origin: bytes | str | None) -> str | None:
        """The origin (text) when it is allowed, else None."""
        if origin is None:
            return None
        if isinstance(origin, bytes):
            if len(origin) > MAX_ORIGIN:
                return None
            try:
                origin = origin.decode("ascii")
            except UnicodeDecodeError:
                return None
        if len(origin) > MAX_ORIGIN or origin != origin.strip():
            return None
        return origin if origin in self.origins else None
