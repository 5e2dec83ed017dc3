"""``ccbox firmware`` through the real parser where no board is needed: the progress bar,
and the refusals and errors that come before any port is opened."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from appliance.cli import main as cli_main
from firmware_tools.command import ProgressBar
from firmware_tools.image import Version
from firmware_tools.signing import load_private_key, make_key_pair, sign


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_redraws_on_a_terminal_and_prints_lines_elsewhere() -> None:
    tty = Terminal()
    bar = ProgressBar(tty)
    bar(1024, 4096)
    bar(2048, 4096)
    bar.end_line()  # a failure's message then starts on a line of its own
    assert tty.getvalue().count("\r[") == 2
    assert tty.getvalue().endswith("\n") and "  50%" in tty.getvalue()
    plain = io.StringIO()
    bar = ProgressBar(plain)
    for done in range(0, 100_001, 1000):
        bar(done, 100_000)
    lines = plain.getvalue().splitlines()
    assert [line.split("]")[1].split("%")[0].strip() for line in lines] == [
        str(p) for p in range(0, 101, 10)
    ]
    assert "\r" not in plain.getvalue()


def test_refused_before_any_port_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = make_key_pair(tmp_path / "vendor.pem")
    keys = tmp_path / "keys"
    keys.mkdir()
    public.rename(keys / public.name)
    unsigned = tmp_path / "unsigned.ccfw"
    image = sign(b"fw", "io", Version(1, 0, 0), load_private_key(tmp_path / "vendor.pem"))
    unsigned.write_bytes(image.to_bytes()[:-64])
    flash = ["firmware", "flash", "--device", str(tmp_path / "no-such-port"), "--keys-dir"]
    assert cli_main([*flash, str(keys), str(unsigned)]) == 3
    assert "refused: unsigned.ccfw: the image is not signed" in capsys.readouterr().err
    assert cli_main([*flash, str(keys), str(tmp_path / "missing.hex")]) == 3
    assert "missing.hex: no such file" in capsys.readouterr().err
    assert cli_main([*flash, str(tmp_path / "empty"), str(unsigned)]) == 3
    assert "no trusted keys: " in capsys.readouterr().err


def test_sign_and_keygen_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.bin").write_bytes(b"payload")
    sign_args = ["firmware", "sign", "--key", str(tmp_path / "k.pem"), "--board", "io"]
    sign_args += ["--out", str(tmp_path / "o.ccfw"), str(tmp_path / "p.bin")]
    assert cli_main([*sign_args, "--version", "1.0"]) == 1
    assert "'1.0' is not a version" in capsys.readouterr().err
    assert cli_main([*sign_args, "--version", "1.0.0"]) == 1
    assert "k.pem: cannot be read" in capsys.readouterr().err
    assert cli_main(["firmware", "keygen", "--out", str(tmp_path / "k.pem")]) == 0
    assert cli_main(["firmware", "keygen", "--out", str(tmp_path / "k.pem")]) == 1
    assert "exists: not overwritten" in capsys.readouterr().err
    assert cli_main([*sign_args, "--version", "1.0.0"]) == 0
    assert cli_main([*sign_args, "--version", "1.0.0"]) == 1  # the image is not overwritten
