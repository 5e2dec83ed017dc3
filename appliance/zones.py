"""Time zone names: the center's zone (``[reports] timezone``) checked and the box's own.

Ground (appliance/config.py reads it); the rollups' bucket keys are in
appliance/reports/clock.py.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownZone(ValueError):
    """Not an IANA time zone name this box knows."""


@lru_cache(maxsize=64)
def center_zone(name: str) -> ZoneInfo:
    """The zone of an IANA name (``Asia/Shanghai``); UnknownZone when there is none."""
    if not name or name.startswith(("/", ".")) or ".." in name or "\x00" in name:
        raise UnknownZone(f"{name!r} is not a time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownZone(f"{name!r} is not a known time zone (e.g. Asia/Shanghai)") from None


def box_zone_name(localtime: Path = Path("/etc/localtime")) -> str:
    """The box's own zone: the name /etc/localtime points to (…/zoneinfo/<name>), else $TZ
    when it names a zone, else "UTC"."""
    try:
        target = os.path.realpath(localtime)
    except OSError:
        target = ""
    candidates: list[str] = []
    marker = "/zoneinfo/"
    if marker in target:
        name = target.split(marker, 1)[1]
        for prefix in ("posix/", "right/"):
            name = name.removeprefix(prefix)
        candidates.append(name)
    candidates.append(os.environ.get("TZ", "").lstrip(":"))
    for name in candidates:
        try:
            center_zone(name)
            return name
        except UnknownZone:
            pass
    return "UTC"
