"""Walk every route of the web app: each declares its access, and each refuses strangers."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from webui.access import Access, access_of


def walk(obj: Any, prefix: str = "") -> dict[str, Any]:
    """path -> handler for every exposed callable reachable from ``obj``."""
    routes: dict[str, Any] = {}
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name)
        if callable(value) and getattr(value, "exposed", False):
            path = prefix + ("/" if name == "index" else f"/{name}")
            routes[path.replace("//", "/") or "/"] = value
        elif (
            not callable(value)
            and hasattr(value, "__dict__")
            and type(value).__module__.startswith("webui")
        ):
            routes.update(walk(value, f"{prefix}/{name}"))
    return routes


class RouteWalkerTests(unittest.TestCase):
    def setUp(self) -> defer.Deferred[None]:
        return defer.ensureDeferred(self._start())

    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self))
        self.addCleanup(self.app.stop)
        app = self.app.master.web.ctx
        assert app is not None
        from webui.app import Root

        self.routes = walk(Root(app))

    async def test_walker_finds_the_known_routes(self) -> None:
        for path in (
            "/",
            "/login",
            "/logout",
            "/locale",
            "/admin/users/",
            "/admin/users/add",
            "/api/status",
            "/api/me",
            "/api/users",
            "/wallboard/",
            "/wallboard/settings",
            "/supervisor/",
            "/api/supervisor/spy",
            "/api/supervisor/hangup",
            "/desk/",
            "/desk/notices",
            "/api/desk/pop",
            "/api/acd/state",
            "/api/acd/transfer",
            "/admin/agents/",
            "/admin/queues/",
            "/admin/dids/",
            "/admin/system/",
            "/recordings/",
            "/api/recordings/",
            "/qa/",
        ):
            self.assertIn(path, self.routes)

    async def test_every_route_declares_its_access(self) -> None:
        for path, handler in self.routes.items():
            self.assertIsInstance(access_of(handler), Access, path)

    async def test_every_non_public_route_refuses_an_unauthenticated_request(self) -> None:
        checked = 0
        for path, handler in self.routes.items():
            access = access_of(handler)
            assert access is not None
            if access.public:
                continue
            b = self.app.browser()
            token = (await self.app.in_thread(b.get, "/login")).csrf()
            for method in ("GET", "POST"):
                form = {"_csrf": token} if method == "POST" else {}
                if method == "GET":
                    r = await self.app.in_thread(b.get, path)
                else:
                    r = await self.app.in_thread(b.post, path, form)
                self.assertNotIn(r.status // 100, (2,), f"{method} {path} -> {r.status}")
                if method in access.methods:
                    if access.api:
                        self.assertEqual(r.status, 401, f"{method} {path}")
                    else:
                        self.assertEqual(r.status, 303, f"{method} {path}")
                        self.assertIn("/login?next=", r.location)
                checked += 1
        self.assertGreaterEqual(checked, 2 * 100)  # every route above, with both methods

    async def test_the_twisted_resources_refuse_an_unauthenticated_request(self) -> None:
        """Beside the CherryPy app, the web root serves Twisted resources of its own (the
        live events): each refuses a request without a session; only /static and /vendor
        (the npm libraries' listed files, webui/vendor.py) are public."""
        web = self.app.master.web
        children = web.port.factory.resource.children
        self.assertIn(b"events", children)
        for name in children:
            if name in (b"static", b"vendor"):
                continue
            b = self.app.browser()
            r = await self.app.in_thread(b.get, "/" + name.decode())
            self.assertEqual(r.status, 401, name)
            token = (await self.app.in_thread(b.get, "/login")).csrf()
            r = await self.app.in_thread(b.post, "/" + name.decode(), {"_csrf": token})
            self.assertNotIn(r.status // 100, (2,), name)
        # public, but only the listed files: nothing else of node_modules
        for path in ("/vendor/package.json", "/vendor/echarts/package.json"):
            r = await self.app.in_thread(self.app.browser().get, path)
            self.assertEqual(r.status, 404, path)
