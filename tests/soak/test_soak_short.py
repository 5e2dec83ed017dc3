"""The soak's short run in ``make test``: half a simulated hour of the busy center (60
agents, 1,200 calls an hour) through the real ccboxd in about 40 s, with the checks of
``make soak``'s 24 hours: memory (the Python heap; RSS within 15 %) and descriptors flat
after the warm-up, no FastAGI session, route or timer left, the agent-state invariant
held, every call with a closed row, no error logged, transfers done (tests/soak/run.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_half_an_hour_of_a_busy_center_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.soak.run",
            "--hours=0.5",
            "--speed=60",
            "--calls-per-hour=1200",
            "--sample-min=1",
            "--warmup=0.5",
            # the call model keeps the last 1,000 ended calls: 100 here, so that this
            # bounded buffer is full before the warm-up ends and growth after it is a leak
            "--ended-calls=100",
            # the Python heap must be flat (5 %) already; RSS still grows a little in half
            # an hour (SQLite's page caches, the allocator): make soak holds it to 5 % over
            # 24 h, where it is level from the first hour on
            "--rss-limit=15",
            f"--data-dir={tmp_path / 'data'}",
            f"--out={out}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    failed = {k: c["detail"] for k, c in report.get("checks", {}).items() if not c["ok"]}
    assert proc.returncode == 0 and not failed, (failed, proc.stdout[-3000:])
    assert report["traffic"]["offered"] >= 400
    assert report["python heap growth"] < 5.0 and report["soak memory growth"] < 15.0
    assert report["operators"]["transfers"] > 0 and report["operators"]["pauses"] > 0
