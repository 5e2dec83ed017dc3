"""The desk's chat stream and API (``/chat-desk``) over real loopback HTTP, with the real
channels' engine (acd/channels/service.py) and the real ACD on a migrated SQLite database.

Who may do what (no cookie 401, a wrong CSRF token or another site's Origin 403, an agent
acting on or reading another agent's conversation 403, an agent joining as a supervisor
403); a line the agent sends reaches the customer's listener and a customer's line reaches
the agent's stream, read over HTTP, in Chinese; a ticket made of a chat; canned replies
with their variables filled; KB suggestions and the customer's context; attachments; a
supervisor's watch, audited.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import json
import threading
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, endpoints, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from acd.channels.service import ChannelService
from acd.service import ACD
from appliance.cli import resolved
from appliance.config import AmiConfig, ChatConfig, Config, FastAgiConfig, WebConfig
from appliance.crm.customer_store import CustomerStore
from appliance.db import model
from appliance.db.connector import DatabaseStopped
from appliance.eventbus import EventBus
from appliance.kb.store import KBStore
from tests.support.inline_db import inline_db
from tests.support.sse_client import RawClient, until
from tests.support.tmp import temp_dir
from webui.desk_chat.site import ApiResource, DeskChatRoot
from webui.sessions import SessionStore, SessionUser

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


class DeskChatApiTests(unittest.TestCase):
    def setUp(self) -> defer.Deferred[None]:
        return defer.ensureDeferred(self._setUp())

    async def _setUp(self) -> None:
        tmp = temp_dir(self)
        ctx = inline_db(tmp / "desk.sqlite")
        db = self.db = ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)
        queue = resolved(db.queues.add("web"))
        self.queue_id = queue.id
        resolved(
            db.run(
                lambda c: c.execute(
                    model.queues.update().where(model.queues.c.id == queue.id).values(media="chat")
                )
            )
        )
        self.topic_id = self._insert(
            model.chat_topics,
            name="billing",
            label_zh="账单",
            label_en="Billing",
            queue_id=queue.id,
        )
        self.agent: dict[str, int] = {}
        self.user: dict[str, int] = {}
        for number, login in (("1001", "ann"), ("1002", "bob")):
            agent = resolved(db.agents.add(number, login.title(), "", f"PJSIP/{number}"))
            user = resolved(db.users.add(login, "Desk-Chat-Test-9!", "agent", login.title()))
            resolved(db.agents.link_user(agent.id, user.id))
            resolved(db.agents.set_member(queue.id, agent.id))
            self.agent[login] = agent.id
            self.user[login] = user.id
        self.user["sue"] = resolved(
            db.users.add("sue", "Desk-Chat-Test-9!", "supervisor", "Sue")
        ).id
        self.bus = EventBus()
        self.acd = ACD(reactor, db, self.bus)
        await defer.maybeDeferred(self.acd.startService)
        self.addCleanup(self.acd.stopService)
        config = Config(
            path=tmp / "ccbox.conf",
            data_dir=tmp,
            locale="en",
            log_level="info",
            database_url="sqlite://",
            ami=AmiConfig("127.0.0.1", 5038, "x", "y", enabled=False),
            fastagi=FastAgiConfig("127.0.0.1", 4573, enabled=False),
            web=WebConfig("127.0.0.1", 0, 60, False),
            recording_dir=tmp / "recordings",
            chat=ChatConfig(offer_timeout_s=60),
        )
        self.channels = ChannelService(
            reactor=reactor, db=db, acd=self.acd, bus=self.bus, config=config.chat
        )
        await defer.maybeDeferred(self.channels.startService)
        self.addCleanup(self.channels.stopService)
        self.sessions = SessionStore(idle_seconds=3600)
        acd = self.acd

        def agent_of_user(user_id: int) -> int | None:
            agent = acd.agent_of_user(user_id)
            return agent.id if agent is not None else None

        self.root = DeskChatRoot(
            reactor=reactor,
            db=db,
            channels=self.channels,
            sessions=self.sessions,
            agent_of_user=agent_of_user,
            acd=self.acd,
            config=config,
            bus=self.bus,
        )
        self.root.start()
        self.addCleanup(self.root.stop)
        site_root = resource.Resource()
        site_root.putChild(b"chat-desk", self.root)
        self.port = reactor.listenTCP(0, server.Site(site_root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.host = f"127.0.0.1:{self.port.getHost().port}"
        self.clients: list[RawClient] = []
        self.customer_events: list[dict[str, Any]] = []
        self.acd.login(self.agent["ann"])
        self.acd.unpause(self.agent["ann"]) if self.acd.agent(
            self.agent["ann"]
        ).state == "paused" else None

    def tearDown(self) -> defer.Deferred[Any]:
        waits = []
        for c in self.clients:
            if c.transport is not None and c.transport.connected:
                c.transport.loseConnection()
                waits.append(c.lost)
        return defer.DeferredList(waits)

    # ---- helpers -------------------------------------------------------------------------

    def _insert(self, table: sa.Table, **values: Any) -> int:
        def thd(conn: sa.Connection) -> int:
            key = conn.execute(table.insert().values(**values)).inserted_primary_key
            assert key is not None
            return int(key[0])

        return int(resolved(self.db.run(thd)))

    def login(self, name: str, role: str = "agent") -> tuple[str, str]:
        session, _new = self.sessions.get_or_create(None)
        session.user = SessionUser(self.user[name], name, role, name.title())
        return session.id, session.csrf_token

    async def send(
        self,
        method: str,
        path: str,
        who: tuple[str, str] | None = None,
        body: Any = None,
        *,
        csrf: str | None = None,
        origin: str | None = "same",
        raw: bytes | None = None,
        content_type: str = "application/octet-stream",
        accept: str | None = "text/event-stream",
    ) -> RawClient:
        data = raw if raw is not None else b""
        lines = [f"{method} /chat-desk/{path} HTTP/1.1", f"Host: {self.host}", "Connection: close"]
        if path.startswith("stream") and accept is not None:
            lines.append(f"Accept: {accept}")  # an EventSource's
        if who is not None:
            lines.append(f"Cookie: ccbox_session={who[0]}")
            if method == "POST":
                lines.append(f"X-CSRF-Token: {who[1] if csrf is None else csrf}")
        if origin is not None and method == "POST":
            lines.append(f"Origin: {'http://' + self.host if origin == 'same' else origin}")
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            lines.append("Content-Type: application/json")
        elif raw is not None:
            lines.append(f"Content-Type: {content_type}")
        if method == "POST":
            lines.append(f"Content-Length: {len(data)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + data
        client = RawClient(request)
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        await endpoints.connectProtocol(endpoint, client)
        self.clients.append(client)
        await client.lost
        return client

    async def api(
        self, method: str, path: str, who: tuple[str, str] | None, body: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        c = await self.send(method, "api/" + path, who, body, **kw)
        ctype = c.headers.get("content-type", "")
        return c.status, json.loads(c.body) if ctype.startswith("application/json") else c.body

    async def stream(self, who: tuple[str, str], query: str = "") -> RawClient:
        lines = [
            f"GET /chat-desk/stream{query} HTTP/1.1",
            f"Host: {self.host}",
            f"Cookie: ccbox_session={who[0]}",
            "Accept: text/event-stream",  # as an EventSource sends it
        ]
        client = RawClient(("\r\n".join(lines) + "\r\n\r\n").encode())
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        await endpoints.connectProtocol(endpoint, client)
        self.clients.append(client)
        await until(lambda: b"\r\n\r\n" in client.raw, "the stream's head")
        return client

    async def chat(self, name: str = "王小明", customer_id: int | None = None) -> int:
        """A visitor's chat, with the customer's listener recording what it gets."""
        conversation = await self.channels.start_chat(
            topic_id=self.topic_id,
            name=name,
            phone="13800138000",
            email="",
            language="zh_CN",
            origin="https://shop.example",
            customer_id=customer_id,
        )
        self.channels.subscribe_conversation(
            conversation.id, self.customer_events.append, "customer"
        )
        return conversation.id

    async def accepted_chat(self, ann: tuple[str, str], **kw: Any) -> int:
        cid = await self.chat(**kw)
        await until(
            lambda: any(c.id == cid for c in self.channels.conversations_of(self.agent["ann"])),
            "the offer to ann",
        )
        c = await self.send("POST", "api/accept", ann, {"conversation": cid})
        self.assertEqual(c.status, 200, c.body)
        # the answer goes whole with its length, not as a chunk and a last chunk (two writes)
        self.assertEqual(c.headers.get("content-length"), str(len(c.body)))
        self.assertNotIn("transfer-encoding", c.headers)
        return cid

    # ---- who may do what ------------------------------------------------------------------

    async def test_no_cookie_401_wrong_token_or_another_sites_origin_403(self) -> None:
        ann = self.login("ann")
        cid = await self.chat()
        status, body = await self.api("GET", "conversations", None)
        self.assertEqual((status, body), (401, {"error": "not logged in"}))
        status, _ = await self.api(
            "POST", "accept", ("forged-" + "x" * 40, "t"), {"conversation": cid}
        )
        self.assertEqual(status, 401)
        stream = await self.send("GET", "stream", None)
        self.assertEqual(stream.status, 401)
        for kw in ({"csrf": ""}, {"csrf": "wrong"}, {"origin": "https://evil.example"}):
            status, body = await self.api("POST", "accept", ann, {"conversation": cid}, **kw)
            self.assertEqual(status, 403, kw)
            self.assertIn("expired", body["error"])
        status, _ = await self.api("GET", "accept", ann)
        self.assertEqual(status, 405)
        status, body = await self.api("POST", "accept", ann, None, raw=b"{}")
        self.assertEqual(status, 415)
        status, body = await self.api("POST", "accept", ann, {"conversation": "1; DROP"})
        self.assertEqual(status, 400)
        deep = await self.send(
            "POST",
            "api/accept",
            ann,
            None,
            raw=b"[" * 30_000 + b"]" * 30_000,
            content_type="application/json",
        )
        self.assertEqual(deep.status, 400)
        big = await self.send(
            "POST",
            "api/accept",
            ann,
            None,
            raw=b'{"c": "' + b"x" * 70_000 + b'"}',
            content_type="application/json",
        )
        self.assertEqual(big.status, 413)
        for raw in (b"\xff\xfe{}", b"[1]", b"null"):
            c = await self.send(
                "POST", "api/accept", ann, None, raw=raw, content_type="application/json"
            )
            self.assertEqual(c.status, 400, raw)
        # the right token from this site's page: the offer is taken
        await until(lambda: self.channels.conversations_of(self.agent["ann"]), "the offer")
        status, body = await self.api("POST", "accept", ann, {"conversation": cid})
        self.assertEqual((status, body), (200, {"ok": True}))

    async def test_a_stop_waits_for_the_calls_running_and_refuses_new_ones(self) -> None:
        """The web service stops before the engines and the database: a desk call running on
        the reactor must finish first, and one arriving during the stop gets 503."""
        ann = self.login("ann")
        held: defer.Deferred[None] = defer.Deferred()
        reached: defer.Deferred[None] = defer.Deferred()

        async def slow(asker: Any) -> dict[str, Any]:
            reached.callback(None)
            await held
            return {"ok": True}

        self.root.api.putChild(b"slow", ApiResource(self.root, slow, b"GET"))
        running = defer.ensureDeferred(self.api("GET", "slow", ann))
        await reached
        stopped = self.root.stop()
        self.assertFalse(stopped.called)
        refused = await self.send("GET", "api/conversations", ann)
        self.assertEqual(refused.status, 503)
        self.assertIn("restarting", json.loads(refused.body)["error"])
        self.assertEqual(refused.headers["retry-after"], "10")
        self.assertFalse(stopped.called)
        held.callback(None)
        self.assertEqual(await running, (200, {"ok": True}))
        self.assertEqual(await stopped, 0)

    async def test_a_call_the_stopped_database_cuts_short_answers_503_to_retry(self) -> None:
        """The stop's wait for a call ran out and the database refused it: the call was
        not wrong, the box is restarting (not a 500 with a traceback)."""
        ann = self.login("ann")

        async def cut(asker: Any) -> dict[str, Any]:
            raise DatabaseStopped("the database is stopping")

        self.root.api.putChild(b"cut", ApiResource(self.root, cut, b"GET"))
        c = await self.send("GET", "api/cut", ann)
        self.assertEqual(c.status, 503)
        self.assertIn("restarting", json.loads(c.body)["error"])
        self.assertEqual(c.headers["retry-after"], "10")

    async def test_every_path_refuses_a_request_without_a_session(self) -> None:
        names = sorted(n.decode() for n in self.root.api.children)
        self.assertGreaterEqual(len(names), 19)
        ann = self.login("ann")
        for path in ["", "api", "api/nope", "stream", *(f"api/{n}" for n in names)]:
            for method in ("GET", "POST"):
                c = await self.send(method, path, None, {} if method == "POST" else None)
                self.assertEqual(c.status, 401, f"{method} /chat-desk/{path}")
        for path in ("", "api", "api/nope", "nope"):
            c = await self.send("GET", path, ann)
            self.assertEqual(c.status, 404, path)

    async def test_an_agent_never_acts_on_or_reads_another_agents_conversation(self) -> None:
        ann, bob = self.login("ann"), self.login("bob")
        self.acd.login(self.agent["bob"])
        cid = await self.accepted_chat(ann)
        for action, body in (
            ("accept", {"conversation": cid}),
            ("send", {"conversation": cid, "text": "hi"}),
            ("typing", {"conversation": cid, "typing": True}),
            ("transfer", {"conversation": cid, "to_queue": self.queue_id}),
            ("end", {"conversation": cid}),
            ("wrapup-done", {"conversation": cid}),
            ("ticket", {"conversation": cid}),
        ):
            status, answer = await self.api("POST", action, bob, body)
            self.assertEqual(status, 403, (action, answer))
        for path in (
            f"history/{cid}",
            f"context/{cid}",
            f"suggest?conversation={cid}",
            f"canned?conversation={cid}",
        ):
            status, answer = await self.api("GET", path, bob)
            self.assertEqual(status, 403, (path, answer))
        status, _ = await self.api("GET", "history/999999", ann)
        self.assertEqual(status, 404)
        # joining and writing as a supervisor is for supervisors and admins
        for action in ("join", "say"):
            status, _ = await self.api("POST", action, ann, {"conversation": cid, "text": "x"})
            self.assertEqual(status, 403, action)
        watch = await self.send("GET", f"stream?watch={cid}", ann)
        self.assertEqual(watch.status, 403)
        # ann's own
        status, answer = await self.api("GET", f"history/{cid}", ann)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer["conversation"]["id"], cid)

    # ---- lines both ways, in Chinese ---------------------------------------------------------

    async def test_lines_reach_the_customer_and_the_agents_stream_in_chinese(self) -> None:
        ann = self.login("ann")
        stream = await self.stream(ann)
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.headers["content-type"], "text/event-stream; charset=utf-8")
        await until(lambda: stream.frames(), "hello")
        self.assertEqual(stream.frames()[0]["type"], "hello")
        cid = await self.chat()
        await until(
            lambda: any(f["type"] == "offer" and f["conversation"] == cid for f in stream.frames()),
            "the offer on the stream",
        )
        status, _ = await self.api("POST", "accept", ann, {"conversation": cid})
        self.assertEqual(status, 200)
        text = "您好，王先生！请问有什么可以帮您？<script>alert(1)</script>"
        status, line = await self.api("POST", "send", ann, {"conversation": cid, "text": text})
        self.assertEqual(status, 200, line)
        self.assertEqual(line["body"], text)
        await until(
            lambda: any(
                e["type"] == "message" and e["message"]["body"] == text
                for e in self.customer_events
            ),
            "the agent's line at the customer",
        )
        said = await self.channels.customer_says(cid, "我的账单有问题，金额不对。")
        await until(
            lambda: any(
                f["type"] == "message" and f["message"]["id"] == said.id for f in stream.frames()
            ),
            "the customer's line on the agent's stream",
        )
        got = next(
            f for f in stream.frames() if f["type"] == "message" and f["message"]["id"] == said.id
        )
        self.assertEqual(got["message"]["body"], "我的账单有问题，金额不对。")
        self.assertEqual(got["message"]["sender"], "customer")
        self.assertIn("load", {f["type"] for f in stream.frames()})
        # typing and read marks go to the customer's side
        status, _ = await self.api("POST", "typing", ann, {"conversation": cid, "typing": True})
        self.assertEqual(status, 200)
        status, _ = await self.api("POST", "read", ann, {"conversation": cid, "up_to": said.id})
        self.assertEqual(status, 200)
        await until(
            lambda: {"typing", "read"} <= {e["type"] for e in self.customer_events},
            "typing and read at the customer",
        )
        # the desk's list holds it with its lines
        status, mine = await self.api("GET", "conversations", ann)
        self.assertEqual(status, 200)
        (conv,) = mine["conversations"]
        self.assertEqual(conv["id"], cid)
        self.assertEqual(conv["name"], "王小明")
        self.assertEqual(
            [m["body"] for m in conv["messages"] if m["sender"] != "system"][-2:],
            [
                text,
                "我的账单有问题，金额不对。",
            ],
        )
        self.assertEqual(mine["load"]["open"], 1)

    # ---- tickets, canned replies, suggestions, context -------------------------------------

    async def test_a_ticket_from_a_chat_holds_the_transcript_and_is_made_once(self) -> None:
        ann = self.login("ann")
        customer_id = resolved(CustomerStore(self.db).create("ann", "王小明", ["13800138000"]))
        cid = await self.accepted_chat(ann, customer_id=customer_id)
        await self.channels.customer_says(cid, "发票抬头写错了")
        status, _ = await self.api(
            "POST", "send", ann, {"conversation": cid, "text": "好的，我来处理"}
        )
        self.assertEqual(status, 200)
        status, made = await self.api("POST", "ticket", ann, {"conversation": cid})
        self.assertEqual(status, 200, made)
        self.assertTrue(made["created"])
        t = model.tickets.c
        row = resolved(
            self.db.read(
                lambda c: c.execute(
                    sa.select(
                        t.source, t.body, t.customer_id, t.assignee_kind, t.assignee, t.number
                    ).where(t.id == made["ticket_id"])
                ).one()
            )
        )
        self.assertEqual(row.source, "chat")
        self.assertEqual(made["number"], row.number)  # the desk shows it, not the row's id
        self.assertTrue(row.number.startswith("T"))
        self.assertIn("发票抬头写错了", row.body)
        self.assertIn("好的，我来处理", row.body)
        self.assertEqual(
            (row.customer_id, row.assignee_kind, row.assignee), (customer_id, "agent", "1001")
        )
        status, again = await self.api("POST", "ticket", ann, {"conversation": cid})
        self.assertEqual(
            (status, again["ticket_id"], again["number"], again["created"]),
            (200, made["ticket_id"], row.number, False),
        )
        # the context shows the customer and its open ticket
        status, context = await self.api("GET", f"context/{cid}", ann)
        self.assertEqual(status, 200, context)
        self.assertEqual(context["customer"]["name"], "王小明")
        self.assertIn(made["ticket_id"], [x["id"] for x in context["open_tickets"]])

    async def test_canned_replies_have_their_variables_filled(self) -> None:
        ann = self.login("ann")
        c = model.canned_replies
        self._insert(
            c,
            title="问候",
            body="{customer_name}您好，我是{agent_name}，编号{reference}。{customer_name.__class__}",
            topic_id=self.topic_id,
        )
        self._insert(
            c, title="Bye", body="Thanks for contacting {queue} about {topic}.", language="en"
        )
        cid = await self.accepted_chat(ann, name="<b>李雷</b>")
        status, canned = await self.api("GET", f"canned?conversation={cid}", ann)
        self.assertEqual(status, 200, canned)
        texts = [r["text"] for r in canned["replies"]]
        self.assertEqual(
            texts[0],
            f"<b>李雷</b>您好，我是Ann，编号{cid}。{{customer_name.__class__}}",
        )
        self.assertEqual(texts[1], "Thanks for contacting web about 账单.")
        self.assertEqual(canned["replies"][0]["scope"], "topic")

    async def test_kb_suggestions_from_the_customers_lines(self) -> None:
        ann = self.login("ann")
        kb = KBStore(self.db)
        cat = resolved(kb.add_category("账单"))
        article = resolved(kb.create("sue", cat, "发票抬头修改", "<p>如何修改发票抬头。</p>", "zh"))
        resolved(kb.submit("sue", "supervisor", article))
        resolved(kb.approve("sue", "supervisor", article))
        cid = await self.accepted_chat(ann)
        await self.channels.customer_says(cid, "我想修改发票抬头")
        status, found = await self.api("GET", f"suggest?conversation={cid}", ann)
        self.assertEqual(status, 200, found)
        self.assertEqual(found["suggestions"][0]["id"], article)
        self.assertEqual(found["suggestions"][0]["url"], f"/kb/article?id={article}")
        self.assertEqual(found["suggestions"][0]["excerpt"], "如何修改发票抬头。")
        status, _ = await self.api("GET", "suggest?conversation=abc", ann)
        self.assertEqual(status, 400)

    async def test_an_offer_listed_again_keeps_its_own_countdown(self) -> None:
        """A desk that reloads while a chat is offered showed the full timeout again."""
        ann = self.login("ann")
        cid = await self.chat()
        await until(
            lambda: any(c.id == cid for c in self.channels.conversations_of(self.agent["ann"])),
            "the offer to ann",
        )
        self.channels._offer_timers[cid].delay(-20)  # offered 20 s ago (of 60)
        status, mine = await self.api("GET", "conversations", ann)
        self.assertEqual(status, 200, mine)
        (conv,) = mine["conversations"]
        self.assertEqual((conv["state"], mine["offer_timeout_s"]), ("offered", 60))
        self.assertTrue(35 < conv["offer_left_s"] <= 40, conv["offer_left_s"])
        await self.api("POST", "accept", ann, {"conversation": cid})
        status, mine = await self.api("GET", "conversations", ann)
        self.assertIsNone(mine["conversations"][0]["offer_left_s"])

    # ---- attachments -----------------------------------------------------------------------

    async def test_an_attachment_is_checked_sent_and_fetched_by_those_who_handle_it(self) -> None:
        ann, bob = self.login("ann"), self.login("bob")
        cid = await self.accepted_chat(ann)
        status, refused = await self.api(
            "POST", f"attach?conversation={cid}&name=x.png", ann, None, raw=b"<html><script>"
        )
        self.assertEqual(status, 400, refused)
        status, a = await self.api(
            "POST", f"attach?conversation={cid}&name=%E5%9B%BE.png", ann, None, raw=PNG
        )
        self.assertEqual(status, 200, a)
        self.assertEqual((a["file_name"], a["content_type"]), ("图.png", "image/png"))
        status, line = await self.api(
            "POST", "send", ann, {"conversation": cid, "text": "", "attachments": [a["id"]]}
        )
        self.assertEqual(status, 200, line)
        self.assertEqual([x["id"] for x in line["attachments"]], [a["id"]])
        got = await self.send("GET", f"api/file/{a['id']}", ann)
        self.assertEqual((got.status, got.body), (200, PNG))
        self.assertEqual(got.headers["content-type"], "image/png")
        self.assertTrue(got.headers["content-disposition"].startswith("attachment;"))
        other = await self.send("GET", f"api/file/{a['id']}", bob)
        self.assertEqual(other.status, 403)
        status, _ = await self.api(
            "POST", "send", ann, {"conversation": cid, "text": "x", "attachments": [999]}
        )
        self.assertEqual(status, 400)

    async def test_an_attachment_is_read_off_the_reactor(self) -> None:
        """A body past 100 KB is a temporary file: reading it (up to 50 MB) on the reactor
        thread stopped every call and chat meanwhile."""
        readers: list[bool] = []

        class Noted:
            def __init__(self, inner: Any) -> None:
                self.inner = inner

            def read(self, *args: Any) -> bytes:
                readers.append(threading.current_thread() is threading.main_thread())
                data: bytes = self.inner.read(*args)
                return data

            def __getattr__(self, name: str) -> Any:
                return getattr(self.inner, name)

        class NotedRequest(server.Request):
            def gotLength(self, length: int | None) -> None:
                super().gotLength(length)
                self.content = Noted(self.content)

        ann = self.login("ann")
        cid = await self.accepted_chat(ann)
        self.port.factory.requestFactory = NotedRequest
        status, a = await self.api(
            "POST", f"attach?conversation={cid}&name=p.png", ann, None, raw=PNG
        )
        self.assertEqual(status, 200, a)
        self.assertEqual(readers, [False])

    async def test_an_error_in_writing_the_answer_still_answers(self) -> None:
        """An exception while the answer is written (here JSON that cannot be) used to skip
        the error handler: the request never finished and the browser waited forever."""

        async def circular(asker: Any) -> dict[str, Any]:
            loop: dict[str, Any] = {}
            loop["self"] = loop
            return loop

        self.root.add_api(b"circular", ApiResource(self.root, circular, b"GET"))
        answer = defer.ensureDeferred(self.api("GET", "circular", self.login("ann")))
        got = await answer.addTimeout(10, reactor)  # (it hung)
        self.assertEqual(got[0], 500, got)
        self.assertIn("error", got[1])
        self.flushLoggedErrors(ValueError)

    # ---- a supervisor ---------------------------------------------------------------------------

    async def test_a_supervisor_watches_audited_and_writes_an_internal_note(self) -> None:
        ann, sue = self.login("ann"), self.login("sue", "supervisor")
        cid = await self.accepted_chat(ann)
        agent_stream = await self.stream(ann)
        watch = await self.stream(sue, f"?watch={cid}")
        self.assertEqual(watch.status, 200)
        said = await self.channels.customer_says(cid, "有人吗？")
        await until(
            lambda: any(f.get("message", {}).get("id") == said.id for f in watch.frames()),
            "the customer's line at the supervisor",
        )
        status, note = await self.api(
            "POST", "say", sue, {"conversation": cid, "text": "先核对身份", "internal": True}
        )
        self.assertEqual(status, 200, note)
        self.assertTrue(note["internal"])
        await until(
            lambda: any(
                f.get("message", {}).get("id") == note["id"] for f in agent_stream.frames()
            ),
            "the note on the agent's stream",
        )
        await task.deferLater(reactor, 0.1, lambda: None)
        self.assertFalse(
            any(e.get("message", {}).get("id") == note["id"] for e in self.customer_events),
            "an internal note reached the customer",
        )
        a = model.audit_log.c
        rows = resolved(
            self.db.read(lambda c: c.execute(sa.select(a.actor, a.action, a.target)).all())
        )
        self.assertIn(("sue", "chat.watch", f"conversation:{cid}"), [tuple(r) for r in rows])
        self.assertIn(("sue", "chat.say", f"conversation:{cid}"), [tuple(r) for r in rows])
        status, body = await self.api("GET", f"history/{cid}", sue)
        self.assertEqual(status, 200, body)

    # ---- transfer, end, wrap-up ---------------------------------------------------------------

    async def test_transfer_to_an_agent_then_end_and_wrap_up(self) -> None:
        ann, bob = self.login("ann"), self.login("bob")
        self.acd.login(self.agent["bob"])
        cid = await self.accepted_chat(ann)
        status, targets = await self.api("GET", f"targets?conversation={cid}", ann)
        self.assertEqual(status, 200, targets)
        self.assertEqual(targets["queues"], [{"id": self.queue_id, "name": "web"}])
        self.assertEqual([a["id"] for a in targets["agents"]], [self.agent["bob"]])
        status, _ = await self.api("GET", f"targets?conversation={cid}", bob)
        self.assertEqual(status, 403)
        bob_stream = await self.stream(bob)
        status, body = await self.api(
            "POST",
            "transfer",
            ann,
            {"conversation": cid, "to_agent": self.agent["bob"], "to_queue": 1},
        )
        self.assertEqual(status, 400, body)
        status, body = await self.api(
            "POST",
            "transfer",
            ann,
            {"conversation": cid, "to_agent": self.agent["bob"], "note": "客户要退款"},
        )
        self.assertEqual(status, 200, body)
        await until(
            lambda: any(
                f["type"] == "offer" and f["conversation"] == cid for f in bob_stream.frames()
            ),
            "the offer to bob",
        )
        status, body = await self.api("POST", "accept", bob, {"conversation": cid})
        self.assertEqual(status, 200, body)
        # ann had it: she still reads its history, but no longer acts on it
        status, _ = await self.api("GET", f"history/{cid}", ann)
        self.assertEqual(status, 200)
        status, _ = await self.api("POST", "send", ann, {"conversation": cid, "text": "x"})
        self.assertEqual(status, 403)
        status, body = await self.api("POST", "end", bob, {"conversation": cid})
        self.assertEqual(status, 200, body)
        status, body = await self.api("POST", "wrapup-done", bob, {"conversation": cid})
        self.assertEqual(status, 200, body)
        status, mine = await self.api("GET", "conversations", bob)
        self.assertEqual((status, mine["conversations"]), (200, []))

    async def test_errors_read_in_the_users_language(self) -> None:
        ann, bob = self.login("ann"), self.login("bob")
        self.sessions.peek(bob[0]).locale = "zh_CN"  # type: ignore[union-attr]
        cid = await self.accepted_chat(ann)
        status, body = await self.api("POST", "send", bob, {"conversation": cid, "text": "x"})
        self.assertEqual((status, body), (403, {"error": f"会话 {cid} 不属于您"}))
        status, body = await self.api(
            "POST", "send", ann, {"conversation": cid, "text": "y" * 20001}
        )
        self.assertEqual(status, 400)
        self.assertIn("20000", body["error"])

    async def test_the_stream_opens_only_for_an_event_source(self) -> None:
        """A co-browsed page replayed on this site may hold <img src="/chat-desk/stream">
        (or a style's url()), fetched with the agent's cookie: it opens no stream that never
        ends (a browser keeps six connections to a site)."""
        ann, sue = self.login("ann"), self.login("sue", "supervisor")
        cid = await self.chat()
        for who, query in ((ann, ""), (sue, f"?watch={cid}")):
            for accept in (None, "image/avif,image/webp,*/*", "text/css,*/*;q=0.1"):
                c = await self.send("GET", f"stream{query}", who, accept=accept)
                self.assertEqual(c.status, 406, (query, accept))
        self.assertEqual(self.root.hub.streams, set())
        a = model.audit_log.c
        rows = resolved(self.db.read(lambda c: c.execute(sa.select(a.action)).all()))
        self.assertEqual(rows, [])  # no watch audited either

    async def test_a_watch_names_conversations_that_exist_and_not_too_many(self) -> None:
        sue = self.login("sue", "supervisor")
        missing = await self.send("GET", "stream?watch=424242", sue)
        self.assertEqual(missing.status, 404)
        many = "&".join(f"watch={i}" for i in range(1, 30))
        refused = await self.send("GET", f"stream?{many}", sue)
        self.assertEqual(refused.status, 400)
        bad = await self.send("GET", "stream?watch=../1", sue)
        self.assertEqual(bad.status, 400)
        self.assertEqual(self.root.hub.streams, set())
        a = model.audit_log.c
        rows = resolved(self.db.read(lambda c: c.execute(sa.select(a.action)).all()))
        self.assertEqual(rows, [])
