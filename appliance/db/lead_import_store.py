"""Writing imported leads: one call list per file, leads merged by number, batch by batch.

The import (acd/dialer/list_import.py) runs in a thread of its own, reading a file that may
hold a million rows; it hands over a batch at a time to a sink here, which writes the batch
in ONE transaction: all its rows, or none of them. Two sinks: ``EngineSink`` writes with the
engine in the caller's thread (the CLI, tests); ``ConnectorSink`` runs each batch in the
database connector's pool from a non-reactor thread (the daemon's upload page), so SQLite
keeps its single writer.

Merging: a number already in the campaign (from an earlier list or earlier in this file)
keeps its lead, status, attempts and schedule; its name and time zone are replaced when the
new row has them, and its fields are updated key by key. ``merge_leads`` is the one way
leads are written: ``DialerStore.add_leads`` (the demo, a callback) goes through it too.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from appliance.db import model

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorFromThreads

    from appliance.db.connector import DBConnector

T = TypeVar("T")
# Numbers per IN (...) lookup: below SQLite's oldest limit of 999 bound parameters.
_LOOKUP_CHUNK = 500


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ImportedLead:
    """One good row of a list. ``tz``: "" when neither a column nor the number gave one
    (the campaign's default applies); ``tz_given``: the file had a zone for this row.
    ``next_at`` (a new lead waits until then: ``scheduled``) and ``agent_id`` (a callback
    for that agent) apply to a new lead only: a lead the campaign has keeps its schedule."""

    number: str
    name: str
    tz: str
    fields: dict[str, str]
    tz_given: bool = False
    next_at: dt.datetime | None = None
    agent_id: int | None = None


@dataclass(frozen=True)
class BatchCounts:
    inserted: int  # new leads
    updated: int  # numbers the campaign already had: merged


@dataclass(frozen=True)
class CampaignRef:
    id: int
    name: str
    default_tz: str


@dataclass(frozen=True)
class ExportLead:
    id: int
    number: str
    name: str
    tz: str
    status: str
    attempts: int
    last_outcome: str
    disposition: str
    fields: dict[str, str]


# ---- functions on a connection (each caller owns the transaction) --------------------------


def campaign_by_name(conn: Connection, name: str) -> CampaignRef | None:
    c = model.campaigns
    row = conn.execute(sa.select(c.c.id, c.c.name, c.c.default_tz).where(c.c.name == name)).first()
    return None if row is None else CampaignRef(row.id, row.name, row.default_tz)


def campaign_by_id(conn: Connection, campaign_id: int) -> CampaignRef | None:
    c = model.campaigns
    row = conn.execute(
        sa.select(c.c.id, c.c.name, c.c.default_tz).where(c.c.id == campaign_id)
    ).first()
    return None if row is None else CampaignRef(row.id, row.name, row.default_tz)


def create_list(conn: Connection, campaign_id: int, name: str, source: str) -> int:
    result = conn.execute(
        model.call_lists.insert().values(
            campaign_id=campaign_id,
            name=name[:128],
            source=source[:255],
            imported_at=utcnow(),
            rows_ok=0,
            rows_bad=0,
        )
    )
    list_id = result.inserted_primary_key
    assert list_id is not None
    return int(list_id[0])


def finish_list(conn: Connection, list_id: int, rows_ok: int, rows_bad: int) -> None:
    conn.execute(
        model.call_lists.update()
        .where(model.call_lists.c.id == list_id)
        .values(rows_ok=rows_ok, rows_bad=rows_bad)
    )


def lead_fields(text: str) -> dict[str, str]:
    """A lead's ``fields_json`` as text keys and values ({} for what is not a JSON object:
    a row written around the store is read, not trusted)."""
    try:
        fields = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in fields.items()} if isinstance(fields, dict) else {}


def _merged(rows: Sequence[ImportedLead]) -> dict[str, ImportedLead]:
    """The batch by number, later rows merged into earlier ones."""
    out: dict[str, ImportedLead] = {}
    for lead in rows:
        old = out.get(lead.number)
        out[lead.number] = lead if old is None else _merge(old, lead)
    return out


def _merge(old: ImportedLead, new: ImportedLead) -> ImportedLead:
    return ImportedLead(
        old.number,
        new.name or old.name,
        new.tz if new.tz_given else old.tz,
        {**old.fields, **new.fields},
        old.tz_given or new.tz_given,
        old.next_at,
        old.agent_id,
    )


def merge_leads(
    conn: Connection,
    campaign_id: int,
    list_id: int | None,
    rows: Sequence[ImportedLead],
    now: dt.datetime | None = None,
) -> BatchCounts:
    """Insert the batch's new numbers and merge the ones the campaign has (status kept)."""
    leads = model.leads
    batch = _merged(rows)
    existing: dict[str, Any] = {}
    numbers = list(batch)
    for i in range(0, len(numbers), _LOOKUP_CHUNK):
        chunk = numbers[i : i + _LOOKUP_CHUNK]
        for row in conn.execute(
            sa.select(leads.c.id, leads.c.number, leads.c.name, leads.c.tz, leads.c.fields_json)
            .where(leads.c.campaign_id == campaign_id)
            .where(leads.c.number.in_(chunk))
        ):
            existing[row.number] = row
    now = now or utcnow()
    inserts = [
        {
            "campaign_id": campaign_id,
            "list_id": list_id,
            "number": lead.number,
            "tz": lead.tz,
            "name": lead.name,
            "fields_json": json.dumps(lead.fields, ensure_ascii=False),
            "status": "new" if lead.next_at is None else "scheduled",
            "attempts": 0,
            "next_at": lead.next_at,
            "agent_id": lead.agent_id,
            "updated_at": now,
        }
        for number, lead in batch.items()
        if number not in existing
    ]
    updates = []
    for number, row in existing.items():
        lead = batch[number]
        fields = lead_fields(row.fields_json)
        fields.update(lead.fields)
        updates.append(
            {
                "lead_id": row.id,
                "new_name": lead.name or row.name,
                "new_tz": lead.tz if lead.tz_given else row.tz,
                "new_fields": json.dumps(fields, ensure_ascii=False),
                "now": now,
            }
        )
    if inserts:
        conn.execute(leads.insert(), inserts)
    if updates:
        conn.execute(
            leads.update()
            .where(leads.c.id == sa.bindparam("lead_id"))
            .values(
                name=sa.bindparam("new_name"),
                tz=sa.bindparam("new_tz"),
                fields_json=sa.bindparam("new_fields"),
                updated_at=sa.bindparam("now"),
            ),
            updates,
        )
    return BatchCounts(len(inserts), len(updates))


