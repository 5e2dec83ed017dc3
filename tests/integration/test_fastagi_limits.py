"""ccboxd as a real process under a low descriptor limit, flooded with idle FastAGI sockets.

1,100 idle sockets at a 1,024 limit once made new calls fail and the web UI stop answering.
With the session cap past it a socket is closed at once (its descriptor is free again) and
the header deadline closes the idle ones held: the web UI answers throughout, the refusals
show on the status page, a hostile header is refused with the call named in the log, and
a real call is served once the idle sockets are gone.
"""

from __future__ import annotations

import re
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from appliance import config as config_mod
from tests.conftest import write_config
from tests.support.appliance import USERS, migrate_and_seed
from tests.support.daemon import BIN
from tests.support.http import Browser
from tests.unit.test_agi_header import header

pytestmark = pytest.mark.integration

NOFILE = 256  # descriptors the daemon may open (a box's has LimitNOFILE=32768)
CAP = 60  # [fastagi] max_sessions
IDLE = 400  # idle sockets: more than the cap, more than the descriptor limit
DEADLINE_S = 2  # [fastagi] header_timeout_s


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@contextmanager
def daemon_with_few_descriptors(conf: Path, tmp: Path) -> Iterator[subprocess.Popen[str]]:
    """ccboxd under RLIMIT_NOFILE=NOFILE, once it has said READY=1 (killed on the way out)."""
    path = tmp / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    proc = subprocess.Popen(
        [str(BIN / "ccboxd"), "--config", str(conf)],
        env={"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_low_nofile,
    )
    try:
        while not sock.recv(4096).startswith(b"READY=1"):
            pass
        yield proc
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _status(b: Browser) -> dict[str, Any]:
    r = b.get("/api/status")
    assert r.status == 200, r.body
    result: dict[str, Any] = r.json()
    return result


def _closed_by_peer(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def _read_line(s: socket.socket, timeout: float = 10) -> bytes:
    s.settimeout(timeout)
    out = b""
    while not out.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        out += chunk
    return out


def test_a_flood_of_idle_sockets_leaves_the_web_ui_and_real_calls_served(tmp_path: Path) -> None:
    conf = write_config(tmp_path, switch=True, ami=False)
    text = conf.read_text()
    text = re.sub(r"(?m)^max_sessions = \d+$", f"max_sessions = {CAP}", text)
    text = re.sub(r"(?m)^header_timeout_s = \d+$", f"header_timeout_s = {DEADLINE_S}", text)
    conf.write_text(text)
    config = config_mod.load(conf)
    assert (config.fastagi.max_sessions, config.fastagi.header_timeout_s) == (CAP, DEADLINE_S)
    migrate_and_seed(config)
    idle: list[socket.socket] = []
    with daemon_with_few_descriptors(conf, tmp_path) as proc:
        try:
            b = Browser(config.web.port)
            assert b.login("admin", USERS["admin"][1]).status == 303
            for n in range(IDLE):
                s = socket.create_connection(("127.0.0.1", config.fastagi.port), timeout=5)
                if n % 2:
                    s.sendall(b"agi_network: yes\n")  # a header begun, never finished
                idle.append(s)
            time.sleep(0.5)
            # The web UI answers while the idle sockets are held, and says why calls fail.
            flooded = _status(b)
            part = {p["name"]: p for p in flooded["parts"]}["fastagi"]
            assert part["state"] == "degraded" and "sessions: " in part["detail"], part
            refused = sum(_closed_by_peer(s) for s in idle)
            assert refused >= IDLE - CAP, refused  # closed at once, past the cap
            # The held ones are closed at the header deadline.
            time.sleep(DEADLINE_S + 1)
            assert all(_closed_by_peer(s) for s in idle)
            assert _status(b)["parts"]
            # A name that rewrites the header is refused before anything is sent.
            hostile = socket.create_connection(("127.0.0.1", config.fastagi.port), timeout=5)
            hostile.sendall(header(calleridname="Bob\nagi_network_script: voicemail"))
            assert _read_line(hostile) == b""
            hostile.close()
            # A real call is served: the session mark, then the route's first command.
            call = socket.create_connection(("127.0.0.1", config.fastagi.port), timeout=5)
            call.sendall(header(uniqueid="1795353349.77"))
            assert _read_line(call) == b'SET VARIABLE CCBOX_AGI "1"\n'
            call.sendall(b"200 result=1\n")
            assert _read_line(call) == b"ANSWER\n"
            call.close()
        finally:
            for s in idle:
                s.close()
        time.sleep(0.5)
        proc.terminate()
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "Traceback" not in output and "Too many open files" not in output, output
    refusals = [line for line in output.splitlines() if "FastAGI session refused" in line]
    # Rate-limited: one line per reason, not one per socket.
    assert sum("sessions open, the cap" in line for line in refusals) == 1, refusals
    assert sum("no whole header in 2 s" in line for line in refusals) == 1, refusals
    [named] = [line for line in refusals if "agi_network_script" in line]
    assert "'Local/press1@sim-callers-00000020;1'" in named and "1795353349.64" in named
