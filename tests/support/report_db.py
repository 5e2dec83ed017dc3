"""An empty database with ccbox's schema for the report tests, on SQLite or PostgreSQL
(``CCBOX_TEST_PG_URL``, as tests/conftest.py's ``db_url``), shared by a module's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from appliance.db import model
from appliance.db.engine import create_engine
from tests.conftest import PG_URL


@contextmanager
def report_engine(backend: str, directory: Path) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{directory / 'reports.sqlite'}")
        model.metadata.create_all(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"ccbox_r_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(
        make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    )
    try:
        model.metadata.create_all(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def memory_connection() -> Iterator[sa.Connection]:
    """An in-memory SQLite database with ccbox's schema: one connection, in a transaction
    that commits at the end (a module's tests of one report's reads)."""
    engine = sa.create_engine("sqlite://")
    model.metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()
