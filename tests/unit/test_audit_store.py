"""The audit trail on both databases: entries kept as given (bounded), newest first, filters."""

from __future__ import annotations

import datetime as dt

from appliance.cli import resolved
from appliance.db.connector import DBConnector

HOSTILE = "<img src=x onerror=alert(1)>'; DROP TABLE audit_log;--"


def test_entries_come_back_newest_first_with_their_details(db: DBConnector) -> None:
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    resolved(db.audit.add("alice", "recording.pause", "call:7", {"seconds": 3}, "10.0.0.5", t0))
    resolved(
        db.audit.add("bob", "recording.download", "recording:3", at=t0 + dt.timedelta(minutes=1))
    )
    rows = resolved(db.audit.recent())
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("bob", "recording.download", "recording:3"),
        ("alice", "recording.pause", "call:7"),
    ]
    assert rows[1].detail == {"seconds": 3} and rows[1].ip == "10.0.0.5"
    assert rows[1].at == t0
    [only] = resolved(db.audit.recent(action="recording.pause"))
    assert only.actor == "alice"
    assert resolved(db.audit.recent(target="recording:3"))[0].actor == "bob"


def test_hostile_and_huge_values_are_stored_bounded_not_refused(db: DBConnector) -> None:
    resolved(db.audit.add(HOSTILE * 10, "x" * 100, HOSTILE * 10, {"name": HOSTILE * 1000}))
    [row] = resolved(db.audit.recent())
    assert len(row.actor) == 64 and row.actor.startswith("<img src=x")
    assert len(row.action) == 48 and len(row.target) == 128
    assert row.detail["truncated"].startswith('{"name": "<img')
