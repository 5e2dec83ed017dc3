"""Admin pages for queues: every setting the ACD and the recorder read, and the skills a
queue requires (with minimum levels). Admin only.

A change is checked as a whole (ranges, a strategy the routing engine knows, an overflow
whose kind and target agree, keys of one digit), written, then applied to the running ACD
(acd/live_config.py): calls that join from then on get the new settings.
"""

from __future__ import annotations

import re
from typing import Any

import cherrypy

from acd import live_config
from acd.route import STRATEGIES
from appliance.db.admin_store import AdminStore
from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.db.model import OVERFLOW_KINDS, QUEUE_MEDIA
from webui import admin_forms as f
from webui import i18n
from webui.access import page
from webui.admin_channels import notify
from webui.context import WebContext
from webui.i18n import N_
from webui.render import render

QUEUE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MOH_CLASS = re.compile(r"[A-Za-z0-9_-]{1,32}")
EXTENSION = re.compile(r"[0-9]{1,20}")
KEY = re.compile(r"[0-9]")
# (column, label, low, high): the whole-number settings and their ranges; the labels are
# msgids (N_), translated where shown.
NUMBERS = (
    ("service_level_s", N_("Service level threshold (s)"), 1, 3600),
    ("max_wait_s", N_("Longest wait before overflow (s, 0: none)"), 0, 86400),
    ("wrapup_s", N_("Wrap-up (s)"), 0, 3600),
    ("ring_timeout_s", N_("Ring an agent for (s)"), 5, 300),
    ("max_len", N_("Most callers waiting (0: no limit)"), 0, 10000),
    ("auto_pause_misses", N_("Pause an agent after missed offers (0: never)"), 0, 100),
    ("announce_every_s", N_("Announce position every (s, 0: never)"), 0, 3600),
)
FLAGS = (
    ("join_empty", N_("Callers may wait when no agent is logged in")),
    ("announce_position", N_("Announce the position and expected wait")),
    ("record_calls", N_("Record the calls")),
)


def queue_settings(params: dict[str, Any], queue_id: int | None) -> dict[str, Any]:
    """Every editable column from the form, checked (FormError with the first problem)."""
    out: dict[str, Any] = {
        "display_name": f.text(params, "display_name", i18n._("Display name"), 128),
        "strategy": f.choice(params, "strategy", i18n._("Strategy"), STRATEGIES),
    }
    for column, label, lo, hi in NUMBERS:
        out[column] = f.integer(params, column, i18n._(label), lo, hi)
    for column, _label in FLAGS:
        out[column] = f.checkbox(params, column)
    kind = f.choice(params, "overflow_kind", i18n._("Overflow to"), OVERFLOW_KINDS)
    target_queue = f.optional_id(params, "overflow_queue_id", i18n._("Overflow queue"))
    target = f.text(params, "overflow_target", i18n._("Overflow extension"), 32)
    if kind == "queue":
        if target_queue is None:
            raise f.FormError(i18n._("Overflow to a queue: choose the queue."))
        if target_queue == queue_id:
            raise f.FormError(i18n._("A queue cannot overflow into itself."))
        target = ""
    elif kind == "extension":
        if not EXTENSION.fullmatch(target):
            raise f.FormError(i18n._("Overflow to an extension: 1 to 20 digits."))
        target_queue = None
    else:
        target_queue, target = None, ""
    out.update(overflow_kind=kind, overflow_queue_id=target_queue, overflow_target=target)
    keys = {}
    for column, label in (
        ("callback_key", i18n._("Callback key")),
        ("voicemail_key", i18n._("Voicemail key")),
    ):
        keys[column] = f.matching(
            params, column, label, KEY, i18n._("one digit, or empty for none"), 1
        )
    if keys["callback_key"] and keys["callback_key"] == keys["voicemail_key"]:
        raise f.FormError(i18n._("The callback and voicemail keys must differ."))
    out.update(keys)
    moh = f.matching(
        params,
        "moh_class",
        i18n._("Music on hold class"),
        MOH_CLASS,
        i18n._("letters, digits, '_' or '-'"),
        32,
    )
    out["moh_class"] = moh or "default"
    days = f.text(params, "recording_retention_days", i18n._("Keep recordings (days)"), 6)
    if days and not (days.isascii() and days.isdigit() and int(days) <= 36500):
        raise f.FormError(
            i18n._("Keep recordings (days): 0 (forever) to 36500, or empty for the default.")
        )
    out["recording_retention_days"] = int(days) if days else None
    return out


class QueuesAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.store = AdminStore(ctx.db)
        self.channels = ChannelAdminStore(ctx.db)

    def _reload(self, queue_id: int) -> None:
        acd = self.ctx.acd
        self.ctx.call(lambda: live_config.for_acd(acd).reload_queue(queue_id))

    def _set_media(self, queue_id: int, params: dict[str, Any]) -> str | None:
        """Apply the form's ``media`` (absent: unchanged). A call queue with callers waiting
        keeps taking calls; the store refuses while a flow, an overflow, a topic, an account,
        a route or an open conversation needs the old medium. The old medium when changed."""
        if "media" not in params:
            return None
        media = f.choice(params, "media", i18n._("Takes"), QUEUE_MEDIA)
        current = self.ctx.call(self.channels.queue_media).get(queue_id)
        if current is None or current == media:
            return None
        if current == "call":
            acd = self.ctx.acd

            def waiting() -> int:
                return len(list(acd.router.waiting(queue_id))) if queue_id in acd.queues else 0

            if self.ctx.call_any(waiting):
                raise f.FormError(
                    i18n._("Callers are waiting in this queue: it keeps taking calls for now.")
                )
        return str(self.ctx.call(self.channels.set_queue_media, queue_id, media))

    @page("admin")
    def index(self) -> str:
        queues = self.ctx.call(self.ctx.db.queues.list_all)
        return render(
            self.ctx,
            "admin_queues.html",
            queues=queues,
            strategies=STRATEGIES,
            media=self.ctx.call(self.channels.queue_media),
            all_media=QUEUE_MEDIA,
        )

    @page("admin")
    def edit(self, id: str = "") -> str:
        queue = self.ctx.call(self.store.queue, f.page_id(id))
        if queue is None:
            raise cherrypy.NotFound()
        db = self.ctx.db
        media = self.ctx.call(self.channels.queue_media)
        return render(
            self.ctx,
            "admin_queue.html",
            q=queue,
            strategies=STRATEGIES,
            kinds=OVERFLOW_KINDS,
            all_media=QUEUE_MEDIA,
            numbers=NUMBERS,
            flags=FLAGS,
            # the overflow's choices: the other queues of calls
            queues=[
                x
                for x in self.ctx.call(db.queues.list_all)
                if x.id != queue["id"] and media.get(x.id, "call") == "call"
            ],
            skills=self.ctx.call(db.skills.list_all),
        )

    @page("admin", methods=("POST",))
    def add(self, **params: Any) -> None:
        def work() -> str:
            name = f.matching(
                params,
                "name",
                i18n._("Queue name"),
                QUEUE_NAME,
                i18n._("letters, digits, '.', '_' or '-'"),
                64,
            )
            if not name:
                raise f.FormError(i18n._("{field}: required.").format(field=i18n._("Queue name")))
            display = f.text(params, "display_name", i18n._("Display name"), 128)
            strategy = f.choice(params, "strategy", i18n._("Strategy"), STRATEGIES)
            if "media" in params:
                f.choice(params, "media", i18n._("Takes"), QUEUE_MEDIA)
            # A new queue does not overflow into another until one is chosen.
            q = self.ctx.call(
                self.ctx.db.queues.add,
                name,
                display,
                strategy,
                overflow_kind="hangup",
            )
            changed = self._set_media(q.id, params) is not None
            self._reload(q.id)
            if changed:
                notify(self.ctx, "queues")
            f.audit(self.ctx, "queue.add", f"queue:{q.id}", name=name, strategy=strategy)
            return i18n._("Queue {name} added.").format(name=name)

        f.finish("/admin/queues", work)

    @page("admin", methods=("POST",))
    def save(self, **params: Any) -> None:
        queue_id = f.target_id(params)

        def work() -> str:
            settings = queue_settings(params, queue_id)
            # calls overflow only into a queue of calls (the ACD has no other: the caller
            # would leave its line and find none); a queue that is gone: the store says so
            target = settings["overflow_queue_id"]
            if (
                target is not None
                and self.ctx.call(self.channels.queue_media).get(target, "call") != "call"
            ):
                raise f.FormError(i18n._("Overflow to a queue: choose a queue that takes calls."))
            old_media = self._set_media(queue_id, params)
            self.ctx.call(self.store.update_queue, queue_id, settings)
            self._reload(queue_id)
            notify(self.ctx, "queues")
            media = {"media": params["media"], "old_media": old_media} if old_media else {}
            f.audit(self.ctx, "queue.save", f"queue:{queue_id}", **settings, **media)
            return i18n._("Queue saved.")

        f.finish(f"/admin/queues/edit?id={queue_id}", work)

    @page("admin", methods=("POST",))
    def skill(self, **params: Any) -> None:
        """Require a skill at a minimum level (1-10), change it, or drop it (``remove``)."""
        queue_id = f.target_id(params)

        def work() -> str:
            skill_id = f.row_id(params, "skill_id")
            remove = f.checkbox(params, "remove")
            level = 0 if remove else f.integer(params, "min_level", i18n._("Minimum level"), 1, 10)
            self.ctx.call(self.store.set_queue_skill, queue_id, skill_id, level)
            self._reload(queue_id)
            f.audit(
                self.ctx, "queue.skill", f"queue:{queue_id}", skill_id=skill_id, min_level=level
            )
            return i18n._("Requirement removed.") if remove else i18n._("Requirement saved.")

        f.finish(f"/admin/queues/edit?id={queue_id}", work)
