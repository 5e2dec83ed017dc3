"""Scheduled backups (``[backup]``): an archive in ``dir`` every day or every Monday at
``hour`` (the center's zone) or as soon after as the box runs, the newest ``keep`` kept.

Each period is claimed in the database before its work (appliance/backup/history.py), so
a restart never backs up a period twice; a failed one is not retried within its period
(the System page's "back up now" is). The archive is written in a thread of its own
(appliance/backup/writer.py): the reactor never waits on the disk or the dump. The last
result is the health part ``backups``, the service's own name (one part, not two): degraded
after a failure, ok after a success.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from appliance import periods
from appliance.backup import layout, writer
from appliance.backup.history import BackupHistory, BackupRow
from appliance.backup.places import Places
from appliance.config import BackupConfig
from appliance.health import DEGRADED, OK, HealthRegistry
from appliance.text import N_

log = Logger(namespace="ccbox.backup")
CHECK_EVERY_S = 60.0
PART = "backups"  # the service's name: the part the master reports at its start


class BackupBusy(Exception):
    """A backup is being written already."""


class RunInThread(Protocol):
    def __call__(self, fn: Callable[..., Any], /, *args: Any) -> defer.Deferred[Any]: ...


def period_due(schedule: str, local_now: dt.datetime, hour: int) -> str | None:
    """The period whose backup is due at ``local_now``: "day:YYYY-MM-DD" from ``hour`` on,
    "week:YYYY-Www" from Monday's ``hour`` on (a Monday missed: any later day that week);
    None when off or before the hour. The rule is the scheduled reports' (appliance/periods.py)."""
    prefix = {"daily": "day", "weekly": "week"}.get(schedule)
    due = periods.period_due(schedule, local_now, hour) if prefix else None
    return f"{prefix}:{due[0]}" if due else None


def archive_name(now: dt.datetime, folder: Path) -> str:
    base = f"ccbox-backup-{now.astimezone(dt.UTC):%Y%m%d-%H%M%S}"
    name = f"{base}.tar.gz"
    n = 1
    while (folder / name).exists() or (folder / f".{name}.part").exists():
        n += 1
        name = f"{base}-{n}.tar.gz"
    return name


def archives(folder: Path) -> list[Path]:
    """The backup archives in ``folder`` (regular files with a backup's name), newest last."""
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if layout.FILE_NAME.fullmatch(p.name) and p.is_file() and not p.is_symlink()
    ]
    return sorted(found, key=lambda p: (p.name[:28], len(p.name), p.name))


