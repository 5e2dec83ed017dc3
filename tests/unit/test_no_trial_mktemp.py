"""No test calls trial's ``TestCase.mktemp()``: its folder is relative to the working
directory, so a run from the repository root leaves ``tests.unit.test_x/`` there. Tests use
``tests.support.tmp.temp_dir`` (or pytest's ``tmp_path``) instead."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# trial's method on a case (self.mktemp(), test.mktemp()); pytest's
# tmp_path_factory.mktemp("name") takes a name and lives under the base temp dir.
TRIAL_MKTEMP = re.compile(r"\b\w+\.mktemp\(\s*\)")


def test_no_test_calls_trial_mktemp() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{n}"
        for path in sorted(TESTS.rglob("*.py"))
        if path != Path(__file__).resolve()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if TRIAL_MKTEMP.search(line)
    ]
    assert offenders == [], f"use tests.support.tmp.temp_dir, not trial's mktemp(): {offenders}"
