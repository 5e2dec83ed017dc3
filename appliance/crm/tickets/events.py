"""What tickets tell the event bus: only that one changed, never what it says.

Published on the reactor thread after the write's transaction committed (TicketStore,
Replies and the escalation service, when whoever built them handed them the bus). The live
feed turns a burst of them into one ``tickets`` message per flush for the staff's pages (the
supervisors' board reloads on it); the page reads the tickets themselves from the database,
with its reader's rights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.eventbus import EventBus


@dataclass(frozen=True)
class TicketsChanged:
    ticket_id: int


def publish(bus: EventBus | None, ticket_id: int) -> None:
    """Tell ``bus`` (if any) that the ticket changed."""
    if bus is not None:
        bus.publish(TicketsChanged(int(ticket_id)))
