"""What the admin pages read and change: agents (skills, memberships, PIN, linked login),
queues (every setting, required skills), dialed numbers and users.

Values arrive validated by the web layer (webui/admin_forms.py); the rules that need the
database (a unique name, a skill or queue that exists, the last active admin) are checked
here, inside the transaction that makes the change. Every method returns a Deferred.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance import passwords
from appliance.db import model
from appliance.db.acd_store import ACDAgent, ACDQueue, acd_agent_of, acd_queue_of
from appliance.db.components import DuplicateError, _Component, _insert, utcnow
from appliance.text import N_

# The queue columns an admin edits (all but id, name and created_at).
QUEUE_COLUMNS = (
    "display_name",
    "strategy",
    "service_level_s",
    "max_wait_s",
    "wrapup_s",
    "ring_timeout_s",
    "max_len",
    "overflow_kind",
    "overflow_queue_id",
    "overflow_target",
    "auto_pause_misses",
    "join_empty",
    "announce_every_s",
    "announce_position",
    "moh_class",
    "callback_key",
    "voicemail_key",
    "record_calls",
    "recording_retention_days",
)


class AdminError(ValueError):
    """A change the database state refuses (the message is for the user)."""


@dataclass(frozen=True)
class AgentDetail:
    id: int
    number: str
    name: str
    department: str
    device: str
    status: str
    user_id: int | None
    has_pin: bool
    skills: tuple[tuple[int, str, int], ...]  # (skill id, name, level)
    queues: tuple[tuple[int, str, int], ...]  # (queue id, name, penalty)


@dataclass(frozen=True)
class DidRow:
    id: int
    number: str
    flow_id: int | None
    description: str
    record_calls: bool


def _agent_details(conn: Connection, agent_id: int | None) -> list[AgentDetail]:
    a, ak, s = model.agents, model.agent_skills, model.skills
    qm, q = model.queue_members, model.queues
    sel = a.select().order_by(a.c.number)
    skills_q = sa.select(ak.c.agent_id, s.c.id, s.c.name, ak.c.level).join(
        s, s.c.id == ak.c.skill_id
    )
    members_q = sa.select(qm.c.agent_id, q.c.id, q.c.name, qm.c.penalty).join(
        q, q.c.id == qm.c.queue_id
    )
    if agent_id is not None:
        sel = sel.where(a.c.id == agent_id)
        skills_q = skills_q.where(ak.c.agent_id == agent_id)
        members_q = members_q.where(qm.c.agent_id == agent_id)
    skills: dict[int, list[tuple[int, str, int]]] = {}
    for aid, sid, name, level in conn.execute(skills_q.order_by(s.c.name)):
        skills.setdefault(aid, []).append((sid, name, level))
    members: dict[int, list[tuple[int, str, int]]] = {}
    for aid, qid, name, penalty in conn.execute(members_q.order_by(q.c.name)):
        members.setdefault(aid, []).append((qid, name, penalty))
    return [
        AgentDetail(
            r.id,
            r.number,
            r.name,
            r.department,
            r.device,
            r.status,
            r.user_id,
            r.pin_hash is not None,
            tuple(skills.get(r.id, ())),
            tuple(members.get(r.id, ())),
        )
        for r in conn.execute(sel)
    ]


def _exists(conn: Connection, table: sa.Table, row_id: int) -> bool:
    return conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is not None


def _need(conn: Connection, table: sa.Table, row_id: int, what: str) -> None:
    if not _exists(conn, table, row_id):
        raise AdminError(N_("no {what} {row_id}", what=what, row_id=row_id))


def _free_device(conn: Connection, device: str, agent_id: int | None) -> None:
    """One phone, one agent: the ACD finds the agent of a ringing phone by its device."""
    if not device:
        return
    a = model.agents
    q = sa.select(a.c.number).where(a.c.device == device)
    if agent_id is not None:
        q = q.where(a.c.id != agent_id)
    other = conn.execute(q).first()
    if other is not None:
        raise AdminError(
            N_("the phone {device} is agent {number}'s", device=device, number=other.number)
        )


class AdminStore(_Component):
    # ---- agents ---------------------------------------------------------------------------

    def agents(self) -> defer.Deferred[list[AgentDetail]]:
        return self.db.run(lambda conn: _agent_details(conn, None))

    def agent(self, agent_id: int) -> defer.Deferred[AgentDetail | None]:
        def thd(conn: Connection) -> AgentDetail | None:
            rows = _agent_details(conn, agent_id)
            return rows[0] if rows else None

        return self.db.run(thd)

    def add_agent(
        self, number: str, name: str, department: str, device: str, status: str
    ) -> defer.Deferred[int]:
        a = model.agents

        def thd(conn: Connection) -> int:
            _free_device(conn, device, None)
            return _insert(
                conn,
                a,
                N_("agent {number}", number=number),
                number=number,
                name=name,
                department=department,
                device=device,
                status=status,
                created_at=utcnow(),
            )

        return self.db.run(thd)

    def update_agent(
        self,
        agent_id: int,
        name: str,
        department: str,
        device: str,
        status: str,
        user_id: int | None,
    ) -> defer.Deferred[None]:
        a = model.agents

        def thd(conn: Connection) -> None:
            _need(conn, a, agent_id, N_("agent"))
            if user_id is not None:
                _need(conn, model.users, user_id, N_("user"))
                other = conn.execute(
                    sa.select(a.c.number).where((a.c.user_id == user_id) & (a.c.id != agent_id))
                ).first()
                if other is not None:
                    raise AdminError(
                        N_("that login already belongs to agent {number}", number=other.number)
                    )
            _free_device(conn, device, agent_id)
            conn.execute(
                a.update()
                .where(a.c.id == agent_id)
                .values(
                    name=name, department=department, device=device, status=status, user_id=user_id
                )
            )

        return self.db.run(thd)

    def set_pin(self, agent_id: int, pin: str | None) -> defer.Deferred[None]:
        """A new PIN (4-8 digits, hashed here in the pool), or None: no phone login."""
        a = model.agents

        def thd(conn: Connection) -> None:
            _need(conn, a, agent_id, N_("agent"))
            pin_hash = passwords.hash_pin(pin) if pin is not None else None
            conn.execute(a.update().where(a.c.id == agent_id).values(pin_hash=pin_hash))

        return self.db.run(thd)

    def set_agent_skill(self, agent_id: int, skill_id: int, level: int) -> defer.Deferred[None]:
        """Level 1-10 sets (adds or changes) the skill; 0 removes it."""
        t = model.agent_skills

        def thd(conn: Connection) -> None:
            _need(conn, model.agents, agent_id, N_("agent"))
            _need(conn, model.skills, skill_id, N_("skill"))
            conn.execute(t.delete().where((t.c.agent_id == agent_id) & (t.c.skill_id == skill_id)))
            if level:
                conn.execute(t.insert().values(agent_id=agent_id, skill_id=skill_id, level=level))

        return self.db.run(thd)

    def set_member(self, queue_id: int, agent_id: int, penalty: int | None) -> defer.Deferred[None]:
        """A direct membership with its penalty; None removes it."""
        t = model.queue_members

        def thd(conn: Connection) -> None:
            _need(conn, model.agents, agent_id, N_("agent"))
            _need(conn, model.queues, queue_id, N_("queue"))
            conn.execute(t.delete().where((t.c.queue_id == queue_id) & (t.c.agent_id == agent_id)))
            if penalty is not None:
                conn.execute(
                    t.insert().values(queue_id=queue_id, agent_id=agent_id, penalty=penalty)
                )

        return self.db.run(thd)

    # ---- queues ---------------------------------------------------------------------------

    def queue(self, queue_id: int) -> defer.Deferred[dict[str, Any] | None]:
        """Every column, plus ``skills``: [(skill id, name, min level)]."""
        q, qs, s = model.queues, model.queue_skills, model.skills

        def thd(conn: Connection) -> dict[str, Any] | None:
            row = conn.execute(q.select().where(q.c.id == queue_id)).one_or_none()
            if row is None:
                return None
            out = dict(row._mapping)
            out["skills"] = [
                tuple(r)
                for r in conn.execute(
                    sa.select(s.c.id, s.c.name, qs.c.min_level)
                    .join(s, s.c.id == qs.c.skill_id)
                    .where(qs.c.queue_id == queue_id)
                    .order_by(s.c.name)
                )
            ]
            return out

        return self.db.run(thd)

    def update_queue(self, queue_id: int, settings: dict[str, Any]) -> defer.Deferred[None]:
        unknown = set(settings) - set(QUEUE_COLUMNS)
        if unknown:
            return defer.fail(
                AdminError(N_("unknown queue settings: {items}", items=", ".join(sorted(unknown))))
            )
        q = model.queues

        def thd(conn: Connection) -> None:
            _need(conn, q, queue_id, N_("queue"))
            target = settings.get("overflow_queue_id")
            if target is not None:
                if target == queue_id:
                    raise AdminError(N_("a queue cannot overflow into itself"))
                _need(conn, q, target, N_("queue"))
            conn.execute(q.update().where(q.c.id == queue_id).values(**settings))

        return self.db.run(thd)

    def set_queue_skill(self, queue_id: int, skill_id: int, min_level: int) -> defer.Deferred[None]:
        """Minimum level 1-10 requires the skill; 0 removes the requirement."""
        t = model.queue_skills

        def thd(conn: Connection) -> None:
            _need(conn, model.queues, queue_id, N_("queue"))
            _need(conn, model.skills, skill_id, N_("skill"))
            conn.execute(t.delete().where((t.c.queue_id == queue_id) & (t.c.skill_id == skill_id)))
            if min_level:
                conn.execute(
                    t.insert().values(queue_id=queue_id, skill_id=skill_id, min_level=min_level)
                )

        return self.db.run(thd)

    # ---- what the running ACD reloads ---------------------------------------------------

    def acd_agent(self, agent_id: int) -> defer.Deferred[tuple[ACDAgent, list[tuple[int, int]]]]:
        """The agent as the ACD holds it, and its memberships [(queue id, penalty)]."""
        a, ak, qm = model.agents, model.agent_skills, model.queue_members

        def thd(conn: Connection) -> tuple[ACDAgent, list[tuple[int, int]]]:
            r = conn.execute(a.select().where(a.c.id == agent_id)).one_or_none()
            if r is None:
                raise AdminError(N_("no agent {agent_id}", agent_id=agent_id))
            skills = conn.execute(
                sa.select(ak.c.skill_id, ak.c.level).where(ak.c.agent_id == agent_id)
            ).all()
            members = conn.execute(
                sa.select(qm.c.queue_id, qm.c.penalty).where(qm.c.agent_id == agent_id)
            ).all()
            agent = acd_agent_of(r, skills)
            return agent, sorted((int(q), int(p)) for q, p in members)

        return self.db.run(thd)

    def acd_queue(self, queue_id: int) -> defer.Deferred[ACDQueue]:
        q, qs, qm = model.queues, model.queue_skills, model.queue_members

        def thd(conn: Connection) -> ACDQueue:
            r = conn.execute(q.select().where(q.c.id == queue_id)).one_or_none()
            if r is None:
                raise AdminError(N_("no queue {queue_id}", queue_id=queue_id))
            needs = conn.execute(
                sa.select(qs.c.skill_id, qs.c.min_level).where(qs.c.queue_id == queue_id)
            ).all()
            members = conn.execute(
                sa.select(qm.c.agent_id, qm.c.penalty).where(qm.c.queue_id == queue_id)
            ).all()
            return acd_queue_of(r, needs, members)

        return self.db.run(thd)

    # ---- dialed numbers ------------------------------------------------------------------

    def dids(self) -> defer.Deferred[list[DidRow]]:
        d = model.dids

        def thd(conn: Connection) -> list[DidRow]:
            rows = conn.execute(
                sa.select(
                    d.c.id, d.c.number, d.c.flow_id, d.c.description, d.c.record_calls
                ).order_by(d.c.number)
            )
            return [
                DidRow(r.id, r.number, r.flow_id, r.description, bool(r.record_calls)) for r in rows
            ]

        return self.db.run(thd)

    def _check_flow(self, conn: Connection, flow_id: int | None) -> None:
        if flow_id is None:
            return
        f = model.ivr_flows
        row = conn.execute(sa.select(f.c.published_version).where(f.c.id == flow_id)).one_or_none()
        if row is None:
            raise AdminError(N_("no flow {flow_id}", flow_id=flow_id))
        if row.published_version is None:
            raise AdminError(N_("that flow is not published yet"))

    def add_did(
        self, number: str, flow_id: int | None, description: str, record_calls: bool
    ) -> defer.Deferred[int]:
        d = model.dids

        def thd(conn: Connection) -> int:
            self._check_flow(conn, flow_id)
            try:
                with conn.begin_nested():
                    result = conn.execute(
                        d.insert().values(
                            number=number,
                            flow_id=flow_id,
                            description=description,
                            record_calls=record_calls,
                        )
                    )
            except sa.exc.IntegrityError:
                raise DuplicateError(
                    N_("the number {number} already exists", number=number)
                ) from None
            pk = result.inserted_primary_key
            assert pk is not None
            return int(pk[0])

        return self.db.run(thd)

    def update_did(
        self, did_id: int, flow_id: int | None, description: str, record_calls: bool
    ) -> defer.Deferred[None]:
        d = model.dids

        def thd(conn: Connection) -> None:
            _need(conn, d, did_id, N_("number"))
            self._check_flow(conn, flow_id)
            conn.execute(
                d.update()
                .where(d.c.id == did_id)
                .values(flow_id=flow_id, description=description, record_calls=record_calls)
            )

        return self.db.run(thd)

    def delete_did(self, did_id: int) -> defer.Deferred[bool]:
        d = model.dids

        def thd(conn: Connection) -> bool:
            return bool(conn.execute(d.delete().where(d.c.id == did_id)).rowcount)

        return self.db.run(thd)

    def published_flows(self) -> defer.Deferred[list[tuple[int, str]]]:
        f = model.ivr_flows

        def thd(conn: Connection) -> list[tuple[int, str]]:
            rows = conn.execute(
                sa.select(f.c.id, f.c.name)
                .where(f.c.published_version.is_not(None))
                .order_by(f.c.name)
            )
            return [(int(r.id), str(r.name)) for r in rows]

        return self.db.run(thd)

    # ---- users ----------------------------------------------------------------------------

    def update_user(
        self, user_id: int, role: str, display_name: str, active: bool
    ) -> defer.Deferred[None]:
        """Refuses to leave no active admin (the check and the change in one transaction)."""
        if role not in model.ROLES:
            return defer.fail(
                AdminError(N_("role must be one of: {items}", items=", ".join(model.ROLES)))
            )
        u = model.users

        def thd(conn: Connection) -> None:
            # Lock every active admin row (PostgreSQL): two admins demoting each other at
            # once cannot both pass the check.
            admins = {
                int(r.id)
                for r in conn.execute(
                    sa.select(u.c.id).where((u.c.role == "admin") & u.c.active).with_for_update()
                )
            }
            row = conn.execute(
                sa.select(u.c.role, u.c.active).where(u.c.id == user_id)
            ).one_or_none()
            if row is None:
                raise AdminError(N_("no user {user_id}", user_id=user_id))
            demoted = user_id in admins and not (role == "admin" and active)
            if demoted and not admins - {user_id}:
                raise AdminError(N_("this is the last active admin: it stays an active admin"))
            conn.execute(
                u.update()
                .where(u.c.id == user_id)
                .values(role=role, display_name=display_name, active=active)
            )

        return self.db.run(thd)

    def reset_password(self, user_id: int, password: str) -> defer.Deferred[None]:
        try:
            passwords.check_policy(password)
        except passwords.WeakPassword as exc:
            return defer.fail(exc)
        u = model.users

        def thd(conn: Connection) -> None:
            _need(conn, u, user_id, N_("user"))
            pw_hash = passwords.hash_password(password)
            conn.execute(u.update().where(u.c.id == user_id).values(password_hash=pw_hash))

        return self.db.run(thd)

    def schema_revision(self) -> defer.Deferred[str | None]:
        def thd(conn: Connection) -> str | None:
            from alembic.runtime.migration import MigrationContext

            rev = MigrationContext.configure(conn).get_current_revision()
            return str(rev) if rev is not None else None

        return self.db.run(thd)
