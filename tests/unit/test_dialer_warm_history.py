"""A pacer's warm start from the stored calls (acd/dialer/warm_history.py): a campaign that
dialed before is predictive from its first round; one with no history starts progressive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from acd.dialer.abandon import AbandonMeter
from acd.dialer.pacing import PacingSettings, PredictivePacer
from acd.dialer.warm_history import warm_history
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead
from drivers.asterisk.simulator.called_parties import Population
from tests.support.dialer_rig import START, DialerRig
from tests.support.dialer_seed import seed_store_campaign
from tests.support.inline_db import inline_db

WRAPUP_S = 10


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "warm.sqlite") as connector:
        yield connector


def seed(db: DBConnector, agents: int = 0, leads: int = 0) -> dict[str, int]:
    numbers = [NewLead(number=f"1380{i:07d}") for i in range(leads)]
    return seed_store_campaign(db, "spring", agents, numbers, wrapup_s=WRAPUP_S, mode="predictive")


def store_history(db: DBConnector, campaign_id: int, end: float, calls: int = 300) -> None:
    """``calls`` finished attempts before ``end``, one a minute: every third answered by a
    person after 12 s, taken by an agent 0.5 s later, 100 s of talk (2 of them abandoned:
    2%, under the target); the others rang out at 25 s."""
    for i in range(calls):
        started = dt.datetime.fromtimestamp(end - (calls - i) * 60.0, dt.UTC)
        attempt = resolved(db.dialer.start_attempt(campaign_id, None, started_at=started))
        if i % 3:
            ended = started + dt.timedelta(seconds=25)
            resolved(db.dialer.finish_attempt(attempt, "no_answer", ended))
            continue
        answered = started + dt.timedelta(seconds=12)
        if i % 150 == 0:
            ended = answered + dt.timedelta(seconds=2)
            resolved(db.dialer.finish_attempt(attempt, "abandoned", ended, answered_at=answered))
            continue
        ended = answered + dt.timedelta(seconds=100.5)
        resolved(
            db.dialer.finish_attempt(attempt, "answered", ended, answered_at=answered, wait_ms=500)
        )


def warmed_pacer(db: DBConnector, ids: dict[str, int], now: float) -> PredictivePacer:
    pacer = PredictivePacer(PacingSettings(), AbandonMeter(), lambda: now)
    resolved(
        defer.ensureDeferred(
            warm_history(
                pacer.history, db.dialer, ids["campaign"], ids["queue"], float(WRAPUP_S), now
            )
        )
    )
    return pacer


def test_a_pacer_warmed_from_stored_calls_places_predictively_at_once(db: DBConnector) -> None:
    ids = seed(db)
    store_history(db, ids["campaign"], START)
    pacer = warmed_pacer(db, ids, START)
    h = pacer.history
    assert len(h.handle) == len(h.talk) == 98  # 100 person answers, 2 of them abandoned
    assert h.talk.mean() == pytest.approx(100.0)
    assert h.wrap.mean() == pytest.approx(WRAPUP_S)
    assert h.ring.mean() == pytest.approx(12.0) and len(h.ring) == 100
    assert h.miss.mean() == pytest.approx(25.0) and len(h.miss) == 200
    assert h.answer_rate() == pytest.approx((100 + 5) / (300 + 10))
    # its first round: 5 idle agents, 15 on calls, nothing in flight
    placed = pacer.calls_to_place(START, 5, 15, 0)
    assert pacer.state == "predictive"
    assert placed > 5  # more lines than idle agents: the answer rate is about 1/3


def test_with_no_stored_calls_a_pacer_starts_progressive(db: DBConnector) -> None:
    ids = seed(db)
    pacer = warmed_pacer(db, ids, START)
    assert len(pacer.history.handle) == 0
    assert pacer.calls_to_place(START, 5, 15, 0) == 5
    assert pacer.state == "progressive"


def test_calls_older_than_a_week_are_not_read(db: DBConnector) -> None:
    ids = seed(db)
    store_history(db, ids["campaign"], START - 8 * 86400.0)
    pacer = warmed_pacer(db, ids, START)
    assert len(pacer.history.handle) == len(pacer.history.outcomes) == 0
    assert pacer.calls_to_place(START, 5, 15, 0) == 5


def test_a_campaign_without_calls_learns_talk_times_from_its_queue(db: DBConnector) -> None:
    ids = seed(db)
    with db.engine.begin() as conn:
        for i in range(80):
            at = dt.datetime.fromtimestamp(START - 3600 + i * 30, dt.UTC)
            values: dict[str, Any] = {
                "uniqueid": f"u{i}",
                "linkedid": f"u{i}",
                "direction": "inbound",
                "queue_id": ids["queue"],
                "started_at": at,
                "talk_ms": 90_000,
            }
            conn.execute(model.calls.insert().values(**values))
    pacer = warmed_pacer(db, ids, START)
    assert len(pacer.history.handle) == 80
    assert pacer.history.handle.mean() == pytest.approx(90.0 + WRAPUP_S)
    pacer.calls_to_place(START, 5, 15, 0)
    assert pacer.state == "predictive"


@pytest.mark.parametrize(("stored", "lines"), [(True, "more"), (False, "6")])
def test_the_engine_warms_a_campaign_it_starts_and_dials_ahead_of_its_agents(
    db: DBConnector, stored: bool, lines: str
) -> None:
    """Over the simulated switch: 6 agents logged in and idle get more lines than agents in
    the first second from the history a previous session stored; with none, one each."""
    ids = seed(db, agents=6, leads=40)
    if stored:
        store_history(db, ids["campaign"], START)
    people = Population(person=0.3, machine=0, busy=0, congestion=0, ring_s=(5.0, 20.0), seed=1)
    rig = DialerRig(db, people, trunks={"default": 40})
    assert isinstance(rig.clock, Clock)
    rig.start()
    pacer = rig.dialer.runs[ids["campaign"]].pacer
    assert isinstance(pacer, PredictivePacer)
    assert len(pacer.history.handle) == (98 if stored else 0)
    for number, agent_id in ids.items():
        if number.isdigit():
            rig.acd.login(agent_id)
    rig.step(1.1)
    originates = [m for m in rig.ami.actions if m.get("Action") == "Originate"]
    if lines == "more":
        assert len(originates) > 6
    else:
        assert len(originates) == 6
    rig.step(30.0)
    assert any(line.state == "talking" for line in rig.dialer.lines.values())
    # stopped as ccboxd stops: no new call, the calls in progress end and are written
    # before the database may close (the engine bench once logged DatabaseStopped here)
    rig.stop()
    assert not rig.dialer.running
    assert [x.state for x in rig.dialer.lines.values() if x.state != "done"] == []
    with db.engine.connect() as conn:
        outcomes = [r.outcome for r in conn.execute(model.dial_attempts.select())]
    placed = [m for m in rig.ami.actions if m.get("Action") == "Originate"]
    assert len(outcomes) == len(placed) + (300 if stored else 0)
    assert None not in outcomes
