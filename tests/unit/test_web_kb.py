"""The knowledge base and training pages over real HTTP: an agent writes and submits an
article but cannot approve it (403), a supervisor approves it; hostile titles and HTML come
back escaped or cleaned; search shows escaped snippets with <mark> in Chinese and English;
versions diff escaped; an uploaded image is served with its sniffed type. Training: a
supervisor builds and assigns a quiz, the agent takes it once without seeing the answers,
another agent's results and the supervisors' pages stay closed to it."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any
from unittest import mock
from urllib.parse import quote

from appliance.cli import resolved
from appliance.db import upload_quota
from appliance.kb.store import KBStore
from appliance.kb.training import TrainingStore
from appliance.uploads import UploadStore
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui import training_pages
from webui.ticket_files import upload_root

HOSTILE_TITLE = "<script>alert(1)</script>退款流程 refunds"
HOSTILE_HTML = (
    '<p onclick="alert(2)">退款流程: refunds take <b>3 days</b>.</p>'
    '<img src="x" onerror="alert(3)"><a href="javascript:alert(4)">link</a>'
    "<script>alert(5)</script>"
)
# The smallest PNG: a 1x1 transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def seed(db: Any) -> None:
    user = resolved(db.users.login_record("agent")).user.id
    agent = resolved(db.agents.add("1001", "Agent One"))
    resolved(db.agents.link_user(agent.id, user))
    resolved(db.agents.add("1002", "<b>Other</b>"))
    kb = KBStore(db)
    top = resolved(kb.add_category("售后 <i>服务</i>"))
    resolved(kb.add_category("退款", top))


def _no_inline_script(html: str) -> bool:
    return all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))


class KBWebTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.browsers: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}

    async def get(self, who: str, path: str) -> Any:
        if who not in self.browsers:
            self.browsers[who] = await self.app.logged_in(who)
            self.tokens[who] = (await self.call(self.browsers[who].get, "/")).csrf()
        return await self.call(self.browsers[who].get, path)

    async def post(self, who: str, path: str, fields: dict[str, str] | list[Any]) -> Any:
        await self.get(who, "/")
        items = list(fields.items()) if isinstance(fields, dict) else fields
        return await self.call(self.browsers[who].post, path, [("_csrf", self.tokens[who]), *items])

    async def test_write_review_read_search_and_diff(self) -> None:
        await self._start()
        page = await self.get("agent", "/kb")
        self.assertEqual(page.status, 200)
        self.assertIn("售后 &lt;i&gt;服务&lt;/i&gt;", page.body)
        category = re.search(r'href="/kb\?category=(\d+)" *>退款', page.body)
        assert category is not None
        form = {"title": HOSTILE_TITLE, "html": HOSTILE_HTML, "lang": "zh", "tags": "退款, refund"}
        r = await self.post("agent", "/kb/edit", {**form, "category": category.group(1)})
        self.assertEqual(r.status, 303, r.body[:500])
        article_id = int(re.search(r"id=(\d+)", r.location).group(1))  # type: ignore[union-attr]
        # the draft: the author sees it (escaped, cleaned); a reader who is not a reviewer not
        r = await self.get("agent", f"/kb/article?id={article_id}&latest=1")
        self.assertEqual(r.status, 200)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;退款流程", r.body)
        body = r.body.split('<article class="card kb-body">', 1)[1].split("</article>", 1)[0]
        self.assertIn("<b>3 days</b>", body)
        for bad in ("onclick", "onerror", "javascript:", "alert(", "<script"):
            self.assertNotIn(bad, body)
        self.assertNotIn("<script>alert", r.body)
        self.assertTrue(_no_inline_script(r.body))
        self.assertEqual((await self.get("qa", f"/kb/article?id={article_id}")).status, 404)
        mine = (
            f'<h2>My drafts</h2>\n    <ul><li><a href="/kb/article?id={article_id}&amp;latest=1">'
        )
        self.assertIn(mine, (await self.get("agent", "/kb")).body)
        self.assertNotIn(f"article?id={article_id}", (await self.get("qa", "/kb")).body)
        # submit: an agent may; approve: refused to an agent, by the page and the store
        r = await self.post("agent", "/kb/submit", {"id": str(article_id)})
        self.assertEqual(r.status, 303)
        r = await self.post("agent", "/kb/approve", {"id": str(article_id)})
        self.assertEqual(r.status, 403)
        r = await self.post("agent", "/kb/reject", {"id": str(article_id), "note": "x"})
        self.assertEqual(r.status, 403)
        r = await self.get("sup", "/kb/review")
        self.assertIn(f"/kb/article?id={article_id}&amp;latest=1", r.body)
        self.assertEqual((await self.get("agent", "/kb/review")).status, 403)
        r = await self.post("sup", "/kb/approve", {"id": str(article_id)})
        self.assertEqual(r.status, 303)
        # readers: view counted, "was this helpful"
        r = await self.get("qa", f"/kb/article?id={article_id}")
        self.assertEqual(r.status, 200)
        r = await self.post("qa", "/kb/vote", {"id": str(article_id), "helpful": "yes"})
        self.assertEqual(r.status, 303)
        r = await self.get("qa", f"/kb/article?id={article_id}")
        self.assertIn("2 views", r.body)
        self.assertIn("Yes (1)", r.body)
        # search: Chinese and English, the title escaped, the snippet escaped with <mark>
        for query, marked in (("退款", "<mark>退款</mark>"), ("refund", "<mark>refunds</mark>")):
            r = await self.get("agent", f"/kb/search?q={_q(query)}")
            self.assertEqual(r.status, 200)
            self.assertIn(marked, r.body)
            self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", r.body)
            self.assertNotIn("<script>alert", r.body)
        r = await self.get("agent", f"/kb/search?q={_q('退款')}&page=2")
        self.assertIn("Previous page", r.body)
        self.assertNotIn("<mark>", r.body)
        for bad in ("0", "51", "x"):
            r = await self.get("agent", f"/kb/search?q=a&page={bad}")
            self.assertEqual(r.status, 400)
        r = await self.get("agent", f"/kb/search?q={_q('<img src=x onerror=alert(9)>')}")
        self.assertEqual(r.status, 200)
        self.assertNotIn("<img src=x", r.body)
        # a new version: readers keep the published one; the diff is escaped
        edit = {
            **form,
            "html": "<p>退款 <em>5</em> 天 &lt;b&gt;</p>",
            "category": category.group(1),
        }
        r = await self.post("agent", f"/kb/edit?id={article_id}", edit)
        self.assertEqual(r.status, 303, r.body[:500])
        r = await self.get("qa", f"/kb/article?id={article_id}")
        self.assertIn("3 days", r.body)
        self.assertIn('<span class="kb-state state-published">Published</span>', r.body)
        r = await self.get("qa", f"/kb/article?id={article_id}&latest=1")  # not its editor
        self.assertIn("3 days", r.body)
        self.assertNotIn("<em>5</em>", r.body)
        r = await self.get("agent", f"/kb/versions?id={article_id}&a=1&b=2")
        self.assertEqual(r.status, 200)
        self.assertIn('<span class="diff-new">+ 退款 5 天 &lt;b&gt;</span>', r.body)
        self.assertIn('<span class="diff-old">- 退款流程: refunds take 3 days.</span>', r.body)
        self.assertEqual(
            (await self.get("agent", f"/kb/versions?id={article_id}&a=1&b=9")).status, 404
        )
        # an image: stored by content, served with the sniffed type, linked from the text
        r = await self.upload("agent", f"/kb/upload?id={article_id}&json=1", "a.svg", PNG)
        self.assertEqual(r.status, 200, r.body)
        url = r.json()["url"]
        r = await self.get("qa", url)
        self.assertEqual((r.status, r.headers["Content-Type"], r.raw), (200, "image/png", PNG))
        r = await self.get("qa", f"/kb/article?id={article_id}")  # not in the text: shown below
        self.assertIn(f'<img src="{url}" alt="a.svg.png">', r.body)  # its type from its content
        r = await self.upload("agent", f"/kb/upload?id={article_id}&json=1", "x.png", b"<svg/>")
        self.assertEqual(r.status, 400)
        self.assertIn("not accepted", r.json()["error"])
        self.assertEqual((await self.get("qa", "/kb/attachments/999")).status, 404)
        # past the uploader's hour: refused, and the file never reaches the disk
        late = PNG + b"late"  # (bytes after IEND: still a PNG, another hash)
        with mock.patch.object(upload_quota, "MAX_FILES", 1):  # agent has one this hour
            r = await self.upload("agent", f"/kb/upload?id={article_id}&json=1", "late.png", late)
        self.assertEqual(r.status, 400)
        self.assertIn("in the last hour", r.json()["error"])
        store = UploadStore(upload_root(self.app.master.config))
        self.assertIsNone(store.path(hashlib.sha256(late).hexdigest()))
        kb = KBStore(self.app.master.db)
        draft = await kb.create("agent", int(category.group(1)), "草稿", "<p>x</p>", "zh")
        stored = UploadStore(upload_root(self.app.master.config)).put(PNG, "d.png")
        draft_file = await kb.add_attachment("agent", stored, draft)
        self.assertEqual((await self.get("qa", f"/kb/attachments/{draft_file}")).status, 404)
        self.assertEqual((await self.get("agent", f"/kb/attachments/{draft_file}")).status, 200)
        self.assertEqual((await self.get("qa", "/kb/attachments/..%2f..%2fetc")).status, 404)
        # a new article's image, uploaded before it is saved: its uploader's (and the
        # admins') until the article that shows it is saved, then that article's readers'
        r = await self.upload("agent", "/kb/upload?json=1", "new.png", PNG)
        fresh = r.json()["url"]
        for who, status in (("qa", 404), ("sup", 404), ("agent", 200), ("admin", 200)):
            self.assertEqual((await self.get(who, fresh)).status, status, who)
        html = f'<p>见图</p><img src="{fresh}"><img src="{url}">'
        fields = {"title": "新图", "html": html, "lang": "zh", "category": category.group(1)}
        r = await self.post("sup", "/kb/edit", fields)  # sup's save claims nobody else's file
        self.assertEqual((await self.get("sup", fresh)).status, 404)
        r = await self.post("agent", "/kb/edit", fields)
        self.assertEqual(r.status, 303, r.body[:500])
        new_id = int(re.search(r"id=(\d+)", r.location).group(1))  # type: ignore[union-attr]
        self.assertEqual((await self.get("qa", fresh)).status, 404)  # a draft's file
        self.assertEqual((await self.get("sup", fresh)).status, 200)  # its reviewer's
        await self.post("agent", "/kb/submit", {"id": str(new_id)})
        await self.post("sup", "/kb/approve", {"id": str(new_id)})
        self.assertEqual((await self.get("qa", fresh)).status, 200)  # published
        kept = await kb.attachment(int(url.rsplit("/", 1)[1]))
        self.assertEqual(kept.article_id if kept else None, article_id)  # it stays its own
        # categories: supervisors only
        r = await self.post("agent", "/kb/category", {"action": "add", "name": "x"})
        self.assertEqual(r.status, 403)
        r = await self.post("sup", "/kb/category", {"action": "add", "name": "深 <b>层</b>"})
        self.assertEqual(r.status, 303)
        self.assertIn("深 &lt;b&gt;层&lt;/b&gt;", (await self.get("sup", "/kb/categories")).body)
        ids = {c.name: c.id for c in await kb.categories()}
        top, child, new = ids["售后 <i>服务</i>"], ids["退款"], ids["深 <b>层</b>"]
        for fields in (
            {"action": "move", "id": str(new), "parent": str(child)},  # three deep
            {"action": "rename", "id": str(child), "name": "退款 refunds"},
            {"action": "move", "id": str(top), "parent": str(new)},  # under its own: refused
        ):
            self.assertEqual((await self.post("sup", "/kb/category", fields)).status, 303)
        r = await self.get("sup", "/kb/categories")
        self.assertIn("A category cannot move under itself.", r.body)
        rows = {c.id: c for c in await kb.categories()}
        self.assertEqual((rows[new].parent_id, rows[child].name), (child, "退款 refunds"))
        self.assertIsNone(rows[top].parent_id)
        r = await self.get("sup", "/kb")
        self.assertIn(f'<li class="depth-2"><a href="/kb?category={new}"', r.body)
        # desk suggestions: a queue, an IVR node and a ticket type; supervisors only
        queue = (await self.app.master.db.queues.add("support")).id
        links = [("queue", str(queue)), ("ticket_type", "complaint")]
        links.append(("flow_nodes", "main-menu:refund\r\nbad line"))
        r = await self.post("sup", f"/kb/links?id={article_id}", links)
        self.assertEqual(r.status, 303)
        page = await self.get("sup", f"/kb/links?id={article_id}")
        self.assertIn("IVR flow nodes: one flow:node a line.", page.body)
        links[-1] = ("flow_nodes", "main-menu:refund")
        self.assertEqual(
            (await self.post("agent", f"/kb/links?id={article_id}", links)).status, 403
        )
        await self.post("sup", f"/kb/links?id={article_id}", links)
        self.assertEqual(
            await kb.links(article_id),
            [
                ("flow_node", "main-menu:refund"),
                ("queue", str(queue)),
                ("ticket_type", "complaint"),
            ],
        )
        [suggested] = await kb.suggest(queue_id=queue)
        self.assertEqual(suggested.id, article_id)

    async def upload(self, who: str, path: str, name: str, data: bytes) -> Any:
        await self.get(who, "/")
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        return await self.call(
            self.browsers[who].post_json,
            path,
            None,
            self.tokens[who],
            raw=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    async def test_training_built_assigned_taken_once_and_results_for_supervisors(self) -> None:
        await self._start()
        kb = KBStore(self.app.master.db)
        category = (await kb.categories())[0].id
        article = await kb.create(
            "sup", category, "退款 <b>", "<p>3 天</p>", "zh", (), "supervisor"
        )
        await kb.submit("sup", "supervisor", article)
        await kb.approve("sup", "supervisor", article)
        r = await self.get("sup", "/training/new")
        self.assertIn("退款 &lt;b&gt;", r.body)
        # more published articles than the lists show unsearched: the search finds any
        self.patch(training_pages, "RECENT_ARTICLES", 3)
        for i in range(3):
            filler = await kb.create("sup", category, f"filler {i}", "<p>x</p>", "en", (), "admin")
            await kb.submit("sup", "supervisor", filler)
            await kb.approve("sup", "supervisor", filler)
        option = f'<option value="{article}" >退款 &lt;b&gt;</option>'
        r = await self.get("sup", "/training/new")
        self.assertNotIn(option, r.body)  # the oldest published: off the recent list
        r = await self.get("sup", "/training/new?q=" + quote("退款"))
        self.assertIn(option, r.body)
        self.assertNotIn("filler 2", r.body)
        r = await self.post("sup", "/training/new", {"q": "nothing-like-it", "find": "1"})
        self.assertEqual(r.status, 200)
        self.assertIn('id="training-no-hits"', r.body)
        # searching keeps what is typed and the chosen articles, and saves nothing
        typed = {
            "title": "draft quiz",
            "q0_article": str(article),
            "q0_text": "typed",
            "q": "filler",
        }
        r = await self.post("sup", "/training/new", {**typed, "find": "1"})
        self.assertEqual(r.status, 200)
        self.assertIn(f'<option value="{article}" selected>退款 &lt;b&gt;</option>', r.body)
        self.assertIn('value="typed"', r.body)
        self.assertIn("filler 2", r.body)
        self.assertEqual(await TrainingStore(self.app.master.db).quizzes(), [])
        quiz = {
            "title": "<i>退款</i> quiz",
            "q0_article": str(article),
            "q0_text": "退款要几天?",
            "q0_kind": "single",
            "q0_opt0": "1 天",
            "q0_opt1": "3 天",
            "q0_ok1": "1",
            "q1_article": str(article),
            "q1_text": "<b>VIP</b> first?",
            "q1_kind": "true_false",
            "q1_tf": "true",
        }
        r = await self.post("agent", "/training/new", quiz)
        self.assertEqual(r.status, 403)
        r = await self.post("sup", "/training/new", {**quiz, "q1_tf": ""})
        self.assertEqual(r.status, 400)
        self.assertIn("question 2: mark the correct option", r.body)
        r = await self.post("sup", "/training/new", quiz)
        self.assertEqual(r.status, 303, r.body[:500])
        quiz_id = int(re.search(r"id=(\d+)", r.location).group(1))  # type: ignore[union-attr]
        agents = {a.number: a.id for a in await self.app.master.db.agents.list_all()}
        r = await self.post(
            "sup",
            f"/training/assign?id={quiz_id}",
            {"due": "2030-01-31", "agent": str(agents["1001"])},
        )
        self.assertEqual(r.status, 303, r.body[:500])
        # the agent's list and the taking page: no correct options anywhere
        r = await self.get("agent", "/training")
        self.assertIn("&lt;i&gt;退款&lt;/i&gt; quiz", r.body)
        r = await self.get("agent", f"/training/take?id={quiz_id}")
        self.assertEqual(r.status, 200)
        self.assertIn("&lt;b&gt;VIP&lt;/b&gt; first?", r.body)
        self.assertNotIn("checked", r.body)
        self.assertNotIn("correct", r.body.lower())
        ids = re.findall(r'name="a(\d+)" value="0"', r.body)
        first, second = sorted(ids, key=int)  # one "first option" each
        self.assertEqual(len(re.findall(rf'name="a{first}" value="\d"', r.body)), 2)
        r = await self.post(
            "agent", f"/training/take?id={quiz_id}", {f"a{first}": "1", f"a{second}": "1"}
        )
        self.assertEqual(
            (r.status, r.location.endswith(f"/training/result?id={quiz_id}")), (303, True)
        )
        r = await self.get("agent", f"/training/result?id={quiz_id}")
        self.assertIn("Score 50.0: 1 of 2 right.", r.body)
        self.assertIn('<li class="right">退款要几天? · right</li>', r.body)
        self.assertIn('<li class="wrong">&lt;b&gt;VIP&lt;/b&gt; first? · wrong</li>', r.body)
        # once only
        r = await self.post("agent", f"/training/take?id={quiz_id}", {f"a{first}": "1"})
        self.assertEqual(r.status, 303)
        r = await self.get("agent", f"/training/result?id={quiz_id}")
        self.assertIn("You have taken this quiz already", r.body)
        self.assertEqual(r.body.count("Attempt "), 1)
        # the agent sees no one's results but its own; supervisors see everyone's
        self.assertEqual((await self.get("agent", f"/training/results?id={quiz_id}")).status, 403)
        self.assertEqual(
            (await self.get("agent", f"/training/result?id={quiz_id + 1}")).status, 404
        )
        r = await self.get("sup", f"/training/results?id={quiz_id}")
        self.assertEqual(r.status, 200)
        self.assertIn("1001 Agent One", r.body)
        self.assertIn("<td>50.0</td>", r.body)
        self.assertEqual((await self.get("sup", f"/training/result?id={quiz_id}")).status, 404)


def _q(text: str) -> str:
    import urllib.parse

    return urllib.parse.quote(text)
