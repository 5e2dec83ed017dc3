"""The demo's internet channels: web-chat visitors, customers who write e-mails, and the
simulated agents who answer both beside their calls.

- ``seed``: a chat queue (``web-chat``) with three topics in Chinese and English, e-mail
  queues (``email-support``, and ``email-vip`` / ``email-billing`` that routes pick by
  sender domain and by keyword), canned replies with variables, the ``support`` mailbox on
  the demo's loopback mail server, the demo company site's origin, and every agent's chat
  capacity (3, the human agent's desk too).
- ``DemoSite``: a small "company web site" on its own port (another origin than the chat
  endpoint's) whose pages embed the widget with one ``<script>`` tag.
- ``Visitors``: Poisson arrivals scaled like the calls; each visitor is an HTTP client of the
  REAL public endpoint over loopback (``/chat/api/*``: start, the SSE stream, lines sent
  after typing, read marks, end), some in Chinese, some leave a message when nobody is on
  duty.
- ``Writers``: customers whose mails (some GB2312, some replies to the auto-reply) drop into
  the loopback mail server's mailbox, which ccboxd's e-mail channel polls over IMAP.
- ``SimAgents``: the demo's non-human agents accept offers and answer after a think time
  through the channels engine (acd/channels/service.py), so the chat and e-mail queues and
  their service levels move on the wallboard while a person works agent 1001's desk.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from twisted.internet import defer, protocol, task
from twisted.web import resource as web_resource
from twisted.web import server, static
from twisted.web.iweb import IBodyProducer
from twisted.web.resource import IResource

from appliance.db import model

# The demo's loopback mail server (drivers/mail/sim) and the company site: beside the
# demo's other ports (web 8080, chat 8090, AMI 15038, FastAGI 14573).
DEMO_IMAP_PORT = 14143
DEMO_SMTP_PORT = 14025
DEMO_SITE_PORT = 8088
MAILBOX = "support"
MAIL_DOMAIN = "xinghe-broadband.example.com"
SITE_DIR = Path(__file__).with_name("demo_site")

CHAT_QUEUE = ("web-chat", "Web chat 网上客服")
# (name, display name, skill needs): the e-mail queues; routes send to the last two
EMAIL_QUEUES: tuple[tuple[str, str, dict[str, int]], ...] = (
    ("email-support", "E-mail support 邮件客服", {}),
    ("email-vip", "VIP e-mail 贵宾邮件", {"care": 3}),
    ("email-billing", "Billing e-mail 账务邮件", {"billing": 3}),
)
# (name, label zh, label en): into the chat queue
TOPICS = (
    ("billing", "账单", "Billing"),
    ("support", "技术支持", "Support"),
    ("sales", "销售", "Sales"),
)
# A topic whose queue nobody serves: the widget offers "leave a message" (a ticket).
MESSAGE_TOPIC = ("message", "留言", "Leave us a message")
MESSAGE_QUEUE = ("web-messages", "Web messages 网上留言")
CHAT_SHARE = 0.5  # visitors a second against the callers' rate
MAIL_SHARE = 0.2  # e-mails a second against the callers' rate
MAX_CHATS = 3

# (topic name or None: every topic, title, language, body with acd/channels/canned.py's
# variables)
CANNED = (
    (None, "问候 Greeting", "zh", "您好 {customer_name}，我是{agent_name}，很高兴为您服务。"),
    (None, "Greeting", "en", "Hello {customer_name}, this is {agent_name}. How can I help?"),
    (None, "结束 Closing", "zh", "感谢您的咨询，参考编号 {reference}，祝您生活愉快！"),
    (None, "Closing", "en", "Thank you for contacting us; your reference is {reference}."),
    ("billing", "账单查询 Bill lookup", "zh", "{customer_name}，您本月的账单已发送到您的邮箱。"),
    ("support", "重启光猫 Restart the modem", "zh", "请先将光猫断电 30 秒后重新通电，再试一次。"),
    ("support", "Restart the modem", "en", "Please unplug the modem for 30 s, then try again."),
    ("sales", "套餐介绍 Plans", "zh", "我们的千兆宽带每月 199 元，首年赠送路由器。"),
)
AUTO_REPLY = (
    "您好，我们已收到您的邮件，参考编号 {reference}，客服将在 4 小时内回复。\n"
    "We received your e-mail (reference {reference}); an agent will answer within 4 hours."
)


# ---- seed --------------------------------------------------------------------------------------


def seed(db: Any, site_origin: str, mail_password: str) -> bool:
    """The channels' queues, topics, canned replies, mailbox, routes and origins (see the
    module docstring), through the admin's store as the Channels page makes them; False
    when the box has chat topics already (seeded once)."""
    from appliance.cli import resolved
    from appliance.db.channel_admin_store import ChannelAdminStore

    admin = ChannelAdminStore(db)
    if resolved(admin.topics()):
        return False
    skill_ids = {s.name: s.id for s in resolved(db.skills.list_all())}

    def queue(name: str, display: str, media: str, **settings: Any) -> int:
        qid = int(resolved(db.queues.add(name, display, wrapup_s=3, **settings)).id)
        resolved(admin.set_queue_media(qid, media))
        return qid

    chat = queue(CHAT_QUEUE[0], CHAT_QUEUE[1], "chat")
    unstaffed = queue(MESSAGE_QUEUE[0], MESSAGE_QUEUE[1], "chat")
    mail_queues = {
        name: queue(
            name,
            display,
            "email",
            skills={skill_ids[s]: lvl for s, lvl in needs.items() if s in skill_ids},
            service_level_s=3600,
        )
        for name, display, needs in EMAIL_QUEUES
    }
    # every agent answers web chats and general e-mail (a queue without skills has members
    # only: acd/service.py's serves), up to MAX_CHATS at once, the human agent's desk too
    from appliance.demo_campaign import AGENT_NUMBERS as DIALER_TEAM

    for agent in resolved(db.agents.list_all()):
        if agent.number in DIALER_TEAM:  # the survey's callers take no chats
            continue
        resolved(admin.set_agent_capacity(agent.id, MAX_CHATS, False, True))
        for qid in (chat, mail_queues["email-support"]):
            resolved(db.agents.set_member(qid, agent.id))
    topic_ids = {
        name: resolved(
            admin.save_topic(
                None,
                {"name": name, "label_zh": zh, "label_en": en, "queue_id": chat, "position": i},
            )
        )
        for i, (name, zh, en) in enumerate(TOPICS)
    }
    name, zh, en = MESSAGE_TOPIC
    topic_ids[name] = resolved(
        admin.save_topic(
            None,
            {"name": name, "label_zh": zh, "label_en": en, "queue_id": unstaffed, "position": 9},
        )
    )
    for i, (topic, title, language, body) in enumerate(CANNED):
        values = {"title": title, "body": body, "language": language, "position": i}
        if topic:
            values["topic_id"] = topic_ids[topic]
        resolved(admin.save_canned(None, values))
    for origin in sorted({site_origin, site_origin.replace("127.0.0.1", "localhost")}):
        resolved(admin.add_origin(origin))
    account = resolved(
        admin.save_account(
            None,
            {
                "name": MAILBOX,
                "address": f"{MAILBOX}@{MAIL_DOMAIN}",
                "display_name": "星河宽带客服 Xinghe Broadband support",
                "imap_host": "127.0.0.1",
                "imap_port": DEMO_IMAP_PORT,
                "imap_security": "none",
                "imap_user": MAILBOX,
                "smtp_host": "127.0.0.1",
                "smtp_port": DEMO_SMTP_PORT,
                "smtp_security": "none",
                "smtp_user": MAILBOX,
                "queue_id": mail_queues["email-support"],
                "auto_reply": True,
                "auto_reply_body": AUTO_REPLY,
                "make_tickets": True,
                "sla_minutes": 60,
            },
            imap_password=mail_password,
            smtp_password=mail_password,
        )
    )
    routes = [
        ("sender", "@vip.example.com", "email-vip"),
        ("keyword", "发票", "email-billing"),
        ("keyword", "invoice", "email-billing"),
    ]
    for i, (kind, pattern, target) in enumerate(routes):
        resolved(
            admin.save_route(
                None,
                {
                    "account_id": account,
                    "kind": kind,
                    "pattern": pattern,
                    "queue_id": mail_queues[target],
                    "position": i,
                },
            )
        )
    return True


def mail_login(db: Any) -> tuple[str, str] | None:
    """The demo mailbox's IMAP user and password (None: not seeded)."""
    from appliance.cli import resolved

    t = model.email_accounts
    row = resolved(
        db.run(
            lambda conn: conn.execute(
                sa.select(t.c.imap_user, t.c.imap_password).where(t.c.name == MAILBOX)
            ).first()
        )
    )
    return (str(row[0]), str(row[1])) if row is not None else None


