"""The rollups equal a brute-force aggregation of the raw rows: random calls, agent states,
IVR steps, QA scores, callbacks, voicemails, recordings and dial attempts around DST
changes, fed to the maintainer in random chunks (some drains crash before their commit),
then rebuilt; on SQLite and PostgreSQL.

The brute force below is written from appliance/reports/README.md, independently of
facts.py: straight loops over the rows, local time through zoneinfo.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.db import model
from appliance.db.engine import create_engine
from appliance.reports import maintainer, rebuild
from appliance.reports import rollup_db as rdb

UTC = dt.UTC
# (zone, a moment near one of its changes: spring forward, fall back, a month's end)
ANCHORS = [
    ("America/New_York", dt.datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    ("America/New_York", dt.datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ("Europe/London", dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ("Europe/London", dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
    ("Asia/Shanghai", dt.datetime(2026, 1, 31, 16, 0, tzinfo=UTC)),
]
SPREAD_S = 30 * 3600
SL = {1: 10, 2: 20, 3: 30}
SKILLS = {1: (1,), 2: (1, 2), 3: ()}
DEPT = {1: "sales", 2: "sales", 3: "support", 4: ""}
FLOWS = {"main": 1, "alt": 2}
SHORT = 5
OUTCOMES = ["answered", "abandoned", "voicemail", "extension", "overflow", "callback", None]
STATES = list(model.AGENT_STATES)


# ---- the database -----------------------------------------------------------------------


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[sa.Engine]:
    # many small commits: no fsync at each (the property is about the rows, not the disk)
    eng = create_engine(migrated_db_url, sqlite_synchronous="NORMAL")
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with eng.begin() as conn:
        for qid, sl in SL.items():
            conn.execute(
                model.queues.insert().values(
                    id=qid, name=f"q{qid}", service_level_s=sl, created_at=now
                )
            )
        for sid in (1, 2):
            conn.execute(model.skills.insert().values(id=sid, name=f"s{sid}"))
        for qid, skills in SKILLS.items():
            for sid in skills:
                conn.execute(model.queue_skills.insert().values(queue_id=qid, skill_id=sid))
        for aid, dept in DEPT.items():
            conn.execute(
                model.agents.insert().values(
                    id=aid, number=f"10{aid:02d}", name=f"a{aid}", department=dept, created_at=now
                )
            )
        for name, fid in FLOWS.items():
            conn.execute(model.ivr_flows.insert().values(id=fid, name=name, updated_at=now))
        conn.execute(
            model.mailboxes.insert().values(
                number="500", owner_kind="queue", owner="q1", created_at=now
            )
        )
        conn.execute(
            model.qa_forms.insert().values(id=1, name="f", definition="{}", created_at=now)
        )
        conn.execute(model.campaigns.insert().values(id=1, name="c", queue_id=1, created_at=now))
    yield eng
    eng.dispose()


RAW_TABLES = (
    "report_inbox",
    "report_agent_open",
    "report_call_applied",
    *rdb.ROLLUP_TABLES,
    "call_events",
    "calls",
    "agent_events",
    "qa_evaluations",
    "callbacks",
    "voicemails",
    "recordings",
    "dial_attempts",
)


def _clear(eng: sa.Engine) -> None:
    with eng.begin() as conn:
        for name in RAW_TABLES:
            conn.execute(model.metadata.tables[name].delete())


# ---- random raw rows ----------------------------------------------------------------------


def _t(base: dt.datetime, s: float) -> dt.datetime:
    return base + dt.timedelta(seconds=round(s, 3))


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    zone, anchor = draw(st.sampled_from(ANCHORS))
    offset = st.floats(-SPREAD_S, SPREAD_S, allow_nan=False)
    calls: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for cid in range(1, draw(st.integers(0, 14)) + 1):
        started = _t(anchor, draw(offset))
        queued = draw(st.booleans())
        outcome = draw(st.sampled_from(OUTCOMES)) if queued else None
        wait_ms = draw(st.integers(0, 400_000)) if queued else None
        entry = draw(st.sampled_from([1, 2, 3])) if queued else None
        moved = draw(st.sampled_from([None, None, 1, 2, 3])) if queued else None
        answered = outcome == "answered" or (not queued and draw(st.booleans()))
        agent = draw(st.sampled_from([1, 2, 3, 4])) if answered else None
        queued_at = _t(started, draw(st.floats(0, 900))) if queued else None
        talk = draw(st.integers(0, 2_000_000)) if answered else None
        row = {
            "id": cid,
            "uniqueid": f"u{cid}",
            "linkedid": f"u{cid}",
            "direction": draw(st.sampled_from(["inbound", "inbound", "outbound"])),
            "called_number": draw(st.sampled_from(["100", "200", ""])),
            "started_at": started,
            "ended_at": _t(started, 3600),
            "queue_id": moved or entry,
            "agent_id": agent,
            "agent_answered_at": _t(queued_at or started, (wait_ms or 0) / 1000)
            if answered
            else None,
            "talk_ms": talk,
            "flow_id": draw(st.sampled_from([None, 1, 2])),
            "entry_queue_id": entry,
            "queued_at": queued_at,
            "overflow_queue_id": moved,
            "queue_outcome": outcome,
            "wait_ms": wait_ms,
            "hold_ms": draw(st.sampled_from([None, 0, 1500, 65_000])),
            "transfers": draw(st.sampled_from([0, 0, 0, 1, 2])),
        }
        calls.append(row)
        for n in range(draw(st.integers(0, 3))):
            data = {
                "flow": draw(st.sampled_from(["main", "alt", "gone"])),
                "node": f"n{n}",
                "branch": draw(st.sampled_from([None, "1", "2", "hangup", ""])),
            }
            steps.append({"call_id": cid, "kind": "ivr_step", "at": started, "data": data})
    for agent in (1, 2, 3, 4):
        at = _t(anchor, draw(offset))
        for _ in range(draw(st.integers(0, 6))):
            state = draw(st.sampled_from(STATES))
            reason = draw(st.sampled_from(["lunch", "break"])) if state == "paused" else ""
            events.append({"agent_id": agent, "at": at, "state": state, "reason": reason})
            at = _t(at, draw(st.floats(0, 4 * 3600)))
    random.Random(draw(st.integers(0, 2**16))).shuffle(events)  # ids not by agent
    events.sort(key=lambda e: e["at"])  # ... but in time order, as the ACD writes them
    for i, e in enumerate(events, 1):
        e["id"] = i
    qa = [
        {
            "id": i,
            "form_id": 1,
            "agent_id": draw(st.sampled_from([None, 1, 2, 3])),
            "queue_id": draw(st.sampled_from([None, 1, 2])),
            "evaluator": "qa",
            "score": draw(st.floats(0, 100)),
            "answers": json.dumps({"q1": draw(st.integers(0, 5)), "q2": draw(st.integers(0, 3))}),
            "created_at": _t(anchor, draw(offset)),
        }
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    callbacks = [
        {
            "id": i,
            "queue_id": draw(st.sampled_from([1, 2, 3])),
            "number": "555",
            "requested_at": _t(anchor, draw(offset)),
        }
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    voicemails = [
        {
            "id": i,
            "mailbox": draw(st.sampled_from(["500", "600", "queue-2"])),
            "received_at": _t(anchor, draw(offset)),
            "duration_ms": draw(st.integers(0, 120_000)),
            "path": f"v{i}.wav",
        }
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    recordings = [
        {
            "id": i,
            "path": f"r{i}.wav",
            "queue_id": draw(st.sampled_from([None, 1, 3])),
            "agent_id": draw(st.sampled_from([None, 1, 3, 4])),
            "started_at": _t(anchor, draw(offset)),
            "duration_ms": draw(st.integers(0, 600_000)),
        }
        for i in range(1, draw(st.integers(0, 3)) + 1)
    ]
    dials = []
    for i in range(1, draw(st.integers(0, 3)) + 1):
        started = _t(anchor, draw(offset))
        outcome = draw(st.sampled_from([*model.DIAL_OUTCOMES, None]))
        person = outcome in ("answered", "abandoned")
        dials.append(
            {
                "id": i,
                "campaign_id": 1,
                "started_at": started,
                "answered_at": _t(started, 20) if person else None,
                "ended_at": _t(started, 20 + draw(st.integers(0, 900))) if outcome else None,
                "outcome": outcome,
                "wait_ms": draw(st.integers(0, 5000)) if person else None,
            }
        )
    return {
        "zone": zone,
        "anchor": anchor,
        "calls": calls,
        "steps": steps,
        "events": events,
        "qa": qa,
        "callbacks": callbacks,
        "voicemails": voicemails,
        "recordings": recordings,
        "dials": dials,
        "seed": draw(st.integers(0, 2**32)),
    }


# ---- the brute force ----------------------------------------------------------------------


def _epoch(moment: dt.datetime) -> float:
    return moment.timestamp()


def _buckets(moment: dt.datetime, zone: ZoneInfo) -> list[tuple[str, int]]:
    t = moment.timestamp()
    local = moment.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    return [
        ("q15", int(math.floor(t / 900) * 900)),
        ("hour", int(hour.timestamp())),
        ("day", int(local.strftime("%Y%m%d"))),
        ("month", int(local.strftime("%Y%m"))),
    ]


class Brute:
    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.rows: dict[tuple[Any, ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))

    def add(self, table: str, moment: dt.datetime, keys: tuple[Any, ...], **m: float) -> None:
        for grain, bucket in _buckets(moment, self.zone):
            row = self.rows[(table, grain, bucket, *keys)]
            for name, value in m.items():
                if name == "wait_max_s":
                    row[name] = max(row[name], value)
                else:
                    row[name] += value


def brute_force(h: dict[str, Any]) -> dict[tuple[Any, ...], dict[str, float]]:
    zone = ZoneInfo(h["zone"])
    b = Brute(zone)
    for c in h["calls"]:
        m: dict[str, float] = {"calls": 1}
        wait = (c["wait_ms"] or 0) / 1000
        moved = c["overflow_queue_id"] is not None and c["overflow_queue_id"] != c["entry_queue_id"]
        out_queue = c["overflow_queue_id"] if moved else c["entry_queue_id"]
        if c["queued_at"] is not None and c["queue_outcome"] is not None:
            o = c["queue_outcome"]
            m["offered"] = 1
            m["wait_max_s"] = wait
            if o == "answered":
                m["answered"] = 1
                m["wait_answered_s"] = wait
                m["answered_in_sl"] = 1 if wait <= SL[out_queue] else 0
            if o == "abandoned":
                m["abandoned"] = 1
                m["wait_abandoned_s"] = wait
                m["abandoned_in_sl"] = 1 if wait <= SL[out_queue] else 0
                m["abandoned_short"] = 1 if wait < SHORT else 0
                bins: list[tuple[float, str]] = [(10, "ab_lt10"), (20, "ab_lt20")]
                bins += [(30, "ab_lt30"), (60, "ab_lt60"), (120, "ab_lt120")]
                bins += [(300, "ab_lt300"), (math.inf, "ab_ge300")]
                m[next(name for bound, name in bins if wait < bound)] = 1
            if o == "voicemail":
                m["voicemail"] = 1
            if o in ("extension", "overflow") or moved:
                m["overflowed"] = 1
        m["transferred"] = 1 if c["transfers"] else 0
        m["handled"] = 1 if c["agent_answered_at"] is not None else 0
        m["talk_s"] = (c["talk_ms"] or 0) / 1000
        m["hold_s"] = (c["hold_ms"] or 0) / 1000
        m["outbound"] = 1 if c["direction"] == "outbound" else 0
        t0 = c["started_at"]
        b.add("report_traffic", t0, ("center", ""), **m)
        if c["direction"] == "inbound" and c["called_number"]:
            b.add("report_traffic", t0, ("did", c["called_number"]), **m)
        if c["flow_id"] is not None:
            b.add("report_traffic", t0, ("flow", str(c["flow_id"])), **m)
        tq = c["queued_at"] or t0
        first = c["entry_queue_id"] if c["entry_queue_id"] is not None else c["queue_id"]
        if first is not None:
            if moved:
                entry = {"calls": 1, "overflowed": 1}
                if c["queue_outcome"] is not None:
                    entry["offered"] = 1
                b.add("report_traffic", tq, ("queue", str(first)), **entry)
                b.add("report_overflow", tq, (first, "queue", str(out_queue)), count=1)
                rest = {k: v for k, v in m.items() if k != "overflowed"}
                b.add("report_traffic", tq, ("queue", str(out_queue)), **rest)
            else:
                b.add("report_traffic", tq, ("queue", str(first)), **m)
            if c["queue_outcome"] == "extension":
                b.add("report_overflow", tq, (out_queue, "extension", ""), count=1)
            if c["queue_outcome"] == "overflow":
                b.add("report_overflow", tq, (out_queue, "hangup", ""), count=1)
            for skill in SKILLS.get(out_queue or 0, ()):
                b.add("report_traffic", tq, ("skill", str(skill)), **m)
        if c["agent_id"] is not None:
            b.add("report_traffic", tq, ("agent", str(c["agent_id"])), **m)
            if DEPT[c["agent_id"]]:
                b.add("report_traffic", tq, ("department", DEPT[c["agent_id"]]), **m)
            if c["agent_answered_at"] is not None:
                b.add("report_agent", tq, (c["agent_id"],), handled=1)
    started = {c["id"]: c["started_at"] for c in h["calls"]}
    for s in h["steps"]:
        fid = FLOWS.get(s["data"]["flow"])
        if fid is None:
            continue
        at, node, branch = started[s["call_id"]], s["data"]["node"], s["data"]["branch"]
        b.add("report_ivr", at, (fid, node, "entered"), count=1)
        if branch == "hangup":
            b.add("report_ivr", at, (fid, node, "hangup"), count=1)
        elif branch:
            b.add("report_ivr", at, (fid, node, f"branch:{branch}"), count=1)
    by_agent: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(h["events"], key=lambda e: e["id"]):
        by_agent[e["agent_id"]].append(e)
    for agent, evs in by_agent.items():
        for cur, nxt in itertools.pairwise(evs):
            _brute_interval(b, agent, cur, nxt)
    for q in h["qa"]:
        keys = (q["agent_id"] or 0, q["queue_id"] or 0, 1)
        b.add("report_qa", q["created_at"], (*keys, ""), score_sum=q["score"], count=1)
        for item, points in json.loads(q["answers"]).items():
            b.add("report_qa", q["created_at"], (*keys, item), score_sum=points, count=1)
    for cb in h["callbacks"]:
        b.add("report_traffic", cb["requested_at"], ("center", ""), callbacks=1)
        b.add("report_traffic", cb["requested_at"], ("queue", str(cb["queue_id"])), callbacks=1)
    for v in h["voicemails"]:
        m = {"voicemails": 1, "voicemail_s": v["duration_ms"] / 1000}
        b.add("report_traffic", v["received_at"], ("center", ""), **m)
        queue = {"500": 1, "queue-2": 2}.get(v["mailbox"])
        if queue is not None:
            b.add("report_traffic", v["received_at"], ("queue", str(queue)), **m)
    for r in h["recordings"]:
        m = {"recordings": 1, "recording_s": r["duration_ms"] / 1000}
        b.add("report_traffic", r["started_at"], ("center", ""), **m)
        if r["queue_id"] is not None:
            b.add("report_traffic", r["started_at"], ("queue", str(r["queue_id"])), **m)
        if r["agent_id"] is not None:
            b.add("report_traffic", r["started_at"], ("agent", str(r["agent_id"])), **m)
            if DEPT[r["agent_id"]]:
                b.add("report_traffic", r["started_at"], ("department", DEPT[r["agent_id"]]), **m)
    for d in h["dials"]:
        if d["outcome"] is None:
            continue
        o = d["outcome"]
        wait = (d["wait_ms"] or 0) / 1000
        talk = (d["ended_at"] - d["answered_at"]).total_seconds() if o == "answered" else 0.0
        b.add("report_outbound", d["started_at"], (1, o), count=1, talk_s=talk, wait_s=wait)
        m = {"calls": 1, "outbound": 1}
        if o == "answered":
            m.update(answered=1, wait_answered_s=wait, talk_s=talk)
        if o == "abandoned":
            m["abandoned"] = 1
        b.add("report_traffic", d["started_at"], ("campaign", "1"), **m)
    return _nonzero(b.rows)


def _brute_interval(b: Brute, agent: int, cur: dict[str, Any], nxt: dict[str, Any]) -> None:
    state, since, until = cur["state"], cur["at"], max(nxt["at"], cur["at"])
    if state == "logged_out":
        return
    if state == "paused":
        b.add("report_pause", since, (agent, cur["reason"]), count=1)
    if state == "ringing" and nxt["state"] != "on_call":
        b.add("report_agent", since, (agent,), missed=1)
    t = since
    while t < until:
        edge = dt.datetime.fromtimestamp((math.floor(t.timestamp() / 900) + 1) * 900, UTC)
        end = min(edge, until)
        span = (end - t).total_seconds()
        b.add("report_agent", t, (agent,), logged_in_s=span, **{f"{state}_s": span})
        if state == "paused":
            b.add("report_pause", t, (agent, cur["reason"]), seconds=span)
        if state == "wrap_up":
            b.add("report_traffic", t, ("agent", str(agent)), wrapup_s=span)
            b.add("report_traffic", t, ("center", ""), wrapup_s=span)
            if DEPT[agent]:
                b.add("report_traffic", t, ("department", DEPT[agent]), wrapup_s=span)
        t = end


def _nonzero(
    rows: dict[tuple[Any, ...], dict[str, float]],
) -> dict[tuple[Any, ...], dict[str, float]]:
    out = {}
    for key, m in rows.items():
        kept = {k: v for k, v in m.items() if abs(v) > 1e-6}
        if kept:
            out[key] = kept
    return out


def rollups(eng: sa.Engine) -> dict[tuple[Any, ...], dict[str, float]]:
    from appliance.reports import facts

    out: dict[tuple[Any, ...], dict[str, float]] = {}
    with eng.connect() as conn:
        for name, (keys, measures) in facts.TABLES.items():
            t = model.metadata.tables[name]
            for r in conn.execute(sa.select(t)):
                m = r._mapping
                out[(name, m["grain"], m["bucket"], *(m[k] for k in keys))] = {
                    x: float(m[x]) for x in measures
                }
    return _nonzero(out)


def assert_same(got: dict[tuple[Any, ...], Any], want: dict[tuple[Any, ...], Any]) -> None:
    assert set(got) == set(want), (
        sorted(set(got) - set(want))[:5],
        sorted(set(want) - set(got))[:5],
    )
    for key, m in want.items():
        g = got[key]
        assert set(g) == set(m), (key, g, m)
        for name, value in m.items():
            assert g[name] == pytest.approx(value, rel=1e-9, abs=1e-4), (key, name, g, m)


# ---- feeding the maintainer ---------------------------------------------------------------


def _insert(eng: sa.Engine, h: dict[str, Any], partial_transfers: bool) -> None:
    """The raw rows; a transferred call first as its first session left it (transferred,
    less talk, no hold), to be finished again later."""
    with eng.begin() as conn:
        for c in h["calls"]:
            row = dict(c)
            if partial_transfers and c["transfers"]:
                row.update(talk_ms=(c["talk_ms"] or 0) // 2, hold_ms=None, transfers=1)
            conn.execute(model.calls.insert().values(**row))
        for s in h["steps"]:
            conn.execute(model.call_events.insert().values(**{**s, "data": json.dumps(s["data"])}))
        for table, rows in (
            (model.agent_events, h["events"]),
            (model.qa_evaluations, h["qa"]),
            (model.callbacks, h["callbacks"]),
            (model.voicemails, h["voicemails"]),
            (model.recordings, h["recordings"]),
            (model.dial_attempts, h["dials"]),
        ):
            if rows:
                conn.execute(table.insert(), rows)


def _inbox(h: dict[str, Any], rng: random.Random) -> list[tuple[str, int]]:
    """Inbox entries as the stores would add them: in a random order across kinds, but
    agent events in their own order (each commits before the agent's next)."""
    others = [(rdb.CALL, c["id"]) for c in h["calls"]]
    others += [(rdb.QA, q["id"]) for q in h["qa"]]
    others += [(rdb.CALLBACK, x["id"]) for x in h["callbacks"]]
    others += [(rdb.VOICEMAIL, x["id"]) for x in h["voicemails"]]
    others += [(rdb.RECORDING, x["id"]) for x in h["recordings"]]
    others += [(rdb.DIAL_ATTEMPT, x["id"]) for x in h["dials"] if x["outcome"]]
    rng.shuffle(others)
    events = [(rdb.AGENT_EVENT, e["id"]) for e in h["events"]]
    out: list[tuple[str, int]] = []
    while others or events:
        pick = events if events and (not others or rng.random() < 0.5) else others
        out.append(pick.pop(0))
    return out


def _feed(eng: sa.Engine, world: Any, entries: list[tuple[str, int]], rng: random.Random) -> None:
    """Add the entries in random chunks and drain in random batch sizes; some drains crash
    before their commit (the transaction rolls back)."""
    i = 0
    while i < len(entries):
        n = rng.randint(1, 8)
        with eng.begin() as conn:
            for kind, row_id in entries[i : i + n]:
                rdb.inbox_add(conn, kind, row_id)
        i += n
        if rng.random() < 0.3:
            with pytest.raises(RuntimeError), eng.begin() as conn:
                maintainer.drain_batch(conn, world, rng.randint(1, 10))
                raise RuntimeError("the process died before the commit")
        if rng.random() < 0.6:
            with eng.begin() as conn:
                maintainer.drain_batch(conn, world, rng.randint(1, 10))
    while True:
        with eng.begin() as conn:
            if not maintainer.drain_batch(conn, world, rng.randint(1, 10)).drained:
                break


def _finish_transfers(eng: sa.Engine, h: dict[str, Any]) -> list[tuple[str, int]]:
    """The transferred calls' next sessions end: their rows as they finally are."""
    again = []
    with eng.begin() as conn:
        for c in h["calls"]:
            if c["transfers"]:
                values = {k: c[k] for k in ("talk_ms", "hold_ms", "transfers")}
                conn.execute(
                    model.calls.update().where(model.calls.c.id == c["id"]).values(**values)
                )
                again.append((rdb.CALL, c["id"]))
    return again


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(h=histories())
def test_rollups_equal_the_brute_force_incremental_and_rebuilt(
    engine: sa.Engine, h: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL merges a rebuild's many rows through COPY: here every merge does
    monkeypatch.setattr(rdb, "COPY_MIN_ROWS", 1)
    _clear(engine)
    rng = random.Random(h["seed"])
    _insert(engine, h, partial_transfers=True)
    with engine.connect() as conn:
        world = rdb.load_world(conn, h["zone"], SHORT)
    entries = _inbox(h, rng)
    _feed(engine, world, entries, rng)
    _feed(engine, world, _finish_transfers(engine, h), rng)
    want = brute_force(h)
    assert_same(rollups(engine), want)
    with engine.begin() as conn:  # no inbox left, nothing counted twice on a redelivery
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(model.report_inbox)).scalar() == 0
        )

    # one local day rebuilt, then every day: the same figures
    zone = ZoneInfo(h["zone"])
    day = h["anchor"].astimezone(zone).date()
    rebuild.rebuild(engine, day, day, h["zone"], SHORT)
    assert_same(rollups(engine), want)
    first, last = day - dt.timedelta(days=2), day + dt.timedelta(days=2)
    rebuild.rebuild(engine, first, last, h["zone"], SHORT)
    assert_same(rollups(engine), want)


