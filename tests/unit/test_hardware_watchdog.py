"""The hardware watchdog: fed while the database and the AMI link are healthy, not otherwise.

The feeding logic runs on a MemoryReactorClock with the real DBConnector (inline, SQLite)
and the real /dev/watchdog target writing to a plain file; the thread path is tested
on a FIFO in the real reactor, the serial board through a PtyLink and a simulated board.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, reactor, task
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from appliance.config import ConfigError, WatchdogConfig, parse
from appliance.db.connector import DBConnector
from appliance.hardware.watchdog import Watchdog, database_check, make_target
from drivers.health import DOWN, OK, LastReports
from drivers.serial.sim.pty import PtyLink
from drivers.serial.sim.watchdog_board import SimulatedBoard
from drivers.serial.watchdog import (
    WDIOC_GETTIMEOUT,
    DeviceWatchdog,
    SerialWatchdog,
    WatchdogError,
    unsent,
)
from tests.support.inline_db import inline_db
from tests.support.tmp import temp_dir

SETTINGS = WatchdogConfig(device="/dev/watchdog", interval_s=5, db_timeout_s=3, grace_s=60)


@dataclass
class Ami:
    ready: bool = True


def inline(f: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    """The target's writes at once (a thread pool that runs jobs synchronously)."""
    return defer.maybeDeferred(f, *args)


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DBConnector]:
    """One migrated SQLite database for the tests about the feeding rules (the healthy case
    runs on both backends through conftest's ``db``)."""
    with inline_db(tmp_path_factory.mktemp("wd") / "db.sqlite") as connector:
        yield connector


class Rig:
    def __init__(self, tmp: Path, db_check: Callable[[], defer.Deferred[Any]], ami: Any) -> None:
        self.clock = MemoryReactorClock()
        self.health = LastReports()
        self.file = tmp / "watchdog"
        self.file.write_bytes(b"")
        self.target = DeviceWatchdog(self.clock, self.file, run=inline)
        self.dog = Watchdog(
            self.clock, SETTINGS, self.target, db_check=db_check, ami=ami, health=self.health
        )

    @property
    def kicks(self) -> bytes:
        return self.file.read_bytes()

    def state(self) -> str:
        part = self.health.get("watchdog")
        assert part is not None
        return part.state


def test_fed_while_healthy_and_disarmed_by_a_clean_stop(tmp_path: Path, db: DBConnector) -> None:
    rig = Rig(tmp_path, database_check(db), lambda: Ami(ready=True))
    rig.dog.startService()
    assert rig.kicks == b"\0"  # at once: the real SELECT 1 answered
    rig.clock.advance(5)
    rig.clock.advance(5)
    assert rig.kicks == b"\0" * 3
    assert rig.state() == OK and rig.dog.feeding and rig.dog.status().kicks == 3
    stopped = rig.dog.stopService()
    assert stopped.called
    assert rig.kicks == b"\0" * 3 + b"V"  # the magic close
    assert rig.target._fd is None
    rig.clock.advance(30)
    assert rig.kicks == b"\0" * 3 + b"V"


def test_a_database_that_fails_stops_the_feeding(tmp_path: Path, sqlite_db: DBConnector) -> None:
    rig = Rig(tmp_path, database_check(sqlite_db), None)
    rig.dog.startService()
    assert rig.kicks == b"\0"
    sqlite_db._accepting = False  # what a stopping connector does: every query refused
    try:
        rig.clock.advance(5)
    finally:
        sqlite_db._accepting = True
    assert rig.kicks == b"\0"
    assert not rig.dog.feeding and rig.state() == DOWN
    assert "the database query failed: the database is stopping" in rig.dog.reason
    rig.clock.advance(5)
    assert rig.kicks == b"\0\0" and rig.dog.feeding
    rig.dog.stopService()


def test_a_database_that_does_not_answer_in_time_stops_the_feeding_until_it_does(
    tmp_path: Path,
) -> None:
    pending: list[defer.Deferred[int]] = []
    hang = True

    def check() -> defer.Deferred[int]:
        if not hang:
            return defer.succeed(1)
        pending.append(defer.Deferred())
        return pending[-1]

    rig = Rig(tmp_path, check, None)
    logged: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(logged.append)
    rig.dog.startService()
    rig.clock.advance(2.9)
    assert rig.kicks == b""
    rig.clock.advance(0.1)
    assert rig.dog.reason == "the database did not answer a query within 3 s"
    assert rig.state() == DOWN
    rig.clock.advance(2)  # the next round: the first query is still out, no second one
    assert len(pending) == 1
    assert rig.dog.reason == "the database has not answered a query for 5 s"
    rig.clock.advance(5)
    assert rig.dog.reason == "the database has not answered a query for 10 s"
    globalLogPublisher.removeObserver(logged.append)
    warned = [e for e in logged if "not feeding" in e.get("log_format", "")]
    assert [str(e["reason"]) for e in warned] == [  # once per kind of reason, not per round
        "the database did not answer a query within 3 s",
        "the database has not answered a query for 5 s",
    ]
    pending[0].callback(1)  # a late answer feeds nothing
    assert rig.kicks == b""
    hang = False
    rig.clock.advance(5)
    assert rig.kicks == b"\0" and rig.dog.feeding and rig.state() == OK
    rig.dog.stopService()


