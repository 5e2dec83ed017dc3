"""The System page's backup card: the last backups, "back up now", and a download of an
archive (admin only). Restoring stays on the command line (``ccbox restore``: ccboxd must
be stopped); the card says how."""

from __future__ import annotations

from typing import Any, NoReturn

import cherrypy
from cherrypy.lib import static
from twisted.internet import defer
from twisted.logger import Logger

from appliance.backup.service import BackupBusy, BackupService
from webui import admin_forms as f
from webui import i18n
from webui.access import current_session, page
from webui.context import WebContext

log = Logger(namespace="ccbox.web.backup")
SHOWN = 10


def _service(ctx: WebContext) -> BackupService | None:
    hardware = ctx.hardware
    return getattr(hardware, "backups", None) if hardware is not None else None


async def backup_card(ctx: WebContext) -> dict[str, Any]:
    """What the card shows (on the reactor thread)."""
    svc = _service(ctx)
    if svc is None:
        return {"configured": False}
    out: dict[str, Any] = {
        "configured": True,
        "folder": str(svc.folder),
        "schedule": svc.settings.schedule,
        "hour": svc.settings.hour,
        "keep": svc.settings.keep,
        "running": svc.busy is not None,
        "health": ctx.health.get("backup"),
        "rows": [],
        "files": [],
    }
    try:
        out["rows"] = await svc.history.recent(SHOWN)
    except Exception as exc:  # the page must show a broken database, not fail on it
        out["error"] = str(exc)[:200]
    try:
        out["files"] = (await svc.files())[:SHOWN]
    except OSError as exc:
        out["error"] = exc.strerror or str(exc)
    return out


class SystemBackup:
    """/admin/system/backup/: ``now`` (POST) and ``download?name=``."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page("admin", methods=("POST",))
    def now(self, **params: Any) -> NoReturn:
        ctx = self.ctx
        user = current_session().user
        who = user.username if user else "?"

        def start(svc: BackupService) -> defer.Deferred[None]:
            """On the reactor thread: busy is read and set there."""
            if svc.busy is not None:
                raise BackupBusy()
            svc.back_up_now(who).addErrback(
                lambda failure: log.failure("the backup asked for failed", failure)
            )
            return defer.succeed(None)

        def work() -> str:
            svc = _service(ctx)
            if svc is None:
                raise f.FormError(i18n._("Backups are not set up on this box."))
            try:
                ctx.call(start, svc)
            except BackupBusy:
                raise f.FormError(i18n._("A backup is being written already.")) from None
            f.audit(ctx, "backup.now", "")
            return i18n._("Backup started: it shows here when it is done.")

        f.finish("/admin/system/", work)

    @page("admin")
    def download(self, name: Any = "") -> Any:
        svc = _service(self.ctx)
        path = svc.path_of(name) if svc is not None and isinstance(name, str) else None
        if path is None:
            raise cherrypy.NotFound()
        f.audit(self.ctx, "backup.download", name)
        return static.serve_file(
            str(path), content_type="application/gzip", disposition="attachment", name=name
        )

    download._cp_config = {"response.stream": True}  # type: ignore[attr-defined]
