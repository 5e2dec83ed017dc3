"""What the campaign page shows of a campaign's imported lists (the ``call_lists`` rows).

The import itself writes them (appliance/db/lead_import_store.py); this reads them back,
newest first. Every method returns a Deferred.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component


@dataclass(frozen=True)
class CallListRow:
    id: int
    name: str
    source: str
    imported_at: dt.datetime
    rows_ok: int
    rows_bad: int


class CallListStore(_Component):
    def lists(self, campaign_id: int, limit: int = 50) -> defer.Deferred[list[CallListRow]]:
        """The campaign's latest ``limit`` lists, newest first."""
        t = model.call_lists

        def thd(conn: Connection) -> list[CallListRow]:
            rows = conn.execute(
                t.select()
                .where(t.c.campaign_id == campaign_id)
                .order_by(t.c.imported_at.desc(), t.c.id.desc())
                .limit(limit)
            )
            return [
                CallListRow(r.id, r.name, r.source, r.imported_at, r.rows_ok, r.rows_bad)
                for r in rows
            ]

        return self.db.run(thd)
