"""The e-mail accounts' passwords in a backup: never in the clear in the archive, sealed
with the passphrase and put back by the restore, or left out (and said so) without one."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance import config as config_mod
from appliance.backup import layout, places, restore, secrets, writer
from appliance.backup.layout import ArchiveError
from appliance.db import migrate
from appliance.db import model as m
from appliance.db.engine import create_engine
from tests.unit.test_backup_restore import _config, _target

PASS = "correct horse battery"
IMAP_PW = "imap-密码-s3cret"
SMTP_PW = "smtp-p@ss-s3cret"


@pytest.fixture
def box(tmp_path: Path) -> config_mod.Config:
    data = tmp_path / "src" / "data"
    data.mkdir(parents=True)
    cfg = config_mod.load(_config(tmp_path / "src", data))
    engine = create_engine(cfg.database_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        a = m.email_accounts
        conn.execute(
            a.insert().values(
                id=1,
                name="help",
                address="help@center.example",
                imap_host="imap.example",
                imap_password=IMAP_PW,
                smtp_password=SMTP_PW,
            )
        )
        conn.execute(a.insert().values(id=2, name="sales", address="s@x.example", imap_host="i"))
    engine.dispose()
    return cfg


def _accounts(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    a = m.email_accounts.c
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(a.id, a.address, a.imap_password, a.smtp_password).order_by(a.id)
        ).all()
    engine.dispose()
    return [tuple(r) for r in found]


def _no_password_in(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as tar:
        for info in tar:
            f = tar.extractfile(info)
            data = f.read() if f is not None else b""
            assert IMAP_PW.encode() not in data and SMTP_PW.encode() not in data, info.name
        member = tar.extractfile(layout.MANIFEST)
        assert member is not None
        manifest: dict[str, object] = json.load(member)
    return manifest


def test_sealed_with_the_passphrase_and_restored(box: config_mod.Config, tmp_path: Path) -> None:
    want = _accounts(box.database_url)
    archive = tmp_path / "full.tar.gz"
    writer.write_backup(places.places(box), archive, writer.BackupOptions(passphrase=PASS))
    manifest = _no_password_in(archive)
    names = manifest["secrets"]["names"]  # type: ignore[index]
    assert "email_accounts.imap_password" in names and "email_accounts.smtp_password" in names
    target = _target(tmp_path / "dst")
    result = restore.restore(archive, target, restore.RestoreOptions(passphrase=PASS))
    assert result.secrets == "restored"
    assert _accounts(target.database_url) == want


def test_without_a_passphrase_the_passwords_are_left_out(
    box: config_mod.Config, tmp_path: Path
) -> None:
    archive = tmp_path / "bare.tar.gz"
    writer.write_backup(places.places(box), archive, writer.BackupOptions())
    manifest = _no_password_in(archive)
    assert manifest["secrets"]["state"] == "omitted"  # type: ignore[index]
    assert "email_accounts.imap_password" in manifest["secrets"]["names"]  # type: ignore[index]
    target = _target(tmp_path / "dst")
    restore.restore(archive, target, restore.RestoreOptions())
    assert _accounts(target.database_url) == [
        (1, "help@center.example", "", ""),
        (2, "s@x.example", "", ""),
    ]


def test_a_sealed_payload_naming_another_column_is_refused() -> None:
    bad = secrets.seal(
        {"config": {}, "recording_key": None, "rows": {"email_accounts": {"1": {"address": "x"}}}},
        PASS,
    )
    with pytest.raises(ArchiveError, match="rows' secrets"):
        secrets.open_sealed(bad, PASS)
    bad = secrets.seal(
        {"config": {}, "recording_key": None, "rows": {"users": {"1": {"password": "x"}}}}, PASS
    )
    with pytest.raises(ArchiveError, match="rows' secrets"):
        secrets.open_sealed(bad, PASS)
