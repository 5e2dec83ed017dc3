"""The live feed's lead messages: what the dialer publishes for an agent (a preview, the
answered customer offered, connected, the attempt's end; acd/dialer/events.py) reaches that
agent's desk only, bounded, in its snapshot too; a withdrawn preview takes it away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acd.dialer.events import AttemptEnded, LeadConnected, LeadOffered, LeadPreview
from appliance.db.connector import DBConnector
from tests.support.inline_db import inline_db
from tests.unit.test_live_feed import SUPERVISOR, Rig, data, frame_data, seen_by
from webui.live_feed import SCRIPT_MAX, Viewer

HOSTILE = "<img src=x onerror=alert(1)>\n\nevent: x"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "live.sqlite") as connector:
        yield connector


def preview(agent_id: int, lead_id: int, withdrawn: bool = False) -> LeadPreview:
    return LeadPreview(
        agent_id=agent_id,
        campaign_id=3,
        campaign="spring",
        lead_id=lead_id,
        number="13800000001",
        name="Zhang San",
        script="Hello, this is Acme.",
        dial_in_s=10.0,
        at=1_795_353_000.0,
        fields={"product": "tea"},
        withdrawn=withdrawn,
    )


def offered(agent_id: int, lead_id: int, attempt_id: int) -> LeadOffered:
    return LeadOffered(
        agent_id=agent_id,
        campaign_id=3,
        campaign="spring",
        lead_id=lead_id,
        attempt_id=attempt_id,
        number="13800000001",
        name=HOSTILE,
        script="S" * (SCRIPT_MAX + 50),
        call_id=41,
        at=1_795_353_001.0,
        fields={"product": "tea", "note": HOSTILE},
        dispositions=("Interested", "Call back later"),
    )


def test_a_preview_then_the_offered_call_reach_only_that_agents_desk(db: DBConnector) -> None:
    rig = Rig(db)
    me, other = rig.agent("1001"), rig.agent("1002")
    wallboard = Viewer("supervisor", None, wallboard=True)
    a1001 = rig.ids["1001"]

    rig.bus.publish(preview(a1001, 5))
    out = [m for m in rig.tick() if m.kind == "lead"]
    assert [frame_data(f)[0] for f in (me.frame(m) for m in out) if f] == ["lead"]
    assert seen_by(other, out) == [] and seen_by(SUPERVISOR, out) == []
    assert seen_by(wallboard, out) == []
    shown = data(out[0])
    assert (shown["state"], shown["lead_id"], shown["number"], shown["dial_in_s"]) == (
        "preview",
        5,
        "13800000001",
        10.0,
    )
    assert shown["script"] == "Hello, this is Acme."
    assert shown["fields"] == [["product", "tea"]] and shown["attempt_id"] is None
    assert shown["talked"] is False

    # a withdrawn preview of another lead is not the one shown: nothing sent
    rig.bus.publish(preview(a1001, 6, withdrawn=True))
    assert [m for m in rig.tick() if m.kind == "lead"] == []
    rig.bus.publish(preview(a1001, 5, withdrawn=True))
    (gone,) = [data(m) for m in rig.tick() if m.kind == "lead"]
    assert (gone["state"], gone["lead_id"]) == ("withdrawn", 5)

    # the answered customer: script, fields and dispositions, bounded, as JSON text
    rig.bus.publish(offered(a1001, 5, 9))
    (m,) = [m for m in rig.tick() if m.kind == "lead"]
    pop = data(m)
    assert (pop["state"], pop["attempt_id"], pop["call_id"]) == ("offered", 9, 41)
    assert pop["dispositions"] == ["Interested", "Call back later"]
    assert len(pop["script"]) == SCRIPT_MAX
    assert pop["name"] == HOSTILE and ["note", HOSTILE] in pop["fields"]
    assert b"\nevent: x" not in m.frame  # a name cannot start an SSE event of its own
    assert seen_by(other, [m]) == []

    rig.bus.publish(LeadConnected(a1001, 3, 5, 9, 400, 1_795_353_002.0))
    (m,) = [m for m in rig.tick() if m.kind == "lead"]
    assert (data(m)["state"], data(m)["attempt_id"], data(m)["talked"]) == ("connected", 9, True)
    rig.bus.publish(AttemptEnded(3, 77, 1234, "no_answer", None, 1_795_353_003.0))  # not its
    assert [m for m in rig.tick() if m.kind == "lead"] == []
    rig.bus.publish(AttemptEnded(3, 5, 9, "answered", None, 1_795_353_060.0))
    (m,) = [m for m in rig.tick() if m.kind == "lead"]
    assert (data(m)["state"], data(m)["talked"]) == ("ended", True)  # kept for the disposition

    # a desk that connects now gets it in its snapshot; the other agent's has none
    _, snap = frame_data(rig.feed.snapshot(me))
    assert (snap["lead"]["lead_id"], snap["lead"]["state"]) == (5, "ended")
    _, snap = frame_data(rig.feed.snapshot(other))
    assert snap["lead"] is None
    _, snap = frame_data(rig.feed.snapshot(wallboard))
    assert "lead" not in snap


def test_a_customer_who_hangs_up_before_the_agent_answers_is_no_call_to_dispose(
    db: DBConnector,
) -> None:
    rig = Rig(db)
    a1001 = rig.ids["1001"]
    rig.bus.publish(offered(a1001, 5, 9))
    rig.tick()
    rig.bus.publish(AttemptEnded(3, 5, 9, "abandoned", None, 1_795_353_003.0))
    (m,) = [m for m in rig.tick() if m.kind == "lead"]
    assert (data(m)["state"], data(m)["talked"]) == ("ended", False)
