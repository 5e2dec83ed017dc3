"""The admin site refuses a body past its path's limit before reading it (webui/service.py):
Twisted keeps a whole body, on disk past 100 KB, before any login check runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web import resource

from webui.json_body import MAX_BODY
from webui.list_upload import MAX_UPLOAD_BYTES
from webui.service import LINGER_BYTES, LINGER_S, QuietSite, admin_body_limits

WEBUI = Path(__file__).resolve().parents[2] / "webui"


class Echo(resource.Resource):
    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[bytes] = []

    def render(self, request: Any) -> bytes:
        self.bodies.append(request.content.read())
        return b"ok"


def _connect(site: QuietSite) -> tuple[Any, StringTransport]:
    # the connection's idle timeout on a clock of its own, not a timer left on the global
    # reactor (a trial test after this one would find it unclean)
    clock: Any = MemoryReactorClock()
    site.reactor = clock
    addr = IPv4Address("TCP", "127.0.0.1", 40000)
    proto = site.buildProtocol(addr)
    transport = StringTransport(peerAddress=addr)
    proto.makeConnection(transport)
    return proto, transport


def _site(kb: int = 5120) -> tuple[QuietSite, Echo]:
    echo = Echo()
    return QuietSite(echo, admin_body_limits(kb)), echo


def _connect_at(site: QuietSite) -> tuple[Any, StringTransport, MemoryReactorClock]:
    proto, transport = _connect(site)
    return proto, transport, site.reactor  # type: ignore[return-value]


def test_a_declared_length_past_the_default_is_refused_before_the_body() -> None:
    site, echo = _site()
    proto, transport = _connect(site)
    proto.dataReceived(
        b"POST /tickets/save HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        + b"x" * 1000
    )
    assert transport.value() == (
        b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    # a lingering close: the rest of the body is read and dropped, then the connection
    # closes with nothing unread (a reset would take the 413 from a client still sending)
    assert not transport.disconnecting
    proto.dataReceived(b"x" * (MAX_BODY - 1000))
    assert not transport.disconnecting
    proto.dataReceived(b"x")
    assert transport.disconnecting
    assert echo.bodies == []


def test_a_refused_body_is_read_only_so_long_and_so_much() -> None:
    site, echo = _site()
    proto, transport, clock = _connect_at(site)
    proto.dataReceived(
        b"POST /tickets/save HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n"
    )
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    clock.advance(LINGER_S - 0.1)
    assert not transport.disconnecting
    clock.advance(0.1)  # a slow sender: closed when the time is up
    assert transport.disconnecting
    proto, transport, clock = _connect_at(site)
    proto.dataReceived(
        b"POST /tickets/save HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n"
    )
    piece = b"x" * (1 << 20)
    for _ in range(LINGER_BYTES // len(piece)):
        proto.dataReceived(piece)
    assert not transport.disconnecting
    proto.dataReceived(b"x")  # a fast one: closed past the bytes
    assert transport.disconnecting
    assert echo.bodies == []


def test_an_upload_path_takes_its_own_limit_and_the_query_is_not_part_of_the_path() -> None:
    site, echo = _site(kb=100)
    assert site.body_limit(b"/admin/campaigns/upload?id=3") == MAX_UPLOAD_BYTES + 64 * 1024
    assert site.body_limit(b"/chat-desk/api/attach?conversation=1") == 100 * 1024
    assert site.body_limit(b"/admin/campaigns/other") == MAX_BODY
    proto, transport = _connect(site)
    body = b"y" * (MAX_BODY + 10)  # over the default, under the list upload's limit
    proto.dataReceived(
        b"POST /admin/campaigns/upload?id=3 HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )
    assert echo.bodies == [body]
    assert b"200 OK" in transport.value()
    proto, transport = _connect(site)
    proto.dataReceived(
        b"POST /chat-desk/api/attach?conversation=1 HTTP/1.1\r\nHost: x\r\n"
        + b"Content-Length: %d\r\n\r\n" % (100 * 1024 + 1)
    )
    assert transport.value().startswith(b"HTTP/1.1 413 ")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def test_a_chunked_body_is_refused_when_it_passes_the_limit_and_taken_under_it() -> None:
    site, echo = _site()
    proto, transport = _connect(site)
    proto.dataReceived(
        b"POST /tickets/save HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"z" * 65536
    for _ in range(MAX_BODY // len(piece) + 1):
        proto.dataReceived(_chunk(piece))
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert not transport.disconnecting  # the rest is read and dropped
    proto.dataReceived(_chunk(piece) + b"0\r\n\r\n")
    assert transport.disconnecting  # the body has ended
    assert transport.value().count(b"HTTP/1.1") == 1
    assert echo.bodies == []

    proto, transport = _connect(site)
    proto.dataReceived(
        b"POST /tickets/save HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    proto.dataReceived(_chunk(b"small") + b"0\r\n\r\n")
    assert echo.bodies == [b"small"]
    assert b"200 OK" in transport.value()


def test_every_handler_with_its_own_body_limit_has_a_path_in_the_table() -> None:
    """A new ``request.body.maxbytes`` upload needs its path here too, or Twisted would
    refuse its bodies past the default before CherryPy sees them."""
    decorated = []
    for path in WEBUI.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r'"request\.body\.maxbytes":[^\n]*\n\s*def (\w+)', text):
            decorated.append(m.group(1))
    wsgi = [p for p in admin_body_limits(5120) if not p.startswith(b"/chat-desk/")]
    assert sorted(decorated) == sorted(p.rsplit(b"/", 1)[1].decode() for p in wsgi)


def test_a_form_body_is_not_parsed_on_the_reactor_but_reaches_the_resource_whole() -> None:
    """Twisted parsed every multipart or urlencoded body (a 200 MB list upload) into
    request.args in memory on the reactor thread; WSGI reads the body itself."""
    seen: list[tuple[dict[bytes, list[bytes]], bytes]] = []

    class Form(resource.Resource):
        isLeaf = True

        def render(self, request: Any) -> bytes:
            seen.append((dict(request.args), request.content.read()))
            return b"ok"

    site = QuietSite(Form(), admin_body_limits(5120))
    boundary = b"XyZ"
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="l.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n\xe5\xbc\xa0\xe4\xb8\x89,13800000000\r\n--XyZ--\r\n"
    )
    for ctype, data in (
        (b"multipart/form-data; boundary=" + boundary, body),
        (b"application/x-www-form-urlencoded", b"name=%E5%BC%A0&x=1"),
    ):
        proto, transport = _connect(site)
        proto.dataReceived(
            b"POST /customers/upload?id=7 HTTP/1.1\r\nHost: x\r\nContent-Type: "
            + ctype
            + b"\r\nContent-Length: %d\r\n\r\n" % len(data)
            + data
        )
        assert b"200 OK" in transport.value()
        assert seen.pop() == ({b"id": [b"7"]}, data)
