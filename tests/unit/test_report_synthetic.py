"""Synthetic history (appliance/reports/synthetic.py): deterministic, shaped like a center's
days and weeks, agents' states that agree with the calls, rows that fit the schema."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections import Counter, defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from appliance.db import migrate, model
from appliance.db.engine import create_engine
from appliance.reports import synthetic as syn

ZONE = "Asia/Shanghai"
MONDAY = dt.date(2026, 3, 2)


def _center(**options: object) -> syn.Center:
    teams = (
        syn.Team(1, "support", tuple(range(1, 13)), talk_s=150, mailbox="801"),
        syn.Team(2, "sales", tuple(range(13, 21)), talk_s=200),
    )
    return syn.demo_center_of(teams, zone=ZONE, calls_per_day=1500, flow_id=1, **options)


def _all(batches: object) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for batch in batches:  # type: ignore[attr-defined]
        for table, rows in batch.items():
            out[table].extend(rows)
    return out


def _col(table: str, name: str) -> int:
    return syn.TABLES[table].index(name)


def _local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).astimezone(ZoneInfo(ZONE))


@pytest.fixture(scope="module")
def week() -> dict[str, list[tuple]]:
    return _all(syn.rows_of(_center(form_id=1, qa_items=(("greeting", 1),)), MONDAY, 7, seed=3))


def test_the_same_seed_makes_the_same_rows_and_another_does_not() -> None:
    a = _all(syn.rows_of(_center(), MONDAY, 1, seed=5))
    b = _all(syn.rows_of(_center(), MONDAY, 1, seed=5))
    c = _all(syn.rows_of(_center(), MONDAY, 1, seed=6))
    assert a == b
    assert a["calls"] != c["calls"]


def test_busy_mornings_quiet_nights_and_weekends(week: dict[str, list[tuple]]) -> None:
    started = [_local(r[_col("calls", "started_at")]) for r in week["calls"]]
    by_day = Counter(t.date() for t in started)
    assert by_day[MONDAY] > 1.8 * by_day[MONDAY + dt.timedelta(days=6)]  # Monday vs Sunday
    assert by_day[MONDAY] > by_day[MONDAY + dt.timedelta(days=2)]  # vs Wednesday
    by_hour = Counter(t.hour for t in started)
    assert by_hour[10] > 20 * by_hour[3]


def test_abandons_pile_up_in_a_short_staffed_half_hour() -> None:
    # Tuesday 10:00-10:30: a tenth of the team
    rows = _all(syn.rows_of(_center(short_staffed={(1, 20): 0.1}), MONDAY, 3, seed=4))["calls"]
    outcome, queued = _col("calls", "queue_outcome"), _col("calls", "queued_at")

    def rate(rows: list[tuple]) -> float:
        offered = [r for r in rows if r[outcome]]
        return sum(r[outcome] == "abandoned" for r in offered) / len(offered)

    def bad(r: tuple) -> bool:
        t = _local(r[queued])
        return t.weekday() == 1 and t.hour == 10 and t.minute < 30

    inside = [r for r in rows if r[queued] and bad(r)]
    outside = [r for r in rows if r[queued] and not bad(r)]
    assert rate(inside) > 0.3
    assert rate(outside) < 0.1


def test_calls_rows_say_what_the_queue_did(week: dict[str, list[tuple]]) -> None:
    c = {name: _col("calls", name) for name in syn.CALLS}
    outcomes = Counter(r[c["queue_outcome"]] for r in week["calls"])
    assert outcomes["answered"] > 0.7 * sum(outcomes.values())
    assert outcomes["abandoned"] > 0
    assert outcomes[None] > 0  # served by the menus alone
    assert outcomes["callback"] == len(week["callbacks"]) > 0  # asked after a minute's wait
    for r in week["calls"]:
        assert r[c["started_at"]] < r[c["ended_at"]]
        if r[c["queue_outcome"]] == "answered":
            assert r[c["agent_id"]] and r[c["talk_ms"]] > 0
            assert r[c["queued_at"]] < r[c["agent_answered_at"]] < r[c["ended_at"]]
            assert r[c["disposition"]] == "completed"
        elif r[c["queue_outcome"]]:
            assert r[c["agent_id"]] is None and r[c["wait_ms"]] >= 0
            assert r[c["entry_queue_id"]] == r[c["queue_id"]]


def test_each_call_has_its_events_in_order(week: dict[str, list[tuple]]) -> None:
    kinds: dict[int, list[str]] = defaultdict(list)
    last_at: dict[int, str] = {}
    for _, call, kind, data, at in week["call_events"]:
        assert at >= last_at.get(call, "")
        last_at[call] = at
        kinds[call].append(kind)
        if kind == "ivr_step":
            assert json.loads(data)["flow"] == "main"
    ids = [r[0] for r in week["call_events"]]
    assert ids == sorted(ids)
    outcome = _col("calls", "queue_outcome")
    for r in week["calls"][:500]:
        seen = kinds[r[0]]
        assert seen[0] == "flow_start" and seen[-1] == "hangup"
        if r[outcome] == "answered":
            assert seen[seen.index("queued") + 1] == "answered"
        elif r[outcome] == "abandoned":
            assert "abandoned" in seen


def test_agents_states_agree_with_their_calls(week: dict[str, list[tuple]]) -> None:
    """Per agent: one call at a time (ringing, on_call, wrap_up, available), never a call
    while paused or logged out, and every shift ends logged out."""
    allowed = {
        "logged_out": {"available"},
        "available": {"ringing", "paused", "logged_out"},
        "ringing": {"on_call"},
        "on_call": {"wrap_up"},
        "wrap_up": {"available"},
        "paused": {"available", "logged_out"},
    }
    state: dict[int, str] = {}
    for _, agent, new, reason, _at in week["agent_events"]:
        old = state.get(agent, "logged_out")
        assert new in allowed[old], (agent, old, new)
        assert (new == "paused") == (reason != "")
        state[agent] = new
    assert set(state.values()) == {"logged_out"}
    handled = Counter(r[_col("calls", "agent_id")] for r in week["calls"] if r[10] is not None)
    rang = Counter(e[1] for e in week["agent_events"] if e[2] == "on_call")
    assert handled == rang


def test_recordings_and_scores_of_the_answered_calls(week: dict[str, list[tuple]]) -> None:
    answered = {r[0] for r in week["calls"] if r[_col("calls", "queue_outcome")] == "answered"}
    recorded = {r[1] for r in week["recordings"]}
    assert recorded == answered
    assert len({r[2] for r in week["recordings"]}) == len(week["recordings"])  # unique paths
    scored = week["qa_evaluations"]
    assert 0 < len(scored) < 0.05 * len(answered)
    assert all(
        json.loads(e[_col("qa_evaluations", "answers")]).keys() == {"greeting"} for e in scored
    )


def _migrated_center(url: str) -> sa.Engine:
    """A migrated database with the synthetic center's 20 agents and its two queues."""
    engine = create_engine(url)
    migrate.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(model.agents),
            [
                {"id": i, "number": str(1000 + i), "name": "a", "created_at": now}
                for i in range(1, 21)
            ],
        )
        for qid, name in ((1, "support"), (2, "sales")):
            conn.execute(sa.insert(model.queues).values(id=qid, name=name, created_at=now))
    return engine


