"""The web UI over real HTTP on loopback: login, sessions, CSRF, roles, escaping, i18n, API."""

from __future__ import annotations

import json
from typing import Any

from twisted.trial import unittest

from tests.support.appliance import USERS, RunningAppliance
from tests.support.http import Browser, Response
from tests.support.tmp import temp_dir


class WebTestCase(unittest.TestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self))
        self.addCleanup(self.app.stop)

    async def call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        return await self.app.in_thread(fn, *args, **kwargs)

    async def _as(self, username: str) -> tuple[Any, str]:
        """A browser logged in as ``username``, and its CSRF token."""
        b = await self.app.logged_in(username)
        return b, (await self.call(b.get, "/")).csrf()

    def agent(self, number: str) -> Any:
        """The running ACD's agent ``number``."""
        agent = self.app.master.acd.agent_by_number(number)
        assert agent is not None
        return agent


class LoginTests(WebTestCase):
    async def test_login_page_is_public_with_csrf_and_security_headers(self) -> None:
        await self._start()
        r: Response = await self.call(self.app.browser().get, "/login")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.csrf())
        self.assertEqual(r.headers["X-Frame-Options"], "DENY")
        self.assertIn("default-src 'self'", r.headers["Content-Security-Policy"])
        self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        cookie = r.headers["Set-Cookie"]
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Lax", cookie)

    async def test_login_rotates_the_session_and_shows_the_dashboard(self) -> None:
        await self._start()
        b = self.app.browser()
        token = (await self.call(b.get, "/login")).csrf()
        before = b.cookies["ccbox_session"]
        r = await self.call(
            b.post,
            "/login",
            {"_csrf": token, "username": "admin", "password": USERS["admin"][1], "next": "/"},
        )
        self.assertEqual((r.status, r.location.split("://")[-1].split("/", 1)[-1]), (303, ""))
        self.assertNotEqual(b.cookies["ccbox_session"], before)
        # the pre-login id is dead: it cannot be planted and then ridden
        planted = Browser(self.app.port)
        planted.cookies["ccbox_session"] = before
        self.assertEqual((await self.call(planted.get, "/")).status, 303)
        dash = await self.call(b.get, "/")
        self.assertEqual(dash.status, 200)
        self.assertIn("The Admin", dash.body)
        self.assertIn("Dashboard", dash.body)

    async def test_wrong_password_then_lockout(self) -> None:
        await self._start()
        b = self.app.browser()
        for _ in range(5):
            r = await self.call(b.login, "sup", "not-the-password")
            self.assertEqual(r.status, 401)
            self.assertIn("Wrong user name or password.", r.body)
        r = await self.call(b.login, "sup", USERS["sup"][1])
        self.assertEqual(r.status, 401)
        self.assertIn("Too many failed attempts", r.body)

    async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(self) -> None:
        await self._start()
        r = await self.call(self.app.browser().login, "nobody", "whatever-pw")
        self.assertEqual(r.status, 401)
        self.assertIn("Wrong user name or password.", r.body)

    async def test_login_without_csrf_is_refused(self) -> None:
        await self._start()
        b = self.app.browser()
        await self.call(b.get, "/login")
        r = await self.call(b.post, "/login", {"username": "admin", "password": USERS["admin"][1]})
        self.assertEqual(r.status, 403)
        self.assertIn("The form has expired", r.body)
        self.assertEqual((await self.call(b.get, "/")).status, 303)  # still not logged in

    async def test_next_parameter_cannot_redirect_off_site(self) -> None:
        await self._start()
        for target in ("//evil.example/", "http://evil.example/", "/\\evil.example"):
            b = self.app.browser()
            r = await self.call(b.login, "admin", USERS["admin"][1], target)
            self.assertEqual(r.status, 303)
            self.assertFalse(r.location.endswith("evil.example/"), r.location)
            self.assertNotIn("evil", r.location)

    async def test_logout_ends_the_session(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        old = b.cookies["ccbox_session"]
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.post, "/logout", {"_csrf": token})
        self.assertEqual(r.status, 303)
        stale = Browser(self.app.port)
        stale.cookies["ccbox_session"] = old
        r = await self.call(stale.get, "/")
        self.assertEqual(r.status, 303)
        self.assertIn("/login?next=/", r.location)