def test_the_ami_link_counts_after_the_grace_time_once_it_was_up(
    tmp_path: Path, sqlite_db: DBConnector
) -> None:
    ami = Ami(ready=False)
    rig = Rig(tmp_path, database_check(sqlite_db), lambda: ami)
    rig.dog.startService()
    for _ in range(11):  # Asterisk still starting: fed through the grace time
        rig.clock.advance(5)
    assert rig.kicks == b"\0" * 12
    rig.clock.advance(5)  # past the grace time, but never up since this start: still fed
    assert rig.kicks == b"\0" * 13 and rig.dog.feeding
    ami.ready = True
    rig.clock.advance(5)
    assert rig.kicks == b"\0" * 14 and rig.dog.feeding
    ami.ready = False  # lost after it was up: not fed (the box resets once)
    rig.clock.advance(5)
    assert rig.kicks == b"\0" * 14
    assert rig.dog.reason == "the AMI link to Asterisk is down" and rig.state() == DOWN
    ami.ready = True
    rig.clock.advance(5)
    assert rig.kicks == b"\0" * 15 and rig.dog.feeding
    rig.dog.stopService()


def test_an_asterisk_that_never_logs_in_does_not_reset_the_box_again_and_again(
    tmp_path: Path, sqlite_db: DBConnector
) -> None:
    """A bad switch config survives a reboot: a box whose AMI link never came up since this
    start is fed (the AMI part of the status page says why calls fail), not reset every
    grace_s + the timeout for good."""
    rig = Rig(tmp_path, database_check(sqlite_db), lambda: Ami(ready=False))
    rig.dog.startService()
    for _ in range(60):  # five minutes, far past grace_s (60 s)
        rig.clock.advance(5)
    assert rig.kicks == b"\0" * 61 and rig.dog.feeding and rig.state() == OK
    rig.dog.stopService()


def test_a_target_that_cannot_be_written_is_reported(
    tmp_path: Path, sqlite_db: DBConnector
) -> None:
    rig = Rig(tmp_path, database_check(sqlite_db), None)
    rig.target.path = str(tmp_path / "no" / "watchdog")
    rig.dog.startService()
    assert not rig.dog.feeding
    assert "No such file or directory" in rig.dog.reason
    rig.dog.stopService()


def test_a_target_that_hangs_does_not_hold_the_stop(tmp_path: Path, sqlite_db: DBConnector) -> None:
    rig = Rig(tmp_path, database_check(sqlite_db), None)
    rig.dog.startService()
    assert rig.kicks == b"\0"
    rig.target._run = lambda f, *a: defer.Deferred()  # the device's writes never return
    rig.clock.advance(5)  # a kick in flight, never done
    assert rig.dog.feeding  # fed 5 s ago; this round's kick is being written
    rig.clock.advance(5)  # the next round finds it still being written: not fed since
    assert not rig.dog.feeding and rig.state() == DOWN
    assert rig.dog.reason == f"cannot kick {rig.file}: the last kick has not finished"
    stopped = rig.dog.stopService()
    rig.clock.advance(1.9)
    assert not stopped.called
    rig.clock.advance(0.1)  # the kick given up: now the disarm, which hangs too
    rig.clock.advance(2)
    assert stopped.called and not rig.dog.feeding


def driver_timeout(seconds: int) -> Callable[[int, int, bytes], bytes]:
    """What WDIOC_GETTIMEOUT answers on a real watchdog (a plain file answers ENOTTY)."""

    def ioctl(fd: int, request: int, arg: bytes) -> bytes:
        assert request == WDIOC_GETTIMEOUT and len(arg) == 4
        return struct.pack("i", seconds)

    return ioctl


