"""A database that refuses writes never costs a caller anything: the calls rows' writes
wait in memory, in order, bounded, are written once when the database takes writes again,
and the health part ``db`` says so meanwhile (appliance/db/write_backlog.py)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from acd.service import Agent
from appliance import health
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.write_backlog import FIRST_RETRY_S, MAX_RETRY_S, SLOW_WAITING, database_fault
from drivers.asterisk.agi.codec import AGIEnvironment
from ivr.call_record import CallRecord
from tests.support.full_sqlite import PageLimit
from tests.support.inline_db import migrated_sqlite

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _env(uniqueid: str) -> AGIEnvironment:
    return AGIEnvironment(
        {
            "uniqueid": uniqueid,
            "channel": "DAHDI/1-1",
            "callerid": "13800138000",
            "calleridname": "Zhang",
            "network_script": "inbound",
            "arg_1": "4000",
        }
    )


class Box:
    """An inline connector on a real SQLite file, a driven clock and a health registry."""

    def __init__(self, path: Path) -> None:
        url = migrated_sqlite(path)
        self.cap = PageLimit(path)
        self.clock = MemoryReactorClock()
        self.health = health.HealthRegistry()
        self.db = DBConnector(self.clock, url, inline=True, health_registry=self.health)  # type: ignore[arg-type]
        self.cap.attach(self.db.engine)

    def part(self) -> tuple[str, str]:
        p = {p.name: p for p in self.health.parts()}["db"]
        return p.state, p.detail

    def rows(self, uniqueid: str) -> list[dict[str, object]]:
        def thd(conn: sa.Connection) -> list[dict[str, object]]:
            q = model.calls.select().where(model.calls.c.uniqueid == uniqueid)
            return [dict(r._mapping) for r in conn.execute(q)]

        return resolved(self.db.run(thd))

    def wait_out(self) -> None:
        """Let the clock run through every retry the backlog schedules."""
        for _ in range(40):
            if not self.db.backlog.waiting:
                return
            self.clock.advance(MAX_RETRY_S)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    b = Box(tmp_path / "box.sqlite")
    yield b
    resolved(b.db.stopService())


class _Accepting:
    """A connection that takes any statement (a pool whose transactions a test holds)."""

    def execute(self, *_args: Any) -> None:
        return None


def _started(box: Box) -> None:
    resolved(box.db.startService())
    box.health.report("db", health.OK)  # as the master does once it started


def test_a_full_database_serves_the_call_and_writes_it_all_once_space_returns(
    box: Box,
) -> None:
    """SQLite's real SQLITE_FULL: the call's record opens, its agent answers, its events
    and end are asked for and the session closes without waiting; nothing is written,
    health says why and how much waits; a transfer still finds the call. Once the space
    returns (retried on the clock) everything is written, in order, once."""
    box.cap.fill_calls()
    _started(box)
    agent = resolved(box.db.agents.add("1001", "Li Wei"))  # agents' pages have room
    record = resolved(defer.ensureDeferred(CallRecord.open(box.db, _env("1765.7"))))
    assert box.part() == (
        health.DEGRADED,
        "writes failing: database or disk is full; 1 calls writes waiting",
    )
    resolved(defer.ensureDeferred(record.event("ivr_step", {"node": "menu"})))
    record.agent_answered(
        Agent(agent.id, "1001", "Li Wei", "PJSIP/1001", "active"), T0.timestamp(), None
    )
    # the switch's hangup cause, heard before the row exists, waits behind it
    box.db.calls.set_hangup_cause("1765.7", 16, "DAHDI/1-1")
    closed = defer.ensureDeferred(record.close())
    assert closed.called, "closing the call must not wait for the database"
    assert resolved(box.db.calls.find("1765.7")) == record.call_id  # a blind transfer
    waiting_row = resolved(box.db.calls.get(record.call_id))
    assert waiting_row is not None and waiting_row["called_number"] == "4000"
    assert set(waiting_row) == {c.name for c in model.calls.c} and waiting_row["ended_at"] is None
    assert box.rows("1765.7") == []
    waiting = box.db.backlog.waiting
    assert waiting == 6  # row, ivr_step, answer, cause, hangup, end
    assert box.part()[1].endswith(f"; {waiting} calls writes waiting")

    box.clock.advance(FIRST_RETRY_S)  # still full: tried again, still waiting
    assert box.db.backlog.waiting == waiting and box.part()[0] == health.DEGRADED

    box.cap.space_returns()
    box.wait_out()
    rows = box.rows("1765.7")
    assert len(rows) == 1 and rows[0]["id"] == record.call_id
    row = rows[0]
    assert (row["agent_id"], row["hangup_cause"], row["disposition"]) == (
        agent.id,
        16,
        "completed",
    )
    assert row["ended_at"] is not None
    kinds = [k for k, _ in resolved(box.db.calls.events(record.call_id))]
    assert sorted(kinds) == ["answered", "hangup", "ivr_step"]  # each once
    assert box.part() == (health.OK, "")
    assert resolved(box.db.calls.find("1765.7")) == record.call_id  # now from the table


def test_retries_back_off_on_the_clock_up_to_a_ceiling(box: Box) -> None:
    box.cap.fill_calls()
    _started(box)
    box.db.calls.open_row("1.1", "1.1", "inbound", T0)
    delays = []
    for _ in range(10):
        (call,) = box.clock.getDelayedCalls()
        delays.append(call.getTime() - box.clock.seconds())  # type: ignore[misc]
        box.clock.advance(delays[-1])
    assert delays[:3] == [FIRST_RETRY_S, 2 * FIRST_RETRY_S, 4 * FIRST_RETRY_S]
    assert delays[-1] == MAX_RETRY_S
    assert box.db.backlog.waiting == 1


def test_the_backlog_is_bounded_and_says_what_it_lost(box: Box) -> None:
    box.cap.fill_calls()
    _started(box)
    box.db.backlog.limit = 3
    call_id, _ = box.db.calls.open_row("2.1", "2.1", "inbound", T0)
    for i in range(4):
        box.db.calls.add_event(call_id, "ivr_step", T0, {"i": i})
    assert box.db.backlog.waiting == 3
    assert box.part() == (
        health.DEGRADED,
        "writes failing: database or disk is full; 3 calls writes waiting; "
        "2 lost (the backlog was full)",
    )
    box.cap.space_returns()
    box.wait_out()
    assert [d["i"] for _, d in resolved(box.db.calls.events(call_id))] == [0, 1]
    assert box.part() == (health.OK, "")


def test_a_write_refused_by_a_bug_fails_alone_and_is_not_retried(box: Box) -> None:
    _started(box)
    good, _ = box.db.calls.open_row("3.1", "3.1", "inbound", T0)
    bad = box.db.calls.add_event(good + 1000, "ivr_step", T0, {})  # no such call: FK
    after = box.db.calls.add_event(good, "ivr_step", T0, {})
    with pytest.raises(sa.exc.IntegrityError):
        resolved(bad)
    resolved(after)
    assert box.db.backlog.waiting == 0 and not box.clock.getDelayedCalls()
    assert len(resolved(box.db.calls.events(good))) == 1
    assert box.part() == (health.OK, "")


def test_any_failed_write_degrades_db_and_only_a_committed_write_clears_it(box: Box) -> None:
    """Not only the calls rows: whatever the connector runs. A read that works on a full
    disk proves nothing, a committed write does."""
    _started(box)

    def query_only(on: bool) -> None:
        resolved(box.db.run(lambda conn: conn.exec_driver_sql(f"PRAGMA query_only = {int(on)}")))

    query_only(True)
    with pytest.raises(sa.exc.OperationalError):
        resolved(box.db.skills.add("tech"))
    assert box.part() == (
        health.DEGRADED,
        "writes failing: attempt to write a readonly database",
    )
    assert resolved(box.db.skills.list_all()) == []  # reads work
    assert box.part()[0] == health.DEGRADED
    query_only(False)
    resolved(box.db.skills.add("tech"))
    assert box.part() == (health.OK, "")


def test_a_repeated_uniqueid_gets_two_calls_each_its_own_row(box: Box) -> None:
    """A switch whose clock stepped back repeats uniqueids: both callers are served."""
    _started(box)
    first = resolved(defer.ensureDeferred(CallRecord.open(box.db, _env("1765.1"))))
    second = resolved(defer.ensureDeferred(CallRecord.open(box.db, _env("1765.1"))))
    for record in (first, second):
        resolved(defer.ensureDeferred(record.close()))
    assert second.call_id == first.call_id + 1
    assert [r["id"] for r in box.rows("1765.1")] == [first.call_id, second.call_id]
    assert resolved(box.db.calls.find("1765.1")) == second.call_id


def test_an_insert_committed_whose_answer_was_lost_is_not_written_twice(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row's id is the process's: the insert run again finds its row and stops."""
    _started(box)
    inserts: list[Any] = []
    submit = box.db.backlog.submit

    def spy(what: str, call_id: int, thd: Any, row: Any = None) -> Any:
        inserts.append(thd)
        return submit(what, call_id, thd, row)

    monkeypatch.setattr(box.db.backlog, "submit", spy)
    call_id, written = box.db.calls.open_row("4.1", "4.1", "inbound", T0)
    assert resolved(written) == call_id
    assert resolved(box.db.run(inserts[0])) == call_id  # as a retry would run it
    assert [r["id"] for r in box.rows("4.1")] == [call_id]


