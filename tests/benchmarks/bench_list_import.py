"""A million-row call list: the import's reader speed and memory, and the whole import.

``list import rows/s``: acd/dialer/list_import.read_rows over a 1,000,000-row CSV (header
detection, number normalisation, zones, fields), against the csv module alone splitting
the same file (the floor any reader pays). ``list import memory``: how much the process's
peak RSS grew while the reader ran, against the file's size (a reader that held the file
would grow by about that much, times Python's overhead). ``list import to SQLite rows/s``:
ImportJob end to end (batches of 1000 merged into a SQLite file), against the reader alone.
"""

from __future__ import annotations

import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.harness import Result

ROWS = 1_000_000


def _write(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        f.write("phone,姓名,city,note\n")
        for start in range(0, rows, 10_000):
            f.write(
                "".join(
                    f"+86 138{i:08d},客户{i},北京,note {i % 97}\n"
                    for i in range(start, min(rows, start + 10_000))
                )
            )


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Linux: the peak RSS (VmHWM) starts again from the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def run() -> list[Result]:
    from acd.dialer.list_import import GoodRow, ImportJob, read_rows
    from appliance.db.lead_import_store import EngineSink
    from tests.support.inline_db import migrated_sqlite
    from tests.support.lead_lists import make_campaign

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-lists-"))
    path = tmp / "million.csv"
    _write(path, ROWS)
    size_mb = path.stat().st_size / 2**20

    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as f:
        split = sum(1 for _ in csv.reader(f)) - 1
    csv_rate = split / (time.perf_counter() - start)

    _reset_peak()
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    good = 0
    with path.open("rb") as f:
        for row in read_rows(f):
            good += isinstance(row, GoodRow)
    reader_rate = good / (time.perf_counter() - start)
    grown = _status_mb("VmHWM") - before
    assert good == ROWS, good

    from appliance.db.engine import create_engine

    engine = create_engine(migrated_sqlite(tmp / "bench.sqlite"))
    campaign = make_campaign(engine)
    start = time.perf_counter()
    result = ImportJob(path, EngineSink(engine), campaign_id=campaign).run()
    import_rate = result.rows_ok / (time.perf_counter() - start)
    assert (result.state, result.inserted) == ("done", ROWS), result
    engine.dispose()
    print(
        f"reader {reader_rate:,.0f} rows/s, csv alone {csv_rate:,.0f} rows/s, import"
        f" {import_rate:,.0f} rows/s, RSS grew {grown:.1f} MB reading {size_mb:.0f} MB",
        file=sys.stderr,
    )
    return [
        Result(
            "list import rows/s",
            reader_rate,
            "rows/s",
            "csv module alone, same file",
            csv_rate,
            better="higher",
        ),
        Result(
            "list import memory",
            grown,
            "MB",
            f"the file ({ROWS:,} rows)",
            size_mb,
            better="lower",
            note="peak RSS growth while reading a million rows",
        ),
        Result(
            "list import to SQLite rows/s",
            import_rate,
            "rows/s",
            "the reader alone",
            reader_rate,
            better="higher",
        ),
    ]
