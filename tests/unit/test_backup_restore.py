"""ccbox backup / ccbox restore: round trips on SQLite and PostgreSQL and across the two,
the files and secrets back, and hostile archives refused before anything is changed."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from appliance import config as config_mod
from appliance.backup import layout, places, restore, writer
from appliance.backup.layout import ArchiveError
from appliance.backup.secrets import SECRET_COLUMNS, WrongPassphrase
from appliance.db import migrate
from appliance.db import model as m
from appliance.db.engine import create_engine
from tests.conftest import empty_database

PASS = "correct horse battery"
KEY = bytes(range(32))
UTC = dt.UTC


def _config(base: Path, data: Path, url: str | None = None, key: Path | None = None) -> Path:
    text = config_mod.render(data, database_url=url, switch=False, ami_secret="ami-s3cret")
    text = text.replace("\npassword =\n", "\npassword = smtp-pw\n", 1)
    if key is not None:
        text = text.replace("encryption_key_file =\n", f"encryption_key_file = {key}\n", 1)
    path = base / "ccbox.conf"
    path.write_text(text, encoding="utf-8")
    return path


def _extra_rows(url: str) -> None:
    """What the demo's seeding lacks: unicode, NULLs, microseconds, a date, big numbers,
    a NULL boolean, a float that is not round."""
    engine = create_engine(url)
    at = dt.datetime(2026, 12, 7, 2, 3, 4, 567891, tzinfo=UTC)
    rows: list[tuple[sa.Table, dict[str, Any]]] = [
        (m.audit_log, {"actor": "张三", "action": "x", "detail": '{"q": "引号😀"}'}),
        (m.audit_log, {"actor": "o'brien; DROP", "action": "y", "target": "\t\r\n"}),
        (m.campaign_holidays, {"campaign_id": None, "day": dt.date(2027, 2, 17)}),
        (m.backups, {"period": "day:2026-12-06", "size_bytes": 2**40, "ok": True}),
        (m.backups, {"period": None, "ok": None, "detail": "中文"}),
        (m.settings, {"key": "wallboard", "value": "0.1+0.2", "updated_at": at}),
    ]
    with engine.begin() as conn:
        for table, values in rows:
            if "at" in table.c:
                values["at"] = at
            if "started_at" in table.c:
                values["started_at"] = at
            conn.execute(table.insert().values(**values))
        # rows pointing at a later row of their own table: a queue overflowing to a newer one,
        # a category moved under a newer one
        q = m.queues.c.id
        first, last = conn.execute(sa.select(sa.func.min(q), sa.func.max(q))).one()
        conn.execute(m.queues.update().where(q == first).values(overflow_queue_id=last))
        kb = m.kb_categories
        for name in ("moved", "newer"):
            conn.execute(kb.insert().values(name=name, created_at=at))
        ids = list(conn.scalars(sa.select(kb.c.id).order_by(kb.c.id.desc()).limit(2)))[::-1]
        conn.execute(kb.update().where(kb.c.id == ids[0]).values(parent_id=ids[1]))
    engine.dispose()


def _seed(base: Path, url: str | None = None) -> config_mod.Config:
    from appliance import demo

    data = base / "data"
    data.mkdir(parents=True)
    key = base / "recording.key"
    key.write_bytes(KEY)
    cfg = config_mod.load(_config(base, data, url, key))
    engine = create_engine(cfg.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    demo.seed(cfg)
    _extra_rows(cfg.database_url)
    for rel, body in {
        "voicemail/2001/msg0001.wav": b"RIFF-vm",
        "uploads/ab/abcdef": "附件".encode(),
        "recordings/2026/12/07/call-1.flac": b"fLaC" + bytes(range(100, 200)),
        "prompts/welcome zh 欢迎.wav": b"RIFF-prompt",
    }.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(body)
    return cfg


def table_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in m.metadata.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*order))]
    engine.dispose()
    return out


def _without_row_secrets(found: dict[str, list[tuple[Any, ...]]]) -> dict[str, Any]:
    """The rows as an archive without a passphrase restores them: the secret columns
    (secrets.SECRET_COLUMNS: the e-mail accounts' passwords) blank."""
    out = dict(found)
    for name, secret in SECRET_COLUMNS.items():
        columns = [c.name for c in m.metadata.tables[name].columns]
        blank = {columns.index(c) for c in secret}
        out[name] = [
            tuple("" if i in blank else v for i, v in enumerate(row)) for row in found[name]
        ]
    return out


def _rows_of(url: str, table: sa.Table, *columns: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = [tuple(r) for r in conn.execute(sa.select(*(table.c[c] for c in columns)))]
    engine.dispose()
    return found


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[config_mod.Config, Path, Path]:
    """A seeded SQLite box and two archives of it: with the recordings and the passphrase,
    and without either."""
    base = tmp_path_factory.mktemp("source")
    cfg = _seed(base)
    full = base / "full.tar.gz"
    writer.write_backup(
        places.places(cfg), full, writer.BackupOptions(include_recordings=True, passphrase=PASS)
    )
    bare = base / "bare.tar.gz"
    writer.write_backup(places.places(cfg), bare, writer.BackupOptions())
    return cfg, full, bare


def _target(base: Path, url: str | None = None) -> places.Places:
    base.mkdir(parents=True, exist_ok=True)
    data = base / "fresh"
    cfg = config_mod.load(_config(base, base / "elsewhere", url, base / "keys" / "rec.key"))
    return places.places(cfg, data)


def test_sqlite_round_trip_brings_back_every_row_file_and_secret(
    source: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, full, _ = source
    target = _target(tmp_path)
    chowned: list[tuple[Path, int, int]] = []  # run as root: given to the data folder's owner
    monkeypatch.setattr(restore.os, "geteuid", lambda: 0)
    monkeypatch.setattr(restore, "_owner", lambda _: (4321, 4322))
    monkeypatch.setattr(restore.os, "chown", lambda p, u, g, **_: chowned.append((p, u, g)))
    result = restore.restore(full, target, restore.RestoreOptions(passphrase=PASS))
    given = {p for p, u, g in chowned if (u, g) == (4321, 4322)}
    assert {target.restored_config, tmp_path / "keys" / "rec.key"} <= given
    assert target.data_dir / "ccbox.sqlite" in given
    assert {p for p in target.area("prompts").rglob("*")} <= given
    assert table_rows(target.database_url) == table_rows(cfg.database_url)
    assert result.rows["audit_log"] >= 2 and result.secrets == "restored"
    for area in layout.AREAS:
        assert tree(target.area(area)) == tree(places.places(cfg).area(area)), area
    assert (tmp_path / "keys" / "rec.key").read_bytes() == KEY
    restored = target.restored_config.read_text(encoding="utf-8")
    assert "secret = ami-s3cret\n" in restored and "password = smtp-pw\n" in restored
    assert target.restored_config.stat().st_mode & 0o077 == 0
    found = _rows_of(cfg.database_url, m.email_accounts, "imap_password", "smtp_password")
    mail_pw = {pw.encode() for row in found for pw in row}
    assert mail_pw and all(mail_pw)  # the demo's mailbox has its passwords
    with tarfile.open(full) as tar:  # no secret in the clear anywhere in the archive
        for info in tar:
            data = tar.extractfile(info).read()  # type: ignore[union-attr]
            assert b"ami-s3cret" not in data and b"smtp-pw" not in data and KEY not in data
            assert not any(pw in data for pw in mail_pw), info.name


@pytest.mark.parametrize("backend", ["postgresql"])  # deselected without a server
def test_postgresql_round_trips_and_across_the_two(
    backend: str, source: Any, tmp_path: Path
) -> None:
    """SQLite -> PostgreSQL -> (archive) -> SQLite and -> PostgreSQL: the same rows."""
    cfg, full, _ = source
    want = table_rows(cfg.database_url)
    pg1 = cast(Generator[str, None, None], empty_database(backend, tmp_path))
    pg2 = cast(Generator[str, None, None], empty_database(backend, tmp_path))
    try:
        url1, url2 = next(pg1), next(pg2)
        one = _target(tmp_path / "pg1", url1)
        restore.restore(full, one, restore.RestoreOptions(passphrase=PASS))
        assert table_rows(url1) == want
        engine = create_engine(url1)  # the sequences continue past the ids loaded
        with engine.begin() as conn:
            conn.execute(
                m.audit_log.insert().values(at=dt.datetime.now(UTC), actor="a", action="z")
            )
        with engine.begin() as conn:
            conn.execute(m.audit_log.delete().where(m.audit_log.c.action == "z"))
        engine.dispose()
        again = tmp_path / "from-pg.tar.gz"
        writer.write_backup(one, again, writer.BackupOptions(include_recordings=True))
        back = _target(tmp_path / "sqlite-again")
        restore.restore(again, back, restore.RestoreOptions())
        want = _without_row_secrets(want)  # "again" has no passphrase: they were left out
        assert table_rows(back.database_url) == want
        assert tree(back.area("recordings")) == tree(places.places(cfg).area("recordings"))
        two = _target(tmp_path / "pg2", url2)
        long = _last_row_set(_members(full), "settings", "updated_by", "u" * 65)
        _refused(_write(tmp_path / "long.tar.gz", long), two, match="on PostgreSQL")
        restore.restore(again, two, restore.RestoreOptions())  # still an empty database
        assert table_rows(url2) == want
    finally:
        pg1.close()
        pg2.close()


def test_without_a_passphrase_the_secrets_are_left_out_and_said_so(
    source: Any, tmp_path: Path
) -> None:
    _, _, bare = source
    with tarfile.open(bare) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile(layout.MANIFEST))  # type: ignore[arg-type]
    assert layout.SECRETS not in names
    assert manifest["secrets"]["state"] == "omitted"
    assert "ami.secret" in manifest["secrets"]["names"]
    assert not any(n.startswith("files/recordings/") for n in names)
    target = _target(tmp_path)
    result = restore.restore(bare, target, restore.RestoreOptions())
    assert result.key_written is None and not (tmp_path / "keys").exists()
    assert "\nsecret =\n" in target.restored_config.read_text(encoding="utf-8")


# ---- refused before any change ----------------------------------------------------------


def _untouched(target: places.Places) -> Callable[[], None]:
    """A check that the target's data folder (every name and byte in it) and database are
    as they were."""

    def state() -> Any:
        if not target.data_dir.exists():
            return None
        names = sorted(p.relative_to(target.data_dir) for p in target.data_dir.rglob("*"))
        db = Path(target.database_url.removeprefix("sqlite:///"))
        return names, tree(target.data_dir), table_rows(target.database_url) if db.exists() else 0

    before = state()

    def check() -> None:
        assert state() == before

    return check


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive) as tar:
        return [(i, tar.extractfile(i).read()) for i in tar]  # type: ignore[union-attr]


def _write(
    out: Path,
    members: list[tuple[tarfile.TarInfo, bytes]],
    manifest: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """The members again, with a manifest made for them (then changed by ``manifest``)."""
    old = next(json.loads(d) for i, d in members if i.name == layout.MANIFEST)
    listed = [
        {"name": i.name, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
        for i, d in members
        if i.name != layout.MANIFEST and i.isreg()
    ]
    old["members"] = listed
    if manifest is not None:
        manifest(old)
    with tarfile.open(out, "w:gz") as tar:
        for info, data in members:
            if info.name == layout.MANIFEST:
                continue
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        body = json.dumps(old).encode()
        info = tarfile.TarInfo(layout.MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return out


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info, b""


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


HOSTILE: dict[str, Callable[[list[tuple[tarfile.TarInfo, bytes]]], list[Any]]] = {
    "traversal": lambda ms: [*ms, _file("files/prompts/../../../x")],
    "dotdot first": lambda ms: [*ms, _file("../x")],
    "absolute": lambda ms: [*ms, _file("/etc/cron.d/x")],
    "symlink": lambda ms: [*ms, _special("files/prompts/a", tarfile.SYMTYPE, "/etc/passwd")],
    "hardlink": lambda ms: [*ms, _special("files/prompts/b", tarfile.LNKTYPE, "/etc/passwd")],
    "device": lambda ms: [*ms, _special("files/prompts/c", tarfile.CHRTYPE)],
    "folder": lambda ms: [*ms, _special("files/prompts/d", tarfile.DIRTYPE)],
    "unknown member": lambda ms: [*ms, _file("run.sh", b"#!/bin/sh\n")],
    "backslash": lambda ms: [*ms, _file("files/prompts/..\\..\\x")],
    "a file and a folder": lambda ms: [*ms, _file("files/prompts/p"), _file("files/prompts/p/q")],
    "a folder and a file": lambda ms: [*ms, _file("files/prompts/p/q"), _file("files/prompts/p")],
    "duplicate": lambda ms: [*ms, ms[-2]],
    "nested too deep": lambda ms: [*ms, _file("files/prompts/" + "d/" * 15 + "x")],
    "a row nested too deep": lambda ms: [
        (i, d + b"[" * 100_000 + b"\n" if i.name == "db/settings.jsonl" else d) for i, d in ms
    ],
    "code in a row": lambda ms: [
        (i, d + b'["k", {"$py": "os.system"}, "", null]\n' if i.name == "db/settings.jsonl" else d)
        for i, d in ms
    ],
}


# What each is refused for (another check refusing it later would hide a broken one).
REFUSED_FOR = {
    "traversal": "leaves its folder",
    "dotdot first": "leaves its folder",
    "absolute": "absolute path",
    "symlink": "is a symbolic link",
    "hardlink": "is a hard link",
    "device": "is a device",
    "folder": "is a folder",
    "unknown member": "not part of a ccbox backup",
    "duplicate": "appears twice",
    "nested too deep": "nested deeper than 16 levels",
    "code in a row": "an unknown value",
    "backslash": "odd character",
    "a file and a folder": "both a file and a folder",
    "a folder and a file": "both a file and a folder",
    "a row nested too deep": "nested too deep",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_before_any_change(
    case: str, source: Any, tmp_path: Path
) -> None:
    _, full, _ = source
    bad = _write(tmp_path / "bad.tar.gz", HOSTILE[case](_members(full)))
    target = _target(tmp_path)
    target.data_dir.mkdir()
    (target.data_dir / "keep.txt").write_text("mine")
    check = _untouched(target)
    with pytest.raises(ArchiveError, match=REFUSED_FOR[case]):
        restore.restore(bad, target, restore.RestoreOptions(passphrase=PASS))
    check()


def _refused(
    archive: Path, target: places.Places, options: Any = None, match: str | None = None
) -> None:
    check = _untouched(target)
    with pytest.raises(ArchiveError, match=match):
        restore.restore(archive, target, options or restore.RestoreOptions(passphrase=PASS))
    check()


def test_a_changed_byte_a_lying_manifest_and_a_cut_archive_are_refused(
    source: Any, tmp_path: Path
) -> None:
    _, full, _ = source
    members = _members(full)
    target = _target(tmp_path)
    # a prompt changed after the manifest was written
    changed = [(i, d[:-1] + b"!" if i.name.startswith("files/prompts/") else d) for i, d in members]
    manifest = next(d for i, d in members if i.name == layout.MANIFEST)
    keep = [(i, d) for i, d in changed if i.name != layout.MANIFEST] + [
        (_file(layout.MANIFEST, manifest)[0], manifest)
    ]
    with tarfile.open(tmp_path / "hash.tar.gz", "w:gz") as tar:
        for info, data in keep:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _refused(tmp_path / "hash.tar.gz", target, match="SHA-256")

    def lie(man: dict[str, Any]) -> None:
        man["members"][0]["size"] += 1

    _refused(_write(tmp_path / "lie.tar.gz", members, lie), target, match="manifest says")

    def newer(man: dict[str, Any]) -> None:
        man["schema_revision"] = "9999"

    _refused(_write(tmp_path / "new.tar.gz", members, newer), target, match="newer ccbox")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    _refused(cut, target, match="truncated")
    _refused(full, target, restore.RestoreOptions(passphrase="not the passphrase"))
    with pytest.raises(WrongPassphrase):
        restore.restore(full, target, restore.RestoreOptions(passphrase="not the passphrase"))
    _refused(full, target, restore.RestoreOptions(), match="passphrase")


def test_a_huge_member_is_refused_on_its_header(tmp_path: Path, source: Any) -> None:
    """A header declaring a terabyte, with no data behind it: refused before reading."""
    info = tarfile.TarInfo("files/recordings/huge.wav")
    info.size = 2**40
    raw = gzip.compress(info.tobuf(tarfile.PAX_FORMAT) + b"\0" * 4096)
    (tmp_path / "huge.tar.gz").write_bytes(raw)
    target = _target(tmp_path)
    _refused(tmp_path / "huge.tar.gz", target, match="over the limit")
    small = restore.RestoreOptions(
        passphrase=PASS, limits=layout.Limits(member_bytes=1000, total_bytes=10**9)
    )
    _refused(source[1], target, small, match="over the limit")
    total = restore.RestoreOptions(passphrase=PASS, limits=layout.Limits(total_bytes=100_000))
    _refused(source[1], target, total, match="add up to over")


def _header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(tarfile.GNU_FORMAT)


def test_an_extended_header_or_a_sparse_member_is_refused_before_tarfile_reads_it(
    tmp_path: Path,
) -> None:
    """tarfile reads a pax or GNU long-name header whole into memory, and a sparse member's
    maps block after block: a gzip of zeros claiming gigabytes would fill the memory."""
    target = _target(tmp_path)
    zeros = b"\0" * 65536
    for kind in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME):
        bomb = tmp_path / "bomb.tar.gz"
        bomb.write_bytes(gzip.compress(_header("././@x", kind, 2**33) + zeros))
        _refused(bomb, target, match="extended tar header")
    for kind in (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME):  # one recursion each in tarfile
        bomb.write_bytes(gzip.compress(_header("././@x", kind, 0) * 5000 + zeros))
        _refused(bomb, target, match="chained without end")
    bomb.write_bytes(gzip.compress(_header("././@g", tarfile.XGLTYPE, 0) + zeros))
    _refused(bomb, target, match="global pax header")
    sparse = tarfile.TarInfo("files/prompts/s")
    sparse.type = tarfile.GNUTYPE_SPARSE
    raw = bytearray(sparse.tobuf(tarfile.GNU_FORMAT))
    raw[482] = 1  # "an extension block follows", and the next, and the next...
    raw[148:156] = b"%06o\0 " % (sum(raw[:148]) + 256 + sum(raw[156:]))
    bomb.write_bytes(gzip.compress(bytes(raw) + (b"\0" * 504 + b"\1" + b"\0" * 7) * 64))
    _refused(bomb, target, match="sparse file")
    pax = tarfile.TarInfo("files/prompts/t")
    pax.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    bomb.write_bytes(gzip.compress(pax.tobuf(tarfile.PAX_FORMAT) + b"99999999\n" + zeros))
    _refused(bomb, target, match="sparse file")


def test_the_cli_backs_up_and_restores_onto_an_empty_database_only(
    source: Any, tmp_path: Path, capsys: Any
) -> None:
    from appliance.cli import main

    cfg, _, _ = source
    (tmp_path / "pp").write_text(PASS + "\n")
    out = tmp_path / "b.tar.gz"
    argv = ["--config", str(cfg.path), "backup", "-o", str(out)]
    assert main([*argv, "--passphrase-file", str(tmp_path / "pp")]) == 0
    assert main(argv) == 1  # never over an existing file
    target = tmp_path / "t"
    assert main(["--config", str(cfg.path), "restore", str(out), "--data-dir", str(target)]) == 1
    assert "passphrase" in capsys.readouterr().err and not target.exists()
    restore_argv = ["--config", str(cfg.path), "restore", str(out), "--data-dir", str(target)]
    restore_argv += ["--passphrase-file", str(tmp_path / "pp")]
    assert main(restore_argv) == 0
    url = f"sqlite:///{target / 'ccbox.sqlite'}"
    assert table_rows(url) == table_rows(cfg.database_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(m.audit_log.delete())
    engine.dispose()
    changed = table_rows(url)
    assert main(restore_argv) == 1  # the database holds data
    assert "holds data" in capsys.readouterr().err and table_rows(url) == changed
    assert main([*restore_argv, "--force"]) == 0
    assert table_rows(url) == table_rows(cfg.database_url)


# What migration 0019 (the internet channels) added: an archive made at 0018 has none of it.
TABLES_0019 = (
    "chat_topics",
    "chat_origins",
    "email_accounts",
    "email_routes",
    "conversations",
    "conversation_messages",
    "conversation_attachments",
    "conversation_events",
    "canned_replies",
    "email_auto_replies",
)
TABLES_AFTER_0018 = (*TABLES_0019, "chat_visitors")  # 0020: the web chat's visitors
# the columns 0019 added, with the server default a migrated row gets
COLUMNS_0019 = {
    "agents": {"max_chats": 3, "chat_on_call": False, "call_with_chats": True},
    "queues": {"media": "call"},
}


def _as_of_0018(name: str, data: bytes) -> bytes:
    """A table's JSON lines as 0018 wrote them: without the columns 0019 added."""
    table = name.removeprefix("db/").removesuffix(".jsonl")
    if table not in COLUMNS_0019:
        return data
    lines = data.decode().splitlines()
    head = json.loads(lines[0])
    drop = {head["columns"].index(c) for c in COLUMNS_0019[table]}
    head["columns"] = [c for i, c in enumerate(head["columns"]) if i not in drop]
    rows = [[v for i, v in enumerate(json.loads(line)) if i not in drop] for line in lines[1:]]
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in [head, *rows]).encode()


def test_an_archive_of_an_older_schema_is_loaded_at_its_revision_then_migrated(
    source: Any, tmp_path: Path
) -> None:
    """The same archive as if made at migration 0018 (before the internet channels): loaded
    into a database at 0018, then upgraded to the head; the columns 0019 added take their
    defaults and the tables of 0019 and later start empty."""
    cfg, full, _ = source
    gone = {f"db/{t}.jsonl" for t in TABLES_AFTER_0018}
    members = [(i, d) for i, d in _members(full) if i.name not in gone]
    members = [(i, _as_of_0018(i.name, d) if i.isreg() else d) for i, d in members]

    def older(man: dict[str, Any]) -> None:
        man["schema_revision"] = "0018"
        for t in TABLES_AFTER_0018:
            del man["database"]["tables"][t]

    old = _write(tmp_path / "old.tar.gz", members, older)
    target = _target(tmp_path)
    result = restore.restore(old, target, restore.RestoreOptions(passphrase=PASS))
    assert (result.archive_revision, result.revision) == ("0018", migrate.head_revision())
    want = table_rows(cfg.database_url)
    for t in TABLES_AFTER_0018:
        want[t] = []
    for t, defaults in COLUMNS_0019.items():
        columns = [c.name for c in m.metadata.tables[t].columns]
        at = {columns.index(c): v for c, v in defaults.items()}
        want[t] = [tuple(at.get(i, v) for i, v in enumerate(row)) for row in want[t]]
    assert table_rows(target.database_url) == want


def test_the_config_secrets_are_blanked_and_put_back_lines_kept() -> None:
    from appliance.backup import secrets

    text = (
        "# comment: secret = not this\n[database]\nurl = postgresql+psycopg://cc:pw@db/cc\n"
        "[ami]\nsecret=s1\n  continued\nusername = ccbox\n[smtp]\npassword =\n"
        "[metrics]\ntoken : t0k3n-t0k3n-t0k3n\n[modem]\npin = 1234\n"
    )
    blank, found = secrets.redact_config(text)
    assert found == {
        "database.url": "postgresql+psycopg://cc:pw@db/cc",
        "ami.secret": "s1",
        "metrics.token": "t0k3n-t0k3n-t0k3n",
        "modem.pin": "1234",
    }
    assert not any(v in blank for v in [*found.values(), "continued"])
    assert "# comment: secret = not this\n" in blank and "username = ccbox\n" in blank
    back = secrets.fill_config(blank, found)
    assert config_mod.parse(back).ami.secret == "s1"
    assert "token : t0k3n-t0k3n-t0k3n\n" in back and "pin = 1234\n" in back
    sqlite_url = "[database]\nurl = sqlite:////var/lib/ccbox/ccbox.sqlite\n"
    assert secrets.redact_config(sqlite_url) == (sqlite_url, {})


def test_a_secret_in_any_layout_configparser_reads_is_blanked_or_the_backup_refused() -> None:
    from appliance.backup import secrets

    text = (
        "[ami] ; the switch\nsecret = s3cr3t-ami\n[smtp]\npassword =\n    hunter2-smtp\n"
        "    # a comment ends it\nusername = cc\n"
    )
    blank, found = secrets.redact_config(text)
    assert found == {"ami.secret": "s3cr3t-ami", "smtp.password": "hunter2-smtp"}
    assert "s3cr3t" not in blank and "hunter2" not in blank
    assert "    # a comment ends it\nusername = cc\n" in blank
    back = config_mod.parse(secrets.fill_config(blank, found))
    assert (back.ami.secret, back.smtp.password) == ("s3cr3t-ami", "hunter2-smtp")
    # an indented "[smtp]" continues [ami]'s username to configparser: its secret is AMI's
    odd = "[ami]\nusername = a\n  [smtp]\nsecret = s3cr3t-ami\n"
    with pytest.raises(ValueError, match="could not be blanked"):
        secrets.redact_config(odd)


def _last_row_set(members: list[Any], table: str, column: str, value: Any) -> list[Any]:
    """The members with ``column`` of the table's last row set to ``value`` (as JSON)."""
    out = []
    for info, data in members:
        if info.name == f"db/{table}.jsonl":
            lines = data.splitlines(keepends=True)
            row = json.loads(lines[-1])
            row[json.loads(lines[0])["columns"].index(column)] = value
            data = b"".join([*lines[:-1], json.dumps(row).encode() + b"\n"])
        out.append((info, data))
    return out


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("backups", "size_bytes", "1099511627776"),
        ("backups", "size_bytes", True),
        ("audit_log", "action", None),
        ("settings", "updated_at", "2026-12-07 02:03:04"),
        ("campaigns", "ratio", {"$dec": "sNaN"}),
    ],
)
def test_a_value_its_column_cannot_hold_is_refused_before_any_change(
    table: str, column: str, value: Any, source: Any, tmp_path: Path
) -> None:
    """SQLite would store it as it is, PostgreSQL stop the load half way: refused first."""
    bad = _write(tmp_path / "bad.tar.gz", _last_row_set(_members(source[1]), table, column, value))
    target = _target(tmp_path)
    _refused(bad, target, match=f"{column} cannot hold")


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("settings", "updated_by", "u" * 65),
        ("audit_log", "detail", "a NUL \x00 in a text"),
        ("backups", "size_bytes", 2**63),
    ],
)
def test_what_sqlite_keeps_and_postgresql_refuses_is_refused_for_postgresql_only(
    table: str, column: str, value: Any, source: Any, tmp_path: Path
) -> None:
    """Across the two: a PostgreSQL load would stop half way on it, so it is refused while
    staging; SQLite keeps it as it is, so an archive of a SQLite box still restores there."""
    from appliance.backup import reader, schema

    bad = _write(tmp_path / "bad.tar.gz", _last_row_set(_members(source[1]), table, column, value))
    (tmp_path / "pg").mkdir()
    with pytest.raises(ArchiveError, match=f"{column} cannot hold .* on PostgreSQL"):
        reader.stage(
            bad, tmp_path / "pg", schema_for=schema.schema_for, passphrase=PASS, postgresql=True
        )
    (tmp_path / "sqlite").mkdir()
    staged = reader.stage(bad, tmp_path / "sqlite", schema_for=schema.schema_for, passphrase=PASS)
    assert table in staged.tables


