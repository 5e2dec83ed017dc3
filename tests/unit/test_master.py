"""The service tree: children start in order, each waiting for the last; stop runs in reverse."""

from __future__ import annotations

from pathlib import Path

from twisted.application import service
from twisted.internet import defer, task
from twisted.trial import unittest

from appliance import health
from appliance.config import parse
from appliance.master import ApplianceMaster


class Recorder(service.Service):
    def __init__(self, name: str, log: list[str], clock: task.Clock, fail: bool = False) -> None:
        self.name = name
        self.log = log
        self.clock = clock
        self.fail = fail

    def startService(self) -> defer.Deferred[None]:  # type: ignore[override]
        super().startService()
        self.log.append(f"start {self.name}")
        if self.fail:
            return defer.fail(RuntimeError(f"{self.name} cannot start"))
        # finishes later: the next child must wait for it
        return task.deferLater(self.clock, 1.0, self.log.append, f"started {self.name}")

    def stopService(self) -> defer.Deferred[None]:  # type: ignore[override]
        super().stopService()
        self.log.append(f"stop {self.name}")
        return task.deferLater(self.clock, 1.0, self.log.append, f"stopped {self.name}")


def master_with(children: list[Recorder]) -> ApplianceMaster:
    """A master whose db and web are replaced by recorders (no database, no port)."""
    config = parse(f"[ccbox]\ndata_dir = {Path('/nonexistent')}\n")
    m = ApplianceMaster.__new__(ApplianceMaster)
    service.MultiService.__init__(m)
    m.config, m.reactor, m.health = config, None, health.HealthRegistry()
    m._started = []
    m.fastagi, m.stop_report = None, None  # no calls to hand off at the stop
    m.ready = defer.Deferred()
    for child in children:
        child.setServiceParent(m)
    return m


class MasterTests(unittest.TestCase):
    def test_children_start_in_order_and_stop_in_reverse(self) -> None:
        log: list[str] = []
        clock = task.Clock()
        m = master_with([Recorder(n, log, clock) for n in ("db", "acd", "web")])
        m.startService()
        self.assertEqual(log, ["start db"])  # acd waits for db
        clock.advance(1)
        self.assertEqual(log, ["start db", "started db", "start acd"])
        clock.advance(1)
        clock.advance(1)
        self.assertTrue(m.ready.called)
        self.assertEqual(m.health.overall(), health.OK)
        del log[:]
        stopped = m.stopService()
        for _ in range(3):
            clock.advance(1)
        self.assertTrue(stopped.called)
        self.assertEqual(
            log, ["stop web", "stopped web", "stop acd", "stopped acd", "stop db", "stopped db"]
        )

    def test_a_failed_start_fails_ready_and_stop_still_stops_it(self) -> None:
        log: list[str] = []
        clock = task.Clock()
        m = master_with(
            [
                Recorder("db", log, clock),
                Recorder("web", log, clock, fail=True),
                Recorder("never", log, clock),
            ]
        )
        m.startService()
        clock.advance(1)
        failure = self.failureResultOf(m.ready, RuntimeError)
        self.assertIn("web cannot start", str(failure.value))
        self.assertNotIn("start never", log)
        d = m.stopService()
        clock.advance(1)
        clock.advance(1)
        self.assertTrue(d.called)
        self.assertIn("stop web", log)  # the half-started child is stopped too
        self.assertEqual(log[-1], "stopped db")