def export_page(
    conn: Connection, campaign_id: int, after_id: int, limit: int = 1000
) -> list[ExportLead]:
    """Leads of a campaign by id, ``limit`` at a time after ``after_id`` (keyset paging:
    an export of a million leads never holds more than a page)."""
    leads = model.leads
    rows = conn.execute(
        sa.select(
            leads.c.id,
            leads.c.number,
            leads.c.name,
            leads.c.tz,
            leads.c.status,
            leads.c.attempts,
            leads.c.last_outcome,
            leads.c.disposition,
            leads.c.fields_json,
        )
        .where(leads.c.campaign_id == campaign_id)
        .where(leads.c.id > after_id)
        .order_by(leads.c.id)
        .limit(limit)
    )
    out = []
    for row in rows:
        out.append(
            ExportLead(
                row.id,
                row.number,
                row.name,
                row.tz,
                row.status,
                row.attempts,
                row.last_outcome,
                row.disposition,
                lead_fields(row.fields_json),
            )
        )
    return out


def iter_export(
    run: Callable[[Callable[[Connection], list[ExportLead]]], list[ExportLead]],
    campaign_id: int,
) -> Iterator[ExportLead]:
    """Every lead of a campaign, page by page, each page read by ``run`` (a transaction)."""
    after = 0
    while True:
        page = run(functools.partial(export_page, campaign_id=campaign_id, after_id=after))
        if not page:
            return
        yield from page
        after = page[-1].id


# ---- sinks: where an import job writes ------------------------------------------------------


class EngineSink:
    """Writes with ``engine`` in the calling thread: each call one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, thd: Callable[[Connection], T]) -> T:
        with self.engine.begin() as conn:
            return thd(conn)


class ConnectorSink:
    """Runs each transaction in the connector's pool, waiting for it from a thread that is
    not the reactor's (an import job's): SQLite keeps one writer, the fault reporting of
    ``DBConnector.run`` applies."""

    def __init__(self, db: DBConnector, reactor: IReactorFromThreads) -> None:
        self.db = db
        self.reactor = reactor

    def run(self, thd: Callable[[Connection], T]) -> T:
        from twisted.internet import threads

        run: Callable[..., Any] = self.db.run
        return cast(T, threads.blockingCallFromThread(self.reactor, run, thd))
