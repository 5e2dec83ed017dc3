"""The web chat's public endpoint on a real loopback port, with the real channels' engine
and database (SQLite in a temporary folder), against every class of hostile input: the
origin (missing, another, "null", case and suffix tricks), the preflight, rate limits per
visitor and per address (X-Forwarded-For from an untrusted peer ignored), oversized,
chunked, binary and invalid UTF-8 bodies, JSON of the wrong shape, markup in names and
messages (kept and delivered as text), attachments typed by content, someone else's file,
a path traversal in /chat/static/, the admin pages and /events not on this port, a stolen
or invalid token, too many streams.

The client is raw HTTP over a TCP connection (the malformed requests a library would not
send are the point)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer, protocol, reactor
from twisted.internet.task import deferLater
from twisted.python import threadable
from twisted.trial import unittest

from acd.channels.service import ChannelService
from acd.service import ACD
from appliance import health
from appliance.config import ChatConfig, SmtpConfig
from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from tests.support.inline_db import migrated_sqlite
from tests.support.tmp import temp_dir
from webui.chat import api
from webui.chat.service import PublicChatService
from webui.chat.site import CONNECTIONS_PER_ADDRESS

ORIGIN = "https://shop.example.cn"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


def parse(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1]) if lines and b" " in lines[0] else 0
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode().strip().lower()] = value.decode("latin-1").strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Response(status, headers, body, raw)


class _Raw(protocol.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done: defer.Deferred[bytes] = defer.Deferred()
        self.arrived: list[defer.Deferred[None]] = []

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        waiting, self.arrived = self.arrived, []
        for d in waiting:
            d.callback(None)

    def connectionLost(self, reason: Any) -> None:
        if not self.done.called:
            self.done.callback(self.data)
        waiting, self.arrived = self.arrived, []
        for d in waiting:
            d.callback(None)


@dataclass
class Stream:
    """An open SSE connection: its events as they come."""

    proto: _Raw
    closed: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def parsed(self) -> list[dict[str, Any]]:
        _, _, body = self.proto.data.partition(b"\r\n\r\n")
        text = _dechunk(body) if b"\r\n" in body[:8] else body
        out = []
        for block in text.split(b"\n\n"):
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    out.append(json.loads(line[6:]))
        return out

    async def until(self, predicate: Any, seconds: float = 10.0) -> list[dict[str, Any]]:
        for _ in range(int(seconds / 0.02)):
            events = self.parsed()
            if predicate(events):
                return events
            await deferLater(reactor, 0.02, lambda: None)
        raise AssertionError(f"stream never showed it: {self.parsed()}")

    async def finished(self, seconds: float = 10.0) -> None:
        """Until the server ended the response (the last chunk) or closed."""
        for _ in range(int(seconds / 0.02)):
            if self.proto.done.called or self.proto.data.endswith(b"\r\n0\r\n\r\n"):
                return
            await deferLater(reactor, 0.02, lambda: None)
        raise AssertionError("the stream was not ended")

    def close(self) -> None:
        if self.proto.transport is not None:
            self.proto.transport.loseConnection()


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: list[_Raw] = []

    async def connect(self) -> _Raw:
        return await protocol.ClientCreator(reactor, _Raw).connectTCP("127.0.0.1", self.port)

    async def raw(self, data: bytes) -> Response:
        p = await self.connect()
        assert p.transport is not None
        p.transport.write(data)
        return parse(await p.done)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        origin: str | None = ORIGIN,
        token: str | None = None,
        ctype: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Response:
        h = {"Host": "box.example.cn", "Connection": "close"}
        if origin is not None:
            h["Origin"] = origin
        if token is not None:
            h["X-Chat-Token"] = token
        if body is not None:
            h["Content-Length"] = str(len(body))
            if ctype is not None:
                h["Content-Type"] = ctype
        h.update(headers or {})
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        return await self.raw(head.encode("latin-1") + b"\r\n" + (body or b""))

    async def post(self, path: str, data: Any, **kw: Any) -> Response:
        return await self.request("POST", path, json.dumps(data).encode(), **kw)

    async def stream(self, token: str, origin: str = ORIGIN) -> Stream:
        p = await self.connect()
        assert p.transport is not None
        head = f"GET /chat/api/stream?t={token} HTTP/1.1\r\nHost: box\r\nOrigin: {origin}\r\n"
        p.transport.write(head.encode() + b"\r\n")
        self.streams.append(p)
        return Stream(p)

    def close(self) -> None:
        for p in self.streams:
            if p.transport is not None:
                p.transport.abortConnection()


class PublicEndpointCase(unittest.TestCase):
    timeout = 15
    config = ChatConfig(
        bind="127.0.0.1",
        port=0,
        messages_per_minute=5,
        chats_per_hour=3,
        max_visitors=3,
        max_attachment_kb=64,
        max_message_chars=200,
    )
    requests_per_minute = 400

    async def start(self) -> None:
        tmp = temp_dir(self)
        self.data_dir = tmp
        self.db = DBConnector(reactor, migrated_sqlite(tmp / "chat.sqlite"))
        await self.db.startService()
        self.addCleanup(self.db.stopService)
        await ChannelAdminStore(self.db).add_origin(ORIGIN)
        self.bus = EventBus()
        self.acd = ACD(reactor, self.db, self.bus)
        await self.acd.startService()
        self.addCleanup(self.acd.stopService)
        self.channels = ChannelService(
            reactor=reactor, db=self.db, acd=self.acd, bus=self.bus, config=self.config
        )
        self.service = PublicChatService(
            reactor=reactor,
            db=self.db,
            channels=self.channels,
            config=self.config,
            smtp=SmtpConfig(),
            data_dir=tmp,
            requests_per_minute=self.requests_per_minute,
        )
        await self.service.startService()
        self.addCleanup(self.service.stopService)
        self.client = Client(self.service.port_number)
        self.addCleanup(self.client.close)


class EngineFreeTests(PublicEndpointCase):
    """What the endpoint refuses before it asks the engine anything."""

    async def test_idle_connections_from_one_address_are_capped(self) -> None:
        await self.start()
        c = self.client
        held = [await c.connect() for _ in range(CONNECTIONS_PER_ADDRESS)]  # silent sockets
        c.streams.extend(held)
        extra = await c.connect()  # accepted by the kernel, closed at once by the site
        self.assertEqual(await extra.done, b"")
        self.assertFalse(any(p.done.called for p in held))
        first: Any = held[0].transport
        first.loseConnection()
        await held[0].done
        for _ in range(250):
            assert self.service.site is not None
            if sum(self.service.site.connections.values()) < CONNECTIONS_PER_ADDRESS:
                break
            await deferLater(reactor, 0.02, lambda: None)
        r = await c.request("GET", "/chat/api/config?lang=zh")
        self.assertEqual(r.status, 200)

    async def test_the_origin_must_be_exactly_an_allowed_one(self) -> None:
        await self.start()
        c = self.client
        ok = await c.request("GET", "/chat/api/config?lang=zh", origin=ORIGIN)
        self.assertNotEqual(ok.status, 403)
        self.assertEqual(ok.headers["access-control-allow-origin"], ORIGIN)
        self.assertEqual(ok.headers["vary"], "Origin")
        self.assertNotIn("access-control-allow-credentials", ok.headers)
        for bad in (
            None,
            "null",
            "https://evil.test",
            "HTTPS://SHOP.EXAMPLE.CN",
            "https://Shop.Example.cn",
            "https://shop.example.cn/",
            "https://shop.example.cn.evil.test",
            "http://shop.example.cn",
            "https://shop.example.cn:444",
            f"{ORIGIN}, https://evil.test",
        ):
            for method, path, body in (
                ("GET", "/chat/api/config", None),
                ("POST", "/chat/api/start", b"{}"),
                ("OPTIONS", "/chat/api/send", None),
                ("GET", "/chat/api/stream?t=x", None),
            ):
                r = await c.request(method, path, body, origin=bad)
                self.assertEqual(r.status, 403, (bad, path))
                self.assertNotIn("access-control-allow-origin", r.headers)

    async def test_a_preflight_names_the_methods_and_headers_for_that_origin(self) -> None:
        await self.start()
        r = await self.client.request(
            "OPTIONS",
            "/chat/api/send",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, x-chat-token",
            },
        )
        self.assertEqual(r.status, 204)
        self.assertEqual(r.headers["access-control-allow-origin"], ORIGIN)
        self.assertEqual(r.headers["access-control-allow-methods"], "GET, POST")
        self.assertIn("X-Chat-Token", r.headers["access-control-allow-headers"])
        self.assertNotIn("access-control-allow-credentials", r.headers)

    async def test_only_the_widget_and_its_api_are_on_this_port(self) -> None:
        await self.start()
        c = self.client
        js = await c.request("GET", "/chat/widget.js", origin=None)
        self.assertEqual(js.status, 200)
        self.assertIn(b"data-ccbox-chat", js.body)
        self.assertTrue(js.headers["content-type"].startswith("text/javascript"))
        self.assertIn("max-age", js.headers["cache-control"])
        self.assertNotIn("server", js.headers)
        css = await c.request("GET", "/chat/static/widget.css", origin="https://elsewhere.test")
        self.assertEqual(css.status, 200)
        for path in (
            "/",
            "/login",
            "/admin",
            "/admin/channels",
            "/desk",
            "/events",
            "/static/ccbox.css",
            "/vendor/chart.js",
            "/chat-desk/stream",
            "/chat",
            "/chat/",
            "/chat/static/",
            "/chat/static/widget.js",
            "/chat/static/../../service.py",
            "/chat/static/..%2f..%2fservice.py",
            "/chat/static/%2e%2e/%2e%2e/app.py",
            "/chat/static/widget.css/../../../app.py",
            "/chat/static//etc/passwd",
            "/chat/static/..\\..\\app.py",
            "/chat/api/",
            "/chat/api/nothing",
            "/chat/../webui/app.py",
        ):
            r = await c.request("GET", path, headers={"Cookie": "ccbox_session=stolen"})
            self.assertIn(r.status, (403, 404), path)
            self.assertNotIn(b"<html", r.body.lower(), path)
            self.assertNotIn(b"import ", r.body, path)
            self.assertNotIn("set-cookie", r.headers, path)

    async def test_bodies_are_refused_before_they_are_read(self) -> None:
        await self.start()
        c = self.client
        cap = self.config.max_attachment_kb * 1024 + 16 * 1024
        huge = await c.raw(
            b"POST /chat/api/start HTTP/1.1\r\nHost: b\r\nOrigin: "
            + ORIGIN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(cap + 1).encode()
            + b"\r\n\r\n{"
            + b" " * cap  # read and dropped: the close comes once it has come whole
        )
        self.assertEqual(huge.status, 413)
        self.assertEqual(huge.body, b"")
        chunked = await c.raw(
            b"POST /chat/api/start HTTP/1.1\r\nHost: b\r\nOrigin: "
            + ORIGIN.encode()
            + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"2\r\n{}\r\n0\r\n\r\n"
        )
        self.assertEqual(chunked.status, 411)
        big_json = await c.request("POST", "/chat/api/start", b'{"name": "' + b"x" * 40000 + b'"}')
        self.assertEqual(big_json.status, 413)

    async def test_bodies_of_the_wrong_kind_get_a_clear_400(self) -> None:
        await self.start()
        c = self.client
        cases: list[tuple[bytes, str | None, int]] = [
            (b"\x00\x01\x02\xff\xfe binary", "application/json", 400),
            (b'{"name": "\xc3\x28"}', "application/json", 400),
            (b'{"name": "a"}', "text/plain", 415),
            (b'{"name": "a"}', None, 415),
            (b"[1, 2, 3]", "application/json", 400),
            (b'"just a string"', "application/json", 400),
            (b"{", "application/json", 400),
            (b"[" * 5000 + b"]" * 5000, "application/json", 400),
            (b'{"topic_id": "1", "name": "a", "phone": "123456"}', "application/json", 400),
            (b'{"topic_id": 1, "name": ["a"], "phone": "123456"}', "application/json", 400),
            (b'{"topic_id": 1, "name": "a"}', "application/json", 400),
            (b'{"topic_id": 1, "name": "\\ud800", "phone": "123456"}', "application/json", 400),
            (
                b'{"topic_id": 1, "name": "a", "email": "a@b.cn\\r\\nBcc: x@y.cn"}',
                "application/json",
                400,
            ),
        ]
        for body, ctype, status in cases:
            r = await c.request("POST", "/chat/api/start", body, ctype=ctype)
            self.assertEqual(r.status, status, body[:40])
            self.assertIn("error", r.json())

    async def test_an_invalid_or_missing_token_reaches_nothing(self) -> None:
        await self.start()
        c = self.client
        for token in (None, "", "x" * 43, "../../etc/passwd", "a" * 5000):
            for path, body in (
                ("/chat/api/send", b'{"text": "hi"}'),
                ("/chat/api/typing", b'{"typing": true}'),
                ("/chat/api/read", b'{"up_to": 1}'),
                ("/chat/api/end", b"{}"),
                ("/chat/api/transcript", b"{}"),
                ("/chat/api/attach?name=a.png", PNG),
            ):
                r = await c.request("POST", path, body, token=token)
                self.assertEqual(r.status, 401, (token, path))
            r = await c.request("GET", "/chat/api/file/1", token=token)
            self.assertEqual(r.status, 401)
        r = await c.request("GET", "/chat/api/stream?t=nothing")
        self.assertEqual(r.status, 401)

    async def test_an_address_has_a_request_budget_and_forwarded_for_is_not_believed(
        self,
    ) -> None:
        self.requests_per_minute = 5
        await self.start()
        c = self.client
        for i in range(5):
            r = await c.request(
                "OPTIONS", "/chat/api/send", headers={"X-Forwarded-For": f"10.0.0.{i}"}
            )
            self.assertEqual(r.status, 204)
        r = await c.request("OPTIONS", "/chat/api/send", headers={"X-Forwarded-For": "10.9.9.9"})
        self.assertEqual(r.status, 429)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        self.assertEqual(r.headers["access-control-allow-origin"], ORIGIN)  # the widget reads it
        other = await c.request("GET", "/chat/api/config", origin="https://evil.test")
        self.assertEqual(other.status, 429)  # counted and refused, and told nothing more
        self.assertNotIn("access-control-allow-origin", other.headers)
        js = await c.request("GET", "/chat/widget.js", origin=None)
        self.assertEqual(js.status, 200)  # the script is not the API


class ChatCase(PublicEndpointCase):
    """Chats through the real engine: an agent serves the "sales" chat queue; "after hours"
    is a topic whose queue nobody serves."""

    async def start(self) -> None:
        tmp = temp_dir(self)
        url = migrated_sqlite(tmp / "seed.sqlite")
        db = DBConnector(reactor, url)
        await db.startService()
        try:
            await self._seed(db)
        finally:
            await db.stopService()
        await self._start_with(url, tmp)

    async def _seed(self, db: DBConnector) -> None:
        admin = ChannelAdminStore(db)
        sales = await db.queues.add("sales", "Sales", wrapup_s=0)
        night = await db.queues.add("night", "Night")
        for q in (sales, night):
            await admin.set_queue_media(q.id, "chat")
        agent = await db.agents.add("1001", "王芳", "", "PJSIP/1001")
        await db.agents.set_member(sales.id, agent.id)
        self.agent_id = agent.id
        self.topic = await admin.save_topic(
            None, {"name": "sales", "label_zh": "销售", "label_en": "Sales", "queue_id": sales.id}
        )
        self.night_topic = await admin.save_topic(
            None,
            {"name": "night", "label_zh": "夜间", "label_en": "After hours", "queue_id": night.id},
        )

    async def _start_with(self, url: str, tmp: Any) -> None:
        self.data_dir = tmp
        self.db = DBConnector(reactor, url)
        await self.db.startService()
        self.addCleanup(self.db.stopService)
        await ChannelAdminStore(self.db).add_origin(ORIGIN)
        self.bus = EventBus()
        self.smtp_inbox: list[tuple[list[str], bytes]] = []
        from tests.integration.test_voicemail_mail import _Factory

        smtp_port: Any = reactor.listenTCP(0, _Factory(self.smtp_inbox), interface="127.0.0.1")
        self.addCleanup(smtp_port.stopListening)
        self.smtp = SmtpConfig(
            host="127.0.0.1", port=smtp_port.getHost().port, sender="chat@cc.test", timeout_s=5
        )
        await self._start_parts(login=True)

    async def _start_parts(self, *, login: bool, hold: defer.Deferred[None] | None = None) -> None:
        """The daemon's parts on ``self.db``: the ACD, the engine, then the public chat (the
        read of its visitors' sessions waiting for ``hold`` when given)."""
        self.acd = ACD(reactor, self.db, self.bus)
        await self.acd.startService()
        self.addCleanup(self.acd.stopService)
        self.channels = ChannelService(
            reactor=reactor, db=self.db, acd=self.acd, bus=self.bus, config=self.config
        )
        await self.channels.startService()
        self.addCleanup(self.channels.stopService)
        if login:
            self.acd.login(self.agent_id)
        self.staff: list[dict[str, Any]] = []
        self.channels.subscribe_agent(self.agent_id, self.staff.append)
        self.service = PublicChatService(
            reactor=reactor,
            db=self.db,
            channels=self.channels,
            config=self.config,
            smtp=self.smtp,
            data_dir=self.data_dir,
            requests_per_minute=self.requests_per_minute,
        )
        if hold is not None:
            store = self.service.visitors.store
            assert store is not None
            real = store.restorable

            async def held(keep: Any) -> Any:
                await hold
                return await real(keep)

            store.restorable = lambda keep: defer.ensureDeferred(held(keep))  # type: ignore[method-assign]
        await self.service.startService()
        self.addCleanup(self.service.stopService)
        self.client = Client(self.service.port_number)
        self.addCleanup(self.client.close)

    async def chat(self, name: str = "李雷", **kw: Any) -> dict[str, Any]:
        body = {"topic_id": self.topic, "name": name, "email": "li@example.cn", "language": "zh"}
        body.update(kw)
        r = await self.client.post("/chat/api/start", body)
        self.assertEqual(r.status, 200, r.body)
        return dict(r.json())

    async def staff_sees(self, predicate: Any) -> dict[str, Any]:
        for _ in range(500):
            hit = next((e for e in self.staff if predicate(e)), None)
            if hit is not None:
                return hit
            await deferLater(reactor, 0.02, lambda: None)
        raise AssertionError(f"the agent never saw it: {self.staff}")


