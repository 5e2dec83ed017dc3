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
from tests.support.http import Browser

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
