"""The public chat endpoint's guards on their own: the rate limiter and the origin check on
a MemoryReactorClock, the input checks, the visitors' idle sweep."""

from __future__ import annotations

import configparser
import datetime as dt
from pathlib import Path
from typing import Any, cast

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.web import resource

from acd.channels.conversation import Conversation
from appliance.config import parse
from webui.chat import inputs
from webui.chat.inputs import BadInput
from webui.chat.limits import RateLimit
from webui.chat.origins import OriginAllowList
from webui.chat.site import CONNECTION_SLACK, CONNECTIONS_PER_VISITOR, ChatSite, PublicChatRoot
from webui.chat.stream import current_state
from webui.chat.visitors import VisitorRegistry, VisitorSession


# ---- the rate limiter ------------------------------------------------------------------
def test_a_burst_up_to_the_limit_then_a_wait_until_a_token_refills() -> None:
    clock = MemoryReactorClock()
    limit = RateLimit(clock, 30, 60.0)  # 30 a minute: one every 2 s after the burst
    assert [limit.hit("v") for _ in range(30)] == [0.0] * 30
    assert limit.hit("v") == 2.0
    clock.advance(1.0)
    assert limit.hit("v") == 1.0  # half a token back
    clock.advance(1.0)
    assert limit.hit("v") == 0.0
    assert limit.hit("v") == 2.0


def test_keys_are_limited_apart_and_a_refused_hit_takes_nothing() -> None:
    clock = MemoryReactorClock()
    limit = RateLimit(clock, 2, 3600.0)
    assert limit.hit("10.0.0.1") == 0.0
    assert limit.hit("10.0.0.1") == 0.0
    assert limit.hit("10.0.0.1") == 1800.0
    assert limit.hit("10.0.0.1") == 1800.0  # refusals do not push the wait further out
    assert limit.hit("10.0.0.2") == 0.0
    clock.advance(1800.0)
    assert limit.hit("10.0.0.1") == 0.0


def test_the_keys_held_are_bounded_idle_ones_forgotten_first() -> None:
    clock = MemoryReactorClock()
    limit = RateLimit(clock, 5, 60.0, max_keys=3)
    limit.hit("busy")
    limit.hit("busy")
    limit.hit("a")
    limit.hit("b")
    clock.advance(60.0)  # a and b full again; busy too
    limit.hit("busy")
    limit.hit("c")
    assert len(limit) <= 3
    assert limit.hit("busy") == 0.0


def test_a_limit_needs_a_positive_size() -> None:
    with pytest.raises(ValueError):
        RateLimit(MemoryReactorClock(), 0, 60.0)


# ---- the origin check ------------------------------------------------------------------
def _origins(rows: list[str]) -> tuple[OriginAllowList, MemoryReactorClock, list[str]]:
    clock = MemoryReactorClock()
    table = list(rows)
    allow = OriginAllowList(clock, lambda: defer.succeed(list(table)), every_s=10.0)
    allow.start()
    return allow, clock, table


@pytest.mark.parametrize(
    "origin",
    [
        None,
        b"",
        b"null",
        b"https://shop.example.cn/",
        b"HTTPS://SHOP.EXAMPLE.CN",
        b"https://Shop.example.cn",
        b" https://shop.example.cn",
        b"https://shop.example.cn ",
        b"https://shop.example.cn.evil.test",
        b"https://evil-shop.example.cn",
        b"http://shop.example.cn",
        b"https://shop.example.cn:8443",
        b"https://shop.example.cn, https://evil.test",
        b"https://shop.example.cn\x00",
        "https://shöp.example.cn".encode(),
        b"x" * 5000,
    ],
)
def test_only_the_exact_origin_a_browser_sends_is_allowed(origin: bytes | None) -> None:
    allow, _, _ = _origins(["https://shop.example.cn"])
    assert allow.allowed(b"https://shop.example.cn") == "https://shop.example.cn"
    assert allow.allowed(origin) is None


def test_the_list_follows_the_admin_on_the_timer_and_keeps_the_last_on_a_failure() -> None:
    allow, clock, table = _origins(["https://Shop.example.cn/"])  # stored loosely
    assert allow.allowed(b"https://shop.example.cn")
    table.append("https://www.example.com")
    assert not allow.allowed(b"https://www.example.com")
    clock.advance(10.0)
    assert allow.allowed(b"https://www.example.com")
    table.clear()
    allow.load = lambda: defer.fail(RuntimeError("database down"))
    clock.advance(10.0)
    assert allow.allowed(b"https://www.example.com")  # the last list stays
    allow.stop()


