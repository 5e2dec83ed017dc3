"""The recordings index: one row per finished stereo recording of a call."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, _insert

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector  # noqa: F401


class RecordingStore(_Component):
    def add(
        self,
        call_id: int | None,
        path: str,
        started_at: dt.datetime,
        duration_ms: int,
        size_bytes: int,
        sha256: str,
    ) -> defer.Deferred[int]:
        def thd(conn: Connection) -> int:
            return _insert(
                conn,
                model.recordings,
                f"recording {path}",
                call_id=call_id,
                path=path,
                started_at=started_at,
                duration_ms=duration_ms,
                size_bytes=size_bytes,
                sha256=sha256,
                format="wav",
            )

        return self.db.run(thd)

    def count(self, since: dt.datetime | None = None) -> defer.Deferred[int]:
        r = model.recordings

        def thd(conn: Connection) -> int:
            q = sa.select(sa.func.count()).select_from(r)
            if since is not None:
                q = q.where(r.c.started_at >= since)
            return int(conn.execute(q).scalar_one())

        return self.db.run(thd)
