"""Searching the recordings index: filters, an allowlisted sort, pages; fast on a million rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from appliance.db.components import _Component
from appliance.db.recording_store import RecordingRow

# The columns a search may sort by; anything else from a request is refused.
SORTS = ("started_at", "duration_ms", "caller_number", "agent_id", "queue_id", "qa_score")


@dataclass(frozen=True)
class RecordingQuery:
    start: dt.datetime | None = None  # started_at >= start
    end: dt.datetime | None = None  # started_at < end
    channel_number: int | None = None
    agent_id: int | None = None
    queue_id: int | None = None
    caller: str | None = None  # the caller's number
    called: str | None = None  # the dialed number
    min_duration_ms: int | None = None
    max_duration_ms: int | None = None
    talk_over: bool | None = None  # True: some talk-over; False: none
    min_score: float | None = None
    max_score: float | None = None
    sort: str = "started_at"
    descending: bool = True
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class RecordingPage:
    rows: list[RecordingRow]
    total: int  # matching rows, counted up to a cap
    total_capped: bool  # True: there are more than ``total``


class RecordingSearch(_Component):
    pass
