"""The queue form's medium and the agent form's conversation capacity over real HTTP: a queue
that callers wait in or that a flow, a topic or an account uses keeps its medium (a
message, nothing changed); the capacity's range; audit rows; Chinese labels."""

from __future__ import annotations

import json
from typing import Any

from appliance.cli import resolved
from appliance.db import model
from appliance.db.admin_store import AdminStore
from appliance.db.channel_admin_store import ChannelAdminStore
from appliance.db.components import utcnow
from tests.unit.test_admin_channels import ChannelsPageCase
from tests.unit.test_admin_pages import QUEUE_FORM


def _flow_using(name: str) -> Any:
    graph = {"nodes": [{"id": "q", "type": "queue", "props": {"queue": name}}], "edges": []}

    def thd(conn: Any) -> None:
        conn.execute(
            model.ivr_flows.insert().values(
                name="front", graph=json.dumps(graph), updated_at=utcnow()
            )
        )

    return thd


class QueueMediaTests(ChannelsPageCase):
    async def save(self, b: Any, queue_id: int, **change: str) -> str:
        edit = f"/admin/queues/edit?id={queue_id}"
        form = {"id": str(queue_id), **QUEUE_FORM, "overflow_kind": "hangup", **change}
        page = await self.submit(b, edit, "/admin/queues/save", form)
        return str(page.body)

    async def test_the_medium_is_chosen_on_the_queue_form(self) -> None:
        await self._start()
        b = await self.admin()
        page = await self.call(b.get, "/admin/queues")
        self.assertIn('name="media"', page.body)
        body = await self.save(b, self.sales, media="chat")
        self.assertIn("Queue saved.", body)
        self.assertEqual((await self.store.queue_media())[self.sales], "chat")
        self.assertIn("queues", self.reloads.seen)
        # the running ACD moved it to the channels' queues at once
        acd = self.app.master.acd
        self.assertIn(self.sales, acd.channel_queues)
        self.assertNotIn(self.sales, acd.queues)
        audit = await self.db.audit.recent(target=f"queue:{self.sales}", action="admin.queue.save")
        self.assertEqual((audit[0].detail["media"], audit[0].detail["old_media"]), ("chat", "call"))
        # a form without the field leaves the medium alone (the API and older pages)
        await self.save(b, self.sales)
        self.assertEqual((await self.store.queue_media())[self.sales], "chat")
        body = await self.save(b, self.sales, media="fax")
        self.assertIn("Takes: not a valid choice.", body)
        # a new queue may take e-mails from the start
        token = (await self.call(b.get, "/admin/queues")).csrf()
        form = {"_csrf": token, "name": "inbox", "strategy": "longest_idle", "media": "email"}
        await self.call(b.post, "/admin/queues/add", form)
        queues = {q.name: q.id for q in await self.db.queues.list_all()}
        self.assertEqual((await self.store.queue_media())[queues["inbox"]], "email")

    async def test_a_queue_in_use_keeps_its_medium(self) -> None:
        await self._start()
        b = await self.admin()
        await self.db.run(_flow_using("sales"))
        body = await self.save(b, self.sales, media="email", display_name="changed")
        self.assertIn("the IVR flow front", body)
        self.assertEqual((await self.store.queue_media())[self.sales], "call")
        row = await self.app.master.db.queues.list_all()
        self.assertNotIn("changed", [q.display_name for q in row])

        topic = await self.store.save_topic(None, {"name": "help", "queue_id": self.chat})
        await self.store.save_topic(None, {"name": "sales-help", "queue_id": self.chat})
        body = await self.save(b, self.chat, media="call")
        self.assertIn("the chat topic help; the chat topic sales-help", body)
        # in Chinese, every part of the refusal
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        body = await self.save(b, self.chat, media="call")
        for part in ("继续接收聊天", "聊天主题 help", "聊天主题 sales-help"):
            self.assertIn(part, body)
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "en", "next": "/"})
        await self.store.delete_topic(topic + 1)
        await self.store.delete_topic(topic)
        body = await self.save(b, self.chat, media="call")
        self.assertIn("Queue saved.", body)

    async def test_callers_waiting_keep_a_call_queue(self) -> None:
        await self._start()
        b = await self.admin()
        acd = self.app.master.acd
        call = acd.join(self.sales, "5551234", "1700000000.1")
        self.assertTrue(acd.is_waiting(call))
        self.addCleanup(lambda: acd.abandoned(call) if acd.is_waiting(call) else None)
        body = await self.save(b, self.sales, media="chat")
        self.assertIn("Callers are waiting in this queue", body)
        self.assertEqual((await self.store.queue_media())[self.sales], "call")

    async def test_calls_overflow_only_into_a_queue_of_calls(self) -> None:
        """A call queue that overflowed into a chat queue lost its callers (the ACD has no
        such call queue: the caller left its line and found none); the form offers and takes
        only queues of calls."""
        await self._start()
        b = await self.admin()
        page = await self.call(b.get, f"/admin/queues/edit?id={self.sales}")
        self.assertNotIn(f'<option value="{self.chat}"', page.body)
        body = await self.save(
            b, self.sales, overflow_kind="queue", overflow_queue_id=str(self.chat)
        )
        self.assertIn("Overflow to a queue: choose a queue that takes calls.", body)
        queue = await AdminStore(self.db).queue(self.sales)
        self.assertIsNone(queue["overflow_queue_id"])
        # nor with the medium changed in the same form (nothing of it is saved)
        body = await self.save(
            b, self.sales, media="chat", overflow_kind="queue", overflow_queue_id=str(self.chat)
        )
        self.assertIn("choose a queue that takes calls", body)
        self.assertEqual((await self.store.queue_media())[self.sales], "call")


