"""The desk's chat endpoints (mounted by webui/desk_chat/site.py): what an agent does with its
conversations, what a supervisor does with any, and what the desk reads beside them.

An agent acts only on its own conversations: those the engine lists for it now (offered,
active, in wrap-up); it reads (history, files, context, canned replies, suggestions,
tickets) those and the ones it had before (the database says so). A supervisor or an admin
reads any and may join or write in any; 403 otherwise, 404 for one that does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import sqlalchemy as sa

from appliance import uploads
from appliance.crm import timeline
from appliance.crm.customer_store import CustomerStore
from appliance.crm.tickets.store import TicketStore
from appliance.db import model
from appliance.db.components import utcnow
from appliance.db.conversation_store import ConversationStore
from appliance.kb.store import KBStore
from appliance.text import N_
from webui.desk_chat import reads
from webui.desk_chat.site import (
    HISTORY_LIMIT,
    MAX_ATTACHMENTS,
    MAX_FILE_NAME,
    MAX_NOTE,
    MAX_TEXT,
    OPEN_TICKETS,
    RECENT_LINES,
    SUGGESTIONS,
    TIMELINE_ITEMS,
    Asker,
    DeskError,
    FileAnswer,
    _flag,
    _id,
    _text,
    in_language,
)

if TYPE_CHECKING:
    from acd.channels.conversation import Conversation, Message
    from webui.desk_chat.site import DeskChatRoot

Route = tuple[Callable[[Asker], Coroutine[Any, Any, Any]], bytes, tuple[str, ...], bool]
SUPERVISING = ("admin", "supervisor")
EXCERPT = 300  # characters of an article a suggestion's click inserts


def _store_body(
    content: BinaryIO, limit: int, store: uploads.UploadStore, name: str
) -> uploads.StoredFile | None:
    """The request body stored as a file (disk work: in a thread), None past ``limit``."""
    data = content.read(limit + 1)
    if len(data) > limit:
        return None
    return store.put(data, name)


def message_json(m: Message) -> dict[str, Any]:
    return {**m.to_dict(), "conversation": m.conversation_id}


def conversation_json(c: Conversation, queue_name: str = "") -> dict[str, Any]:
    return {**c.to_dict(), "queue": queue_name}


class DeskChatApi:
    """The handlers; each takes the checked ``Asker`` and runs on the reactor."""

    def __init__(self, root: DeskChatRoot) -> None:
        self.root = root

    def routes(self) -> dict[str, Route]:
        post, get = b"POST", b"GET"
        agent: tuple[str, ...] = ()  # any logged-in user with an agent (checked inside)
        return {
            "accept": (self.accept, post, agent, False),
            "decline": (self.decline, post, agent, False),
            "send": (self.send, post, agent, False),
            "typing": (self.typing, post, agent, False),
            "read": (self.read, post, agent, False),
            "transfer": (self.transfer, post, agent, False),
            "end": (self.end, post, agent, False),
            "wrapup-done": (self.wrapup_done, post, agent, False),
            "attach": (self.attach, post, agent, True),
            "ticket": (self.ticket, post, agent, False),
            "join": (self.join, post, SUPERVISING, False),
            "say": (self.say, post, SUPERVISING, False),
            "conversations": (self.conversations, get, agent, False),
            "history": (self.history, get, agent, False),
            "file": (self.file, get, agent, False),
            "canned": (self.canned, get, agent, False),
            "suggest": (self.suggest, get, agent, False),
            "context": (self.context, get, agent, False),
            "targets": (self.targets, get, agent, False),
        }

    # ---- plumbing --------------------------------------------------------------------

    @property
    def channels(self) -> Any:
        if self.root.channels is None:
            raise DeskError(503, N_("chats and e-mails are not running"))
        return self.root.channels

    @cached_property
    def tickets(self) -> TicketStore:
        return TicketStore(self.root.db, bus=self.root.bus)

    @cached_property
    def customers(self) -> CustomerStore:
        crm = self.root.config.crm
        return CustomerStore(
            self.root.db, country_code=crm.country_code, trunk_prefix=crm.trunk_prefix
        )

    @cached_property
    def kb(self) -> KBStore:
        return KBStore(self.root.db)

    def _agent(self, asker: Asker) -> int:
        if asker.agent_id is None:
            raise DeskError(403, N_("this login is not an agent's"))
        return asker.agent_id

    def _mine(self, asker: Asker, key: str = "conversation") -> tuple[int, int]:
        """(agent id, conversation id) for an action: the conversation is the agent's now."""
        agent_id = self._agent(asker)
        cid = _id(asker.body.get(key), "conversation")
        if not self.channels.holds(agent_id, cid):
            raise DeskError(403, N_("conversation {id} is not yours", id=cid))
        return agent_id, cid

    async def _readable(self, asker: Asker, cid: int) -> reads.ConversationFacts:
        """The conversation's row when the asker may read it (see the module's docstring)."""
        facts: reads.ConversationFacts | None = await self.root.db.read(
            lambda conn: reads.conversation(conn, cid)
        )
        if facts is None:
            raise DeskError(404, N_("no conversation {id}", id=cid))
        if asker.supervising:
            return facts
        agent_id = self._agent(asker)
        if self.root.channels is not None and self.root.channels.holds(agent_id, cid):
            return facts
        if await self.root.db.read(lambda conn: reads.had_it(conn, cid, agent_id)):
            return facts
        raise DeskError(403, N_("conversation {id} is not yours", id=cid))

    def _path_id(self, asker: Asker) -> int:
        rest = [p for p in asker.request.postpath if p]
        if len(rest) != 1:
            raise DeskError(404, N_("There is no such page."))
        return _id(rest[0].decode("ascii", "replace"), "conversation")

    def _query_id(self, asker: Asker) -> int:
        return _id(asker.arg("conversation"), "conversation")

    def _audit(self, asker: Asker, action: str, target: str, detail: dict[str, Any]) -> None:
        d = self.root.db.audit.add(asker.username, action, target, detail, asker.ip)
        d.addErrback(lambda f: self._log_failure(f, action))

    @staticmethod
    def _log_failure(failure: Any, action: str) -> None:
        from webui.desk_chat.site import log

        log.failure("{action} not audited", failure, action=action)

    def _queue_name(self, queue_id: int | None) -> str:
        return self._queue_names().get(queue_id, "") if queue_id is not None else ""

    def _queue_names(self) -> dict[int | None, str]:
        acd = self.root.acd
        names: dict[int | None, str] = {}
        # the call queues and the chat and e-mail ones (the ACD holds both, apart)
        for q in list(getattr(acd, "queues", {}).values()) + list(
            getattr(acd, "channel_queues", {}).values()
        ):
            names[q.id] = q.display_name or q.name
        return names

    # ---- an agent's actions ----------------------------------------------------------

    async def accept(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        await self.channels.accept(agent_id, cid)
        return {"ok": True}

    async def decline(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        await self.channels.decline(agent_id, cid)
        return {"ok": True}

    async def send(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        text = _text(asker.body, "text", MAX_TEXT)
        files = asker.body.get("attachments", [])
        if not isinstance(files, list) or len(files) > MAX_ATTACHMENTS:
            raise DeskError(
                400, N_("attachments must be a list of at most {n} ids", n=MAX_ATTACHMENTS)
            )
        ids = [_id(f, "attachment") for f in files]
        if not text.strip() and not ids:
            raise DeskError(400, N_("{name} is required", name="text"))
        if ids:
            await self._own_files(cid, ids)
        message = await self.channels.agent_says(agent_id, cid, text, ids)
        return message_json(message)

    async def _own_files(self, cid: int, ids: list[int]) -> None:
        for attachment_id in ids:
            row = await self.root.db.read(lambda conn, i=attachment_id: reads.attachment(conn, i))
            if row is None or row.conversation_id != cid:
                raise DeskError(
                    400, N_("no attachment {id} in this conversation", id=attachment_id)
                )

    async def typing(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        self.channels.agent_typing(agent_id, cid, _flag(asker.body, "typing"))
        return {"ok": True}

    async def read(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        await self.channels.agent_read(agent_id, cid, _id(asker.body.get("up_to"), "message"))
        return {"ok": True}

    async def transfer(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        to_agent = asker.body.get("to_agent")
        to_queue = asker.body.get("to_queue")
        if (to_agent is None) == (to_queue is None):
            raise DeskError(400, N_("transfer to an agent or to a queue"))
        note = _text(asker.body, "note", MAX_NOTE)
        await self.channels.transfer(
            agent_id,
            cid,
            to_agent_id=_id(to_agent, "agent") if to_agent is not None else None,
            to_queue_id=_id(to_queue, "queue") if to_queue is not None else None,
            note=note,
        )
        return {"ok": True}

    async def end(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        await self.channels.end(agent_id, cid)
        return {"ok": True}

    async def wrapup_done(self, asker: Asker) -> dict[str, Any]:
        agent_id, cid = self._mine(asker)
        self.channels.wrapup_done(agent_id, cid)
        return {"ok": True}

    async def attach(self, asker: Asker) -> dict[str, Any]:
        """The body is the file itself; ``?conversation=<id>&name=<file name>``. Its type is
        read from its content (appliance/uploads.py); the row waits for ``send``."""
        agent_id = self._agent(asker)
        cid = self._query_id(asker)
        if not self.channels.holds(agent_id, cid):
            raise DeskError(403, N_("conversation {id} is not yours", id=cid))
        raw_name = (asker.request.args.get(b"name") or [b"file"])[0][: MAX_FILE_NAME * 4]
        name = raw_name.decode("utf-8", "replace")[:MAX_FILE_NAME] or "file"
        limit = self.root.config.chat.max_attachment_kb * 1024
        store = uploads.UploadStore(self.root.upload_root)
        # the body is a temporary file past 100 KB: read and stored off the reactor
        stored: uploads.StoredFile | None = await self.root.in_thread(
            _store_body, asker.request.content, limit, store, name
        )
        if stored is None:
            raise DeskError(413, N_("the file is larger than {kb} KB", kb=limit // 1024))
        row = await ConversationStore(self.root.db).add_attachment(
            cid,
            file_name=stored.filename,
            content_type=stored.mime,
            size=stored.size,
            sha256=stored.sha256,
            created_at=utcnow(),
        )
        return row.to_dict()

    async def ticket(self, asker: Asker) -> dict[str, Any]:
        """One click: a ticket of source chat/email holding the transcript, the agent's,
        linked on the conversation (a second click answers the first ticket)."""
        cid = _id(asker.body.get("conversation"), "conversation")
        facts = await self._readable(asker, cid)
        if facts.ticket_id is not None:
            return await self._ticket_answer(facts.ticket_id, created=False)
        lines = await self.root.db.read(lambda conn: reads.lines(conn, cid))
        body = reads.transcript(facts, lines, asker.tr(N_("internal")))
        kind = await self.root.db.read(reads.ticket_type)
        number = None
        if asker.agent_id is not None:
            agent_id = asker.agent_id
            number = await self.root.db.read(lambda conn: reads.agent_number(conn, agent_id))
        who = facts.name or facts.email or facts.phone or "?"
        default = (
            N_("E-mail from {name}", name=who)
            if facts.media == "email"
            else N_("Chat with {name}", name=who)
        )
        subject = (facts.subject if facts.media == "email" and facts.subject else "") or asker.tr(
            default
        )
        ticket_id: int = await self.tickets.create(
            asker.username,
            type_key=kind,
            subject=subject[:200],
            body=body,
            customer_id=facts.customer_id,
            source=facts.media,
            assignee_kind="agent" if number else None,
            assignee=number or "",
        )
        linked = await self.root.db.run(
            lambda conn: reads.link_ticket(conn, cid, ticket_id, asker.agent_id, asker.username)
        )
        if not linked:  # another click won: the conversation keeps its first ticket
            again = await self.root.db.read(lambda conn: reads.conversation(conn, cid))
            first = again.ticket_id if again is not None else None
            return await self._ticket_answer(first or ticket_id, created=False)
        return await self._ticket_answer(ticket_id, created=True)

    async def _ticket_answer(self, ticket_id: int, created: bool) -> dict[str, Any]:
        """The ticket's id, its number (what the desk shows: the id means nothing to a
        person) and its page."""
        number = await self.root.db.read(lambda conn: reads.ticket_number(conn, ticket_id))
        return {
            "ticket_id": ticket_id,
            "number": number,
            "created": created,
            "url": _ticket_url(ticket_id),
        }

    # ---- a supervisor's ------------------------------------------------------------

    async def join(self, asker: Asker) -> dict[str, Any]:
        cid = _id(asker.body.get("conversation"), "conversation")
        await self.channels.join(asker.username, cid)
        self._audit(asker, "chat.join", f"conversation:{cid}", {})
        return {"ok": True}

    async def say(self, asker: Asker) -> dict[str, Any]:
        cid = _id(asker.body.get("conversation"), "conversation")
        text = _text(asker.body, "text", MAX_TEXT, required=True)
        internal = _flag(asker.body, "internal")
        message = await self.channels.supervisor_says(asker.username, cid, text, internal)
        self._audit(asker, "chat.say", f"conversation:{cid}", {"internal": internal})
        return message_json(message)

    # ---- reads -----------------------------------------------------------------------

    async def conversations(self, asker: Asker) -> dict[str, Any]:
        """The agent's open conversations with their last lines, and its load."""
        agent_id = self._agent(asker)
        channels = self.channels
        mine = channels.conversations_of(agent_id)
        names = self._queue_names()
        out = []
        for c in mine:
            lines = await channels.history(c.id, limit=RECENT_LINES)
            out.append(
                {
                    **conversation_json(c, names.get(c.queue_id, "")),
                    "messages": [message_json(m) for m in lines],
                    "offer_left_s": channels.offer_left_s(c.id),  # None unless offered
                }
            )
        load = channels.load(agent_id)
        return {
            "agent": agent_id,
            "offer_timeout_s": self.root.config.chat.offer_timeout_s,
            "conversations": out,
            "load": {
                "open": load.open,
                "capacity": load.capacity,
                "on_call": load.on_call,
                "may_take": load.may_take,
            },
        }

    async def history(self, asker: Asker) -> dict[str, Any]:
        cid = self._path_id(asker)
        facts = await self._readable(asker, cid)
        messages = await self.channels.history(cid, limit=HISTORY_LIMIT)
        return {
            "conversation": _facts_json(facts, self._queue_name(facts.queue_id)),
            "messages": [message_json(m) for m in messages],
        }

    async def file(self, asker: Asker) -> FileAnswer:
        rest = [p for p in asker.request.postpath if p]
        if len(rest) != 1:
            raise DeskError(404, N_("There is no such page."))
        attachment_id = _id(rest[0].decode("ascii", "replace"), "attachment")
        row = await self.root.db.read(lambda conn: reads.attachment(conn, attachment_id))
        if row is None:
            raise DeskError(404, N_("no attachment {id}", id=attachment_id))
        await self._readable(asker, row.conversation_id)
        path = uploads.UploadStore(self.root.upload_root).path(row.sha256)
        if path is None:
            raise DeskError(404, N_("no attachment {id}", id=attachment_id))
        opened: tuple[BinaryIO, int] = await self.root.in_thread(_open_sized, path)
        from webui.ticket_files import disposition

        return FileAnswer(opened[0], opened[1], row.content_type, disposition(row.file_name))

    async def canned(self, asker: Asker) -> dict[str, Any]:
        """The canned replies for the conversation's topic, its queue and everyone's, with
        their variables filled for it (acd/channels/canned.py)."""
        from acd.channels import canned

        cid = self._query_id(asker)
        facts = await self._readable(asker, cid)
        rows = await self.root.db.read(
            lambda conn: reads.canned(conn, facts.topic_id, facts.queue_id, facts.language)
        )
        agent_name = asker.session.user.display_name if asker.session.user else ""
        values = {
            "customer_name": facts.name,
            "agent_name": agent_name or asker.username,
            "reference": str(facts.id),
            "topic": await self._topic_label(facts),
            "queue": self._queue_name(facts.queue_id),
        }
        return {
            "replies": [
                {
                    "id": r.id,
                    "title": r.title,
                    "scope": r.scope,
                    "language": r.language,
                    "text": canned.fill(r.body, values),
                }
                for r in rows
            ]
        }

    async def _topic_label(self, facts: reads.ConversationFacts) -> str:
        if facts.topic_id is None:
            return ""
        t = model.chat_topics.c
        topic_id = facts.topic_id
        row = await self.root.db.read(
            lambda conn: conn.execute(
                sa.select(t.name, t.label_zh, t.label_en).where(t.id == topic_id)
            ).first()
        )
        if row is None:
            return ""
        zh = facts.language.lower().startswith("zh")
        return str((row.label_zh if zh else row.label_en) or row.label_en or row.name)

    async def suggest(self, asker: Asker) -> dict[str, Any]:
        """KB articles for the customer's last lines (each word looked up in the full-text
        index), then those linked to the conversation's queue."""
        cid = self._query_id(asker)
        facts = await self._readable(asker, cid)
        found = await self.root.db.read(lambda conn: reads.suggest(conn, cid, SUGGESTIONS))
        out = [
            {"id": i, "title": title, "lang": lang, "url": f"/kb/article?id={i}", "why": "words"}
            for i, title, lang in found
        ]
        if len(out) < SUGGESTIONS and facts.queue_id is not None:
            seen = {s["id"] for s in out}
            for a in await self.kb.suggest(queue_id=facts.queue_id, limit=SUGGESTIONS):
                if a.id not in seen and len(out) < SUGGESTIONS:
                    out.append(
                        {
                            "id": a.id,
                            "title": a.title,
                            "lang": a.lang,
                            "url": f"/kb/article?id={a.id}",
                            "why": "queue",
                        }
                    )
        for s in out:  # what a click puts in the reply: the live version's opening text
            article = await self.kb.get(s["id"])
            text = " ".join(article.text.split()) if article is not None and article.live else ""
            s["excerpt"] = text[:EXCERPT] + ("…" if len(text) > EXCERPT else "")
        return {"suggestions": out}

    async def context(self, asker: Asker) -> dict[str, Any]:
        """The customer's card, its timeline's newest items and its open tickets."""
        from webui.customer_pages import KIND_NAMES, item_link, state_text
        from webui.desk_crm_api import ticket_json

        cid = self._path_id(asker)
        facts = await self._readable(asker, cid)
        if facts.customer_id is None:
            return {"customer": None, "timeline": [], "open_tickets": []}
        customer = await self.customers.get(facts.customer_id)
        if customer is None:
            return {"customer": None, "timeline": [], "open_tickets": []}
        crm = self.root.config.crm
        items = await timeline.timeline(
            self.root.db,
            customer.id,
            limit=TIMELINE_ITEMS,
            country_code=crm.country_code,
            trunk_prefix=crm.trunk_prefix,
        )
        open_tickets = await self.tickets.open_for_customer(customer.id, limit=OPEN_TICKETS)
        now = utcnow()
        with in_language(asker.locale):
            return {
                "customer": {
                    "id": customer.id,
                    "name": customer.name,
                    "class": customer.customer_class,
                    "email": customer.email,
                    "numbers": list(customer.numbers),
                    "url": f"/customers/view?id={customer.id}",
                },
                "timeline": [
                    {
                        "at": item.at.isoformat(),
                        "kind": item.kind,
                        "kind_name": asker.tr(KIND_NAMES.get(item.kind, item.kind)),
                        "title": asker.tr(item.title),
                        "detail": asker.tr(item.detail),
                        "state": state_text(item.state_table, item.state),
                        "link": item_link(item, asker.role),
                    }
                    for item in items
                ],
                "open_tickets": [ticket_json(t, now) for t in open_tickets],
            }

    async def targets(self, asker: Asker) -> dict[str, Any]:
        """Where a conversation may be transferred: the queues of its medium and the agents
        logged in (with their load)."""
        agent_id = self._agent(asker)
        cid = self._query_id(asker)
        if not self.channels.holds(agent_id, cid):
            raise DeskError(403, N_("conversation {id} is not yours", id=cid))
        facts = await self._readable(asker, cid)
        q = model.queues.c
        media = facts.media
        rows = await self.root.db.read(
            lambda conn: list(
                conn.execute(
                    sa.select(q.id, q.name, q.display_name).where(q.media == media).order_by(q.name)
                )
            )
        )
        agents = []
        for a in sorted(getattr(self.root.acd, "agents", {}).values(), key=lambda a: a.number):
            if a.id == agent_id or a.state == "logged_out":
                continue
            load = self.channels.load(a.id)
            agents.append(
                {
                    "id": a.id,
                    "number": a.number,
                    "name": a.name,
                    "open": load.open,
                    "capacity": load.capacity,
                    "may_take": load.may_take,
                }
            )
        return {
            "queues": [{"id": r.id, "name": r.display_name or r.name} for r in rows],
            "agents": agents,
        }


def _open_sized(path: Path) -> tuple[BinaryIO, int]:
    """The file open for reading and its size (disk work: in a thread)."""
    f = path.open("rb")
    return f, os.fstat(f.fileno()).st_size


def _ticket_url(ticket_id: int) -> str:
    return f"/tickets/view?id={ticket_id}"


def _facts_json(f: reads.ConversationFacts, queue: str) -> dict[str, Any]:
    return {
        "id": f.id,
        "media": f.media,
        "state": f.state,
        "queue_id": f.queue_id,
        "queue": queue,
        "topic_id": f.topic_id,
        "agent_id": f.agent_id,
        "customer_id": f.customer_id,
        "ticket_id": f.ticket_id,
        "name": f.name,
        "phone": f.phone,
        "email": f.email,
        "subject": f.subject,
        "language": f.language,
        "created_at": f.created_at.isoformat(),
    }
