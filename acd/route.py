"""The routing engine: the Cython kernel when built, else the pure-Python reference.

``CCBOX_PURE_PYTHON=1`` forces the reference; tests run every case on both. What the
engine decides, and how, is written in ``_route_py``.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from twisted.logger import Logger

from acd import _route_py
from acd._route_py import STRATEGIES

log = Logger(namespace="ccbox.acd")


def _select() -> ModuleType:
    if os.environ.get("CCBOX_PURE_PYTHON"):
        return _route_py
    try:
        return importlib.import_module("acd._route_c")
    except ImportError:
        return _route_py


implementation = _select()
Router = implementation.Router
IMPLEMENTATION = "cython" if implementation is not _route_py else "python"


def strategy_code(name: str) -> int:
    """The engine's number for a strategy name (ValueError for an unknown one)."""
    try:
        return STRATEGIES.index(name)
    except ValueError:
        raise ValueError(f"unknown strategy {name!r}; one of {', '.join(STRATEGIES)}") from None


def queue_strategy(queue: str, name: str) -> int:
    """The engine's number for a stored queue's strategy. The database keeps the name and
    knows nothing of routing; a name the engine does not know (a row written by hand or by
    another version) routes as longest_idle, with an error in the log, rather than stop
    the ACD: the callers still reach agents."""
    try:
        return strategy_code(name)
    except ValueError as exc:
        log.error("queue {queue!r}: {exc}; routed by longest_idle", queue=queue, exc=exc)
        return STRATEGIES.index("longest_idle")
