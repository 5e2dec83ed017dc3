"""Event bus delivery and isolation; the health registry's overall state."""

from __future__ import annotations

from dataclasses import dataclass

from twisted.logger import globalLogPublisher

from appliance import health
from appliance.eventbus import EventBus


@dataclass(frozen=True)
class CallEvent:
    uniqueid: str


@dataclass(frozen=True)
class CallAnswered(CallEvent):
    agent: str


def test_subscribers_get_their_class_and_subclasses_in_order() -> None:
    bus = EventBus()
    got: list[tuple[str, object]] = []
    bus.subscribe(CallAnswered, lambda e: got.append(("answered", e)))
    bus.subscribe(CallEvent, lambda e: got.append(("any", e)))
    e = CallAnswered("1.1", "1001")
    bus.publish(e)
    bus.publish(CallEvent("1.2"))
    assert got == [("answered", e), ("any", e), ("any", CallEvent("1.2"))]


def test_a_failing_subscriber_is_logged_and_others_still_run() -> None:
    bus = EventBus()
    got: list[object] = []
    logged: list[dict] = []

    def boom(_e: object) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(CallEvent, boom)
    bus.subscribe(CallEvent, got.append)
    globalLogPublisher.addObserver(logged.append)
    try:
        bus.publish(CallEvent("x"))
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert got == [CallEvent("x")]
    assert any(ev.get("log_failure") is not None for ev in logged)


def test_unsubscribe() -> None:
    bus = EventBus()
    got: list[object] = []
    sub = bus.subscribe(CallEvent, got.append)
    bus.unsubscribe(sub)
    bus.unsubscribe(sub)  # twice is harmless
    bus.publish(CallEvent("x"))
    assert got == []


def test_health_overall_is_the_worst_part() -> None:
    h = health.HealthRegistry()
    h.report("db", health.OK)
    assert h.overall() == health.OK
    h.report("ami", health.DEGRADED, "reconnecting")
    assert h.overall() == health.DEGRADED
    h.report("web", health.DOWN)
    assert h.overall() == health.DOWN
    assert [p.name for p in h.parts()] == ["ami", "db", "web"]
    since = h.parts()[0].since
    h.report("ami", health.DEGRADED, "reconnecting")
    assert h.parts()[0].since == since  # unchanged report keeps its time


def test_health_since_is_when_the_state_began_not_the_last_detail() -> None:
    h = health.HealthRegistry()
    h.report("db", health.DEGRADED, "writes failing: disk full; 1 calls writes waiting")
    began = h.get("db").since  # type: ignore[union-attr]
    h.report("db", health.DEGRADED, "writes failing: disk full; 7 calls writes waiting")
    part = h.get("db")
    assert part is not None
    assert part.detail.endswith("7 calls writes waiting")  # the detail is the latest
    assert part.since == began  # but the fault began when it began
    h.report("db", health.OK)
    assert h.get("db").since >= began  # type: ignore[union-attr]
    assert h.get("db").state == health.OK  # type: ignore[union-attr]
