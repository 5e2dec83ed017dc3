"""The recordings index: one row per finished stereo recording of a call, carrying what a
search needs (the call's agent, queue, numbers, trunk channel, metrics, QA score) so that a
search over a million rows reads one table."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, _insert, inbox_add
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector  # noqa: F401


@dataclass(frozen=True)
class RecordingRow:
    id: int
    call_id: int | None
    path: str  # relative to the recording root
    started_at: dt.datetime
    duration_ms: int
    size_bytes: int
    sha256: str
    format: str
    agent_id: int | None
    queue_id: int | None
    direction: str
    caller_number: str
    caller_name: str
    called_number: str
    trunk: str
    channel_number: int | None
    reason: str
    talk_over_ratio: float
    silence_ratio: float
    caller_talk_ratio: float
    agent_talk_ratio: float
    legs_mismatch_ms: int
    peaks: list[int]
    paused_ms: int
    encrypted: bool
    archived_at: dt.datetime | None
    qa_score: float | None
    trunk_group: str = ""  # the call's DAHDI trunk group (migration 0017)


def recording_row(r: Any) -> RecordingRow:
    """A row of ``model.recordings`` (all columns selected) as a RecordingRow."""
    values = dict(r._mapping)
    values["peaks"] = json.loads(values["peaks"] or "[]")
    return RecordingRow(**values)


class RecordingStore(_Component):
    def add(
        self,
        call_id: int | None,
        path: str,
        started_at: dt.datetime,
        duration_ms: int,
        size_bytes: int,
        sha256: str,
        **index: Any,
    ) -> defer.Deferred[int]:
        """A finished recording; ``index`` holds any other column of ``model.recordings``
        (agent_id, queue_id, caller_number, metrics, peaks as a list, ...)."""
        if "peaks" in index:
            index["peaks"] = json.dumps(index["peaks"])

        def thd(conn: Connection) -> int:
            rid = _insert(
                conn,
                model.recordings,
                N_("recording {path}", path=path),
                **{
                    "format": "wav",
                    **index,
                    "call_id": call_id,
                    "path": path,
                    "started_at": started_at,
                    "duration_ms": duration_ms,
                    "size_bytes": size_bytes,
                    "sha256": sha256,
                },
            )
            inbox_add(conn, "recording", rid)
            return rid

        return self.db.run(thd)

    def get(self, recording_id: int) -> defer.Deferred[RecordingRow | None]:
        r = model.recordings

        def thd(conn: Connection) -> RecordingRow | None:
            row = conn.execute(sa.select(r).where(r.c.id == recording_id)).first()
            return recording_row(row) if row is not None else None

        return self.db.run(thd)

    def count(self, since: dt.datetime | None = None) -> defer.Deferred[int]:
        r = model.recordings

        def thd(conn: Connection) -> int:
            q = sa.select(sa.func.count()).select_from(r)
            if since is not None:
                q = q.where(r.c.started_at >= since)
            return int(conn.execute(q).scalar_one())

        return self.db.run(thd)

    def did_records(self, number: str) -> defer.Deferred[bool]:
        """Whether calls to the dialed ``number`` are recorded: its DID's ``record_calls``;
        a number that is no DID of ours is recorded (the queue decides)."""
        d = model.dids

        def thd(conn: Connection) -> bool:
            value = conn.execute(
                sa.select(d.c.record_calls).where(d.c.number == number[:32])
            ).scalar_one_or_none()
            return True if value is None else bool(value)

        return self.db.run(thd)
