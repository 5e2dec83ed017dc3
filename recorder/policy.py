"""Which calls are recorded: a call answered in a queue is recorded when its queue's
``record_calls`` and its dialed number's (the DID's) ``record_calls`` both say so. A
campaign's call (acd/dialer/outbound_call.py) follows its campaign's ``record`` alone
(``all``: recorded, ``none``: not), whatever the queue that staffs the campaign records."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.db.acd_store import ACDQueue
    from appliance.db.connector import DBConnector

QUEUE_OFF = "queue_policy"  # the queue does not record
DID_OFF = "did_policy"  # the dialed number does not record
CAMPAIGN_OFF = "campaign_policy"  # the campaign does not record


async def skip_reason(
    db: DBConnector, queue: ACDQueue, dialed: str, campaign_record: str | None = None
) -> str | None:
    """None when the call is to be recorded, else why not (the ``recording_skipped``
    event's reason). ``campaign_record``: a campaign's call, its campaign's ``record``."""
    if campaign_record is not None:
        return None if campaign_record == "all" else CAMPAIGN_OFF
    if not queue.record_calls:
        return QUEUE_OFF
    if dialed and not await db.recordings.did_records(dialed):
        return DID_OFF
    return None