def test_with_force_nothing_is_written_through_a_link_in_the_folders_it_fills(
    source: Any, tmp_path: Path
) -> None:
    """Run as root, a restore over a box's folders must not follow a link the daemon's
    user could have put there (to /etc, say): refused before any change."""
    target = _target(tmp_path)
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    (target.data_dir / "voicemail").mkdir(parents=True)
    (target.data_dir / "voicemail" / "2001").symlink_to(elsewhere)
    options = restore.RestoreOptions(passphrase=PASS, force=True)
    _refused(source[1], target, options, match="symbolic link")
    (target.data_dir / "voicemail" / "2001").unlink()
    (target.data_dir / "voicemail" / "2001").write_bytes(b"a file where a folder goes")
    _refused(source[1], target, options, match="a file where the archive has a folder")
    (target.data_dir / "voicemail" / "2001").unlink()
    for written in (target.restored_config, target.restored_key):  # through a temporary file
        written.parent.mkdir(parents=True, exist_ok=True)
        written.with_name(f".{written.name}.tmp").symlink_to(elsewhere / written.name)
    restore.restore(source[1], target, options)
    assert list(elsewhere.iterdir()) == []
    assert target.restored_key.read_bytes() == KEY
    assert "ami-s3cret" in target.restored_config.read_text()


