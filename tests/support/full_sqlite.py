"""A SQLite database that is really full: SQLite's own SQLITE_FULL ("database or disk is
full", the error a full disk gives), made with ``PRAGMA max_page_count`` instead of a
full filesystem, and lifted again when the test gives the space back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class PageLimit:
    """Caps the database at the pages it has (``full()``) until ``space_returns()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.limit: int | None = None

    def fill_calls(self) -> int:
        """Insert tiny calls rows until the file cannot grow: the next calls row does not
        fit. Returns the pages the file has, which becomes the cap."""
        con = sqlite3.connect(self.path)
        try:
            pages = con.execute("PRAGMA page_count").fetchone()[0]
            con.execute(f"PRAGMA max_page_count = {pages}")
            n = 0
            while True:
                try:
                    with con:
                        con.execute(
                            "INSERT INTO calls (uniqueid, linkedid, direction, started_at) "
                            "VALUES ('', '', 'inbound', '2026-01-01 00:00:00.000000')"
                        )
                    n += 1
                except sqlite3.OperationalError as exc:
                    assert "database or disk is full" in str(exc), exc
                    break
            assert n > 0
            self.limit = pages
            return pages
        finally:
            con.close()

    def attach(self, engine: Engine) -> None:
        """Every connection the engine hands out is capped while the limit holds."""

        @sa.event.listens_for(engine.pool, "checkout")
        def _cap(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA max_page_count = {self.limit or 1073741823}")
            cur.close()

    def space_returns(self) -> None:
        self.limit = None
