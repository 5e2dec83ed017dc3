"""Loopback TCP ports for test servers, picked outside the kernel's ephemeral range.

A port found free by binding port 0 comes from the ephemeral range, the same range the
kernel takes the local end of every outgoing connection from: between the pick and the
server's own bind, a client socket of the same run (Chromium, a database driver, the AMI
client) can take it, and the server fails with "Address already in use" (seen in CI). Ports
below that range are never handed to outgoing connections, and this process never hands the
same one out twice.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 10000
_handed_out: set[int] = set()
_pick = random.Random(os.getpid())


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing is bound to, below the ephemeral range, not handed out before
    by this process; where the range leaves no room below it, any free port."""
    high = _ephemeral_low()
    if high - _LOWEST >= 1000:
        for _ in range(200):
            port = _pick.randrange(_LOWEST, high)
            if port not in _handed_out and _bindable(port, kind):
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _handed_out.add(port)
    return port
