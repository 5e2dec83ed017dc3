"""Hardware watchdog targets: the kernel's ``/dev/watchdog`` or a serial watchdog board.

Both are fed with ``kick()`` and disarmed with ``stop()`` (only on a clean stop: a crash
leaves them armed, and the box resets unless the next daemon feeds them in time).

* ``DeviceWatchdog``: the Linux watchdog API. Opening the device arms it; any byte
  written feeds it; a ``V`` written before the close disarms it (the "magic close"), unless
  the driver was built with nowayout. The writes run in a thread: a device write may block.
* ``SerialWatchdog``: a board on a serial port (docs/front-panel-protocol.md, "Watchdog
  board"): the box sends ``KICK`` lines and ``STOP`` on a clean stop; the board may say
  ``HELLO <model> <fw>``; anything else it says is ignored and counted.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from twisted.internet import defer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from drivers.health import HealthReporter
from drivers.serial.port import SerialLink

T = TypeVar("T")

WDIOC_GETTIMEOUT = 0x80045707  # _IOR('W', 7, int), linux/watchdog.h
KICK = b"KICK\r\n"
STOP = b"STOP\r\n"
MAX_LINE = 80


class WatchdogError(Exception):
    """The target could not be fed; the text says why."""


class DeviceWatchdog:
    """``/dev/watchdog`` (any path: tests use a FIFO or a plain file).

    ``longest_gap_s``: the longest a healthy daemon may take between two kicks (an interval
    and a slow database answer). A driver whose timeout (``WDIOC_GETTIMEOUT``) is not above
    it would reset a healthy box, again after every boot: it is disarmed at once (the magic
    close) and never fed, with the reason, rather than armed.
    """

    service = None  # nothing to start: the device is opened at the first kick

    def __init__(
        self,
        reactor: Any,
        path: str | Path,
        run: Callable[..., defer.Deferred[Any]] | None = None,
        *,
        longest_gap_s: float = 0.0,
        ioctl: Callable[[int, int, bytes], bytes] = fcntl.ioctl,
    ) -> None:
        self.path = str(path)
        self.description = self.path
        self.longest_gap_s = longest_gap_s
        self.timeout_s: int | None = None  # the driver's, once open (None: not a watchdog)
        self._ioctl = ioctl
        # Where the blocking writes run: a daemon thread of their own (a test may run them
        # inline). Not the reactor's pool: a write that never returns would hold one of its
        # threads for good, and the reactor's shutdown joins them, so ccboxd could not exit.
        self._run = run or (lambda f, *a: in_daemon_thread(reactor, f, *a))
        self._fd: int | None = None
        # A stop counts up; a kick opening the device checks it after its open (which may
        # block past the stop's wait): a kick from before a stop never arms it after.
        self._stops = 0
        self._lock = threading.Lock()

    def kick(self) -> defer.Deferred[None]:
        return self._run(self._write, b"\0", self._stops)

    def stop(self) -> defer.Deferred[None]:
        """The magic close: ``V`` then close, so the driver disarms instead of resetting."""
        self._stops += 1
        return self._run(self._close)

    def _write(self, data: bytes, stops: int = 0) -> None:
        try:
            with self._lock:
                opened = self._fd is not None
            if not opened:
                fd = self._arm()  # outside the lock: an open may block
                with self._lock:
                    if stops != self._stops:
                        # stopped during the open (the stop found no device to disarm)
                        _magic_close(fd)
                        raise WatchdogError("stopped while the device was being opened")
                    self._fd = fd
            # under the lock: a stop's close waits for the write (V after the kick), and
            # the write never goes to a descriptor the close freed (and an open reused)
            with self._lock:
                if self._fd is None or stops != self._stops:
                    raise WatchdogError("stopped")
                os.write(self._fd, data)
        except OSError as exc:
            raise WatchdogError(exc.strerror or str(exc)) from None

    def _arm(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            raw = self._ioctl(fd, WDIOC_GETTIMEOUT, struct.pack("i", 0))
            self.timeout_s = struct.unpack("i", raw)[0]
        except OSError:
            self.timeout_s = None  # ENOTTY: a file or FIFO, or a driver without the ioctl
        if self.timeout_s is not None and self.timeout_s <= self.longest_gap_s:
            _magic_close(fd)
            raise WatchdogError(
                f"the driver's timeout ({self.timeout_s} s) is not above interval_s plus "
                f"db_timeout_s ({self.longest_gap_s:g} s): it would reset a healthy box; "
                "set the driver's timeout higher (its module's timeout= option)"
            )
        return fd

    def _close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            _magic_close(fd)


def in_daemon_thread(reactor: Any, f: Callable[..., T], *args: Any) -> defer.Deferred[T]:
    """``f(*args)`` in a new daemon thread (one the process does not wait for at exit);
    its result or failure is delivered in the reactor."""
    d: defer.Deferred[T] = defer.Deferred()

    def work() -> None:
        try:
            result = f(*args)
        except BaseException:
            reactor.callFromThread(d.errback, Failure())
        else:
            reactor.callFromThread(d.callback, result)

    threading.Thread(target=work, name="ccbox-watchdog", daemon=True).start()
    return d


def _magic_close(fd: int) -> None:
    try:
        os.write(fd, b"V")
    except OSError:
        pass  # closed anyway; a driver that did not read the V keeps running and resets
    finally:
        os.close(fd)


class BoardProtocol(Protocol):
    """The watchdog board's lines: remembers its HELLO, counts anything else."""

    def __init__(self) -> None:
        self.model = self.firmware = ""
        self.ignored = 0
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._line(line.rstrip(b"\r"))
        if len(self._buffer) > MAX_LINE:
            self.ignored += 1
            self._buffer = b""

    def _line(self, line: bytes) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"HELLO" and line.isascii():
            self.model, self.firmware = parts[1].decode(), parts[2].decode()
        elif line:
            self.ignored += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.transport = None


