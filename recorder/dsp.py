"""The recorder's DSP: the Cython kernel when built, else the NumPy reference (what each
function does is in ``_dsp_py``). ``CCBOX_PURE_PYTHON=1`` forces the reference."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from recorder import _dsp_py


def _select() -> ModuleType:
    if os.environ.get("CCBOX_PURE_PYTHON"):
        return _dsp_py
    try:
        return importlib.import_module("recorder._dsp_c")
    except ImportError:
        return _dsp_py


implementation = _select()
decode_stereo = implementation.decode_stereo
interleave = implementation.interleave
voice_activity = implementation.voice_activity
talk_stats = implementation.talk_stats
peaks = implementation.peaks
IMPLEMENTATION = "cython" if implementation is not _dsp_py else "python"
FRAME = _dsp_py.FRAME
