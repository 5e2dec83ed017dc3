"""Shared fixtures: the two databases every database test runs on, and config builders.

PostgreSQL comes from ``CCBOX_TEST_PG_URL`` (``make test`` starts a private server and
sets it). Without it, PostgreSQL cases are deselected with a warning on a developer's
machine; under CI=true that is an error: CI must test both databases.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from appliance import config as config_mod
from tests.support import ports
from tests.support.kernels import acd_route, ami_scan  # noqa: F401  (fixtures for every test)

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

PG_URL = os.environ.get("CCBOX_TEST_PG_URL", "")
BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if PG_URL:
        return
    pg_items = [
        i
        for i in items
        if getattr(i, "callspec", None) is not None
        and i.callspec.params.get("backend") == "postgresql"
    ]
    if not pg_items:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(
            "CCBOX_TEST_PG_URL is not set: CI must run the PostgreSQL cases (use make test)"
        )
    config.hook.pytest_deselected(items=pg_items)
    items[:] = [i for i in items if i not in pg_items]
    config.issue_config_time_warning(
        pytest.PytestWarning(
            f"{len(pg_items)} PostgreSQL cases deselected: CCBOX_TEST_PG_URL is not set "
            "(make test starts a server and sets it)"
        ),
        stacklevel=2,
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def empty_database(backend: str, tmp: Path, filename: str = "test.sqlite") -> Iterator[str]:
    """An empty database on ``backend`` (a SQLite file in ``tmp``, or a fresh PostgreSQL
    database, dropped when the generator is closed or exhausted)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / filename}"
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"ccbox_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on ``backend``: a SQLite file, or a fresh PostgreSQL database."""
    yield from empty_database(backend, tmp_path)


@pytest.fixture
def migrated_db_url(db_url: str) -> str:
    from appliance.db import migrate
    from appliance.db.engine import create_engine

    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return db_url


@pytest.fixture
def db(migrated_db_url: str) -> Iterator[DBConnector]:
    """A migrated database on each backend behind an inline DBConnector (no threads: call
    its methods with ``appliance.cli.resolved``)."""
    from appliance.cli import resolved
    from appliance.db.connector import DBConnector

    connector = DBConnector(None, migrated_db_url, inline=True)  # type: ignore[arg-type]
    resolved(connector.startService())
    yield connector
    resolved(connector.stopService())


def free_port() -> int:
    """A free loopback TCP port outside the ephemeral range (tests/support/ports.py)."""
    return ports.free_port()


def write_config(
    tmp_path: Path,
    database_url: str | None = None,
    web_port: int = 0,
    switch: bool = False,
    ami: bool | None = None,
) -> Path:
    """A config file for a daemon under ``tmp_path``; ``web_port=0`` picks any free port
    (the web chat's port is always a free one). ``switch=True`` turns on the AMI client and
    FastAGI server (on free ports)."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    text = config_mod.render(
        data,
        web_port=web_port or free_port(),
        database_url=database_url,
        switch=switch,
        fastagi_port=free_port(),
        ami_port=free_port(),
        ami=ami,
        chat_port=free_port(),
    )
    path = tmp_path / "ccbox.conf"
    path.write_text(text, encoding="utf-8")
    return path


def _stray_threads() -> list[threading.Thread]:
    """Live non-daemon threads besides the main one: the interpreter waits for each of them
    before it exits, so one left running (a database pool of a service nobody stopped)
    hangs the test run after its last test, silently, until CI's time runs out."""
    return [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and t.is_alive() and not t.daemon
    ]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from twisted.internet import reactor

    # The reactor's own thread pool is stopped at reactor shutdown, which a test run never
    # reaches: stop it as shutdown would. Any other thread still alive is a leak.
    pool = getattr(reactor, "threadpool", None)
    if pool is not None:
        pool.stop()
    deadline = time.monotonic() + 5.0
    while _stray_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = _stray_threads()
    if stray:
        names = ", ".join(sorted(t.name for t in stray))
        sys.stderr.write(
            f"\nERROR: {len(stray)} thread(s) still running after the last test ({names}): "
            "a service was started and never stopped. The run fails here instead of "
            "hanging at exit.\n"
        )
        sys.stderr.flush()
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        _EXIT_NOW.append(int(session.exitstatus))


_EXIT_NOW: list[int] = []


def pytest_unconfigure(config: pytest.Config) -> None:
    if _EXIT_NOW:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_NOW[0])
