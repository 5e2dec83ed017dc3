"""A migrated SQLite database behind a DBConnector that runs its work inline (no threads):
unit tests and virtual-time runs drive it from a Clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.cli import resolved
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine


def migrated_sqlite(path: Path) -> str:
    """The URL of a SQLite file at ``path`` with every migration applied."""
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@contextmanager
def inline_db(path: Path) -> Iterator[DBConnector]:
    url = migrated_sqlite(path)
    connector = DBConnector(None, url, inline=True)  # type: ignore[arg-type]
    resolved(connector.startService())
    try:
        yield connector
    finally:
        resolved(connector.stopService())
