"""A pseudo-terminal pair with a device simulator on its master side: a serial port for tests.

The driver under test opens ``PtyLink.device`` exactly as it would open ``/dev/ttyUSB0``
(through Twisted's ``SerialPort`` and pyserial), and the simulator, a plain Twisted
``Protocol``, reads and writes the other end in the same reactor. ``unplug()`` closes the
master: the kernel hangs the slave up, so the driver's next read fails with EIO exactly as
when a USB adapter is pulled out. A replug is a new ``PtyLink`` on the same ``link`` path
(a symlink, as udev makes ``/dev/serial/by-id/...``), which the driver reopens by name.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import tty
from pathlib import Path
from typing import Any

from twisted.internet import abstract, fdesc, main
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure


class _Master(abstract.FileDescriptor):
    """The master fd as a transport for the simulator (what SerialPort is on the other end)."""

    def __init__(self, reactor: Any, fd: int, protocol: Protocol) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        self._fd = fd
        self.protocol = protocol
        self.connected = 1
        protocol.makeConnection(self)
        self.startReading()

    def fileno(self) -> int:
        return self._fd

    def writeSomeData(self, data: bytes) -> int | BaseException:
        return fdesc.writeToFD(self._fd, data)

    def doRead(self) -> object:
        return fdesc.readFromFD(self._fd, self.protocol.dataReceived)

    def connectionLost(self, reason: Failure) -> None:
        if self._fd < 0:
            return
        abstract.FileDescriptor.connectionLost(self, reason)
        os.close(self._fd)
        self._fd = -1
        self.protocol.connectionLost(reason)


class PtyLink:
    """One plugged-in simulated device: a raw pty pair, the simulator on the master side."""

    def __init__(self, master: _Master, slave_fd: int, slave: Path, link: Path | None) -> None:
        self._master = master
        self._slave_fd = slave_fd
        self.slave = slave
        self.link = link
        self.plugged = True

    @classmethod
    def open(cls, reactor: Any, protocol: Protocol, link: Path | None = None) -> PtyLink:
        """Plug ``protocol`` in: a new pty pair, ``link`` (if given) pointing at its slave.

        The slave stays open here while plugged: a master whose slave has no open fd reads
        EIO, which the simulator would take for an unplug before the driver even opened it.
        """
        master_fd, slave_fd = os.openpty()
        tty.setraw(slave_fd)
        fdesc.setNonBlocking(master_fd)
        slave = Path(os.ttyname(slave_fd))
        if link is not None:
            tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(slave)
            os.replace(tmp, link)  # atomic: the driver never sees a missing link on replug
        master = _Master(reactor, master_fd, protocol)
        return cls(master, slave_fd, slave, link)

    @property
    def device(self) -> Path:
        """The path a driver opens: the symlink when there is one, else the slave itself."""
        return self.link if self.link is not None else self.slave

    def pending(self) -> int:
        """Bytes the simulator wrote that no one has read from the slave side yet."""
        if not self.plugged:
            return 0
        raw = fcntl.ioctl(self._slave_fd, termios.FIONREAD, struct.pack("i", 0))
        return int(struct.unpack("i", raw)[0])

    def unplug(self) -> None:
        """Pull the cable: the master closes, the driver's side reads EIO, the link goes away."""
        if not self.plugged:
            return
        self.plugged = False
        if (
            self.link is not None
            and self.link.is_symlink()
            and os.readlink(self.link) == str(self.slave)
        ):
            self.link.unlink()
        self._master.connectionLost(Failure(main.CONNECTION_LOST))
        os.close(self._slave_fd)

    close = unplug
