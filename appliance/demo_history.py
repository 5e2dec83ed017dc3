"""The demo's months of history: what the demo center would have left behind had it run for
``days`` days before today, so the reports have trends, a heat map and bad half hours to
drill into from the first start.

The rows are synthetic (appliance/reports/synthetic.py) but the demo's own: its agents in
their teams, its queues, the sample flow's paths in ``sample_center.CALLER_PATHS``' shares,
its QA form. They are written once, into an empty calls table, before ccboxd starts (it
numbers new calls after the last one); then the rollups are rebuilt over those days
(appliance/reports/rebuild.py), as after any bulk load. The recordings of the calls in the
last few bad half hours get real files (short stereo WAVs), so a drill from a bad half
hour reaches a player that plays.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import sqlalchemy as sa

from appliance import config as config_mod
from appliance import demo_center
from appliance.db import model
from appliance.db.engine import create_engine
from appliance.reports import synthetic as syn
from recorder import dsp, postprocess

DAYS = 120  # about four months
CALLS_PER_DAY = 1200.0  # an average weekday's callers at the demo center
PLAYABLE_HALF_HOURS = 3  # the newest bad half hours whose recordings get files
PLAYABLE_S = 8  # seconds of audio in each of those files
# Each team's talk (mean seconds) and the mailbox its full queue sends callers to.
TALK_S = {"support": 240.0, "billing": 180.0, "sales": 210.0, "care": 200.0}
MAILBOX = {"support": "801", "sales": "802"}
SEED = 17


def _s(node: str, kind: str, given: str = "", branch: str | None = "next") -> syn.Step:
    return syn.Step(node, kind, given, branch)


def _menu(node: str, key: str) -> syn.Step:
    return _s(node, "menu", key, key)


def paths(teams: dict[str, int]) -> tuple[syn.Path, ...]:
    """The sample flow's ways through (ivr/sample_center.py's nodes), weighted as its
    CALLER_PATHS; ``teams``: queue name -> index in the center's teams."""
    support, billing, sales = teams["support"], teams["billing"], teams["sales"]
    bye = _s("goodbye", "hangup", "", None)
    return (
        syn.Path(14, (_menu("main", "0"),), support, "agent"),
        syn.Path(12, (_menu("main", "3"), _menu("tech", "1")), support, "tech-queue"),
        syn.Path(8, (_menu("main", "3"), _menu("tech", "2")), support, "tech-queue"),
        syn.Path(2, (_menu("main", "3"), _menu("tech", "0")), support, "agent"),
        syn.Path(2, (_menu("main", "1"), _menu("accounts", "0")), support, "agent"),
        syn.Path(22, (_menu("main", "2"), _menu("billing", "0")), billing, "billing-queue"),
        syn.Path(
            20, (_menu("main", "4"), _s("sales-hours", "time", "", "open")), sales, "sales-queue"
        ),
        syn.Path(
            6,
            (_menu("main", "8"), _s("complaint", "record"), _s("complaint-thanks", "play"), bye),
            mailbox="803",
        ),
        syn.Path(
            7,
            (
                _menu("main", "1"),
                _menu("accounts", "1"),
                _s("ask-account", "collect", "123456", "ok"),
                _s("find-account", "lookup", "", "found"),
                _s("balance-is", "play"),
                _s("say-balance", "say"),
                bye,
            ),
        ),
        syn.Path(7, (_menu("main", "2"), _menu("billing", "1"), _s("bill-sent", "play"), bye)),
    )


def center(conn: sa.Connection, zone: str) -> syn.Center:
    """The demo center as its database has it (agents, queues, the sample flow, the form)."""
    from ivr import sample_center

    q = model.queues.c
    queues = {r.name: r for r in conn.execute(sa.select(q.id, q.name, q.max_wait_s, q.wrapup_s))}
    a = model.agents.c
    by_team: dict[str, list[int]] = {}
    for row in conn.execute(sa.select(a.id, a.department).order_by(a.id)):
        team = demo_center.TEAMS.get(row.department)
        if team is not None:
            by_team.setdefault(team, []).append(row.id)
    teams = tuple(
        syn.Team(
            queue_id=queues[name].id,
            queue_name=name,
            agent_ids=tuple(by_team.get(name, ())),
            talk_s=TALK_S.get(name, 200.0),
            wrapup_s=float(queues[name].wrapup_s) + 10.0,
            max_wait_s=float(queues[name].max_wait_s),
            mailbox=MAILBOX.get(name, ""),
        )
        for name in demo_center.TEAMS.values()
        if name in queues
    )
    index = {t.queue_name: k for k, t in enumerate(teams)}
    f = model.ivr_flows.c
    flow = conn.execute(
        sa.select(f.id, f.published_version).where(f.name == sample_center.NAME)
    ).first()
    form = conn.execute(
        sa.select(model.qa_forms.c.id, model.qa_forms.c.definition).order_by(model.qa_forms.c.id)
    ).first()
    items: tuple[tuple[str, int], ...] = ()
    if form is not None:
        groups = json.loads(form.definition).get("groups", [])
        items = tuple(
            (qn["id"], 1 if qn["kind"] == "yes_no" else int(qn["max"]))
            for g in groups
            for qn in g["questions"]
        )
    return syn.Center(
        teams=teams,
        dids=("4008800800", "4008800801", "075512345678"),
        paths=paths(index),
        zone=zone,
        calls_per_day=CALLS_PER_DAY,
        flow_id=flow.id if flow is not None else None,
        flow_name=sample_center.NAME,
        flow_version=(flow.published_version or 1) if flow is not None else 1,
        form_id=form.id if form is not None else None,
        qa_items=items,
        qa_share=0.02,
    )