# ---- the company site --------------------------------------------------------------------------


class _Page(web_resource.Resource):
    """One of the site's HTML pages with the widget's address filled in."""

    isLeaf = True

    def __init__(self, path: Path, chat_url: str) -> None:
        super().__init__()
        self.body = path.read_text(encoding="utf-8").replace("{{CHAT_URL}}", chat_url).encode()

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.body


def site_root(chat_url: str) -> web_resource.Resource:
    """The demo company's pages (appliance/demo_site/), each embedding the widget from
    ``chat_url`` (the public chat endpoint, another origin)."""
    root = web_resource.Resource()
    for page in sorted(SITE_DIR.glob("*.html")):
        resource = _Page(page, chat_url.rstrip("/"))
        root.putChild(page.name.encode(), cast(IResource, resource))
        if page.name == "index.html":
            root.putChild(b"", cast(IResource, resource))
    root.putChild(b"static", cast(IResource, static.File(str(SITE_DIR / "static"))))
    return root


def listen_site(reactor: Any, chat_url: str, port: int = DEMO_SITE_PORT) -> Any:
    """The site on loopback ``port``; returns the listening port."""
    return reactor.listenTCP(port, server.Site(site_root(chat_url)), interface="127.0.0.1")


def chat_url(config: Any) -> str:
    """Where the demo's visitors and pages find the public chat endpoint."""
    chat = config.chat
    return chat.public_url or f"http://{chat.bind}:{chat.port}"


