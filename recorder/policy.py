"""Which calls are recorded: a call answered in a queue is recorded when its queue's
``record_calls`` and its dialed number's (the DID's) ``record_calls`` both say so. Campaigns
(outbound) do not exist yet; when they do, their own switch joins these two here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.db.acd_store import ACDQueue
    from appliance.db.connector import DBConnector

QUEUE_OFF = "queue_policy"  # the queue does not record
DID_OFF = "did_policy"  # the dialed number does not record


async def skip_reason(db: DBConnector, queue: ACDQueue, dialed: str) -> str | None:
    """None when the call is to be recorded, else why not (the ``recording_skipped``
    event's reason)."""
    if not queue.record_calls:
        return QUEUE_OFF
    if dialed and not await db.recordings.did_records(dialed):
        return DID_OFF
    return None
