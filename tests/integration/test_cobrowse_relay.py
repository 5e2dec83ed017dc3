"""Escorted browsing over real loopback sockets: the public chat site (the real
PublicChatService with the real channels engine on SQLite) with /chat/api/cobrowse mounted
through add_api, and the staff side on a second site as /chat-desk/api/cobrowse.

An agent serving a chat asks to co-browse; the request reaches the visitor's chat stream;
the visitor joins with its chat token, allows it, posts rrweb batches that the agent's
viewer stream receives; the agent pushes a page (refused off the center's sites) and the
visitor's control stream gets it; the rrweb recorder is served by the public site from
node_modules; a stolen chat token or a foreign origin gets nothing."""

from __future__ import annotations

import json
from typing import Any, cast

from twisted.internet import reactor
from twisted.web import resource, server
from twisted.web.resource import IResource

import tests.integration.test_chat_public_endpoint as endpoint
from appliance.config import CobrowseConfig
from appliance.db.channel_admin_store import ChannelAdminStore
from webui import vendor
from webui.access import COOKIE
from webui.cobrowse.service import CobrowseService
from webui.sessions import SessionStore, SessionUser

SNAPSHOT = [
    {"type": 4, "timestamp": 1, "data": {"href": "https://shop.example.cn/", "width": 800}},
    {"type": 2, "timestamp": 1, "data": {"node": {"type": 0, "id": 1, "childNodes": []}}},
]


class _Acd:
    """The ACD's two look-ups the staff side uses, over the real ACD's agents."""

    def __init__(self, acd: Any, user_agent: dict[int, int]) -> None:
        self.acd = acd
        self.user_agent = user_agent
        self.agents = acd.agents

    def agent_of_user(self, user_id: int) -> Any:
        return self.acd.agents.get(self.user_agent.get(user_id, 0))


