"""What the ACD reads at start and writes as it runs: agents with skills, queues with their
settings, agent states and state events, the black and red number lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import DuplicateError, _Component, _insert, inbox_add, utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector  # noqa: F401


@dataclass(frozen=True)
class ACDAgent:
    id: int
    number: str
    name: str
    device: str
    status: str  # active, on_leave, resigned
    pin_hash: str | None
    skills: tuple[tuple[int, int], ...]  # (skill id, level)
    state: str  # the last persisted live state ("logged_out" when none)
    reason: str
    user_id: int | None = None  # the web login of this agent, if any
    since: dt.datetime | None = None  # when it entered ``state`` (None: never persisted)
    # Conversations (chats, e-mail threads) open at once, and how a call counts against
    # them (acd/channels/capacity.py).
    max_chats: int = 3
    chat_on_call: bool = False
    call_with_chats: bool = True


@dataclass(frozen=True)
class ACDQueue:
    id: int
    name: str
    display_name: str
    strategy: str
    service_level_s: int
    max_wait_s: int
    wrapup_s: int
    ring_timeout_s: int
    max_len: int
    overflow_queue_id: int | None
    auto_pause_misses: int
    requirements: tuple[tuple[int, int], ...]  # (skill id, minimum level)
    members: tuple[tuple[int, int], ...] = ()  # (agent id, penalty)
    overflow_kind: str = "queue"  # hangup, queue, voicemail, extension
    overflow_target: str = ""  # the extension, for kind "extension"
    join_empty: bool = True
    announce_every_s: int = 0
    announce_position: bool = True
    moh_class: str = "default"
    callback_key: str = ""
    voicemail_key: str = ""
    record_calls: bool = True  # its calls are recorded (recorder/policy.py)
    # call, chat or email: the call ACD routes only "call" queues, the channels' router
    # (acd/channels/) only chat and e-mail queues.
    media: str = "call"


@dataclass(frozen=True)
class CallbackRow:
    id: int
    queue_id: int
    number: str
    name: str
    priority: int
    requested_at: dt.datetime
    source: str
    state: str
    attempts: int
    agent_id: int | None = None  # the agent last rung for it (``dialing``: rung now)
    due_at: dt.datetime | None = None  # not dialed before (a web request's preferred time)


@dataclass(frozen=True)
class NumberEntry:
    number: str
    kind: str  # black or red
    priority: int
    note: str


def acd_agent_of(
    r: Any,
    skills: Iterable[tuple[int, int]],
    state: str = "logged_out",
    reason: str = "",
    since: dt.datetime | None = None,
) -> ACDAgent:
    """An ``agents`` row, its (skill id, level) pairs and its last state, as the ACD holds it."""
    return ACDAgent(
        r.id,
        r.number,
        r.name,
        r.device,
        r.status,
        r.pin_hash,
        tuple(sorted((int(s), int(lv)) for s, lv in skills)),
        state,
        reason,
        user_id=r.user_id,
        since=since,
        max_chats=int(r.max_chats),
        chat_on_call=bool(r.chat_on_call),
        call_with_chats=bool(r.call_with_chats),
    )


def acd_queue_of(
    r: Any, needs: Iterable[tuple[int, int]], members: Iterable[tuple[int, int]]
) -> ACDQueue:
    """A ``queues`` row, its (skill id, minimum level) needs and (agent id, penalty) members,
    as the ACD holds it."""
    return ACDQueue(
        r.id,
        r.name,
        r.display_name,
        r.strategy,
        r.service_level_s,
        r.max_wait_s,
        r.wrapup_s,
        r.ring_timeout_s,
        r.max_len,
        r.overflow_queue_id,
        r.auto_pause_misses,
        tuple(sorted((int(s), int(lv)) for s, lv in needs)),
        tuple(sorted((int(a), int(p)) for a, p in members)),
        r.overflow_kind,
        r.overflow_target,
        bool(r.join_empty),
        r.announce_every_s,
        bool(r.announce_position),
        r.moh_class,
        r.callback_key,
        r.voicemail_key,
        bool(r.record_calls),
        r.media,
    )


class ACDStore(_Component):
    def load(self) -> defer.Deferred[tuple[list[ACDAgent], list[ACDQueue]]]:
        def thd(conn: Connection) -> tuple[list[ACDAgent], list[ACDQueue]]:
            a, ak, st = model.agents, model.agent_skills, model.agent_states
            skills: dict[int, list[tuple[int, int]]] = {}
            for agent_id, skill_id, level in conn.execute(
                sa.select(ak.c.agent_id, ak.c.skill_id, ak.c.level)
            ):
                skills.setdefault(agent_id, []).append((skill_id, level))
            states = {
                r.agent_id: (r.state, r.reason, r.since)
                for r in conn.execute(sa.select(st.c.agent_id, st.c.state, st.c.reason, st.c.since))
            }
            agents = [
                acd_agent_of(r, skills.get(r.id, ()), *states.get(r.id, ("logged_out", "", None)))
                for r in conn.execute(a.select().order_by(a.c.id))
            ]
            q, qs = model.queues, model.queue_skills
            needs: dict[int, list[tuple[int, int]]] = {}
            for queue_id, skill_id, level in conn.execute(
                sa.select(qs.c.queue_id, qs.c.skill_id, qs.c.min_level)
            ):
                needs.setdefault(queue_id, []).append((skill_id, level))
            qm = model.queue_members
            members: dict[int, list[tuple[int, int]]] = {}
            for queue_id, agent_id, penalty in conn.execute(
                sa.select(qm.c.queue_id, qm.c.agent_id, qm.c.penalty)
            ):
                members.setdefault(queue_id, []).append((agent_id, penalty))
            queues = [
                acd_queue_of(r, needs.get(r.id, ()), members.get(r.id, ()))
                for r in conn.execute(q.select().order_by(q.c.id))
            ]
            return agents, queues

        return self.db.run(thd)

    def save_state(
        self, agent_id: int, state: str, reason: str, at: dt.datetime
    ) -> defer.Deferred[None]:
        """The agent's current state (for a restart) and one history event (for reports).

        The current state only moves forward in time: the ACD does not wait for one write
        before the next, and on PostgreSQL (several connections) a login's write could land
        after the logout that followed it, and the restart would bring the agent back."""
        st, ev = model.agent_states, model.agent_events

        def thd(conn: Connection) -> None:
            added = conn.execute(
                ev.insert().values(agent_id=agent_id, at=at, state=state, reason=reason)
            )
            key = added.inserted_primary_key
            assert key is not None
            inbox_add(conn, "agent_event", key[0])
            newer = st.c.since <= at
            values = {"state": state, "reason": reason, "since": at}
            if conn.execute(
                st.update().where(st.c.agent_id == agent_id, newer).values(**values)
            ).rowcount:
                return
            if conn.execute(sa.select(st.c.since).where(st.c.agent_id == agent_id)).first():
                return  # a later state is there already
            try:
                with conn.begin_nested():
                    conn.execute(st.insert().values(agent_id=agent_id, **values))
            except sa.exc.IntegrityError:  # another connection's first state came in between
                conn.execute(st.update().where(st.c.agent_id == agent_id, newer).values(**values))

        return self.db.run(thd)

    def events(self, agent_id: int) -> defer.Deferred[list[tuple[dt.datetime, str, str]]]:
        ev = model.agent_events

        def thd(conn: Connection) -> list[tuple[dt.datetime, str, str]]:
            rows = conn.execute(
                sa.select(ev.c.at, ev.c.state, ev.c.reason)
                .where(ev.c.agent_id == agent_id)
                .order_by(ev.c.at, ev.c.id)
            )
            return [(r.at, r.state, r.reason) for r in rows]

        return self.db.run(thd)

    def add_number(
        self, number: str, kind: str, priority: int = 0, note: str = ""
    ) -> defer.Deferred[NumberEntry]:
        if kind not in model.NUMBER_LISTS:
            return defer.fail(
                ValueError(N_("list must be one of {items}", items=", ".join(model.NUMBER_LISTS)))
            )
        if not (number.isascii() and number.isdigit() and 3 <= len(number) <= 32):
            return defer.fail(ValueError(N_("a listed number is 3-32 ASCII digits")))

        def thd(conn: Connection) -> NumberEntry:
            _insert(
                conn,
                model.number_lists,
                N_(
                    "{number} on the {kind} list",
                    number=number,
                    kind=N_("black") if kind == "black" else N_("red"),
                ),
                number=number,
                kind=kind,
                priority=priority,
                note=note[:255],
                created_at=utcnow(),
            )
            return NumberEntry(number, kind, priority, note[:255])

        return self.db.run(thd)

    def numbers(self) -> defer.Deferred[list[NumberEntry]]:
        n = model.number_lists

        def thd(conn: Connection) -> list[NumberEntry]:
            rows = conn.execute(sa.select(n.c.number, n.c.kind, n.c.priority, n.c.note))
            return [NumberEntry(*r) for r in rows]

        return self.db.run(thd)

    # ---- callbacks ------------------------------------------------------------------------

    def add_callback(
        self,
        queue_id: int,
        number: str,
        name: str,
        priority: int,
        requested_at: dt.datetime,
        source: str = "queue",
        due_at: dt.datetime | None = None,
    ) -> defer.Deferred[int]:
        def thd(conn: Connection) -> int:
            result = conn.execute(
                model.callbacks.insert().values(
                    queue_id=queue_id,
                    number=number,
                    name=name[:128],
                    priority=priority,
                    requested_at=requested_at,
                    source=source,
                    due_at=due_at,
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            inbox_add(conn, "callback", key[0])
            return int(key[0])

        return self.db.run(thd)

    def open_callbacks(self) -> defer.Deferred[list[CallbackRow]]:
        """Callbacks not finished yet, oldest first (a restart puts them back in line)."""
        cb = model.callbacks

        def thd(conn: Connection) -> list[CallbackRow]:
            rows = conn.execute(
                sa.select(
                    cb.c.id,
                    cb.c.queue_id,
                    cb.c.number,
                    cb.c.name,
                    cb.c.priority,
                    cb.c.requested_at,
                    cb.c.source,
                    cb.c.state,
                    cb.c.attempts,
                    cb.c.agent_id,
                    cb.c.due_at,
                )
                .where(cb.c.state.in_(("waiting", "dialing")))
                .order_by(cb.c.requested_at, cb.c.id)
            )
            return [CallbackRow(*tuple(r)) for r in rows]

        return self.db.run(thd)

    def update_callback(
        self,
        callback_id: int,
        state: str,
        attempts: int,
        agent_id: int | None = None,
        done_at: dt.datetime | None = None,
    ) -> defer.Deferred[None]:
        cb = model.callbacks

        def thd(conn: Connection) -> None:
            conn.execute(
                cb.update()
                .where(cb.c.id == callback_id)
                .values(state=state, attempts=attempts, agent_id=agent_id, done_at=done_at)
            )

        return self.db.run(thd)


__all__ = ["ACDAgent", "ACDQueue", "ACDStore", "CallbackRow", "DuplicateError", "NumberEntry"]
