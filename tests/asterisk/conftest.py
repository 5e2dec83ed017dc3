"""The real switch for every scenario here: an Asterisk 22 named by ``ASTERISK`` (or on
PATH), found once per session; a fresh box (Asterisk + ccboxd, tests/support/real_box.py)
per test. Without a usable Asterisk every test here fails with what is missing: these tests
never skip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support import real_asterisk as ra
from tests.support.real_box import RealBox, real_box, system_sounds


@pytest.fixture(scope="session")
def asterisk_install() -> ra.AsteriskInstall:
    try:
        return ra.find_asterisk()
    except ra.AsteriskMissing as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def ccbox_sounds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ccbox's system sounds, rendered once by ``ccbox asterisk-config`` for every box."""
    return system_sounds(tmp_path_factory.mktemp("sounds"))


BoxFactory = Callable[..., AbstractContextManager[RealBox]]


@pytest.fixture
def make_box(asterisk_install: ra.AsteriskInstall, ccbox_sounds: Path) -> BoxFactory:
    """``with make_box(queue={...}, seed=..., sounds=...) as box:`` a box of one's own
    making (``sounds``: a folder of ccbox's system sounds other than the real ones). The
    tails of both logs are printed on the way out: pytest shows them when the test fails."""

    @contextmanager
    def make(**kwargs: Any) -> Iterator[RealBox]:
        sounds = kwargs.pop("sounds", ccbox_sounds)
        with real_box(asterisk_install, sounds, **kwargs) as b:
            try:
                yield b
            finally:
                print(b.diagnostics())

    return make


@pytest.fixture
def box(make_box: BoxFactory) -> Iterator[RealBox]:
    with make_box() as b:
        yield b
