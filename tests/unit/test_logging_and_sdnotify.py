"""Log line format (journald and plain) and sd_notify datagrams on a real Unix socket."""

from __future__ import annotations

import socket
from pathlib import Path

from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from appliance.logsetup import format_line
from appliance.sdnotify import Notifier


def event(text: str, level: LogLevel = LogLevel.info, **extra: object) -> dict:
    return {
        "log_format": text,
        "log_level": level,
        "log_namespace": "ccbox.test",
        "log_time": 0.0,
        **extra,
    }


def test_journald_lines_carry_priority_and_no_timestamp() -> None:
    assert format_line(event("hello"), journald=True) == "<6>ccbox.test: hello\n"
    assert format_line(event("bad", LogLevel.error), journald=True).startswith("<3>")
    assert format_line(event("w", LogLevel.warn), journald=True).startswith("<4>")


def test_plain_lines_carry_time_and_level() -> None:
    line = format_line(event("hello"), journald=False)
    assert line == "1970-01-01T00:00:00.000+00:00 INFO  ccbox.test: hello\n"


def test_hostile_text_cannot_forge_a_log_line() -> None:
    caller = "x\n<3>ccbox.auth: admin logged in\x1b[31m"
    line = format_line(event("caller {c}", c=caller), journald=True)
    lines = line.splitlines()
    assert lines[0] == "<6>ccbox.test: caller x"
    assert lines[1].startswith("    <3>")  # continuation, indented: not a new entry
    assert "\x1b" not in line


def test_failures_include_the_traceback_indented() -> None:
    try:
        raise ValueError("kaput")
    except ValueError:
        f = Failure()
    text = format_line(event("oops", LogLevel.error, log_failure=f), journald=True)
    assert text.startswith("<3>ccbox.test: oops\n    Traceback")
    assert "ValueError: kaput" in text


def test_secrets_are_masked_in_every_line() -> None:
    message = (
        "Request Headers:\n  Cookie: ccbox_session=abc123\n  AUTHORIZATION: Basic dXNlcjpwdw==\n"
        "  X-CSRF-Token: tok456\n  Host: box\nform: user=alice&password=hunter2&_csrf=tok456"
        "\nlogin Secret: ami-s3cret; pin=1234"
    )
    text = format_line(event(message), journald=True)
    for secret in ("abc123", "dXNlcjpwdw==", "tok456", "hunter2", "ami-s3cret", "1234"):
        assert secret not in text, secret
    assert "Host: box" in text and "user=alice" in text
    assert "Cookie: [redacted]" in text and "password=[redacted]" in text


def _listener(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    return sock, path


def test_notify_sends_ready_status_and_stopping(tmp_path: Path) -> None:
    sock, path = _listener(tmp_path)
    with sock:
        n = Notifier({"NOTIFY_SOCKET": path})
        n.ready("ready; web UI on :8080")
        assert sock.recv(4096) == b"READY=1\nSTATUS=ready; web UI on :8080"
        n.stopping()
        assert sock.recv(4096) == b"STOPPING=1\nSTATUS=stopping"


def test_watchdog_pings_at_half_the_interval(tmp_path: Path) -> None:
    import os

    sock, path = _listener(tmp_path)
    with sock:
        n = Notifier(
            {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
        )
        clock = Clock()
        loop = n.start_watchdog(clock)
        assert loop is not None
        assert sock.recv(100) == b"WATCHDOG=1"
        clock.advance(2.0)
        assert sock.recv(100) == b"WATCHDOG=1"
        loop.stop()


def test_without_systemd_nothing_is_sent_and_no_watchdog() -> None:
    n = Notifier({})
    assert n.notify(READY="1") is False
    assert n.start_watchdog(Clock()) is None
    other_pid = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert other_pid.watchdog_interval is None
