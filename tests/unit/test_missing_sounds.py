"""A sound the switch lacks is an installation fault: logged once per name, on the health
page, and never a reason to drop the caller (the session tells it from a hangup)."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import LogLevel, globalLogPublisher

from appliance import health
from drivers.asterisk.agi.missing_sounds import PART, SHOWN, MissingSounds
from drivers.asterisk.agi.server import FastAGIServer


def test_each_name_is_logged_once_and_the_health_page_names_them() -> None:
    logged: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(logged.append)
    try:
        registry = health.HealthRegistry()
        sounds = MissingSounds(registry)
        for name in ("ccbox-welcome", "ccbox-welcome", "ccbox-queue-wait", "ccbox-welcome"):
            sounds.report(name)
    finally:
        globalLogPublisher.removeObserver(logged.append)
    errors = [e for e in logged if e.get("log_level") == LogLevel.error]
    assert [e["name"] for e in errors] == ["ccbox-welcome", "ccbox-queue-wait"]
    assert sounds.names == {"ccbox-welcome": 3, "ccbox-queue-wait": 1}
    [part] = [p for p in registry.parts() if p.name == PART]
    assert part.state == health.DEGRADED
    assert "ccbox-welcome" in part.detail and "ccbox-queue-wait" in part.detail
    assert registry.overall() == health.DEGRADED


def test_the_health_detail_stays_short_with_many_names() -> None:
    registry = health.HealthRegistry()
    sounds = MissingSounds(registry)
    for i in range(SHOWN + 5):
        sounds.report(f"ccbox-x{i:02d}")
    [part] = registry.parts()
    assert part.detail.endswith("(+5 more)") and part.detail.count("ccbox-x") == SHOWN


def test_sessions_of_the_server_report_into_its_health() -> None:
    registry = health.HealthRegistry()
    server = FastAGIServer(MemoryReactorClock(), "127.0.0.1", 0, {}, health_registry=registry)
    proto = server.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
    assert proto is not None
    proto.makeConnection(StringTransport())
    assert proto.on_missing_sound is not None
    proto.on_missing_sound("ccbox-welcome")
    assert [(p.name, p.state) for p in registry.parts()] == [(PART, health.DEGRADED)]
