"""Scheduled backups on a driven clock: each period once (across a restart too), rotation
to the newest ``keep``, a failure on the health part, "back up now"."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from appliance import config as config_mod
from appliance.backup import places
from appliance.backup.history import BackupHistory
from appliance.backup.service import BackupBusy, BackupService, archives, period_due
from appliance.cli import resolved
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from appliance.health import DEGRADED, OK, HealthRegistry

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=UTC).timestamp()


def test_the_period_due() -> None:
    monday = dt.datetime(2026, 12, 7, 1, 59)
    assert period_due("daily", monday, 2) is None
    assert period_due("daily", monday.replace(hour=2), 2) == "day:2026-12-07"
    assert period_due("weekly", monday, 2) is None
    assert period_due("weekly", monday.replace(hour=2), 2) == "week:2026-W50"
    assert period_due("weekly", monday + dt.timedelta(days=1), 2) == "week:2026-W50"
    assert period_due("off", monday.replace(hour=5), 2) is None


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[config_mod.Config, DBConnector]]:
    data = tmp_path / "data"
    (data / "prompts").mkdir(parents=True)
    (data / "prompts" / "hello.wav").write_bytes(b"RIFF")
    conf = tmp_path / "ccbox.conf"
    conf.write_text(config_mod.render(data, switch=False), encoding="utf-8")
    cfg = config_mod.load(conf)
    engine = create_engine(cfg.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    db = DBConnector(None, cfg.database_url, inline=True)  # type: ignore[arg-type]
    resolved(db.startService())
    yield cfg, db
    resolved(db.stopService())


def _service(
    cfg: config_mod.Config, db: DBConnector, clock: MemoryReactorClock, health: HealthRegistry
) -> BackupService:
    settings = dataclasses.replace(cfg.backup, schedule="daily", hour=2, keep=2)
    return BackupService(
        clock,
        BackupHistory(db),
        settings,
        places.places(cfg),
        health=health,
        run_in_thread=lambda fn, *a: defer.maybeDeferred(fn, *a),
    )


def test_daily_backups_each_period_once_rotated_and_failures_on_the_health(box: Any) -> None:
    cfg, db = box
    clock, health = MemoryReactorClock(), HealthRegistry()
    clock.advance(at(7, 1, 30))
    svc = _service(cfg, db, clock, health)
    folder = cfg.data_dir / "backups"
    svc.startService()
    assert archives(folder) == []  # before the hour
    clock.advance(at(7, 2) - clock.seconds())
    assert [p.name for p in archives(folder)] == ["ccbox-backup-20261207-020000.tar.gz"]
    assert health.get("backups").state == OK  # type: ignore[union-attr]
    clock.advance(600)  # ticks later in the same period: nothing more
    assert len(archives(folder)) == 1
    resolved(svc.stopService())

    again = _service(cfg, db, clock, health)  # a restart the same day: claimed already
    again.startService()
    clock.advance(60)
    assert len(archives(folder)) == 1
    for day in (8, 9):
        clock.advance(at(day, 2, 5) - clock.seconds())
    assert [p.name for p in archives(folder)] == [
        "ccbox-backup-20261208-020500.tar.gz",
        "ccbox-backup-20261209-020500.tar.gz",
    ]  # keep = 2: the 7th's is gone

    cfg.path.rename(cfg.path.with_suffix(".gone"))  # the config file cannot be read
    clock.advance(at(10, 3) - clock.seconds())
    part = health.get("backups")
    assert part is not None and part.state == DEGRADED
    assert len(archives(folder)) == 2 and not list(folder.glob(".*"))  # no half archive
    rows = resolved(again.history.recent(10))
    assert [(r.period, r.ok) for r in rows] == [
        ("day:2026-12-10", False),
        ("day:2026-12-09", True),
        ("day:2026-12-08", True),
        ("day:2026-12-07", True),
    ]
    assert "ccbox.conf" in rows[0].detail

    cfg.path.with_suffix(".gone").rename(cfg.path)
    row = resolved(again.back_up_now("admin"))
    assert row is not None and row.ok and row.requested_by == "admin" and row.period is None
    assert health.get("backups").state == OK  # type: ignore[union-attr]
    assert again.path_of(row.file_name) == folder / row.file_name
    assert again.path_of("../ccbox.conf") is None and again.path_of("x.tar.gz") is None
    resolved(again.stopService())


def test_back_up_now_while_one_runs_is_refused(box: Any) -> None:
    cfg, db = box
    clock = MemoryReactorClock()
    clock.advance(at(7, 1))
    waiting: list[tuple[defer.Deferred[Any], Any, tuple[Any, ...]]] = []

    def held(fn: Any, *args: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        waiting.append((d, fn, args))
        return d

    svc = BackupService(
        clock, BackupHistory(db), cfg.backup, places.places(cfg), run_in_thread=held
    )
    first = svc.back_up_now("admin")
    assert svc.busy is not None
    with pytest.raises(BackupBusy):
        resolved(svc.back_up_now("admin"))
    while waiting:  # the "thread" work, one step after another
        d, fn, args = waiting.pop(0)
        d.callback(fn(*args))
    assert resolved(first) is not None and svc.busy is None


def test_backup_config_values_are_checked() -> None:
    cfg = config_mod.parse(
        "[backup]\ndir = /srv/b\nschedule = weekly\nhour = 23\nkeep = 30\n"
        "include_recordings = yes\npassphrase_file = /etc/ccbox/backup.pass\n"
    )
    assert cfg.backup == config_mod.BackupConfig(
        Path("/srv/b"), "weekly", 23, 30, True, Path("/etc/ccbox/backup.pass")
    )
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.parse(
            "[backup]\ndir = backups\nschedule = hourly\nhour = 24\nkeep = 0\n"
            "passphrase_file = pass.txt\n"
        )
    assert len(err.value.problems) == 5
    assert all(p.startswith("[backup]") for p in err.value.problems)


def test_a_stop_while_a_large_file_is_copied_stops_within_it(box: Any, tmp_path: Path) -> None:
    """The writer asks for a stop between the chunks of a file, not only between files."""
    import os

    from appliance.backup import writer

    cfg, _ = box
    big = cfg.recording_dir / "2026" / "big.wav"
    big.parent.mkdir(parents=True)
    big.write_bytes(os.urandom(16 * 1024 * 1024))  # gzip cannot shrink it
    out = tmp_path / "out.tar.gz"
    part = out.with_name(f".{out.name}.part")
    seen: list[int] = []

    def cancelled() -> bool:  # a stop once 2 MiB of the recording is in the archive
        size = part.stat().st_size if part.exists() else 0
        if size > 2 * 1024 * 1024:
            seen.append(size)
            return True
        return False

    options = writer.BackupOptions(include_recordings=True, cancelled=cancelled)
    with pytest.raises(writer.BackupFailed, match="stopped"):
        writer.write_backup(places.places(cfg), out, options)
    assert seen and seen[0] < 8 * 1024 * 1024  # stopped within the file, not after it
    assert not out.exists() and not part.exists()


def test_a_restored_scheduled_backup_leaves_the_restored_box_its_own_schedule(
    box: Any, tmp_path: Path
) -> None:
    """The archive holds its own row finished and unclaimed, and a backup another process
    had running loses its claim: the restored box backs up that same day."""
    import sqlalchemy as sa

    from appliance.backup import restore
    from appliance.db import model as m

    cfg, db = box
    clock = MemoryReactorClock()
    clock.advance(at(7, 1))
    svc = _service(cfg, db, clock, HealthRegistry())
    svc.startService()
    engine = create_engine(cfg.database_url)
    with engine.begin() as conn:  # another process's, running
        conn.execute(
            m.backups.insert().values(period="week:2026-W50", started_at=dt.datetime.now(UTC))
        )
    engine.dispose()
    clock.advance(3600)
    resolved(svc.stopService())
    (archive,) = archives(cfg.data_dir / "backups")

    target = places.places(cfg, tmp_path / "restored")
    restore.restore(archive, target, restore.RestoreOptions())
    engine = create_engine(target.database_url)
    with engine.connect() as conn:
        found = conn.execute(sa.select(m.backups).order_by(m.backups.c.id)).all()
    engine.dispose()
    assert [(r.period, r.ok, r.requested_by) for r in found] == [
        (None, None, ""),
        (None, True, "schedule"),
    ]
    assert found[1].file_name == archive.name and found[1].finished_at is not None

    restored_db = DBConnector(None, target.database_url, inline=True)  # type: ignore[arg-type]
    resolved(restored_db.startService())
    try:
        clock.advance(3600)
        settings = dataclasses.replace(cfg.backup, schedule="daily", hour=2, keep=5)
        history = BackupHistory(restored_db)
        again = BackupService(
            clock,
            history,
            settings,
            target,
            run_in_thread=lambda fn, *a: defer.maybeDeferred(fn, *a),
        )
        again.startService()  # its first tick: the 7th is not claimed on this box
        resolved(again.stopService())
        rows = resolved(history.recent(5))
        assert [(r.period, r.ok) for r in rows][:1] == [("day:2026-12-07", True)]
        assert len(archives(tmp_path / "restored" / "backups")) == 1
    finally:
        resolved(restored_db.stopService())