def test_ids_follow_the_newest_row_at_start(tmp_path: Path) -> None:
    b = Box(tmp_path / "ids.sqlite")
    _started(b)
    first, _ = b.db.calls.open_row("5.1", "5.1", "inbound", T0)
    resolved(b.db.stopService())
    again = Box(tmp_path / "ids.sqlite")
    _started(again)
    second, _ = again.db.calls.open_row("5.2", "5.2", "inbound", T0)
    resolved(again.db.stopService())
    assert second == first + 1


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full")),
            "database or disk is full",
        ),
        (sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), None),
        (ValueError("bad"), None),
    ],
)
def test_what_counts_as_a_database_fault(exc: BaseException, reason: str | None) -> None:
    assert database_fault(exc) == reason


def test_a_stop_while_writes_are_refused_ends_at_once_and_counts_them(tmp_path: Path) -> None:
    """SIGTERM on a full disk: the daemon stops (no retry loop holds it), every write
    left is logged and counted."""
    b = Box(tmp_path / "stop.sqlite")
    b.cap.fill_calls()
    _started(b)
    call_id, _ = b.db.calls.open_row("6.1", "6.1", "inbound", T0)
    b.db.calls.add_event(call_id, "ivr_step", T0, {})
    lost = b.db.backlog.stop()
    assert resolved(lost) == 2
    assert not b.clock.getDelayedCalls()
    resolved(b.db.stopService())


