"""Database components, one per table family; each public method returns a Deferred of data."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer
from twisted.logger import Logger

from appliance import passwords
from appliance.db import model
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector


log = Logger(namespace="ccbox.db")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DuplicateError(ValueError):
    """A row with that unique name already exists."""


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    role: str
    display_name: str
    locale: str | None
    active: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class LoginRecord:
    user: UserRow
    password_hash: str


@dataclass(frozen=True)
class AgentRow:
    id: int
    number: str
    name: str
    department: str
    device: str
    status: str


@dataclass(frozen=True)
class SkillRow:
    id: int
    name: str
    description: str


@dataclass(frozen=True)
class QueueRow:
    id: int
    name: str
    display_name: str
    strategy: str
    service_level_s: int
    skills: tuple[tuple[str, int], ...]  # (skill name, minimum level)


class _Component:
    def __init__(self, db: DBConnector) -> None:
        self.db = db


def _insert(conn: Connection, table: sa.Table, what: str, **values: Any) -> int:
    try:
        with conn.begin_nested():
            result = conn.execute(table.insert().values(**values))
    except sa.exc.IntegrityError:
        raise DuplicateError(N_("{what} already exists", what=what)) from None
    pk = result.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def inbox_add(conn: Connection, kind: str, row_id: int) -> None:
    """Ask for a row to be counted by the report rollups (appliance/reports/maintainer.py):
    call it in the transaction that writes the row."""
    conn.execute(model.report_inbox.insert().values(kind=kind, row_id=int(row_id)))


class UsersComponent(_Component):
    @staticmethod
    def _row(r: sa.Row[Any]) -> UserRow:
        return UserRow(
            id=r.id,
            username=r.username,
            role=r.role,
            display_name=r.display_name,
            locale=r.locale,
            active=r.active,
            created_at=r.created_at,
        )

    def add(
        self,
        username: str,
        password: str,
        role: str,
        display_name: str = "",
        locale: str | None = None,
    ) -> defer.Deferred[UserRow]:
        """Create a user; raises DuplicateError, WeakPassword or ValueError (bad role/name)."""
        if role not in model.ROLES:
            return defer.fail(
                ValueError(N_("role must be one of: {items}", items=", ".join(model.ROLES)))
            )
        if not _valid_username(username):
            return defer.fail(
                ValueError(N_("a user name is 1-64 letters, digits, '.', '_' or '-'"))
            )
        try:
            passwords.check_policy(password)
        except passwords.WeakPassword as exc:
            return defer.fail(exc)

        def thd(conn: Connection) -> UserRow:
            pw_hash = passwords.hash_password(password)
            uid = _insert(
                conn,
                model.users,
                N_("user {username!r}", username=username),
                username=username,
                password_hash=pw_hash,
                role=role,
                display_name=display_name,
                locale=locale,
                created_at=utcnow(),
            )
            row = conn.execute(model.users.select().where(model.users.c.id == uid)).one()
            return self._row(row)

        return self.db.run(thd)

    def login_record(self, username: str) -> defer.Deferred[LoginRecord | None]:
        """The user and its password hash, for the caller to verify in its own thread.

        Verifying is slow on purpose (Argon2); doing it here would let a flood of logins
        stall every other query in the database pool.
        """

        def thd(conn: Connection) -> LoginRecord | None:
            row = conn.execute(
                model.users.select().where(model.users.c.username == username)
            ).one_or_none()
            return LoginRecord(self._row(row), row.password_hash) if row else None

        return self.db.run(thd)

    def get(self, user_id: int) -> defer.Deferred[UserRow | None]:
        def thd(conn: Connection) -> UserRow | None:
            row = conn.execute(
                model.users.select().where(model.users.c.id == user_id)
            ).one_or_none()
            return self._row(row) if row else None

        return self.db.run(thd)

    def list_all(self) -> defer.Deferred[list[UserRow]]:
        def thd(conn: Connection) -> list[UserRow]:
            rows = conn.execute(model.users.select().order_by(model.users.c.username))
            return [self._row(r) for r in rows]

        return self.db.run(thd)

    def count(self, role: str | None = None) -> defer.Deferred[int]:
        def thd(conn: Connection) -> int:
            q = sa.select(sa.func.count()).select_from(model.users)
            if role is not None:
                q = q.where(model.users.c.role == role)
            return int(conn.execute(q).scalar_one())

        return self.db.run(thd)

    def set_locale(self, user_id: int, locale: str) -> defer.Deferred[None]:
        def thd(conn: Connection) -> None:
            conn.execute(
                model.users.update().where(model.users.c.id == user_id).values(locale=locale)
            )

        return self.db.run(thd)


def _valid_username(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


class AgentsComponent(_Component):
    def add(
        self, number: str, name: str, department: str = "", device: str = ""
    ) -> defer.Deferred[AgentRow]:
        if not (number.isascii() and number.isdigit() and 2 <= len(number) <= 16):
            return defer.fail(ValueError(N_("an agent number is 2-16 digits")))

        def thd(conn: Connection) -> AgentRow:
            aid = _insert(
                conn,
                model.agents,
                N_("agent {number}", number=number),
                number=number,
                name=name,
                department=department,
                device=device,
                created_at=utcnow(),
            )
            return AgentRow(aid, number, name, department, device, "active")

        return self.db.run(thd)

    def set_pin(self, agent_id: int, pin: str) -> defer.Deferred[None]:
        """The PIN typed on a desk phone at login: 4-8 digits, stored as an Argon2 hash."""
        a = model.agents

        def thd(conn: Connection) -> None:
            pin_hash = passwords.hash_pin(pin)  # slow by design: here, in the pool
            conn.execute(a.update().where(a.c.id == agent_id).values(pin_hash=pin_hash))

        return self.db.run(thd)

    def check_pin(self, number: str, pin: str) -> defer.Deferred[int | None]:
        """The agent id when ``number`` and ``pin`` match; None otherwise (in the database
        pool: Argon2 is slow by design, and a wrong number costs as much as a wrong PIN)."""
        a = model.agents

        def thd(conn: Connection) -> int | None:
            row = conn.execute(
                sa.select(a.c.id, a.c.pin_hash).where(a.c.number == number[:16])
            ).first()
            ok = passwords.verify_password(row.pin_hash if row else None, pin[:16])
            return int(row.id) if ok and row is not None else None

        return self.db.run(thd)

    def link_user(self, agent_id: int, user_id: int | None) -> defer.Deferred[None]:
        """The web login of this agent (its desktop and state buttons act for it)."""
        a = model.agents

        def thd(conn: Connection) -> None:
            conn.execute(a.update().where(a.c.id == agent_id).values(user_id=user_id))

        return self.db.run(thd)

    def set_member(self, queue_id: int, agent_id: int, penalty: int = 0) -> defer.Deferred[None]:
        """Make the agent a direct member of the queue (a lower penalty is offered first)."""
        if not 0 <= penalty <= 100:
            return defer.fail(ValueError(N_("a penalty is 0 to 100")))
        t = model.queue_members

        def thd(conn: Connection) -> None:
            conn.execute(t.delete().where((t.c.queue_id == queue_id) & (t.c.agent_id == agent_id)))
            conn.execute(t.insert().values(queue_id=queue_id, agent_id=agent_id, penalty=penalty))

        return self.db.run(thd)

    def set_skill(self, agent_id: int, skill_id: int, level: int) -> defer.Deferred[None]:
        if not 1 <= level <= 10:
            return defer.fail(ValueError(N_("a skill level is 1 to 10")))
        t = model.agent_skills

        def thd(conn: Connection) -> None:
            conn.execute(t.delete().where((t.c.agent_id == agent_id) & (t.c.skill_id == skill_id)))
            conn.execute(t.insert().values(agent_id=agent_id, skill_id=skill_id, level=level))

        return self.db.run(thd)

    def list_all(self) -> defer.Deferred[list[AgentRow]]:
        a = model.agents

        def thd(conn: Connection) -> list[AgentRow]:
            rows = conn.execute(
                sa.select(
                    a.c.id, a.c.number, a.c.name, a.c.department, a.c.device, a.c.status
                ).order_by(a.c.number)
            )
            return [AgentRow(*r) for r in rows]

        return self.db.run(thd)


class SkillsComponent(_Component):
    def add(self, name: str, description: str = "") -> defer.Deferred[SkillRow]:
        def thd(conn: Connection) -> SkillRow:
            sid = _insert(
                conn,
                model.skills,
                N_("skill {name!r}", name=name),
                name=name,
                description=description,
            )
            return SkillRow(sid, name, description)

        return self.db.run(thd)

    def list_all(self) -> defer.Deferred[list[SkillRow]]:
        def thd(conn: Connection) -> list[SkillRow]:
            s = model.skills
            rows = conn.execute(sa.select(s.c.id, s.c.name, s.c.description).order_by(s.c.name))
            return [SkillRow(*r) for r in rows]

        return self.db.run(thd)


QUEUE_SETTINGS = {
    "max_wait_s",
    "wrapup_s",
    "ring_timeout_s",
    "max_len",
    "overflow_queue_id",
    "auto_pause_misses",
    "overflow_kind",
    "overflow_target",
    "join_empty",
    "announce_every_s",
    "announce_position",
    "moh_class",
    "callback_key",
    "voicemail_key",
}


class QueuesComponent(_Component):
    def add(
        self,
        name: str,
        display_name: str = "",
        strategy: str = "longest_idle",
        service_level_s: int = 20,
        skills: dict[int, int] | None = None,
        **settings: int | str | bool | None,
    ) -> defer.Deferred[QueueRow]:
        """Create a queue; ``skills`` maps skill id to the minimum level it requires;
        ``settings``: any of QUEUE_SETTINGS (the columns of model.queues). ``strategy`` is
        stored as the name: the ACD maps it to the routing engine's (acd/route.py), and
        whoever saves a queue checks it first (the admin page offers only known ones)."""
        unknown = set(settings) - QUEUE_SETTINGS
        if unknown:
            return defer.fail(
                ValueError(N_("unknown queue settings: {items}", items=", ".join(sorted(unknown))))
            )

        def thd(conn: Connection) -> QueueRow:
            qid = _insert(
                conn,
                model.queues,
                N_("queue {name!r}", name=name),
                name=name,
                display_name=display_name,
                strategy=strategy,
                service_level_s=service_level_s,
                created_at=utcnow(),
                **settings,
            )
            for skill_id, level in (skills or {}).items():
                conn.execute(
                    model.queue_skills.insert().values(
                        queue_id=qid, skill_id=skill_id, min_level=level
                    )
                )
            return _load_queues(conn, qid)[0]

        return self.db.run(thd)

    def list_all(self) -> defer.Deferred[list[QueueRow]]:
        return self.db.run(lambda conn: _load_queues(conn, None))


def _load_queues(conn: Connection, queue_id: int | None) -> list[QueueRow]:
    q, qs, s = model.queues, model.queue_skills, model.skills
    sel = q.select().order_by(q.c.name)
    if queue_id is not None:
        sel = sel.where(q.c.id == queue_id)
    queues = conn.execute(sel).all()
    skill_rows = conn.execute(
        sa.select(qs.c.queue_id, s.c.name, qs.c.min_level)
        .join(s, s.c.id == qs.c.skill_id)
        .order_by(s.c.name)
    ).all()
    by_queue: dict[int, list[tuple[str, int]]] = {}
    for qid, skill, level in skill_rows:
        by_queue.setdefault(qid, []).append((skill, level))
    return [
        QueueRow(
            id=r.id,
            name=r.name,
            display_name=r.display_name,
            strategy=r.strategy,
            service_level_s=r.service_level_s,
            skills=tuple(by_queue.get(r.id, ())),
        )
        for r in queues
    ]


@dataclass(frozen=True)
class OpenCall:
    """A calls row left open (no end): what start-up reconciliation needs of it."""

    id: int
    uniqueid: str
    started_at: dt.datetime
    agent_answered_at: dt.datetime | None
    agent_id: int | None
    last_known_at: dt.datetime  # the latest time written on the row or its events
    channel: str = ""  # the channel the call's FastAGI session ran on


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class CallsComponent(_Component):
    """The CDR (one row per call) and its time-ordered events.

    Every write about a calls row goes through the connector's write backlog
    (appliance/db/write_backlog.py): in order, and kept in memory while the database
    refuses writes, so a call never waits on, nor is dropped by, its row. That is why a
    row's id is allocated here, in process (the newest id in the table at start, then one
    up per call): the call uses it at once, for its events, its recording and its
    transfers, before the row is written. Rows are inserted only through this component.
    """

    def __init__(self, db: DBConnector) -> None:
        super().__init__(db)
        self._last_id: int | None = None  # the last id given out

    def load_ids(self) -> defer.Deferred[None]:
        """Read the newest id in the table: the ids given out from now on follow it."""

        def thd(conn: Connection) -> int:
            return int(conn.execute(sa.select(sa.func.max(model.calls.c.id))).scalar() or 0)

        def loaded(newest: int) -> None:
            self._last_id = max(newest, self._last_id or 0)

        return self.db.run(thd).addCallback(loaded)

    def _new_id(self) -> int:
        if self._last_id is None:
            raise RuntimeError("calls ids are not loaded: the database was not started")
        self._last_id += 1
        return self._last_id

    def open_row(
        self,
        uniqueid: str,
        linkedid: str,
        direction: str,
        started_at: dt.datetime,
        caller_number: str = "",
        caller_name: str = "",
        called_number: str = "",
        channel: str = "",
        trunk: str = "",
        trunk_group: str = "",
        trunk_channel: int | None = None,
    ) -> tuple[int, defer.Deferred[int]]:
        """The call's id, now, and the Deferred of its row's insert (fired once written, or
        as soon as it waits for the database to take writes again); caller ID is stored as
        given, cut to the column sizes. A uniqueid the table has already (Asterisk's ids may
        repeat after a restart within a second) is logged and the call gets its row all the
        same."""
        call_id = self._new_id()
        values = {
            "id": call_id,
            "uniqueid": uniqueid[:64],
            "linkedid": (linkedid or uniqueid)[:64],
            "direction": direction,
            "started_at": started_at,
            "caller_number": caller_number[:80],
            "caller_name": caller_name[:256],
            "called_number": called_number[:80],
            "channel": channel[:128],
            "trunk": trunk[:64],
            "trunk_group": trunk_group[: model.TRUNK_GROUP_MAX],
            "trunk_channel": trunk_channel,
        }
        c = model.calls.c

        def thd(conn: Connection) -> int:
            there = conn.execute(sa.select(c.uniqueid).where(c.id == call_id)).first()
            if there is not None and there.uniqueid == values["uniqueid"]:
                return call_id  # committed by an attempt whose answer was lost
            before = conn.execute(
                sa.select(sa.func.count()).where(c.uniqueid == values["uniqueid"])
            ).scalar_one()
            # no savepoint (_insert's): SQLITE_FULL rolls the whole transaction back, and
            # the savepoint's release would then hide the reason behind "no such savepoint"
            conn.execute(model.calls.insert().values(**values))
            if conn.dialect.name == "postgresql":  # the serial follows the ids given here
                conn.execute(
                    sa.text(
                        "SELECT setval(pg_get_serial_sequence('calls', 'id'), "
                        "GREATEST((SELECT max(id) FROM calls), 1))"
                    )
                )
            if before:
                log.warn(
                    "call {id}: the switch's uniqueid {uid!r} is on {n} earlier calls rows "
                    "(a restart within a second?); the call keeps a row of its own",
                    id=call_id,
                    uid=uniqueid,
                    n=before,
                )
            return call_id

        d = self.db.backlog.submit(f"call {call_id}: its row", call_id, thd, row=values)
        return call_id, d.addCallback(lambda _: call_id)

    def start(
        self,
        uniqueid: str,
        linkedid: str,
        direction: str,
        started_at: dt.datetime,
        caller_number: str = "",
        caller_name: str = "",
        called_number: str = "",
        channel: str = "",
        trunk: str = "",
        trunk_group: str = "",
        trunk_channel: int | None = None,
    ) -> defer.Deferred[int]:
        """``open_row``, for a caller that waits for the row (written, or waiting for the
        database to take writes again)."""
        try:
            _, d = self.open_row(
                uniqueid,
                linkedid,
                direction,
                started_at,
                caller_number,
                caller_name,
                called_number,
                channel,
                trunk,
                trunk_group,
                trunk_channel,
            )
        except RuntimeError as exc:
            return defer.fail(exc)
        return d

    def written(self) -> defer.Deferred[None]:
        """Fires once every calls write asked for so far is written."""
        return self.db.backlog.drained()

    def add_event(
        self, call_id: int, kind: str, at: dt.datetime, data: dict[str, Any] | None = None
    ) -> defer.Deferred[None]:
        text = json.dumps(data or {}, ensure_ascii=False)

        def thd(conn: Connection) -> None:
            conn.execute(
                model.call_events.insert().values(call_id=call_id, kind=kind[:32], at=at, data=text)
            )

        return self.db.backlog.submit(f"call {call_id}: event {kind[:32]!r}", call_id, thd)

    def finish(
        self,
        call_id: int,
        ended_at: dt.datetime,
        answered_at: dt.datetime | None = None,
        hangup_cause: int | None = None,
        disposition: str = "",
        queue_id: int | None = None,
        agent_id: int | None = None,
        agent_answered_at: dt.datetime | None = None,
        talk_ms: int | None = None,
    ) -> defer.Deferred[None]:
        """Close the row; a value left None keeps what the row has (the hangup cause comes
        from the switch's Hangup event, which may arrive before or after). ``talk_ms`` is
        added to the row's talk time (a blind transfer closes the row once per agent)."""

        def thd(conn: Connection) -> None:
            values: dict[str, Any] = {"ended_at": ended_at, "disposition": disposition[:32]}
            if agent_answered_at is not None:
                values["agent_answered_at"] = agent_answered_at
            if talk_ms is not None:  # added: a transferred call talks to several agents
                values["talk_ms"] = sa.func.coalesce(model.calls.c.talk_ms, 0) + max(0, talk_ms)
            if answered_at is not None:
                # the switch's first answer of the caller: a transferred caller's next
                # session (ivr/inbound.py transferred) does not move it
                values["answered_at"] = sa.func.coalesce(model.calls.c.answered_at, answered_at)
            if hangup_cause is not None:
                values["hangup_cause"] = hangup_cause
            if queue_id is not None:
                values["queue_id"] = queue_id
            if agent_id is not None:
                values["agent_id"] = agent_id
            if disposition == "transferred":  # another session finishes the row again
                values["transfers"] = model.calls.c.transfers + 1
            conn.execute(model.calls.update().where(model.calls.c.id == call_id).values(**values))
            inbox_add(conn, "call", call_id)

        return self.db.backlog.submit(f"call {call_id}: its end", call_id, thd)

    def queue_visit(
        self,
        call_id: int,
        *,
        joined: tuple[dt.datetime, int] | None = None,
        left: tuple[str, int, int] | None = None,
    ) -> defer.Deferred[None]:
        """The report columns of the call's first queue visit, as it goes: ``joined`` (when,
        the queue) the first time only; ``left`` (the outcome, the wait in ms, the queue it
        left from) the first time only, naming the queue it overflowed into when that is not
        the one it joined."""
        c = model.calls.c

        def thd(conn: Connection) -> None:
            row = conn.execute(
                sa.select(c.queued_at, c.queue_outcome, c.entry_queue_id).where(c.id == call_id)
            ).first()
            if row is None:
                return
            values: dict[str, Any] = {}
            entry = row.entry_queue_id
            if joined is not None and row.queued_at is None:
                values["queued_at"], values["entry_queue_id"] = joined
                entry = joined[1]
            if left is not None and row.queue_outcome is None:
                outcome, wait_ms, queue_id = left
                values["queue_outcome"], values["wait_ms"] = outcome[:16], max(0, wait_ms)
                if entry is not None and queue_id != entry:
                    values["overflow_queue_id"] = queue_id
            if values:
                conn.execute(model.calls.update().where(c.id == call_id).values(**values))

        return self.db.backlog.submit(f"call {call_id}: its queue visit", call_id, thd)

    def set_flow(self, call_id: int, flow_id: int) -> defer.Deferred[None]:
        """The IVR flow the call runs (the flow scope of the reports)."""
        c = model.calls.c

        def thd(conn: Connection) -> None:
            conn.execute(model.calls.update().where(c.id == call_id).values(flow_id=flow_id))

        return self.db.backlog.submit(f"call {call_id}: its flow", call_id, thd)

    def add_hold(self, call_id: int, hold_ms: int) -> defer.Deferred[None]:
        """A hold of the call ended: its length is added to the row's hold time."""
        c = model.calls.c

        def thd(conn: Connection) -> None:
            total = sa.func.coalesce(c.hold_ms, 0) + max(0, int(hold_ms))
            conn.execute(model.calls.update().where(c.id == call_id).values(hold_ms=total))

        return self.db.backlog.submit(f"call {call_id}: a hold", call_id, thd)

    def agent_answered(
        self, call_id: int, at: dt.datetime, agent_id: int, queue_id: int | None
    ) -> defer.Deferred[None]:
        """An agent answered the call, now: the row's agent and answer time, and the
        ``answered`` event, written at that moment (a crash mid-talk keeps them)."""
        c = model.calls.c
        text = json.dumps({"agent": agent_id, "queue": queue_id})

        def thd(conn: Connection) -> None:
            values: dict[str, Any] = {"agent_answered_at": at, "agent_id": agent_id}
            if queue_id is not None:
                values["queue_id"] = queue_id
            conn.execute(model.calls.update().where(c.id == call_id).values(**values))
            conn.execute(
                model.call_events.insert().values(
                    call_id=call_id, kind="answered", at=at, data=text
                )
            )

        return self.db.backlog.submit(f"call {call_id}: the agent's answer", call_id, thd)

    def set_hangup_cause(
        self, uniqueid: str, cause: int, channel: str | None = None
    ) -> defer.Deferred[int | None]:
        """The Q.850 cause of the channel's Hangup, on the newest row of that uniqueid (the
        caller's channel) and, given, that channel name (a uniqueid repeated after a restart
        is then never taken for an older call's); the row's id, or None when none has it."""
        c = model.calls.c

        def thd(conn: Connection) -> int | None:
            q = sa.select(c.id).where(c.uniqueid == uniqueid[:64])
            if channel is not None:
                q = q.where(c.channel == channel[:128])
            row = conn.execute(q.order_by(c.id.desc())).first()
            if row is None:
                return None
            conn.execute(model.calls.update().where(c.id == row.id).values(hangup_cause=cause))
            return int(row.id)

        # in the backlog: after the insert of a row still waiting there
        return self.db.backlog.submit(f"hangup cause of {uniqueid[:64]!r}", 0, thd)

    def find(self, uniqueid: str) -> defer.Deferred[int | None]:
        """The call whose first channel has this Uniqueid (a transferred caller's session
        continues the same call); of rows sharing a repeated uniqueid, the newest (a row
        still waiting in the backlog is newer than any written)."""
        c = model.calls.c
        waiting = [i for i, r in self.db.backlog.rows.items() if r["uniqueid"] == uniqueid[:64]]
        if waiting:
            return defer.succeed(max(waiting))

        def thd(conn: Connection) -> int | None:
            row = conn.execute(
                sa.select(c.id).where(c.uniqueid == uniqueid[:64]).order_by(c.id.desc())
            ).first()
            return int(row.id) if row else None

        return self.db.run(thd)

    def open_before(self, before: dt.datetime) -> defer.Deferred[list[OpenCall]]:
        """Rows never closed that started before ``before`` (a process that died with them
        open): with the last time anything was written about each."""
        c, e = model.calls.c, model.call_events.c

        def thd(conn: Connection) -> list[OpenCall]:
            # per open row, through the (call_id, at) index: never the whole events table
            last = sa.select(sa.func.max(e.at)).where(e.call_id == c.id).scalar_subquery()
            rows = conn.execute(
                sa.select(
                    c.id,
                    c.uniqueid,
                    c.started_at,
                    c.answered_at,
                    c.agent_answered_at,
                    c.agent_id,
                    c.channel,
                    last.label("last_at"),
                )
                .where(c.ended_at.is_(None), c.started_at < before)
                .order_by(c.id)
            ).all()
            out = []
            for r in rows:
                # SQLite hands the aggregate back untyped: a naive string or datetime.
                last_at = _as_utc(r.last_at)
                known = [
                    t for t in (r.started_at, r.answered_at, r.agent_answered_at, last_at) if t
                ]
                out.append(
                    OpenCall(
                        r.id,
                        r.uniqueid,
                        r.started_at,
                        r.agent_answered_at,
                        r.agent_id,
                        max(known),
                        r.channel,
                    )
                )
            return out

        return self.db.run(thd)

    def get(self, call_id: int) -> defer.Deferred[dict[str, Any] | None]:
        """The row; one still waiting in the backlog as it will be inserted."""
        if call_id in self.db.backlog.rows:  # every column, as the table would give it
            blank: dict[str, Any] = {column.name: None for column in model.calls.c}
            return defer.succeed(blank | self.db.backlog.rows[call_id])

        def thd(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(
                model.calls.select().where(model.calls.c.id == call_id)
            ).one_or_none()
            return dict(row._mapping) if row else None

        return self.db.run(thd)

    def events(self, call_id: int) -> defer.Deferred[list[tuple[str, dict[str, Any]]]]:
        def thd(conn: Connection) -> list[tuple[str, dict[str, Any]]]:
            e = model.call_events
            rows = conn.execute(
                sa.select(e.c.kind, e.c.data).where(e.c.call_id == call_id).order_by(e.c.at, e.c.id)
            )
            return [(kind, json.loads(data)) for kind, data in rows]

        return self.db.run(thd)

    def count_since(self, since: dt.datetime) -> defer.Deferred[int]:
        def thd(conn: Connection) -> int:
            q = sa.select(sa.func.count()).select_from(model.calls)
            return int(conn.execute(q.where(model.calls.c.started_at >= since)).scalar_one())

        return self.db.run(thd)

    def count_events(self, kind: str, since: dt.datetime | None = None) -> defer.Deferred[int]:
        """Call events of one kind (``ivr_step``: the IVR nodes walked)."""
        e = model.call_events

        def thd(conn: Connection) -> int:
            q = sa.select(sa.func.count()).select_from(e).where(e.c.kind == kind)
            if since is not None:
                q = q.where(e.c.at >= since)
            return int(conn.execute(q).scalar_one())

        return self.db.run(thd)

    def ivr_traffic(self, since: dt.datetime | None = None) -> defer.Deferred[dict[str, int]]:
        """How many times each IVR node was walked: ``{"flow/node": count}``."""
        e = model.call_events

        def thd(conn: Connection) -> dict[str, int]:
            q = sa.select(e.c.data).where(e.c.kind == "ivr_step")
            if since is not None:
                q = q.where(e.c.at >= since)
            counts: dict[str, int] = {}
            for (data,) in conn.execute(q):
                step = json.loads(data)
                key = f"{step.get('flow')}/{step.get('node')}"
                counts[key] = counts.get(key, 0) + 1
            return counts

        return self.db.run(thd)

    def count_completed(self, since: dt.datetime | None = None) -> defer.Deferred[int]:
        """Calls that ended normally (disposition ``completed``), optionally since a time."""

        def thd(conn: Connection) -> int:
            c = model.calls.c
            q = sa.select(sa.func.count()).select_from(model.calls)
            q = q.where(c.ended_at.is_not(None), c.disposition == "completed")
            if since is not None:
                q = q.where(c.started_at >= since)
            return int(conn.execute(q).scalar_one())

        return self.db.run(thd)