# ---- the input checks ------------------------------------------------------------------
def test_a_body_must_be_utf8_json_object_of_bounded_size() -> None:
    ok = inputs.json_object('{"name": "李雷"}'.encode(), b"application/json; charset=utf-8")
    assert ok == {"name": "李雷"}
    cases: list[tuple[bytes, bytes | None, int]] = [
        (b"{}", b"text/plain", 415),
        (b"{}", None, 415),
        (b"\xff\xfe{}", b"application/json", 400),
        (b'{"a": "\xc3"}', b"application/json", 400),
        (b"[1, 2]", b"application/json", 400),
        (b"{", b"application/json", 400),
        (b"[" * 100_000, b"application/json", 413),
        (b'{"a": "' + b"x" * inputs.JSON_MAX + b'"}', b"application/json", 413),
    ]
    for raw, ctype, status in cases:
        with pytest.raises(BadInput) as e:
            inputs.json_object(raw, ctype)
        assert e.value.status == status, raw[:20]


def test_markup_stays_text_and_controls_go() -> None:
    body: dict[str, Any] = {
        "text": "<script>alert(1)</script>\r\nline\ttab\x00\x1b[31m\u202eevil",
        "name": " <img src=x onerror=alert(1)>\n王 ",
    }
    assert inputs.message_text(body, "text", 2000) == "<script>alert(1)</script>\nline\ttab[31mevil"
    assert inputs.line(body, "name", 64) == "<img src=x onerror=alert(1)>王"


@pytest.mark.parametrize(
    "body",
    [
        {"text": 5},
        {"text": ["a"]},
        {"text": "\ud800"},
        {"text": "x" * 2001},
    ],
)
def test_a_message_of_the_wrong_shape_or_length_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(BadInput) as e:
        inputs.message_text(body, "text", 2000)
    assert e.value.status == 400


def test_the_contact_needs_a_name_and_a_phone_or_an_email() -> None:
    assert inputs.contact({"name": "Ann", "phone": "+86 138 0000 0000"}) == (
        "Ann",
        "+86 138 0000 0000",
        "",
    )
    assert inputs.contact({"name": "Ann", "email": "ann@example.cn"})[2] == "ann@example.cn"
    for bad in (
        {"name": "", "phone": "123456"},
        {"name": "Ann"},
        {"name": "Ann", "phone": "12; DROP TABLE"},
        {"name": "Ann", "email": "ann@example.cn\r\nBcc: all@example.cn"},
        {"name": "Ann", "email": "<ann@example.cn>"},
        {"name": "Ann", "email": "ann@example.cn,bob@example.cn"},
        {"name": "x" * 65, "phone": "123456"},
        {"name": "Ann", "phone": 123456},
    ):
        with pytest.raises(BadInput):
            inputs.contact(bad)


def test_an_email_address_our_mail_cannot_reach_is_refused_clearly() -> None:
    """A local part in Chinese (or any non-ASCII) passed the form, and the transcript to it
    could never be sent (no SMTPUTF8): refused saying why; the rest is the project's one
    check (appliance/email_address.py)."""
    for address in ("李雷@example.cn", "müller@example.de", "ann@例子.中国"):
        with pytest.raises(BadInput, match="Latin letters") as e:
            inputs.contact({"name": "Ann", "email": address})
        assert (e.value.status, e.value.code) == (400, "email")
    assert inputs.contact({"name": "李雷", "email": "li.lei@xn--fiqs8s.xn--fiqz9s"})[2] == (
        "li.lei@xn--fiqs8s.xn--fiqz9s"
    )
    assert inputs.contact({"name": "Ann", "email": "o'brien+chat@mail.example.co.uk"})[2]


def test_ids_flags_and_languages() -> None:
    assert inputs.ids({"attachments": [3, 3, 4]}, "attachments") == (3, 4)
    for bad in ([True], ["1"], [0], list(range(1, 20)), "1"):
        with pytest.raises(BadInput):
            inputs.ids({"attachments": bad}, "attachments")
    with pytest.raises(BadInput):
        inputs.flag({"typing": "yes"}, "typing")
    with pytest.raises(BadInput):
        inputs.integer({"topic_id": True}, "topic_id")
    assert inputs.language("zh-CN") == "zh"
    assert inputs.language("fr") == "en"
    assert inputs.language(None) == "en"


