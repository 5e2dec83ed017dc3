"""QA over real HTTP: forms (made by admin/qa, frozen once used), scoring a recording (JSON
and the page), the audit entry, an agent seeing only its own evaluations, averages, role
checks on every route, and hostile names and comments escaped."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from typing import Any

from appliance.cli import resolved
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_qa_form import ALL_GOOD, FORM
from tests.unit.test_web import WebTestCase

HOSTILE = "<img src=x onerror=alert(1)>"
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def seed(db: Any) -> None:
    agent_user = resolved(db.users.login_record("agent")).user.id
    mine = resolved(db.agents.add("1001", "Agent One", "", "PJSIP/1001"))
    other = resolved(db.agents.add("1002", HOSTILE + "二号", "", "PJSIP/1002"))
    resolved(db.agents.link_user(mine.id, agent_user))
    queue = resolved(db.queues.add("support"))
    for n, agent in ((1, mine), (2, other)):
        resolved(
            db.recordings.add(
                None,
                f"r{n}.wav",
                T0,
                42_000,
                100,
                "0" * 64,
                agent_id=agent.id,
                queue_id=queue.id,
                caller_number=HOSTILE,
                caller_name="张三",
            )
        )


def _no_inline_script(html: str) -> bool:
    for tag in re.findall(r"<script[^>]*>", html):
        if "src=" not in tag and 'type="application/json"' not in tag:
            return False
    return True


class QaWebTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.browsers: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}

    async def as_(self, who: str) -> Any:
        if who not in self.browsers:
            b = await self.app.logged_in(who)
            self.browsers[who] = b
            self.tokens[who] = (await self.call(b.get, "/")).csrf()
        return self.browsers[who]

    async def get(self, who: str, path: str) -> Any:
        return await self.call((await self.as_(who)).get, path)

    async def post(self, who: str, path: str, body: Any, csrf: bool = True) -> Any:
        b = await self.as_(who)
        return await self.call(b.post_json, path, body, self.tokens[who] if csrf else None)

    async def form_post(self, who: str, path: str, fields: dict[str, str]) -> Any:
        b = await self.as_(who)
        return await self.call(b.post, path, {"_csrf": self.tokens[who], **fields})

    async def _form(self, who: str = "qa", name: str = "Standard") -> int:
        r = await self.post(who, "/api/qa/forms", {"name": name, "definition": FORM})
        self.assertEqual(r.status, 201, r.body)
        return int(r.json()["id"])

    async def test_forms_are_made_by_admin_and_qa_checked_and_frozen_once_used(self) -> None:
        await self._start()
        fid = await self._form("qa")
        r = await self.post("qa", "/api/qa/forms", {"name": "Standard", "definition": FORM})
        self.assertEqual(r.status, 409)
        bad = {"groups": [{**FORM["groups"][0], "weight": 0}]}
        r = await self.post("admin", "/api/qa/forms", {"name": "B", "definition": bad})
        self.assertEqual(r.status, 400)
        self.assertIn('group 1 ("Greeting"): the weight must be a number', r.json()["error"])
        r = await self.post("admin", "/api/qa/forms", {"name": 5, "definition": FORM})
        self.assertEqual(r.status, 400)
        r = await self.post("sup", "/api/qa/forms", {"name": "S", "definition": FORM})
        self.assertEqual(r.status, 403)
        r = await self.post("qa", "/api/qa/forms", {"name": "N", "definition": FORM}, csrf=False)
        self.assertEqual(r.status, 403)
        r = await self.get("sup", "/api/qa/forms")
        self.assertEqual([f["name"] for f in r.json()], ["Standard"])
        r = await self.get("sup", f"/api/qa/form?id={fid}")
        self.assertEqual(r.json()["definition"]["groups"][1]["name"], "解决问题")
        self.assertEqual((await self.get("sup", "/api/qa/form?id=9999")).status, 404)
        self.assertEqual((await self.get("sup", "/api/qa/form?id=x'%20OR%201=1")).status, 400)
        # unused: it can change
        r = await self.post("qa", "/api/qa/forms", {"id": fid, "name": "Std", "definition": FORM})
        self.assertEqual((r.status, r.json()["name"]), (200, "Std"))
        r = await self.post(
            "qa", "/api/qa/evaluate", {"recording_id": 1, "form_id": fid, "answers": ALL_GOOD}
        )
        self.assertEqual(r.status, 201, r.body)
        r = await self.post("qa", "/api/qa/forms", {"id": fid, "name": "Std2", "definition": FORM})
        self.assertEqual(r.status, 409)
        self.assertIn("make a new form or deactivate", r.json()["error"])
        r = await self.post("qa", "/api/qa/deactivate", {"id": fid})
        self.assertEqual((r.status, r.json()["active"]), (200, False))
        r = await self.post(
            "qa", "/api/qa/evaluate", {"recording_id": 1, "form_id": fid, "answers": ALL_GOOD}
        )
        self.assertEqual(r.status, 409)
        self.assertEqual((await self.post("sup", "/api/qa/deactivate", {"id": fid})).status, 403)
        self.assertEqual((await self.post("qa", "/api/qa/deactivate", {"id": 777})).status, 404)

    async def test_evaluate_is_checked_audited_and_sets_the_recordings_score(self) -> None:
        await self._start()
        fid = await self._form()
        answers = {"greet": True, "name": False, "solved": 3, "verify": True, "tone": 2}
        body = {"recording_id": 1, "form_id": fid, "answers": answers, "comment": HOSTILE}
        r = await self.post("sup", "/api/qa/evaluate", body)
        self.assertEqual((r.status, r.json()["score"]), (201, 58.0))
        self.assertEqual((r.json()["agent_name"], r.json()["queue_name"]), ("Agent One", "support"))
        db = self.app.master.db
        self.assertEqual((await db.recordings.get(1)).qa_score, 58.0)
        [entry] = await db.audit.recent(action="qa.evaluate")
        self.assertEqual((entry.actor, entry.target), ("sup", "recording:1"))
        self.assertEqual(entry.detail["score"], 58.0)
        for bad, status, message in (
            ({**body, "answers": {**answers, "tone": 9}}, 400, 'question "tone": answer'),
            ({**body, "answers": "all good"}, 400, "the answers must be an object"),
            ({**body, "recording_id": 99}, 404, "no recording 99"),
            ({**body, "form_id": 99}, 404, "no form 99"),
            ({**body, "recording_id": "1; DROP TABLE recordings"}, 400, "whole number"),
            ({**body, "comment": "x" * 2001}, 400, "at most 2000"),
            ({**body, "comment": ["a"]}, 400, "comment must be text"),
        ):
            r = await self.post("qa", "/api/qa/evaluate", bad)
            self.assertEqual(r.status, status, (bad, r.body))
            self.assertIn(message, r.json()["error"])
        self.assertEqual((await self.post("agent", "/api/qa/evaluate", body)).status, 403)
        self.assertEqual((await self.post("qa", "/api/qa/evaluate", body, csrf=False)).status, 403)
        r = await self.get("qa", "/api/qa/evaluations?recording_id=1")
        self.assertEqual([(e["evaluator"], e["comment"]) for e in r.json()], [("sup", HOSTILE)])
        self.assertEqual(
            (await self.get("agent", "/api/qa/evaluations?recording_id=1")).status, 403
        )
        self.assertEqual(len(await db.audit.recent(action="qa.evaluate")), 1)

    async def test_an_agent_sees_only_its_own_evaluations(self) -> None:
        await self._start()
        fid = await self._form()
        for rec, solved in ((1, 5), (2, 0)):
            body = {"recording_id": rec, "form_id": fid, "answers": {**ALL_GOOD, "solved": solved}}
            self.assertEqual((await self.post("qa", "/api/qa/evaluate", body)).status, 201)
        r = await self.get("agent", "/api/qa/mine")
        self.assertEqual(r.json()["agent"]["number"], "1001")
        self.assertEqual(
            [(e["recording_id"], e["score"]) for e in r.json()["evaluations"]], [(1, 100.0)]
        )
        # other query parameters never pick another agent
        self.assertNotEqual((await self.get("agent", "/api/qa/mine?agent_id=2")).status, 200)
        r = await self.get("qa", "/api/qa/mine")
        self.assertEqual(r.json(), {"agent": None, "evaluations": []})
        page = await self.get("agent", "/qa/mine")
        self.assertEqual(page.status, 200)
        self.assertIn("100.0", page.body)
        self.assertNotIn("50.0", page.body)
        # the agent's part of QA is its own page; the rest is refused
        r = await self.get("agent", "/qa")
        self.assertEqual((r.status, r.location.endswith("/qa/mine")), (303, True))
        for path in ("/qa/score?recording=1", "/qa/score?recording=2", "/qa/averages"):
            self.assertEqual((await self.get("agent", path)).status, 403, path)
        for path in ("/api/qa/forms", f"/api/qa/form?id={fid}", "/api/qa/averages?by=agent"):
            self.assertEqual((await self.get("agent", path)).status, 403, path)
        r = await self.form_post("agent", "/qa/deactivate", {"id": str(fid), "active": "0"})
        self.assertEqual(r.status, 403)

    async def test_averages_per_agent_and_queue(self) -> None:
        await self._start()
        fid = await self._form()
        for rec, solved in ((1, 5), (1, 0), (2, 1)):
            body = {"recording_id": rec, "form_id": fid, "answers": {**ALL_GOOD, "solved": solved}}
            await self.post("qa", "/api/qa/evaluate", body)
        today = dt.datetime.now(dt.UTC).date().isoformat()
        r = await self.get("sup", f"/api/qa/averages?by=agent&from={today}&to={today}")
        self.assertEqual(
            [(a["name"], a["count"], a["mean"], a["min"], a["max"]) for a in r.json()["rows"]],
            [("Agent One", 2, 75.0, 50.0, 100.0), (HOSTILE + "二号", 1, 60.0, 60.0, 60.0)],
        )
        r = await self.get("admin", "/api/qa/averages?by=queue")
        self.assertEqual(
            [(a["name"], a["count"], a["mean"]) for a in r.json()["rows"]], [("support", 3, 70.0)]
        )
        r = await self.get("qa", "/api/qa/averages?by=agent&from=2020-01-01&to=2020-01-31")
        self.assertEqual(r.json()["rows"], [])
        for query, message in (
            ("by=caller", "by must be agent or queue"),
            ("by=agent&from=2026-13-01", "from must be a date"),
            ("by=agent&from=1'%20OR%20'1", "from must be a date"),
            ("by=agent&from=2026-02-01&to=2026-01-01", "from must not be after to"),
            ("by=agent&from=2020-01-01&to=2026-01-01", "at most 366 days"),
        ):
            r = await self.get("qa", f"/api/qa/averages?{query}")
            self.assertEqual(r.status, 400, query)
            self.assertIn(message, r.json()["error"])
        page = await self.get("sup", f"/qa/averages?from={today}&to={today}")
        self.assertEqual(page.status, 200)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;二号", page.body)
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn("75.0", page.body)
        self.assertEqual((await self.get("sup", "/qa/averages?from=nope")).status, 400)

    async def test_the_pages_score_a_recording_escaped_with_no_inline_script(self) -> None:
        await self._start()
        forms = await self.get("qa", "/qa")
        self.assertEqual(forms.status, 200)
        self.assertIn('id="qa-builder"', forms.body)
        self.assertIn('<script src="/static/qa.js"></script>', forms.body)
        self.assertTrue(_no_inline_script(forms.body))
        sup_forms = await self.get("sup", "/qa")
        self.assertNotIn('id="qa-builder"', sup_forms.body)  # supervisors score, not build
        js = await self.call(self.app.browser().get, "/static/qa.js")
        self.assertEqual(js.status, 200)

        empty = await self.get("qa", "/qa/score?recording=1")
        self.assertIn("There is no active scoring form", empty.body)
        fid = await self._form()
        page = await self.get("qa", "/qa/score?recording=2")
        self.assertEqual(page.status, 200)
        self.assertTrue(_no_inline_script(page.body))
        self.assertIn('href="/recordings/view?id=2"', page.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt; 张三", page.body)  # the caller
        self.assertIn("1002 · &lt;img src=x onerror=alert(1)&gt;二号", page.body)  # the agent
        self.assertNotIn(HOSTILE, page.body)
        self.assertIn('name="q_greet" value="1"', page.body)
        self.assertIn('<option value="5" >5 / 5</option>', page.body.replace("  ", " "))
        self.assertIn("问题是否解决", page.body)

        fields = {"recording": "2", "form": str(fid), "comment": HOSTILE}
        fields |= {"q_greet": "1", "q_name": "0", "q_solved": "3", "q_verify": "1"}
        r = await self.form_post("qa", "/qa/score", {**fields, "q_tone": ""})
        self.assertEqual(r.status, 400)
        self.assertIn("question &#34;tone&#34; is not answered", r.body)
        self.assertIn('value="3" selected', r.body)  # what was given is kept
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;</textarea>", r.body)
        r = await self.form_post("qa", "/qa/score", {**fields, "q_tone": "2"})
        self.assertEqual(r.status, 303, r.body[:500])
        target = urllib.parse.urlsplit(r.location)
        after = await self.get("qa", f"{target.path}?{target.query}")
        self.assertIn("Evaluation saved: score 58.0.", after.body)
        self.assertIn("<td>58.0</td>", after.body)
        self.assertNotIn(HOSTILE, after.body)
        self.assertEqual((await self.app.master.db.recordings.get(2)).qa_score, 58.0)
        self.assertEqual((await self.get("qa", "/qa/score?recording=99")).status, 404)
        self.assertEqual((await self.get("qa", "/qa/score?recording=abc")).status, 400)
        r = await self.form_post("qa", "/qa/score", {**fields, "recording": "99"})
        self.assertEqual(r.status, 404)

        r = await self.form_post("qa", "/qa/deactivate", {"id": str(fid), "active": "0"})
        self.assertEqual(r.status, 303)
        self.assertFalse((await self.app.master.db.qa.get_form(fid)).active)

    async def test_every_route_refuses_the_logged_out(self) -> None:
        await self._start()
        b = self.app.browser()
        for path in ("forms", "form?id=1", "evaluations?recording_id=1", "mine", "averages"):
            self.assertEqual((await self.call(b.get, f"/api/qa/{path}")).status, 401, path)
        for path in ("/qa", "/qa/score?recording=1", "/qa/mine", "/qa/averages"):
            r = await self.call(b.get, path)
            self.assertEqual((r.status, "/login" in r.location), (303, True), path)

    async def test_the_calls_waiting_to_be_scored_and_the_player_beside_the_form(self) -> None:
        await self._start()
        fid = await self._form()
        r = await self.get("qa", "/api/qa/waiting?per_agent=2&seed=5")
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual((body["per_agent"], body["seed"]), (2, 5))
        calls = body["calls"]
        self.assertEqual(
            [(c["recording_id"], c["agent_number"], c["queue_name"]) for c in calls],
            [(1, "1001", "support"), (2, "1002", "support")],
        )
        self.assertEqual(calls[1]["agent_name"], HOSTILE + "二号")
        # a scored call leaves the list; the filters narrow it
        answers = {"recording_id": 1, "form_id": fid, "answers": ALL_GOOD}
        self.assertEqual((await self.post("qa", "/api/qa/evaluate", answers)).status, 201)
        r = await self.get("sup", "/api/qa/waiting")
        self.assertEqual([c["recording_id"] for c in r.json()["calls"]], [2])
        self.assertEqual(r.json()["per_agent"], 3)
        r = await self.get("sup", "/api/qa/waiting?agent=1")
        self.assertEqual(r.json()["calls"], [])
        r = await self.get("admin", "/api/qa/waiting?queue=999")
        self.assertEqual(r.json()["calls"], [])
        for query, message in (
            ("per_agent=0", "per_agent must be a whole number from 1 to 20"),
            ("per_agent=x'%20OR%201=1", "per_agent must be"),
            ("seed=-1", "seed must be"),
            ("queue=abc", "whole number"),
            ("from=2026-13-01", "YYYY-MM-DD"),
        ):
            r = await self.get("qa", "/api/qa/waiting?" + query)
            self.assertEqual(r.status, 400, query)
            self.assertIn(message, r.json()["error"])
        self.assertEqual((await self.get("agent", "/api/qa/waiting")).status, 403)
        self.assertEqual((await self.get("agent", "/qa/waiting")).status, 403)

        page = await self.get("qa", "/qa/waiting?per_agent=5")
        self.assertEqual(page.status, 200)
        self.assertIn('href="/qa/score?recording=2"', page.body)
        self.assertNotIn('href="/qa/score?recording=1"', page.body)
        self.assertNotIn(HOSTILE, page.body)  # escaped
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;二号", page.body)
        bad = await self.get("qa", "/qa/waiting?per_agent=99")
        self.assertEqual(bad.status, 400)
        self.assertIn("per_agent must be a whole number from 1 to 20", bad.body)
        self.assertTrue(_no_inline_script(page.body))

        score = await self.get("qa", "/qa/score?recording=2")
        self.assertEqual(score.status, 200)
        player = re.search(r'<audio id="rec-audio"[^>]*src="([^"]+)"', score.body)
        assert player is not None
        self.assertEqual(player.group(1), "/api/recordings/audio?id=2")
        self.assertLess(score.body.index('id="rec-player"'), score.body.index('id="qa-score"'))
        self.assertIn('<script src="/static/recording_player.js">', score.body)
