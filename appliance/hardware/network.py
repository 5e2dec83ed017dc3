"""The box's network settings as an installer reads them off the front panel.

Read from the kernel, not from a config file (the addresses DHCP gave count): IPv4
addresses and masks by ioctl per interface, global IPv6 addresses from
``/proc/net/if_inet6``, the default gateway from ``/proc/net/route`` and the name servers
from ``/etc/resolv.conf``. Blocking file reads: call ``read_network`` in a thread.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B


@dataclass(frozen=True)
class Address:
    interface: str
    address: str  # 192.168.1.10/24 or 2001:db8::10/64


@dataclass(frozen=True)
class Network:
    addresses: tuple[Address, ...] = ()
    gateway: str = ""
    dns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def primary(self) -> str:
        """The address to show first: the first IPv4 one, else the first at all ("")."""
        for a in self.addresses:
            if ":" not in a.address:
                return a.address.split("/")[0]
        return self.addresses[0].address.split("/")[0] if self.addresses else ""


def _ipv4(interface: str) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        packed = struct.pack("256s", interface.encode()[:15])
        try:
            addr = fcntl.ioctl(s.fileno(), SIOCGIFADDR, packed)[20:24]
            mask = fcntl.ioctl(s.fileno(), SIOCGIFNETMASK, packed)[20:24]
        except OSError:  # no IPv4 address on it
            return None
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{socket.inet_ntoa(mask)}").prefixlen
    return f"{socket.inet_ntoa(addr)}/{prefix}"


def parse_if_inet6(text: str) -> list[Address]:
    """Global addresses only (scope 00): a link-local one is no use to an installer."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6 or parts[3] != "00" or len(parts[0]) != 32:
            continue
        addr = ipaddress.IPv6Address(bytes.fromhex(parts[0]))
        out.append(Address(parts[5], f"{addr}/{int(parts[2], 16)}"))
    return out


def parse_route(text: str) -> str:
    """The default IPv4 gateway from /proc/net/route (little-endian hex), or ""."""
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "00000000" and parts[2] != "00000000":
            return socket.inet_ntoa(struct.pack("<I", int(parts[2], 16)))
    return ""


def parse_resolv_conf(text: str) -> tuple[str, ...]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return tuple(out)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def read_network(proc: Path = Path("/proc"), resolv: Path = Path("/etc/resolv.conf")) -> Network:
    """What the box's interfaces have now (loopback left out)."""
    addresses = []
    for _, name in socket.if_nameindex():
        if name == "lo":
            continue
        v4 = _ipv4(name)
        if v4 is not None:
            addresses.append(Address(name, v4))
    addresses += [a for a in parse_if_inet6(_read(proc / "net/if_inet6")) if a.interface != "lo"]
    return Network(
        addresses=tuple(addresses),
        gateway=parse_route(_read(proc / "net/route")),
        dns=parse_resolv_conf(_read(resolv)),
    )