def test_a_database_too_slow_for_the_calls_is_degraded_until_it_catches_up(box: Box) -> None:
    """No write refused, but SLOW_WAITING of them queued behind one that takes long."""
    _started(box)
    in_pool: list[tuple[Any, defer.Deferred[Any]]] = []

    def stuck(thd: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        in_pool.append((thd, d))
        return d

    monkeypatch_run = box.db.backlog._run
    box.db.backlog._run = stuck
    for i in range(SLOW_WAITING):
        box.db.calls.add_event(1, "ivr_step", T0, {"i": i})
    assert box.part() == (health.DEGRADED, f"writes slow: {SLOW_WAITING} calls writes waiting")
    while in_pool:
        thd, d = in_pool.pop()
        d.callback(thd(_Accepting()))  # each transaction done: the next batch goes to the pool
    assert box.db.backlog.waiting == 0
    assert box.part() == (health.OK, "")
    box.db.backlog._run = monkeypatch_run


class _Held:
    """The connector's run, each transaction held until the test lets it go."""

    def __init__(self, db: DBConnector) -> None:
        self.db = db
        self.waiting: list[tuple[Any, defer.Deferred[Any]]] = []
        self.transactions = 0

    def run(self, thd: Any) -> defer.Deferred[Any]:
        self.transactions += 1
        d: defer.Deferred[Any] = defer.Deferred()
        self.waiting.append((thd, d))
        return d

    def release(self) -> None:
        thd, d = self.waiting.pop(0)
        self.db.run(thd).chainDeferred(d)


def test_writes_asked_for_during_a_transaction_share_the_next_one(box: Box) -> None:
    """A call's burst of writes costs two transactions, not one each: the first goes at
    once, those asked for meanwhile together after it, in order, each told its own result."""
    _started(box)
    held = _Held(box.db)
    box.db.backlog._run = held.run
    call_id, row = box.db.calls.open_row("6.1", "6.1", "inbound", T0)
    events = [box.db.calls.add_event(call_id, "ivr_step", T0, {"i": i}) for i in range(3)]
    cause = box.db.calls.set_hangup_cause("6.1", 16)
    assert held.transactions == 1 and box.db.backlog.waiting == 5
    held.release()
    assert resolved(row) == call_id and held.transactions == 2
    held.release()
    assert resolved(cause) == call_id
    assert [resolved(e) for e in events] == [None, None, None]
    assert held.transactions == 2 and box.db.backlog.waiting == 0
    assert [d["i"] for _, d in resolved(box.db.calls.events(call_id))] == [0, 1, 2]
    assert box.rows("6.1")[0]["hangup_cause"] == 16


def test_a_write_refused_by_a_bug_in_a_shared_transaction_fails_alone(box: Box) -> None:
    """Its transaction rolled back the writes before it too: they are written, once, with
    those after it; only the faulty one fails."""
    _started(box)
    held = _Held(box.db)
    box.db.backlog._run = held.run
    call_id, row = box.db.calls.open_row("7.1", "7.1", "inbound", T0)
    before = box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 0})
    bad = box.db.calls.add_event(call_id + 1000, "ivr_step", T0, {})  # no such call: FK
    after = box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 1})
    held.release()
    resolved(row)
    held.release()  # before, bad, after: refused at bad
    with pytest.raises(sa.exc.IntegrityError):
        resolved(bad)
    assert not before.called and box.db.backlog.waiting == 2
    held.release()  # before and after, again
    resolved(before), resolved(after)
    assert held.transactions == 3 and box.db.backlog.waiting == 0
    assert [d["i"] for _, d in resolved(box.db.calls.events(call_id))] == [0, 1]
    assert box.part() == (health.OK, "")


