"""Admin pages for tickets: the types (built-in and an admin's own, each with its fields)
at ``/tickets/types`` and the SLA rules per type and priority, with their escalation steps,
at ``/tickets/sla``. Admin only; every change is checked by the catalog (the errors are
shown on the page) and written to the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import cherrypy

from appliance.crm.fields import FieldErrors
from appliance.crm.tickets import sla
from appliance.crm.tickets.sla import SlaRule
from appliance.db.model import TICKET_PRIORITIES
from webui import admin_forms as f
from webui import field_defs_form, i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render
from webui.ticket_access import ADMINS, type_name
from webui.ticket_labels import label, options

if TYPE_CHECKING:
    from webui.ticket_access import TicketAccess

STEP_ROWS = 4  # escalation steps shown at once (sla.MAX_STEPS may be stored)


def steps_text(rule: SlaRule) -> list[str]:
    """Each escalation step as a person reads it."""
    out = []
    for s in rule.steps:
        what = label("escalation_action", s.action)
        if s.action == "reassign":
            what = f"{what} → {label('assignee_kind', s.kind)}: {s.target}"
        out.append(i18n._("{after} min past due: {what}").format(after=s.after, what=what))
    return out


class TicketTypesAdmin:
    def __init__(self, ctx: WebContext, access: TicketAccess) -> None:
        self.ctx = ctx
        self.t = access

    def _page(self, key: str, errors: dict[str, str] | None = None, error: str = "") -> str:
        types = self.t.types()
        chosen = types.get(key)
        return render(
            self.ctx,
            "ticket_types.html",
            types=list(types.values()),
            chosen=chosen,
            rows=field_defs_form.rows_for(chosen.fields if chosen else ()),
            kinds=field_defs_form.kinds(),
            type_name=type_name,
            errors=errors or {},
            error=error,
        )

    @page(*ADMINS)
    def index(self, key: str = "") -> str:
        if not isinstance(key, str) or len(key) > 32:
            raise cherrypy.NotFound()
        return self._page(key)

    @page(*ADMINS, methods=("POST",))
    def save(self, **params: Any) -> str:
        """Add a type or change one (its name, fields and whether it is offered)."""
        session = current_session()
        try:
            key = f.text(params, "key", i18n._("Key"), 32, required=True)
            name = f.text(params, "name", i18n._("Name"), 100)
            active = f.checkbox(params, "active")
            defs = field_defs_form.read_defs(params)
        except f.FormError as exc:
            session.flash.append(i18n.error(exc))
            raise cherrypy.HTTPRedirect("/tickets/types", 303) from None
        existing = self.t.types().get(key)
        if existing is not None and existing.builtin:
            name = existing.name
        try:
            saved = self.ctx.call(self.t.catalog.save_type, key, name, defs, active)
        except FieldErrors as exc:
            cherrypy.serving.response.status = 400
            errors = {k: i18n.shown(v) for k, v in exc.errors.items()}
            return self._page(key, errors, i18n.error(exc))
        except ValueError as exc:
            cherrypy.serving.response.status = 400
            return self._page(key, error=i18n.error(exc))
        f.audit(self.ctx, "ticket_type.save", f"ticket_type:{key}", fields=len(defs), active=active)
        session.flash.append(i18n._("Type {name} saved.").format(name=type_name(saved, key)))
        raise cherrypy.HTTPRedirect(f"/tickets/types?key={quote(key)}", 303)


class SlaAdmin:
    def __init__(self, ctx: WebContext, access: TicketAccess) -> None:
        self.ctx = ctx
        self.t = access

    @page(*ADMINS)
    def index(self, type: str = "", priority: str = "") -> str:
        types = self.t.types()
        rules: list[SlaRule] = self.ctx.call(self.t.catalog.rules)
        chosen = next((r for r in rules if (r.type_key, r.priority) == (type, priority)), None)
        steps = list(chosen.steps) if chosen else []
        return render(
            self.ctx,
            "ticket_sla.html",
            types=types,
            rules=rules,
            chosen=chosen,
            form_type=type if type in types else "",
            form_priority=priority if priority in TICKET_PRIORITIES else "normal",
            step_rows=steps + [None] * max(0, STEP_ROWS - len(steps)),
            actions=options("escalation_action"),
            priorities=options("ticket_priority"),
            pickers=self.t.pickers(),
            steps_text=steps_text,
            type_name=type_name,
            tlabel=label,
        )

    @page(*ADMINS, methods=("POST",))
    def save(self, **params: Any) -> None:
        def work() -> str:
            type_key = f.text(params, "type", i18n._("Type"), 32, required=True)
            priority = f.choice(params, "priority", i18n._("Priority"), TICKET_PRIORITIES)
            top = sla.MAX_MINUTES
            respond = f.integer(params, "respond", i18n._("Respond within (min)"), 0, top)
            resolve = f.integer(params, "resolve", i18n._("Resolve within (min)"), 0, top)
            steps = []
            for n in range(sla.MAX_STEPS):
                after = f.text(params, f"s_{n}_after", i18n._("After (min)"), 7)
                if not after:
                    continue
                step: dict[str, Any] = {
                    "after": f.integer(params, f"s_{n}_after", i18n._("After (min)"), 0, top),
                    "action": f.text(params, f"s_{n}_action", i18n._("Action"), 32),
                }
                kind, _, target = f.text(params, f"s_{n}_to", i18n._("To"), 100).partition(":")
                if step["action"] == "reassign":
                    step.update(kind=kind, target=target)
                steps.append(step)
            self.ctx.call(self.t.catalog.save_rule, type_key, priority, respond, resolve, steps)
            f.audit(
                self.ctx,
                "ticket_sla.save",
                f"ticket_sla:{type_key}:{priority}",
                respond=respond,
                resolve=resolve,
                steps=len(steps),
            )
            return i18n._("SLA rule saved.")

        f.finish("/tickets/sla", work)

    @page(*ADMINS, methods=("POST",))
    def delete(self, **params: Any) -> None:
        def work() -> str:
            type_key = f.text(params, "type", i18n._("Type"), 32, required=True)
            priority = f.choice(params, "priority", i18n._("Priority"), TICKET_PRIORITIES)
            self.ctx.call(self.t.catalog.delete_rule, type_key, priority)
            f.audit(self.ctx, "ticket_sla.delete", f"ticket_sla:{type_key}:{priority}")
            return i18n._("SLA rule removed.")

        f.finish("/tickets/sla", work)
