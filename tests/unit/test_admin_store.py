"""The admin store on each backend: the rules checked in the database (the last active
admin, one phone per agent, one agent per login, rows that exist) and what it writes."""

from __future__ import annotations

import pytest

from appliance.cli import resolved
from appliance.db.admin_store import AdminError, AdminStore
from appliance.db.components import DuplicateError
from appliance.db.connector import DBConnector


def test_the_last_active_admin_stays_an_active_admin(db: DBConnector) -> None:
    store = AdminStore(db)
    one = resolved(db.users.add("one", "password one", "admin")).id
    two = resolved(db.users.add("two", "password two", "admin")).id
    resolved(store.update_user(two, "admin", "Two", False))  # one is still an active admin
    for role, active in (("supervisor", True), ("admin", False), ("qa", False)):
        with pytest.raises(AdminError, match="last active admin"):
            resolved(store.update_user(one, role, "", active))
    resolved(store.update_user(one, "admin", "The One", True))  # a rename is fine
    resolved(store.update_user(two, "admin", "Two", True))
    resolved(store.update_user(one, "qa", "", True))
    users = {u.username: u for u in resolved(db.users.list_all())}
    assert (users["one"].role, users["one"].display_name) == ("qa", "")
    assert (users["two"].role, users["two"].active, users["two"].display_name) == (
        "admin",
        True,
        "Two",
    )
    with pytest.raises(AdminError, match="role must be"):
        resolved(store.update_user(two, "root", "", True))
    with pytest.raises(AdminError, match="no user"):
        resolved(store.update_user(999, "qa", "", True))


def test_reset_password_checks_the_policy(db: DBConnector) -> None:
    store = AdminStore(db)
    uid = resolved(db.users.add("u", "old password", "agent")).id
    with pytest.raises(ValueError):
        resolved(store.reset_password(uid, "short"))
    resolved(store.reset_password(uid, "new password"))
    from appliance import passwords

    record = resolved(db.users.login_record("u"))
    assert record is not None
    assert passwords.verify_password(record.password_hash, "new password")
    assert not passwords.verify_password(record.password_hash, "old password")


def test_agents_one_phone_each_one_login_each(db: DBConnector) -> None:
    store = AdminStore(db)
    a = resolved(store.add_agent("1001", "A", "sales", "PJSIP/1001", "active"))
    b = resolved(store.add_agent("1002", "B", "", "", "on_leave"))
    with pytest.raises(AdminError, match="PJSIP/1001 is agent 1001"):
        resolved(store.add_agent("1003", "C", "", "PJSIP/1001", "active"))
    with pytest.raises(DuplicateError):
        resolved(store.add_agent("1001", "again", "", "", "active"))
    with pytest.raises(AdminError, match="PJSIP/1001 is agent 1001"):
        resolved(store.update_agent(b, "B", "", "PJSIP/1001", "active", None))
    uid = resolved(db.users.add("agent", "agent password", "agent")).id
    resolved(store.update_agent(a, "A2", "ops", "PJSIP/1001", "resigned", uid))
    with pytest.raises(AdminError, match="already belongs to agent 1001"):
        resolved(store.update_agent(b, "B", "", "", "active", uid))
    with pytest.raises(AdminError, match="no user"):
        resolved(store.update_agent(b, "B", "", "", "active", 999))
    detail = resolved(store.agent(a))
    assert detail is not None
    assert (detail.name, detail.department, detail.status, detail.user_id) == (
        "A2",
        "ops",
        "resigned",
        uid,
    )
    assert [x.number for x in resolved(store.agents())] == ["1001", "1002"]
    assert resolved(store.agent(999)) is None


