"""Restore an archive onto a box: everything checked first (appliance/backup/reader.py and
the target's state), then the database loaded and the files moved into place.

The target database must hold no data (a fresh box, or ``force``). It is migrated to the
archive's schema revision, cleared and loaded table by table in batches, all in one
transaction (PostgreSQL's sequences then set past the ids loaded), and migrated to this
ccbox's head. Files are staged in a hidden folder of the data directory and renamed into
place. The recording key is written only where no other key is; the archive's config
file is written beside the data (``ccbox.conf.restored``) for the admin to compare, never
over the config in use.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from appliance.backup import layout, reader, rows, running, schema, secrets
from appliance.backup.layout import ArchiveError, Limits
from appliance.backup.places import Places
from appliance.db import migrate
from appliance.db import model as m
from appliance.db.engine import create_engine

BATCH_ROWS = 1000
T = TypeVar("T")


@dataclass(frozen=True)
class RestoreOptions:
    passphrase: str | None = None
    force: bool = False  # restore over a database or folders that hold data
    without_secrets: bool = False  # restore an archive with sealed secrets, leaving them out
    limits: Limits = reader.DEFAULT_LIMITS


@dataclass
class RestoreResult:
    archive_revision: str
    revision: str
    rows: dict[str, int]
    files: dict[str, int]
    config_written: Path | None = None
    key_written: Path | None = None
    secrets: str = "none"  # "restored", "left out", "none"
    notes: list[str] = field(default_factory=list)


def restore(archive: Path, places: Places, options: RestoreOptions) -> RestoreResult:
    """Check ``archive`` and the target, then restore; ArchiveError (nothing changed) when
    either is refused."""
    if not Path(archive).is_file():
        raise ArchiveError(f"{archive}: no such file")
    _check_no_daemon(places)
    db_file = schema.sqlite_file(places.database_url)
    fresh_db = db_file is not None and not db_file.exists()
    created = not places.data_dir.exists()
    if not fresh_db:
        _check_database(places.database_url, options.force)
    places.data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=places.data_dir))
    try:
        staged = reader.stage(
            archive,
            staging,
            schema_for=schema.schema_for,
            passphrase=options.passphrase,
            without_secrets=options.without_secrets,
            limits=options.limits,
            postgresql=db_file is None,
        )
        _check_places(staged, places, options.force)
        return _apply(staged, places)
    except BaseException:
        if created:
            shutil.rmtree(places.data_dir, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_no_daemon(places: Places) -> None:
    """Refused while a ccboxd runs on the target's data folder, or on the config's when
    the restore would write its database or recordings (appliance/backup/running.py)."""
    for folder in places.daemon_dirs or (places.data_dir,):
        try:
            busy = running.daemon_running(folder)
        except OSError as exc:
            raise ArchiveError(f"cannot tell whether ccboxd runs on {folder}: {exc}") from None
        if busy:
            raise ArchiveError(
                f"ccboxd is running on {folder} (it holds {folder / running.LOCK_NAME}): "
                "stop it first (systemctl stop ccboxd), then restore"
            )


def _check_database(url: str, force: bool) -> None:
    engine = create_engine(url)
    try:
        current = migrate.current_revision(engine)
        if current is not None and current not in schema.revisions():
            raise ArchiveError(
                f"the database is at revision {current!r}, unknown to this ccbox: refused"
            )
        full = schema.tables_with_rows(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise ArchiveError(f"cannot read the target database: {exc}"[:400]) from None
    finally:
        engine.dispose()
    if full and not force:
        raise ArchiveError(
            f"the target database holds data ({', '.join(full[:5])}"
            f"{', ...' if len(full) > 5 else ''}): restore onto an empty database, or give "
            "--force to replace it"
        )


def _check_places(staged: reader.Staged, places: Places, force: bool) -> None:
    for area in staged.areas:
        dest = places.area(area)
        if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
            raise ArchiveError(f"{dest}: not a folder")
        if not force and dest.is_dir() and any(dest.iterdir()):
            raise ArchiveError(f"{dest} is not empty: restore onto a fresh box, or give --force")
        for relative in staged.areas[area] if dest.is_dir() else ():
            _check_target(dest, relative)
    key = secrets.key_bytes(staged.secrets) if staged.secrets else None
    dest_key = places.restored_key
    if key is not None and dest_key.exists() and dest_key.read_bytes() != key:
        raise ArchiveError(
            f"{dest_key} holds another recording key: move it away first (the recordings "
            "it encrypted need it)"
        )


def _check_target(dest: Path, relative: str) -> None:
    """A file moved into a folder that holds data (``--force``) goes where it is named: no
    existing name on its way is a symbolic link (a restore run as root would write where it
    points), a file where the archive has a folder, or a folder where it has a file."""
    parts = relative.split("/")
    path = dest
    for i, part in enumerate(parts):
        path = path / part
        if path.is_symlink():
            raise ArchiveError(f"{path} is a symbolic link: move it away first")
        if not path.exists():
            return
        if path.is_dir() != (i < len(parts) - 1):
            raise ArchiveError(f"{path}: a file where the archive has a folder, or the reverse")


def _apply(staged: reader.Staged, places: Places) -> RestoreResult:
    engine = create_engine(places.database_url)
    try:
        counts = load_database(engine, staged)
        revision = migrate.current_revision(engine) or ""
    finally:
        engine.dispose()
    result = RestoreResult(staged.revision, revision, counts, {})
    for area, names in staged.areas.items():
        _move_area(staged.area_path(area), places.area(area))
        result.files[area] = len(names)
    if staged.secrets is not None:
        key = secrets.key_bytes(staged.secrets)
        if key is not None and not places.restored_key.exists():
            _write_private(places.restored_key, key)
            result.key_written = places.restored_key
        result.secrets = "restored"
    elif layout.SECRETS in {e["name"] for e in staged.manifest["members"]}:
        result.secrets = "left out"
    if staged.config_text is not None:
        text = staged.config_text
        if staged.secrets is not None:
            text = secrets.fill_config(text, staged.secrets["config"])
        _write_private(places.restored_config, text.encode("utf-8"))
        result.config_written = places.restored_config
    made = [places.area(area) for area in staged.areas]
    made += [p for p in (result.key_written, result.config_written) if p is not None]
    db_file = schema.sqlite_file(places.database_url)
    if db_file is not None:
        made += [db_file.with_name(db_file.name + end) for end in ("", "-wal", "-shm")]
    own_like(places.data_dir, made)
    return result


def own_like(data_dir: Path, paths: list[Path]) -> None:
    """Run as root (ccboxd stopped), a restore gives what it wrote to the data folder's
    owner (the ccbox user), so the daemon can read and write it; otherwise a no-op."""
    owner = _owner(data_dir)
    if os.geteuid() != 0 or owner is None:
        return
    for top in paths:
        if not top.exists() or top.is_symlink():
            continue
        found = [top, *top.rglob("*")] if top.is_dir() else [top]
        for path in found:
            os.chown(path, *owner, follow_symlinks=False)


def _owner(data_dir: Path) -> tuple[int, int] | None:
    """The data folder's owner and group, None when root owns it."""
    st = data_dir.stat()
    return None if st.st_uid == 0 else (st.st_uid, st.st_gid)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a stale one, or a link planted there: never written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _move_area(src: Path, dest: Path) -> None:
    """The staged folder becomes ``dest`` (a rename when ``dest`` is absent or empty and on
    the same disk); else each file is moved over."""
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())):
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.rmdir()
        try:
            os.rename(src, dest)
            return
        except OSError:
            dest.mkdir(exist_ok=True)
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)


