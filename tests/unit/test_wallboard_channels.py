"""The wallboard per channel: the live feed turns the channels' bus events into
``channel_queue`` messages from the engine's ``queue_stats`` (coalesced, sent again only when
a figure changed), with the unanswered e-mail threads' reply deadlines; staff and the
wallboard see them, agents do not; the snapshot carries them; an engine that fails costs the
feed nothing. The page: a tile per channel and a card per chat or e-mail queue, in Chinese
too.

The engine here is a stand-in with the contract's methods returning the contract's own
dataclasses (acd/channels/conversation.py), driven by the contract's bus events."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from twisted.internet import reactor, task
from twisted.internet.task import Clock

from acd.channels.conversation import ChannelQueueStats, Conversation
from acd.channels.events import ChannelQueueStatsChanged, ConversationStateChanged
from appliance.cli import resolved
from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.eventbus import EventBus
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui.live_feed import FLUSH_S, LiveFeed, Message, Viewer

START = 1_795_353_000.0
WALLBOARD = Viewer("supervisor", None, wallboard=True)
SUPERVISOR = Viewer("supervisor", None)
AGENT = Viewer("agent", 5)


class Engine:
    """The channels' engine as the live feed reads it (queue_stats, waiting, active)."""

    def __init__(self) -> None:
        self.stats: dict[int, ChannelQueueStats] = {}
        self.open: list[Conversation] = []
        self.fail = False
        self.asked: list[list[int] | None] = []  # each queue_stats call's ``only``

    def queue_stats(self, only: Iterable[int] | None = None) -> dict[int, ChannelQueueStats]:
        if self.fail:
            raise RuntimeError("engine broken")
        self.asked.append(None if only is None else sorted(only))
        return {q: s for q, s in self.stats.items() if only is None or q in set(only)}

    def waiting(self) -> list[Conversation]:
        return [c for c in self.open if c.state == "waiting"]

    def active(self) -> list[Conversation]:
        return [c for c in self.open if c.state in ("offered", "active", "wrap_up")]


def stats(qid: int, media: str, **values: Any) -> ChannelQueueStats:
    base: dict[str, Any] = dict(
        waiting=0,
        oldest_wait_s=0.0,
        active=0,
        offered_today=0,
        answered_today=0,
        answered_in_sl_today=0,
        abandoned_today=0,
        service_level_pct=None,
    )
    base.update(values)
    return ChannelQueueStats(qid, media, **base)


def thread(cid: int, qid: int, state: str, due_in_s: float, replied: bool = False) -> Conversation:
    at = dt.datetime.fromtimestamp(START, dt.UTC)
    return Conversation(
        id=cid,
        media="email",
        state=state,
        queue_id=qid,
        created_at=at,
        due_at=at + dt.timedelta(seconds=due_in_s),
        first_reply_at=at if replied else None,
    )


class Rig:
    def __init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.bus = EventBus()
        self.engine: Engine | None = Engine()
        self.feed = LiveFeed(self.clock, self.bus, None, channels=lambda: self.engine)
        self.feed.start()

    def tick(self) -> list[Message]:
        before = self.feed.seq
        self.clock.advance(FLUSH_S)
        return [m for m in self.feed.ring if m.seq > before]


def body(frame: bytes) -> tuple[str, dict[str, Any]]:
    lines = frame.decode().split("\n")
    (event,) = [ln[len("event: ") :] for ln in lines if ln.startswith("event: ")]
    (data,) = [ln[len("data: ") :] for ln in lines if ln.startswith("data: ")]
    return event, json.loads(data)


