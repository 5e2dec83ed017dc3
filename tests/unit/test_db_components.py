"""Database components on both backends (inline mode: no threads), with hostile text."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance import passwords
from appliance.cli import resolved
from appliance.db.components import DuplicateError
from appliance.db.connector import DBConnector

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "'; DROP TABLE users;--",
    'a "quoted" | name, with commas',
    "张伟 🎧",
]


def test_user_add_and_login_record(db: DBConnector) -> None:
    user = resolved(db.users.add("alice", "correct horse", "supervisor", "Alice"))
    assert (user.username, user.role, user.display_name, user.active) == (
        "alice",
        "supervisor",
        "Alice",
        True,
    )
    assert user.created_at.tzinfo is not None
    record = resolved(db.users.login_record("alice"))
    assert record is not None and record.user == user
    assert record.password_hash != "correct horse"
    assert passwords.verify_password(record.password_hash, "correct horse")
    assert not passwords.verify_password(record.password_hash, "wrong horse")
    assert resolved(db.users.login_record("bob")) is None


def test_duplicate_user_is_a_clear_error_and_keeps_the_first(db: DBConnector) -> None:
    resolved(db.users.add("alice", "password-1", "agent"))
    with pytest.raises(DuplicateError, match="already exists"):
        resolved(db.users.add("alice", "password-2", "admin"))
    [only] = resolved(db.users.list_all())
    assert only.role == "agent"


@pytest.mark.parametrize(
    ("username", "password", "role", "message"),
    [
        ("bob", "short", "agent", "at least 8"),
        ("bob", "x" * 257, "agent", "at most 256"),
        ("bob", "long enough", "root", "role must be one of"),
        ("bo b", "long enough", "agent", "user name"),
        ("", "long enough", "agent", "user name"),
        ("<script>", "long enough", "agent", "user name"),
    ],
)
def test_bad_user_fields_are_refused(
    db: DBConnector, username: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolved(db.users.add(username, password, role))
    assert resolved(db.users.count()) == 0


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_display_names_are_stored_as_given(db: DBConnector, name: str) -> None:
    resolved(db.users.add("carol", "long enough", "qa", name))
    [user] = resolved(db.users.list_all())
    assert user.display_name == name
    assert resolved(db.users.count()) == 1  # the "DROP TABLE" did nothing


def test_count_by_role_and_set_locale(db: DBConnector) -> None:
    admin = resolved(db.users.add("root1", "long enough", "admin"))
    resolved(db.users.add("agent1", "long enough", "agent"))
    assert resolved(db.users.count("admin")) == 1
    assert resolved(db.users.count()) == 2
    resolved(db.users.set_locale(admin.id, "zh_CN"))
    got = resolved(db.users.get(admin.id))
    assert got is not None and got.locale == "zh_CN"


def test_agents_skills_queues(db: DBConnector) -> None:
    tech = resolved(db.skills.add("tech", "Technical"))
    zh = resolved(db.skills.add("mandarin"))
    a = resolved(db.agents.add("1001", "Li Wei 李伟", "Support", "PJSIP/1001"))
    resolved(db.agents.set_skill(a.id, tech.id, 8))
    resolved(db.agents.set_skill(a.id, tech.id, 9))  # replaces, no duplicate row
    with pytest.raises(ValueError, match="1 to 10"):
        resolved(db.agents.set_skill(a.id, zh.id, 11))
    with pytest.raises(ValueError, match="2-16 digits"):
        resolved(db.agents.add("10a1", "x"))
    with pytest.raises(DuplicateError):
        resolved(db.agents.add("1001", "Someone else"))
    q = resolved(db.queues.add("support", "Support", skills={tech.id: 3, zh.id: 5}))
    assert q.skills == (("mandarin", 5), ("tech", 3))
    assert [x.name for x in resolved(db.queues.list_all())] == ["support"]
    assert [x.number for x in resolved(db.agents.list_all())] == ["1001"]
    assert [x.name for x in resolved(db.skills.list_all())] == ["mandarin", "tech"]


def test_calls_count_since_uses_utc(db: DBConnector) -> None:
    from appliance.db import model

    now = dt.datetime.now(dt.UTC)

    def insert(conn):  # type: ignore[no-untyped-def]
        for i, started in enumerate([now - dt.timedelta(days=2), now]):
            conn.execute(
                model.calls.insert().values(
                    uniqueid=f"169.{i}",
                    linkedid=f"169.{i}",
                    direction="inbound",
                    started_at=started,
                )
            )

    resolved(db.run(insert))
    assert resolved(db.calls.count_since(now - dt.timedelta(hours=1))) == 1
    # A non-UTC aware time means the same instant.
    plus8 = dt.timezone(dt.timedelta(hours=8))
    assert resolved(db.calls.count_since((now - dt.timedelta(hours=1)).astimezone(plus8))) == 1


def test_naive_datetimes_are_refused(db: DBConnector) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        resolved(db.calls.count_since(dt.datetime(2026, 1, 1)))


def test_a_repeated_uniqueid_gets_a_row_of_its_own_and_find_takes_the_newest(
    db: DBConnector,
) -> None:
    """Asterisk's uniqueids may repeat after a restart within a second: never a crash."""
    now = dt.datetime.now(dt.UTC)
    first = resolved(db.calls.start("1765000000.1", "1765000000.1", "inbound", now))
    second = resolved(db.calls.start("1765000000.1", "1765000000.1", "inbound", now))
    assert second != first
    assert resolved(db.calls.find("1765000000.1")) == second
    # the switch's Hangup cause lands on the newest row of that uniqueid
    assert resolved(db.calls.set_hangup_cause("1765000000.1", 17)) == second
    assert resolved(db.calls.set_hangup_cause("no-such-id", 16)) is None
    rows = [resolved(db.calls.get(i)) for i in (first, second)]
    assert [r["hangup_cause"] for r in rows if r] == [None, 17]


