"""Reports over a year of a 300-agent center: 10,000,000 calls of synthetic history
(appliance/reports/synthetic.py; ``CCBOX_BENCH_REPORT_CALLS`` shrinks it for a trial).

- ``reports history load``: rows a second that synthetic.load writes, generation included,
  every row a call leaves (calls, call events, agents' states, recordings, QA scores,
  voicemails), a bulk load (indexes built after, counted); against the same rows written
  by SQLAlchemy Core executemany with the indexes in place.
- ``reports daily 10M`` / ``reports history 10M``: a day's traffic report and the
  whole-history dashboard (the traffic report over the year) by the catalog
  (``catalog.build_report_in``), median ms; each against the same figures by a plain
  aggregate over the raw calls table (a day: the started_at index; the history: a scan).
  The ``postgresql`` twins on a private server (scripts/test-postgres.sh).
- ``reports rollup maintenance``: % of one core the maintainer takes at 20,000 calls an
  hour: an hour of a busy center's rows written into the inbox as the stores write them,
  5 s at a time on a driven clock, the maintainer (ReportMaintainer, the daemon's) draining
  them; its thread CPU time over the hour's 3600 s. Baseline: the same CPU share of
  writing those rows.

How the year is made (the whole year's rebuild would take longer than a bench may): the
raw calls rows of the whole year (calls only, loaded on both databases from one
generation); the rollups are those the real rebuild makes of one full-detail week of the
same center (the load above), repeated for each week of the year, months recomputed from
their days. So the rollups have a year's rows at the center's density, and the raw table
the year's 10M calls.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from twisted.internet import task

from appliance.cli import resolved
from appliance.config import ReportsConfig
from appliance.db import migrate, model
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from appliance.reports import catalog, rebuild
from appliance.reports import rollup_db as rdb
from appliance.reports import synthetic as syn
from appliance.reports.maintainer import ReportMaintainer
from appliance.reports.ranges import ReportRange
from tests.benchmarks.harness import Result, call_ms

ROOT = Path(__file__).resolve().parents[2]
CALLS = int(os.environ.get("CCBOX_BENCH_REPORT_CALLS", "10000000"))
ZONE = "Asia/Shanghai"
FIRST = dt.date(2025, 12, 1)  # a Monday
DAYS = 365
WEEK_DAYS = 7  # the full-detail week the rollups are rebuilt from
AGENTS, TEAMS = 300, 6
MEAN_WEEKDAY = sum(syn.WEEK) / 7
ROUNDS = 25
HOUR_CALLS = 20_000  # the maintenance bench's hour
SETTINGS = ReportsConfig(timezone=ZONE)


def center(calls_per_year: float, agents: int = AGENTS, talk_s: float = 170.0) -> syn.Center:
    per = agents // TEAMS
    teams = tuple(
        syn.Team(
            q + 1,
            f"queue{q + 1}",
            tuple(range(1 + q * per, 1 + (q + 1) * per)),
            talk_s=talk_s,
            mailbox="801" if q == 0 else "",
        )
        for q in range(TEAMS)
    )
    return syn.demo_center_of(
        teams,
        zone=ZONE,
        calls_per_day=calls_per_year / DAYS / MEAN_WEEKDAY,
        dids=tuple(f"40088{k:05d}" for k in range(20)),
        flow_id=1,
        form_id=1,
        qa_items=(("greeting", 1), ("solved", 5)),
    )


def prepare(engine: Engine, agents: int = AGENTS) -> None:
    """The schema, and the center's agents, queues, flow and QA form."""
    migrate.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    per = agents // TEAMS
    with engine.begin() as conn:
        conn.execute(
            sa.insert(model.agents),
            [
                {
                    "id": i,
                    "number": str(10000 + i),
                    "name": f"Agent {i}",
                    "department": f"team{(i - 1) // per + 1}",
                    "created_at": now,
                }
                for i in range(1, agents + 1)
            ],
        )
        conn.execute(
            sa.insert(model.queues),
            [{"id": q, "name": f"queue{q}", "created_at": now} for q in range(1, TEAMS + 1)],
        )
        conn.execute(
            sa.insert(model.ivr_flows).values(id=1, name="main", graph="{}", updated_at=now)
        )
        conn.execute(
            sa.insert(model.qa_forms).values(id=1, name="review", definition="{}", created_at=now)
        )


