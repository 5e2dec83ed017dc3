"""Co-browsing in a running appliance over real HTTP: the supervisor's live-view page
(supervisors and admins only, its own CSP: inline styles and remote images for the replay,
never scripts), the live view started and stopped through /chat-desk/api/cobrowse with the
audit rows (who, whom, when), the desk's co-browsing panel, the agent's viewer window and
rrweb served from /vendor."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import reactor, task

from appliance.cli import resolved
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui import cobrowse_pages, vendor


def seed(db: Any) -> None:
    resolved(db.agents.add("1001", "李娜", "", "PJSIP/1001"))


class CobrowsePagesTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        self.agent_id = self.agent("1001").id

    async def test_only_supervisors_open_the_live_view_page_with_its_own_csp(self) -> None:
        await self._start()
        sup = await self.app.logged_in("sup")
        r = await self.call(sup.get, f"/supervisor/desk/{self.agent_id}")
        self.assertEqual(r.status, 200, r.body[:300])
        csp = r.headers["Content-Security-Policy"]
        self.assertEqual(csp, cobrowse_pages.VIEWER_CSP)
        self.assertIn("script-src 'self';", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertIn(f'data-agent="{self.agent_id}"', r.body)
        self.assertIn('data-mode="watch"', r.body)
        self.assertIn(vendor.url(vendor.RRWEB), r.body)
        self.assertIn("李娜", r.body)
        for path in ("/supervisor/desk/999999", "/supervisor/desk/abc", "/supervisor/desk/1/x"):
            self.assertEqual((await self.call(sup.get, path)).status, 404, path)
        admin = await self.app.logged_in("admin")
        r = await self.call(admin.get, f"/supervisor/desk/{self.agent_id}")
        self.assertEqual(r.status, 200)
        for user in ("agent", "qa"):
            b = await self.app.logged_in(user)
            r = await self.call(b.get, f"/supervisor/desk/{self.agent_id}")
            self.assertEqual(r.status, 403, user)

    async def test_the_live_view_is_started_and_stopped_through_the_api_and_audited(self) -> None:
        await self._start()
        sup, csrf = await self._as("sup")
        no_csrf = await self.call(
            sup.post_json, "/chat-desk/api/cobrowse/watch", {"agent": self.agent_id}, None
        )
        self.assertEqual(no_csrf.status, 403)
        agent, agent_csrf = await self._as("agent")
        refused = await self.call(
            agent.post_json, "/chat-desk/api/cobrowse/watch", {"agent": self.agent_id}, agent_csrf
        )
        self.assertEqual(refused.status, 403)
        r = await self.call(
            sup.post_json, "/chat-desk/api/cobrowse/watch", {"agent": self.agent_id}, csrf
        )
        self.assertEqual(r.status, 200, r.body)
        sid = r.json()["session"]
        stop = await self.call(
            sup.post_json, "/chat-desk/api/cobrowse/stop", {"session": sid}, csrf
        )
        self.assertEqual(stop.status, 200, stop.body)
        db = self.app.master.db
        rows: list[Any] = []
        for _ in range(100):  # the audit rows are written on the pool
            rows = await db.audit.recent(target=f"agent:{self.agent_id}")
            if len(rows) == 2:
                break
            await task.deferLater(reactor, 0.02, lambda: None)
        self.assertEqual(
            [(r.actor, r.action) for r in reversed(rows)],
            [("sup", "cobrowse.watch_start"), ("sup", "cobrowse.watch_stop")],
        )
        self.assertEqual(rows[0].detail["session"], sid)
        self.assertEqual(rows[0].detail["reason"], "staff_stopped")
        self.assertEqual(rows[0].ip, "127.0.0.1")

    async def test_the_desk_has_the_panel_and_the_agent_a_viewer_window(self) -> None:
        await self._start()
        agent = await self.app.logged_in("agent")
        desk = await self.call(agent.get, "/desk")
        self.assertEqual(desk.status, 200)
        for needle in (
            'data-test="cobrowse-panel"',
            'data-test="desk-watched"',
            "/static/desk_record.js",
            f'data-recorder="{vendor.url(vendor.RRWEB_RECORD)}"',
        ):
            self.assertIn(needle, desk.body)
        strings = desk.body.split('id="cobrowse-desk-strings">', 1)[1].split("</script>", 1)[0]
        self.assertIn("{name}", json.loads(strings)["watched"])
        view = await self.call(agent.get, "/desk/cobrowse?session=abc-DEF_123")
        self.assertEqual(view.status, 200)
        self.assertEqual(view.headers["Content-Security-Policy"], cobrowse_pages.VIEWER_CSP)
        self.assertIn('data-session="abc-DEF_123"', view.body)
        for bad in ("", "a%22b", "..%2fx", "x" * 65):
            r = await self.call(agent.get, "/desk/cobrowse?session=" + bad)
            self.assertEqual(r.status, 404, bad)
        # the desk's pages keep the strict policy
        self.assertNotIn("unsafe-inline", desk.headers["Content-Security-Policy"])

    async def test_rrweb_is_served_from_vendor(self) -> None:
        await self._start()
        agent = await self.app.logged_in("agent")
        for name, kind in (
            (vendor.RRWEB_RECORD, "text/javascript"),
            (vendor.RRWEB, "text/javascript"),
            (vendor.RRWEB_CSS, "text/css"),
        ):
            r = await self.call(agent.get, vendor.url(name))
            self.assertEqual(r.status, 200, name)
            self.assertTrue(r.headers["Content-Type"].startswith(kind), r.headers["Content-Type"])
            self.assertEqual(r.raw, vendor.FILES[name].read_bytes())

    async def test_the_pages_read_in_chinese(self) -> None:
        await self._start()
        sup = await self.app.logged_in("sup")
        r = await self.call(
            sup.get, f"/supervisor/desk/{self.agent_id}", {"Accept-Language": "zh-CN"}
        )
        self.assertEqual(r.status, 200)
        self.assertIn("实时查看", r.body)
        self.assertIn("停止查看", r.body)
