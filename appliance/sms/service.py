"""SMS in the center: the outbox, the inbox and the notices around one GSM modem.

The root builds it (``Hardware.sms``) with the modem service (``Hardware.modem``, None on a
box without one: SMS then wait for one) and hands the modem's inbound SMS and delivery
reports to the inbox and the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from appliance.sms.inbox import SmsInbox
from appliance.sms.notices import SmsNotices
from appliance.sms.outbox import OutboxCounts, SmsOutbox

log = Logger()


@dataclass(frozen=True)
class ModemCard:
    """What the System page's modem card shows."""

    state: str  # absent, initialising, pin_required, ready, error
    sim: str
    signal_dbm: int | None
    bars: int  # 0-5
    operator: str
    detail: str
    counts: OutboxCounts
    last_error: str


def signal_bars(dbm: int | None) -> int:
    """0-5 bars from the received signal (-113 dBm and below: 0; -53 and above: 5)."""
    if dbm is None:
        return 0
    return max(0, min(5, (int(dbm) + 113) // 12))


class SmsService(service.MultiService):
    """The outbox (a child service), the inbox and the notices (see the module's
    docstring)."""

    def __init__(self, modem: Any, outbox: SmsOutbox, inbox: SmsInbox, notices: SmsNotices) -> None:
        super().__init__()
        self.modem = modem
        self.outbox = outbox
        self.inbox = inbox
        self.notices = notices
        outbox.setServiceParent(self)
        if modem is not None:
            modem.on_sms = self.sms_received
            modem.on_report = self.report_received

    def kick(self) -> None:
        """An SMS was queued: send it now rather than at the next poll."""
        self.outbox.kick()

    def sms_received(self, sms: Any) -> defer.Deferred[Any]:
        """The inbox's store, failing when it failed: the modem then keeps the SMS on the SIM
        and reads it again later (drivers/serial/gsm/modem.py)."""

        def failed(failure: Any) -> Any:
            log.failure("an inbound SMS could not be stored (kept on the SIM)", failure)
            return failure

        return self.inbox.sms_received(sms).addErrback(failed)

    def report_received(self, report: Any) -> defer.Deferred[Any]:
        d = self.outbox.report_received(report)
        d.addErrback(lambda f: log.failure("an SMS delivery report could not be stored", f))
        return d

    def card(self) -> defer.Deferred[ModemCard]:
        """The modem's state and the outbox's counts (the System page)."""
        status = self.modem.status() if self.modem is not None else None

        def made(counts: OutboxCounts) -> ModemCard:
            dbm = getattr(status, "signal_dbm", None)
            return ModemCard(
                state=str(getattr(status, "state", "absent")),
                sim=str(getattr(status, "sim", "") or ""),
                signal_dbm=dbm,
                bars=signal_bars(dbm),
                operator=str(getattr(status, "operator", "") or ""),
                detail=str(getattr(status, "detail", "") or ""),
                counts=counts,
                last_error=self.outbox.last_error,
            )

        return self.outbox.counts().addCallback(made)
