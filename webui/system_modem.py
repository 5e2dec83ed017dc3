"""The System page's modem card: the GSM modem's state, SIM, signal and operator, and the
SMS outbox's counts (appliance/sms/service.py ``SmsService.card``)."""

from __future__ import annotations

from typing import Any

from webui.context import WebContext

# ModemStatus.state and .sim (drivers/serial/gsm/modem.py) as the card says them
STATE_CLASS = {
    "ready": "ok",
    "initialising": "starting",
    "pin_required": "degraded",
    "absent": "down",
    "error": "down",
}


async def modem_status(ctx: WebContext) -> dict[str, Any]:
    """The card's data (on the reactor thread): ``configured`` False on a box without
    ``[modem] device``."""
    hardware = ctx.hardware
    sms = getattr(hardware, "sms", None)
    if sms is None:
        return {"configured": False}
    card = await sms.card()
    return {
        "configured": True,
        "state": card.state,
        "state_class": STATE_CLASS.get(card.state, "degraded"),
        "sim": card.sim,
        "signal_dbm": card.signal_dbm,
        "bars": card.bars,
        "operator": card.operator,
        "detail": card.detail,
        "counts": card.counts,
        "last_error": card.last_error,
    }
