"""G.711 codecs: the Cython kernel when built, else the pure-Python reference.

``CCBOX_PURE_PYTHON=1`` forces the reference (tests run every case on both).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from drivers.audio import _g711_py


def _select() -> ModuleType:
    if os.environ.get("CCBOX_PURE_PYTHON"):
        return _g711_py
    try:
        return importlib.import_module("drivers.audio._g711_c")
    except ImportError:
        return _g711_py


implementation = _select()
ulaw_decode = implementation.ulaw_decode
alaw_decode = implementation.alaw_decode
ulaw_encode = implementation.ulaw_encode
alaw_encode = implementation.alaw_encode
IMPLEMENTATION = "cython" if implementation is not _g711_py else "python"
