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
    in_pool: list[defer.Deferred[Any]] = []

    def stuck(thd: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        in_pool.append(d)
        return d

    monkeypatch_run = box.db.backlog._run
    box.db.backlog._run = stuck
    for i in range(SLOW_WAITING):
        box.db.calls.add_event(1, "ivr_step", T0, {"i": i})
    assert box.part() == (health.DEGRADED, f"writes slow: {SLOW_WAITING} calls writes waiting")
    while in_pool:
        in_pool.pop().callback(None)  # each write done: the next one goes to the pool
    assert box.db.backlog.waiting == 0
    assert box.part() == (health.OK, "")
    box.db.backlog._run = monkeypatch_run