def test_channel_queue_figures_reach_staff_and_the_wallboard_not_agents() -> None:
    rig = Rig()
    assert rig.engine is not None
    rig.engine.stats = {
        7: stats(
            7,
            "chat",
            waiting=2,
            oldest_wait_s=42.5,
            active=3,
            offered_today=10,
            answered_today=8,
            answered_in_sl_today=6,
            abandoned_today=1,
            service_level_pct=66.7,
        ),
        8: stats(8, "email", waiting=1, oldest_wait_s=600.0),
    }
    for _ in range(50):  # a burst: one message per queue
        rig.bus.publish(ChannelQueueStatsChanged(7))
    out = rig.tick()
    assert [m.key for m in out] == ["channel_queue:7"]
    # the engine counted queue 7's figures only, once (not every queue's on each flush)
    assert rig.engine.asked == [[7]]
    event, data = body(out[0].frame)
    assert event == "channel_queue"
    assert data == {
        "id": 7,
        "media": "chat",
        "waiting": 2,
        "longest_wait_s": 42.5,
        "oldest_since": round(START + FLUSH_S - 42.5),
        "active": 3,
        "offered": 10,
        "answered": 8,
        "answered_in_sl": 6,
        "abandoned": 1,
        "service_level": 0.667,
        "reply_due": [],
    }
    assert WALLBOARD.frame(out[0]) == out[0].frame
    assert SUPERVISOR.frame(out[0]) == out[0].frame
    assert AGENT.frame(out[0]) is None
    # nothing changed: nothing sent; a conversation moving marks its queue
    rig.bus.publish(ChannelQueueStatsChanged(7))
    assert rig.tick() == []
    rig.engine.stats[7] = stats(7, "chat", waiting=1, oldest_wait_s=5.0, active=4)
    rig.bus.publish(ConversationStateChanged(99, "chat", 7, 5, "waiting", "active", START))
    (m,) = rig.tick()
    assert body(m.frame)[1]["active"] == 4
    # a conversation without a queue (a message left) marks nothing
    rig.bus.publish(ConversationStateChanged(100, "chat", None, None, "", "message", START))
    assert rig.tick() == []


def test_email_queues_carry_the_unanswered_threads_reply_deadlines() -> None:
    rig = Rig()
    assert rig.engine is not None
    rig.engine.stats = {8: stats(8, "email", waiting=2, active=2), 9: stats(9, "email")}
    rig.engine.open = [
        thread(1, 8, "waiting", -60),  # past due
        thread(2, 8, "waiting", 3600),  # due in an hour
        thread(3, 8, "active", -30, replied=True),  # answered: no longer due
        thread(4, 8, "active", -10),  # taken, not yet answered: past due
        thread(5, 9, "waiting", -5),  # another queue's
    ]
    rig.bus.publish(ChannelQueueStatsChanged(8))
    (m,) = rig.tick()
    data = body(m.frame)[1]
    assert data["reply_due"] == [START - 60, START - 10, START + 3600]


def test_the_snapshot_carries_every_channel_queue_for_staff_and_the_wallboard() -> None:
    rig = Rig()
    assert rig.engine is not None
    rig.engine.stats = {7: stats(7, "chat", waiting=1, oldest_wait_s=3.0), 8: stats(8, "email")}
    for viewer, expected in ((WALLBOARD, [7, 8]), (SUPERVISOR, [7, 8]), (AGENT, [])):
        event, snap = body(rig.feed.snapshot(viewer))
        assert event == "snapshot"
        assert [q["id"] for q in snap["channel_queues"]] == expected
    # no engine (the channels are off): no channel queues, no failure
    rig.engine = None
    assert body(rig.feed.snapshot(WALLBOARD))[1]["channel_queues"] == []
    rig.bus.publish(ChannelQueueStatsChanged(7))
    assert rig.tick() == []


def test_an_engine_that_fails_costs_the_feed_nothing() -> None:
    rig = Rig()
    assert rig.engine is not None
    rig.engine.fail = True
    rig.bus.publish(ChannelQueueStatsChanged(7))
    assert rig.tick() == []
    assert body(rig.feed.snapshot(WALLBOARD))[1]["channel_queues"] == []
    rig.engine.fail = False
    rig.engine.stats = {7: stats(7, "chat", waiting=1)}
    rig.bus.publish(ChannelQueueStatsChanged(7))
    assert [m.key for m in rig.tick()] == ["channel_queue:7"]


HOSTILE = "<img src=x onerror=alert(1)>"


def seed(db: Any) -> None:
    store = ChannelAdminStore(db)
    resolved(db.queues.add("phones", "Phones"))
    for name, display, media in (("web", HOSTILE, "chat"), ("inbox", "邮件支持", "email")):
        q = resolved(db.queues.add(name, display))
        resolved(store.set_queue_media(q.id, media))


class WallboardChannelPageTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)

    def config(self, page: str) -> dict[str, Any]:
        start = page.index('<script type="application/json" id="wb-config">') + len(
            '<script type="application/json" id="wb-config">'
        )
        return json.loads(page[start : page.index("</script>", start)])

    async def test_a_tile_per_channel_and_a_card_per_chat_or_email_queue(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        page = (await self.call(b.get, "/wallboard")).body
        for media in ("call", "chat", "email"):
            self.assertIn(f'class="wb-channel" data-media="{media}"', page)
        queues = {q.name: q.id for q in await self.app.master.db.queues.list_all()}
        self.assertIn(f'data-queue-id="{queues["phones"]}"', page)
        for name in ("web", "inbox"):
            self.assertIn(f'data-channel-queue-id="{queues[name]}"', page)
            self.assertNotIn(f'data-queue-id="{queues[name]}"', page)
        self.assertNotIn(HOSTILE, page)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page)
        config = self.config(page)
        self.assertEqual(
            config["media"],
            {
                str(queues["phones"]): "call",
                str(queues["web"]): "chat",
                str(queues["inbox"]): "email",
            },
        )
        self.assertEqual(config["queue_names"][str(queues["inbox"])], "邮件支持")
        self.assertEqual(config["texts"]["sla_breaches"], "Past reply due")
        self.assertIn("<h2>All call queues</h2>", page)  # the totals are the call queues'
        # a screen of chosen queues shows only those
        page = (await self.call(b.get, "/wallboard?queues=inbox")).body
        self.assertIn(f'data-channel-queue-id="{queues["inbox"]}"', page)
        self.assertNotIn(f'data-channel-queue-id="{queues["web"]}"', page)
        self.assertNotIn(f'data-queue-id="{queues["phones"]}"', page)

    async def test_the_channel_tiles_read_in_chinese(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        page = (await self.call(b.get, "/wallboard")).body
        for text in ("通话", "聊天", "电子邮件", "进行中", "超过回复时限"):
            self.assertIn(text, page)
        config = self.config(page)
        self.assertEqual(config["texts"]["media_chat"], "聊天")
        self.assertEqual(config["texts"]["active"], "进行中")


class RealEngineTests(WebTestCase):
    """The figures from the real engine (acd/channels/service.py) in a running appliance."""

    async def _start(self) -> None:
        from tests.unit.test_admin_channels_supervisor import seed as chat_seed

        self.app = await RunningAppliance.start(temp_dir(self), seed=chat_seed)
        self.addCleanup(self.app.stop)
        self.channels = self.app.master.channels
        for _ in range(200):
            if self.channels.ready:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        assert self.channels.ready
        feed = self.app.master.web.feed
        assert feed is not None
        self.feed: LiveFeed = feed

    def channel_queues(self) -> list[dict[str, Any]]:
        return list(body(self.feed.snapshot(WALLBOARD))[1]["channel_queues"])

    async def test_a_chat_waiting_then_answered_shows_on_the_wallboard(self) -> None:
        await self._start()
        (q,) = self.channel_queues()
        self.assertEqual((q["media"], q["waiting"], q["active"], q["offered"]), ("chat", 0, 0, 0))
        agent = self.agent("1001")
        self.app.master.acd.login(agent.id)
        (topic,) = self.channels.topics("zh")
        sent: list[Message] = []
        self.feed.listeners.append(sent.extend)
        conv = await self.channels.start_chat(
            topic_id=topic.id,
            name="王小明",
            phone="",
            email="",
            language="zh",
            origin="https://shop.example.cn",
        )
        await self.channels.accept(agent.id, conv.id)
        await task.deferLater(reactor, FLUSH_S * 2, lambda: None)
        (q,) = self.channel_queues()
        self.assertEqual((q["waiting"], q["active"], q["offered"], q["answered"]), (0, 1, 1, 1))
        self.assertEqual(q["service_level"], 1.0)
        mine = [body(m.frame)[1] for m in sent if m.kind == "channel_queue"]
        self.assertTrue(mine, "the engine's events reached the feed")
        self.assertEqual((mine[-1]["id"], mine[-1]["active"]), (q["id"], 1))