def test_a_redelivered_inbox_row_counts_once_and_a_crash_loses_nothing(engine: sa.Engine) -> None:
    """A drain that dies before its commit leaves the inbox and the rollups as they were;
    the next drain counts the call once."""
    started = dt.datetime(2026, 3, 8, 6, 50, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            model.calls.insert().values(
                id=1,
                uniqueid="u",
                linkedid="u",
                direction="inbound",
                started_at=started,
                ended_at=started + dt.timedelta(minutes=5),
                entry_queue_id=1,
                queue_id=1,
                queued_at=started + dt.timedelta(seconds=30),
                queue_outcome="answered",
                wait_ms=8000,
                agent_id=1,
                agent_answered_at=started + dt.timedelta(seconds=38),
                talk_ms=120_000,
            )
        )
        rdb.inbox_add(conn, rdb.CALL, 1)
        world = rdb.load_world(conn, "America/New_York", SHORT)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert maintainer.drain_batch(conn, world).drained == 1
        raise RuntimeError("killed")
    assert rollups(engine) == {}
    with engine.begin() as conn:
        assert maintainer.drain_batch(conn, world).drained == 1
    with engine.begin() as conn:
        assert maintainer.drain_batch(conn, world).drained == 0
    got = rollups(engine)
    center = got[("report_traffic", "day", 20260308, "center", "")]
    assert (center["calls"], center["offered"], center["answered"], center["answered_in_sl"]) == (
        1,
        1,
        1,
        1,
    )
    assert center["talk_s"] == 120.0 and center["wait_answered_s"] == 8.0
    # 01:50 EST, and the queue entry at 01:50:30: the local hour 01:00 (06:00 UTC)
    hour = int(dt.datetime(2026, 3, 8, 6, tzinfo=UTC).timestamp())
    assert got[("report_traffic", "hour", hour, "queue", "1")]["answered"] == 1
