"""Leads outside their calling window do not hold up the others: the engine over the
simulated switch (tests/support/dialer_rig.py) at its start, 2026-11-22 13:10 UTC: 21:10 in
Shanghai, 08:10 in New York."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead
from tests.support.dialer_rig import START
from tests.support.inline_db import inline_db
from tests.unit.test_dialer_engine import NO_ANSWER, login_all, rig_for, seed

SHANGHAI = [f"1380000000{i}" for i in range(6)]
NEW_YORK = "12125550100"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "dialer.sqlite") as connector:
        yield connector


def test_leads_outside_their_window_wait_for_it_and_the_others_are_dialed(
    db: DBConnector,
) -> None:
    assert dt.datetime.fromtimestamp(START, dt.UTC) == dt.datetime(
        2026, 11, 22, 13, 10, tzinfo=dt.UTC
    )
    ids = seed(db, 1, [], window_start="07:00", window_end="12:00")
    # more Shanghai leads (closed at 21:10) than one round reads (one agent: 4), ahead of
    # the New York one (open at 08:10)
    resolved(
        db.dialer.add_leads(
            ids["campaign"],
            [NewLead(n, tz="Asia/Shanghai") for n in SHANGHAI]
            + [NewLead(NEW_YORK, tz="America/New_York")],
        )
    )
    rig = rig_for(db, dict.fromkeys([*SHANGHAI, NEW_YORK], NO_ANSWER))
    login_all(rig, ids)
    rig.step(5)
    dialed = [m.get("Channel") for m in rig.ami.actions if m.get("Action") == "Originate"]
    assert dialed == [f"Local/{NEW_YORK}@ccbox-outbound/n"]
    # the Shanghai ones wait for 07:00 there (23:00 UTC), nothing else about them changed
    opens = dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC)
    for number in SHANGHAI:
        lead = resolved(db.dialer.lead_by_number(ids["campaign"], number))
        assert lead is not None
        assert (lead.status, lead.attempts, lead.next_at) == ("new", 0, opens)
