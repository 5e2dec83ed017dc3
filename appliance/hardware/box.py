"""The box's hardware services as one object the composition root fills and the web UI reads.

Each field is None when its part is not configured (or in a test that starts none); the
owners of each part give its field a precise type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Hardware:
    spans: Any = None  # the E1/DAHDI span monitor (appliance/hardware/spans.py)
    modem: Any = None  # the GSM modem (drivers/serial/gsm/)
    sms: Any = None  # the SMS outbox and inbox (appliance/sms/)
    front_panel: Any = None  # the front panel's LCD and keys (appliance/hardware/)
    watchdog: Any = None  # the hardware watchdog feeder (appliance/hardware/)
    backups: Any = None  # scheduled backups (appliance/backup/)
