"""A recording disk that really fills up: a 1 MiB tmpfs mounted for the test (we run as
root; it is unmounted afterwards). Merging legs that do not fit raises DiskFull and leaves
no partial file, the legs kept; an archive run that does not fit leaves the WAV and its row
exactly as they were."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from twisted.internet import defer, task

from appliance.cli import resolved
from appliance.config import RecordingConfig
from drivers.audio import g711
from recorder import upkeep
from recorder.postprocess import DiskFull, merge
from tests.support.inline_db import inline_db
from tests.support.small_disk import small_disk as mounted_disk

pytestmark = pytest.mark.integration
KEY = bytes(range(32))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_disk(tmp_path / "disk", 1) as disk:
        yield disk


def legs(folder: Path, seconds: float) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    n = int(seconds * 8000)
    rx, tx = folder / "c-rx.ulaw", folder / "c-tx.ulaw"
    rx.write_bytes(g711.ulaw_encode(rng.integers(-8000, 8000, n, dtype="<i2").tobytes()))
    tx.write_bytes(g711.ulaw_encode(rng.integers(-8000, 8000, n, dtype="<i2").tobytes()))
    return rx, tx


@pytest.mark.parametrize("key", [None, KEY])
def test_merging_legs_that_do_not_fit(tmp_path: Path, small_disk: Path, key: bytes | None) -> None:
    rx, tx = legs(tmp_path, 40)  # 40 s of stereo 16-bit: 1.28 MB, the disk holds 1 MiB
    out = small_disk / "2026" / "call.wav"
    with pytest.raises(DiskFull, match="the recording disk is full"):
        merge(rx, tx, out, key)
    assert list((small_disk / "2026").iterdir()) == []  # no partial file, no temporary
    assert rx.stat().st_size == tx.stat().st_size == 320_000  # the legs are kept
    short_rx, short_tx = legs(tmp_path, 5)  # the disk itself works: 160 kB fits
    done = merge(short_rx, short_tx, out, key)
    assert out.stat().st_size == done.size_bytes and done.encrypted == (key is not None)


def test_an_archive_run_that_does_not_fit(tmp_path: Path, small_disk: Path) -> None:
    rng = np.random.default_rng(2)
    rel = "2026/01/call.wav"
    (small_disk / rel).parent.mkdir(parents=True)
    noise = rng.integers(-20000, 20000, (224_000, 2), dtype="<i2")  # 896 kB: FLAC cannot
    sf.write(small_disk / rel, noise, 8000, subtype="PCM_16")  # shrink noise into 150 kB
    wav = (small_disk / rel).read_bytes()
    with inline_db(tmp_path / "db.sqlite") as db:
        started = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        rid = resolved(db.recordings.add(None, rel, started, 28_000, len(wav), "abc"))
        before = resolved(db.recordings.get(rid))
        config = RecordingConfig(archive_after_days=30, archive_format="flac", retention_days=0)
        svc = upkeep.RecordingUpkeep(task.Clock(), db, small_disk, config)
        svc.disk = upkeep.inline_disk  # type: ignore[method-assign]
        assert resolved(defer.ensureDeferred(svc.run_once())) == (0, 0)
        assert resolved(db.recordings.get(rid)) == before
    assert (small_disk / rel).read_bytes() == wav
    assert sorted(p.name for p in (small_disk / rel).parent.iterdir()) == ["call.wav"]
