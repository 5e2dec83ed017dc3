"""The simulator's sound library finds sounds where Asterisk 22 looks (main/file.c)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from drivers.asterisk.simulator.sounds import CORE_SOUNDS, SoundLibrary


def _wav(path: Path, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(b"\x00" * width * channels * 80)
    return path


def test_core_sounds_ccbox_uses_are_there_and_nothing_else() -> None:
    lib = SoundLibrary()
    for name in ("beep", "goodbye", "ss-noservice", "digits/7", "digits/hundred"):
        assert name in CORE_SOUNDS and lib.exists(name)
    assert not lib.exists("ccbox-welcome")  # ccbox's own sounds must be installed
    assert not lib.exists("demo-congrats")  # not in the small built-in list
    assert not SoundLibrary(core=False).exists("beep")


def test_language_order_is_asterisks(tmp_path: Path) -> None:
    """<lang>, <lang> without its dialect, no language, then en."""
    lib = SoundLibrary(tmp_path, core=False)
    _wav(tmp_path / "en" / "ccbox-welcome.wav")
    assert lib.find("ccbox-welcome", "zh_CN") == str(tmp_path / "en" / "ccbox-welcome.wav")
    _wav(tmp_path / "ccbox-welcome.gsm")
    assert lib.find("ccbox-welcome", "zh_CN") == str(tmp_path / "ccbox-welcome.gsm")
    _wav(tmp_path / "zh" / "ccbox-welcome.wav")
    assert lib.find("ccbox-welcome", "zh_CN") == str(tmp_path / "zh" / "ccbox-welcome.wav")
    _wav(tmp_path / "zh_CN" / "ccbox-welcome.wav")
    assert lib.find("ccbox-welcome", "zh_CN") == str(tmp_path / "zh_CN" / "ccbox-welcome.wav")
    assert lib.find("ccbox-welcome", "en") == str(tmp_path / "en" / "ccbox-welcome.wav")
    assert lib.find("ccbox-goodbye", "en") is None


def test_absolute_names_get_the_language_before_their_last_part(tmp_path: Path) -> None:
    """STREAM FILE /data/prompts/welcome (no extension): .../zh/welcome.wav first."""
    lib = SoundLibrary()
    stem = str(tmp_path / "prompts" / "welcome")
    assert lib.find(stem, "zh") is None
    _wav(tmp_path / "prompts" / "welcome.wav")
    assert lib.find(stem, "zh") == f"{stem}.wav"
    _wav(tmp_path / "prompts" / "zh" / "welcome.wav")
    assert lib.find(stem, "zh") == str(tmp_path / "prompts" / "zh" / "welcome.wav")
    assert lib.find(f"{stem}.wav", "en") is None  # the extension is never given


@pytest.mark.parametrize(
    ("rate", "channels", "width"), [(16000, 1, 2), (22050, 1, 2), (8000, 2, 2), (8000, 1, 1)]
)
def test_a_wav_format_wav_refuses_is_missing(
    tmp_path: Path, rate: int, channels: int, width: int
) -> None:
    """format_wav opens only PCM mono 16-bit 8 kHz .wav (TTS output at 22 kHz would not play)."""
    lib = SoundLibrary(tmp_path, core=False)
    _wav(tmp_path / "en" / "prompt.wav", rate, channels, width)
    assert lib.find("prompt") is None
    (tmp_path / "en" / "broken.wav").write_bytes(b"")  # an empty file is no WAV either
    assert lib.find("broken") is None
    _wav(tmp_path / "en" / "wide.wav16", 16000)
    assert lib.find("wide") == str(tmp_path / "en" / "wide.wav16")


def test_installed_names_and_placeholders(tmp_path: Path) -> None:
    lib = SoundLibrary(tmp_path)
    lib.install_names(["ccbox-queue-wait"], ["en", "zh"])
    assert lib.exists("ccbox-queue-wait", "zh") and lib.exists("ccbox-queue-wait", "fr")  # fr -> en
    written = lib.install_placeholders(["ccbox-welcome"], ["zh"])
    assert written == [tmp_path / "zh" / "ccbox-welcome.wav"]
    assert lib.find("ccbox-welcome", "zh") == str(written[0])
    assert lib.find("ccbox-welcome", "en") is None  # only zh was installed, en is the last try
    with wave.open(str(written[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getnframes()) == (8000, 1, 0)


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x", "a/../../b"])
def test_bad_names_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="sound name"):
        SoundLibrary(tmp_path).install_names([bad])
    assert SoundLibrary(tmp_path).find(bad.lstrip("/") if bad.startswith("..") else bad) is None


def test_placeholders_need_a_folder() -> None:
    with pytest.raises(ValueError, match="sounds_dir"):
        SoundLibrary().install_placeholders(["ccbox-queue-wait"])