def test_a_shared_transaction_whose_commit_a_bug_refuses_is_retried_write_by_write(
    box: Box,
) -> None:
    """A refusal at the commit names no write: each runs alone, in order (so that only
    the faulty one would fail)."""
    _started(box)
    held = _Held(box.db)
    box.db.backlog._run = held.run
    call_id, row = box.db.calls.open_row("8.1", "8.1", "inbound", T0)
    first = box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 0})
    second = box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 1})
    held.release()
    resolved(row)
    thd, d = held.waiting.pop(0)  # first and second: run, then the commit refused

    def refused_at_commit(conn: sa.Connection) -> Any:
        thd(conn)
        raise sa.exc.IntegrityError("COMMIT", {}, Exception("deferred constraint"))

    box.db.run(refused_at_commit).chainDeferred(d)
    assert not first.called and not second.called
    assert len(held.waiting) == 1
    held.release()  # first alone
    assert resolved(first) is None and len(held.waiting) == 1
    held.release()  # second alone
    assert resolved(second) is None
    assert [d["i"] for _, d in resolved(box.db.calls.events(call_id))] == [0, 1]


def test_a_write_asked_for_by_a_callers_callback_waits_for_the_batch_to_leave(
    box: Box,
) -> None:
    """A caller told of its write (the row written) asks for the next one at once, as
    calls do: the pump must not take the batch being answered again (it did, and popped
    an empty queue: the campaign and slow-database suites' IndexError)."""
    _started(box)
    held = _Held(box.db)
    box.db.backlog._run = held.run
    call_id, row = box.db.calls.open_row("9.1", "9.1", "inbound", T0)
    first = box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 0})
    chained: list[defer.Deferred[None]] = []
    first.addCallback(
        lambda _: chained.append(box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 2}))
    )
    second = box.db.calls.add_event(call_id, "ivr_step", T0, {"i": 1})
    held.release()  # the row
    resolved(row)
    assert held.transactions == 2  # first and second together
    held.release()
    assert resolved(first) is None and resolved(second) is None and len(chained) == 1
    assert held.transactions == 3 and box.db.backlog.waiting == 1  # the chained one alone
    held.release()
    assert resolved(chained[0]) is None and box.db.backlog.waiting == 0
    assert [d["i"] for _, d in resolved(box.db.calls.events(call_id))] == [0, 1, 2]


def test_a_stop_while_a_retried_batch_is_in_its_transaction_counts_only_the_others(
    box: Box,
) -> None:
    """SIGTERM while a retry after a fault is in the pool: that batch's outcome decides
    for its writes (written here: not lost), the writes behind it are given up."""
    _started(box)
    held = _Held(box.db)
    box.db.backlog._run = held.run
    call_id, row = box.db.calls.open_row("10.1", "10.1", "inbound", T0)
    _thd, d = held.waiting.pop(0)
    d.errback(sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full")))
    assert box.db.backlog.fault is not None
    box.clock.advance(FIRST_RETRY_S)  # the retry: the row alone, in the pool
    assert held.transactions == 2
    later = box.db.calls.add_event(call_id, "ivr_step", T0, {})  # behind it, after the fault
    lost = box.db.backlog.stop()
    assert not lost.called and box.db.backlog.waiting == 1  # the event given up
    held.release()  # the row's retry commits
    assert resolved(lost) == 1 and box.db.backlog.waiting == 0
    assert resolved(row) == call_id
    assert later.called
    assert [r["id"] for r in box.rows("10.1")] == [call_id]
