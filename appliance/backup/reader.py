"""Read an archive into a staging folder and check all of it, changing nothing else.

Each tar header is checked before its data is read: a regular file (no link of any kind,
no device, folder or FIFO), a name of the layout (no absolute path, no ``..``), seen once,
within the size limits and the free space. The data is copied into the staging folder
(never by tarfile's extract) while hashed. Then the manifest must list exactly the members
read, with their sizes and hashes; its schema revision must be one this ccbox knows; every
table must be the columns of that revision, each line a row (JSON, never pickle) whose
values fit their columns (type, NULL), so the load cannot stop half way on them; the
secrets must open with the passphrase. Any fault is an ArchiveError and the staging folder
is the caller's to remove.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.backup import layout, rows, secrets
from appliance.backup import schema as schema_mod
from appliance.backup.layout import ArchiveError, Limits

_CHUNK = 1024 * 1024
DEFAULT_LIMITS = Limits()
_FREE_MARGIN = 64 * 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{64}")
# A pax or GNU long-name header: tarfile reads it whole into memory before the member it
# describes, so its size is capped before that (a name is at most 1024 characters).
_MAX_HEADER = 64 * 1024
_EXTENDED = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)


class _CheckedInfo(tarfile.TarInfo):
    """tarfile's header parsing, refusing first what it would read without bound: an
    extended header over _MAX_HEADER (a gzip of zeros claiming gigabytes) and any sparse
    member (GNU's chain of extension blocks, pax's sparse maps)."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and not 0 <= self.size <= _MAX_HEADER:
            raise ArchiveError(
                f"an extended tar header of {self.size} bytes (over {_MAX_HEADER}): refused"
            )
        if self.type == tarfile.XGLTYPE:  # never written by ccbox; its keys add up
            raise ArchiveError("a global pax header: refused")
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveError(f"member {self.name[:200]!r} is a sparse file: refused")
        return super()._proc_member(tarfile_)  # type: ignore[misc]

    def _sparse(self, *_: object) -> None:
        raise ArchiveError(f"member {self.name[:200]!r} is a sparse file: refused")

    _proc_gnusparse_00 = _proc_gnusparse_01 = _proc_gnusparse_10 = _sparse


@dataclass
class Staged:
    root: Path
    manifest: dict[str, Any]
    revision: str
    tables: dict[str, list[str]]  # table -> columns, as in the archive
    config_text: str | None
    secrets: dict[str, Any] | None  # the opened payload; None: none, or left out
    areas: dict[str, list[str]] = field(default_factory=dict)  # area -> relative paths

    def table_path(self, table: str) -> Path:
        return self.root / layout.table_member(table)

    def area_path(self, area: str) -> Path:
        return self.root / layout.FILES_DIR / area


def stage(
    archive: Path,
    root: Path,
    *,
    schema_for: Callable[[str], dict[str, dict[str, schema_mod.Column]] | None],
    passphrase: str | None,
    without_secrets: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    postgresql: bool = False,
) -> Staged:
    """Copy and check ``archive`` into the empty folder ``root``. ``schema_for(revision)``
    gives the tables and columns of a schema revision (None: not one this ccbox knows);
    ``postgresql``: the rows go into PostgreSQL (stricter than SQLite)."""
    seen = _copy_members(archive, root, limits)
    manifest = _manifest(root, seen, limits)
    revision = manifest["schema_revision"]
    schema = schema_for(revision)
    if schema is None:
        raise ArchiveError(
            f"the archive's database is at schema revision {revision!r}, which this ccbox "
            "does not know: it was made by a newer ccbox; upgrade this box first"
        )
    tables = _check_tables(root, manifest, seen, schema, limits, postgresql)
    staged = Staged(root, manifest, revision, tables, None, None)
    if layout.CONFIG in seen:
        try:
            staged.config_text = (root / layout.CONFIG).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ArchiveError(f"{layout.CONFIG}: not UTF-8 text") from None
    if layout.SECRETS in seen and not without_secrets:
        if passphrase is None:
            raise ArchiveError(
                "the archive's secrets are sealed with a passphrase: give --passphrase-file "
                "(or --without-secrets to restore without them)"
            )
        staged.secrets = secrets.open_sealed((root / layout.SECRETS).read_bytes(), passphrase)
    for name, member in seen.items():
        if member.kind == "file":
            staged.areas.setdefault(member.detail, []).append(name.split("/", 2)[2])
    return staged


