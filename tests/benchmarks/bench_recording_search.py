"""Searching 1,000,000 recordings: ``db.recording_search.search`` pages on a migrated SQLite
database (the appliance's default), median and p95 ms per page for each kind of filter,
against a same-run baseline: a page of 50 rows fetched by primary key through the same
connector. Goal: every page under 100 ms.

The database is built once per run in a temp dir: the schema by the migrations, then the
rows with executemany in one transaction (the recordings indexes dropped while loading and
created again after, as a bulk load does), in time order as a real appliance fills it, with
a year's spread of business-hours calls over 200 agents, 20 queues, 120 trunk channels,
300,000 callers (a few very frequent), log-normal durations and a QA score on one in twenty.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import migrate, model
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from appliance.db.recording_search import RecordingQuery
from appliance.db.recording_store import recording_row
from tests.benchmarks.harness import Result, call_ms

ROWS = 1_000_000
AGENTS, QUEUES, CHANNELS, CALLERS, DIDS = 200, 20, 120, 300_000, 50
FIRST_DAY = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
DAYS = 365
ROUNDS = 25  # pages per filter, each with other values (another agent, day, caller)
COLUMNS = (
    "id, call_id, path, started_at, duration_ms, size_bytes, sha256, format, agent_id, "
    "queue_id, direction, caller_number, caller_name, called_number, trunk, channel_number, "
    "reason, talk_over_ratio, silence_ratio, caller_talk_ratio, agent_talk_ratio, "
    "legs_mismatch_ms, peaks, paused_ms, encrypted, archived_at, qa_score"
)


def _rows(rng: np.random.Generator) -> Iterator[tuple[Any, ...]]:
    """Every recordings row, column by column in COLUMNS' order."""
    n = ROWS
    # business hours (8:00-20:00 UTC+8 as the appliance's site) every day of a year
    day = np.sort(rng.integers(0, DAYS, n))
    second = rng.integers(0, 12 * 3600, n) + 8 * 3600
    order = np.lexsort((second, day))
    day, second = day[order], second[order]
    duration = np.clip(rng.lognormal(np.log(180_000), 0.8, n), 5_000, 4 * 3600_000).astype(int)
    agent = rng.integers(1, AGENTS + 1, n)
    queue = rng.integers(1, QUEUES + 1, n)
    channel = np.where(rng.random(n) < 0.6, rng.integers(1, CHANNELS + 1, n), 0)
    # a Zipf-like spread: some numbers call every day, most once
    caller = np.minimum(rng.zipf(1.3, n), CALLERS)
    did = rng.integers(0, DIDS, n)
    talk_over = np.where(rng.random(n) < 0.6, rng.uniform(0, 0.15, n), 0.0)
    silence = rng.uniform(0.05, 0.4, n)
    scored = rng.random(n) < 0.05
    score = rng.uniform(40, 100, n)
    # the player's 200 waveform points: quiet between words, loud in them
    quiet = rng.random((16, 200)) < 0.4
    points = np.where(quiet, rng.integers(20, 400, (16, 200)), rng.integers(1000, 24000, (16, 200)))
    peaks = [json.dumps(p.tolist()) for p in points]
    base = np.datetime64("2025-12-01T00:00:00", "s")
    starts = base + (day * 86400 + second).astype("timedelta64[s]")
    started = np.char.replace(np.datetime_as_string(starts.astype("datetime64[us]")), "T", " ")
    ids = np.arange(1, n + 1)
    paths = np.char.add(
        np.char.add(np.char.replace(np.datetime_as_string(starts, unit="D"), "-", "/"), "/"),
        np.char.add(ids.astype(str), ".wav"),
    )
    callers = np.char.add("138", np.char.zfill(caller.astype(str), 8))
    dids = np.char.add("4008", np.char.zfill(did.astype(str), 4))
    left = np.round(rng.uniform(0.2, 0.6, n), 4)
    agent_talk = np.round(np.clip(1 - silence - left + talk_over, 0, 1), 4)
    agents: list[int | None] = agent.tolist()
    agents[::50] = [None] * len(agents[::50])  # a few calls never reached an agent
    channels = [c or None for c in channel.tolist()]
    trunks = ["trunk1" if c else "" for c in channels]
    scores = [
        round(x, 1) if k else None for x, k in zip(score.tolist(), scored.tolist(), strict=True)
    ]
    sha = "ab" * 32
    return zip(
        ids.tolist(),
        repeat(None),
        paths.tolist(),
        started.tolist(),
        duration.tolist(),
        (44 + duration * 32).tolist(),
        repeat(sha),
        repeat("wav"),
        agents,
        queue.tolist(),
        repeat("inbound"),
        callers.tolist(),
        repeat(""),
        dids.tolist(),
        trunks,
        channels,
        repeat("policy"),
        np.round(talk_over, 4).tolist(),
        np.round(silence, 4).tolist(),
        left.tolist(),
        agent_talk.tolist(),
        repeat(0),
        (peaks[i % len(peaks)] for i in range(n)),
        repeat(0),
        repeat(0),
        repeat(None),
        scores,
    )


