"""TTS through the real espeak-ng: English and Mandarin in the switch format, the cache, text
that must stay text, and the ways espeak-ng can be missing or fail."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ivr import tts
from ivr.tts import MAX_TEXT, VOICES, TTSError, synthesize

ESPEAK = shutil.which("espeak-ng")


def test_espeak_ng_and_both_voices_are_installed() -> None:
    # scripts/system-deps.sh installs it; every other test here needs it
    assert ESPEAK, "espeak-ng is missing: run scripts/system-deps.sh"
    listing = subprocess.run([ESPEAK, "--voices"], capture_output=True, text=True, check=True)
    names = {line.split()[1] for line in listing.stdout.splitlines()[1:] if line.split()}
    assert set(VOICES.values()) <= names


def speech(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.abs(samples).max() > 3000, "silence, not speech"
    return samples


@pytest.mark.parametrize(
    ("language", "text", "low_ms", "high_ms"),
    [
        ("en", "Hello, and welcome to the support line.", 1200, 5000),
        ("zh", "您好\uff0c欢迎致电", 1000, 5000),  # a full-width comma
    ],
)
def test_speech_in_the_switch_format(
    tmp_path: Path, language: str, text: str, low_ms: int, high_ms: int
) -> None:
    result = synthesize(text, language, tmp_path)
    assert result.cached is False
    assert result.path.parent == tmp_path
    assert result.path.name.startswith(f"tts-{language}-")
    assert result.path.suffix == ".wav"
    assert low_ms <= result.duration_ms <= high_ms
    samples = speech(result.path)
    assert abs(len(samples) / 8 - result.duration_ms) <= 1
    assert [p.name for p in tmp_path.iterdir()] == [result.path.name]  # no temp files left


def test_longer_chinese_text_gives_longer_speech(tmp_path: Path) -> None:
    short = synthesize("欢迎", "zh", tmp_path).duration_ms
    longer = synthesize("欢迎致电我们的客户服务中心", "zh", tmp_path).duration_ms
    assert 400 <= short < longer
    assert longer >= 2.5 * short


def test_the_second_call_is_served_from_the_cache_without_espeak(tmp_path: Path) -> None:
    first = synthesize("Please hold.", "en", tmp_path)
    stamp = first.path.stat().st_mtime_ns
    again = synthesize("Please hold.", "en", tmp_path, espeak=str(tmp_path / "no-espeak"))
    assert again.cached is True
    assert again.path == first.path
    assert again.duration_ms == first.duration_ms
    assert first.path.stat().st_mtime_ns == stamp
    # the key is the normalized text: spacing and control characters do not matter
    same = synthesize("  Please\n\thold.\x07 ", "en", tmp_path, espeak="/nonexistent/espeak-ng")
    assert same.cached is True
    assert same.path == first.path


def test_the_cache_key_is_per_voice_and_text(tmp_path: Path) -> None:
    paths = {
        synthesize("one", "en", tmp_path).path,
        synthesize("two", "en", tmp_path).path,
        synthesize("one", "zh", tmp_path).path,
    }
    assert len(paths) == 3
    assert tts.cache_path("one", "zh", tmp_path) in paths


def test_a_damaged_cache_file_is_rendered_again(tmp_path: Path) -> None:
    first = synthesize("Goodbye.", "en", tmp_path)
    first.path.write_bytes(b"RIFF garbage")
    again = synthesize("Goodbye.", "en", tmp_path)
    assert again.cached is False
    assert again.duration_ms == first.duration_ms
    speech(again.path)


@pytest.mark.parametrize("text", ["--help", "-w /tmp/ccbox-tts-pwned.wav", "--version", "-v"])
def test_text_starting_with_a_dash_is_spoken_not_an_option(tmp_path: Path, text: str) -> None:
    result = synthesize(text, "en", tmp_path)
    assert result.duration_ms >= 300  # as an option: no sound at all (help/version) or an error
    speech(result.path)
    assert not os.path.exists("/tmp/ccbox-tts-pwned.wav")


def test_markup_and_quotes_are_read_as_text(tmp_path: Path) -> None:
    # as SSML this would be a ten-second pause and nothing else
    markup = '<speak><break time="10s"/></speak>'
    result = synthesize(markup, "en", tmp_path)
    assert 300 <= result.duration_ms < 8000
    speech(result.path)
    quoted = synthesize("It's \"quoted\"; `echo` $(id) && 'single'", "en", tmp_path)
    assert quoted.duration_ms >= 1000
    speech(quoted.path)


def test_normalize() -> None:
    assert tts.normalize("  a\x01b\n\t c\u200b \x1b[31m ") == "ab c [31m"
    assert tts.normalize("\x00\x07\r\n ") == ""
    assert tts.normalize("您好\uff0c\n欢迎") == "您好\uff0c 欢迎"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01\x02"])
def test_empty_text_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValueError, match="nothing to speak: the text is empty"):
        synthesize(text, "en", tmp_path)


def test_too_long_text_is_refused(tmp_path: Path) -> None:
    longest = ("hello " * MAX_TEXT)[:MAX_TEXT]
    assert synthesize(longest, "en", tmp_path).duration_ms > 10_000
    with pytest.raises(
        ValueError, match=rf"text too long to speak: {MAX_TEXT + 1} characters \(the limit is"
    ):
        synthesize("a" * (MAX_TEXT + 1), "en", tmp_path)
    with pytest.raises(ValueError, match="too long"):
        synthesize("长" * 5000, "zh", tmp_path)


@pytest.mark.parametrize("language", ["fr", "EN", "", "en-us", "cmn", "../en"])
def test_unknown_language_is_refused(tmp_path: Path, language: str) -> None:
    with pytest.raises(ValueError, match="unknown TTS language"):
        synthesize("hello", language, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_espeak_is_a_tts_error(tmp_path: Path) -> None:
    with pytest.raises(TTSError, match="espeak-ng not found"):
        synthesize("hello", "en", tmp_path, espeak=str(tmp_path / "no-such-espeak"))
    assert list(tmp_path.iterdir()) == []


def fake_espeak(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-espeak"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_a_failing_espeak_is_a_tts_error_with_its_message(tmp_path: Path) -> None:
    espeak = fake_espeak(tmp_path, 'echo "Error: voice data not found" >&2\nexit 3')
    cache = tmp_path / "cache"
    with pytest.raises(TTSError, match=r"exit 3\): Error: voice data not found"):
        synthesize("hello", "en", cache, espeak=espeak)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_an_espeak_that_writes_nothing_is_a_tts_error(tmp_path: Path) -> None:
    espeak = fake_espeak(tmp_path, "echo 'cannot open voice' >&2\nexit 0")
    with pytest.raises(TTSError, match="produced no sound: cannot open voice"):
        synthesize("hello", "en", tmp_path / "cache", espeak=espeak)


def test_an_espeak_that_writes_garbage_is_a_tts_error(tmp_path: Path) -> None:
    # "-w <file>" ends the argument list: write something that is not a WAV there
    espeak = fake_espeak(tmp_path, 'printf "<html>%0100d</html>" 0 > "$6"')
    with pytest.raises(TTSError, match="unusable audio: not an audio file: it looks like HTML"):
        synthesize("hello", "en", tmp_path / "cache", espeak=espeak)


def test_a_hanging_espeak_is_stopped_by_the_timeout(tmp_path: Path) -> None:
    espeak = fake_espeak(tmp_path, "exec sleep 30")
    started = time.monotonic()
    with pytest.raises(TTSError, match=r"took longer than 0\.5 s"):
        synthesize("hello", "en", tmp_path / "cache", espeak=espeak, timeout_s=0.5)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("language", "text"), [("en", "-x; rm -rf / 'quoted'"), ("zh", "-您好 $(id) 欢迎")]
)
def test_the_voice_is_chosen_and_the_text_reaches_espeak_on_stdin_only(
    tmp_path: Path, language: str, text: str
) -> None:
    # a stand-in that records its arguments and stdin, then speaks through the real espeak-ng
    assert ESPEAK
    log = tmp_path / "log"
    espeak = fake_espeak(
        tmp_path,
        f'printf "%s\\n" "$@" > "{log}.args"\ntee "{log}.stdin" | exec "{ESPEAK}" "$@"',
    )
    result = synthesize(text, language, tmp_path / "cache", espeak=espeak)
    args = Path(f"{log}.args").read_text().splitlines()
    assert args[:5] == ["-v", VOICES[language], "-b", "1", "-w"]
    assert len(args) == 6
    assert Path(f"{log}.stdin").read_text(encoding="utf-8") == text
    speech(result.path)


def test_the_result_is_readable_by_wave_and_soundfile(tmp_path: Path) -> None:
    result = synthesize("Thank you for calling.", "en", tmp_path)
    data, rate = sf.read(io.BytesIO(result.path.read_bytes()), dtype="int16")
    assert rate == 8000
    assert data.ndim == 1
