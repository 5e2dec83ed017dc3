"""The admin's Channels page over real HTTP: admin only, CSRF, every form's bad values (a
message, nothing changed), hostile text escaped, write-only e-mail passwords, audit rows,
and the running services told after a change."""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import reactor

from appliance.cli import resolved
from appliance.db import model
from appliance.db.channel_admin_store import ChannelAdminStore
from drivers.mail.sim.server import LoopbackMailServer
from tests.support.appliance import RunningAppliance
from tests.support.http import Browser
from tests.support.tmp import temp_dir
from tests.unit.test_admin_pages import HOSTILE, AdminPagesCase

PAGE = "/admin/channels"


def seed(db: Any) -> None:
    store = ChannelAdminStore(db)
    for name, media in (("sales", "call"), ("webchat", "chat"), ("mail", "email")):
        q = resolved(db.queues.add(name, name.title()))
        resolved(store.set_queue_media(q.id, media))


class Reloads:
    """What the page tells the running services: a stand-in for ctx.channels and
    ctx.email_channel with their reload methods (the engine's ``reload_topics`` is a
    coroutine, as acd/channels/service.py has it; the rest as a future engine may add them)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def reload_topics(self) -> None:
        self.seen.append("topics")

    def reload_origins(self) -> None:
        self.seen.append("origins")

    def reload_canned(self) -> None:
        self.seen.append("canned")

    def reload_accounts(self) -> None:
        self.seen.append("accounts")

    def reload_routes(self) -> None:
        self.seen.append("routes")

    def reload_queues(self) -> None:
        self.seen.append("queues")

    def reload_agents(self) -> None:
        self.seen.append("agents")

    def reload(self) -> None:
        self.seen.append("email")


ACCOUNT = {
    "name": "support",
    "address": "Support@Example.com",
    "display_name": "客服中心",
    "imap_host": "imap.example.com",
    "imap_port": "993",
    "imap_security": "tls",
    "imap_user": "support",
    "imap_password": "imap secret",
    "imap_folder": "INBOX",
    "smtp_host": "smtp.example.com",
    "smtp_port": "587",
    "smtp_security": "starttls",
    "smtp_user": "support",
    "smtp_password": "smtp secret",
    "sla_minutes": "120",
    "auto_reply": "1",
    "auto_reply_body": "我们已收到您的邮件。\nWe got your mail.",
    "enabled": "1",
}


class ChannelsPageCase(AdminPagesCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.db = self.app.master.db
        self.acd = self.app.master.acd
        self.store = ChannelAdminStore(self.db)
        self.reloads = Reloads()
        ctx = self.app.master.web.ctx
        ctx.channels = self.reloads
        ctx.email_channel = self.reloads
        queues = {q.name: q.id for q in await self.db.queues.list_all()}
        self.sales, self.chat, self.mail = queues["sales"], queues["webchat"], queues["mail"]

    async def post(self, b: Browser, action: str, form: dict[str, str]) -> str:
        page = await self.submit(b, PAGE, f"{PAGE}/{action}", form)
        return str(page.body)


class AccessTests(ChannelsPageCase):
    async def test_only_admins_open_or_change_it(self) -> None:
        await self._start()
        anon = self.app.browser()
        r = await self.call(anon.get, PAGE)
        self.assertEqual(r.status, 303)
        self.assertIn("/login?next=" + PAGE, r.location)
        for name in ("sup", "agent", "qa"):
            b = await self.app.logged_in(name)
            for path in (PAGE, f"{PAGE}/account"):
                self.assertEqual((await self.call(b.get, path)).status, 403, (name, path))
            token = (await self.call(b.get, "/")).csrf()
            r = await self.call(
                b.post, f"{PAGE}/origin_add", {"_csrf": token, "origin": "https://x.example"}
            )
            self.assertEqual(r.status, 403)
            home = await self.call(b.get, "/")
            self.assertNotIn('href="/admin/channels"', home.body)
        admin = await self.admin()
        page = await self.call(admin.get, PAGE)
        self.assertEqual(page.status, 200)
        self.assertIn('href="/admin/channels"', page.body)
        # without the CSRF token: refused, nothing added
        r = await self.call(admin.post, f"{PAGE}/origin_add", {"origin": "https://x.example"})
        self.assertEqual(r.status, 403)
        self.assertEqual(await self.store.origins(), [])
        self.assertEqual(self.reloads.seen, [])


class TopicTests(ChannelsPageCase):
    async def test_a_topic_is_added_changed_and_deleted_on_a_chat_queue(self) -> None:
        await self._start()
        b = await self.admin()
        form = {
            "name": "billing",
            "label_zh": "账单问题",
            "label_en": HOSTILE,
            "queue_id": str(self.chat),
            "position": "1",
            "enabled": "1",
        }
        body = await self.post(b, "topic_save", form)
        self.assertIn("Topic billing saved.", body)
        self.assertIn("账单问题", body)
        self.assertNotIn(HOSTILE, body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", body)
        (topic,) = await self.store.topics()
        self.assertEqual(
            (topic.label_zh, topic.queue_id, topic.enabled), ("账单问题", self.chat, True)
        )
        self.assertEqual(self.reloads.seen, ["topics"])
        audit = await self.db.audit.recent(target=f"chat_topic:{topic.id}")
        self.assertEqual(audit[0].action, "admin.channels.topic.save")

        await self.post(b, "topic_save", {**form, "id": str(topic.id), "label_en": "Billing"})
        (topic,) = await self.store.topics()
        self.assertEqual(topic.label_en, "Billing")
        await self.post(b, "topic_delete", {"id": str(topic.id)})
        self.assertEqual(await self.store.topics(), [])

    async def test_bad_topics_give_a_message_and_change_nothing(self) -> None:
        await self._start()
        b = await self.admin()
        good = {"name": "t", "label_en": "T", "queue_id": str(self.chat), "position": "0"}
        cases = [
            ({"queue_id": str(self.sales)}, "the queue sales takes calls, not chats"),
            ({"queue_id": str(self.mail)}, "the queue mail takes e-mails, not chats"),
            ({"queue_id": "999"}, "no queue 999"),
            ({"queue_id": "x"}, "Queue: not a valid choice."),
            ({"name": ""}, "Topic name: required."),
            ({"name": "bad name"}, "Topic name: letters, digits"),
            ({"label_en": "", "label_zh": ""}, "needs a Chinese or an English label"),
            ({"label_en": "x" * 129}, "at most 128 characters"),
            ({"label_en": "a\x00b"}, "control characters are not allowed"),
            ({"position": "-1"}, "a whole number from 0 to 999"),
            ({"queue_id": "", "enabled": "1"}, "An enabled topic needs a chat queue."),
        ]
        for change, message in cases:
            body = await self.post(b, "topic_save", {**good, **change})
            self.assertIn(message, body, change)
        self.assertEqual(await self.store.topics(), [])
        self.assertEqual(self.reloads.seen, [])


class OriginTests(ChannelsPageCase):
    async def test_origins_are_kept_as_the_browser_sends_them(self) -> None:
        await self._start()
        b = await self.admin()
        body = await self.post(b, "origin_add", {"origin": "HTTPS://Shop.Example.cn:443/"})
        self.assertIn("https://shop.example.cn may embed the chat widget.", body)
        body = await self.post(b, "origin_add", {"origin": "https://shop.example.cn"})
        self.assertIn("Already exists", body)
        for bad in (
            "https://shop.example.cn/chat",
            "shop.example.cn",
            "ftp://shop.example.cn",
            "https://shop.example.cn?x=1",
            "javascript:alert(1)",
            HOSTILE,
            "",
        ):
            body = await self.post(b, "origin_add", {"origin": bad})
            self.assertIn("Web site:", body, bad)
            self.assertNotIn(HOSTILE, body)
        rows = await self.store.origins()
        self.assertEqual([r.origin for r in rows], ["https://shop.example.cn"])
        self.assertEqual(self.reloads.seen, ["origins"])
        await self.post(b, "origin_delete", {"id": str(rows[0].id)})
        self.assertEqual(await self.store.origins(), [])
        actions = [a.action for a in await self.db.audit.recent()]
        self.assertIn("admin.channels.origin.add", actions)
        self.assertIn("admin.channels.origin.delete", actions)


class CannedTests(ChannelsPageCase):
    async def test_canned_replies_with_their_scope_and_variables(self) -> None:
        await self._start()
        b = await self.admin()
        page = await self.call(b.get, PAGE)
        self.assertIn("{customer_name}", page.body)
        form = {
            "title": "问候",
            "body": "您好 {customer_name} 我是 {agent_name}。\r\n<b>hi</b>",
            "scope": f"queue:{self.chat}",
            "language": "zh_CN",
            "position": "0",
        }
        body = await self.post(b, "canned_save", form)
        self.assertIn("Canned reply saved.", body)
        self.assertIn("&lt;b&gt;hi&lt;/b&gt;", body)
        (row,) = await self.store.canned()
        self.assertEqual((row.queue_id, row.topic_id, row.language), (self.chat, None, "zh_CN"))
        self.assertEqual(row.body, "您好 {customer_name} 我是 {agent_name}。\n<b>hi</b>")
        cases = [
            ({"scope": f"queue:{self.sales}"}, "canned replies are for chat and e-mail queues"),
            ({"scope": "topic:999"}, "no topic 999"),
            ({"scope": "everything"}, "For: not a valid choice."),
            ({"language": "fr"}, "Language: not a valid choice."),
            ({"title": ""}, "Title: required."),
            ({"body": "x" * 4001}, "at most 4000 characters"),
            ({"body": "a\x1bb"}, "control characters are not allowed"),
            ({"body": "Hi {customer}"}, "unknown variable {customer}; the variables are"),
        ]
        for change, message in cases:
            body = await self.post(b, "canned_save", {**form, "id": str(row.id), **change})
            self.assertIn(message, body, change)
        self.assertEqual(await self.store.canned(), [row])
        # braces that are no variable's (an attribute, literal braces) are kept as typed
        odd = "{customer_name.__class__} {{agent_name}} {reference}"
        body = await self.post(b, "canned_save", {**form, "id": str(row.id), "body": odd})
        self.assertIn("Canned reply saved.", body)
        self.assertEqual((await self.store.canned())[0].body, odd)
        await self.post(b, "canned_save", {**form, "id": str(row.id), "scope": ""})
        self.assertIsNone((await self.store.canned())[0].queue_id)
        await self.post(b, "canned_delete", {"id": str(row.id)})
        self.assertEqual(await self.store.canned(), [])
        self.assertEqual(set(self.reloads.seen), {"canned"})


class AccountTests(ChannelsPageCase):
    async def test_passwords_are_never_shown_and_blank_keeps_them(self) -> None:
        await self._start()
        b = await self.admin()
        new = f"{PAGE}/account"
        form = {**ACCOUNT, "queue_id": str(self.mail)}
        page = await self.submit(b, new, f"{PAGE}/account_save", form)
        self.assertIn("E-mail account support saved.", page.body)
        (acc,) = await self.store.accounts()
        self.assertEqual((acc.address, acc.sla_minutes), ("support@example.com", 120))
        edit = f"{PAGE}/account?id={acc.id}"
        page = await self.call(b.get, edit)
        self.assertEqual(page.status, 200)
        self.assertIn("客服中心", page.body)
        self.assertNotIn("secret", page.body)
        self.assertIn("leave blank to keep it", page.body)
        blank = {**form, "id": str(acc.id), "imap_password": "", "smtp_password": ""}
        await self.submit(b, edit, f"{PAGE}/account_save", {**blank, "sla_minutes": "30"})

        def passwords(conn: Any) -> tuple[str, str]:
            a = model.email_accounts
            r = conn.execute(a.select()).one()
            return r.imap_password, r.smtp_password

        self.assertEqual(await self.db.run(passwords), ("imap secret", "smtp secret"))
        self.assertEqual((await self.store.accounts())[0].sla_minutes, 30)
        await self.submit(b, edit, f"{PAGE}/account_save", {**blank, "smtp_password": "新密码"})
        self.assertEqual(await self.db.run(passwords), ("imap secret", "新密码"))
        audit = str(await self.db.audit.recent())
        self.assertNotIn("secret", audit)
        self.assertNotIn("新密码", audit)
        self.assertIn("smtp_password_set", audit)
        self.assertEqual(set(self.reloads.seen), {"accounts", "email"})
        self.assertEqual(self.reloads.seen.count("email"), 3)

    async def test_bad_accounts_give_a_message_and_change_nothing(self) -> None:
        await self._start()
        b = await self.admin()
        new = f"{PAGE}/account"
        good = {**ACCOUNT, "queue_id": str(self.mail)}
        cases = [
            ({"queue_id": str(self.chat)}, "the queue webchat takes chats, not e-mails"),
            ({"queue_id": ""}, "An enabled account needs an e-mail queue."),
            ({"smtp_host": ""}, "needs an SMTP server"),
            ({"address": "not an address"}, "Address: not an e-mail address."),
            ({"address": "a@b.com\r\nBcc: x@y.com"}, "control characters"),
            ({"imap_host": "imap example.com"}, "a host name or an address"),
            ({"imap_host": ""}, "IMAP server: required."),
            ({"imap_port": "0"}, "a whole number from 1 to 65535"),
            ({"smtp_security": "ssl3"}, "SMTP security: not a valid choice."),
            ({"imap_password": "a\nb"}, "control characters are not allowed"),
            ({"imap_password": "x" * 501}, "at most 500 characters"),
            ({"sla_minutes": "0"}, "a whole number from 1 to 43200"),
            ({"name": "a/b"}, "Account name: letters, digits"),
        ]
        for change, message in cases:
            page = await self.submit(b, new, f"{PAGE}/account_save", {**good, **change})
            self.assertIn(message, page.body, change)
        self.assertEqual(await self.store.accounts(), [])
        self.assertEqual(self.reloads.seen, [])
        token = (await self.call(b.get, new)).csrf()
        for bad in ("x", "0", "-1"):
            r = await self.call(b.post, f"{PAGE}/account_save", {"_csrf": token, **good, "id": bad})
            self.assertEqual(r.status, 400, bad)
        r = await self.call(b.post, f"{PAGE}/account_save", {"_csrf": token, **good, "id": "999"})
        self.assertEqual(r.status, 303)  # no such account: a message, nothing written
        self.assertEqual(await self.store.accounts(), [])
        self.assertEqual((await self.call(b.get, f"{PAGE}/account?id=999")).status, 404)
        self.assertEqual((await self.call(b.get, f"{PAGE}/account?id=x")).status, 404)


class RouteTests(ChannelsPageCase):
    async def test_routes_by_sender_or_keyword_to_an_email_queue(self) -> None:
        await self._start()
        b = await self.admin()
        good = {"kind": "sender", "pattern": "@VIP.example.com", "queue_id": str(self.mail)}
        body = await self.post(b, "route_save", {**good, "position": "1"})
        self.assertIn("Route saved.", body)
        body = await self.post(
            b,
            "route_save",
            {"kind": "keyword", "pattern": "退款", "queue_id": str(self.mail), "position": "2"},
        )
        routes = await self.store.routes()
        self.assertEqual(
            [(r.kind, r.pattern) for r in routes],
            [("sender", "@vip.example.com"), ("keyword", "退款")],
        )
        self.assertIn("退款", body)
        cases = [
            ({"queue_id": str(self.chat)}, "the queue webchat takes chats, not e-mails"),
            ({"queue_id": ""}, "Queue: required."),
            ({"kind": "regex"}, "Match: not a valid choice."),
            ({"pattern": "vip"}, "an address (name@example.com) or a domain"),
            ({"pattern": "@"}, "an address (name@example.com) or a domain"),
            ({"pattern": ""}, "Pattern: required."),
            ({"account_id": "999"}, "no account 999"),
        ]
        for change, message in cases:
            body = await self.post(b, "route_save", {**good, "position": "3", **change})
            self.assertIn(message, body, change)
        self.assertEqual(len(await self.store.routes()), 2)
        await self.post(b, "route_delete", {"id": str(routes[0].id)})
        self.assertEqual(len(await self.store.routes()), 1)
        self.assertIn("routes", self.reloads.seen)
        self.assertIn("email", self.reloads.seen)


class ChineseTests(ChannelsPageCase):
    async def test_the_page_reads_in_chinese(self) -> None:
        await self._start()
        b = await self.admin()
        token = (await self.call(b.get, "/")).csrf()
        await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        page = await self.call(b.get, PAGE)
        for text in ("聊天主题", "允许嵌入聊天窗口的网站", "快捷回复", "电子邮件账户", "邮件路由"):
            self.assertIn(text, page.body)
        body = await self.post(b, "origin_add", {"origin": "https://x.example.com/path"})
        self.assertIn("网站", body)


class AccountTestTests(ChannelsPageCase):
    """ "Test connection" against a loopback IMAP and SMTP server (drivers/mail/sim)."""

    async def test_the_saved_servers_are_tried_and_the_outcome_shown(self) -> None:
        await self._start()
        mail = LoopbackMailServer(reactor, {"support": "imap secret"})
        mail.start()
        self.addCleanup(mail.stop)
        mail.deliver("support", b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n")
        b = await self.admin()
        form = {
            **ACCOUNT,
            "queue_id": str(self.mail),
            "imap_host": "127.0.0.1",
            "imap_port": str(mail.imap_port),
            "imap_security": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": str(mail.smtp_port),
            "smtp_security": "none",
            "smtp_user": "",
            "smtp_password": "",
        }
        await self.submit(b, f"{PAGE}/account", f"{PAGE}/account_save", form)
        (acc,) = await self.store.accounts()
        edit = f"{PAGE}/account?id={acc.id}"
        page = await self.submit(b, edit, f"{PAGE}/account_test", {"id": str(acc.id)})
        self.assertIn("IMAP: logged in, 1 messages in the folder.", page.body)
        self.assertIn("SMTP: logged in.", page.body)
        self.assertEqual(mail.sent, [])  # nothing sent

        # a wrong password and a closed port: the reasons, nothing else changes
        wrong = {**form, "id": str(acc.id), "imap_password": "wrong"}
        await self.submit(b, edit, f"{PAGE}/account_save", wrong)
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        await self.submit(b, edit, f"{PAGE}/account_save", {**wrong, "smtp_port": str(port)})
        page = await self.submit(b, edit, f"{PAGE}/account_test", {"id": str(acc.id)})
        self.assertIn("IMAP failed:", page.body)
        self.assertIn("SMTP failed: connection refused", page.body)
        self.assertNotIn("wrong", page.body.split("<main>")[1])
        audit = await self.db.audit.recent(action="admin.channels.account.test")
        self.assertEqual(
            [(a.detail["imap_ok"], a.detail["smtp_ok"]) for a in audit],
            [(False, False), (True, True)],
        )
        self.assertNotIn("secret", str(audit))
        r = await self.call(b.post, f"{PAGE}/account_test", {"_csrf": page.csrf(), "id": "999"})
        self.assertEqual(r.status, 303)


def test_every_canned_variable_the_engine_fills_is_explained_on_the_page() -> None:
    from acd.channels import canned
    from webui.admin_channels import CANNED_MEANINGS, CANNED_VARIABLES

    assert set(CANNED_MEANINGS) == set(canned.VARIABLES)
    assert [v for v, _m in CANNED_VARIABLES] == ["{" + v + "}" for v in canned.VARIABLES]
