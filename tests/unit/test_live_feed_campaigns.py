"""The live feed's campaign messages: the dialer's figures (acd/dialer/events.py) reach
staff pages and the wallboard, coalesced per campaign, and are in the snapshot; agents do
not get them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd.dialer.events import CampaignFigures
from appliance.db.connector import DBConnector
from tests.support.inline_db import inline_db
from tests.unit.test_live_feed import SUPERVISOR, Rig, data, frame_data, seen_by
from webui.live_feed import Viewer


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "live.sqlite") as connector:
        yield connector


def figures(
    campaign_id: int, placed: int, abandon_24h: float, name: str = "survey"
) -> CampaignFigures:
    return CampaignFigures(
        campaign_id=campaign_id,
        name=name,
        mode="predictive",
        state="running",
        placed=placed,
        answered=placed // 3,
        abandoned=1,
        machines=0,
        in_flight=2,
        agents_idle=1,
        agents_busy=4,
        occupancy=0.83,
        dial_level=2.5,
        abandon_24h=abandon_24h,
        abandon_30d=1.2,
        at=1_795_353_000.0,
    )


def test_figures_are_coalesced_per_campaign_and_go_to_staff_and_the_wallboard(
    db: DBConnector,
) -> None:
    rig = Rig(db)
    for placed in (10, 20, 30):
        rig.bus.publish(figures(7, placed, 2.0))
    rig.bus.publish(figures(8, 5, 4.5, name="<b>debt</b>\n\nevent: x"))
    out = [m for m in rig.tick() if m.kind == "campaign"]
    assert [data(m)["id"] for m in out] == [7, 8]
    first = data(out[0])
    assert (first["placed"], first["occupancy"], first["abandon_24h"]) == (30, 0.83, 2.0)
    assert first["dial_level"] == 2.5 and first["abandon_30d"] == 1.2
    assert out[1].frame.count(b"\n") == 4  # a hostile name stays one JSON line
    wall = Viewer("supervisor", None, wallboard=True)
    assert [k for k, _ in seen_by(wall, out)] == ["campaign", "campaign"]
    assert [k for k, _ in seen_by(SUPERVISOR, out)] == ["campaign", "campaign"]
    assert seen_by(rig.agent("1001"), out) == []


def test_the_snapshot_has_the_latest_figures_of_each_campaign(db: DBConnector) -> None:
    rig = Rig(db)
    rig.bus.publish(figures(7, 10, 2.0))
    rig.bus.publish(figures(7, 40, 3.5))
    rig.tick()
    for viewer in (SUPERVISOR, Viewer("supervisor", None, wallboard=True)):
        snap = frame_data(rig.feed.snapshot(viewer))[1]
        assert [(c["id"], c["placed"], c["abandon_24h"]) for c in snap["campaigns"]] == [
            (7, 40, 3.5)
        ]
    agent = frame_data(rig.feed.snapshot(rig.agent("1001")))[1]
    assert agent["campaigns"] == [] and "survey" not in json.dumps(agent)
