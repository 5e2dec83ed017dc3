"""The connector as the daemon runs it: real thread pool, real reactor (trial-style)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import reactor
from twisted.trial import unittest

from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import (
    DatabaseNotMigrated,
    DatabaseStopped,
    DBConnector,
    ReadOnlyViolation,
)
from tests.conftest import PG_URL
from tests.support.inline_db import migrated_sqlite
from tests.support.tmp import temp_dir


def migrated(tmp: Path) -> str:
    return migrated_sqlite(tmp / "c.sqlite")


class ConnectorTests(unittest.TestCase):
    async def test_work_runs_off_the_reactor_thread(self) -> None:
        db = DBConnector(reactor, migrated(self._tmp()))
        await db.startService()
        try:
            thread = await db.run(lambda conn: threading.current_thread())
            self.assertIsNot(thread, threading.main_thread())
        finally:
            await db.stopService()

    async def test_stop_waits_for_writes_in_flight_then_refuses_new_work(self) -> None:
        url = migrated(self._tmp())
        db = DBConnector(reactor, url)
        await db.startService()
        gate = threading.Event()

        def slow_write(conn):  # type: ignore[no-untyped-def]
            gate.wait(5)
            from appliance.db import model

            conn.execute(model.skills.insert().values(name="written-during-stop"))
            return "done"

        write = db.run(slow_write)
        stopping = db.stopService()
        self.assertFalse(stopping.called, "stop must wait for the write in flight")
        with self.assertRaises(DatabaseStopped):
            await db.skills.list_all()
        reactor.callLater(0.05, gate.set)
        await stopping
        self.assertEqual(await write, "done")
        check = DBConnector(reactor, url)
        await check.startService()
        try:
            names = [s.name for s in await check.skills.list_all()]
        finally:
            await check.stopService()
        self.assertEqual(names, ["written-during-stop"])

    async def test_unmigrated_database_is_refused_with_the_fix(self) -> None:
        url = f"sqlite:///{self._tmp() / 'empty.sqlite'}"
        db = DBConnector(reactor, url, upgrade_command="ccbox --config X db upgrade")
        with self.assertRaises(DatabaseNotMigrated) as info:
            await db.startService()
        await db.stopService()
        self.assertIn("run: ccbox --config X db upgrade", str(info.exception))
        self.assertIn("is at revision empty", str(info.exception))

    async def test_errors_reach_the_caller_and_roll_back(self) -> None:
        url = migrated(self._tmp())
        db = DBConnector(reactor, url)
        await db.startService()
        try:
            from appliance.db import model

            def fails(conn):  # type: ignore[no-untyped-def]
                conn.execute(model.skills.insert().values(name="rolled-back"))
                raise RuntimeError("boom")

            with self.assertRaises(RuntimeError):
                await db.run(fails)
            self.assertEqual(await db.skills.list_all(), [])
        finally:
            await db.stopService()

    def _tmp(self) -> Path:
        return temp_dir(self)


# ---- read(): single-statement reads outside a transaction ----------------------------------


def test_a_read_reports_a_fault_and_never_clears_one(db: DBConnector) -> None:
    lost = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    def fails(_conn: Connection) -> None:
        raise lost

    with pytest.raises(sa.exc.OperationalError):
        resolved(db.read(fails))
    assert db.fault == "server closed the connection"
    assert resolved(db.read(lambda conn: conn.execute(sa.select(1)).scalar())) == 1
    assert db.fault == "server closed the connection", "a read proves nothing about writes"


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_postgresql_read_runs_on_an_autocommit_connection(db: DBConnector) -> None:
    """No BEGIN/COMMIT round trips: the driver's connection is in autocommit."""

    def autocommit(conn: Connection) -> bool:
        driver = conn.connection.dbapi_connection
        assert driver is not None
        return bool(driver.autocommit)

    assert resolved(db.read(autocommit)) is True
    assert resolved(db.run(autocommit)) is False


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_postgresql_read_refuses_a_write(db: DBConnector) -> None:
    """Autocommit would commit it at once, outside any transaction: refused before sending."""
    with pytest.raises(ReadOnlyViolation):
        resolved(db.read(lambda conn: conn.execute(model.skills.insert().values(name="x"))))
    assert resolved(db.skills.list_all()) == []


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_postgresql_read_survives_a_restarted_server(db: DBConnector, db_url: str) -> None:
    """The reader pings no connection at checkout: one the server dropped (a restart, an
    idle timeout) fails its statement, is replaced and the read runs again, once."""
    pid = resolved(db.read(lambda conn: conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()))
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        admin.dispose()
    assert killed is True
    again = resolved(
        db.read(lambda conn: conn.execute(sa.text("SELECT pg_backend_pid()")).scalar())
    )
    assert again != pid
    assert db.fault is None
