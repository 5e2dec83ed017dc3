"""The audit trail: who paused a recording, downloaded or deleted one, scored a call, or (as
a supervisor) acted on an agent or a call. Rows are only ever added; nothing here edits
or deletes them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import _Component, utcnow

MAX_DETAIL = 4000  # characters of JSON; attacker-controlled values are cut, not refused


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str


def _bounded(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


class AuditStore(_Component):
    def add(
        self,
        actor: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        ip: str = "",
        at: dt.datetime | None = None,
    ) -> defer.Deferred[int]:
        text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str)
        if len(text) > MAX_DETAIL:
            text = json.dumps({"truncated": text[:MAX_DETAIL]}, ensure_ascii=False)
        values = {
            "at": at or utcnow(),
            "actor": _bounded(actor, 64),
            "action": _bounded(action, 48),
            "target": _bounded(target, 128),
            "detail": text,
            "ip": _bounded(ip, 64),
        }

        def thd(conn: Connection) -> int:
            result = conn.execute(model.audit_log.insert().values(**values))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

        return self.db.run(thd)

    def recent(
        self, action: str | None = None, target: str | None = None, limit: int = 100
    ) -> defer.Deferred[list[AuditRow]]:
        """The newest entries first, optionally of one action and/or one target."""
        a = model.audit_log

        def thd(conn: Connection) -> list[AuditRow]:
            q = sa.select(a).order_by(a.c.at.desc(), a.c.id.desc()).limit(max(1, min(limit, 1000)))
            if action is not None:
                q = q.where(a.c.action == action)
            if target is not None:
                q = q.where(a.c.target == target)
            return [
                AuditRow(r.id, r.at, r.actor, r.action, r.target, json.loads(r.detail), r.ip)
                for r in conn.execute(q)
            ]

        return self.db.run(thd)
