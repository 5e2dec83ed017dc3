"""A campaign ready to dial: written straight into a migrated database before ccboxd's master
starts (the integration tests over the switch simulator), or through the stores of a
DBConnector (the engine's unit tests and bench)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Engine

from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead

# Every day, all day, in the campaign's zone (the product's default, Asia/Shanghai, unless
# given): until midnight, so no minute of the day is closed.
OPEN_ALL_WEEK = {
    "window_days": "mon,tue,wed,thu,fri,sat,sun",
    "window_start": "00:00",
    "window_end": "24:00",
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
    queue, open all week all day (``OPEN_ALL_WEEK``: the ccboxd these tests start runs on
    the real clock; ``campaign``: its other columns), and its leads.
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


def seed_store_campaign(
    db: DBConnector,
    name: str,
    agents: int,
    leads: Sequence[NewLead],
    *,
    wrapup_s: int,
    **campaign: Any,
) -> dict[str, int]:
    """Through the stores: agents 2001.. (skill sales 5, phone ``PJSIP/<number>``), queue
    outbound (sales >= 1, 10 s of ringing, ``wrapup_s`` of wrap-up), a running progressive
    campaign ``name`` on it open all week all day (``campaign``: its other columns) and its
    ``leads``. The ids by agent number, and "queue" and "campaign"."""
    sales = resolved(db.skills.add("sales")).id
    ids: dict[str, int] = {}
    for i in range(agents):
        number = str(2001 + i)
        agent = resolved(db.agents.add(number, f"Agent {number}", "", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, sales, 5))
        ids[number] = agent.id
    ids["queue"] = resolved(
        db.queues.add("outbound", skills={sales: 1}, ring_timeout_s=10, wrapup_s=wrapup_s)
    ).id
    values: dict[str, Any] = {
        "mode": "progressive",
        "state": "running",
        "caller_id_number": "4008001234",
        "caller_id_name": "Acme",
        "safe_harbor_prompt": "safe-harbor",
        **OPEN_ALL_WEEK,
        **campaign,
    }
    ids["campaign"] = resolved(db.dialer.create_campaign(name, ids["queue"], **values)).id
    resolved(db.dialer.add_leads(ids["campaign"], list(leads)))
    return ids
