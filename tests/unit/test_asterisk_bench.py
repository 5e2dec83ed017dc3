"""The pure parts of `make bench-asterisk` (tests/asterisk_bench/plan.py): the arrivals both
modes replay, CPU-seconds from /proc/<pid>/stat, the dropped-caller rule, the entries."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import pytest

from tests.asterisk_bench import plan
from tests.asterisk_bench.plan import Arrival, ModeRun, Outcome
from tests.support import real_asterisk as ra


def test_schedule_is_a_function_of_callers_and_seed() -> None:
    first, again = plan.schedule(60, 21), plan.schedule(60, 21)
    assert first == again  # the app_queue run and the ccboxd run see the same callers
    assert plan.schedule(60, 22) != first
    assert len(first) == 60 and len({a.number for a in first}) == 60
    assert len({a.channel_id for a in first} | {a.other_id for a in first}) == 120
    assert [a.at_s for a in first] == sorted(a.at_s for a in first)
    assert all(0 <= a.at_s <= plan.SPREAD_S for a in first)
    assert all(plan.HOLD_S[0] <= a.hold_s <= plan.HOLD_S[1] for a in first)
    # spread over the whole range, not bunched: a seeded uniform draw
    assert first[-1].at_s - first[0].at_s > plan.SPREAD_S * 0.8
    holds = [a.hold_s for a in first]
    assert max(holds) - min(holds) > 40


def test_stat_line_with_spaces_and_parentheses_in_the_name() -> None:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...
    line = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 130 7 9 20 0 31 0"
    assert plan.stat_cpu_s(line, 100) == pytest.approx(3.8)  # children's 7+9 not counted
    assert plan.stat_cpu_s(line, 1000) == pytest.approx(0.38)


def test_cpu_of_this_process_grows_with_work() -> None:
    before = plan.cpu_s(os.getpid())
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    assert plan.cpu_s(os.getpid()) - before >= 0.03


def _arrival(i: int) -> Arrival:
    return Arrival(i, float(i), 30.0, f"1390{i:07d}")


def test_dropped_callers_are_the_unanswered_that_did_not_hang_up_themselves() -> None:
    outcomes = [
        Outcome(_arrival(0), gone=True, answered=True, hung_up_itself=False),  # talked
        Outcome(_arrival(1), gone=True, answered=False, hung_up_itself=True),  # gave up
        Outcome(_arrival(2), gone=True, answered=True, hung_up_itself=True),  # both
        Outcome(_arrival(3), gone=True, answered=False, hung_up_itself=False),  # cut off
        Outcome(_arrival(4), gone=False, answered=False, hung_up_itself=False),  # never seen
    ]
    assert [a.index for a in plan.dropped(outcomes)] == [3, 4]
    assert plan.dropped(outcomes[:3]) == []


def test_outcomes_from_the_harness_events() -> None:
    arrivals = [_arrival(i) for i in range(4)]
    a0, a1, a2, a3 = arrivals
    events = [
        {
            "Event": "UserEvent",
            "UserEvent": "HarnessPhoneAnswered",
            "Phone": "1001",
            "Caller": a0.number,
            "Uniqueid": "1765.5",
        },
        {"Event": "Hangup", "Uniqueid": a0.channel_id},
        {
            "Event": "UserEvent",
            "UserEvent": "HarnessCallerHangsUp",
            "Uniqueid": a1.other_id,
            "Caller": a1.number,
        },
        {"Event": "Hangup", "Uniqueid": a1.channel_id},
        # a2: its ;2 half's own hang-up is not its ;1 half's, a phone answering another
        {"Event": "UserEvent", "UserEvent": "HarnessCallerHangsUp", "Uniqueid": a2.channel_id},
        {"Event": "UserEvent", "UserEvent": "HarnessPhoneAnswered", "Caller": "139"},
        {"Event": "Hangup", "Uniqueid": a2.channel_id},
    ]
    got = plan.outcomes(arrivals, events)
    assert got == [
        Outcome(a0, gone=True, answered=True, hung_up_itself=False),
        Outcome(a1, gone=True, answered=False, hung_up_itself=True),
        Outcome(a2, gone=True, answered=False, hung_up_itself=False),
        Outcome(a3, gone=False, answered=False, hung_up_itself=False),
    ]
    assert [a.index for a in plan.dropped(got)] == [2, 3]


def _runs(app_cpu: float = 10.2, box_cpu: float = 12.0) -> tuple[ModeRun, ModeRun]:
    app = ModeRun("app_queue", 60, 98.0, app_cpu, 1.2, None, 40, 0)
    box = ModeRun("ccboxd", 60, 99.0, box_cpu, 1.5, 0.6, 41, 2)
    return app, box


def test_results_ratio_and_entries() -> None:
    app, box = _runs()
    rows = {r.name: r for r in plan.results(app, box, commit="abc1234")}
    ratio = rows["switch cpu per waiting caller ratio [60 callers]"]
    assert ratio.value == pytest.approx(12.0 / 10.2)
    assert (ratio.baseline_value, ratio.better, ratio.unit) == (1.0, "lower", "ratio")
    assert ratio.gain == pytest.approx(10.2 / 12.0)
    assert "abc1234" in ratio.note
    box_row = rows["switch cpu per call [ccboxd, 60 callers]"]
    assert box_row.value == pytest.approx(0.2) and box_row.baseline_value == pytest.approx(0.17)
    app_row = rows["switch cpu per call [app_queue, 60 callers]"]
    assert app_row.value == pytest.approx(0.17) and app_row.baseline_value == pytest.approx(0.02)
    brain = rows["brain cpu per call [60 callers]"]
    assert brain.value == pytest.approx(0.01) and brain.baseline_value == 0.016
    assert brain.gain == pytest.approx(1.6)
    assert rows["callers dropped [app_queue, 60 callers]"].value == 0
    assert rows["callers dropped [ccboxd, 60 callers]"].value == 2
    assert all(r.better == "lower" for r in rows.values())
    assert len(rows) == 6
    # the same JSON as make bench's
    json.loads(json.dumps([r.as_dict() for r in rows.values()]))


def test_results_name_the_recording_policy_and_refuse_mixed_runs() -> None:
    app, box = _runs()
    names = [r.name for r in plan.results(app, box, recording=True)]
    assert "switch cpu per waiting caller ratio [60 callers, recording on]" in names
    with pytest.raises(AssertionError):
        plan.results(box, app)
    with pytest.raises(AssertionError):
        plan.results(app, ModeRun("ccboxd", 240, 99.0, 12.0, 1.5, 0.6, 41, 0))


def test_table_lists_every_entry() -> None:
    rows = plan.results(*_runs())
    text = plan.table(rows)
    assert all(r.name in text for r in rows)
    assert not math.isnan(rows[0].gain)


def test_app_queue_configuration_matches_the_ccboxd_queue() -> None:
    q = ra.AppQueue(name="bench", members=("IAX2/1001", "IAX2/1002"))
    conf = q.queues_conf()
    for line in (
        "[bench]",
        "strategy = rrmemory",
        "ringinuse = no",
        "timeout = 5",
        "wrapuptime = 1",
        "musicclass = default",
        "announce-frequency = 0",
        "periodic-announce-frequency = 0",
        "joinempty = yes",
        "leavewhenempty = no",
        "member => IAX2/1001",
        "member => IAX2/1002",
    ):
        assert line in conf.splitlines(), line
    assert f"[{ra.APP_QUEUE_CONTEXT}]" in q.dialplan() and "Queue(bench,t)" in q.dialplan()


def test_harness_event_filters() -> None:
    assert ra.event_filter("Hangup", "Uniqueid", "bench-") == (
        "eventfilter(action(include),name(Hangup),header(Uniqueid),method(starts_with)) = bench-"
    )
    assert ra.event_filter("FullyBooted") == "eventfilter(action(include),name(FullyBooted)) = "
    filtered = ra._manager_conf(5038, (ra.event_filter("UserEvent"),))
    assert "eventfilter(action(include),name(UserEvent))" in filtered
    assert "eventfilter" not in ra._manager_conf(5038)  # make test-asterisk: all events


def test_median_of_rounds_keeps_the_worst_drop() -> None:
    rounds = [
        ModeRun("ccboxd", 60, 99.0, cpu, idle, 0.6, 16, lost)
        for cpu, idle, lost in ((12.0, 1.5, 0), (9.0, 0.0, 3), (10.0, 0.0, 0))
    ]
    one = plan.median_run(rounds)
    assert (one.switch_cpu_s, one.idle_cpu_s, one.dropped) == (10.0, 1.5, 3)
    assert plan.median_run(rounds[:2]).switch_cpu_s == 9.0
    with pytest.raises(AssertionError):
        plan.median_run([rounds[0], ModeRun("app_queue", 60, 99.0, 1.0, 0.0, None, 1, 0)])
    app, box = _runs()
    ratio = plan.results(app, box, rounds=[1.25, 1.31])[0]
    assert "1.25, 1.31" in ratio.note
    unmeasured = dataclasses.replace(app, idle_cpu_s=0.0)
    assert "idle not measured" in plan.results(unmeasured, box)[2].note