def test_a_nan_where_sqlite_would_need_a_null_is_refused_for_sqlite_only(
    source: Any, tmp_path: Path
) -> None:
    from appliance.backup import reader, schema

    nan = _last_row_set(_members(source[1]), "campaigns", "ratio", {"$f": "nan"})
    bad = _write(tmp_path / "bad.tar.gz", nan)
    _refused(bad, _target(tmp_path), match="ratio cannot hold .* on SQLite")
    (tmp_path / "pg").mkdir()
    staged = reader.stage(
        bad, tmp_path / "pg", schema_for=schema.schema_for, passphrase=PASS, postgresql=True
    )
    assert "campaigns" in staged.tables


def test_a_row_the_database_refuses_leaves_every_table_as_it_was(
    source: Any, tmp_path: Path
) -> None:
    """A duplicate key passes the archive's checks and fails in the load: with --force, the
    rows it would have replaced are all still there."""
    full = source[1]
    target = _target(tmp_path)
    restore.restore(full, target, restore.RestoreOptions(passphrase=PASS))
    before = table_rows(target.database_url)
    members = _members(full)
    settings = next(d for i, d in members if i.name == "db/settings.jsonl")
    twice = settings + settings.splitlines(keepends=True)[-1]
    bad = [(i, twice if i.name == "db/settings.jsonl" else d) for i, d in members]

    def count(man: dict[str, Any]) -> None:
        man["database"]["tables"]["settings"] += 1

    archive = _write(tmp_path / "twice.tar.gz", bad, count)
    with pytest.raises(sa.exc.IntegrityError):
        restore.restore(archive, target, restore.RestoreOptions(passphrase=PASS, force=True))
    assert table_rows(target.database_url) == before


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://cc@db/cc?password=pw-in-query",
        "postgresql+psycopg://cc@db/cc?sslmode=require&pass%77ord=pw-in-query",
        "postgresql+psycopg://cc@db/cc?password=pw-in-query&password=pw-in-query",
        "postgresql+psycopg://cc@db/cc?sslpassword=pw-in-query",
        "postgresql+psycopg2://db/cc?dsn=host%3Ddb%20password%3Dpw-in-query",
        "postgresql+psycopg://cc:pw-in-query@db/cc",
    ],
)
def test_a_database_password_in_any_form_is_blanked_and_sealed(url: str) -> None:
    from appliance.backup import secrets

    text = f"[database]\nurl = {url}\n"
    blank, found = secrets.redact_config(text)
    assert found == {"database.url": url}
    assert "pw-in-query" not in blank
    assert secrets.fill_config(blank, found) == text
    plain = "[database]\nurl = postgresql+psycopg://cc@db/cc?sslmode=require\n"
    assert secrets.redact_config(plain) == (plain, {})