# ---- the visitors ----------------------------------------------------------------------
def test_an_idle_visitor_is_ended_once_and_an_ended_session_forgotten_later() -> None:
    clock = MemoryReactorClock()
    idle: list[int] = []
    reg = VisitorRegistry(clock, 15 * 60.0, lambda s: idle.append(s.conversation_id), 3600.0)
    reg.start()
    quiet = reg.add(1, address="10.0.0.1", origin="o", name="a", email="", language="en")
    streaming = reg.add(2, address="10.0.0.1", origin="o", name="b", email="", language="zh")
    streaming.streams = 1
    busy = reg.add(3, address="10.0.0.2", origin="o", name="c", email="", language="en")
    assert quiet.token != streaming.token and len(quiet.token) >= 40
    for _ in range(30):  # 15 minutes; the busy visitor sends something every 30 s
        clock.advance(30.0)
        reg.touch(busy)
    assert idle == [1]
    assert quiet.ended and not streaming.ended and not busy.ended
    clock.advance(3600.0)
    assert reg.by_token(quiet.token) is None
    assert idle == [1, 3]  # busy stopped at the last step
    reg.stop()


def test_a_token_must_be_the_exact_one() -> None:
    reg = VisitorRegistry(MemoryReactorClock(), 60.0, lambda s: None)
    s: VisitorSession = reg.add(1, address="a", origin="o", name="n", email="", language="en")
    assert reg.by_token(s.token.encode()) is s
    for bad in (None, "", s.token[:-1], s.token + "x", s.token.upper(), b"\xff" * 43, "a" * 5000):
        assert reg.by_token(bad) is None


def test_a_token_sent_from_another_site_keeps_no_chat_alive() -> None:
    """A leaked token in a request of another site (or none) is refused and is not the
    visitor's activity: the lookup touched the session before the site was checked."""
    from twisted.web.test.requesthelper import DummyRequest

    clock = MemoryReactorClock()
    idle: list[int] = []
    reg = VisitorRegistry(clock, 15 * 60.0, lambda s: idle.append(s.conversation_id), 60.0)
    reg.start()
    root = PublicChatRoot(
        clock=clock,
        origins=OriginAllowList(clock, lambda: defer.succeed(["https://shop.example"])),
        visitors=reg,
    )
    s = reg.add(1, address="a", origin="https://shop.example", name="n", email="", language="en")
    for _ in range(30):  # 15 minutes of requests with the token, from elsewhere
        clock.advance(30.0)
        for origin in ("https://evil.example", None):
            request = DummyRequest([b"chat", b"api", b"ping"])
            request.requestHeaders.setRawHeaders(b"x-chat-token", [s.token.encode()])
            request.chat_origin = origin  # type: ignore[attr-defined]
            assert root.visitor(request) is None
    assert idle == [1]  # idle: ended as if nothing came
    reg.stop()
    fresh = reg.add(
        2, address="a", origin="https://shop.example", name="n", email="", language="en"
    )
    clock.advance(100.0)
    request = DummyRequest([b"chat", b"api", b"ping"])
    request.requestHeaders.setRawHeaders(b"x-chat-token", [fresh.token.encode()])
    request.chat_origin = "https://shop.example"  # type: ignore[attr-defined]
    assert root.visitor(request) is fresh and fresh.last_seen == clock.seconds()


# ---- the visitor's address -------------------------------------------------------------
def _request(peer: str, forwarded: str | None = None) -> Any:
    from twisted.internet.address import IPv4Address
    from twisted.web.test.requesthelper import DummyRequest

    request = DummyRequest([b""])
    request.client = cast(Any, IPv4Address("TCP", peer, 40000))
    if forwarded is not None:
        request.requestHeaders.addRawHeader(b"X-Forwarded-For", forwarded.encode())
    return request


def test_forwarded_for_counts_only_from_a_trusted_proxy_and_only_its_last_hop() -> None:
    from webui.chat.site import client_address

    trusted = {"10.0.0.5"}
    assert client_address(_request("203.0.113.7", "198.51.100.1"), trusted) == "203.0.113.7"
    assert client_address(_request("10.0.0.5", "198.51.100.1"), trusted) == "198.51.100.1"
    # the hops before the last are the client's own claims
    assert client_address(_request("10.0.0.5", "1.2.3.4, 198.51.100.1"), trusted) == (
        "198.51.100.1"
    )
    assert client_address(_request("10.0.0.5", "2001:db8::1"), trusted) == "2001:db8::1"
    for junk in ("", "not-an-ip", "198.51.100.1; drop", "1.2.3.4, ", "x" * 300):
        assert client_address(_request("10.0.0.5", junk), trusted) == "10.0.0.5"
    assert client_address(_request("10.0.0.5"), trusted) == "10.0.0.5"


