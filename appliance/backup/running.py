"""Whether a ccboxd runs on a data folder: the daemon holds an exclusive ``flock`` on
``<data_dir>/ccboxd.lock`` while it runs (the kernel lets it go when the process ends,
however it ends), and a restore tries the same lock without waiting, refusing when it is
held. No PID file: a stale one would refuse forever, a lock cannot outlive its holder."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "ccboxd.lock"


class DaemonLock:
    """The lock a running daemon holds; :meth:`release` at exit."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the file lets the lock go
            self.fd = -1


def hold(data_dir: Path) -> DaemonLock | None:
    """Take the data folder's lock for this daemon; None when another process holds it
    (another ccboxd, or a restore in progress). OSError when the file cannot be opened."""
    path = Path(data_dir) / LOCK_NAME
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return DaemonLock(fd, path)


def daemon_running(data_dir: Path) -> bool:
    """Whether a process holds ``data_dir``'s daemon lock (no lock file: none does). The
    file is only opened for reading, never created."""
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # a lock taken here goes with it
    return False
