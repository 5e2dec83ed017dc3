"""The web UI's defences over real HTTP on loopback: what a 500 leaves in the log, the
Origin/Referer check, security headers on every answer, the server's name, login lockout."""

from __future__ import annotations

from typing import Any, cast

from twisted.logger import ILogObserver, globalLogPublisher

from appliance.logsetup import format_line
from tests.support.appliance import USERS
from tests.unit.test_web import WebTestCase


class CapturedLog:
    """Every log event while the test runs, as the daemon's stdout would have it."""

    def __init__(self, test: WebTestCase) -> None:
        self.lines: list[str] = []
        observer = cast(ILogObserver, self)
        globalLogPublisher.addObserver(observer)
        test.addCleanup(globalLogPublisher.removeObserver, observer)

    def __call__(self, event: dict[str, Any]) -> None:
        self.lines.append(format_line(event, journald=False))

    @property
    def text(self) -> str:
        return "".join(self.lines)


class ErrorLogTests(WebTestCase):
    async def test_a_500_logs_its_traceback_and_no_cookie_token_or_password(self) -> None:
        from appliance.db.admin_store import AdminStore

        def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("the disk fell off")

        self.patch(AdminStore, "reset_password", broken)
        await self._start()
        b = await self.app.logged_in("admin")
        cookie = b.cookies["ccbox_session"]
        token = (await self.call(b.get, "/admin/users")).csrf()
        log = CapturedLog(self)
        secret = "n3w-Pa55word-xyz"
        r = await self.call(
            b.post,
            "/admin/users/password",
            {"_csrf": token, "id": "1", "password": secret},
            {"X-CSRF-Token": token, "Authorization": "Basic c2VjcmV0LWF1dGg="},
        )
        self.assertEqual(r.status, 500)
        self.assertNotIn("the disk fell off", r.body)  # no traceback to the browser
        text = log.text
        self.assertIn("POST /admin/users/password failed", text)
        self.assertIn("Traceback", text)
        self.assertIn("RuntimeError: the disk fell off", text)
        self.assertIn("in broken", text)
        for leaked in (cookie, token, secret, "c2VjcmV0LWF1dGg=", USERS["admin"][1]):
            self.assertNotIn(leaked, text)
        self.assertNotIn("Request Headers", text)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)  # logged once


class OriginTests(WebTestCase):
    async def test_a_post_from_another_origin_is_refused_even_with_the_token(self) -> None:
        await self._start()
        b = self.app.browser()
        token = (await self.call(b.get, "/login")).csrf()
        here = f"http://127.0.0.1:{self.app.port}"
        form = {"_csrf": token, "locale": "zh_CN", "next": "/login"}
        for origin in ("http://evil.example", "null", f"http://127.0.0.1:{self.app.port + 1}"):
            r = await self.call(b.post, "/locale", form, {"Origin": origin})
            self.assertEqual(r.status, 403, origin)
            self.assertIn("not sent from ccbox", r.body)
        self.assertIn('lang="en"', (await self.call(b.get, "/login")).body)  # nothing changed
        r = await self.call(b.post, "/locale", form, {"Origin": here})
        self.assertEqual(r.status, 303)
        r = await self.call(b.post, "/locale", {**form, "locale": "en"})  # no Origin: plain HTTP
        self.assertEqual(r.status, 303)
        # the JSON API too
        admin = await self.app.logged_in("admin")
        token = (await self.call(admin.get, "/")).csrf()
        r = await self.call(
            admin.request,
            "POST",
            "/api/users",
            b'{"username": "mallory", "password": "long-enough-pw", "role": "admin"}',
            {"Content-Type": "application/json", "X-CSRF-Token": token, "Origin": "null"},
        )
        self.assertEqual(r.status, 403)
        users = await self.app.master.db.users.list_all()
        self.assertNotIn("mallory", [u.username for u in users])


def test_same_origin_follows_djangos_rule() -> None:
    from webui.access import same_origin

    host = {"Host": "box.example:8443"}
    # plain HTTP: Origin checked when sent; without it, allowed (the token still holds)
    assert same_origin(host, secure=False)
    assert same_origin({**host, "Origin": "http://box.example:8443"}, secure=False)
    assert not same_origin({**host, "Origin": "http://evil.example"}, secure=False)
    assert not same_origin({**host, "Origin": "http://box.example"}, secure=False)  # port
    assert not same_origin({**host, "Origin": "null"}, secure=False)
    assert not same_origin({"Origin": "http://box.example:8443"}, secure=False)  # no Host
    # HTTPS: an https Origin, or without Origin an https Referer naming this host
    assert not same_origin(host, secure=True)
    assert same_origin({**host, "Origin": "https://box.example:8443"}, secure=True)
    assert not same_origin({**host, "Origin": "http://box.example:8443"}, secure=True)
    assert same_origin({**host, "Referer": "https://BOX.example:8443/admin/users"}, secure=True)
    assert not same_origin({**host, "Referer": "http://box.example:8443/x"}, secure=True)
    assert not same_origin({**host, "Referer": "https://box.example:8443@evil/x"}, secure=True)
    assert not same_origin({**host, "Referer": "https://[::1/"}, secure=True)  # unparsable


class HeaderTests(WebTestCase):
    async def test_static_files_and_their_404s_carry_the_security_headers(self) -> None:
        await self._start()
        b = self.app.browser()
        for path, status in (("/static/ccbox.css", 200), ("/static/nothing.js", 404)):
            r = await self.call(b.get, path)
            self.assertEqual(r.status, status, path)
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff", path)
            self.assertEqual(r.headers["X-Frame-Options"], "DENY", path)
            self.assertIn("default-src 'self'", r.headers["Content-Security-Policy"], path)
            self.assertEqual(r.headers["Referrer-Policy"], "same-origin", path)

    async def test_no_answer_names_the_server_software(self) -> None:
        await self._start()
        b = self.app.browser()
        for path in ("/login", "/static/ccbox.css", "/static/nothing", "/no-such-page", "/"):
            r = await self.call(b.get, path)
            self.assertIsNone(r.headers.get("Server"), path)
            self.assertNotIn("Twisted", str(r.headers), path)
            self.assertNotIn("CherryPy", str(r.headers) + r.body, path)


class LockoutTests(WebTestCase):
    async def test_one_persons_wrong_passwords_do_not_lock_the_rest_of_the_floor(self) -> None:
        await self._start()
        b = self.app.browser()
        for _ in range(5):
            self.assertEqual((await self.call(b.login, "sup", "not-the-password")).status, 401)
        r = await self.call(b.login, "sup", USERS["sup"][1])
        self.assertEqual(r.status, 401)
        self.assertIn("Too many failed attempts", r.body)
        # everyone else behind the same address (127.0.0.1 here) logs in
        other = self.app.browser()
        self.assertEqual((await self.call(other.login, "admin", USERS["admin"][1])).status, 303)
