"""Write one backup archive: the database (every table of the model, in one snapshot), the
config file, the secrets (sealed, or left out), prompts, voicemail, uploads and optionally
the recordings, then the manifest. Blocking: the daemon runs it in a thread.

The archive is written to ``<out>.part`` beside ``out`` and renamed when complete, so a
half-written archive never carries a backup's name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from appliance.backup import layout, rows, secrets
from appliance.backup.places import Places
from appliance.db import migrate
from appliance.db import model as m
from appliance.db.engine import create_engine, is_sqlite

BATCH_ROWS = 1000
_CHUNK = 1024 * 1024


class BackupFailed(Exception):
    """The backup could not be written (the reason); no archive was left behind."""


@dataclass(frozen=True)
class BackupOptions:
    include_recordings: bool = False
    passphrase: str | None = None  # None: the secrets are left out
    # Asked between members, batches of rows and chunks of a file: True stops the backup
    # (BackupFailed), e.g. at a stop.
    cancelled: Callable[[], bool] = lambda: False
    # The daemon's ``backups`` row of this backup (appliance/backup/history.py), running
    # while the dump is read: the archive holds it finished, without its period's claim.
    history_row: int | None = None


@dataclass
class BackupResult:
    path: Path
    size: int
    members: int
    rows: dict[str, int]
    files: dict[str, int]
    secrets: str  # "sealed", "omitted" or "none"
    skipped: list[str] = field(default_factory=list)  # files left out (links, odd names)


def ccbox_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ccbox")
    except PackageNotFoundError:
        return "unknown"


def snapshot_engine(url: str) -> Engine:
    """An engine whose transactions read one snapshot: on SQLite a real BEGIN (pysqlite
    leaves SELECTs outside any), on PostgreSQL REPEATABLE READ, read only."""
    engine = create_engine(url)
    if is_sqlite(engine):

        @sa.event.listens_for(engine, "connect")
        def _no_implicit(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


class _Hashing:
    """Reads at most ``size`` bytes of ``f``, hashing them (tarfile pulls through it in
    chunks); ``cancelled`` is asked before each, so a stop does not wait for a large
    recording to be copied whole."""

    def __init__(self, f: IO[bytes], size: int, cancelled: Callable[[], bool]) -> None:
        self.f, self.left, self.hash = f, size, hashlib.sha256()
        self.cancelled = cancelled

    def read(self, n: int = -1) -> bytes:
        if self.cancelled():
            raise BackupFailed("stopped")
        n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        self.hash.update(data)
        return data


class _Archive:
    def __init__(self, path: Path, options: BackupOptions) -> None:
        self.tar = tarfile.open(  # noqa: SIM115  # closed by _write's finally
            path, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT
        )
        self.members: list[dict[str, Any]] = []
        self.options = options
        self.mtime = int(dt.datetime.now(dt.UTC).timestamp())

    def add(self, name: str, f: IO[bytes], size: int, mtime: float | None = None) -> None:
        if self.options.cancelled():
            raise BackupFailed("stopped")
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o600
        info.mtime = int(mtime if mtime is not None else self.mtime)
        reader = _Hashing(f, size, self.options.cancelled)
        self.tar.addfile(info, reader)  # read() is all tarfile uses
        self.members.append({"name": name, "size": size, "sha256": reader.hash.hexdigest()})

    def add_bytes(self, name: str, data: bytes) -> None:
        import io

        self.add(name, io.BytesIO(data), len(data))

    def add_path(self, name: str, path: Path) -> None:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            self.add(name, f, st.st_size, st.st_mtime)


def write_backup(places: Places, out: Path, options: BackupOptions) -> BackupResult:
    """Write the archive ``out``; BackupFailed (nothing left behind) when it cannot."""
    out = Path(out)
    part = out.with_name(f".{out.name}.part")
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        return _write(places, out, part, work, options)
    except BackupFailed:
        part.unlink(missing_ok=True)
        raise
    except (OSError, sa.exc.SQLAlchemyError, ValueError, TypeError) as exc:
        part.unlink(missing_ok=True)
        raise BackupFailed(f"{type(exc).__name__}: {exc}"[:400]) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write(
    places: Places, out: Path, part: Path, work: Path, options: BackupOptions
) -> BackupResult:
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    archive = _Archive(part, options)
    try:
        held: dict[str, dict[str, dict[str, str]]] = {}  # the rows' secrets, blanked
        revision, counts = _dump_database(
            places.database_url, work, archive, options, out.name, held
        )
        config_text = places.config_file.read_text(encoding="utf-8")
        redacted, found = secrets.redact_config(config_text)
        archive.add_bytes(layout.CONFIG, redacted.encode("utf-8"))
        key = _recording_key(places)
        state = "none" if not found and key is None and not held else "omitted"
        if options.passphrase is not None and state == "omitted":
            sealed = secrets.seal(secrets.payload(found, key, held), options.passphrase)
            archive.add_bytes(layout.SECRETS, sealed)
            state = "sealed"
        skipped: list[str] = []
        files: dict[str, int] = {}
        for area in layout.AREAS:
            if area == "recordings" and not options.include_recordings:
                continue
            files[area] = _add_area(archive, area, places.area(area), skipped)
        manifest = {
            "format": layout.FORMAT,
            "format_version": layout.FORMAT_VERSION,
            "ccbox_version": ccbox_version(),
            "schema_revision": revision,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "database": {"dialect": _dialect(places.database_url), "tables": counts},
            "secrets": {
                "state": state,
                "names": sorted(found)
                + (["recording_key"] if key else [])
                + secrets.row_secret_names(held),
            },
            "recordings": options.include_recordings,
            "files": files,
            "members": archive.members,
        }
        archive.add_bytes(layout.MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"))
        members = len(archive.members)
    finally:
        archive.tar.close()
    with open(part, "rb") as f:
        os.fsync(f.fileno())
    os.replace(part, out)
    return BackupResult(out, out.stat().st_size, members, counts, files, state, skipped)


def _dialect(url: str) -> str:
    return sa.engine.make_url(url).get_backend_name()


def _recording_key(places: Places) -> bytes | None:
    if places.key_file is None:
        return None
    return places.key_file.read_bytes()


def _dump_database(
    url: str,
    work: Path,
    archive: _Archive,
    options: BackupOptions,
    file_name: str,
    held: dict[str, dict[str, dict[str, str]]],
) -> tuple[str, dict[str, int]]:
    """Every table of the model in one snapshot, each to a file then into the archive;
    the secret columns blanked, their values put in ``held`` (secrets.SECRET_COLUMNS)."""
    engine = snapshot_engine(url)
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn, conn.begin():
            revision = MigrationContext.configure(conn).get_current_revision()
            if revision != migrate.head_revision():
                raise BackupFailed(
                    f"the database is at revision {revision or 'empty'}, not "
                    f"{migrate.head_revision()}: run ccbox db upgrade first"
                )
            for table in m.metadata.sorted_tables:
                path = work / f"{table.name}.jsonl"
                found = _rows(conn, table, options)
                if table is m.backups and options.history_row is not None:
                    found = _finished(found, options.history_row, file_name)
                columns = [c.name for c in table.columns]
                found = secrets.blank_secret_columns(table.name, columns, found, held)
                with open(path, "wb") as f:
                    counts[table.name] = rows.write_table(
                        f, table.name, [c.name for c in table.columns], found
                    )
                archive.add_path(layout.table_member(table.name), path)
                path.unlink()
    finally:
        engine.dispose()
    return revision, counts


def _rows(conn: sa.Connection, table: sa.Table, options: BackupOptions) -> Iterator[Any]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execution_options(yield_per=BATCH_ROWS).execute(sa.select(table).order_by(*order))
    for n, row in enumerate(result):
        if n % BATCH_ROWS == 0 and options.cancelled():
            raise BackupFailed("stopped")
        yield tuple(row)


def _finished(found: Iterator[Any], row_id: int, file_name: str) -> Iterator[Any]:
    """The ``backups`` rows with this backup's own as the restored box should see it: done
    (an archive that is restored was completed) and no longer claiming its period, so that
    box's own schedule backs it up that day rather than showing an interrupted backup and
    skipping the day."""
    columns = [c.name for c in m.backups.columns]
    now = dt.datetime.now(dt.UTC)
    for row in found:
        values = dict(zip(columns, row, strict=True))
        if values["id"] == row_id:
            values.update(period=None, finished_at=now, ok=True, file_name=file_name[:100])
            row = tuple(values[c] for c in columns)
        yield row


def _add_area(archive: _Archive, area: str, root: Path, skipped: list[str]) -> int:
    """Every regular file under ``root`` (links, hidden and odd names left out, listed)."""
    if not root.is_dir():
        return 0
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            relative = path.relative_to(root).as_posix()
            member = layout.file_member(area, relative)
            try:
                layout.kind_of(member)
            except layout.ArchiveError:
                skipped.append(f"{area}/{relative}")
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(f"{area}/{relative}")
                continue
            try:
                archive.add_path(member, path)
            except FileNotFoundError:  # removed since listed (a purge): not in this backup
                continue
            count += 1
    return count