# ---- a visitor: an HTTP client of the public endpoint ------------------------------------------


class _SSE(protocol.Protocol):
    """Reads a ``text/event-stream`` body, one JSON event per ``data:`` block."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.on_event = on_event
        self.buf = b""
        self.done: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\n\n" in self.buf:
            block, self.buf = self.buf.split(b"\n\n", 1)
            lines = [ln[5:].strip() for ln in block.split(b"\n") if ln.startswith(b"data:")]
            if lines:
                try:
                    event = json.loads(b"\n".join(lines))
                except ValueError:
                    continue
                if isinstance(event, dict):
                    self.on_event(event)

    def connectionLost(self, reason: Any = None) -> None:
        if not self.done.called:
            self.done.callback(None)


class _Body(protocol.Protocol):
    def __init__(self) -> None:
        self.data = b""
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        self.done.callback(self.data)


class ChatRefused(Exception):
    """The endpoint answered an error (its status and text)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code, self.text = code, text


class PublicChatClient:
    """The widget's requests, as a browser on the demo site would send them."""

    def __init__(self, reactor: Any, base: str, origin: str, pool: Any = None) -> None:
        from twisted.web.client import Agent, HTTPConnectionPool

        if pool is None:
            pool = HTTPConnectionPool(reactor, persistent=True)
            pool._factory.noisy = False
        self.reactor = reactor
        self.base = base.rstrip("/")
        self.origin = origin
        self.agent = Agent(reactor, pool=pool, connectTimeout=10)
        self.token = ""

    def _headers(self, json_body: bool) -> Any:
        from twisted.web.http_headers import Headers

        h = Headers({b"origin": [self.origin.encode()]})
        if json_body:
            h.addRawHeader(b"content-type", b"application/json")
        if self.token:
            h.addRawHeader(b"x-chat-token", self.token.encode())
        return h

    async def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        from twisted.web.client import FileBodyProducer

        url = f"{self.base}/chat/api/{path}".encode()
        if body is None:
            response: Any = await self.agent.request(b"GET", url, self._headers(False))
        else:
            import io

            data = json.dumps(body, ensure_ascii=False).encode()
            producer = cast(IBodyProducer, FileBodyProducer(io.BytesIO(data)))
            response = await self.agent.request(b"POST", url, self._headers(True), producer)
        reader = _Body()
        response.deliverBody(reader)
        raw = await reader.done
        text = raw.decode("utf-8", "replace")
        if response.code >= 400:
            with contextlib.suppress(ValueError, AttributeError):
                text = str(json.loads(text).get("error", text))
            raise ChatRefused(response.code, text)
        return json.loads(text) if text.strip() else {}

    async def stream(self, on_event: Callable[[dict[str, Any]], None]) -> _SSE:
        from urllib.parse import quote

        url = f"{self.base}/chat/api/stream?t={quote(self.token)}".encode()
        response: Any = await self.agent.request(b"GET", url, self._headers(False))
        if response.code != 200:
            raise ChatRefused(response.code, "stream refused")
        reader = _SSE(on_event)
        response.deliverBody(reader)
        return reader


