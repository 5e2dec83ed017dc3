"""Every page, opened in Chinese by each role that may see it, has no English left.

The pages are found by walking the app's routes (a new page is crawled without being listed
here), rendered over real HTTP by the running appliance on a database seeded with every kind
of row a page shows a code of (each strategy, overflow kind, role, agent status, prompt
source, ...), and read as a person would: the text and the attributes a person reads
(placeholder, title, aria-label, alt). A word of Latin letters is allowed only when it is a
name or code the seed wrote (user data), a product or protocol name, or a unit.
"""

from __future__ import annotations

import datetime as dt
import html.parser
import re
from typing import Any

from acd.route import STRATEGIES
from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.field_admin import FieldAdmin
from appliance.crm.fields import FieldDef
from appliance.db import model
from appliance.db.admin_store import AdminStore
from appliance.db.dialer_store import NewLead
from appliance.db.model import AGENT_STATUSES, CALL_DIRECTIONS, OVERFLOW_KINDS, PROMPT_SOURCES
from appliance.kb.store import KBStore
from appliance.kb.training import QuestionDraft, TrainingStore
from ivr import sample_center
from tests.support.appliance import USERS, RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_routes import walk
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_ivr import multipart
from webui.access import access_of

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# What a page shows as it is: the seed's user data (removed as whole strings: a display name
# "The Admin" must not allow the word "The" everywhere), the log-in names, product and
# protocol names, units, formats a field asks for, and the language switch's "English".
DATA = sorted(
    {display for *_, display in USERS.values()} | {f"p_{s}" for s in PROMPT_SOURCES}, key=len
)[::-1]
ALLOWED = {
    *USERS,
    *(f"q_{s}" for s in STRATEGIES),
    *("tech", "PJSIP", "ccbox", "English", "UTC", "IVR", "ACD", "DTMF", "AMI", "FastAGI"),
    *("Asterisk", "SIP", "TTS", "QA", "CSV", "JSON", "ID", "PIN", "DAHDI", "VIP"),
    *("sqlite", "postgresql", "SQLite", "PostgreSQL", "WAV", "FLAC", "Opus", "MP3", "OGG"),
    *("ms", "Hz", "dB", "MB", "GB", "KB", "OK"),
    *("XLSX", "UTF-8", "UTF-16", "GB18030", "AMD"),  # file formats, encodings, Asterisk's AMD
    "GBK",  # the encoding Chinese Excel saves CSV in (the customer import names it)
    *("PDF", "DID"),  # the reports' export format; a called number's name in telephony
    *("HTML", "Word"),  # the knowledge base editor's fallback; the documents it takes
    *("Excel", "SMTP"),  # the XLSX export's program; the scheduled reports' mail protocol
    *("IMAP", "TLS", "STARTTLS"),  # an e-mail account's mail protocols (the Channels page)
    *("YYYY-MM-DD", "YYYY-MM-DDTHH", "MM"),
    "main-menu",  # the seed's flow (and the example the flow name field shows)
    "min_free_mb",  # a setting's name, in the disk alarm
    *("E1", "GSM"),  # the box's trunk lines and its SMS modem
    "g0",  # a DAHDI trunk group as Asterisk names it (the recording search's example)
}
# What a page tells an admin to type, as it is typed (removed as whole strings, as DATA):
# configuration sections and keys, and the commands of a restore (the System page's cards).
AS_TYPED = (
    "[dahdi]",
    "[modem] device",
    "[front_panel] device",
    "[watchdog] device",
    "systemctl stop ccboxd",
    "ccbox restore",
    "--passphrase-file",
    # the canned replies' variables (the Channels page), typed into a reply as they are
    *("{customer_name}", "{agent_name}", "{reference}", "{topic}", "{queue}"),
)
VERSION = re.compile(r"v[0-9]+")  # a flow's version, "v3"
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'-]+")
READ_ATTRS = ("placeholder", "title", "aria-label", "alt", "value")
# pages that need a row id, and one the seed made
QUERIES = {
    "/admin/queues/edit": "?id=1",
    "/admin/agents/edit": "?id=1",
    "/recordings/view": "?id=1",
    "/qa/score": "?recording=1",
    "/flows/editor": "?id=1",
    "/admin/campaigns/edit": "?id=1",
    "/kb/article": "?id=1&latest=1",
    "/kb/edit": "?id=1",
    "/kb/versions": "?id=1&a=1&b=2",
    "/kb/links": "?id=1",
    "/kb/search": "?q=%E9%80%80%E6%AC%BE",
    "/training/assign": "?id=1",
    "/training/results": "?id=1",
    "/training/take": "?id=1",
    "/training/result": "?id=1",
    "/customers/view": "?id=1",
    "/customers/edit": "?id=1",
    "/customers/erase": "?id=1",
    "/customers/call": "?id=1",
}


