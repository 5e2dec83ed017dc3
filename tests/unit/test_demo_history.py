"""The demo's history (appliance/demo_history.py): weeks of the demo center's own calls
before today, their rollups, and recordings of a bad half hour that play."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import wave
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance import demo, demo_history
from appliance.db import model
from appliance.db.engine import create_engine
from appliance.reports import synthetic


def test_seeds_the_demo_centers_history_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(synthetic, "BAD_SHARE", 0.05)  # a few bad half hours in ten days
    monkeypatch.setattr(demo_history, "CALLS_PER_DAY", 300.0)
    config = demo.prepare(tmp_path / "data", 18080, 18081, 18082)
    demo.seed(config)
    said: list[str] = []
    summary = demo_history.seed_history(config, 10, say=said.append)
    assert summary is not None and summary.calls > 1500
    assert "seeding 10 days of history" in said[0] and "rollups rebuilt" in said[2]
    engine = create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            agents = {a.id: a.department for a in conn.execute(sa.select(model.agents))}
            queues = {q.id: q.name for q in conn.execute(sa.select(model.queues))}
            c = model.calls.c
            answered = conn.execute(
                sa.select(c.agent_id, c.queue_id).where(c.queue_outcome == "answered")
            ).all()
            t = model.report_traffic.c
            month_offered = conn.execute(
                sa.select(sa.func.sum(t.offered)).where(
                    t.grain == "day", t.scope == "center", t.key == ""
                )
            ).scalar()
            offered = conn.execute(
                sa.select(sa.func.count()).where(c.queue_outcome.is_not(None))
            ).scalar()
            r = model.recordings.c
            playable = conn.execute(
                sa.select(r.path, r.duration_ms, r.sha256, r.peaks).where(r.sha256 != "")
            ).all()
            flows = conn.execute(sa.select(sa.func.count()).select_from(model.report_ivr)).scalar()
            newest = conn.execute(sa.select(sa.func.max(model.calls.c.started_at))).scalar()
    finally:
        engine.dispose()
    # the demo's teams answer their own queues (support's agents, support's calls)
    for agent, queue in answered[:2000]:
        assert demo_center_team(agents[agent]) == queues[queue]
    assert month_offered == offered  # the rollups were rebuilt over those days
    assert flows  # the sample flow's nodes, by its id
    assert playable
    for path, duration_ms, sha, peaks in playable:
        file = config.recording_dir / path
        with wave.open(str(file)) as w:
            assert (w.getnchannels(), w.getframerate()) == (2, 8000)
            assert w.getnframes() == duration_ms * 8
        assert hashlib.sha256(file.read_bytes()).hexdigest() == sha
        assert len(json.loads(peaks)) == 200
    # up to yesterday, in the center's zone
    zone = synthetic.ZoneInfo(config.reports.timezone)
    assert newest is not None
    assert newest.replace(tzinfo=dt.UTC).astimezone(zone).date() < dt.datetime.now(zone).date()
    # a second start finds the calls there and writes nothing (nor does 0 days)
    assert demo_history.seed_history(config, 0) is None
    assert demo_history.seed_history(config, 10, say=said.append) is None


def demo_center_team(department: str) -> str:
    from appliance import demo_center

    return demo_center.TEAMS[department]