def test_an_ipv6_address_is_counted_by_its_64() -> None:
    from webui.chat.limits import address_key

    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("203.0.113.7") == "203.0.113.7"
    assert address_key("unix") == "unix"


# ---- the connections the public site holds ------------------------------------------------
def _connect(site: Any, host: str) -> Any:
    kind = IPv6Address if ":" in host else IPv4Address
    proto = site.buildProtocol(kind("TCP", host, 40000))
    if proto is not None:
        proto.makeConnection(StringTransport(peerAddress=kind("TCP", host, 40000)))
    return proto


def test_the_site_caps_connections_per_address_and_in_all_and_frees_them_when_lost() -> None:
    site = ChatSite(
        resource.Resource(),
        1024,
        max_connections=5,
        per_address=2,
        trusted_proxies=("10.9.9.9",),
    )
    site.timeOut = None  # no idle timers on the global reactor here
    first = [_connect(site, "203.0.113.7") for _ in range(2)]
    assert all(p is not None for p in first)
    assert _connect(site, "203.0.113.7") is None  # the address's cap
    # one IPv6 customer line (a /64) is one address
    assert _connect(site, "2001:db8:1:2::a") is not None
    assert _connect(site, "2001:db8:1:2::b") is not None
    assert _connect(site, "2001:db8:1:2::c") is None
    assert site.open == 4 and site.refused == 2
    # a trusted proxy has no cap of its own, only the site's
    assert _connect(site, "10.9.9.9") is not None
    assert _connect(site, "10.9.9.9") is None  # 5 open: the site's cap
    first[0].connectionLost(Failure(ConnectionError("gone")))
    assert site.open == 4
    assert _connect(site, "203.0.113.7") is not None  # its place is free again
    assert site.connections == {"203.0.113.7": 2, "2001:db8:1:2::/64": 2, "10.9.9.9": 1}


def test_the_unit_has_descriptors_for_the_chat_sites_connections_too() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(Path(__file__).resolve().parents[2] / "systemd" / "ccboxd.service")
    defaults = parse("")
    chat = defaults.chat.max_visitors * CONNECTIONS_PER_VISITOR + CONNECTION_SLACK
    # twice what the unit's comment adds up: FastAGI, the web UI's 1,200, the rest's 192
    assert int(unit["Service"]["LimitNOFILE"]) >= 2 * (
        defaults.fastagi.max_sessions + 1200 + 192 + chat
    )


def test_the_access_line_leaves_out_the_query_with_the_visitors_token() -> None:
    site = ChatSite(resource.Resource(), 1024, max_connections=1)
    request = _request("203.0.113.7")
    request.method = b"GET"
    request.uri = b"/chat/api/stream?t=SECRET-TOKEN"
    request.path = b"/chat/api/stream"
    request.code = 200
    lines: list[str] = []

    def seen(event: dict[str, Any]) -> None:
        lines.append(formatEvent(event))

    observer: Any = seen
    globalLogPublisher.addObserver(observer)
    try:
        site.log(request)
    finally:
        globalLogPublisher.removeObserver(observer)
    assert lines == ["GET /chat/api/stream 200"]


# ---- the state a reconnecting stream is told -------------------------------------------------
class _OneLookUp:
    """The engine's ``conversation(id)`` alone: a reconnect must not walk ``waiting()`` and
    ``active()`` (every conversation, copied) for one chat."""

    def __init__(self, *convs: Conversation) -> None:
        self.convs = {c.id: c for c in convs}

    def conversation(self, conversation_id: int) -> Conversation | None:
        return self.convs.get(conversation_id)


def test_a_reconnect_looks_its_chat_up_alone() -> None:
    def conv(cid: int, state: str) -> Conversation:
        return Conversation(cid, "chat", state, 1, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))

    channels = _OneLookUp(conv(1, "offered"), conv(2, "wrap_up"), conv(3, "ended"))
    assert current_state(channels, 1) == {
        "type": "state",
        "conversation": 1,
        "state": "offered",
        "agent": None,
        "queue": None,
        "position": None,
    }
    assert current_state(channels, 2)["state"] == "wrap_up"  # type: ignore[index]
    assert current_state(channels, 3) is None
    assert current_state(channels, 4) is None