class CobrowseRelayTests(endpoint.ChatCase):
    async def start(self) -> None:
        await super().start()
        self.cobrowse = CobrowseService(
            reactor=reactor,
            db=self.db,
            channels=self.channels,
            bus=self.bus,
            config=CobrowseConfig(mask_inputs=True, code_minutes=10),
            origins=self.service.origins,
        )
        self.cobrowse.startService()
        self.addCleanup(self.cobrowse.stopService)
        self.service.root.add_api(b"cobrowse", self.cobrowse.public_resource(self.service.root))
        self.sessions = SessionStore(idle_seconds=3600)
        staff = self.cobrowse.staff_resource(
            acd=_Acd(self.acd, {1: self.agent_id}), sessions=self.sessions, secure=False
        )
        desk = resource.Resource()
        api = resource.Resource()
        desk.putChild(b"api", cast(IResource, api))
        api.putChild(b"cobrowse", cast(IResource, staff))
        root = resource.Resource()
        root.putChild(b"chat-desk", cast(IResource, desk))
        tcp: Any = reactor
        port: Any = tcp.listenTCP(0, server.Site(cast(IResource, root)), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.staff_client = endpoint.Client(port.getHost().port)
        self.addCleanup(self.staff_client.close)
        fresh, _ = self.sessions.get_or_create(None)
        self.login = self.sessions.rotate(fresh, SessionUser(1, "wang", "agent", "王芳"))

    def staff_headers(self) -> dict[str, str]:
        return {
            "Cookie": f"{COOKIE}={self.login.id}",
            "X-CSRF-Token": self.login.csrf_token,
            "Host": "box.example.cn",
        }

    async def staff_post(self, action: str, body: Any) -> endpoint.Response:
        return await self.staff_client.request(
            "POST",
            f"/chat-desk/api/cobrowse/{action}",
            json.dumps(body).encode(),
            origin="http://box.example.cn",
            headers=self.staff_headers(),
        )

    async def open_stream(self, client: endpoint.Client, path: str, **kw: Any) -> endpoint.Stream:
        p = await client.connect()
        transport: Any = p.transport
        assert transport is not None
        head = f"GET {path} HTTP/1.1\r\nHost: box.example.cn\r\n"
        for name, value in kw.items():
            head += f"{name.replace('_', '-')}: {value}\r\n"
        transport.write(head.encode() + b"\r\n")
        client.streams.append(p)
        return endpoint.Stream(p)

    async def test_an_agent_views_its_chat_visitors_page_and_pushes_a_page(self) -> None:
        await self.start()
        c = self.client
        started = await self.chat(name="李雷")
        token, cid = started["token"], started["conversation"]
        chat_stream = await c.stream(token)
        await chat_stream.until(lambda ev: any(e["type"] == "history" for e in ev))
        await self.channels.accept(self.agent_id, cid)

        asked = await self.staff_post("request", {"conversation": cid})
        self.assertEqual(asked.status, 200, asked.body)
        sid = asked.json()["session"]
        request = await chat_stream.until(
            lambda ev: any(e["type"] == "cobrowse.request" for e in ev)
        )
        self.assertEqual(
            next(e for e in request if e["type"] == "cobrowse.request"),
            {"type": "cobrowse.request", "session": sid, "agent": "王芳"},
        )
        viewer = await self.open_stream(
            self.staff_client,
            f"/chat-desk/api/cobrowse/stream?session={sid}",
            Cookie=f"{COOKIE}={self.login.id}",
            Accept="text/event-stream",
        )
        await viewer.until(lambda ev: any(e["type"] == "cobrowse.state" for e in ev))

        # a stolen or foreign chat token cannot join it
        other = await self.chat(name="Eve")
        stolen = await c.post("/chat/api/cobrowse/join", {"session": sid}, token=other["token"])
        self.assertEqual(stolen.status, 403, stolen.body)
        foreign = await c.post(
            "/chat/api/cobrowse/join", {"session": sid}, token=token, origin="https://evil.test"
        )
        self.assertEqual(foreign.status, 403)
        # nor from another site the box allows: the token is the site's it was given to
        second_site = "https://other.example.cn"
        await ChannelAdminStore(self.db).add_origin(second_site)
        await self.service.origins.refresh()
        elsewhere = await c.post(
            "/chat/api/cobrowse/join", {"session": sid}, token=token, origin=second_site
        )
        self.assertEqual(elsewhere.status, 401, elsewhere.body)

        joined = await c.post("/chat/api/cobrowse/join", {"session": sid}, token=token)
        self.assertEqual(joined.status, 200, joined.body)
        self.assertEqual(joined.headers["access-control-allow-origin"], endpoint.ORIGIN)
        self.assertEqual(joined.json()["config"], {"mask_inputs": True, "mask_password": True})
        rec = joined.json()["token"]
        control = await self.open_stream(
            c, f"/chat/api/cobrowse/stream?t={rec}", Origin=endpoint.ORIGIN
        )
        await control.until(lambda ev: any(e["type"] == "cobrowse.state" for e in ev))
        early = await c.post("/chat/api/cobrowse/events", SNAPSHOT, token=rec)
        self.assertEqual(early.status, 409)  # not allowed yet
        allowed = await c.post("/chat/api/cobrowse/consent", {"allow": True}, token=rec)
        self.assertEqual(allowed.status, 200)
        await control.until(lambda ev: any(e["type"] == "cobrowse.snapshot" for e in ev))
        sent = await c.post("/chat/api/cobrowse/events", SNAPSHOT, token=rec)
        self.assertEqual(sent.status, 202, sent.body)
        got = await viewer.until(lambda ev: any(e["type"] == "cobrowse.events" for e in ev))
        relayed = next(e for e in got if e["type"] == "cobrowse.events")
        self.assertEqual(relayed["events"], SNAPSHOT)
        bad = await c.post("/chat/api/cobrowse/events", {"not": "rrweb"}, token=rec)
        self.assertEqual(bad.status, 400)

        refused = await self.staff_post("push", {"session": sid, "url": "https://evil.test/x"})
        self.assertEqual(refused.status, 400)
        pushed = await self.staff_post(
            "push", {"session": sid, "url": endpoint.ORIGIN + "/help/退货"}
        )
        self.assertEqual(pushed.status, 200, pushed.body)
        got = await control.until(lambda ev: any(e["type"] == "cobrowse.push" for e in ev))
        urls = [e["url"] for e in got if e["type"] == "cobrowse.push"]
        self.assertEqual(urls, [endpoint.ORIGIN + "/help/退货"])

        # the chat ends: so does the co-browsing, on both sides
        await self.channels.end(self.agent_id, cid)
        await viewer.until(lambda ev: any(e["type"] == "cobrowse.stop" for e in ev))
        await control.finished()

    async def test_the_recorder_is_served_to_any_site_and_nothing_else_of_node_modules(
        self,
    ) -> None:
        await self.start()
        c = self.client
        js = await c.request("GET", "/chat/static/" + vendor.RRWEB_RECORD, origin=None)
        self.assertEqual(js.status, 200)
        self.assertTrue(js.headers["content-type"].startswith("text/javascript"))
        self.assertEqual(js.body, vendor.FILES[vendor.RRWEB_RECORD].read_bytes())
        cob = await c.request("GET", "/chat/static/cobrowse.js", origin=None)
        self.assertEqual(cob.status, 200)
        self.assertIn(b"ccboxCobrowse", cob.body)
        for name in (vendor.RRWEB, vendor.RRWEB_CSS, vendor.ECHARTS, "rrweb.umd.min.cjs"):
            r = await c.request("GET", "/chat/static/" + name, origin=None)
            self.assertEqual(r.status, 404, name)
