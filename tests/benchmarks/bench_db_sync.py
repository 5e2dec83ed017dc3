"""The cost of synchronous=FULL (appliance/db/engine.py SQLITE_SYNCHRONOUS): calls writes
per second (a row and an event, each its own committed transaction, as a call's writes
are) through the real connector on a SQLite file in WAL mode, FULL against NORMAL in the
same run on the same disk. FULL syncs the WAL at each commit, so no committed row is lost
at a power cut; NORMAL may lose the last ones."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from appliance.cli import resolved
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from tests.benchmarks.harness import Result, best_rate

NOW = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def _rate(root: Path, synchronous: str) -> float:
    url = f"sqlite:///{root / f'{synchronous}.sqlite'}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    db = DBConnector(
        None,  # type: ignore[arg-type]
        url,
        engine=create_engine(url, sqlite_synchronous=synchronous),
        inline=True,
    )
    resolved(db.startService())
    n = [0]

    def one_call() -> None:
        n[0] += 1
        call_id = resolved(
            db.calls.start(f"{n[0]}.1", f"{n[0]}.1", "inbound", NOW, "13800138000", "", "4000")
        )
        resolved(db.calls.add_event(call_id, "ivr_step", NOW, {"node": "menu"}))

    try:
        return best_rate(one_call, units_per_call=2, repeat=3, min_time=0.5)
    finally:
        resolved(db.stopService())


def run() -> list[Result]:
    root = Path(tempfile.mkdtemp(prefix="ccbox-bench-sync-"))
    try:
        normal = _rate(root, "NORMAL")
        full = _rate(root, "FULL")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [
        Result(
            "calls writes, synchronous=FULL",
            full,
            "writes/s",
            "the same, synchronous=NORMAL",
            normal,
            better="higher",
        )
    ]
