"""SerialLink on a real pseudo-terminal: bytes both ways, unplug, replug, a missing device.

The I/O runs in the real reactor (a pty is a real fd); the backoff runs on a task.Clock the
test advances, so a replug is exercised without waiting seconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.trial import unittest

from drivers.health import DOWN, OK, LastReports
from drivers.serial.port import SerialLink
from drivers.serial.sim.pty import PtyLink
from tests.support.tmp import temp_dir


class Recorder(Protocol):
    """Keeps what it received; ``until`` fires once a condition on it holds."""

    def __init__(self) -> None:
        self.data = b""
        self.lost: Failure | None = None
        self._waiting: list[tuple[Callable[[], bool], defer.Deferred[None]]] = []

    def dataReceived(self, data: bytes) -> None:
        self.data += data
        self._check()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self.lost = reason
        self._check()

    def until(self, condition: Callable[[], bool]) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self._waiting.append((condition, d))
        self._check()
        return d.addTimeout(20, reactor)  # generous: a loaded machine is slow, not wrong

    def _check(self) -> None:
        for item in list(self._waiting):
            if item[0]():
                self._waiting.remove(item)
                item[1].callback(None)


def send(protocol: Protocol | None, data: bytes) -> None:
    assert protocol is not None
    transport: Any = protocol.transport
    transport.write(data)


def waits(clock: task.Clock) -> list[float]:
    """The delays of the calls pending on ``clock``, from now."""
    return [c.getTime() - clock.seconds() for c in clock.getDelayedCalls()]  # type: ignore[misc]


def open_ttys() -> dict[int, str]:
    """This process's descriptors on pseudo-terminals (other tests' threads may open and
    close files meanwhile: only the ttys are ours to count)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # listdir's own descriptor, already closed
            continue
        if target.startswith("/dev/pts/") or target == "/dev/ptmx":
            out[int(name)] = target
    return out


class SerialLinkTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.health = LastReports()
        self.drivers: list[Recorder] = []
        self.tmp = temp_dir(self)

    def driver(self) -> Recorder:
        p = Recorder()
        self.drivers.append(p)
        return p

    def link(self, device: Path) -> SerialLink:
        link = SerialLink(
            reactor, device, self.driver, name="panel", health=self.health, clock=self.clock
        )
        link.startService()
        self.addCleanup(link.stopService)
        return link

    def plug(self, sim: Recorder, at: Path | None = None) -> PtyLink:
        pty = PtyLink.open(reactor, sim, at)
        self.addCleanup(pty.close)
        return pty

    async def test_bytes_both_ways(self) -> None:
        sim = Recorder()
        pty = self.plug(sim)
        link = self.link(pty.device)
        self.assertTrue(link.connected)
        self.assertEqual(self.health.get("panel").state, OK)  # type: ignore[union-attr]
        send(link.protocol, b"PING\r\n")
        await sim.until(lambda: sim.data == b"PING\r\n")
        send(sim, b"PONG\r\n\x00\xff")  # raw: no CR/LF translation, all 8 bits
        await self.drivers[0].until(lambda: self.drivers[0].data == b"PONG\r\n\x00\xff")

    async def test_unplug_is_noticed_and_a_replug_on_the_same_link_reconnects(self) -> None:
        at = self.tmp / "ttyPANEL"
        first = self.plug(Recorder(), at)
        link = self.link(at)
        driver = self.drivers[0]
        first.unplug()
        await driver.until(lambda: driver.lost is not None)
        self.assertFalse(link.connected)
        self.assertIsNone(link.protocol)
        part = self.health.get("panel")
        assert part is not None
        self.assertEqual(part.state, DOWN)
        self.assertIn("device gone (unplugged?); retrying in 1 s", part.detail)
        # still unplugged after the first retry: the next wait is longer
        self.clock.advance(1)
        self.assertFalse(link.connected)
        self.assertEqual(waits(self.clock), [2])
        sim = Recorder()
        self.plug(sim, at)
        self.clock.advance(2)
        self.assertTrue(link.connected)
        self.assertEqual(link.opens, 2)
        self.assertEqual(self.health.get("panel").state, OK)  # type: ignore[union-attr]
        # the new connection has a new protocol, and bytes flow again
        self.assertIsNot(link.protocol, driver)
        send(link.protocol, b"HELLO\r\n")
        await sim.until(lambda: sim.data == b"HELLO\r\n")

    async def test_a_missing_device_is_retried_on_the_backoff_without_a_crash(self) -> None:
        at = self.tmp / "nothing-here"
        link = self.link(at)
        self.assertFalse(link.connected)
        part = self.health.get("panel")
        assert part is not None
        self.assertEqual(part.state, DOWN)
        self.assertIn("No such file", part.detail)
        seen = []
        for _ in range(6):
            (wait,) = waits(self.clock)
            seen.append(wait)
            self.clock.advance(wait)
        self.assertEqual(seen, [1, 2, 5, 10, 10, 10])
        self.assertEqual(link.opens, 0)
        self.plug(Recorder(), at)
        self.clock.advance(10)
        self.assertTrue(link.connected)

    async def test_stop_closes_the_device_and_stops_retrying(self) -> None:
        before = open_ttys()
        sim = Recorder()
        pty = PtyLink.open(reactor, sim, self.tmp / "tty0")
        link = SerialLink(reactor, pty.device, self.driver, name="panel", clock=self.clock)
        link.startService()
        self.assertTrue(link.connected)
        await link.stopService()
        self.assertFalse(link.connected)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIsNotNone(self.drivers[0].lost)
        pty.close()
        self.assertEqual(open_ttys(), before)

    async def test_stop_while_waiting_to_retry_cancels_the_retry(self) -> None:
        link = SerialLink(reactor, self.tmp / "absent", self.driver, name="panel", clock=self.clock)
        link.startService()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        await link.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    async def test_a_driver_that_fails_to_start_is_closed_and_retried(self) -> None:
        before = open_ttys()
        failing = True

        class Failing(Recorder):
            def connectionMade(self) -> None:
                if failing:
                    raise RuntimeError("the driver could not start")

        pty = self.plug(Recorder(), self.tmp / "ttyFAIL")
        drivers: list[Failing] = []

        def factory() -> Failing:
            drivers.append(Failing())
            return drivers[-1]

        link = SerialLink(
            reactor,
            pty.device,
            factory,
            name="panel",
            health=self.health,
            clock=self.clock,
        )
        link.startService()
        self.addCleanup(link.stopService)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertFalse(link.connected)
        self.assertIsNotNone(drivers[0].lost)  # told it is not connected after all
        part = self.health.get("panel")
        assert part is not None
        self.assertEqual(part.state, DOWN)
        self.assertIn("the driver could not start", part.detail)
        self.assertEqual(waits(self.clock), [1])  # retried, not given up
        pty.close()
        self.assertEqual(open_ttys(), before)  # and its fd was closed, not leaked
        self.plug(Recorder(), self.tmp / "ttyFAIL")
        failing = False
        self.clock.advance(1)
        self.assertTrue(link.connected)
        self.assertIs(link.protocol, drivers[-1])

    async def test_a_port_held_by_one_link_is_refused_to_a_second(self) -> None:
        pty = self.plug(Recorder(), self.tmp / "ttyONE")
        first = self.link(pty.device)
        second = SerialLink(
            reactor, pty.device, Recorder, name="modem", health=self.health, clock=self.clock
        )
        second.startService()
        self.addCleanup(second.stopService)
        self.assertTrue(first.connected)
        self.assertFalse(second.connected)
        part = self.health.get("modem")
        assert part is not None
        self.assertEqual(part.state, DOWN)
        self.assertIn("Could not exclusively lock port", part.detail)
        await first.stopService()  # the first lets go: the second gets it at its retry
        self.clock.advance(1)
        self.assertTrue(second.connected)