ZH_LINES = (
    "你好，我家宽带晚上经常掉线，怎么办？",
    "光猫上的灯一直在闪红灯。",
    "我想查一下上个月的账单为什么多了 30 元。",
    "千兆宽带现在有什么优惠活动吗？",
    "好的，我试一下，谢谢！",
    "还有一个问题，可以改成按月付费吗？",
)
EN_LINES = (
    "Hi, my internet drops every evening.",
    "The LOS light on the modem is blinking red.",
    "Why is my last bill 30 yuan higher than usual?",
    "Do you have any offers on the gigabit plan?",
    "OK, I'll try that, thanks!",
    "One more thing: can I pay monthly instead?",
)
ZH_NAMES = ("王先生", "李女士", "张伟", "刘洋", "陈静", "杨帆")
EN_NAMES = ("John Smith", "Mary Brown", "Peter Lee", "Lucy Green")


@dataclass
class ChannelCounts:
    """What the simulated visitors and writers did (the demo's report)."""

    visitors: int = 0
    chats: int = 0
    answered: int = 0
    lines_sent: int = 0
    replies_seen: int = 0
    left_messages: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    mails: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "errors"}
        out["errors"] = self.errors[:5]
        return out


class Visitor:
    """One visitor: the pre-chat form, the conversation, the end (or a message left)."""

    ANSWER_WAIT_S = 60.0

    def __init__(
        self,
        reactor: Any,
        client: PublicChatClient,
        rng: random.Random,
        counts: ChannelCounts,
        phone: str = "",
    ) -> None:
        self.reactor = reactor
        self.client = client
        self.rng = rng
        self.counts = counts
        self.zh = rng.random() < 0.6
        self.phone = phone
        self.name = rng.choice(ZH_NAMES if self.zh else EN_NAMES)
        self.agent_lines: list[int] = []
        self.ended = False
        self._wake: defer.Deferred[None] | None = None

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message":
            msg = event.get("message") or {}
            if msg.get("sender") in ("agent", "supervisor", "system") and msg.get("id"):
                if msg.get("sender") != "system":
                    self.agent_lines.append(int(msg["id"]))
                    self.counts.replies_seen += 1
                self._poke()
        elif kind == "ended" or (kind == "state" and event.get("state") in ("ended", "wrap_up")):
            self.ended = True
            self._poke()

    def _poke(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None and not wake.called:
            wake.callback(None)

    async def _until_reply(self, seen: int, limit_s: float) -> bool:
        """Until an agent's line past the first ``seen`` (or the end, or ``limit_s``)."""
        waited = 0.0
        while len(self.agent_lines) <= seen and not self.ended and waited < limit_s:
            self._wake = defer.Deferred()
            self._wake.addTimeout(1.0, self.reactor, onTimeoutCancel=lambda *_: None)
            await self._wake
            waited += 1.0
        return len(self.agent_lines) > seen

    async def pause(self, seconds: float) -> None:
        await task.deferLater(self.reactor, seconds, lambda: None)

    async def visit(self) -> None:
        c, rng = self.client, self.rng
        self.counts.visitors += 1
        language = "zh" if self.zh else "en"
        config = await c.call(f"config?lang={language}")
        topics = config.get("topics") or []
        if not topics:
            raise ChatRefused(0, "no topics")
        topic = rng.choice(topics)
        lines = ZH_LINES if self.zh else EN_LINES
        form = {
            "topic_id": topic["id"],
            "name": self.name,
            "phone": self.phone,
            "email": "" if self.phone else f"visitor{rng.randrange(10**6)}@example.com",
            "language": language,
        }
        if not topic.get("on_duty", True):
            await self._leave_message(form, lines)
            return
        try:
            started = await c.call("start", form)
        except ChatRefused as exc:
            if exc.code in (409, 503) or "duty" in exc.text:
                await self._leave_message(form, lines)
                return
            raise
        c.token = str(started["token"])
        self.counts.chats += 1
        sse = await c.stream(self._event)
        try:
            if not await self._until_reply(0, self.ANSWER_WAIT_S) and not self.ended:
                return  # waited long enough: the visitor leaves (an abandoned chat)
            self.counts.answered += 1
            for i in range(rng.randint(2, 4)):
                if self.ended:
                    break
                await c.call("read", {"up_to": self.agent_lines[-1]})
                await c.call("typing", {"typing": True})
                await self.pause(rng.uniform(1.0, 3.0))
                await c.call("send", {"text": rng.choice(lines)})
                self.counts.lines_sent += 1
                await self._until_reply(len(self.agent_lines), 30.0)
                _ = i
            if self.agent_lines and not self.ended:
                await c.call("read", {"up_to": self.agent_lines[-1]})
        finally:
            if not self.ended:
                with contextlib.suppress(ChatRefused):
                    await c.call("end", {})
            if sse.transport is not None:
                sse.transport.stopProducing()

    async def _leave_message(self, form: dict[str, Any], lines: tuple[str, ...]) -> None:
        await self.client.call("leave-message", {**form, "text": self.rng.choice(lines)})
        self.counts.left_messages += 1


class Visitors:
    """Poisson visitors at ``rate_per_s`` times the day's curve, the first one at once."""

    def __init__(
        self,
        reactor: Any,
        base: str,
        origin: str,
        rate_per_s: float,
        curve: Callable[[float], float] = lambda _t: 1.0,
        seed: int | None = None,
        phones: tuple[str, ...] = (),
    ) -> None:
        self.reactor = reactor
        self.base, self.origin = base, origin
        self.rate = rate_per_s
        self.curve = curve
        self.rng = random.Random(seed)
        self.phones = phones
        self.counts = ChannelCounts()
        self.running: set[defer.Deferred[None]] = set()
        self._call: Any = None
        self._started = 0.0

    def start(self) -> None:
        self._started = self.reactor.seconds()
        self._call = self.reactor.callLater(1.0, self._arrive)

    def _arrive(self) -> None:
        phone = self.rng.choice(self.phones) if self.phones and self.rng.random() < 0.4 else ""
        client = PublicChatClient(self.reactor, self.base, self.origin)
        visitor = Visitor(
            self.reactor, client, random.Random(self.rng.random()), self.counts, phone
        )
        d = defer.ensureDeferred(visitor.visit())
        d.addErrback(self._failed)
        self.running.add(d)
        d.addBoth(lambda _: self.running.discard(d))
        rate = self.rate * self.curve(self.reactor.seconds() - self._started)
        self._call = self.reactor.callLater(self.rng.expovariate(max(rate, 1e-3)), self._arrive)

    def _failed(self, failure: Any) -> None:
        if failure.check(defer.CancelledError):
            return
        self.counts.refused += 1
        if len(self.counts.errors) < 20:
            self.counts.errors.append(str(failure.value)[:200])

    async def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        for d in list(self.running):
            d.cancel()


# ---- customers who write e-mails ---------------------------------------------------------------

MAILS = (
    # (from name, address, subject, text, charset)
    (
        "王建国",
        "wang.jianguo@example.com",
        "宽带掉线",
        "你好，我家的宽带从昨晚开始一直掉线。",
        "gb2312",
    ),
    ("李娜", "lina@example.com", "请开发票", "请帮我开具上个月的发票，抬头是个人。", "gb2312"),
    (
        "Sarah Lee",
        "sarah.lee@example.com",
        "Invoice for May",
        "Please send the May invoice.",
        "utf-8",
    ),
    (
        "Emily Zhang",
        "emily@vip.example.com",
        "Moving house",
        "I move next week: new address?",
        "utf-8",
    ),
    ("周敏", "zhou.min@example.com", "套餐咨询", "请问千兆宽带的价格是多少？", "utf-8"),
    ("Tom Walker", "tom.walker@example.com", "Slow Wi-Fi", "My Wi-Fi is slow upstairs.", "utf-8"),
)
FIRST_MAILS = (0, 1, 3)  # GB2312 to the general queue, 发票 (GB2312) to billing, VIP


def compose(
    rng: random.Random, to: str, reply_to: EmailMessage | None = None, n: int = 0
) -> tuple[EmailMessage, str]:
    """A customer's mail to ``to`` (or a reply to the auto-reply ``reply_to``); and the
    charset its text is in. The first ``FIRST_MAILS`` of a run are the same: each route
    (keyword, VIP sender) and a GB2312 mail within the first minute."""
    pick = FIRST_MAILS[n] if n < len(FIRST_MAILS) else rng.randrange(len(MAILS))
    name, addr, subject, text, charset = MAILS[pick]
    msg = EmailMessage()
    if reply_to is not None:
        addr = str(reply_to["To"])
        subject = "Re: " + str(reply_to["Subject"] or "")
        text = "谢谢，我补充一下：问题还在。\nThanks; the problem is still there."
        ref = str(reply_to["Message-ID"] or "")
        if ref:
            msg["In-Reply-To"] = ref
            msg["References"] = ref
        charset = "utf-8"
    msg["From"] = f"{name} <{addr}>" if reply_to is None else addr
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=addr.rsplit("@", 1)[-1])
    msg.set_content(text, charset=charset)
    return msg, charset


