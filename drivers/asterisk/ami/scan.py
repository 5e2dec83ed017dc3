"""Finding AMI messages in received bytes and splitting them into headers.

The Cython kernel when built, else the pure-Python reference (``CCBOX_PURE_PYTHON=1``
forces it; tests run every case on both). The contract is written in ``_scan_py``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from drivers.asterisk.ami import _scan_py


def _select() -> ModuleType:
    if os.environ.get("CCBOX_PURE_PYTHON"):
        return _scan_py
    try:
        return importlib.import_module("drivers.asterisk.ami._scan_c")
    except ImportError:
        return _scan_py


implementation = _select()
scan = implementation.scan
split_headers = implementation.split_headers
IMPLEMENTATION = "cython" if implementation is not _scan_py else "python"
