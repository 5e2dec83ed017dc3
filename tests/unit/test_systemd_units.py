"""The unit files say what the daemon does: notify, watchdog, restart, its own user and paths."""

from __future__ import annotations

import configparser
from pathlib import Path

SYSTEMD = Path(__file__).resolve().parents[2] / "systemd"


def unit() -> configparser.ConfigParser:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str  # type: ignore[assignment,method-assign]
    p.read(SYSTEMD / "ccboxd.service")
    return p


def test_service_is_notify_with_watchdog_and_restart() -> None:
    s = unit()["Service"]
    assert s["Type"] == "notify"
    assert int(s["WatchdogSec"]) >= 10
    assert s["Restart"] == "on-failure"
    assert s["User"] == "ccbox"
    assert s["ExecStart"].split()[0].endswith("ccboxd")
    assert "--config /etc/ccbox/ccbox.conf" in s["ExecStart"]
    assert "db upgrade" in s["ExecStartPre"]


def test_writable_paths_match_the_defaults() -> None:
    from appliance.config import parse

    s = unit()["Service"]
    writable = s["ReadWritePaths"].split()
    c = parse("")
    assert str(c.data_dir) in writable
    assert c.recording_dir.is_relative_to(c.data_dir)
    tmpfiles = (SYSTEMD / "ccbox.tmpfiles").read_text()
    for path in [*writable, str(c.recording_dir)]:
        assert f"d {path} " in tmpfiles, path


def test_sysusers_creates_the_service_user() -> None:
    lines = (SYSTEMD / "ccbox.sysusers").read_text().splitlines()
    assert any(line.startswith("u ccbox ") for line in lines)