@dataclass
class Member:
    kind: str
    detail: str  # the table or the area
    size: int
    sha256: str


def _copy_members(archive: Path, root: Path, limits: Limits) -> dict[str, Member]:
    """Every member by name, each copied under ``root`` and checked against its header."""
    seen: dict[str, Member] = {}
    total = 0
    try:
        with tarfile.open(archive, "r|gz", tarinfo=_CheckedInfo) as tar:
            for info in tar:
                if len(seen) >= limits.members:
                    raise ArchiveError(f"more than {limits.members} members")
                kind, detail = layout.kind_of(info.name)
                if info.name in seen:
                    raise ArchiveError(f"member {info.name!r} appears twice")
                if info.type != tarfile.REGTYPE or info.sparse is not None:
                    what = {
                        tarfile.SYMTYPE: "a symbolic link",
                        tarfile.LNKTYPE: "a hard link",
                        tarfile.CHRTYPE: "a device",
                        tarfile.BLKTYPE: "a device",
                        tarfile.FIFOTYPE: "a FIFO",
                        tarfile.DIRTYPE: "a folder",
                    }.get(info.type, "not a regular file")
                    raise ArchiveError(f"member {info.name!r} is {what}: refused")
                cap = {
                    "manifest": limits.manifest_bytes,
                    "config": limits.config_bytes,
                    "secrets": limits.secrets_bytes,
                }.get(kind, limits.member_bytes)
                if info.size > cap:
                    raise ArchiveError(
                        f"member {info.name!r} is {info.size} bytes, over the limit of {cap}"
                    )
                total += info.size
                if total > limits.total_bytes:
                    raise ArchiveError(f"the members add up to over {limits.total_bytes} bytes")
                if shutil.disk_usage(root).free < info.size + _FREE_MARGIN:
                    raise ArchiveError(
                        f"not enough free space in {root.parent} for {info.name!r} "
                        f"({info.size} bytes)"
                    )
                seen[info.name] = Member(kind, detail, info.size, "")
                seen[info.name].sha256 = _copy(tar, info, root / info.name, root)
    except ArchiveError:
        raise
    except RecursionError:  # tarfile recurses once per extended header before a member
        raise ArchiveError("extended tar headers chained without end: refused") from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveError(f"not a readable backup archive (truncated or damaged: {exc})") from None
    return seen


def _copy(tar: tarfile.TarFile, info: tarfile.TarInfo, dest: Path, root: Path) -> str:
    """Copy one member's data to ``dest``; its SHA-256."""
    both = ArchiveError(f"member {info.name!r} is both a file and a folder")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a member named a folder on its way
        raise both from None
    if dest.parent.resolve() != (root.resolve() / info.name).parent:
        raise ArchiveError(f"member {info.name!r}: a path that leaves its folder")
    src = tar.extractfile(info)
    assert src is not None  # a regular file
    digest = hashlib.sha256()
    size = 0
    try:
        out = open(dest, "xb")  # noqa: SIM115  # closed below
    except FileExistsError:  # names are unique: a folder of an earlier member's path
        raise both from None
    with out:
        while chunk := src.read(_CHUNK):
            size += len(chunk)
            if size > info.size:
                raise ArchiveError(f"member {info.name!r} is longer than its header says")
            digest.update(chunk)
            out.write(chunk)
    if size != info.size:
        raise ArchiveError(f"member {info.name!r} is cut off")
    return digest.hexdigest()