def rotate(folder: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` archives; the names deleted."""
    gone = []
    for path in archives(folder)[:-keep] if keep > 0 else []:
        try:
            path.unlink()
            gone.append(path.name)
        except FileNotFoundError:
            pass
    return gone


@dataclass(frozen=True)
class BackupFile:
    name: str
    size: int
    modified: dt.datetime


class BackupService(service.Service):
    name = PART

    def __init__(
        self,
        reactor: Any,
        history: BackupHistory,
        settings: BackupConfig,
        places: Places,
        *,
        zone: str = "UTC",
        health: HealthRegistry | None = None,
        run_in_thread: RunInThread | None = None,
    ) -> None:
        """``run_in_thread``: how blocking work runs (default: a thread pool of its own, one
        thread; a test hands one that runs at once)."""
        self.reactor = reactor
        self.history = history
        self.settings = settings
        self.places = places
        self.folder = settings.dir or places.data_dir / "backups"
        self.zone = ZoneInfo(zone)
        self.health = health
        self._pool: ThreadPool | None = None
        # Listing the folder must not wait behind a backup in the backup's one thread.
        self._quick: RunInThread = run_in_thread or (lambda fn, *a: threads.deferToThread(fn, *a))
        if run_in_thread is None:
            self._pool = ThreadPool(minthreads=0, maxthreads=1, name="ccbox-backup")
            pool = self._pool
            run_in_thread = lambda fn, *a: threads.deferToThreadPool(reactor, pool, fn, *a)  # noqa: E731
        self.run_in_thread = run_in_thread
        self.busy: defer.Deferred[None] | None = None
        self._stopping = False
        self._loop: task.LoopingCall | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        if self._pool is not None:
            self._pool.start()
        self.history.close_interrupted(self._now()).addErrback(
            lambda f: log.warn("cannot close interrupted backups: {f}", f=f.value)
        )
        if self.settings.schedule != "off":
            self._loop = task.LoopingCall(self._tick)
            self._loop.clock = self.reactor
            self._loop.start(CHECK_EVERY_S, now=True).addErrback(
                lambda f: log.failure("the backup schedule stopped", f)
            )

    async def _stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        running = self.busy
        if running is not None:  # fires (with None) when the backup ends, never fails
            await running
        if self._pool is not None:
            self._pool.stop()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self._stopping = True  # the writer stops at its next member, batch of rows or chunk
        return defer.ensureDeferred(self._stop())

    # ---- the schedule -------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.reactor.seconds(), dt.UTC)

    def _tick(self) -> defer.Deferred[None]:
        return defer.ensureDeferred(self._check())

    async def _check(self) -> None:
        now = self._now()
        period = period_due(self.settings.schedule, now.astimezone(self.zone), self.settings.hour)
        if period is None or self.busy is not None:
            return
        done = self._begin()
        try:
            try:
                row_id = await self.history.claim(period, now)
            except Exception as exc:  # the database is down: tried again at the next tick
                log.warn("cannot claim the backup of {period}: {exc}", period=period, exc=exc)
                return
            if row_id is not None:
                await self._write(row_id, now)
        finally:
            self._end(done)

    # ---- one backup ---------------------------------------------------------------------

    def back_up_now(self, requested_by: str) -> defer.Deferred[BackupRow | None]:
        """Start a backup now (BackupBusy while one runs); fires when it is done."""
        if self.busy is not None:
            return defer.fail(BackupBusy())
        now = self._now()
        done = self._begin()

        async def go() -> BackupRow | None:
            try:
                row_id = await self.history.start(requested_by, now)
                return await self._write(row_id, now)
            finally:
                self._end(done)

        return defer.ensureDeferred(go())

    def _begin(self) -> defer.Deferred[None]:
        """Busy from now (on the reactor thread, so a second request sees it at once)."""
        done: defer.Deferred[None] = defer.Deferred()
        self.busy = done
        return done

    def _end(self, done: defer.Deferred[None]) -> None:
        self.busy = None
        done.callback(None)

    async def _write(self, row_id: int, now: dt.datetime) -> BackupRow | None:
        settings = self.settings
        try:
            phrase = None
            if settings.passphrase_file is not None:
                from appliance.backup.secrets import read_passphrase

                phrase = await self.run_in_thread(read_passphrase, settings.passphrase_file)
            await self.run_in_thread(_make_folder, self.folder)
            name = await self.run_in_thread(archive_name, now, self.folder)  # stats the disk
            options = writer.BackupOptions(
                include_recordings=settings.include_recordings,
                passphrase=phrase,
                cancelled=lambda: self._stopping,
                history_row=row_id,
            )
            result = await self.run_in_thread(
                writer.write_backup, self.places, self.folder / name, options
            )
        except (writer.BackupFailed, OSError, ValueError) as exc:
            detail = str(exc)[:500]
            log.error("backup failed: {detail}", detail=detail)
            self._report(DEGRADED, N_("the last backup failed: {reason}", reason=detail))
            await self.history.finish(row_id, ok=False, at=self._now(), detail=detail)
            return None
        gone = await self.run_in_thread(rotate, self.folder, settings.keep)
        log.info(
            "backup {name}: {size} bytes; removed {gone}", name=name, size=result.size, gone=gone
        )
        self._report(OK, N_("last backup: {name}", name=name))
        await self.history.finish(row_id, ok=True, at=self._now(), file_name=name, size=result.size)
        rows = await self.history.recent(1)
        return rows[0] if rows else None

    def _report(self, state: str, detail: str) -> None:
        if self.health is not None:
            self.health.report(PART, state, detail)

    # ---- for the web UI -----------------------------------------------------------------

    def files(self) -> defer.Deferred[list[BackupFile]]:
        """The archives in the folder, newest first."""

        def read() -> list[BackupFile]:
            out = []
            for path in reversed(archives(self.folder)):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                modified = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
                out.append(BackupFile(path.name, st.st_size, modified))
            return out

        return self._quick(read)

    def path_of(self, name: str) -> Path | None:
        """The archive called ``name`` in the folder (None: not a backup's name, or none)."""
        if not isinstance(name, str) or not layout.FILE_NAME.fullmatch(name):
            return None
        path = self.folder / name
        if path.is_symlink() or not path.is_file():
            return None
        return path


def _make_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
