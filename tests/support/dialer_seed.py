"""A campaign ready to dial, written straight into a migrated database before ccboxd's master
starts (the integration tests over the switch simulator)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from appliance.db import model

OPEN_ALL_WEEK = {
    "window_days": "mon,tue,wed,thu,fri,sat,sun",
    "window_start": "00:00",
    "window_end": "23:59",
}


def seed_campaign(
    engine: Engine,
    name: str,
    agents: Sequence[str],
    numbers: Sequence[str],
    queue: dict[str, Any] | None = None,
    **campaign: Any,
) -> tuple[int, int]:
    """A skill and a queue named ``name`` (``queue``: its other columns), the ``agents``
    (numbers; phone ``PJSIP/<number>``) with the skill, a running campaign ``name`` on the
    queue, open all week all day (``campaign``: its other columns), and its leads.
    (queue id, campaign id)."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:

        def insert(table: Any, **values: Any) -> int:
            key = conn.execute(table.insert().values(**values)).inserted_primary_key
            assert key is not None
            return int(key[0])

        skill = insert(model.skills, name=name)
        qid = insert(model.queues, name=name, created_at=now, **(queue or {}))
        insert(model.queue_skills, queue_id=qid, skill_id=skill, min_level=1)
        for number in agents:
            aid = insert(
                model.agents,
                number=number,
                name=f"A{number}",
                device=f"PJSIP/{number}",
                created_at=now,
            )
            insert(model.agent_skills, agent_id=aid, skill_id=skill, level=5)
        values: dict[str, Any] = {
            "state": "running",
            "caller_id_number": "4008001234",
            "caller_id_name": "Acme",
            "safe_harbor_prompt": "ccbox-goodbye",
            **OPEN_ALL_WEEK,
            **campaign,
        }
        cid = insert(model.campaigns, name=name, queue_id=qid, created_at=now, **values)
        if numbers:
            conn.execute(
                model.leads.insert(),
                [{"campaign_id": cid, "number": n, "updated_at": now} for n in numbers],
            )
    return qid, cid
