"""The System page's backup card over real HTTP: admin only, "back up now" a CSRF-checked
POST that writes an archive in the daemon's own thread, the archive downloaded whole, and
only archives of the backup folder by their own names."""

from __future__ import annotations

import io
import json
import tarfile

from appliance.backup.service import BackupService
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase


class SystemBackupPageTests(WebTestCase):
    async def test_back_up_now_then_download_admin_only(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self))
        self.addCleanup(self.app.stop)
        svc = self.app.master.hardware.backups
        assert isinstance(svc, BackupService)
        admin = await self.app.logged_in("admin")
        agent = await self.app.logged_in("agent")
        page = await self.call(admin.get, "/admin/system")
        self.assertIn("Back up now", page.body)
        self.assertIn("ccbox restore", page.body)

        r = await self.call(admin.post, "/admin/system/backup/now", {})  # no CSRF token
        self.assertEqual(r.status, 403)
        token = (await self.call(agent.get, "/")).csrf()
        r = await self.call(agent.post, "/admin/system/backup/now", {"_csrf": token})
        self.assertEqual(r.status, 403)
        self.assertIsNone(svc.busy)
        self.assertEqual(await svc.history.recent(), [])

        r = await self.call(admin.post, "/admin/system/backup/now", {"_csrf": page.csrf()})
        self.assertEqual(r.status, 303)
        if svc.busy is not None:
            await svc.busy
        (row,) = await svc.history.recent()
        self.assertTrue(row.ok, row.detail)
        self.assertEqual((row.requested_by, row.period), ("admin", None))
        page = await self.call(admin.get, "/admin/system")
        self.assertIn(row.file_name, page.body)
        self.assertIn("Backup started", page.body)  # the flash of the POST
        self.assertEqual(self.app.master.health.get("backups").state, "ok")  # type: ignore[union-attr]

        url = f"/admin/system/backup/download?name={row.file_name}"
        got = await self.call(admin.get, url)
        self.assertEqual(got.status, 200)
        self.assertEqual(got.headers["Content-Type"], "application/gzip")
        self.assertEqual(len(got.raw), row.size_bytes)
        with tarfile.open(fileobj=io.BytesIO(got.raw)) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        self.assertEqual(manifest["format"], "ccbox-backup")
        self.assertEqual((await self.call(agent.get, url)).status, 403)
        for name in ("../ccbox.conf", "ccbox.sqlite", "ccbox-backup-1.tar.gz", row.file_name + "x"):
            r = await self.call(admin.get, f"/admin/system/backup/download?name={name}")
            self.assertEqual(r.status, 404, name)
