"""The System page's spans card: every E1/DAHDI span the span monitor reads (its alarms,
error counters and channels) as plain data for webui/templates/_system_spans.html.

The monitor (appliance/hardware/spans.py) keeps its last reading in memory, so this is read
on the reactor thread with the rest of the page's status, without touching /proc or AMI.
"""

from __future__ import annotations

from typing import Any

from appliance.hardware.trunks import trunk_label
from appliance.text import N_
from drivers.dahdi.status import in_order
from webui.context import WebContext

# DAHDI's alarm names, in its order, with what each means to whoever reads the card, and
# the colour it is shown in (the span's own alarm colours: red, yellow, blue; the others
# are a warning).
ALARMS: dict[str, tuple[str, str]] = {
    "RED": (N_("Red alarm: no signal from the line"), "red"),
    "YELLOW": (N_("Yellow alarm: the far end gets no signal from us"), "yellow"),
    "BLUE": (N_("Blue alarm: the far end sends all ones (AIS)"), "blue"),
    "LOOPBACK": (N_("Loopback"), "warn"),
    "RECOVERING": (N_("Recovering from an alarm"), "warn"),
    "NOTOPEN": (N_("Not open: no driver holds the span"), "warn"),
}
# /proc/dahdi/<N>'s error counters (drivers/dahdi/status.py COUNTERS), in its order.
COUNTERS: dict[str, str] = {
    "bpv": N_("Bipolar violations"),
    "crc4": N_("CRC-4 errors"),
    "ebit": N_("E-bit errors"),
    "fas": N_("Framing errors (FAS)"),
    "irq_misses": N_("IRQ misses"),
    "timing_slips": N_("Timing slips"),
}
MAX_CHANNELS_SHOWN = 128  # per span: an E1 has 31, a T1 24; more is no span we know


def alarm_list(alarms: frozenset[str] | set[str]) -> list[dict[str, str]]:
    """The alarms in DAHDI's order, each with its name, meaning and colour (an unknown name
    is shown as it is, as a warning)."""
    return [
        {
            "name": a,
            "text": ALARMS[a][0] if a in ALARMS else a,  # translated by the template
            "colour": ALARMS[a][1] if a in ALARMS else "warn",
        }
        for a in in_order(alarms)
    ]


def _channel(ch: Any, group: str | None) -> dict[str, Any]:
    configured = bool(getattr(ch, "configured", True))
    if ch.alarms:
        state = "alarm"
    elif not configured:
        state = "unused"
    elif ch.signalling.startswith("HDLC"):  # an ISDN D-channel: signalling, never a call
        state = "dchan"
    elif ch.in_use:
        state = "busy"
    else:
        state = "idle"
    return {
        "number": ch.number,
        "signalling": ch.signalling,
        "state": state,
        "alarms": alarm_list(ch.alarms),
        "call": ch.asterisk_channel,
        "group": trunk_label(group or "", None),  # g0
    }


def _span(span: Any, group_of: Any) -> dict[str, Any]:
    channels = [_channel(ch, group_of(ch.number)) for ch in span.channels[:MAX_CHANNELS_SHOWN]]
    counters = dict(span.counters)
    shown = [(key, label, int(counters.get(key, 0))) for key, label in COUNTERS.items()]
    return {
        "number": span.number,
        "name": span.name,
        "description": span.description,
        "alarms": alarm_list(span.alarms),
        "ok": not span.alarms,
        "counters": shown,
        "channels": channels,
        "busy": sum(1 for c in channels if c["state"] == "busy"),
        "usable": sum(1 for c in channels if c["state"] in ("busy", "idle")),
        "framing": " / ".join(x for x in (span.framing, span.coding) if x),
    }


def spans_status(ctx: WebContext) -> dict[str, Any]:
    """The card's data: ``configured`` False when the box has no ``[dahdi]`` (no monitor)."""
    hardware = getattr(ctx, "hardware", None)
    monitor = getattr(hardware, "spans", None)
    if monitor is None:
        return {"configured": False, "spans": []}
    spans = sorted(monitor.spans(), key=lambda s: s.number)
    return {
        "configured": True,
        # False: the root is not there (no DAHDI driver loaded); None: not read yet
        "present": getattr(monitor, "present", None),
        "root": str(monitor.settings.proc_root),
        "spans": [_span(s, monitor.group_of) for s in spans],
        "alarmed": sum(1 for s in spans if s.alarms),
    }