class CapacityTests(ChannelsPageCase):
    async def test_capacity_is_saved_checked_and_audited(self) -> None:
        await self._start()
        agent = await self.db.agents.add("1001", "A", "", "")
        b = await self.admin()
        edit = f"/admin/agents/edit?id={agent.id}"
        page = await self.call(b.get, edit)
        self.assertIn('name="max_chats"', page.body)
        form = {"id": str(agent.id), "max_chats": "5", "chat_on_call": "1"}
        page = await self.submit(b, edit, "/admin/agents/capacity", form)
        self.assertIn("Capacity saved.", page.body)
        self.assertEqual(await self.store.agent_capacity(agent.id), (5, True, False))
        self.assertIn("agents", self.reloads.seen)
        audit = await self.db.audit.recent(action="admin.agent.capacity")
        self.assertEqual(audit[0].detail["max_chats"], 5)
        for bad, message in (
            ("11", "a whole number from 0 to 10"),
            ("-1", "a whole number from 0 to 10"),
            ("x", "a whole number from 0 to 10"),
            ("", "Chats and e-mails at once: required."),
        ):
            page = await self.submit(b, edit, "/admin/agents/capacity", {**form, "max_chats": bad})
            self.assertIn(message, page.body, bad)
        self.assertEqual(await self.store.agent_capacity(agent.id), (5, True, False))

    async def test_the_forms_read_in_chinese(self) -> None:
        await self._start()
        agent = await self.db.agents.add("1001", "A", "", "")
        b = await self.admin()
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        page = await self.call(b.get, f"/admin/agents/edit?id={agent.id}")
        self.assertIn("同时接待的聊天和邮件数", page.body)
        page = await self.call(b.get, "/admin/queues")
        self.assertIn("聊天", page.body)
        self.assertIn("接收", page.body)


def test_seed_queues_have_their_media(db: Any) -> None:
    """The shared seed (tests/unit/test_admin_channels.py) makes one queue per medium."""
    from tests.unit.test_admin_channels import seed

    seed(db)
    media = resolved(ChannelAdminStore(db).queue_media())
    assert sorted(media.values()) == ["call", "chat", "email"]
