"""One migrated database per test module and backend, for tests that only read what they
set up or clean up after themselves: migrating costs a second or two a database, the tests
a few milliseconds each."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from appliance.cli import resolved
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine


@contextmanager
def migrated_connector(backend: str, tmp: Path, pg_url: str) -> Iterator[DBConnector]:
    """An inline DBConnector on a fresh migrated database: a SQLite file in ``tmp``, or a
    new database on the PostgreSQL server of ``pg_url`` (dropped afterwards)."""
    admin = None
    name = ""
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'shared.sqlite'}"
    else:
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        name = f"ccbox_s_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = create_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        connector = DBConnector(None, url, inline=True)  # type: ignore[arg-type]
        resolved(connector.startService())
        try:
            yield connector
        finally:
            resolved(connector.stopService())
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
