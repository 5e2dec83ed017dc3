"""The database's disk fills up under a running ccboxd (a real filesystem: a tmpfs mounted
for the test, we run as root): every call is served all the same, the health part ``db``
says the writes fail and how many wait, and once space returns every waiting write is
written (rows, events, ends) and ``db`` is ok again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from appliance import config as config_mod
from tests.conftest import write_config
from tests.integration.test_ami_faults import wait_status
from tests.support.appliance import USERS, migrate_and_seed
from tests.support.daemon import run_simulator, running_daemon
from tests.support.http import Browser
from tests.support.small_disk import small_disk as mounted_disk

pytestmark = pytest.mark.integration
CALLS = 10


@pytest.fixture
def db_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_disk(tmp_path / "dbdisk", 8) as disk:
        yield disk


def fill(disk: Path) -> Path:
    """A file that takes every free byte of ``disk``."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                continue
    return filler


def db_part(status: dict[str, Any]) -> dict[str, Any]:
    return next((p for p in status["parts"] if p["name"] == "db"), {})


def test_a_full_database_disk_drops_no_caller_and_loses_no_write(
    tmp_path: Path, db_disk: Path
) -> None:
    url = f"sqlite:///{db_disk / 'ccbox.sqlite'}"
    config = config_mod.load(write_config(tmp_path, database_url=url, switch=True, ami=False))
    migrate_and_seed(config)
    with running_daemon(config.path, tmp_path) as daemon:
        b = Browser(config.web.port)
        assert b.login("admin", USERS["admin"][1]).status == 303
        filler = fill(db_disk)
        summary = run_simulator(config.fastagi.port, CALLS, 5, 0.2, timeout=120)
        assert summary == {
            "offered": CALLS,
            "completed": CALLS,
            "caller_hangups": 0,
            "failed": 0,
            "unreachable": 0,
        }
        full = wait_status(b, lambda s: db_part(s).get("state") == "degraded", 10, "db degraded")
        detail = db_part(full)["detail"]
        assert detail.startswith("writes failing: database or disk is full"), detail
        assert "calls writes waiting" in detail, detail
        assert full["overall"] == "degraded"
        filler.unlink()  # the space returns
        wait_status(b, lambda s: db_part(s).get("state") == "ok", 20, "db ok again")
        daemon.stop(30)
    out = daemon.output
    assert daemon.returncode == 0, out
    assert "Traceback" not in out, out
    with closing(sqlite3.connect(db_disk / "ccbox.sqlite")) as conn:
        rows = conn.execute("SELECT id, disposition, ended_at FROM calls").fetchall()
        events = conn.execute("SELECT call_id, kind FROM call_events").fetchall()
    assert len(rows) == CALLS
    assert {r[1] for r in rows} == {"self_service"} and all(r[2] for r in rows)
    # flow_start, two ivr_steps, hangup per call: each written once
    assert len(events) == 4 * CALLS
    assert {k for _, k in events} == {"flow_start", "ivr_step", "hangup"}
