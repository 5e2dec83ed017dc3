"""The ``backups`` rows: what the daemon backed up, and each scheduled period claimed once."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model as m
from appliance.db.connector import DBConnector

t = m.backups


@dataclass(frozen=True)
class BackupRow:
    id: int
    period: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    file_name: str
    size_bytes: int | None
    ok: bool | None  # None: running (or the daemon stopped during it)
    detail: str
    requested_by: str


class BackupHistory:
    def __init__(self, db: DBConnector) -> None:
        self.db = db

    def claim(self, period: str, at: dt.datetime) -> defer.Deferred[int | None]:
        """A row for ``period`` (its id), or None when the period was claimed before."""

        def thd(conn: Connection) -> int | None:
            if conn.execute(sa.select(t.c.id).where(t.c.period == period)).first():
                return None
            try:
                with conn.begin_nested():
                    return _new_row(conn, period, "schedule", at)
            except sa.exc.IntegrityError:  # claimed in between
                return None

        return self.db.run(thd)

    def start(self, requested_by: str, at: dt.datetime) -> defer.Deferred[int]:
        """A row for a backup asked for now (no period)."""
        return self.db.run(lambda conn: _new_row(conn, None, requested_by[:64], at))

    def finish(
        self,
        row_id: int,
        *,
        ok: bool,
        at: dt.datetime,
        file_name: str = "",
        size: int | None = None,
        detail: str = "",
    ) -> defer.Deferred[None]:
        def thd(conn: Connection) -> None:
            conn.execute(
                t.update()
                .where(t.c.id == row_id)
                .values(
                    ok=ok,
                    finished_at=at,
                    file_name=file_name[:100],
                    size_bytes=size,
                    detail=detail[:500],
                )
            )

        return self.db.run(thd)

    def close_interrupted(self, at: dt.datetime) -> defer.Deferred[int]:
        """Rows left running by a stop or a crash: failed ("interrupted")."""

        def thd(conn: Connection) -> int:
            result = conn.execute(
                t.update()
                .where(t.c.ok.is_(None))
                .values(ok=False, finished_at=at, detail="interrupted")
            )
            return int(result.rowcount or 0)

        return self.db.run(thd)

    def recent(self, limit: int = 10) -> defer.Deferred[list[BackupRow]]:
        def thd(conn: Connection) -> list[BackupRow]:
            found = conn.execute(sa.select(t).order_by(t.c.id.desc()).limit(limit))
            return [BackupRow(**row._mapping) for row in found]

        return self.db.run(thd)


def _new_row(conn: Connection, period: str | None, requested_by: str, at: dt.datetime) -> int:
    result = conn.execute(
        t.insert().values(period=period, started_at=at, requested_by=requested_by)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