def test_a_row_over_the_line_cap_is_refused_and_the_largest_real_rows_fit(
    source: Any, tmp_path: Path
) -> None:
    from appliance.backup import rows
    from appliance.rich_text import MAX_HTML
    from webui.json_body import MAX_BODY

    cap = layout.Limits().line_bytes
    # the largest rows a box makes: a flow saved from a full JSON body of emoji (stored with
    # ASCII escapes, 3.5 times its size) and a KB article at its HTML limit, all quotes
    emoji = (MAX_BODY - 100) // 4
    body = json.dumps({"graph": {"nodes": [{"label": "😀" * emoji}]}}, ensure_ascii=False)
    assert len(body.encode()) <= MAX_BODY
    graph = json.dumps(json.loads(body)["graph"])
    flow = rows._line([1, 1, 1, graph, "admin", {"$dt": "2026-12-07T02:00:00+00:00"}])
    article = rows._line([1, '"' * MAX_HTML, '"' * MAX_HTML, "zh"])
    assert 3 * 1024**2 < len(flow) < cap / 2 and len(article) < cap / 2
    # and no more: a line is parsed whole, so its cap bounds what one row can take (9 MiB
    # of "[[],[]..." is about 200 MB of lists)
    _, full, _ = source
    big = _last_row_set(_members(full), "settings", "value", "x" * 9 * 1024**2)
    _refused(_write(tmp_path / "big.tar.gz", big), _target(tmp_path), match=f"longer than {cap}")


