"""What a restart of ccboxd must not lose or invent: today's queue counters, an agent who
resigned or went on leave, and the moment an agent answered."""

from __future__ import annotations

import time

from twisted.internet.task import Clock

from acd import agent_state as st
from acd.day_counters import DayCounters, local_day
from acd.service import ACD, Agent
from acd.stats import QueueStatsChanged
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from tests.unit.test_acd_service import seed

T0 = 1_795_353_000.0  # 2026-11-22 13:10 UTC (the days here are UTC days: time.gmtime)


# ``db``: the conftest's migrated database, on SQLite and on PostgreSQL.


def boot(db: DBConnector, at: float = T0) -> tuple[ACD, DayCounters, Clock]:
    """An ACD and its day counters started as the master starts them."""
    clock = Clock()
    clock.advance(at)
    acd = ACD(clock, db, EventBus())
    resolved(acd.startService())
    counters = DayCounters(clock, acd, localtime=time.gmtime)
    resolved(counters.startService())
    return acd, counters, clock


def stop(acd: ACD, counters: DayCounters) -> None:
    resolved(counters.stopService())
    resolved(acd.stopService())


def test_todays_queue_counters_come_back_after_a_restart(db: DBConnector) -> None:
    ids = seed(db)
    acd, counters, clock = boot(db)
    acd.login(ids["1001"])
    answered = acd.join(ids["support"], "13800000001", "u1")
    clock.advance(4)
    acd.answered(answered, "PJSIP/1001")
    clock.advance(30)
    acd.call_ended(answered)
    gone = acd.join(ids["support"], "13800000002", "u2")
    clock.advance(25)  # past the 20 s service level
    acd.abandoned(gone)
    before = acd.stats[ids["support"]].snapshot()
    assert (before["offered"], before["answered"], before["abandoned"]) == (2, 1, 1)
    stop(acd, counters)

    again, counters2, _ = boot(db, T0 + 3600)  # an hour later, the same day
    seen: list[object] = []
    again.bus.subscribe(QueueStatsChanged, seen.append)
    after = again.stats[ids["support"]]
    assert after.snapshot() == {**before, "waiting": 0, "longest_wait_s": 0.0}
    assert (after.answered_in_sl, after.abandoned_after_sl) == (1, 1)
    # counting goes on from there, and is written again
    again.abandoned(again.join(ids["support"], "13800000003", "u3"))
    stop(again, counters2)
    saved = resolved(db.day_stats.load(local_day(T0, time.gmtime)))
    assert (saved[ids["support"]]["offered"], saved[ids["support"]]["abandoned"]) == (3, 2)

    tomorrow, counters3, _ = boot(db, T0 + 86_400)
    assert tomorrow.stats[ids["support"]].offered == 0  # a new day starts at zero
    stop(tomorrow, counters3)


def test_writes_of_one_queue_are_coalesced_and_in_order(db: DBConnector) -> None:
    """While a write is in flight, changes only mark the queue; the next write carries the
    latest numbers (a burst of calls never queues up stale writes)."""
    from twisted.internet import defer

    ids = seed(db)
    acd, _counters, _ = boot(db)
    calls: list[tuple[int, dict[str, object]]] = []
    pending: list[defer.Deferred[None]] = []

    def slow_save(queue_id: int, day: str, values: dict[str, object]) -> defer.Deferred[None]:
        calls.append((queue_id, values))
        d: defer.Deferred[None] = defer.Deferred()
        pending.append(d)
        return d

    db.day_stats.save = slow_save  # type: ignore[method-assign]
    for n in range(5):
        acd.join(ids["support"], f"1380000000{n}", f"u{n}")
    assert [v["offered"] for _, v in calls] == [1]
    pending.pop(0).callback(None)
    assert [v["offered"] for _, v in calls] == [1, 5]
    pending.pop(0).callback(None)
    assert len(calls) == 2 and not pending
    # published again with the same day counters (only the live ones may move): no write
    acd._publish_stats(ids["support"])
    assert len(calls) == 2