@contextmanager
def postgresql() -> Iterator[str | None]:
    """A private PostgreSQL server's admin URL for the run (None: none could start)."""
    script = ROOT / "scripts" / "test-postgres.sh"
    proc = subprocess.run([str(script), "start"], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"bench_reports: no PostgreSQL ({proc.stderr.strip()[:200]})", flush=True)
        yield None
        return
    url = proc.stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([str(script), "stop", url], capture_output=True, text=True)


def pg_database(admin_url: str, name: str) -> str:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def say(text: str) -> None:
    print(f"bench_reports: {text}", flush=True)


# ---- the history load ---------------------------------------------------------------------


def history_load(tmp: Path, where: syn.Center) -> tuple[list[Result], Engine]:
    """A full-detail week loaded (the figure), its rollups rebuilt (the year's source);
    the baseline: two days by SQLAlchemy executemany, indexes in place."""
    engine = create_engine(f"sqlite:///{tmp / 'week.sqlite'}")
    prepare(engine)
    summary = syn.load(engine, where, FIRST, WEEK_DAYS, seed=1, bulk=True)
    say(
        f"history load: {summary.total_rows:,} rows ({summary.calls:,} calls) in "
        f"{summary.seconds:.1f} s: generate {summary.generate_s:.1f}, write "
        f"{summary.write_s:.1f}, indexes {summary.index_s:.1f}"
    )
    plain = create_engine(f"sqlite:///{tmp / 'plain.sqlite'}")
    prepare(plain)
    rows, started = 0, time.perf_counter()
    with plain.begin() as conn:
        for batch in syn.rows_of(where, FIRST, 2, seed=1):
            for table, values in batch.items():
                if values:
                    cols = syn.TABLES[table]
                    insert = sa.text(
                        f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608 (constants)
                        f"VALUES ({', '.join(':' + c for c in cols)})"
                    )
                    conn.execute(insert, [dict(zip(cols, v, strict=True)) for v in values])
                    rows += len(values)
    plain_rate = rows / (time.perf_counter() - started)
    plain.dispose()
    (tmp / "plain.sqlite").unlink()
    say(f"plain executemany: {rows:,} rows at {plain_rate:,.0f} rows/s")
    done = rebuild.rebuild(engine, FIRST, FIRST + dt.timedelta(days=WEEK_DAYS - 1), ZONE)
    say(
        f"rebuild of the week: {done.calls:,} calls, {done.rollup_rows:,} rollup rows in "
        f"{done.seconds:.1f} s ({done.calls / done.seconds:,.0f} calls/s)"
    )
    generated = summary.total_rows / summary.generate_s if summary.generate_s else 0.0
    result = Result(
        "reports history load",
        summary.rows_per_s,
        "rows/s",
        "SQLAlchemy executemany, indexes and foreign keys on",
        plain_rate,
        better="higher",
        note=(
            f"{summary.total_rows:,} rows of a week ({summary.calls:,} calls); generating "
            f"alone {generated:,.0f} rows/s; the rollups' rebuild of that week "
            f"{done.calls / done.seconds:,.0f} calls/s"
        ),
    )
    return [result], engine


# ---- the year -----------------------------------------------------------------------------


def load_year(engines: list[Engine], where: syn.Center) -> int:
    """The year's calls rows into every engine from one generation, indexes after."""
    raws = [e.raw_connection() for e in engines]
    pgs = [e.dialect.name == "postgresql" for e in engines]
    try:
        dbapis: list[Any] = [r.driver_connection for r in raws]
        for dbapi, pg in zip(dbapis, pgs, strict=True):
            if not pg:
                dbapi.isolation_level = None
                dbapi.execute("PRAGMA foreign_keys=OFF")
                dbapi.execute("PRAGMA journal_mode=MEMORY")
                dbapi.execute("PRAGMA synchronous=OFF")
                dbapi.execute("BEGIN")
            else:
                with dbapi.cursor() as cur:
                    cur.execute("SET session_replication_role = replica")  # no FK triggers
        indexes = [syn.drop_indexes(d, pg) for d, pg in zip(dbapis, pgs, strict=True)]
        gen = syn.Generator(where, FIRST, DAYS, seed=2, full=False)
        calls = 0
        for k, batch in enumerate(gen.batches()):
            only = {"calls": batch["calls"]}
            calls += len(batch["calls"])
            for dbapi, pg in zip(dbapis, pgs, strict=True):
                (syn.insert_postgresql if pg else syn.insert_sqlite)(dbapi, only)
            if k % 30 == 29:
                say(f"year: {k + 1} days, {calls:,} calls")
        for dbapi, pg, sqls in zip(dbapis, pgs, indexes, strict=True):
            syn.create_indexes(dbapi, pg, sqls)
            if pg:
                syn.advance_sequences(dbapi)
                dbapi.commit()
                with dbapi.cursor() as cur:
                    cur.execute("ANALYZE")
                dbapi.commit()
            else:
                dbapi.execute("COMMIT")
                dbapi.execute("PRAGMA journal_mode=WAL")
                dbapi.execute("ANALYZE")
        return calls
    finally:
        for r in raws:
            r.close()


