"""Why a ready agent gets no calls (acd/idle_reasons.py), on the real ACD over both routing
kernels: short of a skill, not a member of a members-only queue, or serving (a call is on
its way); nothing for an agent that is not available or when nobody waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from twisted.internet.task import Clock

from acd import _route_c, _route_py
from acd import agent_state as st
from acd import service as acd_service
from acd.idle_reasons import (
    NOT_MEMBER,
    SERVES,
    SKILLS,
    MissingSkill,
    QueueReason,
    idle_agents,
    why_no_calls,
)
from acd.service import ACD
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from tests.support.inline_db import inline_db


@pytest.fixture(params=[_route_py, _route_c], ids=["python", "cython"])
def kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module: ModuleType = request.param
    monkeypatch.setattr(acd_service, "Router", module.Router)
    return module


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


def test_each_reason_queue_by_queue(db: DBConnector, kernel: ModuleType) -> None:
    tech = resolved(db.skills.add("tech")).id
    sales = resolved(db.skills.add("sales")).id
    ids = {}
    for number, levels in (("1001", {tech: 5}), ("1002", {tech: 2, sales: 9}), ("1003", {})):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        for skill, level in levels.items():
            resolved(db.agents.set_skill(agent.id, skill, level))
        ids[number] = agent.id
    ids["support"] = resolved(db.queues.add("support", skills={tech: 3})).id
    ids["vip"] = resolved(db.queues.add("vip", skills={tech: 4, sales: 4})).id
    ids["team"] = resolved(db.queues.add("team")).id  # members only
    resolved(db.agents.set_member(ids["team"], ids["1003"]))
    clock = Clock()
    clock.advance(1_795_353_000)
    acd = ACD(clock, db, EventBus())
    resolved(acd.startService())
    assert type(acd.router) is kernel.Router
    a1, a2, a3 = (acd.agents[ids[n]] for n in ("1001", "1002", "1003"))

    assert idle_agents(acd) == {}  # nobody waits
    acd.login(a2.id)
    vip = acd.join(ids["vip"], "13800138000", "u1")
    team = acd.join(ids["team"], "13800138001", "u2")
    acd.join(ids["vip"], "13800138002", "u3")
    assert not vip.ringing and not team.ringing  # 1002 serves neither
    reasons = why_no_calls(acd, a2)
    assert reasons == [
        QueueReason(ids["vip"], 2, SKILLS, (MissingSkill(tech, 2, 4),)),
        QueueReason(ids["team"], 1, NOT_MEMBER),
    ]
    assert idle_agents(acd) == {a2.id: reasons}
    # 1001 has no sales at all: both skills of vip named, its own level 0 for sales.
    acd.login(a1.id)
    assert why_no_calls(acd, a1)[0] == QueueReason(
        ids["vip"], 2, SKILLS, (MissingSkill(sales, 0, 4),)
    )
    # 1003, a member of team, takes its caller the moment it is available: nothing waits
    # there any more, so the reasons no longer name the queue.
    acd.login(a3.id)
    assert a3.state == st.RINGING and team.ringing == (a3,)
    assert [r.queue_id for r in why_no_calls(acd, a2)] == [ids["vip"]]
    assert why_no_calls(acd, a3) == []  # not available: no reasons
    # An agent serving a queue with callers: "serves" (its offer comes with the next dispatch).
    assert acd.serves(a1, acd.queues[ids["support"]])
    acd.pause(a1.id, "break")
    held = acd.join(ids["support"], "13800138003", "u4")
    assert not held.ringing
    a1.state = st.AVAILABLE  # as between becoming available and the dispatch
    assert QueueReason(ids["support"], 1, SERVES) in why_no_calls(acd, a1)