def test_agent_answer_is_written_when_it_happens_and_finish_keeps_the_cause(
    db: DBConnector,
) -> None:
    q = resolved(db.queues.add("support"))
    a = resolved(db.agents.add("1001", "Li Wei"))
    t0 = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    call = resolved(db.calls.start("1.5", "1.5", "inbound", t0))
    resolved(db.calls.set_hangup_cause("1.5", 16))
    resolved(db.calls.agent_answered(call, t0 + dt.timedelta(seconds=12), a.id, q.id))
    row = resolved(db.calls.get(call))
    assert row is not None
    assert (row["agent_answered_at"], row["agent_id"], row["queue_id"], row["ended_at"]) == (
        t0 + dt.timedelta(seconds=12),
        a.id,
        q.id,
        None,
    )
    assert resolved(db.calls.events(call)) == [("answered", {"agent": a.id, "queue": q.id})]
    resolved(
        db.calls.finish(
            call, t0 + dt.timedelta(seconds=40), disposition="completed", talk_ms=28_000
        )
    )
    row = resolved(db.calls.get(call))
    assert row is not None
    assert (row["talk_ms"], row["hangup_cause"], row["disposition"]) == (28_000, 16, "completed")


def test_open_rows_before_a_time_with_the_last_time_known(db: DBConnector) -> None:
    t0 = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    ringing = resolved(db.calls.start("2.1", "2.1", "inbound", t0))
    resolved(db.calls.add_event(ringing, "queued", t0 + dt.timedelta(seconds=9), {}))
    talking = resolved(db.calls.start("2.2", "2.2", "inbound", t0 + dt.timedelta(seconds=1)))
    a = resolved(db.agents.add("1001", "Li Wei"))
    q = resolved(db.queues.add("support"))
    resolved(db.calls.agent_answered(talking, t0 + dt.timedelta(seconds=20), a.id, q.id))
    bare = resolved(db.calls.start("2.3", "2.3", "inbound", t0 + dt.timedelta(seconds=2)))
    done = resolved(db.calls.start("2.4", "2.4", "inbound", t0))
    resolved(db.calls.finish(done, t0 + dt.timedelta(seconds=5), disposition="completed"))
    resolved(db.calls.start("2.5", "2.5", "inbound", t0 + dt.timedelta(minutes=5)))  # new process
    rows = resolved(db.calls.open_before(t0 + dt.timedelta(minutes=1)))
    assert [(r.id, r.uniqueid, r.last_known_at - t0, r.agent_id) for r in rows] == [
        (ringing, "2.1", dt.timedelta(seconds=9), None),
        (talking, "2.2", dt.timedelta(seconds=20), a.id),
        (bare, "2.3", dt.timedelta(seconds=2), None),
    ]
    assert rows[1].agent_answered_at == t0 + dt.timedelta(seconds=20)
    assert all(r.last_known_at.tzinfo is not None for r in rows)


def test_a_second_close_keeps_the_first_answer_and_adds_the_talk(db: DBConnector) -> None:
    """A blind transfer closes the row once per agent: the caller was answered once, and
    talked to both agents."""
    t0 = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    call = resolved(db.calls.start("4.1", "4.1", "inbound", t0))
    first_answer = t0 + dt.timedelta(seconds=1)
    resolved(
        db.calls.finish(
            call,
            t0 + dt.timedelta(seconds=60),
            first_answer,
            disposition="transferred",
            talk_ms=40_000,
        )
    )
    resolved(
        db.calls.finish(
            call,
            t0 + dt.timedelta(seconds=120),
            t0 + dt.timedelta(seconds=61),
            disposition="completed",
            talk_ms=30_000,
        )
    )
    row = resolved(db.calls.get(call))
    assert row is not None
    assert (row["answered_at"], row["ended_at"], row["disposition"], row["talk_ms"]) == (
        first_answer,
        t0 + dt.timedelta(seconds=120),
        "completed",
        70_000,
    )
