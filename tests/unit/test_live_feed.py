"""The live feed: ACD events become contract messages, coalesced per key, filtered per
viewer, resumable from the ring buffer.

A Clock drives time and the feed's flush timer; the ACD is the real one on an inline
SQLite database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.task import Clock

from acd.service import ACD
from appliance import health
from appliance.cli import resolved
from appliance.crm.tickets.store import TicketStore
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from recorder.disk_guard import RecordingAlarm
from tests.support.inline_db import inline_db
from webui.live_feed import FLUSH_S, LiveFeed, Message, NoticePosted, NoticeWithdrawn, Viewer

SUPERVISOR = Viewer("supervisor", None)
QA = Viewer("qa", None)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "live.sqlite") as connector:
        yield connector


class Rig:
    def __init__(self, db: DBConnector, ring_size: int = 4096) -> None:
        tech = resolved(db.skills.add("tech")).id
        self.ids: dict[str, int] = {}
        for number in ("1001", "1002"):
            agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
            resolved(db.agents.set_skill(agent.id, tech, 5))
            self.ids[number] = agent.id
        self.ids["support"] = resolved(db.queues.add("support", skills={tech: 3})).id
        self.ids["other"] = resolved(db.queues.add("other")).id  # members only: nobody
        self.clock = Clock()
        self.clock.advance(1_795_353_000)
        self.bus = EventBus()
        self.acd = ACD(self.clock, db, self.bus)
        resolved(self.acd.startService())
        self.health = health.HealthRegistry()
        self.feed = LiveFeed(self.clock, self.bus, self.acd, self.health, ring_size=ring_size)
        self.flushes: list[list[Message]] = []
        self.feed.listeners.append(self.flushes.append)
        self.feed.start()

    def tick(self) -> list[Message]:
        """Let the flush timer run; the messages of the flushes that ran."""
        before = len(self.flushes)
        self.clock.advance(FLUSH_S)
        return [m for batch in self.flushes[before:] for m in batch]

    def agent(self, number: str) -> Viewer:
        return Viewer("agent", self.ids[number])


def data(m: Message) -> dict[str, Any]:
    lines = m.frame.decode().split("\n")
    (body,) = [ln[len("data: ") :] for ln in lines if ln.startswith("data: ")]
    return json.loads(body)  # type: ignore[no-any-return]


def frame_data(frame: bytes) -> tuple[str, dict[str, Any]]:
    lines = frame.decode().split("\n")
    (event,) = [ln[len("event: ") :] for ln in lines if ln.startswith("event: ")]
    (body,) = [ln[len("data: ") :] for ln in lines if ln.startswith("data: ")]
    return event, json.loads(body)


def kinds(messages: list[Message]) -> list[str]:
    return [m.kind for m in messages]


def seen_by(viewer: Viewer, messages: list[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [frame_data(f) for f in (viewer.frame(m) for m in messages) if f is not None]


def test_a_call_is_queued_offered_answered_and_ends(db: DBConnector) -> None:
    rig = Rig(db)
    rig.acd.login(rig.ids["1001"])
    rig.tick()
    call = rig.acd.join(rig.ids["support"], "13800138000", "u1")
    call.record_id, call.caller_name = 77, "Zhang San"  # as ivr/queue_step.py sets them
    out = rig.tick()
    calls = [data(m) for m in out if m.kind == "call"]
    assert calls == [
        {
            "id": 77,
            "uniqueid": "u1",
            "queue_id": rig.ids["support"],
            "caller_number": "13800138000",
            "caller_name": "Zhang San",
            "state": "ringing",
            "since": call.joined_at,
            "agent_id": rig.ids["1001"],
            "priority": 0,
        }
    ]
    (offer,) = [data(m) for m in out if m.kind == "offer"]
    assert offer == {
        "call_id": 77,
        "agent_id": rig.ids["1001"],
        "state": "ringing",
        "caller_number": "13800138000",
        "caller_name": "Zhang San",
        "queue_id": rig.ids["support"],
    }
    (agent,) = [data(m) for m in out if m.kind == "agent"]
    assert (agent["state"], agent["call_id"], agent["caller_name"]) == ("ringing", 77, "Zhang San")
    queue = next(data(m) for m in out if m.kind == "queue" and data(m)["name"] == "support")
    assert queue["offered"] == 1
    assert queue["agents"]["ringing"] == 1 and queue["agents"]["available"] == 0

    rig.clock.advance(2)
    rig.acd.answered(call, "PJSIP/1001")
    out = rig.tick()
    assert [data(m)["state"] for m in out if m.kind == "offer"] == ["answered"]
    assert [data(m)["state"] for m in out if m.kind == "call"] == ["talking"]
    queue = next(data(m) for m in out if m.kind == "queue" and data(m)["name"] == "support")
    assert (queue["answered"], queue["service_level"]) == (1, 1.0)

    rig.clock.advance(59.75)  # a minute's talk, with the tick above
    rig.acd.call_ended(call)
    out = rig.tick()
    assert [data(m)["state"] for m in out if m.kind == "call"] == ["ended"]
    (agent,) = [data(m) for m in out if m.kind == "agent"]
    assert agent["state"] == "wrap_up"
    # the day's figures and the queues it serves (the wallboard's tiles, the console)
    assert (agent["handled"], agent["talk_s"]) == (1, 60.0)
    assert agent["queues"] == [rig.ids["support"]]  # "other" is members only
    rig.acd.wrapup_done(rig.ids["1001"])
    out = rig.tick()
    assert "call" not in kinds(out)  # an ended call is sent once, then forgotten
    assert [data(m)["call_id"] for m in out if m.kind == "agent"] == [None]
    # Midnight: the day's figures start again, though no agent changed state.
    rig.acd.new_day()
    out = rig.tick()
    figures = {a["id"]: (a["handled"], a["talk_s"]) for a in map(data, out) if "handled" in a}
    assert figures.get(rig.ids["1001"]) == (0, 0.0)


def test_a_call_that_leaves_without_a_stats_change_is_ended(db: DBConnector) -> None:
    rig = Rig(db)
    call = rig.acd.join(rig.ids["support"], "13800138000", "u1")
    assert [data(m)["state"] for m in rig.tick() if m.kind == "call"] == ["waiting"]
    rig.acd.gave_up(call)  # voicemail, overflow...: no queue stats published
    assert [data(m)["state"] for m in rig.tick() if m.kind == "call"] == ["ended"]


def test_ten_thousand_events_make_one_message_per_key_per_flush(db: DBConnector) -> None:
    rig = Rig(db)
    aid = rig.ids["1001"]
    rig.acd.login(aid)
    rig.tick()
    for _ in range(5_000):
        rig.acd.pause(aid, "break")
        rig.acd.unpause(aid)
    rig.acd.pause(aid, "lunch")
    flushes_before = rig.feed.flushes
    out = rig.tick()
    assert rig.feed.flushes == flushes_before + 1
    agent_msgs = [data(m) for m in out if m.kind == "agent"]
    assert len(agent_msgs) == 1
    assert (agent_msgs[0]["state"], agent_msgs[0]["reason"]) == ("paused", "lunch")  # the latest
    assert len(out) == len({m.key for m in out})
    assert len(out) <= 4  # the agent and the queues it serves
    assert rig.tick() == []  # nothing changed since: nothing sent


def test_flushes_are_at_least_the_flush_interval_apart(db: DBConnector) -> None:
    rig = Rig(db)
    aid = rig.ids["1001"]
    rig.acd.login(aid)
    times = []
    rig.feed.listeners.append(lambda _m: times.append(rig.clock.seconds()))
    for _ in range(40):  # an event every 50 ms for two seconds
        rig.acd.pause(aid, "break")
        rig.acd.unpause(aid)
        rig.clock.advance(0.05)
    rig.clock.advance(1)
    assert 6 <= len(times) <= 10
    assert all(b - a >= FLUSH_S - 1e-6 for a, b in itertools.pairwise(times))


def test_an_agent_sees_only_its_own(db: DBConnector) -> None:
    rig = Rig(db)
    a1, a2 = rig.ids["1001"], rig.ids["1002"]
    rig.acd.login(a1)
    rig.clock.advance(1)
    rig.acd.login(a2)
    call = rig.acd.join(rig.ids["support"], "13911112222", "u1")  # offered to 1001
    out = rig.tick()
    mine = seen_by(rig.agent("1001"), out)
    theirs = seen_by(rig.agent("1002"), out)
    assert {(k, d.get("id", d.get("agent_id"))) for k, d in mine if k in ("agent", "offer")} == {
        ("agent", a1),
        ("offer", a1),
    }
    assert [d["caller_number"] for k, d in mine if k == "call"] == ["13911112222"]
    assert [k for k, _ in theirs if k not in ("queue",)] == ["agent"]
    assert all(d["id"] == a2 for k, d in theirs if k == "agent")
    assert "13911112222" not in json.dumps(theirs)
    # The snapshot too.
    snap = frame_data(rig.feed.snapshot(rig.agent("1002")))[1]
    assert [a["id"] for a in snap["agents"]] == [a2]
    assert snap["calls"] == [] and "13911112222" not in json.dumps(snap)
    snap = frame_data(rig.feed.snapshot(rig.agent("1001")))[1]
    assert [c["caller_number"] for c in snap["calls"]] == ["13911112222"]
    # Staff see everything but offers; a supervisor's stream carries no offer.
    assert {k for k, _ in seen_by(SUPERVISOR, out)} == {"agent", "queue", "call"}
    assert {k for k, _ in seen_by(QA, out)} == {"agent", "queue", "call"}
    # The call went to 1001 only: when it ends, 1002 never hears of it.
    rig.acd.answered(call, "PJSIP/1001")
    rig.acd.call_ended(call)
    out = rig.tick()
    assert [d["state"] for k, d in seen_by(rig.agent("1001"), out) if k == "call"] == ["ended"]
    assert [k for k, _ in seen_by(rig.agent("1002"), out) if k == "call"] == []


def test_the_wallboard_gets_queues_and_agents_without_callers(db: DBConnector) -> None:
    rig = Rig(db)
    rig.acd.login(rig.ids["1001"])
    call = rig.acd.join(rig.ids["support"], "13911112222", "u1")
    call.caller_name = "Li Si"
    out = rig.tick()
    wall = Viewer("supervisor", None, wallboard=True)
    got = seen_by(wall, out)
    assert {k for k, _ in got} == {"agent", "queue"}
    assert "13911112222" not in json.dumps(got) and "Li Si" not in json.dumps(got)
    assert [d["state"] for k, d in got if k == "agent"] == ["ringing"]
    snap = frame_data(rig.feed.snapshot(wall))[1]
    assert snap["calls"] == [] and "13911112222" not in json.dumps(snap)
    assert {q["name"] for q in snap["queues"]} == {"support", "other"}


def test_a_hostile_caller_name_stays_one_json_line(db: DBConnector) -> None:
    rig = Rig(db)
    call = rig.acd.join(rig.ids["support"], "1\n\ndata: x", "u1")
    call.caller_name = "<img src=x onerror=alert(1)>\n\nevent: offer\ndata: {}" + "x" * 500
    (m,) = [m for m in rig.tick() if m.kind == "call"]
    assert m.frame.count(b"\n") == 4 and m.frame.endswith(b"\n\n")
    d = data(m)
    assert d["caller_name"].startswith("<img src=x onerror=alert(1)>\n\nevent: offer")
    assert len(d["caller_name"]) == 128


def test_resume_replays_the_latest_of_each_key_or_asks_for_a_snapshot(db: DBConnector) -> None:
    rig = Rig(db, ring_size=8)
    aid = rig.ids["1001"]
    rig.acd.login(aid)
    rig.tick()
    seen = rig.feed.last_id
    assert rig.feed.replay(SUPERVISOR, seen) == []  # nothing missed
    rig.acd.pause(aid, "break")
    rig.tick()
    rig.acd.unpause(aid)
    rig.tick()
    frames = rig.feed.replay(SUPERVISOR, seen)
    assert frames is not None
    agent_frames = [frame_data(f)[1] for f in frames if frame_data(f)[0] == "agent"]
    assert [a["state"] for a in agent_frames] == ["available"]  # the latest only
    assert frames[-1] == rig.feed.ring[-1].frame  # in order: the newest last
    # Another agent's view of the same gap holds nothing of agent 1001.
    assert all(frame_data(f)[0] == "queue" for f in rig.feed.replay(rig.agent("1002"), seen) or [])
    # Too old (the ring of 8 moved on), from another process, or nonsense: a snapshot.
    for _ in range(10):
        rig.acd.pause(aid, "break")
        rig.tick()
        rig.acd.unpause(aid)
        rig.tick()
    assert rig.feed.replay(SUPERVISOR, seen) is None
    assert rig.feed.replay(SUPERVISOR, "deadbeef-1") is None
    assert rig.feed.replay(SUPERVISOR, f"{rig.feed.epoch}-999999") is None
    assert rig.feed.replay(SUPERVISOR, f"{rig.feed.epoch}-x") is None
    # The snapshot carries the id to resume from and the server's clock.
    frame = rig.feed.snapshot(SUPERVISOR)
    assert frame.startswith(f"id: {rig.feed.last_id}\nevent: snapshot\n".encode())
    assert frame_data(frame)[1]["server_time"] == rig.clock.seconds()


def test_notices_reach_the_agents_they_are_meant_for(db: DBConnector) -> None:
    rig = Rig(db)
    now = rig.clock.seconds()
    expires = dt.datetime.fromtimestamp(now + 600, dt.UTC)
    notice = {
        "id": 5,
        "text": "Storm: expect volume",
        "level": "warning",
        "author": "sup",
        "created_at": now,
        "expires_at": expires,
        "queue_id": rig.ids["other"],  # nobody serves it
    }
    rig.bus.publish(NoticePosted(notice))
    rig.bus.publish(NoticePosted({**notice, "id": 6, "queue_id": None, "level": "info"}))
    out = rig.tick()
    assert [d["id"] for k, d in seen_by(SUPERVISOR, out) if k == "notice"] == [5, 6]
    assert [d["id"] for k, d in seen_by(rig.agent("1001"), out) if k == "notice"] == [6]
    assert frame_data(rig.feed.snapshot(rig.agent("1001")))[1]["notices"][0]["id"] == 6
    assert seen_by(SUPERVISOR, out)[0][1]["expires_at"] == now + 600  # epoch seconds
    rig.bus.publish(NoticeWithdrawn(6))
    (withdrawn,) = [d for k, d in seen_by(rig.agent("1001"), rig.tick()) if k == "notice"]
    assert withdrawn["expires_at"] <= rig.clock.seconds()
    assert frame_data(rig.feed.snapshot(SUPERVISOR))[1]["notices"][0]["id"] == 5


def test_alarms_follow_the_health_registry_and_only_staff_see_them(db: DBConnector) -> None:
    rig = Rig(db)
    rig.health.report("recorder", health.DEGRADED, "disk almost full")
    rig.bus.publish(RecordingAlarm(True, "disk almost full"))
    out = rig.tick()
    alarms = [d for k, d in seen_by(SUPERVISOR, out) if k == "alarm"]
    assert [(a["part"], a["state"], a["detail"]) for a in alarms] == [
        ("recorder", "degraded", "disk almost full")
    ]
    assert seen_by(rig.agent("1001"), out) == []
    snap = frame_data(rig.feed.snapshot(SUPERVISOR))[1]
    assert [a["part"] for a in snap["alarms"]] == ["recorder"]
    assert frame_data(rig.feed.snapshot(rig.agent("1001")))[1]["alarms"] == []
    rig.health.report("recorder", health.OK)  # no bus event: the registry is polled
    rig.clock.advance(2.5)
    out = [m for batch in rig.flushes for m in batch if m.kind == "alarm"]
    assert [data(m)["state"] for m in out] == ["degraded", "ok"]


def test_stop_unsubscribes_and_cancels_timers(db: DBConnector) -> None:
    rig = Rig(db)
    rig.acd.login(rig.ids["1001"])  # a flush is due
    rig.feed.stop()
    assert rig.clock.getDelayedCalls() == []
    rig.acd.pause(rig.ids["1001"], "break")
    rig.clock.advance(5)
    assert rig.flushes == []


def test_notices_loaded_at_start_are_in_the_snapshot_only(db: DBConnector) -> None:
    rig = Rig(db)
    now = rig.clock.seconds()
    rig.feed.load_notices(
        [
            {
                "id": 9,
                "text": "hi",
                "level": "info",
                "author": "sup",
                "created_at": now,
                "expires_at": dt.datetime.fromtimestamp(now + 60, dt.UTC),
                "queue_id": None,
            },
        ]
    )
    assert rig.tick() == []
    (notice,) = frame_data(rig.feed.snapshot(rig.agent("1001")))[1]["notices"]
    assert (notice["id"], notice["expires_at"]) == (9, now + 60)
    rig.clock.advance(61)
    assert frame_data(rig.feed.snapshot(SUPERVISOR))[1]["notices"] == []  # expired


def test_the_feeds_serving_rule_is_the_acds(db: DBConnector) -> None:
    rig = Rig(db)
    acd = rig.acd
    other = acd.queues[rig.ids["other"]]
    acd.queues[other.id] = dataclasses.replace(other, members=((rig.ids["1002"], 0),))
    rig.feed.flush()  # a flush forgets the member sets it kept
    assert rig.feed._serves(acd.agents[rig.ids["1002"]], acd.queues[other.id])
    for q in acd.queues.values():
        for a in acd.agents.values():
            assert rig.feed._serves(a, q) == acd.serves(a, q), (a.number, q.name)
    assert any(acd.serves(a, q) for q in acd.queues.values() for a in acd.agents.values())


def test_an_agents_notice_reaches_that_agent_only_in_the_store_and_the_feed(
    db: DBConnector,
) -> None:
    """A ticket's escalation addresses its assignee (``agent_id``) or the supervisors only:
    the store lists each to whom it is for, the feed sends and snapshots it the same way."""
    from appliance.db import notice_store

    rig = Rig(db)
    at = dt.datetime.fromtimestamp(rig.clock.seconds(), dt.UTC)
    one, two = rig.ids["1001"], rig.ids["1002"]

    def post(conn: Any) -> list[notice_store.NoticeRow]:
        add = notice_store.add
        return [
            add(conn, "Ticket overdue", "urgent", "escalation", 60, None, at, agent_id=one),
            add(conn, "Unassigned overdue", "urgent", "escalation", 60, None, at, supervisors=True),
            add(conn, "For all", "info", "sup", 60, None, at),
        ]

    mine, staff, everyone = resolved(db.run(post))
    with pytest.raises(ValueError, match="no agent 999"):
        resolved(db.run(lambda c: notice_store.add(c, "x", "info", "s", 1, None, at, agent_id=999)))

    def ids(rows: list[notice_store.NoticeRow]) -> list[int]:
        return sorted(r.id for r in rows)

    assert ids(resolved(db.notices.current([], now=at, agent_id=one))) == [mine.id, everyone.id]
    assert ids(resolved(db.notices.current([], now=at, agent_id=two))) == [everyone.id]
    assert ids(resolved(db.notices.current(now=at))) == [mine.id, staff.id, everyone.id]

    for row in (mine, staff, everyone):
        rig.bus.publish(NoticePosted(row.as_message()))
    out = rig.tick()
    for viewer, expected in (
        (rig.agent("1001"), [mine.id, everyone.id]),
        (rig.agent("1002"), [everyone.id]),
        (SUPERVISOR, [mine.id, staff.id, everyone.id]),
    ):
        assert sorted(d["id"] for k, d in seen_by(viewer, out) if k == "notice") == expected
        notices = frame_data(rig.feed.snapshot(viewer))[1]["notices"]
        assert sorted(n["id"] for n in notices) == expected
    assert [d["agent_id"] for k, d in seen_by(rig.agent("1001"), out) if k == "notice"] == [
        one,
        None,
    ]


def test_ticket_writes_are_one_tickets_message_a_flush_for_staff_only(db: DBConnector) -> None:
    """The supervisors' board reloads on it: a TicketStore handed the bus tells the feed."""
    rig = Rig(db)
    store = TicketStore(db, bus=rig.bus)
    first = resolved(store.create("sup", type_key="inquiry", subject="<b>x</b>"))
    second = resolved(store.create("sup", type_key="fault", subject="y"))
    resolved(store.comment("sup", first, "<p>hi</p>"))
    out = rig.tick()
    assert kinds(out) == ["tickets"]  # three writes, one message
    ((kind, body),) = seen_by(SUPERVISOR, out)
    assert (kind, body) == ("tickets", {"ticket_id": first, "at": rig.clock.seconds() - FLUSH_S})
    assert seen_by(QA, out) == seen_by(SUPERVISOR, out)
    assert seen_by(rig.agent("1001"), out) == []
    assert seen_by(Viewer("supervisor", None, wallboard=True), out) == []
    resolved(store.get(second))
    resolved(store.board())
    assert rig.tick() == []  # reading tells nobody
    resolved(store.transition("sup", "supervisor", second, "accepted"))
    (again,) = rig.tick()
    assert data(again)["ticket_id"] == second
