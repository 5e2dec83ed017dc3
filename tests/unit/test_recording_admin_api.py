"""Deleting every recording of one number over the JSON API: admins only, CSRF checked,
bad numbers refused with 400, files and rows gone, one audit entry with the number masked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from appliance.db import model
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

PATH = "/api/recording_admin/delete_number"


class RecordingAdminApiTests(WebTestCase):
    async def _start(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self))
        self.addCleanup(self.app.stop)
        self.root = self.app.master.config.recording_dir
        db = self.app.master.db
        now = dt.datetime.now(dt.UTC)
        self.files = {}
        for name, caller in (("a", "+8613800001111"), ("b", "008613800001111"), ("c", "555")):
            rel = f"2026/02/{name}.wav"
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_bytes(b"RIFF")
            self.files[name] = self.root / rel
            await db.recordings.add(None, rel, now, 1000, 4, "", caller_number=caller)

    async def post(self, who: str, body: Any, token: bool = True) -> Any:
        b = await self.app.logged_in(who)
        csrf = (await self.call(b.get, "/")).csrf() if token else "nope"
        return await self.call(b.post_json, PATH, body, csrf)

    async def paths(self) -> list[str]:
        r = model.recordings
        return sorted(
            await self.app.master.db.run(lambda c: [x.path for x in c.execute(sa.select(r.c.path))])
        )

    async def test_an_admin_deletes_every_recording_of_a_number(self) -> None:
        await self._start()
        r = await self.post("admin", {"number": "+8613800001111"})
        self.assertEqual((r.status, r.json()), (200, {"deleted": 2, "failed": 0}))
        self.assertEqual(await self.paths(), ["2026/02/c.wav"])
        self.assertEqual([p.exists() for p in self.files.values()], [False, False, True])
        audit = await self.app.master.db.audit.recent("recording.delete_number")
        self.assertEqual(
            [(a.actor, a.target, a.detail["count"]) for a in audit],
            [("admin", "**********1111", 2)],
        )
        self.assertEqual(audit[0].ip, "127.0.0.1")

    async def test_bad_numbers_other_roles_and_no_csrf_are_refused(self) -> None:
        await self._start()
        for bad in ("12", "1" * 33, "+86-138", "abc", 13800001111, None, "1" * 100, ["555"]):
            r = await self.post("admin", {"number": bad})
            self.assertEqual(r.status, 400, bad)
            self.assertIn("error", r.json())
        r = await self.post("admin", ["555"])
        self.assertEqual(r.status, 400)
        for role in ("sup", "agent", "qa"):
            r = await self.post(role, {"number": "555"})
            self.assertEqual(r.status, 403, role)
        r = await self.post("admin", {"number": "555"}, token=False)
        self.assertEqual(r.status, 403)
        b = self.app.browser()
        r = await self.call(b.get, PATH)
        self.assertIn(r.status, (401, 405))
        self.assertEqual(len(await self.paths()), 3)
        self.assertEqual(await self.app.master.db.audit.recent("recording.delete_number"), [])
