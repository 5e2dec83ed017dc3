"""The screen pop's customer lookup with 1,000,000 customers and 3,000,000 numbers
(``CCBOX_BENCH_CUSTOMERS`` shrinks it for a trial): ``CustomerStore.by_number`` as the desk
and the IVR call it, through the daemon's database connector (its thread pool, the
reactor's thread hop), a caller ID in any format each time (``+86 138...``, ``0086...``,
``0138...``, landlines with their area code, one in ten a number no customer has).

- ``screen pop p99``: the 99th percentile of one lookup, milliseconds (goal under 2 ms),
  against the old lookup in the same run: ``customers.number`` equality on its index (one
  number per customer, typed exactly as stored; migration 0011 dropped that column, so the
  bench adds it back for the comparison), through the same connector. The
  ``postgresql`` twin on a private server (scripts/test-postgres.sh) when one starts.

The database is built once per run in a temp dir: the schema by the migrations, then the
rows in bulk (executemany on SQLite, COPY on PostgreSQL; the lookup index dropped while
loading and built after, as a bulk load does): each customer a mobile, a landline and a
second mobile, numbers spread at random over the ids.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from twisted.internet import defer, task

from appliance.crm.customer_store import CustomerStore
from appliance.db import migrate, model
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from tests.benchmarks.bench_reports import pg_database, postgresql
from tests.benchmarks.harness import Result

CUSTOMERS = int(os.environ.get("CCBOX_BENCH_CUSTOMERS", "1000000"))
LOOKUPS = 5000
MISS_EVERY = 10  # one lookup in ten is a number no customer has
CREATED = "2026-01-01 00:00:00.000000"
SEED = 18


def say(text: str) -> None:
    print(f"bench_crm: {text}", flush=True)


def numbers(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each customer's three numbers as stored (normal form): mobile, landline, mobile;
    unique, in an order unrelated to the ids."""
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(n)
    mobile = np.char.add("139", np.char.zfill(perm.astype(str), 8))
    landline = np.char.add("010", np.char.zfill(perm.astype(str), 8))
    second = np.char.add("+86158", np.char.zfill(perm.astype(str), 8))
    return mobile, landline, second


def key_of(stored: str) -> str:
    """The lookup key of the numbers made here (match_key, by hand for speed)."""
    if stored.startswith("+86"):
        return stored[3:]
    return stored[1:] if stored.startswith("0") else stored


def customer_rows(mobile: np.ndarray) -> Iterator[tuple[Any, ...]]:
    for i, m in enumerate(mobile.tolist(), start=1):
        yield (i, m, f"A{i:08d}", f"Customer {i}", "vip" if i % 50 == 0 else "normal", CREATED)


def number_rows(cols: tuple[np.ndarray, ...]) -> Iterator[tuple[Any, ...]]:
    """(id, customer_id, number, match) in customer order (the unique index appends)."""
    lists = [c.tolist() for c in cols]
    row = 0
    for i in range(len(lists[0])):
        for col in lists:
            row += 1
            yield (row, i + 1, col[i], key_of(col[i]))


CUSTOMER_COLUMNS = "id, number, account, name, customer_class, created_at"
NUMBER_COLUMNS = "id, customer_id, number, match"


def load(engine: sa.Engine, cols: tuple[np.ndarray, ...]) -> float:
    """The customers and their numbers in bulk; seconds taken (indexes included)."""
    migrate.upgrade(engine)
    with engine.begin() as conn:  # the old schema's column, for the old lookup (0011 drops it)
        conn.execute(
            sa.text("ALTER TABLE customers ADD COLUMN number VARCHAR(32) NOT NULL DEFAULT ''")
        )
    start = time.perf_counter()
    pg = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("DROP INDEX ix_customer_numbers_match")
        if pg:
            with cur.copy(f"COPY customers ({CUSTOMER_COLUMNS}) FROM STDIN") as copy:
                for r in customer_rows(cols[0]):
                    copy.write_row(r)
            with cur.copy(f"COPY customer_numbers ({NUMBER_COLUMNS}) FROM STDIN") as copy:
                for r in number_rows(cols):
                    copy.write_row(r)
        else:
            cur.executemany(
                f"INSERT INTO customers ({CUSTOMER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",  # noqa: S608
                customer_rows(cols[0]),
            )
            cur.executemany(
                f"INSERT INTO customer_numbers ({NUMBER_COLUMNS}) VALUES (?, ?, ?, ?)",  # noqa: S608
                number_rows(cols),
            )
        cur.execute("CREATE INDEX ix_customer_numbers_match ON customer_numbers (match)")
        cur.execute("CREATE INDEX ix_customers_number ON customers (number)")
        if pg:
            cur.execute("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))")
            cur.execute(
                "SELECT setval('customer_numbers_id_seq', (SELECT max(id) FROM customer_numbers))"
            )
        raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def queries(cols: tuple[np.ndarray, ...], n: int) -> tuple[list[str], list[str]]:
    """``LOOKUPS`` caller IDs in the formats callers arrive in, and the old lookup's exact
    stored numbers (the first mobiles) for the same customers."""
    rng = np.random.default_rng(SEED + 1)
    picks = rng.integers(0, n, LOOKUPS).tolist()
    which = rng.integers(0, 3, LOOKUPS).tolist()
    style = rng.integers(0, 4, LOOKUPS).tolist()
    mobile = cols[0]
    raw, old = [], []
    for k, (i, w, s) in enumerate(zip(picks, which, style, strict=True)):
        stored = str(cols[w][i])
        key = key_of(stored)
        if k % MISS_EVERY == 0:
            key = "137" + key[3:] if key.startswith("1") else "21" + key[2:]  # no one's
        if key.startswith("10"):  # a Beijing landline
            shown = (f"(010) {key[2:6]} {key[6:]}", f"+86 10 {key[2:]}", "0" + key, key)[s]
        else:
            shown = (f"+86 {key[:3]} {key[3:7]} {key[7:]}", "0086" + key, "0" + key, key)[s]
        raw.append(shown)
        old.append(str(mobile[i]))
    return raw, old