# ---- the database -----------------------------------------------------------------------


def load_database(engine: Engine, staged: reader.Staged) -> dict[str, int]:
    """Bring the database to the archive's revision, replace every table's rows with the
    archive's, then migrate to this ccbox's head. Rows per table."""
    _to_revision(engine, staged.revision)
    meta = sa.MetaData()
    meta.reflect(engine, only=list(staged.tables))
    ordered = [t for t in meta.sorted_tables if t.name in staged.tables]
    counts: dict[str, int] = {}
    # One transaction: a row the database refuses half way (a duplicate key, a foreign key
    # to nothing) leaves every table as it was, the rows --force would replace included.
    with engine.begin() as conn:
        _defer_foreign_keys(conn)
        for table in reversed(ordered):
            conn.execute(table.delete())
        for table in ordered:
            counts[table.name] = _load_table(conn, table, staged.table_path(table.name))
        if "backups" in staged.tables:
            _release_claims(conn)
        if staged.secrets is not None:  # the rows' secrets, sealed apart from the rows
            secrets.fill_secret_columns(conn, {t.name: t for t in ordered}, staged.secrets)
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn, ordered)
    migrate.upgrade(engine)
    return counts


def _release_claims(conn: sa.Connection) -> None:
    """A backup still running when the archive was made (another process's; the archive's
    own is written finished) no longer claims its period: the restored box's schedule backs
    that period up itself (the daemon then shows the row as interrupted)."""
    backups = m.backups
    conn.execute(backups.update().where(backups.c.ok.is_(None)).values(period=None))


