"""``kill -9`` of ccboxd under load, and a new ccboxd on the same database.

The switch simulator runs in a process of its own (tests/support/sim_driver.py), so it
outlives the daemon as Asterisk does. At the kill: a caller in the IVR, one holding in the
queue, one talking to agent 1001, a callback ringing agent 1004's phone, agent 1002 in
wrap-up, 1003 paused. The new process must: keep 1003 paused, put 1001 back on its call,
let the ringing callback go on (one Originate in all: the customer is called once), close
the rows of the calls that went with the old process, take a new call at once; the SQLite
file passes ``PRAGMA integrity_check`` and the ACD's invariants hold.

(tests/integration/test_daemon_restart.py covers the single adopted call in detail.)
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from acd import invariants
from tests.support.daemon import running_daemon
from tests.support.fault_box import wait
from tests.support.live_box import LiveBox, SimProcess, seed_center, write_box_config

pytestmark = pytest.mark.integration

WRAPUP_S = 60  # 1002 is still in wrap-up at the kill
RING_TIMEOUT_S = 30
CALLBACK_RING_S = 8.0  # 1004's phone rings this long for the callback, across the kill
AGENT_RING_S = 5.0  # 1005's phone rings this long for a queued caller, across the kill
CUSTOMER = "13800000004"  # asked for a callback


def query(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, args)]


def calls(db: Path) -> dict[str, dict[str, Any]]:
    """The calls rows by caller number (the last row of a number)."""
    return {r["caller_number"]: r for r in query(db, "SELECT * FROM calls ORDER BY id")}


def call_events(db: Path, number: str) -> list[str]:
    row = calls(db).get(number)
    if row is None:
        return []
    sql = "SELECT kind FROM call_events WHERE call_id = ? ORDER BY at, id"
    return [r["kind"] for r in query(db, sql, row["id"])]


def integrity(db: Path) -> str:
    return str(query(db, "PRAGMA integrity_check")[0]["integrity_check"])


@dataclass
class Center:
    """The simulator and the successive daemons on one database."""

    tmp: Path
    stack: ExitStack
    config: Any = None
    sim: SimProcess | None = None
    ids: dict[str, int] = field(default_factory=dict)
    box: LiveBox | None = None
    runs: int = 0
    started_s: list[float] = field(default_factory=list)  # each daemon: start to AMI login

    @property
    def db(self) -> Path:
        return Path(self.config.database_url.removeprefix("sqlite:///"))

    def start_daemon(self) -> LiveBox:
        """A new ccboxd; returns once it has said READY=1 and logged in to the switch."""
        assert self.sim is not None
        self.runs += 1
        mark = len(self.sim.events)
        run_dir = self.tmp / f"run{self.runs}"
        run_dir.mkdir()
        started = time.monotonic()
        daemon = self.stack.enter_context(running_daemon(self.config.path, run_dir))
        self.box = LiveBox(self.config, daemon, self.sim, self.ids)
        self.sim.wait(lambda e: e["event"] == "ami_login", 30, "ccboxd's AMI login", mark)
        self.started_s.append(time.monotonic() - started)
        return self.box

    def kill(self) -> None:
        assert self.box is not None
        proc = self.box.daemon.proc
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL


@contextmanager
def center(tmp: Path, seed: Callable[[Any, dict[str, int]], None]) -> Iterator[Center]:
    """The seeded center (tests/support/live_box.py's) with the simulator running."""
    with ExitStack() as stack:
        c = Center(tmp, stack)
        c.config = write_box_config(tmp)
        from tests.support.appliance import migrate_and_seed

        def seed_all(db: Any) -> None:
            c.ids.update(seed_center(db))
            seed(db, c.ids)

        migrate_and_seed(c.config, seed_all)
        with closing(sqlite3.connect(c.db)) as conn, conn:
            conn.execute(
                "UPDATE queues SET wrapup_s = ?, ring_timeout_s = ?, callback_key = '5', "
                "announce_every_s = 0",
                (WRAPUP_S, RING_TIMEOUT_S),
            )
        c.sim = SimProcess(c.config.path, tmp / "simulator.log")
        stack.callback(c.sim.stop)
        c.sim.wait(lambda e: e["event"] == "listening", 30, "the simulator's AMI port")
        yield c


def busy_seed(db: Any, ids: dict[str, int]) -> None:
    """Agents 1004 and 1005 in support too (which gets a long wrap-up and ring, and
    callbacks); the queue "sales" (key 2 of the welcome menu) served by agent 1006 alone."""
    from appliance.cli import resolved

    for number, name in (("1004", "Wu Fang"), ("1005", "Sun Li")):
        agent = resolved(db.agents.add(number, name, "Support", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, ids["tech"], 5))
        ids[number] = agent.id
    sales = resolved(db.skills.add("sales", "Sales")).id
    agent = resolved(db.agents.add("1006", "Qian Yu", "Sales", "PJSIP/1006"))
    resolved(db.agents.set_skill(agent.id, sales, 5))
    ids["1006"] = agent.id
    ids["sales"] = resolved(db.queues.add("sales", "Sales", skills={sales: 3})).id


def agent_states(box: LiveBox) -> dict[str, tuple[str, str]]:
    snap = box.api("/api/acd/snapshot").json()
    return {a["number"]: (a["state"], a["reason"]) for a in snap["agents"]}


def check_invariants(box: LiveBox, ring_limit_s: float) -> list[str]:
    """acd/invariants.py's two rules, judged from outside: no agent rings past its limit,
    none is on a call while the switch has no channel of its phone."""
    states = box.api("/api/acd/snapshot").json()["agents"]
    live = {ch["name"].rsplit("-", 1)[0] for ch in box.channels()}
    wrong = []
    for a in states:
        if a["state"] == "ringing" and a["in_state_s"] > ring_limit_s + invariants.MARGIN_S:
            wrong.append(f"{a['number']} rings for {a['in_state_s']} s")
        if a["state"] == "on_call" and f"PJSIP/{a['number']}" not in live:
            wrong.append(f"{a['number']} on a call the switch does not have")
    return wrong


def callback_originates(box: LiveBox) -> list[dict[str, str]]:
    return [a for a in box.actions("Originate") if a.get("Context") == "ccbox-callback"]


def load_the_center(c: Center) -> dict[str, Any]:
    """Everything under way at once (see the module docstring); returns the calls."""
    box = c.start_daemon()
    box.devices(
        {
            "PJSIP/1001": {"ring_s": 0.2, "talk_s": 40},
            "PJSIP/1002": {"ring_s": 0.2, "talk_s": 0.5},
            "PJSIP/1004": {"ring_s": CALLBACK_RING_S, "talk_s": 30},
            "PJSIP/1005": {"ring_s": AGENT_RING_S, "talk_s": 3},
            "PJSIP/1006": {"ring_s": 0.2, "talk_s": 0.5},
            f"Local/{CUSTOMER}@ccbox-outbound": {"ring_s": 0.2, "talk_s": 1},
        }
    )
    db = c.db
    box.agents_login("1002")
    wrapped = box.call("13800000005", prompt_s=0.05)
    wait(lambda: agent_states(box)["1002"][0] == "wrap_up", "1002 in wrap-up")
    box.agents_login("1001", "1003", "1006")
    box.acd("pause", "1003", "lunch")
    talking = box.call("13800000001", prompt_s=0.05)
    wait(lambda: agent_states(box)["1001"][0] == "on_call", "1001 talking")
    asker = box.call(CUSTOMER, digits="5", prompt_s=0.05)
    box.wait_call_ended(asker)
    wait(lambda: query(db, "SELECT id FROM callbacks WHERE number = ?", CUSTOMER), "the callback")
    box.agents_login("1004")
    wait(lambda: callback_originates(box), "the callback's Originate")
    box.agents_login("1005")
    ringing = box.call("13800000007", prompt_s=0.05)
    wait(lambda: agent_states(box)["1005"][0] == "ringing", "1005 rung for a caller")
    holding = box.call("13800000003", prompt_s=0.05)
    wait(lambda: "queued" in call_events(db, "13800000003"), "the caller holding")
    in_ivr = box.call("13800000002", prompt_s=30)
    wait(lambda: "13800000002" in calls(db), "the caller in the IVR")
    return {
        "wrapped": wrapped,
        "talking": talking,
        "ringing": ringing,
        "holding": holding,
        "in_ivr": in_ivr,
    }


def status_ok(box: LiveBox) -> bool:
    r = box.api("/api/status")
    return r.status == 200 and r.json()["overall"] == "ok"


def recover(c: Center, number: str, agent: str) -> tuple[LiveBox, dict[str, Any], float]:
    """Start a new ccboxd; the seconds from its start to ``/api/status`` ok and a new call
    (from ``number``, to sales) offered to ``agent`` (ringing its phone)."""
    started = time.monotonic()
    box = c.start_daemon()
    wait(lambda: status_ok(box), "/api/status ok", 30)
    call = box.call(number, digits="2", prompt_s=0.05)  # sales, in the welcome menu
    wait(
        lambda: agent_states(box)[agent][0] in ("ringing", "on_call"),
        f"the new call offered to {agent}",
    )
    return box, call, time.monotonic() - started


def test_kill_9_under_load_then_a_new_daemon_reconciles_everything(tmp_path: Path) -> None:
    with center(tmp_path, busy_seed) as c:
        load_the_center(c)
        first = c.box
        assert first is not None
        states = agent_states(first)
        assert states == {
            "1001": ("on_call", ""),
            "1002": ("wrap_up", ""),
            "1003": ("paused", "lunch"),
            "1004": ("ringing", ""),
            "1005": ("ringing", ""),
            "1006": ("available", ""),
        }, states
        c.kill()
        db = c.db
        assert integrity(db) == "ok"
        [cb] = query(db, "SELECT * FROM callbacks")
        assert (cb["state"], cb["agent_id"]) == ("dialing", c.ids["1004"])
        open_before = {n for n, r in calls(db).items() if r["ended_at"] is None}
        assert open_before == {
            "13800000001",
            "13800000002",
            "13800000003",
            "13800000007",
        }, open_before

        # Ready again: /api/status ok and a new call (to sales) offered to 1006, free
        # before and after the kill.
        second, fresh, took = recover(c, "13800000006", "1006")
        assert took < 20, took  # the goal is 5 s: `make bench`, "recovery after kill"
        # Nobody else was offered a call: 1001 is back on its call (the switch has it),
        # 1002's wrap-up goes on, 1004's ringing callback and 1005's ring are left to ring.
        states = agent_states(second)
        assert states["1001"] == ("on_call", "reattached"), states
        assert states["1002"] == ("wrap_up", ""), states
        assert states["1003"] == ("paused", "lunch"), states
        assert states["1004"][0] in ("ringing", "on_call"), states
        assert states["1005"][0] in ("ringing", "on_call"), states
        wait(
            lambda: calls(db).get("13800000006", {}).get("agent_id") == c.ids["1006"],
            "the new call answered by 1006",
        )
        # The callback: 1004 answers the ring that began before the kill, the new process
        # runs its session and calls the customer; one Originate in all.
        wait(
            lambda: query(db, "SELECT state FROM callbacks")[0]["state"] == "done",
            "the callback done",
            CALLBACK_RING_S + 25,
        )
        [cb] = query(db, "SELECT * FROM callbacks")
        assert (cb["attempts"], cb["agent_id"]) == (1, c.ids["1004"])
        assert len(callback_originates(second)) == 1
        outbound = "SELECT disposition FROM calls WHERE direction = 'outbound'"
        wait(lambda: query(db, outbound) == [{"disposition": "completed"}], "its one row done")
        # The rows of the calls that went with the old process are closed; the talking
        # call is adopted, still open while it talks.
        rows = calls(db)

        def closed(number: str) -> bool:
            return calls(db)[number]["ended_at"] is not None

        for number in ("13800000002", "13800000003"):
            wait(partial(closed, number), f"{number}'s row closed")
            assert calls(db)[number]["disposition"] == "daemon_stopped"
        # The ring that outlived the kill: 1005 answers it and talks, then is free.
        wait(lambda: closed("13800000007"), "the rung caller's row closed", 20)
        rung = calls(db)["13800000007"]
        assert (rung["disposition"], rung["agent_id"]) == ("completed", c.ids["1005"]), rung
        assert 2000 < rung["talk_ms"] < 4500, rung
        wait(lambda: agent_states(second)["1005"] == ("available", ""), "1005 free again")
        sql = "SELECT state, reason FROM agent_events WHERE agent_id = ? ORDER BY at, id"
        after_kill = [tuple(r.values()) for r in query(db, sql, c.ids["1005"])][-3:]
        assert after_kill == [
            ("ringing", "reattached"),
            ("on_call", "reattached"),
            ("available", ""),
        ], after_kill
        assert "adopted" in call_events(db, "13800000001")
        assert rows["13800000001"]["ended_at"] is None
        assert check_invariants(second, RING_TIMEOUT_S) == []
        second.hangup(fresh)
        assert integrity(db) == "ok"
        log = second.daemon_log()
        assert "Traceback" not in log, log[-3000:]
        assert "ACD invariant broken" not in log, log[-3000:]