def test_a_member_may_be_nested_16_levels_deep_not_17() -> None:
    assert layout.kind_of("files/recordings/" + "d/" * 13 + "x.wav") == ("file", "recordings")
    with pytest.raises(ArchiveError, match="deeper than 16"):
        layout.kind_of("files/recordings/" + "d/" * 14 + "x.wav")


def test_a_restore_is_refused_while_ccboxd_runs_on_its_data_or_database(
    source: Any, tmp_path: Path, capsys: Any
) -> None:
    """ccboxd holds its data folder's lock while it runs (appliance/daemon.py); a restore
    onto that folder, or with --data-dir onto the config's database, is refused."""
    from appliance import daemon
    from appliance.backup import running
    from appliance.cli import main

    cfg, full, _ = source
    (tmp_path / "pp").write_text(PASS + "\n")
    shared = _target(tmp_path / "shared", url=f"sqlite:///{tmp_path / 'shared' / 'db.sqlite'}")
    live = shared.daemon_dirs[1]  # the config's own data folder: the database is its
    live.mkdir(parents=True)
    lock = daemon._hold_data_dir(config_mod.load(shared.config_file))
    assert lock is not None and running.daemon_running(live)
    _refused(full, shared, match=f"ccboxd is running on {live}")
    argv = ["--config", str(cfg.path), "restore", str(full), "--data-dir", str(tmp_path / "t")]
    argv += ["--passphrase-file", str(tmp_path / "pp")]
    held = running.hold(cfg.data_dir)  # the CLI on the source box's own folders
    assert held is not None
    assert main([*argv[:4], "--passphrase-file", str(tmp_path / "pp")]) == 1
    assert "ccboxd is running" in capsys.readouterr().err
    assert main(argv) == 0  # a trial restore beside the live box: its own database
    held.release()
    lock.release()
    assert not running.daemon_running(live)
    restore.restore(full, shared, restore.RestoreOptions(passphrase=PASS))