def _defer_foreign_keys(conn: sa.Connection) -> None:
    """SQLite checks each row's foreign keys at once: a table that points at itself (a
    category's parent) is checked at the commit instead. PostgreSQL checks at the end of
    each statement already."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")


def _to_revision(engine: Engine, revision: str) -> None:
    current = migrate.current_revision(engine)
    if current == revision:
        return
    known = schema.revisions()
    if current is not None and known.index(current) > known.index(revision):
        migrate.downgrade(engine, revision)
    else:
        migrate.upgrade(engine, revision)


def _load_table(conn: sa.Connection, table: sa.Table, path: Path) -> int:
    """Insert the table's rows in batches. A row may point at a later row of its own table
    (a queue overflowing to a newer queue, a category moved under a newer one), which
    PostgreSQL checks at once: such columns are inserted empty, then set once every row
    is in."""
    own = [
        fk.parent.name
        for fk in table.foreign_keys
        if fk.column.table is table and fk.parent.nullable
    ]
    key = [c.name for c in table.primary_key.columns]
    later: list[dict[str, Any]] = []
    n = 0
    with open(path, "rb") as f:
        columns, found = rows.read_table(f, table.name, 1 << 40)  # checked when staged
        for batch in _batches(found):
            values = [dict(zip(columns, map(_stored, row), strict=True)) for row in batch]
            for row in values if own and key else ():
                if any(row.get(c) is not None for c in own):
                    later.append({f"k_{c}": row[c] for c in key} | {f"v_{c}": row[c] for c in own})
                    row.update(dict.fromkeys(own))
            conn.execute(table.insert(), values)
            n += len(values)
    for pending in _batches(iter(later)):
        update = (
            table.update()
            .where(*(table.c[c] == sa.bindparam(f"k_{c}") for c in key))
            .values({c: sa.bindparam(f"v_{c}") for c in own})
        )
        conn.execute(update, pending)
    return n


def _stored(value: Any) -> Any:
    """Timestamps are stored as naive UTC (appliance/db/types.py UTCDateTime)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _batches(found: Iterator[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for row in found:
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _reset_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """After explicit ids, each serial column's sequence continues past the largest."""
    for table in tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
            continue
        column = pk[0].name
        seq = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
            {"t": table.name, "c": column},
        ).scalar()
        if seq is None:
            continue
        top = conn.execute(sa.select(sa.func.max(table.c[column]))).scalar()
        conn.execute(
            sa.text("SELECT setval(:s, :v, :called)"),
            {"s": seq, "v": top if top is not None else 1, "called": top is not None},
        )
