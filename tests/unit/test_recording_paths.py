"""The download guard: only files under the recording root, named by the index, are served."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recorder.storage import open_stored, resolve


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "rec" / "2026" / "12").mkdir(parents=True)
    (tmp_path / "rec" / "2026" / "12" / "call1.wav").write_bytes(b"RIFF....")
    (tmp_path / "secret.conf").write_text("secret=1")
    return tmp_path / "rec"


def test_a_file_under_the_root_resolves(root: Path) -> None:
    assert resolve(root, "2026/12/call1.wav") == (root / "2026/12/call1.wav").resolve()
    audio = open_stored(root / "2026/12/call1.wav", "wav")
    assert (audio.size, audio.content_type, audio.read(0, 4), audio.read(6, 100)) == (
        8,
        "audio/wav",
        b"RIFF",
        b"..",
    )
    audio.close()


@pytest.mark.parametrize(
    "name",
    [
        "../secret.conf",
        "2026/../../secret.conf",
        "%2e%2e%2fsecret.conf",
        "..%2fsecret.conf",
        "/etc/passwd",
        "\\etc\\passwd",
        "2026/12/call1.wav\x00.txt",
        "",
        ".",
        "2026",
        "2026//12/call1.wav",
        "2026/./12/call1.wav",
        "2026/12/missing.wav",
    ],
)
def test_escapes_and_odd_names_resolve_to_nothing(root: Path, name: str) -> None:
    assert resolve(root, name) is None


def test_a_link_out_of_the_root_resolves_to_nothing(root: Path) -> None:
    os.symlink(root.parent / "secret.conf", root / "2026" / "12" / "link.wav")
    assert resolve(root, "2026/12/link.wav") is None
    os.symlink(root / "2026" / "12" / "call1.wav", root / "2026" / "inside.wav")
    assert resolve(root, "2026/inside.wav") == (root / "2026/12/call1.wav").resolve()


def test_a_device_or_fifo_resolves_to_nothing(root: Path) -> None:
    os.mkfifo(root / "2026" / "pipe.wav")
    assert resolve(root, "2026/pipe.wav") is None