def seed_history(
    config: config_mod.Config, days: int = DAYS, say: Callable[[str], None] = print
) -> syn.Summary | None:
    """``days`` days of history up to yesterday into an empty calls table, and its rollups;
    None (and nothing written) when the database has calls already."""
    from appliance.reports import rebuild

    if days <= 0:
        return None
    zone = config.reports.timezone
    engine = create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.select(model.calls.c.id).limit(1)).first() is not None:
                return None
            where = center(conn, zone)
        today = dt.datetime.now(ZoneInfo(zone)).date()
        first = today - dt.timedelta(days=days)
        last = today - dt.timedelta(days=1)
        say(
            f"ccbox demo: seeding {days} days of history ({first} to {last}, {zone}): "
            f"{where.calls_per_day:g} callers on an average weekday ..."
        )
        summary = syn.load(engine, where, first, days, seed=SEED, bulk=True)
        say(
            f"ccbox demo: {summary.calls} calls, {summary.total_rows} rows in "
            f"{summary.seconds:.1f} s ({summary.rows_per_s:,.0f} rows/s); "
            f"{len(summary.bad_half_hours)} short-staffed half hours"
        )
        done = rebuild.rebuild(engine, first, last, zone, config.reports.short_abandon_s)
        say(
            f"ccbox demo: report rollups rebuilt for those days ({done.rollup_rows} rows "
            f"in {done.seconds:.1f} s)"
        )
        files = playable(engine, config.recording_dir, summary.bad_half_hours)
        say(f"ccbox demo: {files} recordings of the last bad half hours can be played")
        return summary
    finally:
        engine.dispose()


def _audio(seconds: int, seed: int) -> np.ndarray:
    """Two legs taking turns, as a conversation looks on a waveform: bursts of a voice-like
    buzz (a few harmonics, syllable-long) on the left, then on the right."""
    rng = np.random.default_rng(seed)
    rate = 8000
    t = np.arange(seconds * rate) / rate
    legs = np.zeros((2, len(t)))
    turn, at = 0, 0.2
    while at < seconds:
        length = rng.uniform(0.8, 2.2)
        pitch = 120.0 if turn else 210.0
        span = (t >= at) & (t < at + length)
        voice = sum(np.sin(2 * np.pi * pitch * k * t[span]) / k for k in (1, 2, 3))
        syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t[span]) ** 2
        legs[turn, span] = 6000 * voice * syllables
        at += length + rng.uniform(0.2, 0.6)
        turn = 1 - turn
    return legs.T.astype("<i2")


def playable(engine: Any, root: Path, bad: list[dt.datetime]) -> int:
    """Real files for the recordings that started in the newest bad half hours (their
    rows made to agree: duration, size, checksum, waveform)."""
    r = model.recordings.c
    made = 0
    with engine.begin() as conn:
        for start in sorted(bad, reverse=True)[:PLAYABLE_HALF_HOURS]:
            rows = conn.execute(
                sa.select(r.id, r.path).where(
                    r.started_at >= start, r.started_at < start + dt.timedelta(minutes=30)
                )
            ).all()
            for row in rows:
                frames = _audio(PLAYABLE_S, row.id)
                path = root / row.path
                path.parent.mkdir(parents=True, exist_ok=True)
                with wave.open(str(path), "wb") as w:
                    w.setnchannels(2)
                    w.setsampwidth(2)
                    w.setframerate(8000)
                    w.writeframes(frames.tobytes())
                data = path.read_bytes()
                conn.execute(
                    model.recordings.update()
                    .where(r.id == row.id)
                    .values(
                        duration_ms=PLAYABLE_S * 1000,
                        size_bytes=len(data),
                        sha256=hashlib.sha256(data).hexdigest(),
                        peaks=json.dumps(dsp.peaks(frames.tobytes(), 2, postprocess.PEAKS)),
                        caller_talk_ratio=0.45,
                        agent_talk_ratio=0.45,
                        silence_ratio=0.1,
                    )
                )
                made += 1
    return made
