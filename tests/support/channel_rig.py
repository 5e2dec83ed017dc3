"""The channels' engine on a real database (SQLite, inline) beside the call ACD, driven by a
Clock: a seeded center and a rig that starts both services."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from twisted.internet import defer
from twisted.internet.task import Clock

from acd.channels.conversation import Conversation
from acd.channels.service import ChannelService
from acd.service import ACD
from appliance.cli import resolved
from appliance.config import ChatConfig
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus

OFFER_S = 30


def seed(db: DBConnector, strategy: str = "longest_idle", **settings: Any) -> dict[str, int]:
    """Agents 1001-1003 (tech 5, 7, 9; two chats each); chat queue web (tech >= 3) with its
    topic, e-mail queue mail (members 1001, 1002), call queue support (tech >= 3)."""
    tech = resolved(db.skills.add("tech")).id
    ids: dict[str, int] = {}
    for number, level in (("1001", 5), ("1002", 7), ("1003", 9)):
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, level))
        ids[number] = agent.id
    ids["web"] = resolved(
        db.queues.add("web", "Web chat", strategy, skills={tech: 3}, **settings)
    ).id
    ids["mail"] = resolved(db.queues.add("mail", "Mail")).id
    ids["support"] = resolved(db.queues.add("support", skills={tech: 3})).id
    resolved(db.agents.set_member(ids["mail"], ids["1001"]))
    resolved(db.agents.set_member(ids["mail"], ids["1002"]))

    def thd(conn: sa.Connection) -> None:
        q, a = model.queues, model.agents
        conn.execute(q.update().where(q.c.id == ids["web"]).values(media="chat"))
        conn.execute(q.update().where(q.c.id == ids["mail"]).values(media="email"))
        conn.execute(a.update().values(max_chats=2))
        key = conn.execute(
            model.chat_topics.insert().values(
                name="sales", label_zh="销售", label_en="Sales", queue_id=ids["web"]
            )
        ).inserted_primary_key
        assert key is not None
        ids["topic"] = int(key[0])

    resolved(db.run(thd))
    return ids


class Rig:
    def __init__(
        self,
        db: DBConnector,
        clock: Clock | None = None,
        engine: Any = None,
        customers: Any = None,
        health: Any = None,
    ) -> None:
        self.clock = clock or Clock()
        if clock is None:
            self.clock.advance(1_795_353_000)
        self.bus = EventBus()
        self.published: list[object] = []
        self.bus.subscribe(object, self.published.append)
        self.acd = ACD(self.clock, db, self.bus)
        resolved(self.acd.startService())
        self.ch = ChannelService(
            reactor=self.clock,
            db=db,
            acd=self.acd,
            bus=self.bus,
            config=ChatConfig(offer_timeout_s=OFFER_S),
            engine=engine,
            customers=customers,
            health=health,
        )
        resolved(self.ch.startService())
        self.agent_events: dict[int, list[dict[str, Any]]] = {}

    def watch_agent(self, agent_id: int) -> list[dict[str, Any]]:
        seen = self.agent_events.setdefault(agent_id, [])
        self.ch.subscribe_agent(agent_id, seen.append)
        return seen

    def chat(self, ids: dict[str, int], name: str = "Li Lei", phone: str = "") -> Conversation:
        return resolved(
            defer.ensureDeferred(
                self.ch.start_chat(
                    topic_id=ids["topic"],
                    name=name,
                    phone=phone,
                    email="",
                    language="zh-CN",
                    origin="https://shop.example",
                )
            )
        )

    def run(self, coro: Any) -> Any:
        return resolved(defer.ensureDeferred(coro))

    def state(self, conversation_id: int) -> str:
        conv = self.ch.conversations.get(conversation_id)
        return conv.state if conv is not None else "gone"

    def offered_to(self, conversation_id: int) -> tuple[int, ...]:
        return self.ch.conversations[conversation_id].offered_to


def stored(db: DBConnector, conversation_id: int) -> Any:
    c = model.conversations
    return resolved(
        db.run(lambda conn: conn.execute(c.select().where(c.c.id == conversation_id)).one())
    )


def event_kinds(db: DBConnector, conversation_id: int) -> list[tuple[str, int | None]]:
    e = model.conversation_events
    rows = resolved(
        db.run(
            lambda conn: conn.execute(
                sa.select(e.c.kind, e.c.agent_id)
                .where(e.c.conversation_id == conversation_id)
                .order_by(e.c.id)
            ).all()
        )
    )
    return [(k, a) for k, a in rows]
