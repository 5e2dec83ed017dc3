"""The supervisor console's chats and e-mails over real HTTP with the real channels' engine
(acd/channels/service.py) in a running appliance: the waiting and active conversations
with their queue, agent, times and each agent's load; the read-only watch page (audited,
names escaped); only supervisors and admins; nothing when the engine does not run; the
labels in Chinese."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor, task

from appliance.cli import resolved
from appliance.db.channel_admin_store import ChannelAdminStore
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

HOSTILE = "<img src=x onerror=alert(1)>"


def seed(db: Any) -> None:
    store = ChannelAdminStore(db)
    q = resolved(db.queues.add("webchat", "在线客服"))
    resolved(store.set_queue_media(q.id, "chat"))
    resolved(store.save_topic(None, {"name": "help", "label_en": "Help", "queue_id": q.id}))
    agent = resolved(db.agents.add("1001", "Ann", "", "PJSIP/1001"))
    resolved(db.agents.set_member(q.id, agent.id))


class SupervisorChatsTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        master = self.app.master
        self.channels = master.channels
        for _ in range(200):  # the engine starts after the ACD has loaded
            if self.channels.ready:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        assert self.channels.ready
        self.agent_id = self.agent("1001").id
        master.acd.login(self.agent_id)
        (self.topic,) = self.channels.topics("en")

    async def start_chat(self, name: str) -> Any:
        return await self.channels.start_chat(
            topic_id=self.topic.id,
            name=name,
            phone="",
            email="",
            language="en",
            origin="https://shop.example.com",
        )

    async def listed(self, b: Any) -> dict[str, Any]:
        r = await self.call(b.get, "/supervisor/conversations")
        self.assertEqual(r.status, 200, r.body[:300])
        return r.json()

    async def test_waiting_and_active_conversations_with_loads(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        data = await self.listed(b)
        self.assertEqual((data["running"], data["conversations"]), (True, []))
        self.assertEqual(data["loads"][str(self.agent_id)], {"open": 0, "capacity": 3})

        conv = await self.start_chat(HOSTILE)
        data = await self.listed(b)
        (row,) = data["conversations"]
        self.assertEqual(
            (row["id"], row["media"], row["state"], row["name"], row["queue"]),
            (conv.id, "chat", "offered", HOSTILE, "在线客服"),
        )
        self.assertIsInstance(row["waiting_since"], float)
        self.assertLessEqual(row["waiting_since"], data["server_time"])
        self.assertEqual(data["queues"][str(conv.queue_id)], {"service_level_s": 20})
        self.assertEqual(data["loads"][str(self.agent_id)], {"open": 1, "capacity": 3})

        await self.channels.accept(self.agent_id, conv.id)
        (row,) = (await self.listed(b))["conversations"]
        self.assertEqual(
            (row["state"], row["agent_id"], row["agent"]), ("active", self.agent_id, "1001 Ann")
        )
        self.assertIsNone(row["waiting_since"])
        self.assertIsInstance(row["answered_at"], float)

        # the console has the section, and the agent's row its live view (script-built)
        page = await self.call(b.get, "/supervisor")
        self.assertIn('id="sv-conversations"', page.body)
        self.assertIn('"live_view": "Live view"', page.body)
        self.assertIn('"chats_every_ms": 2000', page.body)

    async def test_the_watch_page_is_audited_and_escapes_the_customer(self) -> None:
        await self._start()
        conv = await self.start_chat(HOSTILE)
        b = await self.app.logged_in("sup")
        page = await self.call(b.get, f"/supervisor/chat?id={conv.id}")
        self.assertEqual(page.status, 200)
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertIn(f'data-conversation="{conv.id}"', page.body)
        self.assertIn("/static/supervisor_chat.js", page.body)
        (row,) = await self.app.master.db.audit.recent(action="supervisor.chat.open")
        self.assertEqual((row.actor, row.target), ("sup", f"conversation:{conv.id}"))
        # an ended conversation is still shown from the database; an unknown one is 404
        await self.channels.customer_left(conv.id)
        page = await self.call(b.get, f"/supervisor/chat?id={conv.id}")
        self.assertEqual(page.status, 200)
        for bad in ("999", "x", "-1", ""):
            r = await self.call(b.get, f"/supervisor/chat?id={bad}")
            self.assertEqual(r.status, 404, bad)

    async def test_only_supervisors_and_admins(self) -> None:
        await self._start()
        conv = await self.start_chat("Li Lei")
        for name in ("agent", "qa"):
            b = await self.app.logged_in(name)
            for path in ("/supervisor/conversations", f"/supervisor/chat?id={conv.id}"):
                self.assertEqual((await self.call(b.get, path)).status, 403, (name, path))
        anon = self.app.browser()
        r = await self.call(anon.get, "/supervisor/conversations")
        self.assertEqual(r.status, 401)
        admin = await self.app.logged_in("admin")
        self.assertEqual(len((await self.listed(admin))["conversations"]), 1)
        self.assertEqual(await self.app.master.db.audit.recent(action="supervisor.chat.open"), [])

    async def test_nothing_when_the_engine_does_not_run(self) -> None:
        await self._start()
        ctx = self.app.master.web.ctx
        ctx.channels = None
        b = await self.app.logged_in("sup")
        data = await self.listed(b)
        self.assertEqual((data["running"], data["conversations"], data["loads"]), (False, [], {}))

    async def test_the_console_and_the_watch_page_read_in_chinese(self) -> None:
        await self._start()
        conv = await self.start_chat("韩梅梅")
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        page = (await self.call(b.get, "/supervisor")).body
        for text in ("聊天和邮件", "等待/时长"):
            self.assertIn(text, page)
        start = page.index('<script type="application/json" id="sv-i18n">')
        texts = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
        self.assertEqual(
            (texts["watch"], texts["join"], texts["live_view"], texts["media"]["chat"]),
            ("旁听", "加入", "实时查看", "聊天"),
        )
        page = (await self.call(b.get, f"/supervisor/chat?id={conv.id}")).body
        for text in ("正在旁听", "韩梅梅", "只有坐席能看到", "发送"):
            self.assertIn(text, page)
