"""The E1/DAHDI spans in alarm, as the live feed sends them to the wallboard's banner (and
staff pages): the span monitor's last reading, read on the reactor thread when a span's
alarms change (``SpanAlarmChanged``) and in each snapshot."""

from __future__ import annotations

from typing import Any

from drivers.dahdi.status import in_order


def alarmed_spans(monitor: Any) -> list[dict[str, Any]]:
    """Every span in alarm: its number, name, description and alarms (DAHDI's names, in its
    order); [] without a monitor (no ``[dahdi]``). The names are the kernel's (bounded)."""
    if monitor is None:
        return []
    out = []
    for span in sorted(monitor.spans(), key=lambda s: s.number):
        if not span.alarms:
            continue
        alarms = [a[:32] for a in in_order(span.alarms)]
        out.append(
            {
                "span": span.number,
                "name": span.name[:64],
                "description": span.description[:128],
                "alarms": alarms,
            }
        )
    return out
