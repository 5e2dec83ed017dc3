"""Which trunk a call came in or went out on: the technology, and for a DAHDI (E1/analog)
channel its number and trunk group, as the calls row and the recording index store them.

The channel name is the switch's (``DAHDI/17-1``: channel 17, the first call on it, on an
analog or CAS line); an ISDN PRI call's name has no channel in it (``DAHDI/i1/<caller>-<hex>``,
chan_dahdi.c create_channel_name), so the span monitor's ``channel_of`` (from chan_dahdi's
DAHDIChannel event) is asked first. The group is not in the name: it is the ``[dahdi] groups``
name holding the channel (the span monitor's ``group_of``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from appliance.db.model import TRUNK_GROUP_MAX

# DAHDI/17-1: channel 17 (ASCII digits: \d would take other scripts' digits too). A PRI
# call's name does not say its channel (DAHDI/i1/<caller>-<hex>), nor does a pseudo's.
_DAHDI = re.compile(r"DAHDI/([0-9]{1,4})(?:-[0-9]+)?\Z")
GroupOf = Callable[[int], "str | None"]
ChannelOf = Callable[[str], "int | None"]
ChannelWait = Callable[[str], "Awaitable[int | None]"]  # the span monitor's wait_channel
# what a search may ask for as a trunk group: the config's group names
GROUP_RE = re.compile(rf"[A-Za-z0-9_-]{{1,{TRUNK_GROUP_MAX}}}")


@dataclass(frozen=True)
class CallTrunk:
    technology: str  # DAHDI, PJSIP, Local, ... (the name's part before its first "/")
    group: str = ""  # the DAHDI trunk group ("" unknown, or not DAHDI)
    channel: int | None = None  # the DAHDI channel (None: not DAHDI)


def dahdi_channel(name: str) -> int | None:
    """The DAHDI channel of a channel name; None for other technologies."""
    m = _DAHDI.match(name)
    return int(m.group(1)) if m else None


def call_trunk(
    name: str, group_of: GroupOf | None = None, channel_of: ChannelOf | None = None
) -> CallTrunk:
    """The trunk of a call on channel ``name``; ``channel_of`` (the span monitor's) gives the
    DAHDI channel carrying it (a PRI call's name does not), else the name's number (analog,
    CAS); ``group_of`` (the span monitor's) names the DAHDI channel's group (None, or a group
    it does not know: no group). A group name that is not one a search could ask for is left
    out rather than stored."""
    technology = name.split("/", 1)[0]
    channel = None
    if technology == "DAHDI" and channel_of is not None:
        channel = channel_of(name)
    if channel is None:
        channel = dahdi_channel(name)
    group = ""
    if channel is not None and group_of is not None:
        found = group_of(channel)
        if found and GROUP_RE.fullmatch(found):
            group = found
    return CallTrunk(technology, group, channel)


def trunk_label(group: str, channel: int | None) -> str:
    """What the pages show: ``g0 / 17``, ``g0`` (no channel), ``17`` (no group) or ``""``."""
    parts = [p for p in (group, "" if channel is None else str(channel)) if p]
    return " / ".join(parts)
