"""A service left running after the last test fails the run at once (tests/conftest.py)
instead of hanging the interpreter's exit until CI's time runs out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LEAKS = """
import threading

def test_starts_a_pool_and_never_stops_it():
    stop = threading.Event()
    threading.Thread(target=stop.wait, name="ccbox-db-leaked").start()
    assert True
"""

CLEAN = """
import threading

def test_stops_what_it_starts():
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="ccbox-db-stopped")
    t.start()
    stop.set()
    t.join()
"""


def run(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_case.py"
    test.write_text(body, encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "--rootdir",
            str(tmp_path),
            "-c",
            "/dev/null",
            str(test),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_thread_left_running_fails_the_run_and_names_it(tmp_path: Path) -> None:
    proc = run(tmp_path, LEAKS)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout
    assert "thread(s) still running after the last test (ccbox-db-leaked)" in proc.stderr


def test_a_run_that_stops_its_threads_passes(tmp_path: Path) -> None:
    proc = run(tmp_path, CLEAN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "still running" not in proc.stderr
