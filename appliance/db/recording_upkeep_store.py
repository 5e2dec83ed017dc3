"""The recordings' upkeep: what is due for the archive or the purge, and deleting by number.

Every query is bounded (``limit``) and walks an index (started_at, queue_id + started_at,
caller_number / called_number), so a backlog of a million rows is taken in batches.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component


@dataclass(frozen=True)
class StoredFile:
    """What the upkeep needs of a recording row to act on its file."""

    id: int
    path: str
    format: str
    encrypted: bool
    started_at: dt.datetime


def _stored(r: sa.Row[Any]) -> StoredFile:
    return StoredFile(r.id, r.path, r.format, r.encrypted, r.started_at)


def _columns() -> list[sa.ColumnElement[Any]]:
    r = model.recordings
    return [r.c.id, r.c.path, r.c.format, r.c.encrypted, r.c.started_at]


class RecordingUpkeepStore(_Component):
    def due_for_archive(
        self, before: dt.datetime, limit: int, after_id: int = 0
    ) -> defer.Deferred[list[StoredFile]]:
        """WAV recordings started before ``before``, oldest first, ids above ``after_id``
        (so a run skips the ones that just failed)."""
        r = model.recordings

        def thd(conn: Connection) -> list[StoredFile]:
            q = (
                sa.select(*_columns())
                .where(r.c.format == "wav", r.c.started_at < before, r.c.id > after_id)
                .order_by(r.c.id)
                .limit(limit)
            )
            return [_stored(row) for row in conn.execute(q)]

        return self.db.run(thd)

    def set_archived(
        self,
        recording_id: int,
        old_path: str,
        new_path: str,
        fmt: str,
        size_bytes: int,
        sha256: str,
        encrypted: bool,
        at: dt.datetime,
    ) -> defer.Deferred[bool]:
        """Point the row at its archive file; False (nothing changed) when the row is gone
        or no longer the WAV it was (deleted, archived meanwhile)."""
        r = model.recordings

        def thd(conn: Connection) -> bool:
            result = conn.execute(
                r.update()
                .where(r.c.id == recording_id, r.c.path == old_path, r.c.format == "wav")
                .values(
                    path=new_path,
                    format=fmt,
                    size_bytes=size_bytes,
                    sha256=sha256,
                    encrypted=encrypted,
                    archived_at=at,
                )
            )
            return result.rowcount == 1

        return self.db.run(thd)

    def due_for_purge(
        self, now: dt.datetime, default_days: int, limit: int
    ) -> defer.Deferred[list[StoredFile]]:
        """Recordings older than their queue's ``recording_retention_days`` (NULL: the
        ``default_days``; 0: kept forever), at most ``limit``, oldest first.

        Queues are few: they are grouped by retention, one indexed query per group."""
        r, q = model.recordings, model.queues

        def thd(conn: Connection) -> list[StoredFile]:
            groups: dict[int, list[int]] = {}
            for queue_id, days in conn.execute(sa.select(q.c.id, q.c.recording_retention_days)):
                groups.setdefault(default_days if days is None else days, []).append(queue_id)
            groups.setdefault(default_days, [])
            out: list[StoredFile] = []
            for days, queue_ids in sorted(groups.items()):
                if days <= 0 or len(out) >= limit:
                    continue
                cutoff = now - dt.timedelta(days=days)
                which: sa.ColumnElement[bool] = (
                    r.c.queue_id.in_(queue_ids) if queue_ids else sa.false()
                )
                if days == default_days:
                    which = sa.or_(which, r.c.queue_id.is_(None))
                rows = conn.execute(
                    sa.select(*_columns())
                    .where(which, r.c.started_at < cutoff)
                    .order_by(r.c.started_at, r.c.id)
                    .limit(limit - len(out))
                )
                out.extend(_stored(row) for row in rows)
            return out

        return self.db.run(thd)

    def with_numbers(
        self, numbers: tuple[str, ...], limit: int, after_id: int = 0
    ) -> defer.Deferred[list[StoredFile]]:
        """Recordings whose caller or called number is one of ``numbers`` (exactly), by id."""
        r = model.recordings

        def thd(conn: Connection) -> list[StoredFile]:
            q = (
                sa.select(*_columns())
                .where(
                    sa.or_(r.c.caller_number.in_(numbers), r.c.called_number.in_(numbers)),
                    r.c.id > after_id,
                )
                .order_by(r.c.id)
                .limit(limit)
            )
            return [_stored(row) for row in conn.execute(q)]

        return self.db.run(thd)

    def of_calls(
        self, call_ids: list[int], limit: int, after_id: int = 0
    ) -> defer.Deferred[list[StoredFile]]:
        """Recordings of these calls (``call_id``, whatever their numbers), by id."""
        r = model.recordings

        def thd(conn: Connection) -> list[StoredFile]:
            if not call_ids:
                return []
            q = (
                sa.select(*_columns())
                .where(r.c.call_id.in_(call_ids), r.c.id > after_id)
                .order_by(r.c.id)
                .limit(limit)
            )
            return [_stored(row) for row in conn.execute(q)]

        return self.db.run(thd)

    def delete(self, ids: list[int]) -> defer.Deferred[int]:
        """Remove these rows (their QA evaluations stay, unlinked: SET NULL)."""
        r = model.recordings

        def thd(conn: Connection) -> int:
            if not ids:
                return 0
            return int(conn.execute(r.delete().where(r.c.id.in_(ids))).rowcount)

        return self.db.run(thd)