def test_loads_into_a_migrated_database(tmp_path: object) -> None:
    engine = _migrated_center(f"sqlite:///{tmp_path}/h.sqlite")
    first = syn.load(engine, _center(), MONDAY, 2, seed=2, bulk=True)
    more = syn.load(engine, _center(), MONDAY + dt.timedelta(days=2), 1, seed=2)
    with engine.connect() as conn:
        calls = conn.execute(sa.select(sa.func.count()).select_from(model.calls)).scalar()
        events = conn.execute(sa.select(sa.func.count()).select_from(model.call_events)).scalar()
        indexes = sa.inspect(conn).get_indexes("calls")
        row = conn.execute(sa.select(model.calls).order_by(model.calls.c.id.desc())).first()
        fk = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    assert calls == first.rows["calls"] + more.rows["calls"]
    assert events == first.rows["call_events"] + more.rows["call_events"]
    assert {i["name"] for i in indexes} >= {"ix_calls_started_at", "ix_calls_queue_id_queued_at"}
    assert row is not None and row.ended_at.tzinfo is dt.UTC  # read back by the model's types
    assert fk == []
    assert first.rows_per_s > 0 and more.last_ids["calls"] == calls


def test_a_failed_load_leaves_nothing_behind(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure on the second day reaches the caller, and the load's one transaction (the
    indexes dropped in it) rolls back."""
    engine = create_engine(f"sqlite:///{tmp_path}/f.sqlite")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        before = {i["name"] for i in sa.inspect(conn).get_indexes("calls")}
    made = syn.Generator._day

    def second_day_fails(self: syn.Generator, day: dt.date, *args: Any, **kw: Any) -> Any:
        if day > MONDAY:
            raise RuntimeError("no more rows")
        return made(self, day, *args, **kw)

    monkeypatch.setattr(syn.Generator, "_day", second_day_fails)
    with pytest.raises(RuntimeError, match="no more rows"):
        syn.load(engine, _center(), MONDAY, 3, bulk=True)
    with engine.connect() as conn:
        calls = conn.execute(sa.select(sa.func.count()).select_from(model.calls)).scalar()
        after = {i["name"] for i in sa.inspect(conn).get_indexes("calls")}
    assert calls == 0
    assert after == before and "ix_calls_started_at" in after


# The tables' digests of the load below, as it wrote them before the load was made faster
# (a faster load writes the same rows, values and storage types, for the same seed).
DIGESTS = {
    "calls": "46398f2ed351f8c5",
    "call_events": "213913189692e46e",
    "agent_events": "2bee6bc9a278f2ad",
    "recordings": "1237351dd59e1f8a",
    "qa_evaluations": "98484d81458eb163",
    "voicemails": "e3b0c44298fc1c14",
    "callbacks": "9d39548ea4980793",
}


def test_a_load_writes_the_same_rows_as_before(tmp_path: object) -> None:
    path = f"{tmp_path}/d.sqlite"
    engine = _migrated_center(f"sqlite:///{path}")
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(model.ivr_flows).values(id=1, name="main", graph="{}", updated_at=now)
        )
        conn.execute(
            sa.insert(model.qa_forms).values(id=1, name="r", definition="{}", created_at=now)
        )
    center = _center(form_id=1, qa_items=(("greeting", 1), ("solved", 5)))
    syn.load(engine, center, MONDAY, 2, seed=2, bulk=True)
    syn.load(engine, center, MONDAY + dt.timedelta(days=2), 1, seed=4)
    engine.dispose()
    db = sqlite3.connect(path)
    digests = {}
    for table, cols in syn.TABLES.items():
        h = hashlib.sha256()
        typed = ", ".join(f"typeof({c}), {c}" for c in cols)
        for row in db.execute(f"SELECT {typed} FROM {table} ORDER BY id"):  # noqa: S608
            h.update(repr(row).encode())
        digests[table] = h.hexdigest()[:16]
    indexes = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index'").fetchone()
    broken = db.execute("PRAGMA foreign_key_check").fetchall()
    db.close()
    assert digests == DIGESTS
    assert indexes[0] > len(syn.TABLES) and broken == []