class Writers:
    """Customers' mails dropped into the loopback server's ``MAILBOX`` at ``rate_per_s``:
    new threads (a third in GB2312 as Chinese mailers send them) and, now and then, a
    reply to an auto-reply the box sent (found in the server's ``sent``)."""

    def __init__(
        self, reactor: Any, mail_server: Any, rate_per_s: float, seed: int | None = None
    ) -> None:
        self.reactor = reactor
        self.server = mail_server
        self.rate = rate_per_s
        self.rng = random.Random(seed)
        self.counts = {"mails": 0, "gb2312": 0, "replies": 0}
        self._call: Any = None
        self._answered: set[str] = set()

    def start(self) -> None:
        self._call = self.reactor.callLater(2.0, self._write)

    def _auto_reply(self) -> EmailMessage | None:
        import email
        import email.policy

        for item in reversed(self.server.sent):
            msg = email.message_from_bytes(item.data, policy=email.policy.default)
            key = str(msg["Message-ID"] or "")
            if key and key not in self._answered and str(msg["Auto-Submitted"] or "") != "":
                self._answered.add(key)
                return msg
        return None

    def _write(self) -> None:
        to = f"{MAILBOX}@{MAIL_DOMAIN}"
        reply = self._auto_reply() if self.rng.random() < 0.3 else None
        msg, charset = compose(self.rng, to, reply, self.counts["mails"])
        self.server.deliver(MAILBOX, bytes(msg))
        self.counts["mails"] += 1
        self.counts["gb2312"] += charset == "gb2312"
        self.counts["replies"] += reply is not None
        self._call = self.reactor.callLater(self.rng.expovariate(max(self.rate, 1e-3)), self._write)

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()