def build(path: Path) -> tuple[float, float]:
    """The migrated database with ROWS recordings; returns the seconds the rows took to
    load, and the whole build with the indexes."""
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(model.agents),
            [
                {"id": i, "number": f"{1000 + i}", "name": f"Agent {i}", "created_at": FIRST_DAY}
                for i in range(1, AGENTS + 1)
            ],
        )
        conn.execute(
            sa.insert(model.queues),
            [{"id": i, "name": f"queue{i}", "created_at": FIRST_DAY} for i in range(1, QUEUES + 1)],
        )
    engine.dispose()
    start = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    # a bulk load: no journal (WAL would write every page twice), sorts in memory
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-262144")
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute("BEGIN")
    indexes = [
        sql
        for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recordings' "
            "AND sql IS NOT NULL"
        )
    ]
    for sql in indexes:
        db.execute("DROP INDEX " + sql.split()[2])
    marks = ", ".join("?" * len(COLUMNS.split(",")))
    insert = f"INSERT INTO recordings ({COLUMNS}) VALUES ({marks})"  # noqa: S608 (constants)
    db.executemany(insert, _rows(np.random.default_rng(6)))
    loaded = time.perf_counter()
    for sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")  # as the appliance runs it
    db.close()
    return loaded - start, time.perf_counter() - start


def timed(fn: Callable[[], object], rounds: int = ROUNDS) -> tuple[float, float]:
    """Median and p95 milliseconds of ``fn`` over ``rounds`` calls (after one warm-up)."""
    ms = call_ms(fn, rounds)
    return statistics.median(ms), statistics.quantiles(ms, n=20)[-1]


def run() -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-search-"))
    try:
        path = tmp / "ccbox.sqlite"
        load_s, build_s = build(path)
        connector = DBConnector(None, f"sqlite:///{path}", inline=True)  # type: ignore[arg-type]
        resolved(connector.startService())
        try:
            return _measure(connector, load_s, build_s)
        finally:
            resolved(connector.stopService())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(db: DBConnector, load_s: float, build_s: float) -> list[Result]:
    rng = np.random.default_rng(7)
    r = model.recordings

    def pk_page() -> object:
        first = int(rng.integers(1, ROWS - 50))
        q = sa.select(r).where(r.c.id >= first).order_by(r.c.id).limit(50)
        rows = resolved(db.run(lambda conn: [recording_row(x) for x in conn.execute(q)]))
        assert len(rows) == 50
        return rows

    def day() -> dt.datetime:
        return FIRST_DAY + dt.timedelta(days=int(rng.integers(0, DAYS - 31)))

    def week() -> RecordingQuery:
        start = day()
        return RecordingQuery(start=start, end=start + dt.timedelta(days=7))

    def agent_month() -> RecordingQuery:
        start = day()
        agent = int(rng.integers(1, AGENTS + 1))
        return RecordingQuery(start=start, end=start + dt.timedelta(days=30), agent_id=agent)

    def caller() -> RecordingQuery:
        # half a frequent caller (thousands of rows), half one heard from once or twice
        rank = int(rng.integers(1, 20)) if rng.random() < 0.5 else int(rng.integers(1000, 5000))
        return RecordingQuery(caller=f"138{rank:08d}")

    def channel() -> RecordingQuery:
        return RecordingQuery(channel_number=int(rng.integers(1, CHANNELS + 1)))

    def long_talk_over() -> RecordingQuery:
        minutes = int(rng.integers(5, 30))
        return RecordingQuery(min_duration_ms=minutes * 60_000, talk_over=True)

    def with_talk_over() -> RecordingQuery:
        return RecordingQuery(talk_over=True)

    def by_score() -> RecordingQuery:
        return RecordingQuery(sort="qa_score", descending=bool(rng.random() < 0.5))

    def deep_page() -> RecordingQuery:
        start = day()
        end = start + dt.timedelta(days=30)
        return RecordingQuery(start=start, end=end, offset=int(rng.integers(1, 100)) * 50)

    filters: list[tuple[str, Callable[[], RecordingQuery]]] = [
        ("time range", week),
        ("agent + range", agent_month),
        ("caller", caller),
        ("channel", channel),
        ("duration + talk-over", long_talk_over),
        ("talk-over only", with_talk_over),
        ("score sort", by_score),
        ("range, page 2-100", deep_page),
    ]

    def page(make: Callable[[], RecordingQuery]) -> Callable[[], object]:
        def one() -> object:
            result = resolved(db.recording_search.search(make()))
            assert result.rows or make is caller
            return result

        return one

    base, base_p95 = timed(pk_page)
    baseline = "primary-key page of 50"
    results = [
        # the whole build (rows, then the indexes) against loading the rows alone
        Result(
            "recording search db build",
            ROWS / build_s,
            "rows/s",
            "rows only",
            ROWS / load_s,
            better="higher",
        ),
    ]
    for name, make in filters:
        median, p95 = timed(page(make))
        results.append(
            Result(f"recording search {name}", median, "ms/page", baseline, base, better="lower")
        )
        results.append(
            Result(
                f"recording search {name} p95",
                p95,
                "ms/page",
                baseline + " p95",
                base_p95,
                better="lower",
            )
        )
    return results
