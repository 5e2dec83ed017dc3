"""The phones ccbox may dial: the device forms an agent's or a supervisor's phone may take.

A device ends up inside an Asterisk application's argument (``EXEC Dial`` of the agent,
Originate's ``Channel`` for callbacks and supervision), where ``&`` adds a second device,
``,`` starts Dial's options, ``(``/``)`` open option arguments, ``${...}`` would be expanded
by a dialplan and a quote or a space splits an AGI argument. So only these forms pass, with
nothing but letters, digits and a few safe characters in their names:

- ``PJSIP/<endpoint>`` and ``IAX2/<peer>``: letters, digits, ``.`` and ``_``, up to 32;
- ``DAHDI/<channel>``: a channel number (an FXS port); a group would ring any phone of it;
- ``Local/<exten>@<context>``, optionally ``/n`` (no optimization): a phone reached through
  a context of the installer's (follow-me, a phone on another box, tests). The extension is
  digits, letters, ``*``, ``#`` or ``+`` (up to 20); the context letters, digits, ``_``
  and ``-`` (up to 32).

``SIP/`` is refused: Asterisk 22 has no chan_sip (its phones are PJSIP endpoints now).
"""

from __future__ import annotations

import re

TECHNOLOGIES = ("PJSIP", "IAX2", "DAHDI", "Local")
EXAMPLES = "PJSIP/1001, IAX2/1001, DAHDI/1 or Local/1001@context (with /n if needed)"
MAX_LENGTH = 64  # the agents table's column

DEVICE = re.compile(
    r"(?:(?:PJSIP|IAX2)/[A-Za-z0-9_.]{1,32}"
    r"|DAHDI/[0-9]{1,4}"
    r"|Local/(?P<exten>[A-Za-z0-9*#+]{1,20})@(?P<context>[A-Za-z0-9_-]{1,32})(?:/n)?)\Z"
)


class BadDevice(ValueError):
    """A device ccbox will not dial; the message says what would be accepted."""


def check_device(value: object) -> str:
    """``value`` when it is a device ccbox may dial; BadDevice (saying why) otherwise."""
    if not isinstance(value, str):
        raise BadDevice("a device is a string")
    if len(value) > MAX_LENGTH:
        raise BadDevice(f"a device is at most {MAX_LENGTH} characters")
    if DEVICE.match(value):
        return value
    tech = value.split("/", 1)[0]
    if tech.upper() == "SIP":
        raise BadDevice(f"Asterisk 22 has no SIP/ (chan_sip): use PJSIP/; like {EXAMPLES}")
    raise BadDevice(f"not a phone ccbox can dial: like {EXAMPLES}")


def is_device(value: object) -> bool:
    try:
        check_device(value)
    except BadDevice:
        return False
    return True


def local_context(device: str) -> str | None:
    """The dialplan context a ``Local/`` device runs in (None for other devices)."""
    m = DEVICE.match(device)
    return m.group("context") if m is not None else None