# ---- simulated agents --------------------------------------------------------------------------

AGENT_ZH = (
    "您好，我是客服，请问有什么可以帮您？",
    "好的，我帮您查一下，请稍等。",
    "请先把光猫断电 30 秒再重新开机试试。",
    "已经为您处理好了，还有其他问题吗？",
)
AGENT_EN = (
    "Hello, how can I help you today?",
    "Let me check that for you, one moment.",
    "Please unplug the modem for 30 seconds and try again.",
    "That's done. Anything else I can help with?",
)
MAIL_REPLY = (
    "您好，\n\n感谢来信，您的问题已经处理，如有疑问请回复本邮件。\n\n"
    "Hello,\n\nThank you for writing: it is taken care of. Reply to this mail with any question.\n"
)


class SimAgents:
    """The demo's agents nobody sits at answer chats and e-mails through the engine: an
    offer is accepted after ``accept_s``, each customer line answered after a think time,
    an e-mail thread answered and ended."""

    def __init__(
        self,
        reactor: Any,
        channels: Any,
        agent_ids: list[int],
        seed: int | None = None,
        accept_s: tuple[float, float] = (0.5, 2.5),
        think_s: tuple[float, float] = (1.5, 5.0),
    ) -> None:
        self.reactor = reactor
        self.channels = channels
        self.agent_ids = agent_ids
        self.rng = random.Random(seed)
        self.accept_s, self.think_s = accept_s, think_s
        self.subs: list[Any] = []
        self.media: dict[int, str] = {}
        self.zh: dict[int, bool] = {}
        self.counts = {"accepted": 0, "chat_lines": 0, "mail_replies": 0, "failed": 0}
        self._timers: set[Any] = set()  # the think times to come
        self._acting: set[defer.Deferred[Any]] = set()  # the answers under way
        self._stopped = False

    def start(self) -> None:
        self._stopped = False
        for aid in self.agent_ids:
            self.subs.append(
                self.channels.subscribe_agent(aid, lambda ev, aid=aid: self._event(aid, ev))
            )

    def stop(self) -> None:
        """No more answers: the think times to come are cancelled, and so are the answers
        under way (the engine and the database behind it stop next)."""
        self._stopped = True
        for sub in self.subs:
            self.channels.unsubscribe(sub)
        self.subs.clear()
        for timer in list(self._timers):
            if timer.active():
                timer.cancel()
        self._timers.clear()
        for d in list(self._acting):
            d.cancel()

    def _later(self, span: tuple[float, float], fn: Callable[[], Any]) -> None:
        if self._stopped:
            return

        def run() -> None:
            self._timers.discard(timer)
            d = defer.ensureDeferred(fn())
            self._acting.add(d)

            def done(result: Any) -> Any:
                self._acting.discard(d)
                return result

            d.addBoth(done)
            d.addErrback(self._failed)

        timer = self.reactor.callLater(self.rng.uniform(*span), run)
        self._timers.add(timer)

    def _failed(self, failure: Any) -> None:
        if self._stopped and failure.check(defer.CancelledError):
            return  # cut short by stop()
        # a chat the visitor left meanwhile, an offer withdrawn: the engine refused
        self.counts["failed"] += 1

    def _event(self, aid: int, event: dict[str, Any]) -> None:
        kind, cid = event.get("type"), event.get("conversation")
        if not isinstance(cid, int):
            return
        if kind == "offer":
            self.media[cid] = str(event.get("media", "chat"))
            self._later(self.accept_s, lambda: self._accept(aid, cid))
        elif kind == "message":
            msg = event.get("message") or {}
            if msg.get("sender") == "customer" and self.media.get(cid) == "chat":
                self.zh.setdefault(cid, _is_chinese(str(msg.get("body", ""))))
                self._later(self.think_s, lambda: self._answer(aid, cid, int(msg["id"])))
        elif kind == "ended":
            self.media.pop(cid, None)
            self.zh.pop(cid, None)

    async def _accept(self, aid: int, cid: int) -> None:
        await self.channels.accept(aid, cid)
        self.counts["accepted"] += 1
        if self.media.get(cid) == "email":
            self._later(self.think_s, lambda: self._mail_reply(aid, cid))
        else:
            self._later((0.3, 1.0), lambda: self._greet(aid, cid))

    async def _greet(self, aid: int, cid: int) -> None:
        history = await self.channels.history(cid, limit=20)
        zh = any(_is_chinese(m.body) for m in history) or not history
        self.zh.setdefault(cid, zh)
        await self.channels.agent_says(aid, cid, (AGENT_ZH if zh else AGENT_EN)[0])
        self.counts["chat_lines"] += 1

    async def _answer(self, aid: int, cid: int, up_to: int) -> None:
        if cid not in self.media:
            return
        await self.channels.agent_read(aid, cid, up_to)
        self.channels.agent_typing(aid, cid, True)
        await task.deferLater(self.reactor, self.rng.uniform(0.5, 1.5), lambda: None)
        if cid not in self.media:
            return
        lines = AGENT_ZH if self.zh.get(cid, True) else AGENT_EN
        await self.channels.agent_says(aid, cid, self.rng.choice(lines[1:]))
        self.counts["chat_lines"] += 1

    async def _mail_reply(self, aid: int, cid: int) -> None:
        await self.channels.agent_says(aid, cid, MAIL_REPLY)
        self.counts["mail_replies"] += 1
        await self.channels.end(aid, cid)


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def simulated_agents(acd: Any, exclude: set[str], desks_too: bool = False) -> list[int]:
    """The agents nobody sits at: not in ``exclude`` (numbers), not linked to a user (a
    person's desk) unless ``desks_too`` (a headless demo: nobody sits anywhere)."""
    return [
        a.id
        for a in acd.agents.values()
        if (desks_too or a.user_id is None) and a.number not in exclude and a.status == "active"
    ]


