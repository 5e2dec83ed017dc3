"""A campaign to import lists into, and its leads read back (list import/export tests)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from appliance.db import model

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


def make_campaign(engine: Engine, name: str = "survey") -> int:
    """A campaign (and the queue it needs) named ``name``; its id."""
    with engine.begin() as conn:
        queue = conn.execute(
            model.queues.insert().values(name=f"q-{name}", display_name=name, created_at=NOW)
        ).inserted_primary_key
        assert queue is not None
        row = conn.execute(
            model.campaigns.insert().values(name=name, queue_id=queue[0], created_at=NOW)
        ).inserted_primary_key
        assert row is not None
        return int(row[0])


def leads(engine: Engine, campaign_id: int) -> dict[str, Any]:
    """The campaign's leads rows by number."""
    with engine.connect() as conn:
        return {
            r.number: r
            for r in conn.execute(
                sa.select(model.leads).where(model.leads.c.campaign_id == campaign_id)
            )
        }