def p99(ms: list[float]) -> float:
    return statistics.quantiles(ms, n=100)[98]


async def timed(reactor: Any, fn: Any, args: list[str]) -> list[float]:
    """Each call's milliseconds, one at a time as the screen pops come, after a warm-up."""
    for a in args[:200]:
        await fn(a)
    ms = []
    for a in args:
        start = time.perf_counter()
        await fn(a)
        ms.append((time.perf_counter() - start) * 1000)
    return ms


async def measure(
    reactor: Any, url: str, raw: list[str], old: list[str]
) -> tuple[list[float], list[float]]:
    """(the store's lookups' ms, the old lookup's ms) through a running connector."""
    db = DBConnector(reactor, url)
    await db.startService()
    try:
        store = CustomerStore(db)
        found = [await store.by_number(r) for r in raw[:1000]]
        hits = sum(c is not None for c in found)
        expected = sum(1 for k in range(1000) if k % MISS_EVERY)
        assert hits == expected, f"{hits} of {expected} found"
        c = model.customers
        old_number = sa.column("number", sa.String)  # not in the model since 0011

        def old_lookup(number: str) -> defer.Deferred[Any]:
            q = sa.select(c).where(old_number == number).order_by(c.c.id).limit(1)
            return db.run(lambda conn: conn.execute(q).first())

        new = await timed(reactor, store.by_number, raw)
        old_ms = await timed(reactor, old_lookup, old)
        return new, old_ms
    finally:
        await db.stopService()


def result(name: str, new: list[float], old_ms: list[float], load_s: float) -> Result:
    return Result(
        name,
        p99(new),
        "ms",
        "the old lookup (customers.number equality), p99",
        p99(old_ms),
        better="lower",
        note=(
            f"goal under 2 ms; {CUSTOMERS:,} customers, {3 * CUSTOMERS:,} numbers loaded in "
            f"{load_s:.0f} s; median {statistics.median(new):.3f} ms (old "
            f"{statistics.median(old_ms):.3f}); {LOOKUPS:,} lookups in any format, one in "
            f"{MISS_EVERY} a miss; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        ),
    )


def run() -> list[Result]:
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-crm-"))
    started = time.perf_counter()
    try:
        cols = numbers(CUSTOMERS)
        raw, old = queries(cols, CUSTOMERS)
        with postgresql() as admin:
            urls = [(" ", f"sqlite:///{tmp / 'crm.sqlite'}")]
            if admin is not None:
                urls.append((" postgresql", pg_database(admin, "ccbox_bench_crm")))
            loads = {}
            for suffix, url in urls:
                engine = create_engine(url)
                loads[suffix] = load(engine, cols)
                engine.dispose()
                say(f"{suffix.strip() or 'sqlite'}: loaded in {loads[suffix]:.0f} s")
            out: dict[str, tuple[list[float], list[float]]] = {}

            async def main(reactor: Any) -> None:
                for suffix, url in urls:
                    out[suffix] = await measure(reactor, url, raw, old)

            try:
                task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
            except SystemExit as exc:
                if exc.code:
                    raise
        say(f"done in {time.perf_counter() - started:.0f} s")
        return [
            result(f"screen pop p99{suffix.rstrip()}", *out[suffix], loads[suffix])
            for suffix, _url in urls
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