class _Reader(html.parser.HTMLParser):
    """The text a person reads: not scripts, styles or hidden inputs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        a = dict(attrs)
        if not (tag == "input" and a.get("type") in ("submit", "button", "reset")):
            a.pop("value", None)  # a field's value is data (or the code sent back), not wording
        self.parts.extend(v for k, v in a.items() if k in READ_ATTRS and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def english_left(body: str) -> list[str]:
    """The English words left in a page's HTML (see the module docstring)."""
    reader = _Reader()
    reader.feed(body)
    return english_words(" ".join(reader.parts))


def english_words(text: str, data: tuple[str, ...] = ()) -> list[str]:
    """The English words left in text a person reads, once the user data (DATA, ``data``),
    paths and addresses are taken out."""
    for known in sorted((*DATA, *AS_TYPED, *data), key=len, reverse=True):
        text = text.replace(known, " ")
    tokens = [t for t in text.split() if "/" not in t and "@" not in t]
    words = WORD.findall(" ".join(tokens))
    return sorted({w for w in words if w.strip("'-") not in ALLOWED and not VERSION.fullmatch(w)})


def seed(db: Any) -> None:
    """A row of every kind whose code a page shows: a queue per strategy (the overflow kinds
    among them), an agent per status, a prompt per source; names in Chinese, as a box's
    would be, so that an English word left on a page is ours."""
    tech = resolved(db.skills.add("tech")).id
    for i, strategy in enumerate(STRATEGIES):
        kind = OVERFLOW_KINDS[i % len(OVERFLOW_KINDS)]
        extra: dict[str, Any] = {"overflow_kind": "hangup" if kind == "queue" else kind}
        resolved(db.queues.add(f"q_{strategy}", "客服", strategy, 20, {tech: 3}, **extra))
    store = AdminStore(db)
    for number, status in zip(("1001", "1002", "1003"), AGENT_STATUSES, strict=True):
        a = resolved(db.agents.add(number, "张伟", "销售", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(a.id, tech, 5))
        user = resolved(db.users.login_record("agent")).user.id if number == "1001" else None
        resolved(store.update_agent(a.id, "张伟", "销售", f"PJSIP/{number}", status, user))
    for source in PROMPT_SOURCES:
        resolved(db.ivr.add_prompt(f"p_{source}", source, 1500, "0" * 64, "admin", "问候语"))
    # a recording of each direction and reason, scored with a form; the sample flow
    for i, (direction, reason) in enumerate(
        zip(CALL_DIRECTIONS, ("policy", "on_demand", "policy"), strict=True)
    ):
        resolved(
            db.recordings.add(
                None,
                f"r{i}.wav",
                dt.datetime(2026, 3, 1, 9, i, tzinfo=dt.UTC),
                61_000,
                100,
                "0" * 64,
                agent_id=1,
                queue_id=1,
                caller_number="13800138000",
                caller_name="张三",
                direction=direction,
                reason=reason,
            )
        )
    question = {"id": "greet", "text": "问候", "kind": "yes_no"}
    form = {"groups": [{"name": "开场", "weight": 1, "questions": [question]}]}
    resolved(db.qa.add_form("质检表", form, "admin"))
    resolved(db.ivr.create_flow("main-menu", sample_center.flow(), "admin"))
    # a campaign with a list, a holiday and a do-not-call number of its own
    campaign = resolved(db.dialer.create_campaign("回访", 1, caller_id_number="4008001234"))
    list_id = resolved(db.dialer.add_list(campaign.id, "名单", "名单.csv"))
    resolved(db.dialer.add_leads(campaign.id, [NewLead("13800138000", name="张三")], list_id))
    resolved(db.dialer.add_holiday(dt.date(2027, 2, 10), campaign.id))
    resolved(db.dialer.add_dnc("13900139000", "campaign", "agent", campaign.id))
    # an article published, then changed (a draft version, a comment), and a quiz from it
    # assigned to agent 1001 (the agent user's)
    kb = KBStore(db)
    article = resolved(
        kb.create("sup", resolved(kb.add_category("售后")), "退款", "<p>三天</p>", "zh")
    )
    resolved(kb.submit("sup", "supervisor", article))
    resolved(kb.approve("sup", "supervisor", article))
    resolved(kb.update("sup", "supervisor", article, "退款", "<p>五天</p>"))
    resolved(kb.comment("sup", article, "请核对"))
    question = QuestionDraft(article, "true_false", "三天到账?", (), (0,))
    quiz = resolved(TrainingStore(db).create_quiz("sup", "退款培训", [question]))
    due = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    resolved(TrainingStore(db).assign("sup", quiz, due, [1]))
    # a customer with a custom field and a call of its own (the customer pages); the field's
    # key is one letter, which the crawl does not read as an English word
    resolved(FieldAdmin(db).save("admin", None, FieldDef("x", "等级", "choice", ("金", "银"))))
    resolved(CustomerStore(db).create("admin", "张三", ["13800138000"], "vip", fields={"x": "金"}))
    with db.engine.begin() as conn:
        conn.execute(
            model.calls.insert().values(
                uniqueid="c1",
                linkedid="c1",
                direction="inbound",
                caller_number="013800138000",
                caller_name="张三",
                queue_id=1,
                agent_id=1,
                queue_outcome="answered",
                started_at=dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC),
                talk_ms=61_000,
            )
        )
        conn.execute(
            model.call_notes.insert().values(
                call_id=1,
                agent_id=1,
                notes="咨询账单",
                created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
            )
        )