def test_skills_memberships_and_pin(db: DBConnector) -> None:
    store = AdminStore(db)
    a = resolved(store.add_agent("1001", "A", "", "", "active"))
    tech = resolved(db.skills.add("tech")).id
    q = resolved(db.queues.add("support")).id
    resolved(store.set_agent_skill(a, tech, 4))
    resolved(store.set_agent_skill(a, tech, 7))
    resolved(store.set_member(q, a, 5))
    detail = resolved(store.agent(a))
    assert detail is not None
    assert (detail.skills, detail.queues) == (((tech, "tech", 7),), ((q, "support", 5),))
    row, members = resolved(store.acd_agent(a))
    assert (row.skills, members) == (((tech, 7),), [(q, 5)])
    resolved(store.set_agent_skill(a, tech, 0))
    resolved(store.set_member(q, a, None))
    detail = resolved(store.agent(a))
    assert detail is not None and (detail.skills, detail.queues) == ((), ())
    with pytest.raises(AdminError, match="no skill"):
        resolved(store.set_agent_skill(a, 999, 3))
    with pytest.raises(AdminError, match="no queue"):
        resolved(store.set_member(999, a, 0))
    assert not detail.has_pin
    resolved(store.set_pin(a, "2468"))
    assert resolved(db.agents.check_pin("1001", "2468")) == a
    resolved(store.set_pin(a, None))
    assert resolved(db.agents.check_pin("1001", "2468")) is None


def test_queue_settings_and_requirements(db: DBConnector) -> None:
    store = AdminStore(db)
    tech = resolved(db.skills.add("tech")).id
    q = resolved(db.queues.add("support")).id
    other = resolved(db.queues.add("other")).id
    resolved(
        store.update_queue(
            q, {"wrapup_s": 33, "overflow_kind": "queue", "overflow_queue_id": other}
        )
    )
    with pytest.raises(AdminError, match="into itself"):
        resolved(store.update_queue(q, {"overflow_queue_id": q}))
    with pytest.raises(AdminError, match="no queue 999"):
        resolved(store.update_queue(q, {"overflow_queue_id": 999}))
    with pytest.raises(AdminError, match="unknown queue settings: name"):
        resolved(store.update_queue(q, {"name": "x"}))
    resolved(store.set_queue_skill(q, tech, 6))
    row = resolved(store.queue(q))
    assert row is not None
    assert (row["wrapup_s"], row["overflow_queue_id"], row["skills"]) == (
        33,
        other,
        [(tech, "tech", 6)],
    )
    live = resolved(store.acd_queue(q))
    assert (live.wrapup_s, live.requirements, live.overflow_queue_id) == (33, ((tech, 6),), other)
    resolved(store.set_queue_skill(q, tech, 0))
    assert resolved(store.acd_queue(q)).requirements == ()
    assert resolved(store.queue(999)) is None


def test_dids_bind_published_flows_only(db: DBConnector) -> None:
    store = AdminStore(db)
    flow = resolved(db.ivr.create_flow("welcome", {"nodes": []}, "admin"))
    draft = resolved(db.ivr.create_flow("draft", {"nodes": []}, "admin"))
    resolved(db.ivr.publish(flow.id, 1, "admin"))
    assert resolved(store.published_flows()) == [(flow.id, "welcome")]
    did = resolved(store.add_did("4001", flow.id, "main", True))
    with pytest.raises(DuplicateError):
        resolved(store.add_did("4001", None, "", True))
    with pytest.raises(AdminError, match="not published"):
        resolved(store.add_did("4002", draft.id, "", True))
    with pytest.raises(AdminError, match="no flow"):
        resolved(store.update_did(did, 999, "", True))
    resolved(store.update_did(did, None, "changed", False))
    assert [
        (d.number, d.flow_id, d.description, d.record_calls) for d in resolved(store.dids())
    ] == [("4001", None, "changed", False)]
    assert resolved(store.delete_did(did))
    assert not resolved(store.delete_did(did))


def test_schema_revision_is_the_head(db: DBConnector) -> None:
    from appliance.db import migrate

    assert resolved(AdminStore(db).schema_revision()) == migrate.head_revision()
