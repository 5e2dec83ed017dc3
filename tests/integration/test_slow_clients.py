"""A browser that stops reading ``/events`` while the live feed runs at full tilt.

The real appliance (master, web service, live hub) on loopback; one client logs in, opens
the stream and never reads again (a small receive buffer, as a hung tab behind a slow
link); another reads along. Thousands of calls join and leave the queue: megabytes of
messages. What the daemon holds for the stalled client stays under its bound, it says so
in its log, the other client gets every change on time, and the reactor keeps its beat.
"""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any

from twisted.internet import defer, endpoints, reactor, task
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from appliance.cli import resolved
from tests.support.appliance import RunningAppliance
from tests.support.sse_client import RawClient  # a browser that reads everything as it comes
from tests.support.tmp import temp_dir
from webui import live_sse


async def until(predicate: Any, what: str, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")


def seed(db: Any) -> None:
    """A queue nobody answers, and agent 1001 who serves no queue (its pauses are the
    changes the reading browser waits for)."""
    tech = resolved(db.skills.add("tech")).id
    resolved(db.agents.add("1001", "Agent 1001", "", "PJSIP/1001"))
    resolved(db.queues.add("support", skills={tech: 3}))


class SlowReaderTests(unittest.TestCase):
    async def test_a_browser_that_stops_reading_costs_a_bounded_buffer_and_nobody_else(
        self,
    ) -> None:
        app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(app.stop)
        master = app.master
        hub = master.web.hub
        assert hub is not None
        acd = master.acd
        agent = acd.agent_by_number("1001")
        assert agent is not None
        acd.login(agent.id)
        queue = acd.queue("support").id
        warnings: list[str] = []

        def observe(event: dict[str, Any]) -> None:
            if event.get("log_namespace") == "ccbox.web.live":
                warnings.append(str(event.get("log_format", "")))

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

        slow_browser = await app.logged_in("sup")
        fast_browser = await app.logged_in("sup")

        def get(cookie: str) -> bytes:
            return (
                f"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ccbox_session={cookie}\r\n"
                "Accept: text/event-stream\r\n\r\n"
            ).encode()

        # The stalled browser: a 4 KB receive buffer, and it never reads.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", app.port))
        self.addCleanup(slow.close)
        slow.sendall(get(slow_browser.cookies["ccbox_session"]))
        await until(lambda: len(hub.streams) == 1, "the stalled browser's stream")
        (stalled,) = hub.streams
        fast = RawClient(get(fast_browser.cookies["ccbox_session"]))
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", app.port)
        await endpoints.connectProtocol(endpoint, fast)

        def hang_up() -> defer.Deferred[None]:
            assert fast.transport is not None
            fast.transport.loseConnection()
            return fast.lost

        self.addCleanup(hang_up)
        await until(lambda: b"event: snapshot" in fast.raw, "the reading browser's snapshot")

        # The reactor's beat: a 50 ms tick, its longest gap kept.
        ticks: list[float] = []
        beat = task.LoopingCall(lambda: ticks.append(time.monotonic()))
        beat.start(0.05)
        self.addCleanup(lambda: beat.stop() if beat.running else None)

        transport = stalled.request.channel.transport
        feed = master.web.feed
        assert feed is not None
        previous: list[Any] = []
        generated, seq, held = 0, feed.seq, 0
        late: list[float] = []
        for round_ in range(30):
            for old in previous:
                acd.gave_up(old)
            previous = []
            for i in range(600):
                call = acd.join(queue, f"139{round_:04d}{i:04d}", f"r{round_}-{i}")
                call.caller_name = "N" * 120
                previous.append(call)
            # A change the reading browser must see at once, whatever the other one does.
            seen = len(fast.raw)
            if round_ % 2 == 0:
                acd.pause(agent.id, "break")
                want = b'"state":"paused"'
            else:
                acd.unpause(agent.id)
                want = b'"state":"available"'
            sent = time.monotonic()
            await until(lambda w=want, s=seen: w in fast.raw[s:], f"round {round_} at the reader")
            late.append(time.monotonic() - sent)
            await task.deferLater(reactor, 0.05, lambda: None)
            generated += sum(len(m.frame) for m in feed.ring if m.seq > seq)
            seq = feed.seq
            self.assertLessEqual(stalled.pending_bytes, live_sse.PENDING_BYTES)
            self.assertLessEqual(hub.pending_bytes, live_sse.HUB_PENDING_BYTES)
            buffered = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
            held = max(held, buffered)
        beat.stop()

        self.assertGreater(generated, 8 * 1024 * 1024)  # megabytes were published
        # The stalled browser: paused, its backlog dropped for a snapshot, bounded.
        self.assertIsNotNone(stalled.paused_at)
        self.assertTrue(stalled.stale)
        self.assertEqual(stalled.pending_bytes, 0)
        self.assertLess(stalled.written, generated / 2)  # the kernel took the rest
        self.assertLess(held, 1024 * 1024)
        self.assertGreaterEqual(hub.dropped, 1)
        self.assertTrue(any("has not read" in w for w in warnings), warnings)
        # The reading browser got each change within a flush or two.
        self.assertLess(max(late), 1.0, late)
        self.assertIn(b"event: call", fast.raw)
        # The reactor never stalled.
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        self.assertLess(max(gaps), 1.0, sorted(gaps)[-5:])
        self.assertEqual(len(hub.streams), 2)
        # Past STALLED_S the stalled stream is closed, with a log line; the reader stays.
        assert stalled.paused_at is not None
        stalled.paused_at -= live_sse.STALLED_S + 1
        hub.heartbeat()
        await until(lambda: len(hub.streams) == 1, "the stalled stream closed")
        self.assertTrue(any("not read for" in w for w in warnings), warnings)
        self.assertTrue(any(s is not stalled for s in hub.streams))


class PausedStreamsTogetherTests(unittest.TestCase):
    def test_all_paused_streams_together_hold_at_most_the_hub_bound(self) -> None:
        """Each stalled tab under its own bound, but many of them: past the hub's bound
        the one that would cross it keeps nothing (a snapshot when it drains)."""
        from twisted.internet.testing import MemoryReactorClock

        from webui.live_feed import Message, Viewer
        from webui.sessions import SessionStore, SessionUser

        self.patch(live_sse, "HUB_PENDING_BYTES", 3 * 100_000)
        clock = MemoryReactorClock()
        sessions = SessionStore(idle_seconds=3600)
        hub = live_sse.LiveHub(clock, feed=None, sessions=sessions)  # type: ignore[arg-type]
        viewer = Viewer("supervisor", None)
        streams = []
        for n in range(5):
            session, _ = sessions.get_or_create(None)
            session.user = SessionUser(n + 1, f"user{n}", "supervisor", "")
            stream = live_sse.Stream(hub, request=None, session=session, viewer=viewer)
            stream.pauseProducing()
            streams.append(stream)
        frame = b"x" * 100_000
        messages = [Message(1, "call", "call:1", frame, None)]
        for stream in streams:
            stream.deliver(messages, frame)
        self.assertEqual([s.stale for s in streams], [False, False, False, True, True])
        self.assertEqual(hub.pending_bytes, 3 * 100_000)
        self.assertEqual(hub.dropped, 2)
        streams[0].gone(None)  # a tab closed: what it held is free again
        self.assertEqual(hub.pending_bytes, 2 * 100_000)
