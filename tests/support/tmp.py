"""Temporary directories for trial-style tests (trial's mktemp is relative to the cwd)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from twisted.trial import unittest


def temp_dir(case: unittest.TestCase) -> Path:
    path = Path(tempfile.mkdtemp(prefix="ccbox-test-"))
    case.addCleanup(shutil.rmtree, path, True)
    return path
