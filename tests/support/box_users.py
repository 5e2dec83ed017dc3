"""The tests' users of a running ccboxd's web API (tests/support/appliance.py USERS): one
logged-in client per user, and the ACD state actions the boxes' scenarios use."""

from __future__ import annotations

from typing import Any

from tests.support.appliance import USERS
from tests.support.http import Browser, Response


class BoxUsers:
    """Mixed into a box that knows its web port (``web_port``)."""

    web_port: int
    _browsers: dict[str, tuple[Browser, str]]

    def browser(self, username: str = "admin") -> tuple[Browser, str]:
        """A logged-in HTTP client for one of USERS and its CSRF token (kept per user)."""
        if username not in self._browsers:
            b = Browser(self.web_port)
            r = b.login(username, USERS[username][1])
            assert r.status == 303, (r.status, r.body[:300])
            self._browsers[username] = (b, b.get("/").csrf())
        return self._browsers[username]

    def api(self, path: str, payload: Any = None, username: str = "admin") -> Response:
        """GET (no payload) or POST JSON with the CSRF header, as ``username``."""
        b, token = self.browser(username)
        if payload is None:
            return b.get(path)
        return b.post_json(path, payload, token)

    def acd(self, action: str, agent: str, reason: str = "break") -> dict[str, Any]:
        r = self.api("/api/acd/state", {"action": action, "agent": agent, "reason": reason})
        assert r.status == 200, (action, agent, r.status, r.body[:300])
        result: dict[str, Any] = r.json()
        return result

    def agents_login(self, *numbers: str) -> None:
        """Log the agents in (as admin, through /api/acd/state): they become available."""
        for number in numbers:
            self.acd("login", number)
