"""When a lead is dialed again after an attempt, or that it is finished.

The campaign sets minutes per outcome (``retry_json``; defaults: no answer 60, busy 10,
congestion 5, machine 240, callback 0). Other outcomes borrow one of them: an abandoned
call (answered, no agent free: it heard the safe-harbor message) and a failed one are
retried like an unanswered one and a congested one. ``answered`` and ``dnc`` finish the
lead. A callback the customer asked for is kept even past ``max_attempts``: they asked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

from appliance.db.campaign_values import DEFAULT_RETRY
from appliance.text import N_

# Outcomes after which the lead is never dialed again.
FINAL_OUTCOMES: Final = frozenset({"answered", "dnc"})
# Outcome -> the retry_json key its delay comes from.
DELAY_OF: Final[Mapping[str, str]] = {
    "no_answer": "no_answer",
    "busy": "busy",
    "congestion": "congestion",
    "machine": "machine",
    "callback": "callback",
    "abandoned": "no_answer",
    "failed": "congestion",
}


def next_attempt(
    outcome: str,
    attempts: int,
    max_attempts: int,
    retry_minutes: Mapping[str, int] | None,
    now: dt.datetime,
) -> dt.datetime | None:
    """The time of the next attempt after ``outcome``, or None: the lead is finished (a
    final outcome, or ``attempts`` made, this one included, reached ``max_attempts``).
    ``retry_minutes``: the campaign's minutes per outcome (missing ones: the defaults)."""
    if outcome in FINAL_OUTCOMES:
        return None
    key = DELAY_OF.get(outcome)
    if key is None:
        raise ValueError(
            N_(
                "unknown retry outcome {outcome} (use {items})",
                outcome=outcome[:32],
                items=", ".join(DELAY_OF),
            )
        )
    if outcome != "callback" and attempts >= max_attempts:
        return None
    minutes = (retry_minutes or {}).get(key, DEFAULT_RETRY[key])
    return now + dt.timedelta(minutes=max(0, int(minutes)))
