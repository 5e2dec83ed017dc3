"""Calls and chats on the same agents, at random: logins, pauses, calls arriving, answered
and ending, chats arriving, accepted, declined, let go and ended, time passing. The call
ACD and the channels' engine run together on a real database, and after every step:

- no agent holds more conversations than its max_chats;
- a chat is offered only to an agent logged in, not paused, and not on a call unless
  chat_on_call (checked at the moment of each offer);
- a call rings an agent with open conversations only if call_with_chats (at the moment it
  rings);
- each waiting line is in priority-then-arrival order.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

from acd import agent_state as st
from acd.channels import capacity
from acd.channels.errors import ChannelError
from acd.service import ACDError, QueuedCall
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from tests.support.channel_rig import OFFER_S, Rig, seed
from tests.support.inline_db import migrated_sqlite

AGENTS = ("1001", "1002", "1003")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """A migrated, seeded database file each example copies."""
    path = tmp_path_factory.mktemp("mixed") / "template.sqlite"
    migrated_sqlite(path)
    db = DBConnector(None, f"sqlite:///{path}", inline=True)  # type: ignore[arg-type]
    resolved(db.startService())
    ids = seed(db)
    resolved(db.stopService())
    yield path, ids


OPS = st_.one_of(
    st_.tuples(st_.just("login"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("login"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("logout"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("pause"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("unpause"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("call"), st_.integers(0, 9)),
    st_.tuples(st_.just("call"), st_.integers(0, 9)),
    st_.tuples(st_.just("answer"), st_.integers(0, 9)),
    st_.tuples(st_.just("hang_up"), st_.integers(0, 9)),
    st_.tuples(st_.just("call_wrapped"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("chat"), st_.integers(0, 9)),
    st_.tuples(st_.just("chat"), st_.integers(0, 9)),
    st_.tuples(st_.just("accept"), st_.integers(0, 9)),
    st_.tuples(st_.just("accept"), st_.integers(0, 9)),
    st_.tuples(st_.just("decline"), st_.integers(0, 9)),
    st_.tuples(st_.just("end"), st_.integers(0, 9)),
    st_.tuples(st_.just("chat_wrapped"), st_.integers(0, 9)),
    st_.tuples(st_.just("wait"), st_.sampled_from((1, 5, OFFER_S))),
)
SETTINGS = st_.lists(
    st_.tuples(st_.integers(1, 3), st_.booleans(), st_.booleans()),
    min_size=len(AGENTS),
    max_size=len(AGENTS),
)


class Day:
    def __init__(self, rig: Rig, ids: dict[str, int]) -> None:
        self.rig, self.ids = rig, ids
        self.calls: list[QueuedCall] = []
        self.problems: list[str] = []
        self.names = 0
        acd, ch = rig.acd, rig.ch
        for number in AGENTS:
            agent_id = ids[number]
            ch.subscribe_agent(agent_id, functools.partial(self._offer_seen, agent_id))
        rig.bus.subscribe(st.AgentStateChanged, self._state_seen)
        self.acd, self.ch = acd, ch

    def _offer_seen(self, agent_id: int, event: dict[str, Any]) -> None:
        if event["type"] != "offer":
            return
        agent = self.acd.agents[agent_id]
        if agent.state in capacity.AWAY_STATES:
            self.problems.append(f"chat offered to {agent_id} {agent.state}")
        if capacity.on_call(agent.state) and not agent.chat_on_call:
            self.problems.append(f"chat offered to {agent_id} on a call")

    def _state_seen(self, event: st.AgentStateChanged) -> None:
        if event.new != st.RINGING:
            return
        agent = self.acd.agents[event.agent_id]
        if self.ch.router.open_count(agent.id) and not agent.call_with_chats:
            self.problems.append(f"a call rang {agent.id} with chats open")

    def step(self, op: tuple[Any, ...]) -> None:
        kind, arg = op
        acd, ch, rig, ids = self.acd, self.ch, self.rig, self.ids
        try:
            if kind in ("login", "logout", "unpause"):
                getattr(acd, kind)(ids[arg])
            elif kind == "pause":
                acd.pause(ids[arg], "break")
            elif kind == "call":
                self.calls.append(acd.join(ids["support"], "13800138000", f"u{len(self.calls)}"))
            elif kind in ("answer", "hang_up") and self.calls:
                call = self.calls[arg % len(self.calls)]
                box: list[Any] = []
                call.wait_offer().addCallback(box.append)
                if not box:
                    call._waiter = None
                if kind == "answer" and call.ringing:
                    acd.answered(call, call.ringing[0].device)
                elif kind == "hang_up":
                    acd.abandoned(call)
            elif kind == "call_wrapped":
                acd.wrapup_done(ids[arg])
            elif kind == "chat":
                self.names += 1
                rig.chat(ids, f"v{self.names}", phone="13900000001" if arg == 0 else "")
            elif kind in ("accept", "decline"):
                offered = sorted((c.id, a) for c in ch.conversations.values() for a in c.offered_to)
                if offered:
                    cid, agent_id = offered[arg % len(offered)]
                    rig.run(getattr(ch, kind)(agent_id, cid))
            elif kind in ("end", "chat_wrapped"):
                state = "active" if kind == "end" else "wrap_up"
                mine = sorted(
                    (c.id, c.agent_id) for c in ch.conversations.values() if c.state == state
                )
                if mine:
                    cid, agent_id = mine[arg % len(mine)]
                    assert agent_id is not None
                    if kind == "end":
                        rig.run(ch.end(agent_id, cid))
                    else:
                        ch.wrapup_done(agent_id, cid)
            elif kind == "wait":
                rig.clock.advance(arg)
        except (ACDError, ChannelError):
            pass  # refused as it should be (a logout during a call, nobody on duty, ...)

    def check(self) -> None:
        assert self.problems == []
        for a in self.ch.router.agents.values():
            assert a.open <= a.max_chats
            assert a.available == a.may_take()
        for qid in self.ch.router.queues:
            line = self.ch.router.waiting(qid)
            keys = [
                (-self.ch.conversations[c].priority, self.ch.conversations[c].seq) for c in line
            ]
            assert keys == sorted(keys)
            assert all(self.ch.conversations[c].state == "waiting" for c in line)
        for c in self.ch.conversations.values():
            if c.state == "offered":
                assert all(c.id in self.ch.router.agents[a].held for a in c.offered_to)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agents=SETTINGS, ops=st_.lists(OPS, min_size=1, max_size=40))
def test_calls_and_chats_share_agents_by_the_rules(
    template: tuple[Path, dict[str, int]],
    tmp_path_factory: pytest.TempPathFactory,
    agents: list[tuple[int, bool, bool]],
    ops: list[tuple[Any, ...]],
) -> None:
    path, ids = template
    copy = tmp_path_factory.mktemp("day") / "day.sqlite"
    shutil.copy(path, copy)
    db = DBConnector(None, f"sqlite:///{copy}", inline=True)  # type: ignore[arg-type]
    resolved(db.startService())
    try:

        def settle(conn: sa.Connection) -> None:
            a = model.agents
            for number, (max_chats, on_call, with_chats) in zip(AGENTS, agents, strict=True):
                conn.execute(
                    a.update()
                    .where(a.c.id == ids[number])
                    .values(max_chats=max_chats, chat_on_call=on_call, call_with_chats=with_chats)
                )

        resolved(db.run(settle))
        resolved(db.acd.add_number("13900000001", "red", priority=5))
        day = Day(Rig(db), ids)
        for number in AGENTS:  # the day starts with everyone logged in
            day.acd.login(ids[number])
        for op in ops:
            day.step(op)
            day.check()
        resolved(day.ch.stopService())
        resolved(day.acd.stopService())
    finally:
        resolved(db.stopService())
        copy.unlink()