def write_rows(dbapi: Any, pg: bool, name: str, cols: list[str], rows: list[Any]) -> int:
    """Rows into table ``name``: COPY on PostgreSQL, executemany on SQLite."""
    if pg:
        with dbapi.cursor() as cur, cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
    else:
        marks = ", ".join("?" * len(cols))
        sql = f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608
        dbapi.executemany(sql, rows)
    return len(rows)


def _day_plus(pg: bool, days: int) -> str:
    """SQL: the day key ``bucket`` (YYYYMMDD) moved by ``days`` days."""
    if pg:
        return (
            f"CAST(to_char(to_date(CAST(bucket AS text), 'YYYYMMDD') + {days}, 'YYYYMMDD') "
            "AS BIGINT)"
        )
    return (
        "CAST(strftime('%Y%m%d', printf('%04d-%02d-%02d', bucket / 10000, bucket / 100 % 100, "
        f"bucket % 100), '+{days} days') AS INTEGER)"
    )


def rollups_of_the_year(week: Engine, engines: list[Engine]) -> int:
    """The week's q15, hour and day rollup rows, copied into each database, then repeated
    there for every week of the year by INSERT .. SELECT (the q15/hour keys moved by whole
    weeks: the center's zone has no DST), then the months from their days."""
    zone = syn.ZoneInfo(ZONE)
    week_end = dt.datetime.combine(FIRST + dt.timedelta(days=7), dt.time(0), zone).timestamp()
    year_end = dt.datetime.combine(FIRST + dt.timedelta(days=DAYS), dt.time(0), zone).timestamp()
    last_week_day = int((FIRST + dt.timedelta(days=6)).strftime("%Y%m%d"))
    last_day = int((FIRST + dt.timedelta(days=DAYS - 1)).strftime("%Y%m%d"))
    months = {int((FIRST + dt.timedelta(days=k)).strftime("%Y%m")) for k in range(DAYS)}
    written = 0
    for name in rdb.ROLLUP_TABLES:
        t = model.metadata.tables[name]
        cols = [c.name for c in t.columns]
        with week.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.select(t).where(t.c.grain != "month"))]
        for engine in engines:
            pg = engine.dialect.name == "postgresql"
            raw = engine.raw_connection()
            try:
                dbapi: Any = raw.driver_connection
                write_rows(dbapi, pg, name, cols, rows)
                cur = dbapi.cursor()
                for k in range(1, DAYS // 7 + 1):
                    moved = [
                        f"CASE WHEN grain = 'day' THEN {_day_plus(pg, 7 * k)} "
                        f"ELSE bucket + {k * 7 * 86400} END"
                        if c == "bucket"
                        else c
                        for c in cols
                    ]
                    cur.execute(
                        f"INSERT INTO {name} ({', '.join(cols)}) "  # noqa: S608 (constants)
                        f"SELECT {', '.join(moved)} FROM {name} WHERE "
                        f"(grain = 'day' AND bucket <= {last_week_day}) OR "
                        f"(grain IN ('q15', 'hour') AND bucket < {week_end:.0f})"
                    )
                cur.execute(
                    f"DELETE FROM {name} WHERE (grain = 'day' AND bucket > {last_day}) OR "  # noqa: S608
                    f"(grain IN ('q15', 'hour') AND bucket >= {year_end:.0f})"
                )
                cur.execute(f"SELECT count(*) FROM {name}")  # noqa: S608 (constants)
                count = int(cur.fetchone()[0])
                cur.close()
                raw.commit()
            finally:
                raw.close()
        written += count
    for engine in engines:
        with engine.begin() as conn:
            rdb.months_from_days(conn, months)
    return written


# ---- the queries --------------------------------------------------------------------------


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median milliseconds of ``fn`` over ``rounds`` calls (after one warm-up)."""
    return statistics.median(call_ms(fn, rounds))


def raw_figures(conn: sa.Connection, lo: dt.datetime | None, hi: dt.datetime | None) -> Any:
    """A traffic report's figures straight from the calls rows (the baseline)."""
    c = model.calls.c
    answered = c.queue_outcome == "answered"
    q = sa.select(
        sa.func.count(),
        sa.func.count(c.queue_outcome),
        sa.func.sum(sa.case((answered, 1), else_=0)),
        sa.func.sum(sa.case((c.queue_outcome == "abandoned", 1), else_=0)),
        sa.func.sum(sa.case((answered & (c.wait_ms <= 20000), 1), else_=0)),
        sa.func.sum(sa.case((answered, c.wait_ms), else_=0)),
        sa.func.max(c.wait_ms),
        sa.func.sum(c.talk_ms),
        sa.func.sum(c.hold_ms),
    )
    if lo is not None and hi is not None:
        q = q.where(c.started_at >= lo, c.started_at < hi)
    return conn.execute(q).one()


def measure(engine: Engine, label: str) -> list[Result]:
    suffix = "" if label == "sqlite" else f" {label}"
    days = [FIRST + dt.timedelta(days=7 * k + 2) for k in range(1, DAYS // 7 - 1)]
    pick = iter(days * 10)
    results = []
    with engine.connect() as conn:

        def daily() -> object:
            rng = ReportRange.parse("day", next(pick), zone=ZONE)
            report = catalog.build_report_in(conn, "traffic", rng, "center", "", SETTINGS)
            assert report.figures[0].value, report.figures[0]
            return report

        def daily_raw() -> object:
            rng = ReportRange.parse("day", next(pick), zone=ZONE)
            return raw_figures(conn, rng.start_utc, rng.end_utc)

        year = ReportRange.parse("custom", FIRST, FIRST + dt.timedelta(days=DAYS), zone=ZONE)

        def history() -> object:
            return catalog.build_report_in(conn, "traffic", year, "center", "", SETTINGS)

        def history_raw() -> object:
            return raw_figures(conn, None, None)

        base = timed(daily_raw, ROUNDS)
        value = timed(daily, ROUNDS)
        results.append(
            Result(
                f"reports daily 10M{suffix}",
                value,
                "ms",
                "the day's figures by an aggregate of the raw calls rows (started_at index)",
                base,
                better="lower",
                note=f"goal under 10 ms; {label}",
            )
        )
        base = timed(history_raw, 3)
        value = timed(history, 9)
        results.append(
            Result(
                f"reports history 10M{suffix}",
                value,
                "ms",
                "the year's figures by an aggregate scan of the raw calls rows",
                base,
                better="lower",
                note=f"goal under 200 ms; {label}",
            )
        )
    say(
        f"{label}: "
        + "; ".join(f"{r.name} {r.value:.1f} ms vs {r.baseline_value:.1f}" for r in results)
    )
    return results


# ---- rollup maintenance -------------------------------------------------------------------


def maintenance(tmp: Path) -> Result:
    """An hour of HOUR_CALLS calls' rows fed through the inbox, drained every 5 s."""
    agents = 1200  # 20,000 calls an hour need a big center (or short calls)
    ten = (syn.SHAPE[20] + syn.SHAPE[21]) / sum(syn.SHAPE)  # 10:00-11:00's share of a day
    per_day = HOUR_CALLS / ten / syn.WEEK[1]
    where = center(per_day * DAYS * MEAN_WEEKDAY, agents=agents, talk_s=60.0)
    engine = create_engine(f"sqlite:///{tmp / 'hour.sqlite'}")
    prepare(engine, agents)
    day = FIRST + dt.timedelta(days=1)  # a Tuesday
    batch = next(iter(syn.rows_of(where, day, 1, seed=3)))
    zone = syn.ZoneInfo(ZONE)
    start = dt.datetime.combine(day, dt.time(10), zone).astimezone(dt.UTC)
    # when each row is written (so counted): a call when it ends, a recording after it
    moment = {
        "calls": "ended_at",
        "call_events": "at",
        "agent_events": "at",
        "recordings": "started_at",
        "qa_evaluations": "created_at",
        "voicemails": "received_at",
        "callbacks": "requested_at",
    }
    kinds = {
        "calls": rdb.CALL,
        "agent_events": rdb.AGENT_EVENT,
        "recordings": rdb.RECORDING,
        "qa_evaluations": rdb.QA,
        "voicemails": rdb.VOICEMAIL,
        "callbacks": rdb.CALLBACK,
    }

    def text(at: dt.datetime) -> str:
        return at.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    # everything before the hour is there already (and counted: not in the inbox)
    before: dict[str, list[tuple[Any, ...]]] = {}
    windows: list[dict[str, list[tuple[Any, ...]]]] = [{} for _ in range(720)]
    for table, rows in batch.items():
        i = syn.TABLES[table].index(moment[table])
        for row in rows:
            at = row[i]
            if at < text(start):
                before.setdefault(table, []).append(row)
            elif at < text(start + dt.timedelta(hours=1)):
                k = int(
                    (dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC) - start).total_seconds()
                    // 5
                )
                windows[k].setdefault(table, []).append(row)
    raw = engine.raw_connection()
    dbapi: Any = raw.driver_connection
    # a calls row is there from the call's start (the events point at it); written here at
    # its end with its final values, so this writer checks no foreign keys
    raw.commit()
    dbapi.execute("PRAGMA foreign_keys=OFF")
    syn.insert_sqlite(dbapi, before)
    raw.commit()
    db = DBConnector(None, f"sqlite:///{tmp / 'hour.sqlite'}", inline=True)  # type: ignore[arg-type]
    resolved(db.startService())
    clock = task.Clock()
    keeper = ReportMaintainer(db, clock, ZONE)
    keeper.startService()
    calls = writing = 0.0
    try:
        for window in windows:
            started = time.thread_time()
            syn.insert_sqlite(dbapi, window)
            inbox = [
                (kinds[table], row[0])
                for table, rows in window.items()
                if table in kinds
                for row in rows
            ]
            dbapi.executemany("INSERT INTO report_inbox (kind, row_id) VALUES (?, ?)", inbox)
            raw.commit()
            writing += time.thread_time() - started
            calls += len(window.get("calls", ()))
            clock.advance(5)
        last = keeper.stopService()
        if last is not None:
            resolved(last)
    finally:
        raw.close()
        resolved(db.stopService())
        engine.dispose()
    share = keeper.cpu_s / 3600 * 100 * HOUR_CALLS / max(calls, 1)
    say(
        f"maintenance: {calls:,.0f} calls in the hour, {keeper.drained:,} inbox rows, "
        f"{keeper.cpu_s:.2f} s CPU draining, {writing:.2f} s writing them"
    )
    return Result(
        "reports rollup maintenance",
        share,
        "% of a core",
        "writing the hour's rows and inbox entries",
        writing / 3600 * 100 * HOUR_CALLS / max(calls, 1),
        better="lower",
        note=(
            f"goal under 1%; {calls:,.0f} calls in the hour (scaled to {HOUR_CALLS:,}), "
            f"{keeper.drained:,} inbox rows drained every 5 s of a driven clock"
        ),
    )


def run() -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-reports-"))
    started = time.perf_counter()
    try:
        where = center(CALLS)
        results, week = history_load(tmp, where)
        with postgresql() as admin:
            engines = [create_engine(f"sqlite:///{tmp / 'year.sqlite'}")]
            if admin is not None:
                engines.append(create_engine(pg_database(admin, "ccbox_bench_reports")))
            for engine in engines:
                prepare(engine)
            calls = load_year(engines, where)
            say(f"year: {calls:,} calls loaded ({time.perf_counter() - started:.0f} s so far)")
            rows = rollups_of_the_year(week, engines)
            say(f"year: {rows:,} rollup rows ({time.perf_counter() - started:.0f} s so far)")
            for engine in engines:
                results += measure(engine, engine.dialect.name)
                engine.dispose()
        week.dispose()
        results.append(maintenance(tmp))
        say(f"done in {time.perf_counter() - started:.0f} s")
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
