"""The wallboard pages over real HTTP: who may open them, the settings form (CSRF, every
field validated, nothing stored on a refusal, the change audited), and queue names shown
escaped."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

HOSTILE = "<img src=x onerror=alert(1)>\"'&"

GOOD = {
    "waiting_warning": "2",
    "waiting_alarm": "4",
    "longest_wait_warning_s": "25",
    "longest_wait_alarm_s": "50",
    "service_level_warning": "90",
    "service_level_alarm": "75",
    "color_normal": "#00ff00",
    "color_warning": "#ffff00",
    "color_alarm": "#ff0000",
}


def seed(db: Any) -> None:
    resolved(db.queues.add("support", "Technical support"))
    resolved(db.queues.add("evil", HOSTILE))


class WallboardPageTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)

    async def test_roles(self) -> None:
        await self._start()
        anonymous = self.app.browser()
        for path in ("/wallboard", "/wallboard/settings"):
            r = await self.call(anonymous.get, path)
            self.assertIn(r.status, (302, 303), path)
            self.assertTrue(r.location.split("?")[0].endswith("/login"), r.location)
        r = await self.call(anonymous.post, "/wallboard/settings", GOOD)
        self.assertIn(r.status, (302, 303, 401, 403))
        for role, wallboard, settings in (
            ("agent", 403, 403),
            ("qa", 403, 403),
            ("sup", 200, 403),
            ("admin", 200, 200),
        ):
            b = await self.app.logged_in(role)
            r = await self.call(b.get, "/wallboard")
            self.assertEqual(r.status, wallboard, role)
            r = await self.call(b.get, "/wallboard/settings")
            self.assertEqual(r.status, settings, role)
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.post, "/wallboard/settings", {**GOOD, "_csrf": token})
        self.assertEqual(r.status, 403)  # a supervisor reads the wallboard, not its settings
        self.assertEqual(await self.stored(), None)

    async def test_the_page_has_no_nav_and_the_settings_and_escapes_queue_names(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        r = await self.call(b.get, "/wallboard")
        self.assertEqual(r.status, 200)
        self.assertNotIn('class="topbar"', r.body)
        self.assertNotIn("<img src=x", r.body)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;", r.body)
        self.assertIn('"color_alarm": "#f85149"', r.body)  # the defaults reach the script
        self.assertIn('src="/static/live.js"', r.body)
        self.assertIn('href="/wallboard/settings"', r.body)  # an admin may configure
        sup = await self.app.logged_in("sup")
        r = await self.call(sup.get, "/wallboard")
        self.assertNotIn('href="/wallboard/settings"', r.body)

    async def test_a_screen_chooses_its_queues_in_the_url(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        support = self.app.master.acd.queue("support").id
        r = await self.call(b.get, "/wallboard?queues=support")
        self.assertEqual(r.status, 200)
        self.assertIn(f'"queue_ids": [{support}]', r.body)  # the script shows only these
        self.assertEqual(r.body.count('class="wb-queue"'), 1)
        self.assertIn('value="support" checked', r.body)  # the chooser shows the choice
        self.assertNotIn('value="evil" checked', r.body)
        r = await self.call(b.get, "/wallboard")
        self.assertIn('"queue_ids": null', r.body)  # every queue, new ones too
        self.assertEqual(r.body.count('class="wb-queue"'), 2)
        # An unknown name is refused, saying which and what there is; a hostile one is text.
        r = await self.call(b.get, "/wallboard?queues=support,%3Cb%3Enope")
        self.assertEqual(r.status, 400)
        self.assertIn("No such queue: &lt;b&gt;nope. The queues are: support, evil.", r.body)
        self.assertIn('"queue_ids": []', r.body)
        self.assertNotIn('class="wb-queue"', r.body)
        r = await self.call(b.get, "/wallboard?queues=" + "x" * 3000)
        self.assertEqual(r.status, 400)
        # The chooser's form (no script) sends one parameter per ticked queue: the same.
        r = await self.call(b.get, "/wallboard?queues=evil&queues=support")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.count('class="wb-queue"'), 2)

    async def stored(self) -> Any:
        def thd(conn: Any) -> Any:
            return conn.execute(
                sa.select(model.settings.c.value).where(model.settings.c.key == "wallboard")
            ).scalar()

        return await self.app.master.db.run(thd)

    async def test_settings_csrf_validation_and_audit(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        page = await self.call(b.get, "/wallboard/settings")
        self.assertEqual(page.status, 200)
        token = page.csrf()
        self.assertIn('value="#f85149"', page.body)  # the defaults fill the form
        r = await self.call(b.post, "/wallboard/settings", GOOD)
        self.assertEqual(r.status, 403)  # no CSRF token
        r = await self.call(b.post, "/wallboard/settings", {**GOOD, "_csrf": "forged"})
        self.assertEqual(r.status, 403)
        self.assertIsNone(await self.stored())

        bad = {
            **GOOD,
            "waiting_warning": "0",
            "longest_wait_alarm_s": "99999",
            "service_level_alarm": "95",  # above the warning level: the order is wrong
            "color_alarm": "red;background:url(//x)",
            "color_normal": "<b>",
            "_csrf": token,
        }
        r = await self.call(b.post, "/wallboard/settings", bad)
        self.assertEqual(r.status, 400)
        self.assertIn("a whole number from 1 to 999", r.body)
        self.assertIn("a whole number from 1 to 3600", r.body)
        self.assertIn("the alarm level must be past the warning level", r.body)
        self.assertIn("a color written #rrggbb", r.body)
        self.assertNotIn("<b>", r.body)
        self.assertIn('value="&lt;b&gt;"', r.body)  # what was typed comes back, escaped
        self.assertIsNone(await self.stored())
        r = await self.call(
            b.post, "/wallboard/settings", {**GOOD, "waiting_alarm": "x" * 5000, "_csrf": token}
        )
        self.assertEqual(r.status, 400)
        self.assertIsNone(await self.stored())

        r = await self.call(b.post, "/wallboard/settings", {**GOOD, "_csrf": token})
        self.assertEqual(
            (r.status, r.location.split("?")[0].rsplit("/", 2)[-2:]),
            (303, ["wallboard", "settings"]),
        )
        settings = await self.app.master.db.settings.wallboard()
        self.assertEqual((settings.waiting_alarm, settings.color_alarm), (4, "#ff0000"))
        page = await self.call(b.get, "/wallboard/settings")
        self.assertIn("Wallboard settings saved.", page.body)
        self.assertIn('value="#ff0000"', page.body)
        r = await self.call(b.get, "/wallboard")
        self.assertIn('"waiting_alarm": 4', r.body)

        def audit(conn: Any) -> Any:
            return conn.execute(
                sa.select(model.audit_log.c.actor, model.audit_log.c.target).where(
                    model.audit_log.c.action == "wallboard.settings"
                )
            ).all()

        self.assertEqual(
            [tuple(r) for r in await self.app.master.db.run(audit)], [("admin", "wallboard")]
        )
