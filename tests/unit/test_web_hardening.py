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
