"""What a backup archive may hold: its member names, their kinds and the size limits.

An archive is a gzip-compressed tar of regular files only, written by
appliance/backup/writer.py and checked member by member by appliance/backup/reader.py:

- ``db/<table>.jsonl``: one table (appliance/backup/rows.py)
- ``config/ccbox.conf``: the config file, its secrets blanked
- ``secrets.enc``: the secrets, encrypted with the passphrase (appliance/backup/secrets.py)
- ``files/<area>/<path>``: prompts, voicemail, uploads and (optionally) recordings
- ``manifest.json``: last; every other member with its size and SHA-256
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FORMAT = "ccbox-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CONFIG = "config/ccbox.conf"
SECRETS = "secrets.enc"
DB_DIR = "db"
FILES_DIR = "files"
# Where each area lives on the box: see appliance/backup/places.py.
AREAS = ("prompts", "voicemail", "uploads", "recordings")
# What a scheduled or asked-for archive is called in [backup] dir (UTC time in the name).
FILE_NAME = re.compile(r"ccbox-backup-\d{8}-\d{6}(?:-\d{1,3})?\.tar\.gz")

KiB, MiB, GiB = 1024, 1024**2, 1024**3
_TABLE = re.compile(r"[a-z][a-z0-9_]{0,62}")
_MAX_NAME = 1024
# Folders a member's name may pass through, its own name counted: a box's deepest real
# member is files/recordings/YYYY/MM/DD/<name> (6); a hostile name of 1024 characters
# could make some 500 folders while staging.
MAX_DEPTH = 16


class ArchiveError(ValueError):
    """The archive cannot be restored: what is wrong, for the admin (nothing was changed)."""


@dataclass(frozen=True)
class Limits:
    """Caps checked on each member's tar header, before its data is read."""

    member_bytes: int = 64 * GiB
    total_bytes: int = 4 * 1024 * GiB
    members: int = 5_000_000
    manifest_bytes: int = 256 * MiB
    config_bytes: int = 1 * MiB
    secrets_bytes: int = 1 * MiB
    # One row of a table. The largest real rows: a flow's graph (a JSON body of at most
    # 1 MiB, webui/json_body.py, stored with ASCII escapes: up to 3.5 MiB as a row when all
    # emoji) and a KB article (its HTML at most 256 KiB, appliance/rich_text.py, and its
    # text). A line is parsed whole before its width is checked: 8 MiB of "[[],[],..." is
    # about 190 MB of Python lists (64 MiB was 1.5 GB), so the cap is kept near the need.
    line_bytes: int = 8 * MiB


def kind_of(name: str) -> tuple[str, str]:
    """(kind, detail) of a member name: ("manifest", ""), ("config", ""), ("secrets", ""),
    ("table", table name) or ("file", area); ArchiveError for anything else: an absolute
    path, ``..``, an empty or odd segment, or a name outside the layout."""
    if not name or len(name) > _MAX_NAME:
        raise ArchiveError(f"member {name[:80]!r}: the name is empty or too long")
    if name.startswith("/") or "\\" in name or any(ord(c) < 32 or c == "\x7f" for c in name):
        raise ArchiveError(f"member {name[:200]!r}: an absolute path or an odd character")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ArchiveError(f"member {name[:200]!r}: a path that leaves its folder")
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(f"member {name[:200]!r}: nested deeper than {MAX_DEPTH} levels")
    if name == MANIFEST:
        return "manifest", ""
    if name == CONFIG:
        return "config", ""
    if name == SECRETS:
        return "secrets", ""
    if len(parts) == 2 and parts[0] == DB_DIR and parts[1].endswith(".jsonl"):
        table = parts[1][: -len(".jsonl")]
        if _TABLE.fullmatch(table):
            return "table", table
    if len(parts) >= 3 and parts[0] == FILES_DIR and parts[1] in AREAS:
        if any(p.startswith(".") for p in parts[2:]):
            raise ArchiveError(f"member {name[:200]!r}: a hidden file")
        return "file", parts[1]
    raise ArchiveError(f"member {name[:200]!r}: not part of a ccbox backup")


def table_member(table: str) -> str:
    return f"{DB_DIR}/{table}.jsonl"


def file_member(area: str, relative: str) -> str:
    return f"{FILES_DIR}/{area}/{relative}"