@pytest.mark.parametrize(("timeout", "fed"), [(8, False), (9, True), (60, True)])
def test_a_driver_timeout_that_would_reset_a_healthy_box_is_disarmed_not_fed(
    tmp_path: Path, sqlite_db: DBConnector, timeout: int, fed: bool
) -> None:
    rig = Rig(tmp_path, database_check(sqlite_db), None)
    rig.target = rig.dog.target = DeviceWatchdog(
        rig.clock, rig.file, run=inline, longest_gap_s=8, ioctl=driver_timeout(timeout)
    )
    rig.dog.startService()
    assert rig.target.timeout_s == timeout
    if fed:
        assert rig.kicks == b"\0" and rig.dog.feeding
    else:  # 5 s rounds and a 3 s query: a kick may come 8 s after the last one
        assert rig.kicks == b"V" and not rig.dog.feeding and rig.target._fd is None
        assert "the driver's timeout (8 s) is not above interval_s plus db_timeout_s (8 s)" in (
            rig.dog.reason
        )
    rig.dog.stopService()


def test_make_target_reads_the_device_setting(tmp_path: Path) -> None:
    clock = MemoryReactorClock()
    device = make_target(clock, SETTINGS, None)
    assert isinstance(device, DeviceWatchdog) and device.longest_gap_s == 8
    serial = make_target(clock, WatchdogConfig(device="serial:/dev/ttyS1"), None)
    assert isinstance(serial, SerialWatchdog) and serial.link.device == "/dev/ttyS1"


