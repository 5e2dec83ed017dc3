"""A serial device that may be unplugged: Twisted's SerialPort reopened on a backoff.

Every serial driver (front panel, GSM modem, watchdog board, bootloader) is a Twisted
``Protocol``; ``SerialLink`` owns the port it runs on. A pulled USB adapter (a hung-up
tty) shows up as a read that fails with EIO, which Twisted's ``fdesc.readFromFD`` turns
into ConnectionLost, or first as the poller's hang-up (EPOLLHUP without data), which the
reactor reports as ConnectionDone: either way the port closes its fd (pyserial's close)
and the protocol hears ``connectionLost``, the link first. The link then
reopens the device by name after 1, 2, 5, 10 s, then every 10 s, on the reactor's clock,
with a new protocol from the factory, so a driver starts each connection from a clean
state (a replugged device has forgotten everything too). A device that is not there at
start (nothing plugged, a wrong path) is retried the same way and never stops the daemon.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import serial
from twisted.application import service
from twisted.internet import abstract, defer, error
from twisted.internet.protocol import Protocol
from twisted.internet.serialport import SerialPort
from twisted.logger import Logger
from twisted.python.failure import Failure

from drivers import health as health_states
from drivers.health import HealthReporter

log = Logger()

BACKOFF = (1.0, 2.0, 5.0, 10.0)  # then every BACKOFF[-1] seconds
STOP_TIMEOUT = 2.0  # seconds a closing port may take to flush before its fd is closed anyway


class _Port(SerialPort):
    """The port of one connection: tells its link when the connection is lost.

    The device is opened with pyserial's exclusive lock (flock): a second opener that asks
    for it too (another ccboxd, two sections naming one port) is refused with "Could not
    exclusively lock port" and retried, rather than both reading half of every line.
    """

    _serialFactory = functools.partial(serial.Serial, exclusive=True)

    def __init__(self, link: SerialLink, protocol: Protocol, device: str, **kwargs: Any) -> None:
        self._link = link
        try:
            super().__init__(protocol, device, link.reactor, **kwargs)
        except BaseException:
            # Opened, then the flush (a device gone between the open and it) or the protocol's
            # connectionMade raised: close the fd, or it leaks and holds the device.
            opened = getattr(self, "_serial", None)
            if opened is not None:
                opened.close()
            if protocol.transport is self:  # it was told it is connected: now it is not
                with contextlib.suppress(Exception):
                    protocol.connectionLost(Failure())
            raise

    def connectionLost(self, reason: Failure) -> None:
        """SerialPort's own, with the link told before the protocol hears of it: a protocol
        that looks at its link from ``connectionLost`` sees it down."""
        abstract.FileDescriptor.connectionLost(self, reason)
        self._serial.close()
        self._link._lost(self, reason)


class SerialLink(service.Service):
    """A Service that keeps one serial device open: reopens it after an unplug or a failed open.

    ``protocol`` is the live protocol (None while the device is away); drivers write
    through ``protocol.transport``. Health part ``name``: ok while open, down with the reason
    and the next attempt while not.
    """

    def __init__(
        self,
        reactor: Any,
        device: str | Path,
        protocol_factory: Callable[[], Protocol],
        *,
        baudrate: int = 115200,
        name: str,
        health: HealthReporter | None = None,
        clock: Any = None,  # IReactorTime for the backoff; the reactor when None
        backoff: Sequence[float] = BACKOFF,
    ) -> None:
        self.reactor = reactor
        self.clock: Any = clock if clock is not None else reactor
        self.device = str(device)
        self.protocol_factory = protocol_factory
        self.baudrate = baudrate
        self.name = name
        self.part = name  # the health part (Service.name is Optional to the type checker)
        self.health = health
        self.backoff = tuple(backoff)
        self.protocol: Protocol | None = None
        self.opens = 0  # successful opens since start: a replug counts one more
        self.last_error = ""
        self._port: _Port | None = None
        self._failures = 0  # attempts failed since the last successful open
        self._retry: Any = None  # the IDelayedCall of the next attempt
        self._closed: defer.Deferred[None] | None = None
        self._opened_at = 0.0

    @property
    def connected(self) -> bool:
        return self._port is not None

    def startService(self) -> None:
        super().startService()
        self._report(health_states.STARTING, f"opening {self.device}")
        self._open()

    def stopService(self) -> defer.Deferred[None]:
        """Stop retrying and close the device; fires once its fd is closed."""
        super().stopService()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        port = self._port
        if port is None:
            return defer.succeed(None)
        closed: defer.Deferred[None] = defer.Deferred()
        self._closed = closed
        port.loseConnection()
        # A port that cannot flush (a wedged device) is closed anyway after STOP_TIMEOUT.
        timeout = self.clock.callLater(STOP_TIMEOUT, self._force_close, port)

        def _cancel(result: object) -> object:
            if timeout.active():
                timeout.cancel()
            return result

        closed.addBoth(_cancel)
        return closed

    def _force_close(self, port: _Port) -> None:
        if self._port is port:
            port.connectionLost(Failure(ConnectionError("closed after stop timeout")))

    def _open(self) -> None:
        self._retry = None
        if not self.running:
            return
        protocol = self.protocol_factory()
        try:
            port = _Port(self, protocol, self.device, baudrate=self.baudrate)
        except (serial.SerialException, OSError, ValueError) as e:
            self._failed(_reason(e))
            return
        except Exception as e:  # termios.error from the flush, a driver's connectionMade
            # Retried like a failed open: raised from the retry timer, it would end the retries.
            log.failure(
                "serial {name}: {device}: opening failed", name=self.name, device=self.device
            )
            self._failed(f"could not open: {e!r}")
            return
        self._port = port
        self.protocol = protocol
        self.opens += 1
        self._opened_at = self.clock.seconds()
        self.last_error = ""
        after = f" after {self._failures} failed attempts" if self._failures else ""
        log.info(
            "serial {name}: {device} open{after}", name=self.name, device=self.device, after=after
        )
        self._report(health_states.OK, f"{self.device} open")

    def _lost(self, port: _Port, reason: Failure) -> None:
        """The port's fd is closed: mark the link down (and plan the retry) before the
        protocol hears of it, so a protocol that looks at its link sees it down."""
        if port is not self._port:
            return
        self._port = None
        self.protocol = None
        closed, self._closed = self._closed, None
        if closed is not None:
            self._report(health_states.DOWN, f"{self.device} closed")
        elif self.running:
            # A connection that lasted a while starts the backoff over; one that dies as soon
            # as it opens keeps climbing it, so a flapping device is not reopened every second.
            if self.clock.seconds() - self._opened_at >= self.backoff[-1]:
                self._failures = 0
            self._failed(_lost_reason(reason))
        try:
            port.protocol.connectionLost(reason)
        finally:
            if closed is not None:
                closed.callback(None)

    def _failed(self, reason: str) -> None:
        delay = self.backoff[min(self._failures, len(self.backoff) - 1)]
        if self._failures == 0 or reason != self.last_error:
            log.warn(
                "serial {name}: {device}: {reason}; retrying",
                device=self.device,
                name=self.name,
                reason=reason,
            )
        self._failures += 1
        self.last_error = reason
        self._report(health_states.DOWN, f"{self.device}: {reason}; retrying in {delay:g} s")
        self._retry = self.clock.callLater(delay, self._open)

    def _report(self, state: str, detail: str) -> None:
        if self.health is not None:
            self.health.report(self.part, state, detail)


def _reason(e: BaseException) -> str:
    """pyserial wraps the OSError of the open: the inner text says what is wrong."""
    inner = e.args[1] if isinstance(e, serial.SerialException) and len(e.args) > 1 else None
    return inner if isinstance(inner, str) and inner else f"could not open: {e}"


def _lost_reason(reason: Failure) -> str:
    # A read that failed with EIO (ConnectionLost) or a hang-up the poller saw first
    # (ConnectionDone): either way the device went away; a serial line never "closes".
    if reason.check(error.ConnectionLost, error.ConnectionDone):
        return "device gone (unplugged?)"
    return f"lost ({reason.getErrorMessage() or 'connection lost'})"
