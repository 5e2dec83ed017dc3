"""How much one person may upload in an hour, tickets' and the knowledge base's files
together: a login that sends file after file (a script, a stolen session) is refused with a
message saying when it may go on, before the disk fills.

Counted from the attachment rows themselves (each has its uploader and time), in the same
transaction as the row the upload adds, so there is no counter to keep or to lose; the web
asks first too (``UploadQuota``), so a refused file is never written to the disk.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, utcnow
from appliance.text import N_
from appliance.uploads import MB, UploadRefused

WINDOW = dt.timedelta(hours=1)
MAX_FILES = 60  # an hour, per person
MAX_BYTES = 500 * MB  # an hour, per person


class QuotaExceeded(UploadRefused):
    """Too many files or bytes in the last hour (an N_ text a person reads)."""


def used_query(user: str, since: dt.datetime) -> sa.Select[int, Any]:
    """The count and bytes of ``user``'s files since ``since``: each table's part is a
    search of its (uploaded_by, created_at) index."""
    parts = [
        sa.select(t.c.size).where(t.c.uploaded_by == user[:64], t.c.created_at >= since)
        for t in (model.ticket_attachments, model.kb_attachments)
    ]
    u = sa.union_all(*parts).subquery()
    return sa.select(sa.func.count(), sa.func.sum(u.c.size))


def used(conn: Connection, user: str, since: dt.datetime) -> tuple[int, int]:
    """The files and bytes ``user`` uploaded since ``since`` (tickets' and articles')."""
    files, size = conn.execute(used_query(user, since)).one()
    return int(files or 0), int(size or 0)


def check(conn: Connection, user: str, size: int, now: dt.datetime) -> None:
    """Refuse (QuotaExceeded) a file of ``size`` bytes that would take ``user`` past the
    hour's files or bytes."""
    files, total = used(conn, user, now - WINDOW)
    if files + 1 > MAX_FILES or total + size > MAX_BYTES:
        raise QuotaExceeded(
            N_(
                "You have uploaded {files} files ({mb} MB) in the last hour: at most {max_files} "
                "files and {max_mb} MB an hour each. Try again later.",
                files=files,
                mb=round(total / MB, 1),
                max_files=MAX_FILES,
                max_mb=MAX_BYTES // MB,
            )
        )


class UploadQuota(_Component):
    def check(self, user: str, size: int) -> defer.Deferred[None]:
        """QuotaExceeded (in the Deferred) when a file of ``size`` bytes would take ``user``
        past the hour's files or bytes: asked before the file is stored."""
        now = utcnow()
        return self.db.run(lambda conn: check(conn, user, size, now))
