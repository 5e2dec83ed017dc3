"""Legs left behind under ``<recording root>/legs/``: a call whose merge failed (the disk
was full, the daemon stopped or crashed before the call ended) leaves its two G.711 legs
there and no index row. The recorder looks for them now and then (``find``, blocking: run
it in a pool) and merges and indexes them late, or removes them when they were never meant
to be kept; nothing recorded is lost and nothing stays unindexed (unsearchable, missed by
retention and deletion by number) for long.

Only legs no one has written for a while are listed: a leg still growing belongs to a call
that is still going on.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from recorder.capture import Capture

# capture.plan's names: legs/YYYY/MM/DD/call<id>[-<uniqueid>]-{rx,tx}.{ulaw,alaw}
LEG = re.compile(r"(call(\d{1,12})(?:-[0-9A-Za-z._-]{1,64})?)-(rx|tx)\.(ulaw|alaw)")
DAY = re.compile(r"\d{4}/\d{2}/\d{2}")


@dataclass(frozen=True)
class Leftover:
    call_id: int
    plan: Capture  # started_at: when the newest leg was last written
    bytes: int  # both legs together


def find(root: Path, written_before: float, limit: int = 500) -> list[Leftover]:
    """The calls whose legs (one or both) have not been written since ``written_before``
    (a ``time.time()``), oldest folders first, at most ``limit``."""
    legs = root / "legs"
    found: dict[Path, tuple[int, list[os.stat_result]]] = {}
    for path in sorted(legs.glob("[0-9]*/[0-9]*/[0-9]*/call*")):
        m = LEG.fullmatch(path.name)
        day = path.parent.relative_to(legs).as_posix()
        if m is None or not DAY.fullmatch(day) or path.is_symlink():
            continue
        try:
            st = path.stat()
        except OSError:
            continue  # removed meanwhile
        stem = path.parent / f"{m.group(1)}.{m.group(4)}"
        found.setdefault(stem, (int(m.group(2)), []))[1].append(st)
    out: list[Leftover] = []
    for stem, (call_id, stats) in found.items():
        newest = max(st.st_mtime for st in stats)
        if newest >= written_before:
            continue
        name, law = stem.stem, stem.suffix.lstrip(".")
        day = stem.parent.relative_to(legs).as_posix()
        plan = Capture(
            dt.datetime.fromtimestamp(newest, dt.UTC),
            stem.parent / f"{name}-rx.{law}",
            stem.parent / f"{name}-tx.{law}",
            stem.parent / f"{name}-mix.wav",
            f"{day}/{name}.wav",
        )
        out.append(Leftover(call_id, plan, sum(st.st_size for st in stats)))
        if len(out) >= limit:
            break
    return out
