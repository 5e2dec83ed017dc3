"""The recordings' upkeep on a virtual clock and the inline database: the hourly run (first
shortly after start), archiving (file, then row, then the WAV removed; a failure changes
nothing), retention per queue with one audit entry per run, bounded batches that work a
backlog off over several runs, and deletion of every recording of one number."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import sqlalchemy as sa
from twisted.internet import defer, task

from appliance import cli
from appliance.cli import resolved
from appliance.config import RecordingConfig
from appliance.db import model
from appliance.db.connector import DBConnector
from drivers.audio import g711
from recorder import encryption, upkeep
from recorder.postprocess import merge
from recorder.upkeep import BadNumber, RecordingUpkeep
from tests.support.appliance import prepare
from tests.support.inline_db import inline_db

NOW = dt.datetime.now(dt.UTC)
KEY = bytes(range(32))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "db.sqlite") as connector:
        yield connector


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


def a_recording(
    db: DBConnector,
    root: Path,
    name: str,
    age_days: float,
    queue_id: int | None = None,
    wav: bool = False,
    key: bytes | None = None,
    **index: Any,
) -> int:
    rel = f"2026/01/{name}.wav"
    size, digest = 0, ""
    if wav:
        legs = root / "legs"
        legs.mkdir(parents=True, exist_ok=True)
        tone = (np.sin(np.arange(8000) / 3) * 6000).astype("<i2").tobytes()
        (legs / "x-rx.ulaw").write_bytes(g711.ulaw_encode(tone))
        (legs / "x-tx.ulaw").write_bytes(g711.ulaw_encode(tone[::-1]))
        done = merge(legs / "x-rx.ulaw", legs / "x-tx.ulaw", root / rel, key)
        size, digest = done.size_bytes, done.sha256
        index["encrypted"] = done.encrypted
    else:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"RIFF")
    return resolved(
        db.recordings.add(
            None, rel, days_ago(age_days), 1000, size, digest, queue_id=queue_id, **index
        )
    )


def a_queue(db: DBConnector, name: str, retention: int | None) -> int:
    queue = resolved(db.queues.add(name))

    def thd(conn: Any) -> None:
        conn.execute(
            model.queues.update()
            .where(model.queues.c.id == queue.id)
            .values(recording_retention_days=retention)
        )

    resolved(db.run(thd))
    return queue.id


def a_service(db: DBConnector, root: Path, clock: task.Clock, **kw: Any) -> RecordingUpkeep:
    config = RecordingConfig(
        archive_after_days=kw.pop("archive_after_days", 0),
        archive_format=kw.pop("archive_format", "flac"),
        retention_days=kw.pop("retention_days", 30),
    )
    svc = RecordingUpkeep(clock, db, root, config, kw.pop("key", None), **kw)
    svc.disk = upkeep.inline_disk  # type: ignore[method-assign]
    return svc


def ids(db: DBConnector) -> set[int]:
    r = model.recordings
    return set(resolved(db.run(lambda c: [x.id for x in c.execute(sa.select(r.c.id))])))


def test_the_first_run_comes_shortly_after_start_then_hourly(
    db: DBConnector, tmp_path: Path
) -> None:
    clock = task.Clock()
    svc = a_service(db, tmp_path, clock)
    runs: list[float] = []
    real = svc.run_once

    async def counted() -> tuple[int, int]:
        runs.append(clock.seconds())
        return await real()

    svc.run_once = counted  # type: ignore[method-assign]
    svc.startService()
    clock.advance(59)
    assert runs == []
    old = a_recording(db, tmp_path, "old", 40)
    clock.advance(1)
    assert runs == [60] and old not in ids(db)
    clock.advance(3599)
    assert runs == [60]
    clock.advance(1)
    assert runs == [60, 3660]
    resolved(svc.stopService())
    clock.advance(7200)
    assert runs == [60, 3660]


def test_stopping_waits_for_the_run_in_progress(db: DBConnector, tmp_path: Path) -> None:
    a_recording(db, tmp_path, "old", 40)
    clock = task.Clock()
    svc = a_service(db, tmp_path, clock, first_run_s=1)
    pending: list[defer.Deferred[Any]] = []

    def slow_disk(fn: Any, *args: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        d.addCallback(lambda _: fn(*args))
        pending.append(d)
        return d

    svc.disk = slow_disk  # type: ignore[method-assign]
    svc.startService()
    clock.advance(1)
    assert len(pending) == 1
    stopped = svc.stopService()
    assert not stopped.called
    pending[0].callback(None)
    assert stopped.called and ids(db) == set()


def test_retention_per_queue_keeps_qa_and_writes_one_audit_entry(
    db: DBConnector, tmp_path: Path
) -> None:
    short = a_queue(db, "short", 10)
    forever = a_queue(db, "forever", 0)
    default = a_queue(db, "default", None)
    gone = [
        a_recording(db, tmp_path, "s11", 11, short),
        a_recording(db, tmp_path, "d31", 31, default),
        a_recording(db, tmp_path, "n31", 31, None),
    ]
    kept = [
        a_recording(db, tmp_path, "s9", 9, short),
        a_recording(db, tmp_path, "f999", 999, forever),
        a_recording(db, tmp_path, "d29", 29, default),
        a_recording(db, tmp_path, "n29", 29, None),
    ]

    def add_evaluation(conn: Any) -> None:
        form = conn.execute(
            model.qa_forms.insert().values(name="f", definition="{}", created_at=NOW)
        ).inserted_primary_key[0]
        conn.execute(
            model.qa_evaluations.insert().values(
                recording_id=gone[0], form_id=form, evaluator="qa", score=80.0, created_at=NOW
            )
        )

    resolved(db.run(add_evaluation))
    svc = a_service(db, tmp_path, task.Clock())
    assert resolved(defer.ensureDeferred(svc.run_once())) == (0, 3)
    assert ids(db) == set(kept)
    assert sorted(p.stem for p in (tmp_path / "2026/01").iterdir()) == sorted(
        ["s9", "f999", "d29", "n29"]
    )
    evaluations = resolved(
        db.run(lambda c: c.execute(sa.select(model.qa_evaluations.c.recording_id)).all())
    )
    assert [tuple(e) for e in evaluations] == [(None,)]
    audit = resolved(db.audit.recent("recording.purge"))
    assert [(a.actor, a.detail) for a in audit] == [("system", {"count": 3, "failed": 0})]
    assert resolved(defer.ensureDeferred(svc.run_once())) == (0, 0)
    assert len(resolved(db.audit.recent("recording.purge"))) == 1  # nothing purged: no entry


def test_a_backlog_is_worked_off_in_bounded_runs(db: DBConnector, tmp_path: Path) -> None:
    for i in range(12):
        a_recording(db, tmp_path, f"r{i}", 40 + i)
    clock = task.Clock()
    svc = a_service(db, tmp_path, clock, batch=2, max_rows=5, first_run_s=1)
    seen: list[int] = []
    real = db.recording_upkeep.due_for_purge

    def spy(now: dt.datetime, days: int, limit: int) -> Any:
        seen.append(limit)
        return real(now, days, limit)

    db.recording_upkeep.due_for_purge = spy  # type: ignore[method-assign]
    svc.startService()
    clock.advance(1)
    assert len(ids(db)) == 7 and max(seen) <= 2
    clock.advance(upkeep.BACKLOG_RETRY_S)
    assert len(ids(db)) == 2
    clock.advance(upkeep.BACKLOG_RETRY_S)
    assert len(ids(db)) == 0
    audit = resolved(db.audit.recent("recording.purge"))
    assert sorted(a.detail["count"] for a in audit) == [2, 5, 5]
    resolved(svc.stopService())


def test_a_file_that_cannot_be_removed_keeps_its_row(
    db: DBConnector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = a_recording(db, tmp_path, "a", 40)
    b = a_recording(db, tmp_path, "b", 41)
    real = upkeep.archive.remove

    def remove(root: Path, rel: str) -> bool:
        if rel.endswith("b.wav"):
            raise PermissionError(13, "Permission denied")
        return real(root, rel)

    monkeypatch.setattr(upkeep.archive, "remove", remove)
    svc = a_service(db, tmp_path, task.Clock())
    assert resolved(defer.ensureDeferred(svc.run_once())) == (0, 1)
    assert ids(db) == {b} and a not in ids(db)
    assert resolved(db.audit.recent("recording.purge"))[0].detail == {"count": 1, "failed": 1}


@pytest.mark.parametrize("key", [None, KEY])
def test_old_wavs_are_archived_then_removed(
    db: DBConnector, tmp_path: Path, key: bytes | None
) -> None:
    old = a_recording(db, tmp_path, "old", 31, wav=True, key=key)
    new = a_recording(db, tmp_path, "new", 1, wav=True, key=key)
    wav_before, _ = sf.read(
        tmp_path / "2026/01/old.wav"
        if key is None
        else io.BytesIO(encryption.decrypt_file(tmp_path / "2026/01/old.wav", KEY)),
        dtype="int16",
    )
    svc = a_service(db, tmp_path, task.Clock(), archive_after_days=30, retention_days=0, key=key)
    before = dt.datetime.now(dt.UTC)
    assert resolved(defer.ensureDeferred(svc.run_once())) == (1, 0)
    after = dt.datetime.now(dt.UTC)
    row = resolved(db.recordings.get(old))
    assert row is not None
    assert (row.path, row.format, row.encrypted) == ("2026/01/old.flac", "flac", key is not None)
    stored = (tmp_path / row.path).read_bytes()
    assert (row.size_bytes, row.sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    assert row.archived_at is not None and before <= row.archived_at <= after
    assert not (tmp_path / "2026/01/old.wav").exists()
    plain = stored if key is None else encryption.decrypt_file(tmp_path / row.path, KEY)
    flac, _ = sf.read(io.BytesIO(plain), dtype="int16")
    assert np.array_equal(flac, wav_before)
    fresh = resolved(db.recordings.get(new))
    assert fresh is not None and (fresh.format, fresh.archived_at) == ("wav", None)


def test_a_failed_archive_leaves_the_wav_and_the_row(db: DBConnector, tmp_path: Path) -> None:
    rid = a_recording(db, tmp_path, "old", 31, wav=True)
    broken = a_recording(db, tmp_path, "broken", 32)  # "RIFF" and nothing else
    before = resolved(db.recordings.get(rid))
    wav_bytes = (tmp_path / "2026/01/old.wav").read_bytes()
    svc = a_service(db, tmp_path, task.Clock(), archive_after_days=30, retention_days=0)
    db.recording_upkeep.set_archived = lambda *a: defer.fail(  # type: ignore[method-assign]
        RuntimeError("database went away")
    )
    assert resolved(defer.ensureDeferred(svc.run_once())) == (0, 0)
    assert resolved(db.recordings.get(rid)) == before
    assert resolved(db.recordings.get(broken)) is not None
    assert (tmp_path / "2026/01/old.wav").read_bytes() == wav_bytes
    assert sorted(p.name for p in (tmp_path / "2026/01").iterdir()) == ["broken.wav", "old.wav"]


def test_rows_that_keep_failing_do_not_block_the_archive(db: DBConnector, tmp_path: Path) -> None:
    a_recording(db, tmp_path, "broken1", 33)  # "RIFF" only: never archivable
    a_recording(db, tmp_path, "broken2", 32)
    good = a_recording(db, tmp_path, "good", 31, wav=True)
    svc = a_service(
        db, tmp_path, task.Clock(), archive_after_days=30, retention_days=0, batch=1, max_rows=2
    )
    assert resolved(defer.ensureDeferred(svc.run_once())) == (0, 0)  # both broken: limit hit
    assert resolved(defer.ensureDeferred(svc.run_once())) == (1, 0)  # goes on after them
    row = resolved(db.recordings.get(good))
    assert row is not None and row.format == "flac"


def test_number_forms_and_masking() -> None:
    assert upkeep.number_forms("+8613800001111") == ("+8613800001111", "008613800001111")
    assert upkeep.number_forms("008613800001111") == ("008613800001111", "+8613800001111")
    assert upkeep.number_forms(" 13800001111 ") == ("13800001111",)
    for bad in ("12", "1" * 33, "+", "12a45", "++123", "1 234", "", "\uff11\uff12\uff13\uff14"):
        with pytest.raises(BadNumber):
            upkeep.number_forms(bad)
    assert upkeep.masked("+8613800001111") == "**********1111"
    assert upkeep.masked("123") == "123"


def test_delete_every_recording_of_a_number(db: DBConnector, tmp_path: Path) -> None:
    mine = [
        a_recording(db, tmp_path, "a", 1, caller_number="+8613800001111"),
        a_recording(db, tmp_path, "b", 2, called_number="008613800001111"),
        a_recording(db, tmp_path, "c", 3, caller_number="+8613800001111", called_number="800"),
    ]
    others = {
        a_recording(db, tmp_path, "d", 1, caller_number="13800001111"),
        a_recording(db, tmp_path, "e", 1, caller_number="+86138000011112"),
        a_recording(db, tmp_path, "f", 1, called_number="+8613800001112"),
    }
    result = resolved(
        defer.ensureDeferred(
            upkeep.delete_number(
                db,
                tmp_path,
                "+8613800001111",
                "admin",
                upkeep.inline_disk,
                ip="10.0.0.1",
                batch=2,
            )
        )
    )
    assert result == (3, 0)
    assert ids(db) == others and not set(mine) & ids(db)
    assert sorted(p.stem for p in (tmp_path / "2026/01").iterdir()) == ["d", "e", "f"]
    audit = resolved(db.audit.recent("recording.delete_number"))
    assert [(a.actor, a.target, a.detail["count"], a.ip) for a in audit] == [
        ("admin", "**********1111", 3, "10.0.0.1")
    ]
    assert "13800001111" not in json.dumps(audit[0].detail) + audit[0].target


def test_the_delete_number_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = prepare(tmp_path)
    db = cli.open_db(config)
    root = config.recording_dir
    root.mkdir(parents=True, exist_ok=True)
    a_recording(db, root, "a", 1, caller_number="+4930123456")
    keep = a_recording(db, root, "b", 1, caller_number="4930123456")
    resolved(db.stopService())
    argv = ["--config", str(config.path), "recordings", "delete-number"]
    assert cli.main([*argv, "004930123456"]) == 0
    assert "deleted 1 recordings" in capsys.readouterr().out
    assert cli.main([*argv, "49-30"]) == 1
    assert "3 to 32 digits" in capsys.readouterr().err
    db = cli.open_db(config)
    assert ids(db) == {keep}
    assert resolved(db.audit.recent("recording.delete_number"))[0].actor.startswith("cli:")
    resolved(db.stopService())