class SerialWatchdog:
    """A watchdog board on a serial port, reconnected like every serial device."""

    def __init__(
        self,
        reactor: Any,
        device: str | Path,
        *,
        baudrate: int = 9600,
        health: HealthReporter | None = None,
        clock: Any = None,
    ) -> None:
        self.description = f"serial:{device}"
        self.link = SerialLink(
            reactor,
            device,
            BoardProtocol,
            baudrate=baudrate,
            name="watchdog_board",
            health=health,
            clock=clock,
        )
        self.service = self.link

    @property
    def board(self) -> BoardProtocol | None:
        protocol = self.link.protocol
        return protocol if isinstance(protocol, BoardProtocol) else None

    def kick(self) -> defer.Deferred[None]:
        return self._send(KICK)

    def stop(self) -> defer.Deferred[None]:
        """``STOP``: the board disarms (the link then closes after flushing it)."""
        if self.link.protocol is None:
            return defer.succeed(None)
        return self._send(STOP)

    def _send(self, line: bytes) -> defer.Deferred[None]:
        protocol = self.link.protocol
        if protocol is None or protocol.transport is None:
            why = self.link.last_error or "not connected"
            return defer.fail(WatchdogError(f"the board is not connected ({why})"))
        transport = cast(Any, protocol.transport)
        waiting = unsent(transport)
        if line == KICK and waiting:
            # A write only buffers: a wedged USB adapter (or a board that stopped reading)
            # takes nothing, and counting its kicks as done would show "feeding" while the
            # board's timer runs out. The last round's kick has had a whole interval to go.
            return defer.fail(
                WatchdogError(f"the board has not taken the earlier output ({waiting} bytes)")
            )
        transport.write(line)
        return defer.succeed(None)


def unsent(transport: Any) -> int:
    """The bytes a Twisted file descriptor transport (the serial port's) holds unwritten:
    its buffer past what was sent, and what was written since its last flush."""
    buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return max(0, buffered) + getattr(transport, "_tempDataLen", 0)
