"""A tiny blocking HTTP client with a cookie jar that does not follow redirects (for tests)."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: str
    raw: bytes = b""  # the body as sent (a download)

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def csrf(self) -> str:
        m = CSRF_RE.search(self.body)
        assert m, "no CSRF token in the page"
        return m.group(1)


class Browser:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            raw = r.read()
            text = raw.decode("utf-8", "replace")
        finally:
            conn.close()
        for raw in r.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for k, morsel in jar.items():
                self.cookies[k] = morsel.value
        return Response(r.status, r.headers, text, raw)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(
        self,
        path: str,
        form: dict[str, str] | list[tuple[str, str]],
        headers: dict[str, str] | None = None,
    ) -> Response:
        data = urllib.parse.urlencode(form).encode()
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, data, hdrs)

    def post_json(
        self,
        path: str,
        payload: Any,
        csrf: str | None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Response:
        hdrs = {"Content-Type": content_type}
        if csrf:
            hdrs["X-CSRF-Token"] = csrf
        body = raw if raw is not None else json.dumps(payload).encode()
        return self.request("POST", path, body, hdrs)

    def login(self, username: str, password: str, next_: str = "/") -> Response:
        token = self.get("/login").csrf()
        return self.post(
            "/login", {"_csrf": token, "username": username, "password": password, "next": next_}
        )
