"""A queue's strategy is stored as its name (the database knows no routing); the ACD maps it.

The admin page refuses an unknown name (tests/unit/test_admin_pages.py, "Strategy: not a
valid choice."); a row that holds one anyway (written by hand or by another version) still
routes, by longest_idle, and the log says which queue and name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher

from acd.service import ACD, Offer
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.eventbus import EventBus
from tests.support.inline_db import inline_db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "acd.sqlite") as connector:
        yield connector


def test_an_unknown_stored_strategy_routes_by_longest_idle_and_is_logged(db: DBConnector) -> None:
    queue = resolved(db.queues.add("support", strategy="fastest"))
    assert queue.strategy == "fastest"  # stored as given: storage does not check routing
    agents = [resolved(db.agents.add(n, n, "", f"PJSIP/{n}")).id for n in ("1001", "1002")]
    for agent_id in agents:
        resolved(db.agents.set_member(queue.id, agent_id))
    lines: list[str] = []

    def seen(event: dict[str, object]) -> None:
        lines.append(formatEvent(event))

    globalLogPublisher.addObserver(seen)
    try:
        clock = Clock()
        acd = ACD(clock, db, EventBus())
        resolved(acd.startService())
    finally:
        globalLogPublisher.removeObserver(seen)
    assert any("queue 'support'" in line and "unknown strategy 'fastest'" in line for line in lines)
    acd.login(agents[1])  # 1002 waits longest
    clock.advance(5)
    acd.login(agents[0])
    clock.advance(1)
    call = acd.join(queue.id, "13800138000", "u1")
    box: list[object] = []
    call.wait_offer().addCallback(box.append)
    [offer] = box
    assert isinstance(offer, Offer) and [a.number for a in offer.agents] == ["1002"]