class ChinesePagesTests(WebTestCase):
    async def test_every_page_in_chinese_has_no_english_left(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        ctx = self.app.master.web.ctx
        from webui.app import Root

        routes = walk(Root(ctx))
        browsers = {u: await self.app.logged_in(u) for u in USERS}
        # what the dashboard and the System page show of a part in trouble
        self.app.master.health.report("db", "degraded", "writes slow: 3 calls writes waiting")
        guard = self.app.master.recorder.guard
        guard.raise_alarm("recording stopped: 10 MB free on /data, less than min_free_mb = 500")
        self.addCleanup(guard.clear)
        found: dict[str, list[str]] = {}
        crawled = 0
        for path, handler in sorted(routes.items()):
            access = access_of(handler)
            if access is None or access.api or "GET" not in access.methods:
                continue
            if path in ("/logout", "/locale"):
                continue
            users = [u for u, (role, *_) in USERS.items() if role in access.roles]
            for who in users if not access.public else ["nobody"]:
                b = browsers[who] if who in browsers else self.app.browser()
                r = await self.call(b.get, path + QUERIES.get(path, ""), ZH)
                if r.status != 200:
                    continue
                if not r.headers.get("Content-Type", "").startswith("text/html"):
                    continue  # a download (the reports' PDF and XLSX exports): not a page
                crawled += 1
                left = english_left(r.body)
                if left:
                    found[f"{who} {path}"] = left
        self.assertGreater(crawled, 15)
        assert found == {}, "\n".join(f"{k}: {' '.join(v)}" for k, v in found.items())


ACD_REFUSAL = "agent 1001 is available: nothing to release"


class ChineseRefusalsTests(WebTestCase):
    async def test_refusals_answer_in_the_readers_language(self) -> None:
        """API errors (the guard's, a store's) and an engine's refusal shown on a page: in
        Chinese for a Chinese session, the same English as before for an English one."""
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        stranger = self.app.browser()
        r = await self.call(stranger.get, "/api/status", ZH)
        self.assertEqual((r.status, r.json()), (401, {"error": "未登录"}))
        r = await self.call(self.app.browser().get, "/api/status")
        self.assertEqual(r.json(), {"error": "not logged in"})
        # CherryPy's own texts (an unknown path) too, before any session chose a language
        r = await self.call(stranger.get, "/no/such/page", ZH)
        self.assertEqual(r.status, 404)
        self.assertIn("<h1>404 未找到</h1><p>没有这个页面。</p>", r.body)
        r = await self.call(self.app.browser().get, "/no/such/page")
        self.assertIn("<h1>404 Not found</h1><p>There is no such page.</p>", r.body)

        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/")).csrf()
        new_user = {"username": "bob", "password": "bob-password-1", "role": "boss"}
        refused = {}
        for locale in ("zh_CN", "en"):
            await self.call(b.post, "/locale", {"_csrf": token, "locale": locale, "next": "/"})
            body, ctype = multipart({"_csrf": token}, "x.wav", b"<html><body>hi</body></html>")
            r = await self.call(b.request, "POST", "/prompts/upload", body, {"Content-Type": ctype})
            self.assertEqual(r.status, 303)
            page = await self.call(b.get, "/prompts")
            refused[locale] = (
                (await self.call(b.post_json, "/api/users", new_user, token)).json()["error"],
                page.body,
            )
        # the ACD's refusal: the agent's own desk asks to release a call it does not have
        desk = await self.app.logged_in("agent")
        desk_token = (await self.call(desk.get, "/")).csrf()
        release = {"action": "release"}
        r = await self.call(desk.post_json, "/api/acd/state", {"action": "login"}, desk_token)
        self.assertEqual(r.status, 200, r.body)
        r = await self.call(desk.post_json, "/api/acd/state", release, desk_token)
        self.assertEqual((r.status, r.json()["error"]), (409, ACD_REFUSAL))
        form = {"_csrf": desk_token, "locale": "zh_CN", "next": "/"}
        await self.call(desk.post, "/locale", form)
        r = await self.call(desk.post_json, "/api/acd/state", release, desk_token)
        self.assertEqual((r.status, r.json()["error"]), (409, "坐席 1001 就绪：无需释放"))  # noqa: RUF001
        api_zh, page_zh = refused["zh_CN"]
        api_en, page_en = refused["en"]
        self.assertEqual(api_zh, "角色必须是以下之一：admin, supervisor, agent, qa")  # noqa: RUF001
        self.assertEqual(api_en, "role must be one of: admin, supervisor, agent, qa")
        self.assertIn("未添加：不是音频文件：看起来像 HTML", page_zh)  # noqa: RUF001
        self.assertNotIn("not an audio", page_zh)
        self.assertIn("Not added: not an audio file: it looks like HTML", page_en)
