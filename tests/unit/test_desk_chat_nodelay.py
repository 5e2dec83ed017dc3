"""The desk's and the visitor's chat streams turn Nagle's algorithm off on their connection
(webui/desk_chat/stream.py, webui/chat/stream.py): a frame written soon after another must
not wait for the browser's delayed ACK (the bare relay of tests/benchmarks/bench_chat.py:
delivery p99 279 ms with Nagle, 22 ms without)."""

from __future__ import annotations

from types import SimpleNamespace

from twisted.internet.testing import MemoryReactorClock
from twisted.web.test.requesthelper import DummyRequest

from webui.chat.stream import StreamHub, VisitorStream
from webui.desk_chat.stream import DeskHub, DeskStream
from webui.sessions import SessionStore, SessionUser


class Transport:
    def __init__(self) -> None:
        self.no_delay: list[bool] = []

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.no_delay.append(enabled)


def test_the_desk_stream_sets_tcp_nodelay() -> None:
    clock = MemoryReactorClock()
    sessions = SessionStore(idle_seconds=3600, clock=clock.seconds)
    session, _ = sessions.get_or_create(None)
    session.user = SessionUser(2, "ann", "agent", "Ann")
    hub = DeskHub(clock, SimpleNamespace(), sessions)
    request = DummyRequest([b"stream"])
    transport = Transport()
    request.channel = SimpleNamespace(transport=transport)  # type: ignore[assignment]
    DeskStream(hub, request, session, 7)
    assert transport.no_delay == [True]
    # a request without a TCP transport (a test double, a UNIX socket) is left alone
    bare = DummyRequest([b"stream"])
    bare.channel = SimpleNamespace(transport=object())  # type: ignore[assignment]
    DeskStream(hub, bare, session, 7)


def test_the_visitor_stream_sets_tcp_nodelay() -> None:
    hub = StreamHub(SimpleNamespace(), 10, lambda _cid: None, MemoryReactorClock())
    request = DummyRequest([b"stream"])
    transport = Transport()
    request.channel = SimpleNamespace(transport=transport)  # type: ignore[assignment]
    VisitorStream(hub, request, SimpleNamespace(conversation_id=1))  # type: ignore[arg-type]
    assert transport.no_delay == [True]