class ChatTests(ChatCase):
    async def test_config_lists_the_topics_in_the_visitors_language_with_duty(self) -> None:
        await self.start()
        zh = (await self.client.request("GET", "/chat/api/config?lang=zh")).json()
        self.assertEqual(
            [(t["label"], t["on_duty"]) for t in zh["topics"]], [("销售", True), ("夜间", False)]
        )
        self.assertEqual(zh["limits"]["max_message_chars"], 200)
        self.assertIs(zh["transcript"], True)
        en = (await self.client.request("GET", "/chat/api/config?lang=en")).json()
        self.assertEqual([t["label"] for t in en["topics"]], ["Sales", "After hours"])

    async def test_markup_in_names_and_messages_is_kept_and_delivered_as_text(self) -> None:
        await self.start()
        c = self.client
        name = '<script>alert("x")</script>'
        started = await self.chat(name=name)
        token, cid = started["token"], started["conversation"]
        offer = await self.staff_sees(lambda e: e.get("type") == "offer")
        self.assertEqual(offer["conversation"], cid)
        self.assertEqual(offer["name"], name)
        stream = await c.stream(token)
        await stream.until(lambda ev: any(e["type"] == "history" for e in ev))
        await self.channels.accept(self.agent_id, cid)
        text = "<img src=x onerror=alert(1)>\r\n第二行\x00\x07"
        sent = await c.post("/chat/api/send", {"text": text}, token=token)
        self.assertEqual(sent.status, 200, sent.body)
        # an answer goes whole with its length, not as a chunk and a last chunk (a second write)
        self.assertEqual(sent.headers.get("content-length"), str(len(sent.body)))
        self.assertNotIn("transfer-encoding", sent.headers)
        line = await self.staff_sees(lambda e: e.get("type") == "message")
        self.assertEqual(line["message"]["body"], "<img src=x onerror=alert(1)>\n第二行")
        self.assertEqual(line["message"]["author"], name)
        self.assertEqual(line["message"]["html"], "")
        (stored,) = await self.channels.history(cid)
        self.assertEqual(stored.body, "<img src=x onerror=alert(1)>\n第二行")

        # the agent answers in Chinese; the visitor's stream brings it at once, as text
        await self.channels.agent_says(self.agent_id, cid, "您好,<b>请问</b>有什么可以帮您?")
        events = await stream.until(
            lambda ev: any(e["type"] == "message" and e["message"]["sender"] == "agent" for e in ev)
        )
        reply = next(
            e for e in events if e["type"] == "message" and e["message"]["sender"] == "agent"
        )
        self.assertEqual(reply["message"]["body"], "您好,<b>请问</b>有什么可以帮您?")
        self.assertEqual(reply["message"]["author"], "王芳")

        # typing and read marks both ways; nothing internal reaches the visitor
        self.assertEqual(
            (await c.post("/chat/api/typing", {"typing": True}, token=token)).status, 200
        )
        await self.staff_sees(lambda e: e.get("type") == "typing" and e.get("side") == "customer")
        up_to = reply["message"]["id"]
        self.assertEqual(
            (await c.post("/chat/api/read", {"up_to": up_to}, token=token)).status, 200
        )
        await self.staff_sees(lambda e: e.get("type") == "read" and e.get("up_to") == up_to)
        await self.channels.agent_read(self.agent_id, cid, line["message"]["id"])
        await self.channels.supervisor_says("boss", cid, "internal: watch the tone", True)
        self.channels.agent_typing(self.agent_id, cid, True)
        await stream.until(
            lambda ev: any(e["type"] == "typing" and e["side"] == "staff" for e in ev)
        )
        bodies = [e["message"]["body"] for e in stream.parsed() if e["type"] == "message"]
        self.assertNotIn("internal: watch the tone", bodies)
        self.assertFalse(any(e["type"] in ("offer", "offer_withdrawn") for e in stream.parsed()))

        # a reconnect (the visitor moved to another page) brings the history again
        second = await c.stream(token)
        history = await second.until(lambda ev: any(e["type"] == "state" for e in ev))
        self.assertEqual([e["type"] for e in history[:2]], ["history", "state"])
        self.assertEqual(history[1]["state"], "active")
        bodies = [m["body"] for m in history[0]["messages"]]
        self.assertEqual(
            bodies[:2], ["<img src=x onerror=alert(1)>\n第二行", "您好,<b>请问</b>有什么可以帮您?"]
        )
        self.assertNotIn("internal: watch the tone", bodies)
        # the agent's read mark on the visitor's line comes back with it
        mine = next(m for m in history[0]["messages"] if m["sender"] == "customer")
        self.assertRegex(mine["read_at"] or "", r"^\d{4}-\d\d-\d\dT.*Z$")

        # the end: both streams say so and close; the token is good for nothing more
        self.assertEqual((await c.post("/chat/api/end", {}, token=token)).status, 200)
        await stream.until(lambda ev: any(e["type"] == "ended" for e in ev))
        await stream.finished()
        await second.until(lambda ev: any(e["type"] == "ended" for e in ev))
        await second.finished()
        r = await c.post("/chat/api/send", {"text": "still there?"}, token=token)
        self.assertEqual(r.status, 410)
        self.assertEqual((await c.request("GET", f"/chat/api/stream?t={token}")).status, 410)

    async def test_a_message_too_long_or_empty_is_refused(self) -> None:
        await self.start()
        token = (await self.chat())["token"]
        for body in (
            {"text": "x" * 201},
            {"text": ""},
            {"text": " \x00 "},
            {"text": 7},
            {"attachments": [1]},
        ):
            r = await self.client.post("/chat/api/send", body, token=token)
            self.assertIn(r.status, (400, 404), body)

    async def test_a_visitor_and_an_address_are_rate_limited(self) -> None:
        await self.start()
        c = self.client
        token = (await self.chat())["token"]
        for i in range(5):
            r = await c.post("/chat/api/send", {"text": f"line {i}"}, token=token)
            self.assertEqual(r.status, 200, r.body)
        r = await c.post("/chat/api/send", {"text": "one too many"}, token=token)
        self.assertEqual(r.status, 429)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        self.assertEqual(r.headers["access-control-allow-origin"], ORIGIN)
        # typing and read marks have a bucket of their own: a flood reaches no desk
        flags = [True, False] * (api.EVENTS_PER_MINUTE // 2)
        answers = [
            (await c.post("/chat/api/typing", {"typing": f}, token=token)).status for f in flags
        ]
        self.assertEqual(set(answers), {200})
        r = await c.post("/chat/api/typing", {"typing": True}, token=token)
        self.assertEqual(r.status, 429)
        # chats per hour per address (3): two more, then refused, whatever X-Forwarded-For
        # says (the loopback peer is not a trusted proxy here)
        await self.chat(name="b")
        r = await c.post(
            "/chat/api/start",
            {"topic_id": self.topic, "name": "c", "phone": "13800138000"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        self.assertEqual(r.status, 200)
        for xff in ("203.0.113.10", "198.51.100.1, 203.0.113.11", None):
            r = await c.post(
                "/chat/api/start",
                {"topic_id": self.topic, "name": "d", "phone": "13800138000"},
                headers={"X-Forwarded-For": xff} if xff else None,
            )
            self.assertEqual(r.status, 429, xff)
        r = await c.post(
            "/chat/api/leave-message",
            {"topic_id": self.night_topic, "name": "d", "phone": "13800138000", "text": "hi"},
        )
        self.assertEqual(r.status, 429)

    async def test_nobody_on_duty_leaves_a_message_that_becomes_a_ticket(self) -> None:
        await self.start()
        c = self.client
        r = await c.post(
            "/chat/api/start",
            {"topic_id": self.night_topic, "name": "李雷", "phone": "13800138000"},
        )
        self.assertEqual(r.status, 409)
        r = await c.post(
            "/chat/api/leave-message",
            {
                "topic_id": self.night_topic,
                "name": "<b>李雷</b>",
                "phone": "13800138000",
                "language": "zh",
                "text": "请明天给我回电话 <script>x</script>",
            },
        )
        self.assertEqual(r.status, 200, r.body)
        ticket = r.json()["ticket"]
        self.assertIsInstance(ticket, int)
        self.assertRegex(r.json()["number"], r"^T\d{8}-\d{4}$")
        r = await c.post(
            "/chat/api/leave-message",
            {"topic_id": self.night_topic, "name": "a", "phone": "13800138000", "text": ""},
        )
        self.assertEqual(r.status, 400)

    async def test_attachments_are_typed_by_content_and_served_only_to_their_visitor(self) -> None:
        self.config = dataclasses.replace(self.config, messages_per_minute=30)
        await self.start()
        c = self.client
        mine = await self.chat()
        other = await self.chat(name="韩梅梅")
        token = mine["token"]

        async def attach(name: str, data: bytes, tok: str = token) -> Any:
            return await c.request(
                "POST",
                f"/chat/api/attach?name={name}",
                data,
                token=tok,
                ctype="application/octet-stream",
            )

        png = await attach("photo.exe", PNG)
        self.assertEqual(png.status, 200, png.body)
        self.assertEqual(png.json()["content_type"], "image/png")
        self.assertTrue(png.json()["file_name"].endswith(".png"))
        text = await attach("%E8%AF%B4%E6%98%8E.txt", "你好\n".encode())
        self.assertEqual(text.json()["content_type"], "text/plain")
        self.assertEqual(text.json()["file_name"], "说明.txt")
        refused = {
            "page.png": b"<html><body><script>alert(1)</script></body></html>",
            "logo.png": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
            "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "run.png": b"#!/bin/sh\nrm -rf /\n",
            "app.exe": b"MZ\x90\x00\x03" + b"\x00" * 100,
            "a.zip": b"PK\x03\x04" + b"\x00" * 100,
            "empty.txt": b"",
        }
        for name, data in refused.items():
            r = await attach(name, data)
            self.assertIn(r.status, (400, 415), name)
            self.assertEqual(r.json()["code"], "file_type", name)
        big = await attach("big.png", PNG + b"\x00" * (64 * 1024))
        self.assertEqual(big.status, 413)

        # sent with a message: the agent sees it; the visitor downloads it, nobody else
        file_id = png.json()["id"]
        r = await c.post("/chat/api/send", {"text": "", "attachments": [file_id]}, token=token)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual([a["id"] for a in r.json()["message"]["attachments"]], [file_id])
        got = await c.request("GET", f"/chat/api/file/{file_id}", token=token)
        self.assertEqual(got.status, 200)
        self.assertEqual(got.body, PNG)
        self.assertEqual(got.headers["content-type"], "image/png")
        self.assertTrue(got.headers["content-disposition"].startswith("attachment;"))
        self.assertEqual(got.headers["x-content-type-options"], "nosniff")
        for path in (
            f"/chat/api/file/{file_id}",
            "/chat/api/file/99999",
            "/chat/api/file/../1",
            "/chat/api/file/1x",
        ):
            r = await c.request("GET", path, token=other["token"])
            self.assertEqual(r.status, 404, path)
        # someone else's attachment id on a message is refused too
        r = await c.post(
            "/chat/api/send", {"attachments": [text.json()["id"]]}, token=other["token"]
        )
        self.assertEqual(r.status, 404)

    async def test_a_file_is_read_and_checked_off_the_reactor(self) -> None:
        self.config = dataclasses.replace(self.config, messages_per_minute=30)
        await self.start()
        token = (await self.chat())["token"]
        stored = await self.client.request(
            "POST",
            "/chat/api/attach?name=a.png",
            PNG,
            token=token,
            ctype="application/octet-stream",
        )
        self.assertEqual(stored.status, 200, stored.body)
        hashed_on_reactor: list[bool] = []
        real = hashlib.sha256

        def sha256(data: bytes) -> Any:
            if data == PNG:  # the file's check (the request's token is hashed too)
                hashed_on_reactor.append(threadable.isInIOThread())
            return real(data)

        self.patch(api.hashlib, "sha256", sha256)
        got = await self.client.request("GET", f"/chat/api/file/{stored.json()['id']}", token=token)
        self.assertEqual((got.status, got.body), (200, PNG))
        self.assertEqual(hashed_on_reactor, [False])

    async def test_a_chat_stores_a_bounded_number_of_files(self) -> None:
        self.config = dataclasses.replace(self.config, messages_per_minute=30)
        self.patch(api, "FILES_PER_CHAT", 2)
        await self.start()
        token = (await self.chat())["token"]

        async def attach(data: bytes) -> Any:
            return await self.client.request(
                "POST",
                "/chat/api/attach?name=a.png",
                data,
                token=token,
                ctype="application/octet-stream",
            )

        self.assertEqual((await attach(b"MZ\x90\x00" + b"\x00" * 64)).status, 415)  # not stored
        self.assertEqual((await attach(PNG)).status, 200)
        self.assertEqual((await attach(PNG + b"\x00")).status, 200)
        third = await attach(PNG + b"\x00\x00")
        self.assertEqual(third.status, 413)
        self.assertEqual(third.json()["code"], "too_many_files")

    async def test_the_transcript_is_mailed_once_to_the_address_given(self) -> None:
        await self.start()
        c = self.client
        started = await self.chat()
        token, cid = started["token"], started["conversation"]
        await self.staff_sees(lambda e: e.get("type") == "offer")
        await self.channels.accept(self.agent_id, cid)
        await c.post("/chat/api/send", {"text": "我想问一下价格"}, token=token)
        # nobody of the center wrote yet: no mail (else a stranger's text to any address)
        early = await c.post("/chat/api/transcript", {}, token=token)
        self.assertEqual((early.status, early.json()["code"]), (409, "no_transcript"))
        await self.channels.agent_says(self.agent_id, cid, "好的,马上为您查询")
        await self.channels.supervisor_says("boss", cid, "internal note", True)
        # the mail server refuses it once: not "sent", and the visitor may ask again
        real_send = api.mail_notify.send
        refused: list[list[str]] = []

        async def refusing(reactor: Any, smtp: Any, to: list[str], *args: Any) -> bool:
            refused.append(to)
            return False

        self.patch(api.mail_notify, "send", refusing)
        r = await c.post("/chat/api/transcript", {}, token=token)
        self.assertEqual((r.status, r.json()["code"]), (502, "mail_failed"))
        self.assertEqual(refused, [["li@example.cn"]])
        self.patch(api.mail_notify, "send", real_send)
        r = await c.post("/chat/api/transcript", {"email": "someone-else@evil.test"}, token=token)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["sent_to"], "li@example.cn")
        for _ in range(500):
            if self.smtp_inbox:
                break
            await deferLater(reactor, 0.02, lambda: None)
        from tests.integration.test_voicemail_mail import parsed

        [(to, raw)] = self.smtp_inbox
        self.assertEqual(to, ["li@example.cn"])
        mail = parsed(raw)
        self.assertEqual(mail["Subject"], "您的在线咨询记录")
        body = mail.get_content()
        self.assertIn("我想问一下价格", body)
        self.assertIn("好的,马上为您查询", body)
        self.assertNotIn("internal note", body)
        again = await c.post("/chat/api/transcript", {}, token=token)
        self.assertEqual(again.status, 409)
        phone_only = await c.post(
            "/chat/api/start", {"topic_id": self.topic, "name": "x", "phone": "13800138000"}
        )
        r = await c.post("/chat/api/transcript", {}, token=phone_only.json()["token"])
        self.assertEqual(r.status, 409)
        self.assertEqual(len(self.smtp_inbox), 1)

    async def test_too_many_streams_are_refused_and_a_stolen_token_needs_the_origin(self) -> None:
        await self.start()
        c = self.client
        tokens = [(await self.chat(name=f"v{i}"))["token"] for i in range(3)]
        streams = [await c.stream(t) for t in tokens]
        for s in streams:
            await s.until(lambda ev: any(e["type"] == "history" for e in ev))
        r = await c.request("GET", f"/chat/api/stream?t={tokens[0]}")
        self.assertEqual(r.status, 503)
        streams[0].close()
        for _ in range(200):
            if len(self.service.hub.streams) < 3:
                break
            await deferLater(reactor, 0.02, lambda: None)
        again = await c.stream(tokens[0])
        await again.until(lambda ev: any(e["type"] == "history" for e in ev))
        # the token alone from another site, or in the query of a POST, is nothing
        r = await c.post(
            "/chat/api/send", {"text": "hi"}, token=tokens[1], origin="https://evil.test"
        )
        self.assertEqual(r.status, 403)
        other = "https://other.example.cn"
        await ChannelAdminStore(self.db).add_origin(other)
        await self.service.origins.refresh()
        for path, body in (("/chat/api/send", b'{"text": "hi"}'), ("/chat/api/end", b"{}")):
            r = await c.request("POST", path, body, token=tokens[1], origin=other)
            self.assertEqual(r.status, 401)  # allowed there, but the token is not that site's
        r = await c.request("GET", f"/chat/api/stream?t={tokens[1]}", origin=other)
        self.assertEqual(r.status, 401)
        r = await c.post(f"/chat/api/send?t={tokens[1]}", {"text": "hi"})
        self.assertEqual(r.status, 401)

    async def test_a_ping_answers_the_chats_state_and_reaches_no_desk(self) -> None:
        """What the widget asks when its stream is refused (every few seconds, then less
        often): it posted typing false, which reached the agent's desk each time."""
        await self.start()
        c = self.client
        started = await self.chat()
        token, cid = started["token"], started["conversation"]
        await self.channels.accept(self.agent_id, cid)
        for _ in range(3):
            r = await c.request("GET", "/chat/api/ping", token=token)
            self.assertEqual((r.status, r.json()), (200, {"ok": True}))
        for bad in ("x" * 43, None):
            r = await c.request("GET", "/chat/api/ping", token=bad)
            self.assertEqual(r.status, 401)
        r = await c.request("GET", "/chat/api/ping", token=token, origin="https://evil.test")
        self.assertEqual(r.status, 403)
        r = await c.request("POST", "/chat/api/ping", b"{}", token=token)
        self.assertEqual(r.status, 405)
        self.assertEqual([e for e in self.staff if e.get("type") == "typing"], [])
        await c.post("/chat/api/end", {}, token=token)
        r = await c.request("GET", "/chat/api/ping", token=token)
        self.assertEqual(r.status, 410)


class StopTests(ChatCase):
    async def test_a_stop_lets_a_message_being_left_finish_and_refuses_new_calls(self) -> None:
        """The daemon stops its parts in reverse order: the chat's stop must wait for a call
        half-way through the engine, or the database closes under it (a CI run's demo logged
        DatabaseStopped from leave-message, its conversation stored without its ticket)."""
        await self.start()
        c = self.client
        held: defer.Deferred[None] = defer.Deferred()
        reached: defer.Deferred[None] = defer.Deferred()
        create = self.channels.tickets.create

        async def slow_create(*args: Any, **kw: Any) -> Any:
            reached.callback(None)
            await held
            return await create(*args, **kw)

        self.channels.tickets.create = slow_create  # type: ignore[method-assign]
        leaving = defer.ensureDeferred(
            c.post(
                "/chat/api/leave-message",
                {
                    "topic_id": self.night_topic,
                    "name": "李雷",
                    "phone": "13800138000",
                    "text": "在吗",
                },
            )
        )
        await reached
        late = await c.connect()  # a connection the port took before its stop
        c.streams.append(late)
        stopped = self.service.stopService()
        await deferLater(reactor, 0.1, lambda: None)
        self.assertFalse(stopped.called)  # the call is still running
        assert late.transport is not None
        late.transport.write(
            b"GET /chat/api/config?lang=en HTTP/1.1\r\nHost: box\r\nConnection: close\r\n"
            + f"Origin: {ORIGIN}\r\n\r\n".encode()
        )
        refused = parse(await late.done)
        self.assertEqual(refused.status, 503, refused.raw)
        self.assertEqual(refused.json()["code"], "stopping")
        self.assertEqual(refused.headers["retry-after"], "10")
        self.assertFalse(stopped.called)
        held.callback(None)
        answer = await leaving
        self.assertEqual(answer.status, 200, answer.body)
        await stopped
        ticket = answer.json()["ticket"]

        def linked(conn: Any) -> list[Any]:
            from appliance.db import model

            t = model.conversations
            return list(conn.execute(t.select().where(t.c.ticket_id == ticket)).all())

        self.assertEqual(len(await self.db.run(linked)), 1)


class RestartTests(ChatCase):
    async def restart(self, hold: defer.Deferred[None] | None = None) -> None:
        """The daemon again on the same database (the agent's login is the ACD's to
        restore)."""
        await self.service.stopService()
        await self.channels.stopService()
        await self.acd.stopService()
        self.client.close()
        await self._start_parts(login=False, hold=hold)

    async def test_a_restart_keeps_the_visitors_chat_and_its_token(self) -> None:
        """The engine restores an open chat to its agent; its visitor's widget, with the
        token it had, goes on with it (before, the token was unknown after a restart: the
        widget said the chat had ended and the agent kept a chat nobody could answer)."""
        await self.start()
        started = await self.chat()
        token, cid = started["token"], started["conversation"]
        await self.channels.accept(self.agent_id, cid)
        sent = await self.client.post("/chat/api/send", {"text": "在吗"}, token=token)
        self.assertEqual(sent.status, 200, sent.body)
        self.assertNotIn(token, repr(await self.db.run(stored_visitors)))  # its hash only

        await self.restart()
        self.assertEqual(self.channels.conversation(cid).state, "active")
        stream = await self.client.stream(token)
        history = await stream.until(lambda ev: any(e["type"] == "history" for e in ev))
        lines = next(e for e in history if e["type"] == "history")["messages"]
        self.assertIn("在吗", [m["body"] for m in lines])
        again = await self.client.post("/chat/api/send", {"text": "还在"}, token=token)
        self.assertEqual(again.status, 200, again.body)
        line = await self.staff_sees(lambda e: e.get("type") == "message")
        self.assertEqual(line["message"]["body"], "还在")
        unknown = await self.client.post("/chat/api/send", {"text": "x"}, token="nope" * 10)
        self.assertEqual(unknown.status, 401, unknown.body)

    async def test_a_token_asked_for_before_the_sessions_are_read_back_is_told_to_wait(
        self,
    ) -> None:
        await self.start()
        token = (await self.chat())["token"]
        held: defer.Deferred[None] = defer.Deferred()
        await self.restart(hold=held)
        early = await self.client.post("/chat/api/send", {"text": "x"}, token=token)
        self.assertEqual(early.status, 503, early.body)  # not 401: the widget would end it
        self.assertEqual(early.json()["code"], "stopping")
        self.assertEqual(early.headers["retry-after"], "10")
        new = await self.chat(name="韩梅梅")  # a new chat needs no session of the last run
        self.assertIn("token", new)
        held.callback(None)
        await deferLater(reactor, 0.2, lambda: None)
        later = await self.client.post("/chat/api/send", {"text": "x"}, token=token)
        self.assertEqual(later.status, 200, later.body)


def stored_visitors(conn: Any) -> list[Any]:
    from appliance.db import model

    return list(conn.execute(model.chat_visitors.select()).all())


class PortTakenTests(PublicEndpointCase):
    async def test_a_taken_port_reports_the_chat_down_and_starts_nothing_else(self) -> None:
        await self.start()
        registry = health.HealthRegistry()
        taken = dataclasses.replace(self.config, port=self.service.port_number)
        second = PublicChatService(
            reactor=reactor,
            db=self.db,
            channels=self.channels,
            config=taken,
            smtp=SmtpConfig(),
            data_dir=self.data_dir,
            health_registry=registry,
        )
        await second.startService()  # no exception: the daemon goes on
        part = registry.get("chat-public")
        assert part is not None
        self.assertEqual(part.state, health.DOWN)
        self.assertIn(str(self.service.port_number), part.detail)
        await second.stopService()


class StreamTests(ChatCase):
    """The visitor's stream as a producer: relayed cobrowse events at once, a stream the
    browser does not read held to a bound and then closed, the heartbeat."""

    async def test_an_unread_stream_is_held_to_a_bound_then_closed(self) -> None:
        await self.start()
        started = await self.chat()
        token, cid = started["token"], started["conversation"]
        stream = await self.client.stream(token)
        await stream.until(lambda ev: any(e["type"] == "history" for e in ev))
        self.channels.relay(cid, "staff", {"type": "cobrowse.push", "url": "/p2.html"})
        await stream.until(lambda ev: any(e["type"] == "cobrowse.push" for e in ev))
        self.service.hub.heartbeat()
        for _ in range(100):
            if b": hb" in stream.proto.data:
                break
            await deferLater(reactor, 0.02, lambda: None)
        self.assertIn(b": hb", stream.proto.data)

        (server_side,) = self.service.hub.streams
        server_side.pauseProducing()  # as the transport does when the socket's buffer is full
        snapshot = {"type": "cobrowse.snapshot", "dom": "x" * 20_000}
        for _ in range(3):
            self.channels.relay(cid, "staff", snapshot)
        self.assertFalse(server_side.closed)
        self.assertGreater(server_side.pending_bytes, 60_000)
        self.channels.relay(cid, "staff", snapshot)  # past 64 KB: closed, nothing held
        self.assertTrue(server_side.closed)
        self.assertEqual(server_side.pending_bytes, 0)
        self.assertEqual(self.service.hub.streams, set())
        await stream.finished()
        # the browser reconnects and gets the chat again
        again = await self.client.stream(token)
        await again.until(lambda ev: any(e["type"] == "history" for e in ev))

    async def test_an_idle_visitor_without_a_stream_has_the_chat_ended(self) -> None:
        await self.start()
        quiet = await self.chat(name="quiet")
        streaming = await self.chat(name="streaming")
        stream = await self.client.stream(streaming["token"])
        await stream.until(lambda ev: any(e["type"] == "history" for e in ev))
        for token in (quiet["token"], streaming["token"]):
            session = self.service.visitors.by_token(token)
            assert session is not None
            session.last_seen -= self.config.idle_close_min * 60 + 1
        self.service.visitors.sweep()
        for _ in range(250):
            conv = next((c for c in self.channels.waiting() if c.id == quiet["conversation"]), None)
            if conv is None:
                break
            await deferLater(reactor, 0.02, lambda: None)
        waiting = {c.id for c in self.channels.waiting()}
        self.assertNotIn(quiet["conversation"], waiting)
        self.assertIn(streaming["conversation"], waiting)  # its stream is open: not idle
        r = await self.client.post("/chat/api/send", {"text": "back"}, token=quiet["token"])
        self.assertEqual(r.status, 410)
        # that stream (open longer than idle_close_min) closes: the visitor moves to another
        # page; a sweep before the next page reconnects does not end the chat
        stream.close()
        for _ in range(250):
            if not self.service.hub.streams:
                break
            await deferLater(reactor, 0.02, lambda: None)
        self.assertEqual(self.service.hub.streams, set())
        self.service.visitors.sweep()
        await deferLater(reactor, 0.1, lambda: None)
        self.assertIn(streaming["conversation"], {c.id for c in self.channels.waiting()})
        again = await self.client.stream(streaming["token"])
        events = await again.until(lambda ev: any(e["type"] == "state" for e in ev))
        self.assertEqual([e["type"] for e in events], ["history", "state"])
        self.assertIn(events[1]["state"], ("waiting", "offered"))

    async def test_a_chat_the_agent_ended_while_the_visitor_was_away_says_so(self) -> None:
        await self.start()
        started = await self.chat()
        token, cid = started["token"], started["conversation"]
        await self.staff_sees(lambda e: e.get("type") == "offer")
        await self.channels.accept(self.agent_id, cid)
        await self.channels.end(self.agent_id, cid)  # no stream open: the visitor is between pages
        stream = await self.client.stream(token)
        events = await stream.until(lambda ev: any(e["type"] == "ended" for e in ev))
        self.assertEqual([e["type"] for e in events], ["history", "ended"])
        await stream.finished()
        self.assertEqual((await self.client.post("/chat/api/end", {}, token=token)).status, 200)
        r = await self.client.post("/chat/api/send", {"text": "hello?"}, token=token)
        self.assertEqual(r.status, 410)
