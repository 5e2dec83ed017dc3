"""The first minutes of a new user, through the real ``ccbox`` entry point: a demo whose port
is taken says which and how to move it (and makes no login nobody sees), the demo takes its
ports from its config with flags over them, and a lost password is one command."""

from __future__ import annotations

import os
import pty
import select
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from appliance import config as config_mod
from appliance.cli import build_parser
from appliance.cli import main as cli_main
from tests.conftest import free_port
from tests.support.appliance import USERS, prepare
from tests.support.daemon import BIN, running_daemon
from tests.support.http import Browser

pytestmark = pytest.mark.integration


@contextmanager
def taken(port: int) -> Iterator[None]:
    """Another program listening on ``port``."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        yield


def demo_dir(tmp_path: Path, web: int, ami: int, fastagi: int) -> Path:
    """A demo data directory whose own config names these ports."""
    data = tmp_path / "demo-data"
    data.mkdir()
    text = config_mod.render(
        data.resolve(), web_port=web, fastagi_port=fastagi, ami_port=ami, ami_secret="s3cret"
    )
    (data / "ccbox.conf").write_text(text, encoding="utf-8")
    return data


def run_demo(data: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "ccbox"), "demo", "--data-dir", str(data), *flags, "--headless"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def users_in(data: Path) -> int:
    with closing(sqlite3.connect(data / "ccbox.sqlite")) as db:
        return int(db.execute("SELECT count(*) FROM users").fetchone()[0])


def test_a_taken_port_stops_the_demo_before_any_login_is_made(tmp_path: Path) -> None:
    web, ami, fastagi = free_port(), free_port(), free_port()
    data = demo_dir(tmp_path, web, ami, fastagi)
    # No --port: the web port is the config's [web] port, and that one is taken.
    with taken(web):
        proc = run_demo(data)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [
        f"ccbox demo: port {web} for the web UI on 127.0.0.1 is not free (Address already in "
        "use): choose another with `ccbox demo --port N` or `make demo PORT=N`"
    ]
    assert " login is " not in proc.stdout and "Traceback" not in proc.stdout
    assert users_in(data) == 0  # nobody holds a password nobody saw
    # The flags win over the config: the web port moves, and the next taken port (the
    # simulated switch's AMI, given by flag too) is named with its own flag.
    other_ami = free_port()
    with taken(other_ami):
        proc = run_demo(data, "--port", str(free_port()), "--ami-port", str(other_ami))
    assert proc.returncode == 1
    assert f"port {other_ami} for the simulated switch's AMI" in proc.stderr
    assert "`ccbox demo --ami-port N` or `make demo AMI_PORT=N`" in proc.stderr
    assert users_in(data) == 0
    with taken(fastagi):
        proc = run_demo(data, "--port", str(free_port()))
    assert proc.returncode == 1 and f"port {fastagi} for FastAGI" in proc.stderr
    assert "--fastagi-port N" in proc.stderr and users_in(data) == 0


def test_demo_ports_default_to_the_config_and_make_passes_them() -> None:
    args = build_parser().parse_args(["demo"])
    assert (args.port, args.ami_port, args.fastagi_port) == (None, None, None)
    for bad in (["--port", "70000"], ["--calls-per-second", "0"], ["--duration", "nan"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["demo", *bad])
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        ["make", "-n", "-C", str(root), "demo", "PORT=18081", "AMI_PORT=18082", "FASTAGI_PORT=1"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    line = out[out.index("ccbox demo") :].replace("\\\n", " ")
    assert "--port 18081" in line and "--ami-port 18082" in line and "--fastagi-port 1" in line


def passwd(
    conf: Path, name: str, stdin: str, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, str]:
    """``ccbox user passwd`` through the CLI's entry point, in this process."""
    import io

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = cli_main(["--config", str(conf), "user", "passwd", name, *flags])
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def passwd_on_a_tty(conf: Path, name: str, answers: list[str]) -> tuple[int, str]:
    """``ccbox user passwd`` at a terminal: answer each prompt as it comes (getpass flushes
    what was typed before it asks)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "ccbox"), "--config", str(conf), "user", "passwd", name],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    try:
        for prompt, answer in zip(("Password: ", "Again: "), answers, strict=True):
            while not seen.endswith(prompt.encode()):
                ready, _, _ = select.select([master], [], [], 30)
                assert ready, f"no prompt {prompt!r}; got {seen!r}"
                seen += os.read(master, 1024)
            os.write(master, answer.encode() + b"\n")
        code = proc.wait(60)
        while select.select([master], [], [], 0.5)[0]:
            try:
                seen += os.read(master, 1024)
            except OSError:  # EIO: the child closed the terminal
                break
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, seen.decode(errors="replace")


def test_user_passwd_sets_a_password_the_web_login_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = prepare(tmp_path)
    conf = config.path
    stdin = "--password-stdin"
    assert passwd(conf, "nobody", "whatever-long-1\n", capsys, stdin) == (
        1,
        "",
        "ccbox: no user 'nobody'\n",
    )
    code, _, err = passwd(conf, "admin", "abc\n", capsys, stdin)
    assert code == 1 and err.startswith("ccbox: ") and err[-1:] == "\n" and err.count("\n") == 1
    # without a terminal and without --password-stdin nothing can be asked
    code, _, err = passwd(conf, "admin", "", capsys)
    assert code == 1 and "--password-stdin" in err
    assert passwd(conf, "sup", "sup-new-passphrase-2\n", capsys, stdin)[:2] == (
        0,
        "password of sup changed\n",
    )
    code, screen = passwd_on_a_tty(conf, "admin", ["new-1", "new-2"])
    assert code == 1 and "the two passwords differ" in screen
    code, screen = passwd_on_a_tty(conf, "admin", ["admin-new-passphrase-1"] * 2)
    assert code == 0 and "password of admin changed" in screen, screen
    assert "admin-new-passphrase-1" not in screen  # not echoed
    with running_daemon(conf, tmp_path) as daemon:
        web = config.web.port
        assert Browser(web).login("admin", USERS["admin"][1]).status != 303
        assert Browser(web).login("admin", "admin-new-passphrase-1").status == 303
        assert Browser(web).login("sup", "sup-new-passphrase-2").status == 303
        assert Browser(web).login("qa", USERS["qa"][1]).status == 303  # the others as they were
        daemon.stop(30)
    assert "admin-new-passphrase-1" not in daemon.output


def test_the_simulator_says_when_no_ccboxd_answers(tmp_path: Path) -> None:
    """The README's `ccbox simulator --agi ...` run before any ccboxd: one line saying
    nothing answered and what to start, a failing exit, no traceback (it used to print a
    summary of 50 failed calls and nothing else)."""
    port = free_port()
    cmd = [str(BIN / "ccbox"), "simulator", "--agi", f"127.0.0.1:{port}", "--calls", "3"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 1
    assert f"nothing answered FastAGI on 127.0.0.1:{port}" in done.stderr
    assert "start ccboxd" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
