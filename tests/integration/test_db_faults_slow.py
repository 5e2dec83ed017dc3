"""A slow database under a running ccboxd: every write takes WRITE_S seconds (in the
database's thread, as a disk whose syncs crawl would make it). The reactor keeps its
systemd watchdog pings on time, every call is served, memory stays bounded, and every
write lands in the end.

The slowness is put into the real ccboxd process by a ``sitecustomize`` on its
PYTHONPATH that wraps DBConnector.run and the write backlog's batch: each calls write,
and each other transaction that wrote, sleeps before the commit. Nothing else of the
daemon is changed.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from appliance import config as config_mod
from tests.conftest import write_config
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import run_simulator, running_daemon

pytestmark = pytest.mark.integration
WRITE_S = 0.4
WATCHDOG_S = 2.0  # systemd's WatchdogSec: ccboxd pings every 1 s
CALLS = 4

SLOW = """
import time
from pathlib import Path
from appliance.db import connector, write_backlog

LOG = Path(__file__).with_name("slowed")

_run = connector.DBConnector.run
_in_order = write_backlog._in_order


def crawl():
    time.sleep(WRITE_S)  # the sync of a crawling disk
    with LOG.open("a") as f:
        f.write("w\\n")


def run(self, thd):
    def slow(conn):
        result = thd(conn)
        if conn.info.get(connector.WROTE) and not conn.info.pop("calls_writes", False):
            crawl()
        return result

    return _run(self, slow)


def in_order(thds, done, conn):
    # the calls writes that share a transaction: each one crawls (a disk slow per write,
    # not per commit), so that sharing does not hide the slowness from the daemon
    conn.info["calls_writes"] = True
    for thd in thds:
        done.append(thd(conn))
        crawl()
    return done


connector.DBConnector.run = run
write_backlog._in_order = in_order
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_slow_database_keeps_the_heartbeat_and_serves_every_call(tmp_path: Path) -> None:
    hook = tmp_path / "slowdb"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(f"WRITE_S = {WRITE_S}\n" + SLOW)
    config = config_mod.load(write_config(tmp_path, switch=True, ami=False))
    migrate_and_seed(config)
    pings: list[float] = []
    with running_daemon(
        config.path,
        tmp_path,
        PYTHONPATH=str(hook),
        WATCHDOG_USEC=str(int(WATCHDOG_S * 1_000_000)),
    ) as daemon:
        stop = threading.Event()

        def listen() -> None:
            daemon.notify.settimeout(0.2)
            while not stop.is_set():
                try:
                    msg = daemon.notify.recv(4096)
                except TimeoutError:
                    continue
                if b"WATCHDOG=1" in msg:
                    pings.append(time.monotonic())

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        try:
            started = time.monotonic()
            summary = run_simulator(config.fastagi.port, CALLS, CALLS, 0.2, timeout=120)
            served_s = time.monotonic() - started
            rss = _rss_mb(daemon.proc.pid)
            time.sleep(1.0)  # a last second of pings after the calls
        finally:
            stop.set()
            listener.join(5)
        daemon.stop(120)  # the writes still queued are written before it exits
    assert summary == {
        "offered": CALLS,
        "completed": CALLS,
        "caller_hangups": 0,
        "failed": 0,
        "unreachable": 0,
    }
    assert daemon.returncode == 0, daemon.output
    assert "Traceback" not in daemon.output
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert len(pings) >= served_s / WATCHDOG_S, pings
    # systemd would restart a ccboxd silent for WatchdogSec
    assert max(gaps) < WATCHDOG_S * 0.9, f"the reactor missed its watchdog ping: {max(gaps):.2f} s"
    slowed = len((hook / "slowed").read_text().splitlines())
    assert slowed >= 6 * CALLS  # row, flow_start, 2 ivr_steps, hangup, end: each slowed
    # the calls did not wait for their writes: those alone took longer than the calls
    assert served_s < 6 * CALLS * WRITE_S
    assert rss < 400, f"ccboxd at {rss:.0f} MB"
    with closing(sqlite3.connect(config.database_url.removeprefix("sqlite:///"))) as conn:
        rows = conn.execute("SELECT disposition, ended_at FROM calls").fetchall()
        events = conn.execute("SELECT count(*) FROM call_events").fetchone()[0]
    assert len(rows) == CALLS and all(r[1] for r in rows), rows
    assert events == 4 * CALLS
