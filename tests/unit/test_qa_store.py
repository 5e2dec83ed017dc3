"""The QA store on both databases: forms (frozen once used, deactivated), evaluations that
copy the recording's agent and queue and set its qa_score, and the SQL averages."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from appliance.cli import resolved
from appliance.db.components import DuplicateError
from appliance.db.connector import DBConnector
from appliance.db.qa_store import FormInactive, FormInUse
from recorder.qa_form import FormError
from tests.unit.test_qa_form import ALL_GOOD, FORM

HOSTILE = "<img src=x onerror=alert(1)>'; DROP TABLE qa_forms;--"
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _recording(db: DBConnector, n: int, agent_id: int | None, queue_id: int | None) -> int:
    rid: int = resolved(
        db.recordings.add(
            None,
            f"2026/11/02/r{n}.wav",
            T0,
            60_000,
            1000,
            "0" * 64,
            agent_id=agent_id,
            queue_id=queue_id,
            caller_number="+8613800000000",
        )
    )
    return rid


@pytest.fixture
def world(db: DBConnector) -> dict[str, Any]:
    a1 = resolved(db.agents.add("1001", HOSTILE)).id
    a2 = resolved(db.agents.add("1002", "李雷")).id
    q1 = resolved(db.queues.add("support")).id
    q2 = resolved(db.queues.add("sales")).id
    form = resolved(db.qa.add_form("Standard", FORM, "qa"))
    return {
        "a1": a1,
        "a2": a2,
        "q1": q1,
        "q2": q2,
        "form": form.id,
        "r1": _recording(db, 1, a1, q1),
        "r2": _recording(db, 2, a2, q1),
        "r3": _recording(db, 3, a1, q2),
        "r4": _recording(db, 4, None, None),
    }


def test_forms_are_added_listed_and_checked(db: DBConnector) -> None:
    row = resolved(db.qa.add_form("  通话质检 ", FORM, HOSTILE))
    assert (row.name, row.active, row.evaluations) == ("通话质检", True, 0)
    assert row.created_by == HOSTILE[:64]
    assert row.definition["groups"][1]["name"] == "解决问题"
    assert resolved(db.qa.get_form(row.id)) == row
    assert resolved(db.qa.get_form(row.id + 99)) is None
    with pytest.raises(DuplicateError):
        resolved(db.qa.add_form("通话质检", FORM, "qa"))
    with pytest.raises(FormError, match="group 1: the name is empty"):
        bad = copy.deepcopy(FORM)
        bad["groups"][0]["name"] = ""
        resolved(db.qa.add_form("other", bad, "qa"))
    with pytest.raises(FormError, match="a form needs a name"):
        resolved(db.qa.add_form(" ", FORM, "qa"))
    with pytest.raises(FormError, match="at most 128"):
        resolved(db.qa.add_form("x" * 129, FORM, "qa"))
    assert [f.name for f in resolved(db.qa.list_forms())] == ["通话质检"]


def test_an_unused_form_changes_a_used_one_is_frozen_but_can_be_deactivated(
    db: DBConnector, world: dict[str, Any]
) -> None:
    changed = copy.deepcopy(FORM)
    changed["groups"][0]["weight"] = 40
    row = resolved(db.qa.update_form(world["form"], "Standard v1", changed))
    assert (row.name, row.definition["groups"][0]["weight"]) == ("Standard v1", 40)
    with pytest.raises(LookupError):
        resolved(db.qa.update_form(world["form"] + 50, "x", FORM))
    resolved(db.qa.evaluate(world["r1"], world["form"], ALL_GOOD, "qa"))
    with pytest.raises(FormInUse, match="make a new form or deactivate"):
        resolved(db.qa.update_form(world["form"], "Standard v2", FORM))
    assert resolved(db.qa.get_form(world["form"])).name == "Standard v1"
    off = resolved(db.qa.set_active(world["form"], False))
    assert (off.active, off.evaluations) == (False, 1)
    assert resolved(db.qa.list_forms(active_only=True)) == []
    with pytest.raises(FormInactive):
        resolved(db.qa.evaluate(world["r2"], world["form"], ALL_GOOD, "qa"))
    with pytest.raises(LookupError):
        resolved(db.qa.set_active(world["form"] + 50, False))


def test_an_evaluation_copies_agent_and_queue_and_sets_the_recordings_score(
    db: DBConnector, world: dict[str, Any]
) -> None:
    answers = {"greet": True, "name": False, "solved": 3, "verify": True, "tone": 2}
    first = resolved(db.qa.evaluate(world["r1"], world["form"], answers, "qa", HOSTILE, T0))
    assert (first.score, first.agent_id, first.queue_id) == (58.0, world["a1"], world["q1"])
    assert (first.agent_name, first.queue_name, first.form_name) == (HOSTILE, "support", "Standard")
    assert first.answers == {"greet": 1, "name": 0, "solved": 3, "verify": 1, "tone": 2}
    assert first.comment == HOSTILE and first.created_at == T0
    assert resolved(db.recordings.get(world["r1"])).qa_score == 58.0
    later = T0 + dt.timedelta(hours=1)
    second = resolved(db.qa.evaluate(world["r1"], world["form"], ALL_GOOD, "sup", "", later))
    assert resolved(db.recordings.get(world["r1"])).qa_score == 100.0
    assert resolved(db.recordings.get(world["r2"])).qa_score is None
    assert [e.id for e in resolved(db.qa.evaluations_of_recording(world["r1"]))] == [
        second.id,
        first.id,
    ]
    # An unassigned recording scores too: no agent, no queue.
    none = resolved(db.qa.evaluate(world["r4"], world["form"], ALL_GOOD, "qa"))
    assert (none.agent_id, none.agent_name, none.queue_name) == (None, "", "")


def test_bad_evaluations_write_nothing(db: DBConnector, world: dict[str, Any]) -> None:
    with pytest.raises(FormError, match='question "tone" is not answered'):
        resolved(db.qa.evaluate(world["r1"], world["form"], {**ALL_GOOD, "tone": None}, "qa"))
    with pytest.raises(LookupError, match="no recording"):
        resolved(db.qa.evaluate(world["r1"] + 100, world["form"], ALL_GOOD, "qa"))
    with pytest.raises(LookupError, match="no form"):
        resolved(db.qa.evaluate(world["r1"], world["form"] + 100, ALL_GOOD, "qa"))
    with pytest.raises(FormError, match="at most 2000"):
        resolved(db.qa.evaluate(world["r1"], world["form"], ALL_GOOD, "qa", "x" * 2001))
    assert resolved(db.qa.evaluations_of_recording(world["r1"])) == []
    assert resolved(db.recordings.get(world["r1"])).qa_score is None
    assert resolved(db.qa.get_form(world["form"])).evaluations == 0


def _score(db: DBConnector, w: dict[str, Any], rec: str, solved: int, at: dt.datetime) -> float:
    row = resolved(db.qa.evaluate(w[rec], w["form"], {**ALL_GOOD, "solved": solved}, "qa", "", at))
    return float(row.score)


def test_averages_per_agent_and_queue_over_a_period(db: DBConnector, world: dict[str, Any]) -> None:
    day = dt.timedelta(days=1)
    s = [
        _score(db, world, "r1", 5, T0),  # a1 q1 100
        _score(db, world, "r1", 0, T0 + dt.timedelta(hours=2)),  # a1 q1 50
        _score(db, world, "r3", 4, T0 + dt.timedelta(hours=3)),  # a1 q2 90
        _score(db, world, "r2", 1, T0 + dt.timedelta(hours=4)),  # a2 q1 60
        _score(db, world, "r2", 5, T0 + 3 * day),  # outside the period
        _score(db, world, "r4", 2, T0),  # no agent, no queue: left out
    ]
    assert s[:4] == [100.0, 50.0, 90.0, 60.0]
    by_agent = resolved(db.qa.averages("agent", T0, T0 + day))
    assert [(a.id, a.name, a.count, a.mean, a.min, a.max) for a in by_agent] == [
        (world["a1"], HOSTILE, 3, 80.0, 50.0, 100.0),
        (world["a2"], "李雷", 1, 60.0, 60.0, 60.0),
    ]
    by_queue = resolved(db.qa.averages("queue", T0, T0 + day))
    assert [(a.name, a.count, a.mean, a.min, a.max) for a in by_queue] == [
        ("sales", 1, 90.0, 90.0, 90.0),
        ("support", 3, 70.0, 50.0, 100.0),
    ]
    # the end is exclusive, the start inclusive
    assert resolved(db.qa.averages("agent", T0 + dt.timedelta(hours=4), T0 + 3 * day)) == [
        by_agent[1]
    ]
    assert resolved(db.qa.averages("queue", T0 + 5 * day, T0 + 6 * day)) == []
    with pytest.raises(ValueError):
        resolved(db.qa.averages("evaluator; DROP TABLE x", T0, T0 + day))
    mine = resolved(db.qa.evaluations_of_agent(world["a2"]))
    assert [e.score for e in mine] == [100.0, 60.0]
    assert [e.score for e in resolved(db.qa.evaluations_of_agent(world["a2"], T0, T0 + day))] == [
        60.0
    ]


def test_the_demo_seeds_a_sample_form_that_scores(db: DBConnector) -> None:
    from appliance import demo

    demo._seed_qa(db)
    [form] = resolved(db.qa.list_forms())
    assert (form.name, len(form.definition["groups"]), form.active) == (
        "Standard call review",
        3,
        True,
    )
    rec = _recording(db, 9, None, None)
    questions = [q for g in form.definition["groups"] for q in g["questions"]]
    best = {q["id"]: q["max"] if q["kind"] == "scale" else True for q in questions}
    assert resolved(db.qa.evaluate(rec, form.id, best, "qa")).score == 100.0
    assert resolved(db.qa.evaluate(rec, form.id, {**best, "verified": False}, "qa")).score == 0.0