# ---- the report --------------------------------------------------------------------------------


async def counts_since(db: Any, since: dt.datetime) -> dict[str, int]:
    """This run's conversations from the database: chats started, answered, left as a
    message; e-mail threads, replied; lines by sender."""
    c, m = model.conversations, model.conversation_messages

    def thd(conn: Any) -> dict[str, int]:
        out: dict[str, int] = {}
        rows = conn.execute(
            sa.select(
                c.c.media,
                c.c.state,
                c.c.answered_at.is_not(None),
                c.c.first_reply_at.is_not(None),
                sa.func.count(),
            )
            .where(c.c.created_at >= since)
            .group_by(
                c.c.media, c.c.state, c.c.answered_at.is_not(None), c.c.first_reply_at.is_not(None)
            )
        ).all()
        for media, state, answered, replied, n in rows:
            prefix = "chats" if media == "chat" else "emails"
            out[prefix] = out.get(prefix, 0) + n
            if state == "message":
                out["chat_messages_left"] = out.get("chat_messages_left", 0) + n
            if answered:
                out[f"{prefix}_answered"] = out.get(f"{prefix}_answered", 0) + n
            if replied:
                out[f"{prefix}_replied"] = out.get(f"{prefix}_replied", 0) + n
            if state in ("ended", "wrap_up"):
                out[f"{prefix}_ended"] = out.get(f"{prefix}_ended", 0) + n
        for sender, n in conn.execute(
            sa.select(m.c.sender, sa.func.count())
            .where(m.c.created_at >= since)
            .group_by(m.c.sender)
        ).all():
            out[f"lines_{sender}"] = int(n)
        return out

    result: dict[str, int] = await db.read(thd)
    return result


# ---- the demo's hooks (appliance/demo.py) ------------------------------------------------------


