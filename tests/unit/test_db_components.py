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
