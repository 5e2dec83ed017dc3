"""sd_notify(3): readiness, status, watchdog pings and stopping, sent to systemd.

Written here rather than taken from a package: the protocol is one datagram on the Unix
socket named by $NOTIFY_SOCKET, and the PyPI clients are either unmaintained (sdnotify) or
need libsystemd headers to build (systemd-python), which a fresh appliance image lacks.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from twisted.internet import task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger(namespace="ccbox.sdnotify")


class Notifier:
    """Sends notifications when run under systemd; a silent no-op otherwise."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):  # abstract namespace
            addr = "\0" + addr[1:]
        self.address = addr or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_interval: float | None = None
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000

    def notify(self, **fields: str) -> bool:
        """Send ``KEY=value`` lines (READY="1", STATUS="..."); False when not under systemd."""
        if self.address is None:
            return False
        payload = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, self.address)
        except OSError as exc:
            log.warn("sd_notify to {addr} failed: {err}", addr=self.address, err=exc)
            return False
        return True

    def ready(self, status: str) -> None:
        self.notify(READY="1", STATUS=status)

    def stopping(self) -> None:
        self.notify(STOPPING="1", STATUS="stopping")

    def start_watchdog(self, clock: IReactorTime) -> task.LoopingCall | None:
        """Ping WATCHDOG=1 at half the interval systemd asked for, from the reactor itself."""
        if self.watchdog_interval is None or self.address is None:
            return None
        loop = task.LoopingCall(self.notify, WATCHDOG="1")
        loop.clock = clock
        loop.start(self.watchdog_interval / 2, now=True)
        return loop
