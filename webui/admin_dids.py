"""Admin pages for dialed numbers (DIDs): the flow each one runs, whether its calls are
recorded. Admin only. Calls read their number's row when they arrive: no reload needed.

The same rules as ``/api/ivr/dids``: a number is digits, or ``*`` for every number not
bound otherwise; a flow must exist (and here, be published: an unpublished flow cannot
answer a call), or none (the built-in flow answers).
"""

from __future__ import annotations

import re
from typing import Any

from twisted.logger import Logger

from appliance.db.admin_store import AdminStore
from webui import admin_forms as f
from webui import i18n
from webui.access import current_session, page
from webui.context import WebContext
from webui.render import render

log = Logger(namespace="ccbox.web.admin")
DID_NUMBER = re.compile(r"[0-9]{1,32}|\*")


class DidsAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = AdminStore(ctx.db)

    def _who(self) -> str:
        user = current_session().user
        return user.username if user else "?"

    @page("admin")
    def index(self) -> str:
        flows = self.ctx.call(self.store.published_flows)
        return render(
            self.ctx,
            "admin_dids.html",
            dids=self.ctx.call(self.store.dids),
            flows=flows,
            flow_names=dict(flows),
        )

    def _values(self, params: dict[str, Any]) -> tuple[int | None, str, bool]:
        flow_id = f.optional_id(params, "flow_id", i18n._("Flow"))
        description = f.text(params, "description", i18n._("Description"), 255)
        return flow_id, description, f.checkbox(params, "record_calls")

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        def work() -> str:
            number = f.matching(
                params,
                "number",
                i18n._("Number"),
                DID_NUMBER,
                i18n._("digits, or * for every other number"),
                32,
            )
            if not number:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Number")))
            flow_id, description, record = self._values(params)
            did_id = self.ctx.call(self.store.add_did, number, flow_id, description, record)
            log.info("{user} added the number {number}", user=self._who(), number=number)
            f.audit(
                self.ctx, "did.add", f"did:{did_id}", number=number, flow_id=flow_id, record=record
            )
            return i18n._("Number {number} added.").format(number=number)

        f.finish("/admin/dids", work)

    @page("admin", methods=("POST",))
    def save(self, **params: Any) -> None:
        did_id = f.target_id(params)

        def work() -> str:
            flow_id, description, record = self._values(params)
            self.ctx.call(self.store.update_did, did_id, flow_id, description, record)
            log.info("{user} changed number {id}", user=self._who(), id=did_id)
            f.audit(self.ctx, "did.save", f"did:{did_id}", flow_id=flow_id, record=record)
            return i18n._("Number saved.")

        f.finish("/admin/dids", work)

    @page("admin", methods=("POST",))
    def delete(self, **params: Any) -> None:
        did_id = f.target_id(params)

        def work() -> str:
            if not self.ctx.call(self.store.delete_did, did_id):
                raise f.FormError(i18n._("That number no longer exists."))
            log.info("{user} deleted number {id}", user=self._who(), id=did_id)
            f.audit(self.ctx, "did.delete", f"did:{did_id}")
            return i18n._("Number deleted.")

        f.finish("/admin/dids", work)
