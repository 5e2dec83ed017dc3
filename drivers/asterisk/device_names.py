"""Devices as Asterisk 22 names them: which phone a channel is a leg of.

An agent is known by the device its calls dial (``PJSIP/1001``, ``IAX2/1001``, ``DAHDI/1``,
``Local/1001@agent-phones/n``); Asterisk names each leg it makes from that device with a
suffix of its own (see ``device-channel-names.txt`` beside the traces):

==========  ======================================  ==========================
technology  channel name                            device
==========  ======================================  ==========================
PJSIP       ``PJSIP/1001-0000000a`` (8 hex digits)  ``PJSIP/1001``
IAX2        ``IAX2/1001-978`` (decimal call number)  ``IAX2/1001``
DAHDI       ``DAHDI/1-1``                           ``DAHDI/1``
Local       ``Local/1001@agent-phones-0000006a;1``  ``Local/1001@agent-phones``
==========  ======================================  ==========================

A Local device's dial options (``/n``, ``/j``, ``/m``, ``/b``) are not part of any name, so
``device_key`` drops them from a configured device before it is compared with a channel's.
After Local optimization the caller's ``DIALEDPEERNAME`` still names the vanished ``;1``
leg: its device is still the Local device that was dialed, which is what an agent is
looked up by.
"""

from __future__ import annotations

import re

TECHNOLOGIES = ("PJSIP", "IAX2", "DAHDI", "Local")

_LOCAL_CHANNEL = re.compile(r"(Local/[^;/]+@[^;/]+)-[0-9a-f]{8};[12]\Z")
_LOCAL_DEVICE = re.compile(r"(Local/[^;/@]+@[^;/@]+)(/[njmb]+)?\Z")
_SUFFIXED = re.compile(r"((?:PJSIP|IAX2|DAHDI)/[^;]+)-([0-9A-Za-z]+)\Z")
_PLAIN_DEVICE = re.compile(r"(?:PJSIP|IAX2|DAHDI)/[^;&,\s-][^;&,\s]*\Z")


class BadDevice(ValueError):
    """A device string ccbox cannot dial or compare (the message says why)."""


def device_of_channel(name: str) -> str | None:
    """The device a channel is a leg of, or None for a channel that is no phone's leg (a
    ConfBridge, an Announcer, a name of an unknown shape). Never guesses by the last ``-``
    alone: ``Local/1001@agent-phones-0000006a;1`` is ``Local/1001@agent-phones``."""
    if name.startswith("Local/"):
        m = _LOCAL_CHANNEL.match(name)
        return m.group(1) if m else None
    m = _SUFFIXED.match(name)
    return m.group(1) if m else None


def device_key(device: str) -> str:
    """The name a configured device is known by on the switch: ``Local/1001@ctx/n`` ->
    ``Local/1001@ctx``; PJSIP, IAX2 and DAHDI devices are their own name. BadDevice for
    anything else (no technology ccbox dials, a dial list, options on a phone)."""
    if device.startswith("Local/"):
        m = _LOCAL_DEVICE.match(device)
        if m is None:
            raise BadDevice(f"a Local device is Local/<exten>@<context>[/n], not {device!r}")
        return m.group(1)
    if not _PLAIN_DEVICE.match(device):
        techs = ", ".join(TECHNOLOGIES)
        raise BadDevice(f"a device is <technology>/<name> with one of {techs}, not {device!r}")
    return device


def same_device(channel: str, device: str) -> bool:
    """The channel is a leg of ``device`` (a configured device, dial options allowed)."""
    try:
        key = device_key(device)
    except BadDevice:
        return False
    return device_of_channel(channel) == key
