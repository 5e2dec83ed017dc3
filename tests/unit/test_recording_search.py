"""Searching the recordings index on both databases: each filter, the allowlisted sorts with
the id as tie-breaker, paging, the capped total, one agent's view and hostile numbers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model, recording_search
from appliance.db.connector import DBConnector
from appliance.db.recording_search import SORTS, RecordingQuery, conditions, order

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
# the DAHDI trunk group of each seeded recording (its channel is in specs)
GROUPS = ["g0", "g0", "g1", "", "g2", "g0"]
HOSTILE = ["<img src=x onerror=alert(1)>", "'; DROP TABLE recordings;--", "%", "_", 'a|b,"c"']


@pytest.fixture
def seeded(db: DBConnector) -> dict[str, Any]:
    """Six recordings with known values (``i`` is the position in ``specs``)."""
    a1 = resolved(db.agents.add("1001", "Ann")).id
    a2 = resolved(db.agents.add("1002", "Bob")).id
    q1 = resolved(db.queues.add("sales")).id
    q2 = resolved(db.queues.add("support")).id
    specs = [
        # minutes after T0, agent, queue, caller, called, channel, duration, talk-over, score
        (0, a1, q1, "13800000001", "4008001", 1, 30_000, 0.0, None),
        (10, a1, q2, "13800000002", "4008002", 2, 90_000, 0.2, 80.0),
        (20, a2, q1, "13800000001", "4008001", 17, 300_000, 0.0, 55.5),
        (30, a2, q2, HOSTILE[0], "4008002", None, 5_000, 0.05, 100.0),
        (30, None, None, HOSTILE[1], "4008003", 17, 60_000, 0.0, None),
        (40, a1, q1, "%", "4008001", 3, 60_000, 0.5, 10.0),
    ]
    ids = []
    for i, (m, agent, queue, caller, called, ch, dur, over, score) in enumerate(specs):
        ids.append(
            resolved(
                db.recordings.add(
                    None,
                    f"2026/03/01/r{i}.wav",
                    T0 + dt.timedelta(minutes=m),
                    dur,
                    1000,
                    "0" * 64,
                    agent_id=agent,
                    queue_id=queue,
                    caller_number=caller,
                    called_number=called,
                    channel_number=ch,
                    trunk_group=GROUPS[i],
                    talk_over_ratio=over,
                    qa_score=score,
                    peaks=[1, 2, 3],
                )
            )
        )
    return {"ids": ids, "a1": a1, "a2": a2, "q1": q1, "q2": q2}


def found(db: DBConnector, only_agent_id: int | None = None, **query: Any) -> list[int]:
    page = resolved(db.recording_search.search(RecordingQuery(**query), only_agent_id))
    return [r.id for r in page.rows]


def test_each_filter_finds_exactly_its_rows(db: DBConnector, seeded: dict[str, Any]) -> None:
    ids = seeded["ids"]

    def pick(*positions: int) -> list[int]:
        return sorted(ids[p] for p in positions)

    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"start": T0 + dt.timedelta(minutes=20)}, pick(2, 3, 4, 5)),
        ({"end": T0 + dt.timedelta(minutes=20)}, pick(0, 1)),
        (
            {"start": T0 + dt.timedelta(minutes=10), "end": T0 + dt.timedelta(minutes=31)},
            pick(1, 2, 3, 4),
        ),
        ({"channel_number": 17}, pick(2, 4)),
        ({"trunk_group": "g0"}, pick(0, 1, 5)),
        ({"trunk_group": "g1", "channel_number": 17}, pick(2)),  # "g1 / 17"
        ({"trunk_group": "g0", "channel_number": 17}, []),
        ({"trunk_group": "g"}, []),  # a group is found whole
        ({"agent_id": seeded["a1"]}, pick(0, 1, 5)),
        ({"queue_id": seeded["q2"]}, pick(1, 3)),
        ({"caller": "13800000001"}, pick(0, 2)),
        ({"called": "4008002"}, pick(1, 3)),
        ({"min_duration_ms": 60_000}, pick(1, 2, 4, 5)),
        ({"max_duration_ms": 60_000}, pick(0, 3, 4, 5)),
        ({"min_duration_ms": 60_000, "max_duration_ms": 90_000}, pick(1, 4, 5)),
        ({"talk_over": True}, pick(1, 3, 5)),
        ({"talk_over": False}, pick(0, 2, 4)),
        ({"min_score": 55.5}, pick(1, 2, 3)),
        ({"max_score": 55.5}, pick(2, 5)),
        ({"min_score": 50, "max_score": 90}, pick(1, 2)),
        ({"agent_id": seeded["a1"], "talk_over": True, "queue_id": seeded["q1"]}, pick(5)),
        ({"caller": "1380000000"}, []),  # a number is found whole, not by a piece of it
    ]
    for query, expected in cases:
        assert sorted(found(db, **query)) == expected, query


@pytest.mark.parametrize("caller", HOSTILE)
def test_hostile_numbers_are_found_as_given(
    db: DBConnector, seeded: dict[str, Any], caller: str
) -> None:
    rows = resolved(db.recording_search.search(RecordingQuery(caller=caller))).rows
    stored = caller in (HOSTILE[0], HOSTILE[1], "%")
    # no LIKE: "%" finds only "%", and "_" (not stored) nothing
    assert [r.caller_number for r in rows] == ([caller] if stored else [])
    assert resolved(db.recordings.count()) == 6  # the "DROP TABLE" did nothing


def test_only_one_agents_recordings(db: DBConnector, seeded: dict[str, Any]) -> None:
    ids, a1, a2 = seeded["ids"], seeded["a1"], seeded["a2"]
    assert sorted(found(db, a2)) == sorted([ids[2], ids[3]])
    assert found(db, a2, agent_id=a1) == []  # asking for another agent's gives nothing
    assert sorted(found(db, a2, caller="13800000001")) == [ids[2]]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("descending", [False, True])
def test_every_allowed_sort_with_the_id_as_tie_breaker(
    db: DBConnector, seeded: dict[str, Any], sort: str, descending: bool
) -> None:
    page = resolved(db.recording_search.search(RecordingQuery(sort=sort, descending=descending)))
    got = [(getattr(r, sort), r.id) for r in page.rows]
    present = sorted((v, i) for v, i in got if v is not None)
    if descending:
        present.reverse()
    absent = sorted(((v, i) for v, i in got if v is None), key=lambda x: x[1], reverse=descending)
    assert got == present + absent  # NULLs last either way, the same on both databases
    assert page.total == 6 and not page.total_capped


def test_paging(db: DBConnector, seeded: dict[str, Any]) -> None:
    everything = found(db, limit=200)
    assert len(everything) == 6
    pages = [found(db, limit=4, offset=0), found(db, limit=4, offset=4)]
    assert pages[0] + pages[1] == everything and len(pages[1]) == 2
    page = resolved(db.recording_search.search(RecordingQuery(limit=1, offset=5)))
    assert (len(page.rows), page.total) == (1, 6)
    assert found(db, offset=recording_search.MAX_OFFSET) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sort": "path"}, "sort must be one of"),
        ({"sort": "started_at; DROP TABLE recordings"}, "sort must be one of"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": recording_search.MAX_OFFSET + 1}, "offset"),
        ({"start": dt.datetime(2026, 3, 1)}, "time zone"),
        ({"caller": "1" * 81}, "caller"),
    ],
)
def test_queries_it_cannot_take_are_value_errors(
    db: DBConnector, change: dict[str, Any], message: str
) -> None:
    query = dataclasses.replace(RecordingQuery(), **change)
    with pytest.raises(ValueError, match=message):
        resolved(db.recording_search.search(query))


def test_the_total_is_counted_up_to_a_cap(
    db: DBConnector, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording_search, "COUNT_CAP", 4)
    page = resolved(db.recording_search.search(RecordingQuery(limit=2)))
    assert (len(page.rows), page.total, page.total_capped) == (2, 4, True)
    page = resolved(db.recording_search.search(RecordingQuery(agent_id=seeded["a1"])))
    assert (page.total, page.total_capped) == (3, False)


def test_the_filters_use_the_indexes(db: DBConnector, seeded: dict[str, Any]) -> None:
    """The plan of a page filtered by caller, agent, queue or channel reads that column's
    index (PostgreSQL is told to avoid whole-table scans: the test table is tiny)."""
    r = model.recordings
    sqlite = db.engine.dialect.name == "sqlite"
    for field, index in (
        ({"caller": "13800000001"}, "ix_recordings_caller_number_started_at"),
        ({"agent_id": 1}, "ix_recordings_agent_id_started_at"),
        ({"channel_number": 17}, "ix_recordings_channel_number_started_at"),
        ({"queue_id": 1}, "ix_recordings_queue_id_started_at"),
    ):
        q = RecordingQuery(**field)  # type: ignore[arg-type]
        stmt = sa.select(r).where(*conditions(q, None)).order_by(*order(q)).limit(50)
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        with db.engine.begin() as conn:
            if sqlite:
                rows = conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql))
            else:
                conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
                rows = conn.execute(sa.text("EXPLAIN " + sql))
            plan = " ".join(str(row[-1]) for row in rows)
        assert index in plan, (field, plan)