def _manifest(root: Path, seen: dict[str, Member], limits: Limits) -> dict[str, Any]:
    if layout.MANIFEST not in seen:
        raise ArchiveError("no manifest.json: not a ccbox backup, or cut off")
    try:
        manifest = json.loads((root / layout.MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArchiveError(f"manifest.json is not JSON: {exc}"[:300]) from None
    if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT:
        raise ArchiveError("manifest.json: not a ccbox backup")
    if manifest.get("format_version") != layout.FORMAT_VERSION:
        raise ArchiveError(
            f"manifest.json: format version {manifest.get('format_version')!r} is not "
            f"{layout.FORMAT_VERSION} (made by another ccbox)"
        )
    revision = manifest.get("schema_revision")
    database = manifest.get("database")
    members = manifest.get("members")
    if (
        not isinstance(revision, str)
        or not isinstance(database, dict)
        or not isinstance(database.get("tables"), dict)
        or not all(isinstance(k, str) and isinstance(v, int) for k, v in database["tables"].items())
        or not isinstance(members, list)
    ):
        raise ArchiveError("manifest.json: a field is missing or of the wrong type")
    listed: dict[str, dict[str, Any]] = {}
    for entry in members:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get("size"), int)
            or not isinstance(entry.get("sha256"), str)
            or not _SHA.fullmatch(entry["sha256"])
        ):
            raise ArchiveError("manifest.json: a member entry is malformed")
        if entry["name"] in listed or entry["name"] == layout.MANIFEST:
            raise ArchiveError(f"manifest.json: {entry['name']!r} listed twice")
        listed[entry["name"]] = entry
    present = set(seen) - {layout.MANIFEST}
    if present - set(listed):
        raise ArchiveError(f"member {sorted(present - set(listed))[0]!r} is not in the manifest")
    if set(listed) - present:
        raise ArchiveError(f"member {sorted(set(listed) - present)[0]!r} is missing")
    for name, entry in listed.items():
        size, digest = seen[name].size, seen[name].sha256
        if entry["size"] != size:
            raise ArchiveError(
                f"member {name!r} is {size} bytes; the manifest says {entry['size']}"
            )
        if entry["sha256"] != digest:
            raise ArchiveError(f"member {name!r} does not match its SHA-256 in the manifest")
    return manifest


def _check_tables(
    root: Path,
    manifest: dict[str, Any],
    seen: dict[str, Member],
    schema: dict[str, dict[str, schema_mod.Column]],
    limits: Limits,
    postgresql: bool,
) -> dict[str, list[str]]:
    counts: dict[str, int] = manifest["database"]["tables"]
    in_archive = {m.detail for m in seen.values() if m.kind == "table"}
    if set(counts) != in_archive or in_archive != set(schema):
        missing = sorted(set(schema) - in_archive) or sorted(set(counts) - in_archive)
        extra = sorted(in_archive - set(schema))
        what = f"missing {missing[0]!r}" if missing else f"unknown {extra[0]!r}"
        raise ArchiveError(f"the database tables are not those of its schema: {what}")
    tables: dict[str, list[str]] = {}
    for table in sorted(in_archive):
        member = layout.table_member(table)
        try:
            with open(root / member, "rb") as f:
                columns, found = rows.read_table(f, table, limits.line_bytes)
                if set(columns) != set(schema[table]):
                    raise ValueError("its columns are not those of the schema")
                kinds = [schema[table][c] for c in columns]
                n = 0
                for n, row in enumerate(found, 1):  # n: the rows read
                    for column, kind, value in zip(columns, kinds, row, strict=True):
                        if not kind.fits(value):
                            raise ValueError(f"line {n + 1}: {column} cannot hold {_shown(value)}")
                        if postgresql and not kind.fits_postgresql(value):
                            raise ValueError(
                                f"line {n + 1}: {column} cannot hold {_shown(value)} on "
                                "PostgreSQL (too long, out of range, or a NUL character)"
                            )
                        if not postgresql and not kind.fits_sqlite(value):
                            raise ValueError(
                                f"line {n + 1}: {column} cannot hold {_shown(value)} on "
                                "SQLite (which stores a NaN as NULL)"
                            )
        except ValueError as exc:
            raise ArchiveError(f"{member}: {exc}") from None
        if n != counts[table]:
            raise ArchiveError(f"{member}: {n} rows; the manifest says {counts[table]}")
        tables[table] = columns
    return tables


def _shown(value: Any) -> str:
    """A value in an error: its type, and a short start of it."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"
