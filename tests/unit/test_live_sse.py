"""``GET /events`` over real loopback HTTP: who may connect, what each role receives, how
bursts are coalesced into few writes, resume, slow clients, heartbeats and the end of a
stream.

The server is the real resource on a twisted.web Site; the ACD is the real one on an
inline SQLite database; the clients are plain TCP protocols that read the raw stream.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from twisted.internet import defer, endpoints, reactor, task
from twisted.trial import unittest
from twisted.web import resource, server

from acd.service import ACD
from appliance.cli import resolved
from appliance.eventbus import EventBus
from tests.support.inline_db import inline_db
from tests.support.sse_client import RawClient, until
from tests.support.tmp import temp_dir
from webui import live_sse
from webui.live_feed import LiveFeed
from webui.live_sse import LiveEventsResource, LiveHub
from webui.sessions import SessionStore, SessionUser


class LiveSSETests(unittest.TestCase):
    def setUp(self) -> None:
        tmp = temp_dir(self)
        ctx = inline_db(tmp / "live.sqlite")
        db = ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)
        tech = resolved(db.skills.add("tech")).id
        self.ids: dict[str, int] = {}
        for number in ("1001", "1002"):
            agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
            resolved(db.agents.set_skill(agent.id, tech, 5))
            self.ids[number] = agent.id
        self.ids["support"] = resolved(db.queues.add("support", skills={tech: 3})).id
        self.bus = EventBus()
        self.acd = ACD(reactor, db, self.bus)
        resolved(self.acd.startService())
        self.addCleanup(self.acd.stopService)
        self.sessions = SessionStore(idle_seconds=3600)
        self.feed = LiveFeed(reactor, self.bus, self.acd)
        self.feed.start()
        self.addCleanup(self.feed.stop)
        self.hub = LiveHub(reactor, self.feed, self.sessions)
        self.hub.start()
        self.addCleanup(self.hub.stop)
        # users 1 (supervisor), 2 and 3 (agents 1001, 1002), 4 (qa)
        self.user_agent = {2: self.ids["1001"], 3: self.ids["1002"]}
        root = resource.Resource()
        root.putChild(b"events", LiveEventsResource(self.hub, self.user_agent.get))
        self.port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.clients: list[RawClient] = []

    def tearDown(self) -> defer.Deferred[Any]:
        waits = []
        for c in self.clients:
            if c.transport is not None and c.transport.connected:
                c.transport.loseConnection()
                waits.append(c.lost)
        return defer.DeferredList(waits)

    def login(self, user_id: int, role: str) -> str:
        session, _new = self.sessions.get_or_create(None)
        session.user = SessionUser(user_id, f"user{user_id}", role, f"User {user_id}")
        return session.id

    async def connect(
        self, cookie: str | None, path: str = "/events", headers: dict[str, str] | None = None
    ) -> RawClient:
        lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
        if "accept" not in {k.lower() for k in headers or {}}:
            lines.append("Accept: text/event-stream")  # as an EventSource sends it
        if cookie is not None:
            lines.append(f"Cookie: ccbox_session={cookie}")
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        client = RawClient(("\r\n".join(lines) + "\r\n\r\n").encode())
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
        await endpoints.connectProtocol(endpoint, client)
        self.clients.append(client)
        await until(lambda: b"\r\n\r\n" in client.raw, "the response head")
        return client

    async def stream(self, user_id: int, role: str, path: str = "/events") -> RawClient:
        client = await self.connect(self.login(user_id, role), path)
        self.assertEqual(client.status, 200)
        await until(lambda: client.events(), "the snapshot")
        self.assertEqual(client.events()[0][0], "snapshot")
        return client

    # ---- who may connect ------------------------------------------------------------------

    async def test_no_session_a_forged_or_an_anonymous_cookie_is_refused(self) -> None:
        anonymous, _ = self.sessions.get_or_create(None)
        before = len(self.sessions)
        for cookie in (None, "forged-" + "x" * 40, anonymous.id, "\u00e9\u00e9"):
            client = await self.connect(cookie)
            await until(lambda c=client: c.body, "the body")
            self.assertEqual(client.status, 401, cookie)
            self.assertEqual(json.loads(client.body), {"error": "not logged in"})
            self.assertEqual(client.headers["x-frame-options"], "DENY")
            self.assertEqual(client.headers["cache-control"], "no-store")
        self.assertEqual(len(self.sessions), before)  # no session minted for a stream
        self.assertEqual(self.hub.streams, set())
        client = await self.connect(self.login(1, "supervisor"), "/events?topics=everything")
        self.assertEqual(client.status, 400)

    async def test_an_expired_session_is_refused(self) -> None:
        cookie = self.login(1, "supervisor")
        self.sessions.idle_seconds = -1
        client = await self.connect(cookie)
        self.assertEqual(client.status, 401)

    async def test_the_stream_headers(self) -> None:
        client = await self.stream(1, "supervisor")
        h = client.headers
        self.assertEqual(h["content-type"], "text/event-stream; charset=utf-8")
        self.assertEqual(h["cache-control"], "no-store")
        self.assertEqual(h["x-accel-buffering"], "no")
        self.assertEqual(h["x-content-type-options"], "nosniff")
        self.assertIn("frame-ancestors 'none'", h["content-security-policy"])
        self.assertIn(b"retry: 2000\n\n", client.body)

    # ---- what each role receives ----------------------------------------------------------

    async def test_an_agent_receives_only_its_own_events(self) -> None:
        a1, a2 = self.ids["1001"], self.ids["1002"]
        sup = await self.stream(1, "supervisor")
        mine = await self.stream(2, "agent")
        theirs = await self.stream(3, "agent")
        self.acd.login(a1)
        await task.deferLater(reactor, 0.01, lambda: None)
        self.acd.login(a2)
        call = self.acd.join(self.ids["support"], "13911112222", "u1")  # to 1001, idle longest
        call.record_id, call.caller_name = 41, "Wang Wu"
        await until(lambda: any(e[0] == "offer" for e in mine.events()), "the offer")
        self.acd.answered(call, "PJSIP/1001")
        await until(
            lambda: (
                [e[2]["state"] for e in mine.events() if e[0] == "offer"] == ["ringing", "answered"]
            ),
            "the answer",
        )
        await until(
            lambda: any(e[0] == "call" and e[2]["state"] == "talking" for e in sup.events()),
            "the supervisor's view",
        )
        await task.deferLater(reactor, 0.3, lambda: None)
        offers = [e[2] for e in mine.events() if e[0] == "offer"]
        self.assertEqual(
            {(o["call_id"], o["agent_id"], o["caller_name"]) for o in offers},
            {(41, a1, "Wang Wu")},
        )
        mine_ids = {e[2]["id"] for e in mine.events() if e[0] == "agent"}
        self.assertEqual(mine_ids, {a1})
        self.assertTrue(any(e[0] == "call" for e in mine.events()))
        their_kinds = {e[0] for e in theirs.events()}
        self.assertEqual(their_kinds, {"snapshot", "agent", "queue"})
        self.assertEqual({e[2]["id"] for e in theirs.events() if e[0] == "agent"}, {a2})
        self.assertNotIn(b"13911112222", theirs.body)
        self.assertNotIn(b"Wang Wu", theirs.body)
        # A supervisor sees both agents and the call, and no offer.
        self.assertEqual({e[2]["id"] for e in sup.events() if e[0] == "agent"}, {a1, a2})
        self.assertNotIn("offer", {e[0] for e in sup.events()})

    async def test_the_wallboard_topic(self) -> None:
        wall = await self.stream(1, "supervisor", "/events?topics=wallboard")
        self.acd.login(self.ids["1001"])
        call = self.acd.join(self.ids["support"], "13911112222", "u1")
        call.caller_name = "Zhao Liu"
        await until(lambda: any(e[0] == "agent" for e in wall.events()), "the agent")
        await task.deferLater(reactor, 0.3, lambda: None)
        self.assertEqual({e[0] for e in wall.events()}, {"snapshot", "agent", "queue"})
        self.assertNotIn(b"13911112222", wall.body)
        self.assertNotIn(b"Zhao Liu", wall.body)

    # ---- coalescing -----------------------------------------------------------------------

    async def test_ten_thousand_events_become_a_bounded_number_of_writes(self) -> None:
        aid = self.ids["1001"]
        self.acd.login(aid)
        sup = await self.stream(1, "supervisor")
        (stream,) = self.hub.streams
        writes: list[int] = []
        original = stream.request.write

        def counting(data: bytes) -> None:
            writes.append(len(data))
            original(data)

        stream.request.write = counting
        published: list[object] = []
        self.bus.subscribe(object, published.append)
        start = reactor.seconds()
        for _ in range(20):  # 10,000 state changes over about one second
            for _ in range(250):
                self.acd.pause(aid, "break")
                self.acd.unpause(aid)
            await task.deferLater(reactor, 0.05, lambda: None)
        self.acd.pause(aid, "lunch")
        elapsed = reactor.seconds() - start
        self.assertGreaterEqual(len(published), 10_000)
        await until(
            lambda: [e[2]["reason"] for e in sup.events() if e[0] == "agent"][-1:] == ["lunch"],
            "the last state",
        )
        await task.deferLater(reactor, 0.3, lambda: None)
        self.assertLessEqual(len(writes), elapsed / 0.25 + 3)
        agent_events = [e for e in sup.events() if e[0] == "agent"]
        self.assertLessEqual(len(agent_events), len(writes))  # one per key per write at most
        self.assertLess(sum(writes), 100_000)

    # ---- resume ---------------------------------------------------------------------------

    async def test_resume_with_last_event_id(self) -> None:
        aid = self.ids["1001"]
        cookie = self.login(1, "supervisor")
        first = await self.connect(cookie)
        await until(lambda: first.events(), "the snapshot")
        last_id = first.events()[-1][1]
        first.transport.loseConnection()
        await first.lost
        await until(lambda: not self.hub.streams, "the stream's removal")
        self.acd.login(aid)
        await task.deferLater(reactor, 0.3, lambda: None)
        self.acd.pause(aid, "meeting")
        await task.deferLater(reactor, 0.3, lambda: None)
        again = await self.connect(cookie, headers={"Last-Event-ID": last_id})
        await until(lambda: any(e[0] == "agent" for e in again.events()), "the replay")
        kinds = [e[0] for e in again.events()]
        self.assertNotIn("snapshot", kinds)
        self.assertEqual(
            [e[2]["state"] for e in again.events() if e[0] == "agent"], ["paused"]
        )  # the latest per key, not every step
        self.assertEqual(again.events()[-1][1], self.feed.last_id)
        # The id in the query (a new EventSource made by live.js) works the same.
        by_query = await self.connect(cookie, f"/events?last_id={last_id}")
        await until(lambda: by_query.events(), "the replay")
        self.assertNotIn("snapshot", [e[0] for e in by_query.events()])
        # An id this process never gave out: a fresh snapshot.
        stale = await self.connect(cookie, headers={"Last-Event-ID": "0000-12"})
        await until(lambda: stale.events(), "the snapshot")
        self.assertEqual(stale.events()[0][0], "snapshot")
        self.assertEqual(stale.events()[0][2]["agents"][0]["state"], "paused")

    # ---- slow clients ---------------------------------------------------------------------

    async def test_a_slow_client_is_bounded_and_gets_a_snapshot_when_it_drains(self) -> None:
        self.acd.login(self.ids["1001"])
        cookie = self.login(1, "supervisor")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", self.port.getHost().port))
        self.addCleanup(sock.close)
        sock.sendall(
            f"GET /events HTTP/1.1\r\nHost: x\r\nCookie: ccbox_session={cookie}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await until(lambda: self.hub.streams, "the stream")
        (stream,) = self.hub.streams
        generated, seq, previous = 0, self.feed.seq, []
        transport = stream.request.channel.transport
        held = 0  # what the server's transport holds in its own buffer, at most
        for round_ in range(30):  # never read: megabytes of call messages
            for old in previous:
                self.acd.gave_up(old)
            previous = []
            for i in range(500):
                call = self.acd.join(self.ids["support"], f"139{round_:04d}{i:04d}", f"u{i}")
                call.caller_name = "N" * 120
                previous.append(call)
            await task.deferLater(reactor, 0.3, lambda: None)
            generated += sum(len(m.frame) for m in self.feed.ring if m.seq > seq)
            seq = self.feed.seq
            self.assertLessEqual(stream.pending_bytes, live_sse.PENDING_BYTES)
            buffered = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
            held = max(held, buffered)
        self.assertIsNotNone(stream.paused_at)
        self.assertTrue(stream.stale)
        self.assertEqual(stream.pending, {})
        self.assertGreater(generated, 8 * 1024 * 1024)
        # What went into the kernel's socket buffers, and what the transport held: a
        # fraction of what was generated (the rest was never kept for this client).
        self.assertLess(stream.written, generated / 3)
        self.assertLess(held, 1024 * 1024)
        # The client reads again: what it gets last is a fresh snapshot.
        sock.setblocking(False)
        received = b""
        # Megabytes to drain: on a loaded machine (CI's 2 cores) that took more than 5 s once;
        # the test waits up to 60 s and stops as soon as the snapshot came.
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            try:
                while chunk := sock.recv(1 << 20):
                    received += chunk
            except BlockingIOError:
                pass
            if stream.paused_at is None and b"event: snapshot" in received[-200_000:]:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        self.assertIsNone(stream.paused_at)
        self.assertFalse(stream.stale)
        tail = received[received.rindex(b"event: snapshot") :]
        self.assertIn(b'"agents":[{"id":', tail)

    async def test_a_stalled_client_is_disconnected(self) -> None:
        sup = await self.stream(1, "supervisor")
        (stream,) = self.hub.streams
        stream.pauseProducing()
        stream.paused_at = reactor.seconds() - live_sse.STALLED_S - 1
        self.hub.heartbeat()
        await until(lambda: sup.finished, "the end of the stream")
        self.assertEqual(self.hub.streams, set())

    # ---- heartbeat and the end of a stream ------------------------------------------------

    async def test_heartbeat_and_the_end_of_the_session(self) -> None:
        sup = await self.stream(1, "supervisor")
        agent = await self.stream(2, "agent")
        self.hub.heartbeat()
        await until(lambda: b": hb\n\n" in sup.body and b": hb\n\n" in agent.body, "heartbeats")
        self.sessions.drop_user(2)  # disabled, or logged out everywhere
        self.hub.heartbeat()
        await until(lambda: agent.finished, "the end of the agent's stream")
        self.assertFalse(sup.finished)
        self.assertEqual(len(self.hub.streams), 1)

    async def test_an_open_wallboard_keeps_its_login_alive_other_pages_do_not(self) -> None:
        wall = await self.stream(1, "supervisor", "/events?topics=wallboard")
        console = await self.stream(3, "supervisor")
        by_user = {s.session.user.id: s.session for s in self.hub.streams if s.session.user}
        wall_session, console_session = by_user[1], by_user[3]
        wall_session.last_seen = console_session.last_seen = self.sessions.clock() - 100
        self.hub.heartbeat()
        self.assertGreater(wall_session.last_seen, self.sessions.clock() - 5)
        self.assertLess(console_session.last_seen, self.sessions.clock() - 50)
        self.sessions.idle_seconds = 60  # the console's login is now idle past the limit
        self.hub.heartbeat()
        await until(lambda: console.finished, "the end of the idle console's stream")
        self.assertFalse(wall.finished)

    async def test_a_client_that_leaves_is_forgotten_and_stop_closes_the_rest(self) -> None:
        leaving = await self.stream(1, "supervisor")
        staying = [await self.stream(4, "qa"), await self.stream(2, "agent")]
        leaving.transport.loseConnection()
        await until(lambda: len(self.hub.streams) == 2, "the removal")
        self.hub.stop()
        await until(lambda: all(c.finished for c in staying), "the ends of the streams")
        self.assertEqual(self.hub.streams, set())
        self.assertNotIn(self.hub.on_flush, self.feed.listeners)

    async def test_too_many_streams_for_one_session(self) -> None:
        cookie = self.login(1, "supervisor")
        for _ in range(live_sse.MAX_PER_SESSION):
            await self.connect(cookie)
        await until(lambda: len(self.hub.streams) == live_sse.MAX_PER_SESSION, "the streams")
        extra = await self.connect(cookie)
        self.assertEqual(extra.status, 429)

    async def test_a_stream_opens_only_for_an_event_source(self) -> None:
        """A co-browsed page replayed on the admin site may hold <img src="/events"> (or a
        style's url()), fetched with the staff's cookie: it opens no stream that never ends
        (a browser keeps six connections to a site)."""
        cookie = self.login(1, "supervisor")
        for accept in ("image/avif,image/webp,*/*", "text/css,*/*;q=0.1", "*/*"):
            client = await self.connect(cookie, headers={"Accept": accept})
            await until(lambda c=client: c.body, "the body")
            self.assertEqual(client.status, 406, accept)
        self.assertEqual(self.hub.streams, set())
        client = await self.connect(cookie, headers={"Accept": "Text/Event-Stream"})
        self.assertEqual(client.status, 200)

    async def test_other_methods_are_refused(self) -> None:
        cookie = self.login(1, "supervisor")
        for method in ("POST", "HEAD", "PUT"):
            client = RawClient(
                f"{method} /events HTTP/1.1\r\nHost: x\r\nCookie: ccbox_session={cookie}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", self.port.getHost().port)
            await endpoints.connectProtocol(endpoint, client)
            self.clients.append(client)
            await until(lambda c=client: b"\r\n\r\n" in c.raw, "the answer")
            self.assertEqual(client.status, 405, method)
            self.assertEqual(client.headers["allow"], "GET")
            self.assertEqual(client.headers["x-frame-options"], "DENY")
        self.assertEqual(self.hub.streams, set())
