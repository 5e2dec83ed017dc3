"""Who is calling: the caller's customer, found before the call joins a queue, and the
priority its class gives the call.

The lookup happens in the IVR, which does database work already, never in the ACD (which
must not wait on the database); it is bounded by ``LOOKUP_TIMEOUT_S`` so a slow database
never holds a caller. A VIP's or key account's call joins queues with at least its class's
priority ([crm]); a red-listed number keeps its own when higher.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.crm.customer_store import Customer
    from ivr.call_record import CallRecord
    from ivr.services import IVRServices

LOOKUP_TIMEOUT_S = 1.0


async def find_caller(services: IVRServices, call: CallRecord, number: str) -> Customer | None:
    """The customer with the caller's number (None: none, withheld, no store, too slow);
    written as the call's customer when found."""
    customers = services.customers
    if customers is None or not number:
        return None
    customer = await customers.by_number_within(services.reactor, number, LOOKUP_TIMEOUT_S)
    if customer is not None:
        call._track(customers.link_call(call.call_id, customer.id))
    return customer


def caller_priority(services: IVRServices, number: str, variables: Mapping[str, str]) -> int:
    """The queue priority of the call: the red list's for the number, or the customer
    class's (``customer_class``, set by the lookup) when higher."""
    acd, customers = services.acd, services.customers
    listed = acd.priority_of(number) if acd is not None else 0
    if customers is None:
        return listed
    return max(listed, customers.class_priority(variables.get("customer_class", "")))