class RoleTests(WebTestCase):
    async def test_unauthenticated_page_redirects_and_api_answers_401(self) -> None:
        await self._start()
        b = self.app.browser()
        r = await self.call(b.get, "/admin/users")
        self.assertEqual(r.status, 303)
        self.assertIn("/login?next=/admin/users", r.location)
        r = await self.call(b.get, "/api/status")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json(), {"error": "not logged in"})

    async def test_agent_cannot_reach_admin_page_or_api(self) -> None:
        await self._start()
        b = await self.app.logged_in("agent")
        self.assertEqual((await self.call(b.get, "/")).status, 200)
        r = await self.call(b.get, "/admin/users")
        self.assertEqual(r.status, 403)
        self.assertNotIn("admin-password", r.body)
        r = await self.call(b.get, "/api/users")
        self.assertEqual(r.status, 403)
        self.assertIn("error", r.json())
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(
            b.post,
            "/admin/users/add",
            {"_csrf": token, "username": "mallory", "password": "long enough", "role": "admin"},
        )
        self.assertEqual(r.status, 403)
        admin = await self.app.logged_in("admin")
        users = (await self.call(admin.get, "/api/users")).json()
        self.assertNotIn("mallory", [u["username"] for u in users])

    async def test_each_role_reaches_the_dashboard_and_status_api(self) -> None:
        await self._start()
        for name in USERS:
            b = await self.app.logged_in(name)
            self.assertEqual((await self.call(b.get, "/")).status, 200, name)
            r = await self.call(b.get, "/api/me")
            self.assertEqual(r.json()["role"], USERS[name][0])
            status = (await self.call(b.get, "/api/status")).json()
            self.assertEqual(
                {p["name"] for p in status["parts"]},
                {
                    "db",
                    "report-maintainer",
                    "acd",
                    "acd-day-counters",
                    "recorder",
                    "recording-upkeep",
                    "report-schedule",
                    "ticket-escalation",
                    "web",
                    "backups",  # on every box: "back up now", even with [backup] schedule off
                    # the internet channels, on by default ([chat] and [email] enabled)
                    "channels",
                    "email",
                    "chat-public",
                    "cobrowse",
                },
            )
            self.assertEqual(status["overall"], "ok")


