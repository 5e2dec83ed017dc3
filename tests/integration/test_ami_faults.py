"""ccboxd as a real process with Asterisk down at boot: the status tells the truth."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from appliance import config as config_mod
from tests.conftest import write_config
from tests.support.appliance import USERS, migrate_and_seed
from tests.support.daemon import running_daemon
from tests.support.fault_box import (
    agent_states,
    ami_down,
    ami_health,
    ami_up,
    answered_by,
    database,
    hangup_all,
    query,
    rows_of,
    wait,
)
from tests.support.http import Browser
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration


@contextmanager
def accept_then_close(port: int) -> Iterator[list[int]]:
    """A server on ``port`` that accepts each connection and closes it at once, saying
    nothing; yields the count of connections taken (a list of one int)."""
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(0.2)
    taken = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            taken[0] += 1
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield taken
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def wait_status(
    b: Browser, until: Callable[[dict[str, Any]], bool], timeout: float, what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = b.get("/api/status")
        assert r.status == 200, r.body
        last = r.json()
        if until(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s; /api/status said {last}")


def ami_part(status: dict[str, Any]) -> dict[str, Any]:
    return next((p for p in status["parts"] if p["name"] == "ami"), {})


def test_asterisk_down_at_boot_is_down_with_the_reason(tmp_path: Path) -> None:
    config = config_mod.load(write_config(tmp_path, switch=True))
    migrate_and_seed(config)
    port = config.ami.port  # nothing listens here
    with running_daemon(config.path, tmp_path) as daemon:
        b = Browser(config.web.port)
        assert b.login("admin", USERS["admin"][1]).status == 303
        refused = wait_status(
            b,
            lambda s: "connection refused" in ami_part(s).get("detail", ""),
            10,
            "ami: connection refused",
        )
        assert refused["overall"] == "down"
        assert ami_part(refused)["state"] == "down"
        assert ami_part(refused)["detail"] == f"connection refused (127.0.0.1:{port}); retrying"
        assert {p["name"]: p["state"] for p in refused["parts"]}["db"] == "ok"
        with accept_then_close(port) as taken:
            closed = wait_status(
                b,
                lambda s: "closed before the banner" in ami_part(s).get("detail", ""),
                20,
                "ami: closed before the banner",
            )
            assert taken[0] >= 1
        assert closed["overall"] == "down" and ami_part(closed)["state"] == "down"
        page = b.get("/admin/system")
        assert page.status == 200, page.body
        assert "not connected" in page.body and "closed before the banner" in page.body
        daemon.stop(30)
    out = daemon.output
    assert daemon.returncode == 0, out
    # Said by us, once per reason (not once per retry), with the address.
    assert out.count(f"AMI 127.0.0.1:{port}: connection refused; retrying") == 1, out
    assert f"AMI 127.0.0.1:{port}: closed before the banner; retrying" in out, out
    assert "Traceback" not in out


# ---- AMI cut and switch restart mid-call (ccboxd and the simulator, each a process) --------

CUSTOMER = "13800000009"  # asks for a callback


def callback_seed(db: Any, ids: dict[str, int]) -> None:
    """The support queue offers a callback on key 5 and makes no announcements."""
    from sqlalchemy import text

    with db.engine.begin() as conn:
        conn.execute(text("UPDATE queues SET callback_key = '5', announce_every_s = 0"))


def bridged(box: LiveBox, device: str) -> bool:
    """A channel of ``device`` is up and in a bridge on the switch."""
    return any(
        ch["name"].startswith(device + "-") and ch["bridged"] and ch["state"] == 6
        for ch in box.channels()
    )


def callback_originates(box: LiveBox) -> list[dict[str, str]]:
    return [a for a in box.actions("Originate") if a.get("Context") == "ccbox-callback"]


def test_ami_cut_mid_call_loses_no_call_and_originates_nothing_twice(tmp_path: Path) -> None:
    """While AMI is down: a talk ends, a callback's ring (sent just before the cut) is
    answered, and a new caller reaches an agent over FastAGI. Back up: ami ok within
    seconds, each call has its one row, the callback was originated once, and the agents'
    states are what the switch has."""
    with live_box(tmp_path, seed=callback_seed) as box:
        db = database(box)
        box.devices(
            {
                "PJSIP/1001": {"ring_s": 0.2, "talk_s": 3},
                "PJSIP/1002": {"ring_s": 0.2, "talk_s": 60},
                "PJSIP/1003": {"ring_s": 2.5, "talk_s": 6},
                f"Local/{CUSTOMER}@ccbox-outbound": {"ring_s": 0.2, "talk_s": 6},
            }
        )
        box.agents_login("1001")
        first = box.call("13800000001", prompt_s=0.05)
        wait(lambda: answered_by(box, "13800000001", "1001"), "1001 talking to the first caller")
        asker = box.call(CUSTOMER, digits="5", prompt_s=0.05)
        box.wait_call_ended(asker)
        wait(lambda: query(db, "SELECT id FROM callbacks"), "the callback asked for")
        box.agents_login("1003")
        wait(lambda: callback_originates(box), "the callback's Originate")

        ami_down(box)  # 1003's phone rings on; its OriginateResponse will never reach us
        wait(lambda: ami_health(box)[0] == "down", "ami: down")
        assert "connection refused" in ami_health(box)[1] or "lost" in ami_health(box)[1]
        box.agents_login("1002")
        second = box.call("13800000002", prompt_s=0.05)  # FastAGI works without AMI
        wait(lambda: bridged(box, "PJSIP/1002"), "1002 talking to the second caller")
        box.wait_call_ended(first, 10)  # the first talk ends while AMI is down

        ami_up(box)
        wait(lambda: ami_health(box)[0] == "ok", "ami: ok again", 10)
        # Resynced: the first call is over (1001 free after its 1 s wrap-up), the second
        # goes on with 1002, the callback's agent 1003 is on it.
        wait(lambda: agent_states(box)["1001"] == "available", "1001 free again", 5)
        states = agent_states(box)
        assert states["1002"] == "on_call" and states["1003"] == "on_call", states
        third = box.call("13800000003", prompt_s=0.05)
        wait(lambda: answered_by(box, "13800000003", "1001"), "a new call routed to 1001")

        # Nothing lost, nothing twice.
        for number in ("13800000001", "13800000002", "13800000003", CUSTOMER):
            inbound = [r for r in rows_of(db, number) if r["direction"] == "inbound"]
            assert len(inbound) == 1, (number, rows_of(db, number))
        # The customer was called back once: one outbound row.
        assert [r["direction"] for r in rows_of(db, CUSTOMER)] == ["inbound", "outbound"]
        assert rows_of(db, "13800000001")[0]["disposition"] == "completed"
        assert len(callback_originates(box)) == 1
        wait(
            lambda: query(db, "SELECT state FROM callbacks")[0]["state"] == "done",
            "the callback done",
            15,
        )
        box.hangup(second)
        box.hangup(third)
        wait(
            lambda: all(r["ended_at"] for r in query(db, "SELECT ended_at FROM calls")),
            "every row closed",
            15,
        )
        wait(lambda: set(agent_states(box).values()) <= {"available"}, "every agent free", 10)
        assert len(callback_originates(box)) == 1
        log = box.daemon_log()
        assert "Traceback" not in log, log[-3000:]
        assert "ACD invariant broken" not in log, log[-3000:]


def test_switch_restart_mid_call_ends_the_call_and_frees_the_agent(tmp_path: Path) -> None:
    """Asterisk restarts while a caller talks to 1001: its AMI goes, every channel ends
    unseen, AMI comes back with nothing. The resync ends the call (its one row closed),
    1001 is free and takes the next call."""
    with live_box(tmp_path) as box:
        db = database(box)
        box.devices({"PJSIP/1001": {"ring_s": 0.2, "talk_s": 60}})
        box.agents_login("1001")
        first = box.call("13800000001", prompt_s=0.05)
        wait(lambda: answered_by(box, "13800000001", "1001"), "1001 talking")
        ami_down(box)
        hangup_all(box)  # the restart: the call is cut, ccboxd's AMI sees none of it
        box.wait_call_ended(first, 10)
        assert box.channels() == []
        ami_up(box)
        wait(lambda: ami_health(box)[0] == "ok", "ami: ok again", 10)
        wait(lambda: rows_of(db, "13800000001")[0]["ended_at"], "the cut call's row closed", 5)
        wait(lambda: agent_states(box)["1001"] == "available", "1001 free again", 5)
        second = box.call("13800000002", prompt_s=0.05)
        wait(lambda: answered_by(box, "13800000002", "1001"), "the next call reaches 1001")
        assert [len(rows_of(db, n)) for n in ("13800000001", "13800000002")] == [1, 1]
        box.hangup(second)
        box.wait_call_ended(second, 10)
        log = box.daemon_log()
        assert "Traceback" not in log, log[-3000:]
