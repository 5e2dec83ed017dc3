"""The master's start-up reports: a part that said how it is while starting keeps it."""

from __future__ import annotations

from pathlib import Path

from twisted.application import service
from twisted.internet import defer

from appliance import health
from appliance.config import parse
from appliance.master import ApplianceMaster


class Part(service.Service):
    """Starts at once; ``says`` is what it reports about itself while starting, if anything."""

    def __init__(self, name: str, registry: health.HealthRegistry, says: str = "") -> None:
        self.name = name
        self.registry = registry
        self.says = says

    def startService(self) -> None:
        super().startService()
        if self.says:
            self.registry.report(self.name, health.DOWN, self.says)


def started_master(*parts: tuple[str, str]) -> ApplianceMaster:
    config = parse(f"[ccbox]\ndata_dir = {Path('/nonexistent')}\n")
    m = ApplianceMaster.__new__(ApplianceMaster)
    service.MultiService.__init__(m)
    m.config, m.reactor, m.health = config, None, health.HealthRegistry()
    m._started = []
    m.ready = defer.Deferred()
    for name, says in parts:
        Part(name, m.health, says).setServiceParent(m)
    m.startService()
    assert m.ready.called
    return m


def test_a_part_that_reported_itself_is_not_overwritten_with_ok() -> None:
    m = started_master(
        ("db", ""), ("ami", "connection refused (127.0.0.1:5038); retrying"), ("web", "")
    )
    states = {p.name: (p.state, p.detail) for p in m.health.parts()}
    assert states == {
        "ami": (health.DOWN, "connection refused (127.0.0.1:5038); retrying"),
        "db": (health.OK, ""),
        "web": (health.OK, ""),
    }
    assert m.health.overall() == health.DOWN


def test_every_part_quiet_while_starting_is_ok_once_started() -> None:
    m = started_master(("db", ""), ("web", ""))
    assert m.health.overall() == health.OK


def test_overall_is_the_worst_part_and_get_reads_one() -> None:
    h = health.HealthRegistry()
    assert h.overall() == health.OK and h.get("ami") is None
    h.report("db", health.OK)
    h.report("ami", health.STARTING, "connecting")
    assert h.overall() == health.STARTING
    h.report("recorder", health.DEGRADED, "disk nearly full")
    assert h.overall() == health.DEGRADED
    h.report("ami", health.DOWN, "connection refused")
    assert h.overall() == health.DOWN
    part = h.get("ami")
    assert part is not None and part.detail == "connection refused"
    h.report("ami", health.DOWN, "connection refused")  # the same again: not a new report
    assert h.get("ami") is part