class AdminUserTests(WebTestCase):
    async def test_admin_adds_a_user_through_the_form(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/admin/users")).csrf()
        r = await self.call(
            b.post,
            "/admin/users/add",
            {
                "_csrf": token,
                "username": "newbie",
                "display_name": "New Bie",
                "role": "agent",
                "password": "newbie-password",
            },
        )
        self.assertEqual(r.status, 303)
        page = await self.call(b.get, "/admin/users")
        self.assertIn("User added.", page.body)
        self.assertIn("New Bie", page.body)
        self.assertEqual(
            (await self.call(self.app.browser().login, "newbie", "newbie-password")).status, 303
        )

    async def test_bad_form_values_give_a_message_and_add_nothing(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/admin/users")).csrf()
        for form, message in [
            ({"username": "x y", "role": "agent", "password": "long enough"}, "user name"),
            ({"username": "ok", "role": "god", "password": "long enough"}, "role must be"),
            ({"username": "ok", "role": "agent", "password": "short"}, "at least 8"),
            ({"username": "admin", "role": "agent", "password": "long enough"}, "already exists"),
        ]:
            r = await self.call(b.post, "/admin/users/add", {"_csrf": token, **form})
            self.assertEqual(r.status, 303)
            page = await self.call(b.get, "/admin/users")
            self.assertIn(message, page.body)
        users = (await self.call(b.get, "/api/users")).json()
        self.assertEqual(sorted(u["username"] for u in users), sorted(USERS))

    async def test_repeated_or_oversized_fields_are_400(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/admin/users")).csrf()
        r = await self.call(
            b.post,
            "/admin/users/add",
            [
                ("_csrf", token),
                ("username", "a"),
                ("username", "b"),
                ("role", "agent"),
                ("password", "long enough"),
            ],
        )
        self.assertEqual(r.status, 400)
        r = await self.call(
            b.post,
            "/admin/users/add",
            {"_csrf": token, "username": "u" * 5000, "role": "agent", "password": "long enough"},
        )
        self.assertEqual(r.status, 400)
        self.assertNotIn("Traceback", r.body)

    async def test_hostile_display_name_is_escaped(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        page = await self.call(b.get, "/admin/users")
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page.body)
        self.assertNotIn("<img src=x", page.body)
        agent = await self.app.logged_in("agent")
        dash = await self.call(agent.get, "/")
        self.assertNotIn("<img src=x", dash.body)


class ApiTests(WebTestCase):
    async def test_api_user_create_needs_csrf_header_and_valid_json(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        token = (await self.call(b.get, "/")).csrf()
        good = {"username": "api-user", "password": "api-password", "role": "qa"}
        r = await self.call(b.post_json, "/api/users", good, None)
        self.assertEqual(r.status, 403)
        r = await self.call(b.post_json, "/api/users", good, token)
        self.assertEqual(r.status, 201)
        self.assertEqual(r.json()["username"], "api-user")
        r = await self.call(b.post_json, "/api/users", good, token)
        self.assertEqual(r.status, 409)
        r = await self.call(b.post_json, "/api/users", None, token, raw=b"{not json")
        self.assertEqual((r.status, r.json()["error"]), (400, "the body is not valid JSON"))
        r = await self.call(b.post_json, "/api/users", None, token, raw=b"[" * 100000)
        self.assertEqual(r.status, 400)
        r = await self.call(b.post_json, "/api/users", None, token, raw=b"x" * (2 << 20))
        self.assertEqual(r.status, 413)
        r = await self.call(b.post_json, "/api/users", good, token, content_type="text/plain")
        self.assertEqual(r.status, 415)
        r = await self.call(b.post_json, "/api/users", {**good, "role": ["admin"]}, token)
        self.assertEqual(r.status, 400)
        r = await self.call(b.post_json, "/api/users", [1, 2], token)
        self.assertEqual(r.status, 400)

    async def test_wrong_method_is_405_and_unknown_path_404(self) -> None:
        await self._start()
        b = await self.app.logged_in("admin")
        r = await self.call(b.request, "DELETE", "/api/users")
        self.assertEqual(r.status, 405)
        self.assertIn("GET", r.headers["Allow"])
        r = await self.call(b.get, "/no/such/page")
        self.assertEqual(r.status, 404)
        self.assertNotIn("Traceback", r.body)
        r = await self.call(b.get, "/api/nothing")
        self.assertEqual(r.status, 404)
        self.assertIn("error", json.loads(r.body))


class LocaleTests(WebTestCase):
    async def test_user_picks_chinese_and_keeps_it_at_next_login(self) -> None:
        await self._start()
        b = await self.app.logged_in("sup")
        token = (await self.call(b.get, "/")).csrf()
        r = await self.call(b.post, "/locale", {"_csrf": token, "locale": "zh_CN", "next": "/"})
        self.assertEqual(r.status, 303)
        dash = await self.call(b.get, "/")
        self.assertIn("总览", dash.body)
        self.assertIn('lang="zh-CN"', dash.body)
        fresh = await self.app.logged_in("sup")
        self.assertIn("总览", (await self.call(fresh.get, "/")).body)

    async def test_login_page_follows_accept_language_and_rejects_unknown_locale(self) -> None:
        await self._start()
        b = self.app.browser()
        r = await self.call(b.get, "/login", {"Accept-Language": "zh-CN,zh;q=0.9"})
        self.assertIn("登录 ccbox", r.body)
        r = await self.call(b.post, "/locale", {"_csrf": r.csrf(), "locale": "xx"})
        self.assertEqual(r.status, 400)
