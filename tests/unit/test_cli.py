"""The ccbox CLI, called in-process (main(argv)), on both databases."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from appliance import cli
from appliance.db import migrate
from tests.conftest import write_config


@pytest.fixture
def conf(tmp_path: Path, db_url: str) -> Path:
    return write_config(tmp_path, db_url)


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> tuple[int, str, str]:
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = cli.main(argv)
    finally:
        sys.stdin = old
    out = capsys.readouterr()
    return code, out.out, out.err


def test_config_check_ok_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_config(tmp_path)
    assert run(["--config", str(good), "config", "check"], capsys)[:2] == (0, f"{good}: ok\n")
    bad = tmp_path / "bad.conf"
    bad.write_text("[web]\nport = http\n[ami]\nport = 99999\n")
    code, _, err = run(["--config", str(bad), "config", "check"], capsys)
    assert code == 2
    assert err.splitlines() == [
        f"ccbox: {bad}: [ami] port = '99999': out of range (expected 1 to 65535)",
        f"ccbox: {bad}: [web] port = 'http': not a whole number (expected 1 to 65535)",
    ]


def test_db_upgrade_status_and_user_add(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["--config", str(conf), "user", "add", "boss", "--role", "admin", "--password-stdin"],
        capsys,
        "boss-password\n",
    )
    assert code == 1 and f"run: ccbox --config {conf} db upgrade" in err
    assert run(["--config", str(conf), "db", "status"], capsys)[0] == 1
    code, out, _ = run(["--config", str(conf), "db", "upgrade"], capsys)
    head = migrate.head_revision()
    assert code == 0 and f"upgraded from empty to {head}" in out
    code, out, _ = run(["--config", str(conf), "db", "upgrade"], capsys)
    assert code == 0 and f"already at revision {head}" in out
    assert run(["--config", str(conf), "db", "status"], capsys)[0] == 0
    code, out, _ = run(
        ["--config", str(conf), "user", "add", "boss", "--role", "admin", "--password-stdin"],
        capsys,
        "boss-password\n",
    )
    assert (code, out) == (0, "user boss (admin) created\n")
    code, _, err = run(
        ["--config", str(conf), "user", "add", "boss", "--role", "agent", "--password-stdin"],
        capsys,
        "other-password\n",
    )
    assert code == 1 and "already exists" in err
    code, _, err = run(
        ["--config", str(conf), "user", "add", "weak", "--role", "agent", "--password-stdin"],
        capsys,
        "123\n",
    )
    assert code == 1 and "at least 8" in err


def test_user_add_without_terminal_or_stdin_flag_says_how(
    conf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["--config", str(conf), "user", "add", "x", "--role", "qa"], capsys)
    assert code == 1 and "--password-stdin" in err


def test_config_sample_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["config", "sample", "--data-dir", "/srv/ccbox"], capsys)
    assert code == 0
    from appliance.config import parse

    assert parse(out).data_dir == Path("/srv/ccbox")


def test_config_path_comes_from_flag_then_environment_then_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write_config(tmp_path)
    monkeypatch.setenv("CCBOX_CONFIG", str(good))
    assert run(["config", "check"], capsys)[:2] == (0, f"{good}: ok\n")
    monkeypatch.delenv("CCBOX_CONFIG")
    code, _, err = run(["config", "check"], capsys)
    assert code == 2 and err.startswith("ccbox: /etc/ccbox/ccbox.conf: file not found")


def test_simulator_refuses_a_sounds_folder_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-sounds"
    code, out, err = run(["simulator", "--calls", "1", "--sounds", str(missing)], capsys)
    assert (code, out) == (1, "")
    assert err == f"ccbox: --sounds {missing}: no such folder\n"
