"""Run a test on both implementations of a hot path (the Cython kernel and the reference)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from types import ModuleType

import pytest

AMI_SCAN = ["drivers.asterisk.ami._scan_py", "drivers.asterisk.ami._scan_c"]


@pytest.fixture(params=AMI_SCAN, ids=["python", "cython"])
def ami_scan(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """The AMI scanner under test, also installed in the codec for the Parser to use."""
    module = importlib.import_module(request.param)
    from drivers.asterisk.ami import codec

    monkeypatch.setattr(codec, "scan", module.scan)
    monkeypatch.setattr(codec, "split_headers", module.split_headers)
    yield module


ACD_ROUTE = ["acd._route_py", "acd._route_c"]


@pytest.fixture(params=ACD_ROUTE, ids=["python", "cython"])
def acd_route(request: pytest.FixtureRequest) -> ModuleType:
    """The routing engine under test (each test runs on both)."""
    return importlib.import_module(request.param)