class DemoChannels:
    """The loopback mail server and the company site, plugged in before ccboxd starts (the
    seeded mailbox and origins pointed at where they listen, as demo_sms.plug points the
    config at its modem); then the visitors, writers and simulated agents once it runs."""

    def __init__(self, reactor: Any, config: Any, mail: Any, site: Any, origin: str) -> None:
        self.reactor = reactor
        self.config = config
        self.mail = mail
        self.site = site
        self.origin = origin
        self.visitors: Visitors | None = None
        self.writers: Writers | None = None
        self.agents: SimAgents | None = None
        self.problem = ""

    def start(
        self,
        daemon: Any,
        calls_per_s: float,
        curve: Callable[[float], float],
        seed: int | None,
        exclude: set[str],
        headless: bool = False,
    ) -> None:
        """Visitors and writers at CHAT_SHARE and MAIL_SHARE of the callers' rate; the
        agents nobody sits at (not in ``exclude``; not linked to a user unless
        ``headless``) answer."""
        channels = getattr(daemon.master, "channels", None)
        if channels is None:
            self.problem = "ccboxd runs no channels service: no chats or e-mails simulated"
            print(f"ccbox demo: {self.problem}", flush=True)
            return
        self.agents = SimAgents(
            daemon.reactor, channels, simulated_agents(daemon.master.acd, exclude, headless), seed
        )
        self.agents.start()
        if self.config.chat.enabled:
            from appliance.demo_crm import CALLERS

            self.visitors = Visitors(
                daemon.reactor,
                chat_url(self.config),
                self.origin,
                calls_per_s * CHAT_SHARE,
                curve,
                seed,
                CALLERS,
            )
            self.visitors.start()
        if self.mail is not None:
            self.writers = Writers(daemon.reactor, self.mail, calls_per_s * MAIL_SHARE, seed)
            self.writers.start()
        print(
            f"ccbox demo: the company site {self.origin}/ embeds the chat widget; visitors "
            f"chat on {chat_url(self.config)}, customers write to {MAILBOX}@{MAIL_DOMAIN}",
            flush=True,
        )

    async def finish(self, db: Any, since: dt.datetime) -> dict[str, Any]:
        """Stop the visitors and writers; what they did and what the database holds."""
        if self.visitors is not None:
            await self.visitors.stop()
        if self.writers is not None:
            self.writers.stop()
        out: dict[str, Any] = dict(await counts_since(db, since))
        if self.visitors is not None:
            out["visitors"] = self.visitors.counts.as_dict()
        if self.writers is not None:
            out["writers"] = dict(self.writers.counts)
        if self.agents is not None:
            out["agents"] = dict(self.agents.counts)
            self.agents.stop()
        if self.problem:
            out["problem"] = self.problem
        return out

    def stop(self) -> Any:
        if self.site is not None:
            self.site.stopListening()
        if self.mail is not None:
            return self.mail.stop()
        return None


def _listen(start: Callable[[int], Any], port: int) -> Any:
    """``start(port)``, or ``start(0)`` (a free port) when ``port`` is taken."""
    from twisted.internet.error import CannotListenError

    try:
        return start(port)
    except CannotListenError:
        return start(0)


def plug(reactor: Any, config: Any) -> DemoChannels:
    """Start the loopback mail server and the company site (their own ports, or free ones
    when taken) and point the seeded mailbox and the allowed origins at them."""
    from appliance.cli import open_db, resolved
    from appliance.db.channel_admin_store import ChannelAdminStore

    db = open_db(config)
    try:
        admin = ChannelAdminStore(db)
        login = mail_login(db)
        mail: Any = None
        if login is not None:
            from drivers.mail.sim import LoopbackMailServer

            mail = LoopbackMailServer(reactor, {login[0]: login[1]})

            def start_mail(port: int) -> None:
                mail.start("127.0.0.1", imap_port=port, smtp_port=port and DEMO_SMTP_PORT)

            _listen(start_mail, DEMO_IMAP_PORT)
            account = next(a for a in resolved(admin.accounts()) if a.name == MAILBOX)
            ports = {"imap_port": mail.imap_port, "smtp_port": mail.smtp_port}
            # a stored password follows its account only to the same server: a demo that
            # got other ports than the last one (another demo holds them) gives them again
            secrets = resolved(admin.account_secrets(account.id)) or {}
            resolved(
                admin.save_account(
                    account.id,
                    ports,
                    imap_password=secrets.get("imap_password"),
                    smtp_password=secrets.get("smtp_password"),
                )
            )
        site = _listen(lambda p: listen_site(reactor, chat_url(config), p), DEMO_SITE_PORT)
        origin = f"http://127.0.0.1:{site.getHost().port}"
        if origin not in {o.origin for o in resolved(admin.origins())}:
            resolved(admin.add_origin(origin))
        return DemoChannels(reactor, config, mail, site, origin)
    finally:
        resolved(db.stopService())
