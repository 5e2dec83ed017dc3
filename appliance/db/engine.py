"""Create SQLAlchemy engines the way ccbox needs them on each backend."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

# WAL with synchronous=FULL syncs the WAL at every commit: a commit that returned is on
# the disk, a power cut loses none. NORMAL syncs only at checkpoints and can lose the
# last commits (the database stays consistent): a calls row the caller was served with,
# gone. The cost is measured by `make bench` (bench_db_sync: FULL against NORMAL).
SQLITE_SYNCHRONOUS = "FULL"


def create_engine(
    url: str, *, sqlite_synchronous: str = SQLITE_SYNCHRONOUS, **kwargs: Any
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys, a busy timeout and
    ``sqlite_synchronous`` (FULL: see SQLITE_SYNCHRONOUS; the bench compares NORMAL).

    WAL lets the web UI read while the call path writes; foreign keys are off by default in
    SQLite and the schema relies on them (cascades, SET NULL).
    """
    if sqlite_synchronous not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {sqlite_synchronous!r}")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cur.close()

        @sa.event.listens_for(engine, "savepoint")
        def _begin_before_a_savepoint(conn: sa.Connection, _name: str | None) -> None:
            # pysqlite begins a transaction only before INSERT, UPDATE or DELETE. A SAVEPOINT
            # before the first of them would start a transaction of its own in SQLite, and
            # its RELEASE would commit it: the savepoint's writes committed whatever became
            # of the transaction around them (a store's insert-or-duplicate first, then a
            # failure: the row stayed).
            dbapi = conn.connection.dbapi_connection
            if dbapi is not None and not dbapi.in_transaction:
                dbapi.execute("BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def read_engine(engine: Engine) -> Engine | None:
    """A second engine on ``engine``'s database for single-statement reads: autocommit (no
    BEGIN/COMMIT round trips) and no checkout ping (the reader retries a dead connection
    once instead); None on SQLite, where a transaction costs no round trip."""
    if is_sqlite(engine):
        return None
    return sa.create_engine(
        engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_size=4
    )


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
