"""The HTTP lookup node: ask a site's own system about a collected value.

``GET <url>?key=<value>`` with a time limit; a 200 answer with a JSON object is "found" and
its fields (text, bounded) become flow variables; anything else (404, a timeout, a refused
connection, a body that is not a JSON object or is too big) is "not found" and is logged.
Twisted's own HTTP client: the reactor never waits.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.web.client import Agent, ResponseDone
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers

log = Logger(namespace="ccbox.ivr.http")
MAX_BODY = 64 * 1024
MAX_FIELDS = 20


class HTTPLookup:
    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.agent = Agent(reactor, connectTimeout=5)

    async def __call__(self, url: str, key: str, timeout_s: int) -> dict[str, str] | None:
        sep = "&" if "?" in url else "?"
        target = f"{url}{sep}{urlencode({'key': key[:64]})}"
        d = self.agent.request(
            b"GET", target.encode("ascii", "ignore"), Headers({b"Accept": [b"application/json"]})
        )
        d.addCallback(self._body)
        d.addTimeout(timeout_s, self.reactor)
        try:
            status, body = await d
        except Exception as exc:
            log.warn("lookup {url} failed: {why}", url=url, why=exc)
            return None
        if status != 200:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            log.warn("lookup {url}: the answer is not JSON", url=url)
            return None
        if not isinstance(data, dict):
            return None
        return {str(k)[:32]: str(v)[:256] for k, v in list(data.items())[:MAX_FIELDS]}

    def _body(self, response: Any) -> defer.Deferred[tuple[int, bytes]]:
        done: defer.Deferred[bytes] = defer.Deferred()
        response.deliverBody(_Bounded(done, MAX_BODY))
        return done.addCallback(lambda body: (response.code, body))


class _Bounded(protocol.Protocol):
    """Collects a response body up to ``limit`` bytes; a bigger one is cut off and refused
    (never held whole in memory)."""

    def __init__(self, done: defer.Deferred[bytes], limit: int) -> None:
        self.done, self.limit = done, limit
        self.parts: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            if not self.done.called:
                self.done.errback(ValueError(f"the answer is larger than {self.limit} bytes"))
            if self.transport is not None:
                self.transport.stopProducing()
            return
        self.parts.append(data)

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            if reason is None or reason.check(ResponseDone, PotentialDataLoss):
                self.done.callback(b"".join(self.parts))
            else:
                self.done.errback(reason)
