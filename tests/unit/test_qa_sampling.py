"""The calls waiting to be scored (QAStore.to_score) on both databases: up to N recorded,
unscored calls per agent in a period, picked by a seeded order that SQL and Python compute
alike, so a test can name the calls a seed picks; the queue and agent filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.db.qa_store import MAX_PER_AGENT, sample_key
from tests.unit.test_qa_form import ALL_GOOD, FORM

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
START, END = T0, T0 + dt.timedelta(days=7)


@pytest.fixture
def floor(db: DBConnector) -> dict[str, Any]:
    """Two agents with 12 calls each in the week (half in each queue), a call before and
    after the week, a call with no agent, and one scored call."""
    agents = [resolved(db.agents.add(n, name)).id for n, name in (("1002", "李雷"), ("1001", "A"))]
    queues = [resolved(db.queues.add(name)).id for name in ("support", "sales")]
    calls: dict[int, list[int]] = {a: [] for a in agents}
    queue_of: dict[int, int] = {}
    n = 0

    def add(agent: int | None, queue: int, at: dt.datetime) -> int:
        nonlocal n
        n += 1
        rid: int = resolved(
            db.recordings.add(
                None,
                f"r{n}.wav",
                at,
                30_000,
                1,
                "0" * 64,
                agent_id=agent,
                queue_id=queue,
                caller_number=f"1380000{n:04d}",
                direction="outbound" if n % 5 == 0 else "inbound",
            )
        )
        queue_of[rid] = queue
        return rid

    for i in range(12):
        for agent in agents:
            calls[agent].append(add(agent, queues[i % 2], T0 + dt.timedelta(hours=5 * i)))
    outside = [
        add(agents[0], queues[0], START - dt.timedelta(seconds=1)),
        add(agents[0], queues[0], END),
    ]
    nobody = add(None, queues[0], T0)
    form = resolved(db.qa.add_form("Standard", FORM, "qa")).id
    scored = calls[agents[1]].pop(3)
    resolved(db.qa.evaluate(scored, form, ALL_GOOD, "qa", ""))
    return {
        "agents": agents,
        "queues": queues,
        "calls": calls,
        "queue_of": queue_of,
        "outside": outside,
        "nobody": nobody,
        "scored": scored,
    }


def expected(candidates: list[int], per_agent: int, seed: int) -> set[int]:
    return set(sorted(candidates, key=lambda rid: (sample_key(rid, seed), rid))[:per_agent])


def test_n_unscored_calls_per_agent_in_the_period_picked_by_the_seed(
    db: DBConnector, floor: dict[str, Any]
) -> None:
    rows = resolved(db.qa.to_score(START, END, 3, seed=42))
    by_agent: dict[int, set[int]] = {}
    for row in rows:
        by_agent.setdefault(row.agent_id, set()).add(row.recording_id)
    assert by_agent == {a: expected(floor["calls"][a], 3, 42) for a in floor["agents"]}
    picked = {row.recording_id for row in rows}
    assert floor["scored"] not in picked and floor["nobody"] not in picked
    assert not picked & set(floor["outside"])
    # by agent number (1001 first), then by time; names and queues come along
    assert [r.agent_number for r in rows] == ["1001"] * 3 + ["1002"] * 3
    assert [r.started_at for r in rows[:3]] == sorted(r.started_at for r in rows[:3])
    assert {r.agent_name for r in rows} == {"A", "李雷"}
    assert all(r.queue_name in ("support", "sales") for r in rows)
    # the same seed, the same calls; another seed, another sample
    assert resolved(db.qa.to_score(START, END, 3, seed=42)) == rows
    other = {r.recording_id for r in resolved(db.qa.to_score(START, END, 3, seed=7))}
    assert other == set().union(*(expected(floor["calls"][a], 3, 7) for a in floor["agents"]))
    assert other != picked


def test_filters_by_queue_and_agent_and_bounds(db: DBConnector, floor: dict[str, Any]) -> None:
    support = floor["queues"][0]
    rows = resolved(db.qa.to_score(START, END, 20, seed=1, queue_id=support))
    assert {r.queue_id for r in rows} == {support}
    # every call of the queue in the week, but the scored one: fewer than 20 each
    wanted = {
        c for a in floor["agents"] for c in floor["calls"][a] if floor["queue_of"][c] == support
    }
    assert {r.recording_id for r in rows} == wanted
    one = floor["agents"][0]
    rows = resolved(db.qa.to_score(START, END, 2, seed=1, agent_id=one))
    assert {r.recording_id for r in rows} == expected(floor["calls"][one], 2, 1)
    after = resolved(db.qa.to_score(END, END + dt.timedelta(days=1), 5, seed=1))
    assert [r.recording_id for r in after] == [floor["outside"][1]]  # the next week's
    for bad in (0, MAX_PER_AGENT + 1):
        with pytest.raises(ValueError):
            resolved(db.qa.to_score(START, END, bad, seed=1))


def test_the_order_is_spread_and_changes_with_the_seed() -> None:
    """Consecutive ids land all over the order (the sample is not the first calls of the
    week), and the next seed picks other ones."""
    keys = [sample_key(rid, 3) for rid in range(1, 101)]
    assert len(set(keys)) == 100
    first_ten = sorted(range(1, 101), key=lambda rid: sample_key(rid, 3))[:10]
    assert max(first_ten) - min(first_ten) > 30
    assert sorted(range(1, 101), key=lambda rid: sample_key(rid, 4))[:10] != first_ten
