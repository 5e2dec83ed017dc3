"""The System page's serial card: the front panel (connected, model, last key, lines it
sent that were ignored) and the hardware watchdog (its target, the last kick, and why it
stopped feeding when it did), as plain data for webui/templates/_system_serial.html.

Both services keep their state in memory: read on the reactor thread with the rest of the
page's status.
"""

from __future__ import annotations

from typing import Any

from webui.context import WebContext


def serial_status(ctx: WebContext) -> dict[str, Any]:
    hardware = ctx.hardware
    panel = getattr(hardware, "front_panel", None)
    watchdog = getattr(hardware, "watchdog", None)
    return {
        "panel": panel.status() if panel is not None else None,
        "watchdog": watchdog.status() if watchdog is not None else None,
    }
