"""What the IVR reads and writes: flows with their version history, the numbers (DIDs) bound
to them, the prompt library, customers and business records that flows look up."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from twisted.internet import defer

from appliance.db import model
from appliance.db.components import DuplicateError, _Component, _insert, utcnow
from appliance.text import N_

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector  # noqa: F401

MAX_LOOKUP_FIELDS = 20
MAX_FIELD = 256


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class FlowRow:
    id: int
    name: str
    description: str
    version: int  # the newest saved
    published_version: int | None
    updated_at: dt.datetime
    updated_by: str


@dataclass(frozen=True)
class FlowVersion:
    flow_id: int
    flow_name: str
    version: int
    graph: dict[str, Any]
    author: str
    note: str
    created_at: dt.datetime


@dataclass(frozen=True)
class PromptRow:
    id: int
    name: str
    label: str
    language: str
    source: str
    text: str
    duration_ms: int
    sha256: str
    created_by: str
    created_at: dt.datetime


def change_note(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """What a save changed, in a line: nodes added, removed and changed, edges."""
    if before is None:
        return f"created with {len(after.get('nodes', []))} nodes"

    def by_id(doc: dict[str, Any]) -> dict[str, Any]:
        return {str(n.get("id")): n for n in doc.get("nodes", []) if isinstance(n, dict)}

    old, new = by_id(before), by_id(after)
    added = sorted(str(k) for k in new.keys() - old.keys())
    removed = sorted(str(k) for k in old.keys() - new.keys())
    changed = sorted(
        str(k)
        for k in new.keys() & old.keys()
        if (new[k].get("type"), new[k].get("props")) != (old[k].get("type"), old[k].get("props"))
    )
    edges = {json.dumps(e, sort_keys=True) for e in after.get("edges", [])} != {
        json.dumps(e, sort_keys=True) for e in before.get("edges", [])
    }
    parts = []
    for label, ids in (("added", added), ("removed", removed), ("changed", changed)):
        if ids:
            parts.append(f"{label} {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}")
    if edges:
        parts.append("connections changed")
    if before.get("start") != after.get("start"):
        parts.append("new start")
    return ("; ".join(parts) or "no change")[:255]


class IVRStore(_Component):
    # ---- flows ---------------------------------------------------------------------------

    @staticmethod
    def _flow(r: Any) -> FlowRow:
        return FlowRow(
            r.id, r.name, r.description, r.version, r.published_version, r.updated_at, r.updated_by
        )

    def create_flow(
        self, name: str, graph: dict[str, Any], author: str, description: str = ""
    ) -> defer.Deferred[FlowRow]:
        """A new flow with its first version (not published)."""
        f, v = model.ivr_flows, model.ivr_flow_versions

        def thd(conn: Connection) -> FlowRow:
            now = utcnow()
            text = json.dumps(graph)
            flow_id = _insert(
                conn,
                f,
                N_("flow {name}", name=name),
                name=name,
                description=description,
                graph=text,
                version=1,
                updated_at=now,
                updated_by=author,
            )
            conn.execute(
                v.insert().values(
                    flow_id=flow_id,
                    version=1,
                    graph=text,
                    author=author,
                    note=change_note(None, graph),
                    created_at=now,
                )
            )
            return FlowRow(flow_id, name, description, 1, None, now, author)

        return self.db.run(thd)

    def save_flow(self, flow_id: int, graph: dict[str, Any], author: str) -> defer.Deferred[int]:
        """A new version of the flow (the number); the published one is untouched."""
        f, v = model.ivr_flows, model.ivr_flow_versions

        def thd(conn: Connection) -> int:
            row = conn.execute(
                sa.select(f.c.version, f.c.graph).where(f.c.id == flow_id).with_for_update()
            ).first()
            if row is None:
                raise NotFound(N_("no flow {flow_id}", flow_id=flow_id))
            version, now = row.version + 1, utcnow()
            text = json.dumps(graph)
            note = change_note(json.loads(row.graph), graph)
            conn.execute(
                v.insert().values(
                    flow_id=flow_id,
                    version=version,
                    graph=text,
                    author=author,
                    note=note,
                    created_at=now,
                )
            )
            conn.execute(
                f.update()
                .where(f.c.id == flow_id)
                .values(graph=text, version=version, updated_at=now, updated_by=author)
            )
            return int(version)

        return self.db.run(thd)

    def publish(self, flow_id: int, version: int, author: str) -> defer.Deferred[None]:
        """Calls entering from now on run ``version`` (an older one: a roll back). The
        caller validates first (ivr/flows.py)."""
        f, v = model.ivr_flows, model.ivr_flow_versions

        def thd(conn: Connection) -> None:
            exists = conn.execute(
                sa.select(v.c.id).where((v.c.flow_id == flow_id) & (v.c.version == version))
            ).first()
            if exists is None:
                raise NotFound(
                    N_("flow {flow_id} has no version {version}", flow_id=flow_id, version=version)
                )
            conn.execute(
                f.update()
                .where(f.c.id == flow_id)
                .values(published_version=version, updated_at=utcnow(), updated_by=author)
            )

        return self.db.run(thd)

    def flows(self) -> defer.Deferred[list[FlowRow]]:
        f = model.ivr_flows

        def thd(conn: Connection) -> list[FlowRow]:
            return [self._flow(r) for r in conn.execute(f.select().order_by(f.c.name))]

        return self.db.run(thd)

    def flow(self, flow_id: int) -> defer.Deferred[FlowRow | None]:
        f = model.ivr_flows

        def thd(conn: Connection) -> FlowRow | None:
            r = conn.execute(f.select().where(f.c.id == flow_id)).first()
            return self._flow(r) if r else None

        return self.db.run(thd)

    def version(self, flow_id: int, version: int | None = None) -> defer.Deferred[FlowVersion]:
        """One version of a flow (None: the newest saved)."""
        f, v = model.ivr_flows, model.ivr_flow_versions

        def thd(conn: Connection) -> FlowVersion:
            q = (
                sa.select(v, f.c.name)
                .join(f, f.c.id == v.c.flow_id)
                .where(v.c.flow_id == flow_id)
                .order_by(v.c.version.desc())
            )
            if version is not None:
                q = q.where(v.c.version == version)
            r = conn.execute(q.limit(1)).first()
            if r is None:
                raise NotFound(
                    N_("flow {flow_id} has no version {version}", flow_id=flow_id, version=version)
                )
            return FlowVersion(
                r.flow_id, r.name, r.version, json.loads(r.graph), r.author, r.note, r.created_at
            )

        return self.db.run(thd)

    def history(self, flow_id: int, limit: int = 100) -> defer.Deferred[list[FlowVersion]]:
        """Versions newest first, without their graphs (who, when, what changed)."""
        f, v = model.ivr_flows, model.ivr_flow_versions

        def thd(conn: Connection) -> list[FlowVersion]:
            q = (
                sa.select(v.c.flow_id, v.c.version, v.c.author, v.c.note, v.c.created_at, f.c.name)
                .join(f, f.c.id == v.c.flow_id)
                .where(v.c.flow_id == flow_id)
                .order_by(v.c.version.desc())
                .limit(limit)
            )
            return [
                FlowVersion(r.flow_id, r.name, r.version, {}, r.author, r.note, r.created_at)
                for r in conn.execute(q)
            ]

        return self.db.run(thd)

    def published(self, name_or_id: str | int) -> defer.Deferred[FlowVersion | None]:
        """The version calls run now (None: no such flow, or never published)."""
        f, v = model.ivr_flows, model.ivr_flow_versions

        def thd(conn: Connection) -> FlowVersion | None:
            key = f.c.id == name_or_id if isinstance(name_or_id, int) else f.c.name == name_or_id
            r = conn.execute(
                sa.select(v, f.c.name)
                .join(f, (f.c.id == v.c.flow_id) & (f.c.published_version == v.c.version))
                .where(key)
            ).first()
            if r is None:
                return None
            return FlowVersion(
                r.flow_id, r.name, r.version, json.loads(r.graph), r.author, r.note, r.created_at
            )

        return self.db.run(thd)

    def flow_names(self) -> defer.Deferred[list[str]]:
        f = model.ivr_flows
        return self.db.run(lambda conn: [r[0] for r in conn.execute(sa.select(f.c.name))])

    # ---- DIDs ----------------------------------------------------------------------------

    def bind_did(
        self, number: str, flow_id: int | None, description: str = ""
    ) -> defer.Deferred[None]:
        """The flow a dialed number runs (``*``: every number not bound otherwise)."""
        d = model.dids

        def thd(conn: Connection) -> None:
            conn.execute(d.delete().where(d.c.number == number))
            conn.execute(d.insert().values(number=number, flow_id=flow_id, description=description))

        return self.db.run(thd)

    def flow_for_did(self, number: str) -> defer.Deferred[int | None]:
        """The flow bound to the dialed number, else to ``*``, else None."""
        d = model.dids

        def thd(conn: Connection) -> int | None:
            rows = dict(
                conn.execute(
                    sa.select(d.c.number, d.c.flow_id).where(d.c.number.in_([number[:32], "*"]))
                ).all()
            )
            found = rows.get(number[:32], rows.get("*"))
            return int(found) if found is not None else None

        return self.db.run(thd)

    def dids(self) -> defer.Deferred[list[tuple[str, int | None, str]]]:
        d = model.dids
        return self.db.run(
            lambda conn: [
                (r.number, r.flow_id, r.description)
                for r in conn.execute(d.select().order_by(d.c.number))
            ]
        )

    # ---- prompts -------------------------------------------------------------------------

    def add_prompt(
        self,
        name: str,
        source: str,
        duration_ms: int,
        sha256: str,
        created_by: str,
        label: str = "",
        language: str = "",
        text: str = "",
    ) -> defer.Deferred[PromptRow]:
        p = model.prompts

        def thd(conn: Connection) -> PromptRow:
            now = utcnow()
            values = dict(
                name=name,
                label=label[:128],
                language=language[:8],
                source=source,
                text=text,
                duration_ms=duration_ms,
                sha256=sha256,
                created_by=created_by,
                created_at=now,
            )
            pid = _insert(conn, p, N_("prompt {name}", name=name), **values)
            return PromptRow(pid, **values)  # type: ignore[arg-type]

        return self.db.run(thd)

    def prompts(self) -> defer.Deferred[list[PromptRow]]:
        p = model.prompts

        def thd(conn: Connection) -> list[PromptRow]:
            return [
                PromptRow(**{c: getattr(r, c) for c in PromptRow.__dataclass_fields__})
                for r in conn.execute(p.select().order_by(p.c.name))
            ]

        return self.db.run(thd)

    def prompt_names(self) -> defer.Deferred[list[str]]:
        p = model.prompts
        return self.db.run(lambda conn: [r[0] for r in conn.execute(sa.select(p.c.name))])

    def delete_prompt(self, name: str) -> defer.Deferred[bool]:
        p = model.prompts
        return self.db.run(
            lambda conn: conn.execute(p.delete().where(p.c.name == name)).rowcount > 0
        )

    # ---- what flows look up --------------------------------------------------------------

    def customer_by_account(self, account: str) -> defer.Deferred[int | None]:
        """The id of the live customer (not merged away, not erased) with this account
        number, the oldest when several share it (the lookup node's second try, after
        the numbers: appliance/crm/customer_store.py has those)."""
        c = model.customers

        def thd(conn: Connection) -> int | None:
            r = conn.execute(
                sa.select(c.c.id)
                .where(c.c.account == account[:64])
                .where(c.c.merged_into.is_(None) & c.c.erased_at.is_(None))
                .order_by(c.c.id)
                .limit(1)
            ).first()
            return None if r is None else int(r.id)

        return self.db.run(thd)

    def put_record(self, book: str, key: str, data: dict[str, Any]) -> defer.Deferred[None]:
        t = model.lookup_records
        text = json.dumps({str(k)[:32]: str(v)[:MAX_FIELD] for k, v in data.items()})

        def thd(conn: Connection) -> None:
            conn.execute(t.delete().where((t.c.book == book) & (t.c.key == key)))
            conn.execute(t.insert().values(book=book, key=key, data=text))

        return self.db.run(thd)

    def find_record(self, book: str, key: str) -> defer.Deferred[dict[str, str] | None]:
        t = model.lookup_records

        def thd(conn: Connection) -> dict[str, str] | None:
            r = conn.execute(
                sa.select(t.c.data).where((t.c.book == book) & (t.c.key == key[:64]))
            ).first()
            if r is None:
                return None
            data = json.loads(r.data)
            return {str(k): str(v) for k, v in list(data.items())[:MAX_LOOKUP_FIELDS]}

        return self.db.run(thd)


__all__ = ["DuplicateError", "FlowRow", "FlowVersion", "IVRStore", "NotFound", "PromptRow"]