class RealReactorTargets(unittest.TestCase):
    async def test_dev_watchdog_on_a_fifo_through_its_thread(self) -> None:
        fifo = temp_dir(self) / "watchdog"
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        self.addCleanup(os.close, reader)
        target = DeviceWatchdog(reactor, fifo)
        await target.kick()
        await target.kick()
        await target.stop()
        self.assertEqual(os.read(reader, 16), b"\0\0V")

    def _kick_blocked_on_a_fifo(
        self,
    ) -> tuple[DeviceWatchdog, defer.Deferred[None], Callable[[], None], list[int]]:
        """A kick whose open blocks (a FIFO without a reader); ``unblock()`` opens the
        reader (its descriptor in the list), and runs at cleanup before the descriptors
        close, so a failed assertion leaves no thread blocked."""
        fifo = temp_dir(self) / "watchdog"
        os.mkfifo(fifo)
        target = DeviceWatchdog(reactor, fifo)
        kicked = target.kick()
        reader: list[int] = []

        def unblock() -> None:
            if not reader:
                reader.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))

        self.addCleanup(lambda: [os.close(fd) for fd in reader])
        self.addCleanup(unblock)
        return target, kicked, unblock, reader

    async def test_a_device_that_blocks_holds_a_daemon_thread_not_the_reactors_pool(
        self,
    ) -> None:
        target, kicked, unblock, reader = self._kick_blocked_on_a_fifo()
        await task.deferLater(reactor, 0.05, lambda: None)
        self.assertFalse(kicked.called)
        stuck = [t for t in threading.enumerate() if t.name == "ccbox-watchdog"]
        self.assertEqual(len(stuck), 1)
        self.assertTrue(stuck[0].daemon)  # the process can exit without it
        self.assertEqual(reactor.getThreadPool().working, [])  # which the shutdown joins
        unblock()
        await kicked
        await target.stop()
        self.assertEqual(os.read(reader[0], 16), b"\0V")

    async def test_a_stop_during_a_slow_open_disarms_the_device_when_the_open_returns(
        self,
    ) -> None:
        """The stop's disarm finds no device while a kick's open still blocks (past the
        stop's 2 s wait): the open, when it returns, disarms at once, and nothing is fed."""
        target, kicked, unblock, reader = self._kick_blocked_on_a_fifo()
        await task.deferLater(reactor, 0.05, lambda: None)
        await target.stop()  # nothing open yet to disarm
        self.assertFalse(kicked.called)
        unblock()  # the open returns now
        with self.assertRaises(WatchdogError):
            await kicked
        self.assertEqual(os.read(reader[0], 16), b"V")  # the magic close, no kick
        self.assertEqual(os.read(reader[0], 16), b"")  # and closed (EOF), not held armed

    async def test_a_kick_fails_while_the_board_has_not_taken_the_earlier_output(
        self,
    ) -> None:
        """A write only buffers: a board (or USB adapter) that stopped reading must not
        show as fed."""
        at = temp_dir(self) / "ttyWDT"
        board = SimulatedBoard(task.Clock(), timeout_s=12)
        pty = PtyLink.open(reactor, board, at)
        self.addCleanup(lambda: pty.close())
        target = SerialWatchdog(reactor, at, clock=task.Clock())
        target.link.startService()
        self.addCleanup(target.link.stopService)
        await until(lambda: target.link.connected)
        await target.kick()
        await until(lambda: board.kicks == 1)
        board.transport.pauseProducing()  # the far side stops reading
        self.addCleanup(board.transport.resumeProducing)  # (a failure: the stop can flush)
        for _ in range(2000):  # kicks until the tty is full and the port's buffer holds some
            transport = target.link.protocol.transport  # type: ignore[union-attr]
            if unsent(transport):
                break
            transport.write(b"KICK\r\n" * 100)  # type: ignore[union-attr]
            await task.deferLater(reactor, 0, lambda: None)
        self.assertTrue(unsent(transport))
        with self.assertRaises(WatchdogError) as caught:
            await target.kick()
        self.assertIn("the board has not taken the earlier output", str(caught.exception))
        board.transport.resumeProducing()  # it reads again: the backlog drains
        await until(lambda: not unsent(transport))
        await target.kick()
        await until(lambda: board.kicks > 1)

    async def test_a_serial_board_through_a_pty(self) -> None:
        clock = task.Clock()
        at = temp_dir(self) / "ttyWDT"
        board = SimulatedBoard(clock, timeout_s=12)
        pty = PtyLink.open(reactor, board, at)
        self.addCleanup(lambda: pty.close())
        health = LastReports()
        target = SerialWatchdog(reactor, at, health=health, clock=clock)
        answering = True
        unanswered: list[defer.Deferred[int]] = []

        def check() -> defer.Deferred[int]:
            if answering:
                return defer.succeed(1)
            unanswered.append(defer.Deferred())
            return unanswered[-1]

        settings = WatchdogConfig(device=f"serial:{at}", interval_s=5, db_timeout_s=3)
        dog = Watchdog(reactor, settings, target, db_check=check, health=health, clock=clock)
        dog.startService()
        self.addCleanup(dog.stopService)
        await until(lambda: board.kicks == 1)
        self.assertEqual(target.board.model if target.board else "", "WDT1")
        clock.advance(5)
        await until(lambda: board.kicks == 2)
        # the database stops answering: no more kicks, and the board's timer runs out
        answering = False
        clock.advance(5)
        clock.advance(3)
        self.assertFalse(dog.feeding)
        self.assertEqual(board.resets, 0)
        clock.advance(4)  # 12 s after the last kick
        self.assertEqual(board.resets, 1)
        unanswered[0].callback(1)
        answering = True
        # the cable is pulled: a kick finds no board, and says so
        pty.unplug()
        await until(lambda: not target.link.connected)
        clock.advance(3)  # the next round, at 20 s
        self.assertIn("the board is not connected", dog.reason)
        board2 = SimulatedBoard(clock, timeout_s=12)
        pty = PtyLink.open(reactor, board2, at)
        for _ in range(10):  # the link's next try on its backoff
            if target.link.connected:
                break
            clock.advance(1)
        self.assertTrue(target.link.connected)
        clock.advance(5)
        await until(lambda: board2.kicks >= 1)
        self.assertTrue(dog.feeding)
        await dog.stopService()
        await until(lambda: board2.lines[-1:] == ["STOP"])
        self.assertFalse(board2.armed)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await task.deferLater(reactor, 0.005, lambda: None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[watchdog]\ndb_timeout_s = 10\n", "[watchdog] db_timeout_s = 10: at most interval_s (5)"),
        ("[watchdog]\ndevice = serial:ttyS1\n", "[watchdog] device = 'serial:ttyS1': must be an"),
        ("[watchdog]\ndevice = watchdog\n", "[watchdog] device = 'watchdog': must be an absolute"),
        ("[watchdog]\ninterval_s = 0\n", "[watchdog] interval_s = '0': out of range"),
        ("[front_panel]\nrows = 3\n", "[front_panel] rows = '3': must be one of: 2, 4"),
        ("[front_panel]\nbaudrate = 9601\n", "[front_panel] baudrate = '9601': expected one of"),
        ("[front_panel]\ndevice = /dev/tty USB0\n", "[front_panel] device = '/dev/tty USB0': must"),
    ],
)
def test_bad_front_panel_and_watchdog_settings_are_named(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert any(p.startswith(problem) for p in err.value.problems), err.value.problems


def test_good_device_settings_parse() -> None:
    config = parse(
        "[watchdog]\ndevice = serial:/dev/serial/by-id/usb-FTDI_FT232R-if00-port0\n"
        "interval_s = 10\ndb_timeout_s = 10\n"
        "[front_panel]\ndevice = /dev/ttyUSB0\nrows = 2\ncols = 16\nbaudrate = 115200\n"
    )
    assert config.watchdog.device == "serial:/dev/serial/by-id/usb-FTDI_FT232R-if00-port0"
    assert (config.front_panel.rows, config.front_panel.cols) == (2, 16)
    assert config.front_panel.baudrate == 115200
