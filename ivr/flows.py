"""Saving, checking and publishing flows: what the editor and the API call.

Every save is a new version (who, when, what changed); publishing validates the version
against what exists on the box now, renders its TTS prompts, and only then makes it the
one new calls run. Rolling back is publishing an older version (validated again: a queue
it names may have gone since).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.db.ivr_store import FlowRow, NotFound
from appliance.text import N_
from ivr.flow_model import parse
from ivr.prompt_library import SYSTEM_SOUNDS
from ivr.validator import Catalog, Problem, validate

if TYPE_CHECKING:
    from ivr.services import IVRServices

MAX_DOC_BYTES = 512 * 1024
FLOW_NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"


class FlowError(ValueError):
    """A request the flow service refuses (bad name, unknown flow or version)."""


def check_name(name: str) -> str:
    if not (1 <= len(name) <= 64 and all(c in FLOW_NAME_CHARS for c in name)):
        raise FlowError(N_("a flow name is 1-64 of a-z, 0-9, - and _"))
    return name


class FlowService:
    def __init__(self, services: IVRServices) -> None:
        self.services = services

    async def catalog(self) -> Catalog:
        db, acd = self.services.db, self.services.acd
        if acd is not None:
            queues = {q.name for q in acd.queues.values()}
        else:
            queues = {q.name for q in await db.queues.list_all()}
        return Catalog(
            prompts=frozenset(await db.ivr.prompt_names()) | SYSTEM_SOUNDS,
            queues=frozenset(queues),
            mailboxes=frozenset(m.number for m in await db.voicemail.mailboxes()),
            flows=frozenset(await db.ivr.flow_names()),
        )

    async def check(self, doc: Any, flow_name: str = "") -> list[Problem]:
        return validate(doc, await self.catalog(), flow_name)

    async def create(
        self, name: str, doc: dict[str, Any], author: str, description: str = ""
    ) -> FlowRow:
        check_name(name)
        parse(doc)  # the shape at least (FlowFormatError); drafts may be incomplete
        return await self.services.db.ivr.create_flow(name, doc, author, description[:255])

    async def save(self, flow_id: int, doc: dict[str, Any], author: str) -> int:
        parse(doc)
        try:
            return await self.services.db.ivr.save_flow(flow_id, doc, author)
        except NotFound as exc:
            raise FlowError(str(exc)) from None

    async def publish(self, flow_id: int, version: int, author: str) -> list[Problem]:
        """Publish ``version`` if it passes; its problems otherwise (nothing changes)."""
        db = self.services.db
        try:
            found = await db.ivr.version(flow_id, version)
        except NotFound as exc:
            raise FlowError(str(exc)) from None
        problems = await self.check(found.graph, found.flow_name)
        if problems:
            return problems
        try:
            await self.services.prompts.render_flow(parse(found.graph))
        except RuntimeError as exc:
            return [Problem(None, N_("text-to-speech failed: {why}"), {"why": str(exc)})]
        await db.ivr.publish(flow_id, version, author)
        return []
