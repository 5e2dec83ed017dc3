"""The public chat endpoint's resource tree: ``/chat/widget.js``, ``/chat/static/<file>``
(a fixed list) and ``/chat/api/...``; every other path is 404, and no admin page, cookie
or session is known here.

Every API request comes from an allowed origin (webui/chat/origins.py) or is refused 403;
the answer's CORS headers echo that origin exactly (no credentials: the visitor's token
travels in ``X-Chat-Token``, never a cookie). Each address has a request budget (429 and
``Retry-After`` past it); the visitor's address is the peer's, or the last hop of
``X-Forwarded-For`` when the peer is one of ``[chat] trusted_proxies``.

Other parts add API resources with ``add_api(name, resource)`` (cobrowse: webui/cobrowse/);
they get the same origin check, CORS headers and budget, and find the visitor with
``visitor(request)`` (the token, given to that site).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

from twisted.web import resource
from twisted.web.resource import IResource

from webui import vendor
from webui.chat.limits import RateLimit, address_key
from webui.chat.origins import OriginAllowList
from webui.chat.visitors import VisitorRegistry, VisitorSession
from webui.service import LimitedRequest, QuietSite

STATIC = Path(__file__).resolve().parent.parent / "static" / "chat"
# The only files /chat/static/ serves: name -> content type.
STATIC_FILES = {
    "widget.css": "text/css; charset=utf-8",
    "cobrowse.js": "text/javascript; charset=utf-8",
}
WIDGET_CACHE = "public, max-age=300"
PUBLIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
ALLOW_HEADERS = "Content-Type, X-Chat-Token"
PREFLIGHT_MAX_AGE = "600"
REQUESTS_PER_MINUTE = 600  # one address's budget of API requests (a NAT holds many visitors)
BODY_SLACK = 16 * 1024
# Connections one address may hold (a visitor's stream and requests: a few; a carrier's NAT
# holds many visitors); the site's: a visitor's stream and keep-alive connection each, and
# some besides.
CONNECTIONS_PER_ADDRESS = 128
CONNECTIONS_PER_VISITOR = 2
CONNECTION_SLACK = 256
_CACHE: dict[Path, bytes] = {}


def _res(child: resource.Resource) -> IResource:
    return cast(IResource, child)


def json_answer(request: Any, status: int, data: dict[str, Any]) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(data, ensure_ascii=False).encode()


def error(request: Any, status: int, message: str, code: str = "error") -> bytes:
    return json_answer(request, status, {"error": message, "code": code})


class ErrorResource(resource.Resource):
    isLeaf = True

    def __init__(self, status: int, message: str, code: str, retry_after: float = 0) -> None:
        super().__init__()
        self.status, self.message, self.code = status, message, code
        self.retry_after = retry_after

    def render(self, request: Any) -> bytes:
        if self.retry_after:
            request.setHeader(b"Retry-After", str(int(self.retry_after)).encode())
        return error(request, self.status, self.message, self.code)


NOT_FOUND = ErrorResource(404, "not found", "not_found")


def client_address(request: Any, trusted_proxies: Collection[str]) -> str:
    """The visitor's address: the peer, or X-Forwarded-For's last hop when the peer is a
    trusted proxy (the hops before it are the client's own claims)."""
    peer = str(getattr(request.getClientAddress(), "host", "") or "")
    if peer not in trusted_proxies:
        return peer
    raw = request.getHeader(b"x-forwarded-for")
    if not raw:
        return peer
    last = raw.split(b",")[-1].strip().decode("ascii", "replace")
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


class ChatRequest(LimitedRequest):
    """Refuses a body before reading it: chunked (no length: 411) or longer than the
    site's ``max_body`` (413), answered at once and the connection closed."""

    def gotLength(self, length: int | None) -> None:
        if length is None:
            self._refuse(b"411 Length Required")
        super().gotLength(length)


class ChatSite(QuietSite):
    """The public site. Connections are capped, ``max_connections`` in all and
    ``per_address`` from one address (its /64 for IPv6; a trusted proxy has no cap of its
    own): past a cap a new connection is closed at once. This port faces the internet and
    shares the daemon's descriptors with the calls (FastAGI, the database): idle or
    trickling sockets (Twisted closes a silent one only after a minute) must not use them
    up."""

    requestFactory = ChatRequest

    def __init__(
        self,
        root: resource.Resource,
        max_body: int,
        *,
        max_connections: int,
        per_address: int = CONNECTIONS_PER_ADDRESS,
        trusted_proxies: Collection[str] = (),
    ) -> None:
        super().__init__(root)
        self.max_body = max_body
        self.displayTracebacks = False
        self.max_connections = max_connections
        self.per_address = per_address
        self.trusted_proxies = frozenset(trusted_proxies)
        self.connections: dict[str, int] = {}  # address key -> open connections
        self.open = 0
        self.refused = 0

    def logged_uri(self, request: Any) -> bytes:
        """The access line without the query: the stream's carries the visitor's token."""
        return bytes(request.path)

    def buildProtocol(self, addr: Any) -> Any:
        host = str(getattr(addr, "host", "") or "")
        key = host if host in self.trusted_proxies else address_key(host)
        held = self.connections.get(key, 0)
        capped = host not in self.trusted_proxies and held >= self.per_address
        if self.open >= self.max_connections or capped:
            self.refused += 1
            return None  # Twisted closes it: no descriptor held
        proto = super().buildProtocol(addr)
        if proto is None:
            return None
        self.open += 1
        self.connections[key] = held + 1
        lost = proto.connectionLost

        def connection_lost(reason: Any) -> None:
            self._release(key)
            lost(reason)

        proto.connectionLost = connection_lost
        return proto

    def _release(self, key: str) -> None:
        self.open -= 1
        left = self.connections.get(key, 1) - 1
        if left > 0:
            self.connections[key] = left
        else:
            self.connections.pop(key, None)


class StaticFile(resource.Resource):
    """One file of the allow-list, read once (they are small and ship with the box)."""

    isLeaf = True

    def __init__(self, path: Path, content_type: str, cache: str) -> None:
        super().__init__()
        self.path, self.content_type, self.cache = path, content_type, cache

    def render_GET(self, request: Any) -> bytes:
        data = _CACHE.get(self.path)
        if data is None:
            try:
                data = _CACHE[self.path] = self.path.read_bytes()  # small, shipped: read once
            except OSError:
                return error(request, 404, "not found", "not_found")
        request.setHeader(b"Content-Type", self.content_type.encode())
        request.setHeader(b"Cache-Control", self.cache.encode())
        request.setHeader(b"Cross-Origin-Resource-Policy", b"cross-origin")
        return data


class StaticDir(resource.Resource):
    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        name = path.decode("ascii", "replace")
        if request.postpath:
            return NOT_FOUND
        npm = vendor.chat_public_files()  # rrweb's recorder (co-browsing), from node_modules
        if name in npm:
            return StaticFile(npm[name], "text/javascript; charset=utf-8", "no-cache")
        if name not in STATIC_FILES:
            return NOT_FOUND
        return StaticFile(STATIC / name, STATIC_FILES[name], "no-cache")

    def render(self, request: Any) -> bytes:
        return error(request, 404, "not found", "not_found")


class ChatApi(resource.Resource):
    """``/chat/api/<name>``: the origin check, CORS, the address's budget, then the child."""

    def __init__(self, root: PublicChatRoot) -> None:
        super().__init__()
        self.root = root

    def getChildWithDefault(self, path: bytes, request: Any) -> resource.Resource:
        root = self.root
        wait = root.requests.hit(address_key(root.address(request)))  # every request counts
        origin = root.origins.allowed(request.getHeader(b"origin"))
        if origin is not None:  # the widget may read the answer, a 429 too
            request.chat_origin = origin
            request.setHeader(b"Access-Control-Allow-Origin", origin.encode())
            request.setHeader(b"Vary", b"Origin")
            request.setHeader(b"Access-Control-Expose-Headers", b"Retry-After")
        if wait:
            return ErrorResource(429, "too many requests", "rate_limited", wait)
        if origin is None:
            return ErrorResource(403, "this site may not use the chat", "origin")
        if request.method == b"OPTIONS":
            return Preflight()
        child = self.children.get(path)
        return child if child is not None else NOT_FOUND

    def render(self, request: Any) -> bytes:
        return error(request, 404, "not found", "not_found")


class Preflight(resource.Resource):
    isLeaf = True

    def render(self, request: Any) -> bytes:
        request.setResponseCode(204)
        request.setHeader(b"Access-Control-Allow-Methods", b"GET, POST")
        request.setHeader(b"Access-Control-Allow-Headers", ALLOW_HEADERS.encode())
        request.setHeader(b"Access-Control-Max-Age", PREFLIGHT_MAX_AGE.encode())
        return b""


class ChatNamespace(resource.Resource):
    def __init__(self, api: ChatApi) -> None:
        super().__init__()
        widget = StaticFile(STATIC / "widget.js", "text/javascript; charset=utf-8", WIDGET_CACHE)
        self.putChild(b"widget.js", _res(widget))
        self.putChild(b"static", _res(StaticDir()))
        self.putChild(b"api", _res(api))

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        return NOT_FOUND

    def render(self, request: Any) -> bytes:
        return error(request, 404, "not found", "not_found")


class PublicChatRoot(resource.Resource):
    """The site's root: ``/chat`` and nothing else."""

    def __init__(
        self,
        *,
        clock: Any,
        origins: OriginAllowList,
        visitors: VisitorRegistry,
        trusted_proxies: Collection[str] = (),
        requests_per_minute: int = REQUESTS_PER_MINUTE,
    ) -> None:
        super().__init__()
        self.clock = clock
        self.origins = origins
        self.visitors = visitors
        self.trusted_proxies = frozenset(trusted_proxies)
        self.requests = RateLimit(clock, requests_per_minute, 60.0)
        self.api = ChatApi(self)
        self.putChild(b"chat", _res(ChatNamespace(self.api)))

    def add_api(self, name: bytes, child: resource.Resource) -> None:
        """Mount ``child`` at ``/chat/api/<name>`` (behind the origin check and CORS)."""
        if name in self.api.children:
            raise ValueError(f"/chat/api/{name.decode()} is already mounted")
        self.api.putChild(name, _res(child))

    def address(self, request: Any) -> str:
        return client_address(request, self.trusted_proxies)

    def visitor(self, request: Any, *, query: bool = False) -> VisitorSession | None:
        """The session of the request's token (``X-Chat-Token``; ``?t=`` too when
        ``query``: a GET that cannot send headers), given to the request's own site; None
        for anything else. For the API resources mounted with ``add_api``."""
        raw = request.getHeader(b"x-chat-token")
        if raw is None and query:
            raw = (request.args.get(b"t") or [None])[0]
        s = self.visitors.by_token(raw)
        if s is None or s.origin != getattr(request, "chat_origin", None):
            return None
        self.visitors.touch(s)  # (after the check: another site's request is no activity)
        return s

    def getChildWithDefault(self, path: bytes, request: Any) -> resource.Resource:
        for name, value in PUBLIC_HEADERS.items():
            request.setHeader(name.encode(), value.encode())
        return super().getChildWithDefault(path, request)

    def getChild(self, path: bytes, request: Any) -> resource.Resource:
        return NOT_FOUND

    def render(self, request: Any) -> bytes:
        return error(request, 404, "not found", "not_found")
