"""A complaint recorded in the IVR becomes a ticket: a record node with ``ticket`` on opens
one (type ``complaint``, source ``ivr``) once the message is stored, with the recording (the
voicemail row) and the call attached and the caller's customer when one is known. When the
node asks a queue to call the customer back, the ticket is that queue's (its group's) too;
a queue gone since the flow was published leaves the ticket unassigned, never lost.

The customer is the call's (the caller's, found when the call came in, or the one the
flow's lookup node found), else the one with the caller's number found now. Nothing here
can drop the caller: a refused ticket (no complaint type, a database fault) is logged and
written down as the call's ``ticket_failed`` event, and the flow goes on. The ticket's
subject is in the center's language (``IVRServices.translate``): a person reads it on the
ticket board, not the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from appliance.text import N_
from ivr.customer_lookup import find_customer

if TYPE_CHECKING:
    from ivr.call_record import CallRecord
    from ivr.services import IVRServices

log = Logger(namespace="ccbox.ivr.tickets")

TICKET_TYPE = "complaint"
SOURCE = "ivr"
ACTOR = "ivr"  # who the ticket's history says created it


async def open_ticket(
    services: IVRServices,
    call: CallRecord,
    message_id: int,
    caller_number: str,
    customer_id: int | None,
    queue: str | None = None,
) -> str | None:
    """The new ticket's number, or None when no ticket could be opened (written down)."""
    tickets = services.tickets
    if tickets is None:
        await call.event("ticket_failed", {"message": message_id, "why": "no ticket store"})
        return None
    try:
        if customer_id is None and caller_number:
            customer = await find_customer(services, caller_number)
            customer_id = customer.id if customer is not None else None
        # the call's row may still wait in the write backlog: the message row says whether
        # it was there (voicemail_store.add links it only then), and so may the ticket
        message = await services.db.voicemail.message(message_id)
        call_id = message.call_id if message is not None else None
        subject = services.translate(
            N_("Complaint left in the IVR by {number}", number=caller_number[:40] or "?")
        )
        values: dict[str, Any] = dict(
            type_key=TICKET_TYPE,
            subject=subject[:200],
            customer_id=customer_id,
            source=SOURCE,
            call_id=call_id,
            voicemail_id=message_id,
        )
        group: dict[str, Any] = {"assignee_kind": "queue", "assignee": queue} if queue else {}
        try:
            ticket_id = await tickets.create(ACTOR, **values, **group)
        except ValueError:
            if not group:
                raise
            ticket_id = await tickets.create(ACTOR, **values)  # the queue is gone: nobody yet
        ticket = await tickets.get(ticket_id)
    except Exception as exc:
        log.error("IVR complaint {message} got no ticket: {why}", message=message_id, why=exc)
        await call.event("ticket_failed", {"message": message_id, "why": str(exc)[:200]})
        return None
    await call.event(
        "ticket_opened",
        {"ticket": ticket_id, "number": ticket.number, "message": message_id},
    )
    return ticket.number
