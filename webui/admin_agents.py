"""Admin pages for agents: add, edit, skills with levels, departments, status, PIN, the
linked web login and queue memberships. Admin only (supervisors watch agents on the console).

Every change is written to the database, then applied to the running ACD
(acd/live_config.py) before the page answers: an agent put on leave cannot log in from then
on, a new skill is routed at once.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import cherrypy

from acd import live_config
from appliance.db.admin_store import AdminStore
from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.db.model import AGENT_STATUSES
from drivers.asterisk import device_syntax
from webui import admin_forms as f
from webui import i18n
from webui.access import page
from webui.admin_channels import notify
from webui.context import WebContext
from webui.render import render

# A desk phone the ACD dials (drivers/asterisk/device_syntax.py): it ends up in a dial
# string, so nothing else: no '&', ',', quotes, spaces or ${...}.
DEVICE = device_syntax.DEVICE
NUMBER = re.compile(r"[0-9]{2,16}")
PIN = re.compile(r"[0-9]{4,8}")
SKILL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class AgentsAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = AdminStore(ctx.db)
        self.channels = ChannelAdminStore(ctx.db)

    def _reload(self, agent_id: int) -> None:
        acd = self.ctx.acd
        self.ctx.call(lambda: live_config.for_acd(acd).reload_agent(agent_id))

    @page("admin")
    def index(self, department: str = "") -> str:
        """Every agent, or one department's (``?department=``: the names admins typed, listed
        with their head counts to pick from)."""
        agents = self.ctx.call(self.store.agents)
        departments = Counter(a.department for a in agents if a.department)
        shown = [a for a in agents if a.department == department] if department else agents
        return render(
            self.ctx,
            "admin_agents.html",
            agents=shown,
            statuses=AGENT_STATUSES,
            departments=sorted(departments.items()),
            department=department[:64],
        )

    @page("admin")
    def edit(self, id: str = "") -> str:
        agent = self.ctx.call(self.store.agent, f.page_id(id))
        if agent is None:
            raise cherrypy.NotFound()
        db = self.ctx.db
        users = [u for u in self.ctx.call(db.users.list_all) if u.role == "agent"]
        return render(
            self.ctx,
            "admin_agent.html",
            agent=agent,
            capacity=self.ctx.call(self.channels.agent_capacity, agent.id),
            statuses=AGENT_STATUSES,
            users=users,
            skills=self.ctx.call(db.skills.list_all),
            queues=self.ctx.call(db.queues.list_all),
            departments=sorted({a.department for a in self.ctx.call(self.store.agents)} - {""}),
        )

    @page("admin", methods=("POST",))
    def capacity(self, **params: Any) -> None:
        """Chats and e-mail threads at once (0-10), and how they mix with calls."""
        agent_id = f.target_id(params)

        def work() -> str:
            most = f.integer(params, "max_chats", i18n._("Chats and e-mails at once"), 0, 10)
            on_call = f.checkbox(params, "chat_on_call")
            with_chats = f.checkbox(params, "call_with_chats")
            self.ctx.call(self.channels.set_agent_capacity, agent_id, most, on_call, with_chats)
            self._reload(agent_id)
            notify(self.ctx, "agents")
            f.audit(
                self.ctx,
                "agent.capacity",
                f"agent:{agent_id}",
                max_chats=most,
                chat_on_call=on_call,
                call_with_chats=with_chats,
            )
            return i18n._("Capacity saved.")

        f.finish(f"/admin/agents/edit?id={agent_id}", work)

    def _fields(self, params: dict[str, Any]) -> tuple[str, str, str, str]:
        name = f.text(params, "name", i18n._("Name"), 128, required=True)
        department = f.text(params, "department", i18n._("Department"), 64)
        device = f.matching(
            params,
            "device",
            i18n._("Phone"),
            DEVICE,
            i18n._(
                "like PJSIP/1001, IAX2/1001, DAHDI/1 or Local/1001@context with /n if needed"
                " (Asterisk 22 has no SIP/)"
            ),
            device_syntax.MAX_LENGTH,
        )
        status = f.choice(params, "status", i18n._("Status"), AGENT_STATUSES)
        return name, department, device, status

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        def work() -> str:
            number = f.matching(
                params, "number", i18n._("Agent number"), NUMBER, i18n._("2 to 16 digits"), 16
            )
            if not number:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Agent number")))
            params.setdefault("status", "active")
            name, department, device, status = self._fields(params)
            agent_id = self.ctx.call(self.store.add_agent, number, name, department, device, status)
            self._reload(agent_id)
            f.audit(self.ctx, "agent.add", f"agent:{agent_id}", number=number, status=status)
            return i18n._("Agent {number} added.").format(number=number)

        f.finish("/admin/agents", work)

    @page("admin", methods=("POST",))
    def save(self, **params: Any) -> None:
        agent_id = f.target_id(params)

        def work() -> str:
            name, department, device, status = self._fields(params)
            user_id = f.optional_id(params, "user_id", i18n._("Web login"))
            self.ctx.call(
                self.store.update_agent, agent_id, name, department, device, status, user_id
            )
            self._reload(agent_id)
            f.audit(
                self.ctx,
                "agent.save",
                f"agent:{agent_id}",
                name=name,
                department=department,
                device=device,
                status=status,
                user_id=user_id,
            )
            return i18n._("Agent saved.")

        f.finish(f"/admin/agents/edit?id={agent_id}", work)

    @page("admin", methods=("POST",))
    def pin(self, **params: Any) -> None:
        agent_id = f.target_id(params)

        def work() -> str:
            if f.checkbox(params, "clear"):
                self.ctx.call(self.store.set_pin, agent_id, None)
                f.audit(self.ctx, "agent.pin", f"agent:{agent_id}", pin="cleared")
                return i18n._("PIN cleared: this agent cannot log in from a phone.")
            pin = f.matching(params, "pin", i18n._("PIN"), PIN, i18n._("4 to 8 digits"), 8)
            if not pin:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("PIN")))
            self.ctx.call(self.store.set_pin, agent_id, pin)
            f.audit(self.ctx, "agent.pin", f"agent:{agent_id}", pin="set")
            return i18n._("PIN set.")

        f.finish(f"/admin/agents/edit?id={agent_id}", work)

    @page("admin", methods=("POST",))
    def skill(self, **params: Any) -> None:
        """Add, change (level 1-10) or remove (``remove`` sent) one skill of the agent."""
        agent_id = f.target_id(params)

        def work() -> str:
            skill_id = f.row_id(params, "skill_id")
            remove = f.checkbox(params, "remove")
            level = 0 if remove else f.integer(params, "level", i18n._("Level"), 1, 10)
            self.ctx.call(self.store.set_agent_skill, agent_id, skill_id, level)
            self._reload(agent_id)
            f.audit(self.ctx, "agent.skill", f"agent:{agent_id}", skill_id=skill_id, level=level)
            return i18n._("Skill removed.") if remove else i18n._("Skill saved.")

        f.finish(f"/admin/agents/edit?id={agent_id}", work)

    @page("admin", methods=("POST",))
    def new_skill(self, **params: Any) -> None:
        back = "/admin/agents"
        if params.get("id"):
            back = f"/admin/agents/edit?id={f.target_id(params)}"

        def work() -> str:
            name = f.matching(
                params,
                "name",
                i18n._("Skill"),
                SKILL_NAME,
                i18n._("letters, digits, '.', '_' or '-'"),
                64,
            )
            if not name:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Skill")))
            description = f.text(params, "description", i18n._("Description"), 255)
            skill = self.ctx.call(self.ctx.db.skills.add, name, description)
            f.audit(self.ctx, "skill.add", f"skill:{skill.id}", name=name)
            return i18n._("Skill {name} created.").format(name=name)

        f.finish(back, work)

    @page("admin", methods=("POST",))
    def member(self, **params: Any) -> None:
        """Add or change (penalty 0-100) or remove (``remove`` sent) a queue membership."""
        agent_id = f.target_id(params)

        def work() -> str:
            queue_id = f.row_id(params, "queue_id")
            remove = f.checkbox(params, "remove")
            penalty = None if remove else f.integer(params, "penalty", i18n._("Penalty"), 0, 100)
            self.ctx.call(self.store.set_member, queue_id, agent_id, penalty)
            self._reload(agent_id)
            f.audit(
                self.ctx, "agent.member", f"agent:{agent_id}", queue_id=queue_id, penalty=penalty
            )
            return i18n._("Membership removed.") if remove else i18n._("Membership saved.")

        f.finish(f"/admin/agents/edit?id={agent_id}", work)
