"""The recordings' upkeep: every hour (the first run shortly after start) legs left behind
are merged and indexed (``recover``: the recorder's ``recover_leftovers``), WAV recordings
older than ``archive_after_days`` are archived (FLAC or Opus) and recordings older than
their retention are purged; and, on request, every recording of one phone number is
deleted (privacy law).

The reactor never waits on it: file work runs in the service's own one-thread pool (so the
archive's encoding never competes with more than one core), database work through
``db.recording_upkeep`` in batches of ``batch`` rows, and one run handles at most
``max_rows`` rows of each kind, so a backlog of a million is worked off over several runs
(the next one comes sooner while a backlog remains).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from appliance.text import N_
from recorder import archive
from recorder.postprocess import DiskFull, RecordingError

if TYPE_CHECKING:
    from appliance.config import RecordingConfig
    from appliance.db.connector import DBConnector
    from appliance.db.recording_upkeep_store import StoredFile

T = TypeVar("T")
DiskRunner = Callable[..., Awaitable[Any]]
log = Logger(namespace="ccbox.recorder.upkeep")

INTERVAL_S = 3600.0
FIRST_RUN_S = 60.0
BACKLOG_RETRY_S = 60.0
BATCH = 200
MAX_ROWS = 20_000
NUMBER_RE = re.compile(r"\+?[0-9]{3,32}")


class BadNumber(ValueError):
    """Not a phone number this deletion accepts."""


def number_forms(number: str) -> tuple[str, ...]:
    """The stored forms one request covers: the number exactly as given, and for an
    international number its other prefix (``+8613800001111`` and ``008613800001111``).
    National forms (a leading 0 without the country code) are not guessed: ask for each."""
    number = number.strip()
    if not NUMBER_RE.fullmatch(number):
        raise BadNumber(N_("a phone number is 3 to 32 digits, with an optional leading +"))
    if number.startswith("+"):
        return (number, "00" + number[1:])
    if number.startswith("00") and len(number) > 4:
        return (number, "+" + number[2:])
    return (number,)


def masked(number: str) -> str:
    """All but the last four digits hidden (what the audit log keeps of a deleted number)."""
    keep = number[-4:]
    return "*" * (len(number) - len(keep)) + keep


async def _remove_then_delete(
    db: DBConnector, root: Path, rows: list[StoredFile], disk: DiskRunner
) -> tuple[int, list[int]]:
    """Files first, then the rows of the files that are gone; (deleted, ids not removed).
    A file that cannot be removed keeps its row, so a later attempt finds it again."""
    gone: list[int] = []
    failed: list[int] = []
    for row in rows:
        try:
            await disk(archive.remove, root, row.path)
        except OSError as exc:
            failed.append(row.id)
            log.warn(
                "recording {id} ({path}) not removed: {why}",
                id=row.id,
                path=row.path,
                why=exc.strerror or exc,
            )
            continue
        gone.append(row.id)
    deleted = await db.recording_upkeep.delete(gone)
    return deleted, failed


async def delete_number(
    db: DBConnector,
    root: Path,
    number: str,
    actor: str,
    disk: DiskRunner,
    ip: str = "",
    batch: int = BATCH,
) -> tuple[int, int]:
    """Delete every recording whose caller or called number is ``number`` (see
    ``number_forms``): files, then rows. Returns (deleted, failed to remove); one audit
    entry ``recording.delete_number`` with the number masked."""
    forms = number_forms(number)
    deleted, failed = await delete_forms(db, root, forms, disk, batch)
    await db.audit.add(
        actor,
        "recording.delete_number",
        masked(forms[0]),
        {"count": deleted, "failed": failed, "forms": len(forms)},
        ip=ip,
    )
    log.info(
        "{actor} deleted {n} recordings of {number}",
        actor=actor,
        n=deleted,
        number=masked(forms[0]),
    )
    return deleted, failed


async def delete_forms(
    db: DBConnector, root: Path, forms: Sequence[str], disk: DiskRunner, batch: int = BATCH
) -> tuple[int, int]:
    """Delete every recording whose caller or called number is exactly one of ``forms``
    (all the forms already: none is added): files, then rows. Returns (deleted, failed to
    remove); no audit entry (the caller writes its own: ``delete_number``, a customer's
    erasure)."""
    deleted = failed = 0
    for start in range(0, len(forms), 200):
        chunk, after = tuple(forms[start : start + 200]), 0
        while rows := await db.recording_upkeep.with_numbers(chunk, batch, after):
            after = rows[-1].id
            d, f = await _remove_then_delete(db, root, rows, disk)
            deleted, failed = deleted + d, failed + len(f)
    return deleted, failed


async def delete_calls(
    db: DBConnector, root: Path, call_ids: list[int], disk: DiskRunner, batch: int = BATCH
) -> tuple[int, int]:
    """Delete every recording of these calls (a customer's erasure: a call of a withheld
    number, or of one since removed): files, then rows. Returns (deleted, failed to
    remove); no audit entry (the caller writes its own)."""
    deleted = failed = 0
    for start in range(0, len(call_ids), 500):
        chunk, after = call_ids[start : start + 500], 0
        while rows := await db.recording_upkeep.of_calls(chunk, batch, after):
            after = rows[-1].id
            d, f = await _remove_then_delete(db, root, rows, disk)
            deleted, failed = deleted + d, failed + len(f)
    return deleted, failed


def inline_disk(fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
    """Run disk work at once (the CLI, which has no reactor)."""
    return defer.maybeDeferred(fn, *args)


class RecordingUpkeep(service.Service):
    name = "recording-upkeep"

    def __init__(
        self,
        reactor: Any,
        db: DBConnector,
        root: Path,
        config: RecordingConfig,
        key: bytes | None = None,
        *,
        interval_s: float = INTERVAL_S,
        first_run_s: float = FIRST_RUN_S,
        batch: int = BATCH,
        max_rows: int = MAX_ROWS,
        pool: ThreadPool | None = None,
        recover: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        """``key``: the recording key (``encryption.load_key``), None for plain files;
        ``recover``: what merges the legs calls left behind, first in every run."""
        self.recover = recover
        self.reactor = reactor
        self.db = db
        self.root = root
        self.config = config
        self.key = key
        self.interval_s = interval_s
        self.first_run_s = first_run_s
        self.batch = batch
        self.max_rows = max_rows
        self.pool = pool or ThreadPool(minthreads=0, maxthreads=1, name="ccbox-upkeep")
        self._loop: task.LoopingCall | None = None
        self._first: Any = None
        self._running: defer.Deferred[Any] | None = None
        self._stopping = False
        self._soon: Any = None
        # Where the archive goes on: a run that stops at max_rows (or rows that keep
        # failing) never makes the next run start over from the oldest.
        self._archive_after = 0

    # ---- lifecycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self.pool.start()
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.reactor
        self._first = self.reactor.callLater(self.first_run_s, self._loop.start, self.interval_s)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        self._stopping = True
        for call in (self._first, self._soon):
            if call is not None and call.active():
                call.cancel()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        d: defer.Deferred[Any] = self._running or defer.succeed(None)
        d.addBoth(lambda _: self.pool.stop())
        return d.addCallback(lambda _: None)

    def disk(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        return threads.deferToThreadPool(self.reactor, self.pool, fn, *args)

    def _tick(self) -> defer.Deferred[None]:
        if self._running is not None:  # a backlog run and the hourly one never overlap
            return defer.succeed(None)
        d = defer.ensureDeferred(self.run_once())
        self._running = d
        d.addErrback(lambda f: log.failure("recording upkeep run failed", f))

        def done(_: object) -> None:
            self._running = None

        return d.addCallback(done)

    # ---- one run ------------------------------------------------------------------------

    async def run_once(self) -> tuple[int, int]:
        """Recover leftover legs, archive, then purge; (archived, purged). Another run is
        due in BACKLOG_RETRY_S when archive or purge left rows for later."""
        if self.recover is not None:
            try:
                await self.recover()
            except Exception:  # the archive and the purge still run
                log.failure("recovering leftover recording legs failed")
        now = dt.datetime.now(dt.UTC)
        archived, archive_more = await self.archive_due(now)
        purged, purge_more = await self.purge_due(now)
        again = (archive_more or purge_more) and not self._stopping
        if again and (self._soon is None or not self._soon.active()):
            self._soon = self.reactor.callLater(BACKLOG_RETRY_S, self._tick)
        return archived, purged

    async def archive_due(self, now: dt.datetime) -> tuple[int, bool]:
        """(archived, more left). A recording that fails keeps its WAV and row (logged);
        a full disk ends the run."""
        days = self.config.archive_after_days
        if days <= 0:
            return 0, False
        fmt = archive.effective_format(self.config.archive_format)
        before = now - dt.timedelta(days=days)
        done = seen = 0
        while seen < self.max_rows and not self._stopping:
            rows = await self.db.recording_upkeep.due_for_archive(
                before, min(self.batch, self.max_rows - seen), self._archive_after
            )
            if not rows:
                self._archive_after = 0  # the next run starts from the oldest again
                return done, False
            for row in rows:
                seen += 1
                try:
                    ok = await self.archive_one(row, fmt, now)
                except DiskFull as exc:
                    log.error("recording archive stopped: {why}", why=exc)
                    self._archive_after = 0
                    return done, False
                self._archive_after = row.id
                done += ok
                if self._stopping:
                    break
        return done, not self._stopping

    async def archive_one(self, row: StoredFile, fmt: str, now: dt.datetime) -> bool:
        """The archive file, then the row, then (only then) the WAV removed."""
        try:
            made = await self.disk(
                archive.compress, self.root, row.path, row.encrypted, fmt, self.key
            )
        except DiskFull:
            raise
        except RecordingError as exc:
            log.warn("recording {id} not archived: {why}", id=row.id, why=exc)
            return False
        try:
            updated = await self.db.recording_upkeep.set_archived(
                row.id,
                row.path,
                made.relative,
                made.format,
                made.size_bytes,
                made.sha256,
                made.encrypted,
                now,
            )
        except Exception:
            updated = False
            log.failure("recording {id}: the index was not updated", id=row.id)
        if not updated:
            if made.relative != row.path:
                await self.disk(archive.remove, self.root, made.relative)
            return False
        try:
            await self.disk(archive.remove, self.root, row.path)
        except OSError as exc:
            log.warn(
                "recording {id}: archived, the old WAV stays: {why}",
                id=row.id,
                why=exc.strerror or exc,
            )
        return True

    async def purge_due(self, now: dt.datetime) -> tuple[int, bool]:
        """(purged, more left); one audit entry ``recording.purge`` when any was purged."""
        purged = seen = 0
        failed: set[int] = set()  # kept their rows: skipped for the rest of this run
        more = False
        while not self._stopping:
            if seen >= self.max_rows:
                more = True
                break
            want = min(self.batch, self.max_rows - seen)
            rows = await self.db.recording_upkeep.due_for_purge(
                now, self.config.retention_days, want + len(failed)
            )
            rows = [row for row in rows if row.id not in failed][:want]
            if not rows:
                break
            seen += len(rows)
            d, f = await _remove_then_delete(self.db, self.root, rows, self.disk)
            purged += d
            failed.update(f)
        if purged or failed:
            await self.db.audit.add(
                "system", "recording.purge", "", {"count": purged, "failed": len(failed)}
            )
            log.info("purged {n} recordings past their retention", n=purged)
        return purged, more
