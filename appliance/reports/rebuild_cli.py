"""``ccbox reports rebuild --from YYYY-MM-DD --to YYYY-MM-DD``: the command's arguments, its
progress bar (on a terminal; one final line otherwise) and its summary."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import TextIO

from sqlalchemy.engine import Engine

from appliance.reports import rebuild as rebuild_mod

MAX_DAYS = 36_600  # a century: a typo in a year, not a center's history


def local_date(text: str) -> dt.date:
    """An argparse type: a date as YYYY-MM-DD, said clearly when it is not one."""
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: use YYYY-MM-DD (a local day of the center)"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="first", required=True, type=local_date, help="the first local day"
    )
    parser.add_argument(
        "--to", dest="last", required=True, type=local_date, help="the last local day (included)"
    )


class Bar:
    """A progress bar redrawn in place on a terminal, at most every 0.2 s; silent elsewhere
    (the summary line says it all)."""

    def __init__(self, out: TextIO, label: str, tty: bool | None = None) -> None:
        self.out = out
        self.label = label
        self.tty = out.isatty() if tty is None else tty
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if done < total and now - self._drawn < 0.2:
            return
        self._drawn = now
        frac = done / total if total else 1.0
        width = 30
        filled = int(frac * width)
        rate = done / max(now - self.started, 1e-9)
        eta = (total - done) / rate if rate > 0 else 0.0
        self.out.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {frac * 100:5.1f}% "
            f"{done:,}/{total:,} calls {rate:,.0f}/s ETA {eta:4.0f}s "
        )
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def run(
    engine: Engine,
    first: dt.date,
    last: dt.date,
    zone: str,
    short_abandon_s: float,
    out: TextIO | None = None,
) -> rebuild_mod.RebuildResult:
    """Rebuild and print (to ``out``, else stdout): the bar on a terminal, then one summary
    line."""
    out = out if out is not None else sys.stdout
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise ValueError(f"{days} days is more than a century: check the years")
    bar = Bar(out, f"rebuilding {first}..{last} ({zone})")
    try:
        result = rebuild_mod.rebuild(engine, first, last, zone, short_abandon_s, bar)
    finally:
        bar.close()
    rate = result.calls / result.seconds if result.seconds > 0 else 0.0
    out.write(
        f"rebuilt {result.days} day(s) {first}..{last} in {zone}: {result.calls:,} calls, "
        f"{result.agent_events:,} agent states, {result.other_rows:,} other rows -> "
        f"{result.rollup_rows:,} rollup rows in {result.seconds:.1f} s ({rate:,.0f} calls/s)\n"
    )
    return result