def test_a_resigned_agent_stays_logged_out_after_a_restart(db: DBConnector) -> None:
    """Resigned during a call: the logout waits for the call's end, which the old process
    never saw (killed). The restart used to bring the agent back available."""
    ids = seed(db)
    acd, counters, _ = boot(db)
    for number in ("1001", "1002"):
        acd.login(ids[number])
    call = acd.join(ids["support"], "13800000001", "u1")
    acd.answered(call, next(a.device for a in call.ringing))
    acd.pause(ids["1002"], "lunch")
    with db.engine.begin() as conn:
        conn.execute(model.agents.update().values(status="resigned"))
        conn.execute(
            model.agents.update().where(model.agents.c.id == ids["1003"]).values(status="on_leave")
        )
    stop(acd, counters)  # no logout was written: the agents were busy or paused

    again, counters2, _ = boot(db)
    states = {a.number: a.state for a in again.agents.values()}
    assert states == {"1001": st.LOGGED_OUT, "1002": st.LOGGED_OUT, "1003": st.LOGGED_OUT}
    with db.engine.connect() as conn:
        saved = dict(
            conn.execute(
                model.agent_states.select().with_only_columns(
                    model.agent_states.c.agent_id, model.agent_states.c.state
                )
            ).all()
        )
    assert saved == {ids["1001"]: st.LOGGED_OUT, ids["1002"]: st.LOGGED_OUT}
    stop(again, counters2)


def test_the_answer_is_told_the_moment_it_happens(db: DBConnector) -> None:
    ids = seed(db)
    acd, counters, clock = boot(db)
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "u1")
    told: list[tuple[Agent, float]] = []
    call.on_answered = lambda agent, at: told.append((agent, at))
    clock.advance(3)
    acd.answered(call, "PJSIP/1001")
    acd.answered(call, "PJSIP/1001")  # reported twice (AMI and the Dial): told once
    assert [(a.number, at) for a, at in told] == [("1001", T0 + 3)]
    stop(acd, counters)


def test_a_logout_overtaken_by_the_login_before_it_stays_a_logout(db: DBConnector) -> None:
    """The ACD does not wait for one state write before the next; on PostgreSQL's several
    connections the login's write may land after the logout's. The restart used to read
    the login last and bring the agent back."""
    import datetime as dt

    ids = seed(db)
    t = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)
    agent = ids["1001"]
    resolved(db.acd.save_state(agent, st.AVAILABLE, "", t))
    resolved(db.acd.save_state(agent, st.LOGGED_OUT, "", t + dt.timedelta(seconds=2)))
    resolved(db.acd.save_state(agent, st.PAUSED, "lunch", t + dt.timedelta(seconds=1)))  # late
    first = ids["1002"]  # never had a state: its late first write still lands
    resolved(db.acd.save_state(first, st.PAUSED, "lunch", t))
    acd, counters, _ = boot(db)
    assert (acd.agents[agent].state, acd.agents[first].state) == (st.LOGGED_OUT, st.PAUSED)
    # the history keeps every change, in time order
    assert [s for _, s, _ in resolved(db.acd.events(agent))] == [
        st.AVAILABLE,
        st.PAUSED,
        st.LOGGED_OUT,
    ]
    stop(acd, counters)


def test_agents_calls_of_the_day_come_back_from_the_calls_rows(db: DBConnector) -> None:
    import datetime as dt

    ids = seed(db)
    now = dt.datetime.fromtimestamp(T0, dt.UTC)  # 13:10 (UTC days here)

    def answered_call(uid: str, answered: dt.datetime, talk_ms: int | None) -> None:
        call = resolved(db.calls.start(uid, uid, "inbound", answered))
        resolved(db.calls.agent_answered(call, answered, ids["1001"], ids["support"]))
        if talk_ms is not None:
            resolved(db.calls.finish(call, answered, disposition="completed", talk_ms=talk_ms))

    answered_call("1", now - dt.timedelta(hours=2), 60_000)
    answered_call("2", now - dt.timedelta(minutes=5), 30_500)
    answered_call("3", now - dt.timedelta(hours=14), 99_000)  # yesterday, 23:10
    answered_call("4", now - dt.timedelta(minutes=1), None)  # still up: not handled yet
    acd, counters, _ = boot(db)
    stats = acd.agents[ids["1001"]].stats
    assert (stats.handled, stats.talk_s) == (2, 90.5)
    assert acd.agents[ids["1002"]].stats.handled == 0
    snap = {a["number"]: (a["handled"], a["talk_s"]) for a in acd.snapshot()["agents"]}
    assert snap["1001"] == (2, 90.5)
    stop(acd, counters)
