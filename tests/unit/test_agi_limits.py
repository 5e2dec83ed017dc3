"""What a FastAGI peer may hold before its header is in: a deadline, bytes per session and
in flight, a cap on sessions; refusals logged without flooding and shown on the health page.
RECORD FILE's ``(writefile)`` is an error of its own, not a hangup."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher

from appliance import health
from appliance.config import parse
from drivers.asterisk.agi.limits import LOG_EVERY_S, QUIET_S, FastAGILimits, Refusals
from drivers.asterisk.agi.server import FastAGIFactory, FastAGIServer
from drivers.asterisk.agi.session import AGISessionProtocol, RecordFileError
from tests.unit.test_agi_header import header

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "ccboxd.service"


class Box:
    """A FastAGI factory on a driven clock; sessions on StringTransports."""

    def __init__(self, **limits: Any) -> None:
        self.clock = MemoryReactorClock()
        self.health = health.HealthRegistry()
        self.ran: list[AGISessionProtocol] = []

        async def route(s: AGISessionProtocol) -> None:
            self.ran.append(s)
            await s.answer()

        self.refusals = Refusals(self.clock, self.health, lambda: (health.OK, "listening"))
        self.factory = FastAGIFactory(
            self.clock, {"inbound": route}, limits=FastAGILimits(**limits), refusals=self.refusals
        )

    def connect(self) -> tuple[AGISessionProtocol | None, StringTransport]:
        proto = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport()
        if proto is not None:
            proto.makeConnection(transport)
        return proto, transport


@pytest.fixture
def logged() -> Any:
    lines: list[str] = []

    def observer(event: Any) -> None:
        lines.append(formatEvent(event) or "")

    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


def test_a_header_still_incomplete_at_the_deadline_is_refused(logged: list[str]) -> None:
    box = Box(header_timeout_s=5.0)
    proto, transport = box.connect()
    assert proto is not None
    proto.dataReceived(header()[:200])  # a stalled header: part of it, then nothing
    box.clock.advance(4.9)
    assert not transport.disconnecting
    box.clock.advance(0.2)
    assert transport.disconnecting and box.ran == []
    assert box.refusals.counts == {"header timeout": 1}
    assert any("no whole header in 5 s" in line for line in logged)
    proto.connectionLost(None)
    assert box.factory.sessions == set()


def test_a_header_in_time_leaves_no_deadline_behind() -> None:
    box = Box(header_timeout_s=5.0)
    proto, transport = box.connect()
    assert proto is not None
    proto.dataReceived(header())
    proto.dataReceived(b"200 result=1\n")
    assert len(box.ran) == 1
    # Only the ANSWER's own reply timeout is pending: the header's deadline is gone.
    assert [round(c.getTime() - box.clock.seconds()) for c in box.clock.getDelayedCalls()] == [30]
    box.clock.advance(10)
    assert not transport.disconnecting and box.refusals.counts == {}


def test_a_header_past_its_size_cap_is_refused_before_it_is_buffered() -> None:
    box = Box(header_max_bytes=16 * 1024)
    proto, transport = box.connect()
    assert proto is not None
    proto.dataReceived(b"agi_network: yes\nagi_calleridname: " + b"x" * 16 * 1024)
    assert transport.disconnecting and box.refusals.counts == {"header size": 1}
    assert len(proto._buffer) == 0  # nothing of it kept  # type: ignore[attr-defined]
    # Asterisk's header with a long name (a 1,000-character one) is well inside.
    proto, transport = box.connect()
    assert proto is not None
    proto.dataReceived(header(calleridname="N" * 1000))
    proto.dataReceived(b"200 result=1\n")
    assert len(box.ran) == 1


def test_header_bytes_in_flight_are_capped_across_sessions() -> None:
    box = Box(header_bytes_in_flight=1000)
    a, ta = box.connect()
    b, tb = box.connect()
    assert a is not None and b is not None
    a.dataReceived(b"agi_network: yes\nagi_calleridname: " + b"a" * 560)
    b.dataReceived(b"agi_network: yes\nagi_calleridname: " + b"b" * 560)
    assert not ta.disconnecting and tb.disconnecting
    assert box.refusals.counts == {"header bytes": 1}
    b.connectionLost(None)
    assert box.factory.header_budget.used == 35 + 560
    a.connectionLost(None)  # a stalled header gives its bytes back when it goes
    assert box.factory.header_budget.used == 0
    c, _ = box.connect()
    assert c is not None
    c.dataReceived(header())
    assert box.factory.header_budget.used == 0  # a header read gives them back at once
    c.dataReceived(b"200 result=1\n")
    assert len(box.ran) == 1


def test_sessions_past_the_cap_are_closed_at_once(logged: list[str]) -> None:
    box = Box(max_sessions=2)
    first, _ = box.connect()
    second, _ = box.connect()
    third, _ = box.connect()
    assert first is not None and second is not None and third is None
    assert box.refusals.counts == {"sessions": 1}
    assert [line for line in logged if "refused" in line] == [
        "FastAGI session refused: 2 sessions open, the cap (max_sessions)"
    ]
    first.connectionLost(None)
    again, transport = box.connect()
    assert again is not None
    again.dataReceived(header())
    again.dataReceived(b"200 result=1\n")
    assert len(box.ran) == 1 and transport.value().endswith(b"ANSWER\n")


def test_a_flood_of_refusals_logs_a_line_per_interval_and_the_health_page_shows_it(
    logged: list[str],
) -> None:
    box = Box(max_sessions=0)
    for _ in range(100):
        assert box.connect()[0] is None
    lines = [line for line in logged if "refused" in line]
    assert len(lines) == 1
    [part] = box.health.parts()
    assert part.state == health.DEGRADED and "sessions: 100" in part.detail
    box.clock.advance(LOG_EVERY_S)
    box.connect()
    lines = [line for line in logged if "refused" in line]
    assert len(lines) == 2 and "(99 more refused for sessions since the last line)" in lines[1]
    box.clock.advance(QUIET_S - 1)
    assert box.health.parts()[0].state == health.DEGRADED
    box.clock.advance(1)
    assert [(p.state, p.detail) for p in box.health.parts()] == [(health.OK, "listening")]


def test_the_limits_come_from_the_config_and_reach_the_server() -> None:
    cfg = parse(
        "[fastagi]\nheader_timeout_s = 2\nheader_max_bytes = 8192\n"
        "header_bytes_in_flight = 100000\nmax_sessions = 50\n"
    ).fastagi
    assert (cfg.header_timeout_s, cfg.header_max_bytes, cfg.max_sessions) == (2, 8192, 50)
    defaults = parse("").fastagi
    assert (defaults.header_timeout_s, defaults.header_max_bytes, defaults.max_sessions) == (
        5,
        16384,
        480,
    )
    limits = FastAGILimits(2, 8192, 100000, 50)
    server = FastAGIServer(MemoryReactorClock(), "127.0.0.1", 0, {}, limits=limits)
    assert server.factory.limits == limits and server.factory.header_budget.limit == 100000


def test_the_unit_has_descriptors_for_the_session_cap_and_the_web_ui() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    limit = int(unit["Service"]["LimitNOFILE"])
    # Twice the sessions cap and the web UI's 1,200, as the unit's comment adds them up.
    assert limit >= 2 * (parse("").fastagi.max_sessions + 1200)


# ---- RECORD FILE -----------------------------------------------------------------------------


def _recording(*replies: bytes) -> tuple[list[Any], StringTransport, AGISessionProtocol]:
    ready: list[AGISessionProtocol] = []
    proto = AGISessionProtocol(MemoryReactorClock(), ready.append)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(header())
    out: list[Any] = []
    d = defer.ensureDeferred(proto.record_file("/var/spool/ccbox/vm/1", "wav", "#", 4000))
    d.addBoth(out.append)
    for reply in replies:
        proto.dataReceived(reply)
    return out, transport, proto


def test_record_file_writefile_is_an_error_of_its_own_not_a_hangup() -> None:
    """handle_recordfile: ``200 result=-1 (writefile)`` when ast_writefile fails; the
    channel is untouched, so the caller is still there."""
    out, _, proto = _recording(b"200 result=-1 (writefile)\n")
    [failure] = out
    assert failure.check(RecordFileError)
    assert "/var/spool/ccbox/vm/1.wav" in str(failure.value)
    assert not proto.hung_up and not proto.closed


def test_record_file_minus_one_without_hangup_asks_the_channel() -> None:
    """``(randomerror)``: the beep failed; a missing beep is not a hangup."""
    out, transport, _ = _recording(b"200 result=-1 (randomerror) endpos=0\n", b"200 result=6\n")
    assert transport.value().endswith(b"CHANNEL STATUS\n")
    assert [(r.hung_up, r.endpos) for r in out] == [(False, 0)]
    out, _, _ = _recording(b"200 result=-1 (hangup) endpos=800\n")
    assert [(r.hung_up, r.endpos) for r in out] == [(True, 800)]


def test_after_the_refusals_the_part_says_what_the_server_is_doing() -> None:
    clock = MemoryReactorClock()
    registry = health.HealthRegistry()
    server = FastAGIServer(
        clock, "127.0.0.1", 4573, {}, health_registry=registry, limits=FastAGILimits(max_sessions=0)
    )
    server.startService()
    assert server.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000)) is None
    part = {p.name: p for p in registry.parts()}["fastagi"]
    assert part.state == health.DEGRADED and "sessions: 1" in part.detail
    clock.advance(QUIET_S)
    part = {p.name: p for p in registry.parts()}["fastagi"]
    assert (part.state, part.detail) == (health.OK, "listening on 127.0.0.1:4573")
    server.stop_listening()
    server.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40001))
    clock.advance(QUIET_S)  # a stopping server stays "stopping", not "listening"
    part = {p.name: p for p in registry.parts()}["fastagi"]
    assert (part.state, part.detail) == (health.DEGRADED, "stopping: no new calls")
