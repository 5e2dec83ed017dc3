"""The real switch for every scenario here: an Asterisk 22 named by ``ASTERISK`` (or on
PATH), found once per session; a fresh box (Asterisk + ccboxd, tests/support/real_box.py)
per test. Without a usable Asterisk every test here fails with what is missing: these tests
never skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import real_asterisk as ra
from tests.support.real_box import RealBox, real_box


@pytest.fixture(scope="session")
def asterisk_install() -> ra.AsteriskInstall:
    try:
        return ra.find_asterisk()
    except ra.AsteriskMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def box(asterisk_install: ra.AsteriskInstall, request: pytest.FixtureRequest) -> Iterator[RealBox]:
    with real_box(asterisk_install) as b:
        yield b
        if request.node.stash.get(_FAILED, False):
            print(b.diagnostics())
