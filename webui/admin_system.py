"""The system status page: AMI link, FastAGI sessions, trunks and channels, recording disk,
database, and every part's health with the time it last changed. Admin only.

Everything is read on the reactor thread in one go (``status``); the free disk is read in
a thread (``statvfs`` on a busy disk can stall) and the schema revision in the database
pool. ``/api/status`` stays the short version every role may read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.internet import defer, threads

from appliance.db import migrate
from appliance.db.admin_store import AdminStore
from recorder.disk_guard import MB, free_bytes
from webui.access import page
from webui.context import WebContext
from webui.render import render
from webui.system_backup import SystemBackup, backup_card
from webui.system_modem import modem_status
from webui.system_serial import serial_status
from webui.system_spans import spans_status

MAX_CHANNELS_SHOWN = 50


def _channels(ctx: WebContext) -> dict[str, Any]:
    """What the AMI call model knows: live channels by technology (DAHDI/... are the E1 or
    analog trunk channels), the trunk channels in use, and live calls."""
    model = ctx.callmodel
    if model is None or ctx.ami is None:
        return {"known": False, "by_tech": [], "trunk": [], "calls": 0, "total": 0}
    live = [c for c in model.channels.values() if c.hungup_at is None]
    by_tech = Counter(c.name.split("/", 1)[0] for c in live)
    trunk = sorted(c.name for c in live if c.name.startswith("DAHDI/"))
    return {
        "known": True,
        "by_tech": sorted(by_tech.items()),
        "trunk": trunk[:MAX_CHANNELS_SHOWN],
        "trunk_more": max(0, len(trunk) - MAX_CHANNELS_SHOWN),
        "calls": sum(1 for call in model.calls.values() if call.live),
        "total": len(live),
    }


def _fastagi(ctx: WebContext) -> dict[str, Any]:
    server = ctx.fastagi
    if server is None:
        return {"enabled": False}
    factory = server.factory
    return {
        "enabled": True,
        "listening": f"{server.bind}:{server.port_number}",
        "open": len(factory.sessions),
        "running": len(factory.handlers),
        "total": factory.total,
        "refused": factory.refused,
    }


async def status(ctx: WebContext) -> dict[str, Any]:
    """Everything the page shows (on the reactor thread)."""
    parts = {p.name: p for p in ctx.health.parts()}
    ami = ctx.ami
    recorder = ctx.recorder
    out: dict[str, Any] = {
        "overall": ctx.health.overall(),
        "parts": list(parts.values()),
        "ami": {
            "configured": ami is not None,
            "ready": bool(ami is not None and ami.ready),
            "health": parts.get("ami"),
        },
        "fastagi": _fastagi(ctx),
        "channels": _channels(ctx),
        "disk": {
            "root": str(recorder.root),
            "min_free_mb": recorder.settings.min_free_mb,
            "alarm": recorder.guard.alarm,
        },
        "database": {
            "backend": ctx.db.engine.dialect.name,
            "head": migrate.head_revision(),
        },
    }
    out["spans"] = spans_status(ctx)
    out["modem"] = await modem_status(ctx)
    out["backup"] = await backup_card(ctx)
    out["serial"] = serial_status(ctx)
    try:
        out["disk"]["free_mb"] = await threads.deferToThread(free_bytes, recorder.root) // MB
    except OSError as exc:
        out["disk"]["error"] = exc.strerror or str(exc)
    try:
        out["database"]["revision"] = await AdminStore(ctx.db).schema_revision()
    except Exception as exc:  # the page must show a broken database, not fail on it
        out["database"]["error"] = str(exc)[:200]
    return out


class SystemAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.backup = SystemBackup(ctx)  # /admin/system/backup/

    @page("admin")
    def index(self) -> str:
        ctx = self.ctx
        info = self.ctx.call(lambda: defer.ensureDeferred(status(ctx)))
        return render(self.ctx, "admin_system.html", s=info)
