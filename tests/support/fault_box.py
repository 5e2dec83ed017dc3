"""A live box (tests/support/live_box.py: ccboxd and the simulator, each a process) whose
AMI can be cut and restored, and whose switch can lose every channel as in a restart; with
the probes the fault tests and the `recovery after AMI cut` bench read it by."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.support.live_box import LiveBox


def wait(predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll another process's state until ``predicate`` is true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _switch(box: LiveBox, cmd: str, done: str) -> None:
    mark = box.mark()
    box.sim.send({"cmd": cmd})
    box.sim.wait(lambda e: e["event"] == done, 10, done, mark)


def ami_down(box: LiveBox) -> None:
    """The switch's manager port closes and ccboxd's session drops (the calls go on)."""
    _switch(box, "ami_down", "ami_down")


def ami_up(box: LiveBox) -> None:
    _switch(box, "ami_up", "ami_up")


def hangup_all(box: LiveBox) -> None:
    """Every channel on the switch ends (send while AMI is down: ccboxd sees none of it)."""
    _switch(box, "hangup_all", "hung_up_all")


def ami_health(box: LiveBox) -> tuple[str, str]:
    """The ami part of /api/status: (state, detail)."""
    status = box.api("/api/status").json()
    part: dict[str, Any] = next((p for p in status["parts"] if p["name"] == "ami"), {})
    return part.get("state", ""), part.get("detail", "")


def database(box: LiveBox) -> Path:
    return Path(box.config.database_url.removeprefix("sqlite:///"))


def query(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, args)]


def rows_of(db: Path, number: str) -> list[dict[str, Any]]:
    return query(db, "SELECT * FROM calls WHERE caller_number = ? ORDER BY id", number)


def agent_states(box: LiveBox) -> dict[str, str]:
    snap = box.api("/api/acd/snapshot").json()
    return {a["number"]: a["state"] for a in snap["agents"]}


def answered_by(box: LiveBox, number: str, agent: str) -> bool:
    """The caller ``number``'s (one) row says agent ``agent`` answered it."""
    rows = rows_of(database(box), number)
    return (
        bool(rows)
        and rows[-1]["agent_id"] == box.ids[agent]
        and bool(rows[-1]["agent_answered_at"])
    )
