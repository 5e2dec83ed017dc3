"""The queue_log writer: every event's line, parsed back and held to Asterisk's format.

The real ACD (a Clock drives time, SQLite inline) publishes what happens; the writer
(appliance/reports/queue_log.py) turns it into lines, written by a synchronous runner in
place of its thread. Each line is read back by the parser below, which knows nothing of
the writer: only the format table, derived from Asterisk 22 itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from acd.caller import _key_pressed
from acd.service import ACD, Offer
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.reports import queue_log
from appliance.reports.queue_log import FIELD_MAX, QueueLog
from drivers.asterisk.callmodel import DialEnded
from tests.support.inline_db import inline_db
from tests.unit.test_acd_service import FakeSwitch, offer_of, seed, start

# The queue_log format, derived from Asterisk 22's source: main/logger.c, ast_queue_log()
# writes "<time(NULL)>|<callid>|<queuename>|<agent>|<event>|<data>" and logger_queue_start()
# the QUEUESTART line; apps/app_queue.c's ast_queue_log() calls give each event's data:
# queue_exec (ENTERQUEUE, EXITWITHTIMEOUT, EXITEMPTY, ABANDON, EXITWITHKEY), rna
# (RINGNOANSWER), try_calling (CONNECT), handle_hangup (COMPLETECALLER / COMPLETEAGENT),
# handle_blind_transfer (BLINDTRANSFER), log_attended_transfer (ATTENDEDTRANSFER, its
# BRIDGE|<id> form), add_to_queue's callers (ADDMEMBER), remove_from_queue's (REMOVEMEMBER),
# set_queue_member_pause (PAUSE / UNPAUSE), set_member_paused (PAUSEALL / UNPAUSEALL).
# Field meanings checked against https://docs.asterisk.org/Operation/Logging/Queue-Logs/.
#
# event -> (the line's kind, its data fields). Kinds: "caller" (callid: the caller's
# Uniqueid, a queue, agent NONE), "answered" (the same with the member as agent), "member"
# (callid NONE, a queue, the member), "every queue" (callid and queue NONE, the member),
# "system" (NONE everywhere). "" is a field app_queue writes empty ("%s" of "").
# ENTERQUEUE has a fourth field (the caller's name) only with queues.conf's
# log_caller_id_name, off by default: ccbox writes the default three.
FORMAT: dict[str, tuple[str, tuple[str, ...]]] = {
    "ENTERQUEUE": ("caller", ("url", "callerid", "position")),
    "RINGNOANSWER": ("answered", ("ringtime_ms",)),
    "CONNECT": ("answered", ("holdtime", "bridged_uniqueid", "ringtime")),
    "COMPLETECALLER": ("answered", ("holdtime", "calltime", "origposition")),
    "COMPLETEAGENT": ("answered", ("holdtime", "calltime", "origposition")),
    "BLINDTRANSFER": ("answered", ("exten", "context", "holdtime", "calltime", "origposition")),
    "ATTENDEDTRANSFER": (
        "answered",
        ("method", "target", "holdtime", "calltime", "origposition"),
    ),
    "ABANDON": ("caller", ("position", "origposition", "waittime")),
    "EXITWITHTIMEOUT": ("caller", ("position", "origposition", "waittime")),
    "EXITEMPTY": ("caller", ("position", "origposition", "waittime")),
    "EXITWITHKEY": ("caller", ("key", "position", "origposition", "waittime")),
    "ADDMEMBER": ("member", ("paused",)),
    "REMOVEMEMBER": ("member", ("",)),
    "PAUSE": ("member", ("reason",)),
    "UNPAUSE": ("member", ("reason",)),
    "PAUSEALL": ("every queue", ("reason",)),
    "UNPAUSEALL": ("every queue", ("reason",)),
    "QUEUESTART": ("system", ("",)),
}
NUMBERS = {
    "position",
    "origposition",
    "waittime",
    "holdtime",
    "calltime",
    "ringtime",
    "ringtime_ms",
}
AGENT = re.compile(r"Agent/[0-9]+\Z")
UNIQUEID = re.compile(r"[0-9]+\.[0-9]+\Z")


@dataclass(frozen=True)
class Line:
    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: dict[str, str]


def parse(text: str) -> Line:
    """One line, checked against FORMAT (AssertionError says what is wrong)."""
    assert "\r" not in text and "\n" not in text, text
    fields = text.split("|")
    assert len(fields) >= 6, text
    time, callid, queue, agent, event, *data = fields
    assert event in FORMAT, f"unknown event: {text}"
    kind, names = FORMAT[event]
    assert len(data) == len(names), f"{event} has {len(data)} data fields, not {names}: {text}"
    assert time.isdigit(), text
    if kind in ("caller", "answered"):
        assert UNIQUEID.match(callid) and queue not in ("", "NONE"), text
    else:
        assert callid == "NONE", text
    if kind in ("member", "answered"):
        assert queue not in ("", "NONE") and AGENT.match(agent), text
    if kind == "caller":
        assert agent == "NONE", text
    if kind == "every queue":
        assert queue == "NONE" and AGENT.match(agent), text
    if kind == "system":
        assert (queue, agent) == ("NONE", "NONE"), text
    values = dict(zip(names, data, strict=True))
    for name, value in values.items():
        if name in NUMBERS:
            assert value.isdigit(), f"{name}={value!r}: {text}"
        if name == "":
            assert value == "", text
    return Line(int(time), callid, queue, agent, event, values)


def read(path: Path) -> list[Line]:
    return [parse(t) for t in path.read_text(encoding="utf-8").split("\n")[:-1]]


def brief(lines: list[Line]) -> list[tuple[str, ...]]:
    """(event, queue, agent, data...) of each line, times relative to the first."""
    t0 = lines[0].time
    return [(str(x.time - t0), x.event, x.queue, x.agent, *x.data.values()) for x in lines]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


def writer(acd: ACD, clock: Clock, path: Path) -> QueueLog:
    qlog = QueueLog(clock, acd, acd.bus, path, run=lambda f: defer.maybeDeferred(f))
    qlog.startService()
    return qlog


def dial_answered(acd: ACD, call: Any, device: str, leg: str) -> None:
    """AMI's DialEnd ANSWER for ``call`` (the agent's phone picked up), as the model sends it."""
    at = acd.reactor.seconds()
    acd.on_dial_end(
        DialEnded(call.uniqueid, call.uniqueid, leg, f"{device}-0000002a", "ANSWER", at)
    )


def test_a_call_answered_then_each_way_it_ends(db: DBConnector, tmp_path: Path) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    path = tmp_path / "queue_log"
    qlog = writer(acd, clock, path)
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "1795353000.11")
    clock.advance(4.5)  # it rings 1001 from the join
    dial_answered(acd, call, "PJSIP/1001", "1795353000.12")
    clock.advance(61)
    call.ended_by = "agent"
    acd.call_ended(call)
    clock.advance(1)  # the writer flushes every second
    lines = read(path)
    assert brief(lines) == [
        ("0", "QUEUESTART", "NONE", "NONE", ""),
        ("0", "ADDMEMBER", "support", "Agent/1001", ""),
        ("0", "ENTERQUEUE", "support", "NONE", "", "13800000001", "1"),
        ("4", "CONNECT", "support", "Agent/1001", "4", "1795353000.12", "4"),
        ("65", "COMPLETEAGENT", "support", "Agent/1001", "4", "61", "1"),
    ]
    assert {x.callid for x in lines[2:]} == {"1795353000.11"}
    # hold time and talk time agree with the lines' own times
    connect, complete = lines[3], lines[4]
    assert connect.time - lines[2].time == int(connect.data["holdtime"])
    assert complete.time - connect.time == int(complete.data["calltime"])

    acd.wrapup_done(ids["1001"])
    second = acd.join(ids["support"], "13800000002", "1795353070.20")
    clock.advance(2)
    dial_answered(acd, second, "PJSIP/1001", "1795353070.21")
    clock.advance(10)
    second.ended_by = "caller"
    acd.call_ended(second)
    clock.advance(1)
    assert [x.event for x in read(path)[5:]] == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"]
    resolved(qlog.stopService())


def test_missed_rings_abandon_timeout_empty_and_key(db: DBConnector, tmp_path: Path) -> None:
    ids = seed(db, max_wait_s=30, join_empty=False)
    acd, clock, _ = start(db)
    path = tmp_path / "queue_log"
    writer(acd, clock, path)
    acd.login(ids["1001"])
    rung = acd.join(ids["support"], "13800000001", "1795353000.1")
    clock.advance(15)
    acd.no_answer(rung)  # rang 15 s: offered again at once (the only agent)
    clock.advance(3)
    acd.abandoned(rung)
    acd.pause(ids["1001"], "lunch")
    waiting = acd.join(ids["support"], "13800000002", "1795353018.2")
    clock.advance(30)  # max_wait_s
    acd.gave_up(waiting)  # its session follows the overflow: no second line
    clock.advance(1)
    acd.join(ids["support"], "13800000003", "1795353049.3")  # first in line
    behind = acd.join(ids["support"], "13800000004", "1795353049.4")
    clock.advance(7)
    q = acd.queues[ids["support"]]
    outcome = resolved(defer.ensureDeferred(_key_pressed(acd, None, behind, q.voicemail_key)))
    assert outcome == "voicemail"
    clock.advance(2)
    acd.logout(ids["1001"])  # the last agent: callers may not wait unstaffed
    clock.advance(1)
    assert brief(read(path)) == [
        ("0", "QUEUESTART", "NONE", "NONE", ""),
        ("0", "ADDMEMBER", "support", "Agent/1001", ""),
        ("0", "ENTERQUEUE", "support", "NONE", "", "13800000001", "1"),
        ("15", "RINGNOANSWER", "support", "Agent/1001", "15000"),
        ("18", "ABANDON", "support", "NONE", "1", "1", "18"),
        ("18", "PAUSEALL", "NONE", "Agent/1001", "lunch"),
        ("18", "PAUSE", "support", "Agent/1001", "lunch"),
        ("18", "ENTERQUEUE", "support", "NONE", "", "13800000002", "1"),
        ("48", "EXITWITHTIMEOUT", "support", "NONE", "1", "1", "30"),
        ("49", "ENTERQUEUE", "support", "NONE", "", "13800000003", "1"),
        ("49", "ENTERQUEUE", "support", "NONE", "", "13800000004", "2"),
        ("56", "EXITWITHKEY", "support", "NONE", q.voicemail_key, "2", "2", "7"),
        ("58", "REMOVEMEMBER", "support", "Agent/1001", ""),
        ("58", "EXITEMPTY", "support", "NONE", "1", "1", "9"),
    ]


def test_unpause_and_transfers(db: DBConnector, tmp_path: Path) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    switch = FakeSwitch()
    acd.switch = switch
    path = tmp_path / "queue_log"
    writer(acd, clock, path)
    acd.login(ids["1001"])
    acd.pause(ids["1001"], "break")
    clock.advance(5)
    acd.unpause(ids["1001"])
    blind = acd.join(ids["support"], "13800000001", "1795353005.1", channel="DAHDI/1-1")
    clock.advance(3)
    acd.answered(blind, "PJSIP/1001")  # without AMI: no agent leg known
    clock.advance(20)
    said = resolved(defer.ensureDeferred(acd.transfer(ids["1001"], "queue", "backup")))
    assert said == "transferred to queue backup"
    acd.call_ended(blind)  # the redirect ends the caller's Dial
    acd.wrapup_done(ids["1001"])
    acd.login(ids["1002"])
    acd.pause(ids["1002"], "meeting")  # 1001 takes the next call
    consult = acd.join(ids["support"], "13800000002", "1795353028.2", channel="DAHDI/1-2")
    offer = offer_of(consult)
    assert isinstance(offer, Offer) and offer.agents[0].number == "1001"
    clock.advance(2)
    acd.answered(consult, "PJSIP/1001")
    clock.advance(30)
    acd.unpause(ids["1002"])
    resolved(defer.ensureDeferred(acd.transfer(ids["1001"], "agent", "1002", attended=True)))
    clock.advance(8)
    switch.done.callback(True)  # AttendedTransfer Success
    clock.advance(1)
    lines = read(path)
    assert brief(lines)[1:5] == [
        ("0", "ADDMEMBER", "support", "Agent/1001", ""),
        ("0", "PAUSEALL", "NONE", "Agent/1001", "break"),
        ("0", "PAUSE", "support", "Agent/1001", "break"),
        ("5", "UNPAUSEALL", "NONE", "Agent/1001", ""),
    ]
    calls = [x for x in brief(lines) if x[1] not in FORMAT or FORMAT[x[1]][0] != "member"]
    assert (
        "28",
        "BLINDTRANSFER",
        "support",
        "Agent/1001",
        "2",
        "ccbox-transfer-queue",
        "3",
        "20",
        "1",
    ) in calls
    assert (
        "68",
        "ATTENDEDTRANSFER",
        "support",
        "Agent/1001",
        "BRIDGE",
        "1002@ccbox-agents",
        "2",
        "38",
        "1",
    ) in calls
    assert [x[1] for x in calls if x[1].endswith("TRANSFER") or x[1].startswith("COMPLETE")] == [
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
    ]


HOSTILE = "1|2\n1795353000|NONE|NONE|NONE|QUEUESTART|\r\x00\x1b[2J\u2028\u0085" + "9" * 300


def test_a_hostile_caller_id_cannot_add_a_field_or_a_line(db: DBConnector, tmp_path: Path) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    path = tmp_path / "queue_log"
    writer(acd, clock, path)
    call = acd.join(ids["support"], HOSTILE, "1795353000.1")
    acd.abandoned(call)
    clock.advance(1)
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 3 and "\r" not in text and "\x00" not in text
    lines = read(path)  # each parses with exactly its fields
    assert [x.event for x in lines] == ["QUEUESTART", "ENTERQUEUE", "ABANDON"]
    callerid = lines[1].data["callerid"]
    assert len(callerid) == FIELD_MAX and callerid.startswith("1_2_1795353000_NONE_")
    assert not set("\u2028\u0085\x1b") & set(callerid)


def test_lines_wait_for_the_flush_survive_a_bad_disk_and_follow_a_rotation(
    db: DBConnector, tmp_path: Path
) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    path = tmp_path / "logs" / "queue_log"  # the folder does not exist yet
    qlog = writer(acd, clock, path)
    acd.login(ids["1001"])
    assert not path.exists()  # nothing written on the reactor's turn
    clock.advance(1)
    assert len(qlog.pending) == 2  # the write failed: the lines wait for the next second
    path.parent.mkdir()
    clock.advance(1)
    assert [x.event for x in read(path)] == ["QUEUESTART", "ADDMEMBER"]
    path.rename(tmp_path / "logs" / "queue_log.1")  # logrotate, without copytruncate
    acd.pause(ids["1001"], "break")
    clock.advance(1)
    assert [x.event for x in read(path)] == ["PAUSEALL", "PAUSE"]
    acd.logout(ids["1001"])
    resolved(qlog.stopService())  # the last lines are written at the stop
    assert [x.event for x in read(path)][-1] == "REMOVEMEMBER"
    assert len(read(tmp_path / "logs" / "queue_log.1")) == 2


def test_a_supervisor_move_leaves_one_queue_and_enters_the_other(
    db: DBConnector, tmp_path: Path
) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    path = tmp_path / "queue_log"
    writer(acd, clock, path)
    call = acd.join(ids["support"], "13800000001", "1795353000.1")
    clock.advance(12)
    acd.move_waiting(call, ids["backup"])
    clock.advance(1)
    assert brief(read(path))[1:] == [
        ("0", "ENTERQUEUE", "support", "NONE", "", "13800000001", "1"),
        ("12", "EXITWITHTIMEOUT", "support", "NONE", "1", "1", "12"),
        ("12", "ENTERQUEUE", "backup", "NONE", "", "13800000001", "1"),
    ]


def test_a_stay_whose_end_never_comes_is_forgotten_after_a_day(
    db: DBConnector, tmp_path: Path
) -> None:
    ids = seed(db, max_wait_s=0)
    acd, clock, _ = start(db)
    qlog = writer(acd, clock, tmp_path / "queue_log")
    acd.login(ids["1001"])
    call = acd.join(ids["support"], "13800000001", "1795353000.1")
    acd.answered(call, "PJSIP/1001")
    acd.release_agent(ids["1001"])  # no switch: the ACD frees the agent, the call's end untold
    clock.advance(3600)
    assert list(qlog.entries) == [call.id]
    clock.advance(86_400 - 3600)
    assert list(qlog.entries) == [call.id]  # a day to the second: not yet
    clock.advance(1)
    assert qlog.entries == {}


def test_a_file_that_cannot_be_written_logs_one_error_a_minute(
    db: DBConnector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A minute of a failing write every second and of lines dropped past the cap (one per
    queue event): two error lines, not hundreds (the disk is likely full already)."""
    ids = seed(db)
    acd, clock, _ = start(db)
    monkeypatch.setattr(queue_log, "MAX_PENDING", 3)
    errors: list[str] = []

    def observer(event: dict[str, Any]) -> None:
        mine = event.get("log_namespace") == queue_log.log.namespace
        if mine and event.get("log_level") == LogLevel.error:
            errors.append(formatEvent(event))

    globalLogPublisher.addObserver(observer)
    try:
        qlog = writer(acd, clock, tmp_path / "missing" / "queue_log")
        for _ in range(61):  # failures at 1 s and 61 s are logged, none between
            acd.login(ids["1001"])
            acd.logout(ids["1001"])
            clock.advance(1)
    finally:
        globalLogPublisher.removeObserver(observer)
    assert len(errors) == 2, errors
    assert "No such file or directory" in errors[0] and "lines dropped" not in errors[0]
    assert len(qlog.pending) == 3 and qlog.dropped > 100
