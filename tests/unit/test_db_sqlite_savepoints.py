"""On SQLite a savepoint is part of the transaction around it, also as its first statement
(appliance/db/engine.py): pysqlite begins a transaction only before a write, so a SAVEPOINT
first started a transaction of its own and its RELEASE committed it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.db import model
from appliance.db.components import DuplicateError, _insert
from appliance.db.engine import create_engine


def table_engine(tmp_path: Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    return engine


def rows(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")]


def test_a_savepoint_first_is_undone_with_the_transaction_around_it(tmp_path: Path) -> None:
    engine = table_engine(tmp_path)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        with conn.begin_nested():
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert rows(engine) == []  # not committed by the savepoint's release
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        raise RuntimeError("the rest of the transaction fails")
    assert rows(engine) == []


def test_a_savepoint_rolled_back_keeps_the_rest_of_the_transaction(tmp_path: Path) -> None:
    engine = table_engine(tmp_path)
    with engine.begin() as conn:
        with conn.begin_nested():
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")  # a duplicate: only it undone
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert rows(engine) == [1, 2]


def test_a_stores_insert_first_is_atomic_with_what_follows(tmp_path: Path) -> None:
    """components._insert (insert, or DuplicateError) as a store's first statement."""
    engine = create_engine(f"sqlite:///{tmp_path / 'ccbox.sqlite'}")
    model.metadata.create_all(engine)
    with pytest.raises(DuplicateError), engine.begin() as conn:
        _insert(conn, model.skills, "skill", name="billing")
        _insert(conn, model.skills, "skill", name="billing")
    with engine.connect() as conn:
        assert conn.execute(sa.select(model.skills.c.name)).all() == []
