"""Every ``ccbox-*`` sound the code can play has English and Chinese text in the catalog, and
installing renders each into a WAV Asterisk plays (8 kHz mono 16-bit) in both languages."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest

from acd import phone_codes
from drivers.asterisk import confgen, dialplan
from ivr import system_sounds, tts
from ivr.prompt_library import SYSTEM_SOUNDS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("appliance", "acd", "ivr", "recorder", "drivers", "webui")
NAME = re.compile(r"""["'](ccbox-[a-z0-9-]+)["']""")
# "ccbox-..." strings that are no sound: thread pools and threads, the demo's data folder,
# the backup archive's format name and its secrets' associated data (appliance/backup/).
NOT_SOUNDS = {
    "ccbox-db",
    "ccbox-web",
    "ccbox-recorder",
    "ccbox-upkeep",
    "ccbox-data",
    "ccbox-list-import",
    "ccbox-list-upload",
    "ccbox-backup",  # the backup service's thread pool, layout.FORMAT
    "ccbox-backup-secrets-1",  # secrets.py's AEAD associated data (an archive format)
    "ccbox-watchdog",  # drivers/serial/watchdog.py's thread
}


def names_in_the_code() -> set[str]:
    """Every quoted ``ccbox-...`` string of the packages, as `grep -rhoE` finds them."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found.update(NAME.findall(path.read_text(encoding="utf-8")))
    return found


def dialplan_contexts() -> set[str]:
    text = confgen.extensions_conf(confgen.AsteriskSettings())
    return set(dialplan.parse(text).contexts)


def sounds_the_code_plays() -> set[str]:
    names = names_in_the_code() - dialplan_contexts() - NOT_SOUNDS
    return {n for n in names if not n.endswith("-")}  # prefixes ("ccbox-tts-") are no names


def test_every_sound_the_code_plays_is_in_the_catalog() -> None:
    played = sounds_the_code_plays()
    # The scan sees the sounds of each part (so it cannot pass by finding nothing).
    assert {"ccbox-queue-wait", "ccbox-welcome", "ccbox-agent-pin", "ccbox-vm-youhave"} <= played
    # Hold music is the switch's music on hold: no ccbox sound of that name is left.
    assert not {n for n in played if n.startswith("ccbox-hold")}
    assert len(played) >= 30
    missing = sorted(played - system_sounds.NAMES)
    assert not missing, f"add these to ivr/system_sounds.py's CATALOG: {missing}"
    # and the flows may name every one of them
    assert system_sounds.NAMES | {"beep"} == SYSTEM_SOUNDS


def test_the_scan_would_catch_a_new_name(tmp_path: Path) -> None:
    assert NAME.findall('NEW = "ccbox-new-sound"  # a later change') == ["ccbox-new-sound"]
    assert "ccbox-new-sound" not in system_sounds.NAMES


def test_each_sound_speaks_english_and_chinese() -> None:
    for name, sound in system_sounds.CATALOG.items():
        assert sound.name == name
        assert sound.en.isascii() and re.search(r"[A-Za-z]", sound.en), name
        assert re.search(r"[\u4e00-\u9fff]", sound.zh), name


def test_the_pause_reason_prompt_says_the_keys_the_code_reads() -> None:
    assert phone_codes.REASON_KEYS == {
        "1": "break",
        "2": "lunch",
        "3": "training",
        "4": "meeting",
        "5": "after_call_work",
    }, "ccbox-agent-pause-reason says these keys: change its texts with them"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The sounds, generated once for the test session (espeak-ng: scripts/system-deps.sh)."""
    dest = tmp_path_factory.mktemp("sounds")
    return dest, system_sounds.install_system_sounds(dest)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000), path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def test_install_writes_a_playable_wav_per_sound_and_language(
    installed: tuple[Path, list[Path]],
) -> None:
    dest, paths = installed
    expected = {dest / lang / f"{n}.wav" for lang in ("en", "zh") for n in system_sounds.NAMES}
    assert set(paths) == expected and len(paths) == len(expected)
    assert {p.name for p in dest.rglob("*") if p.is_file()} == {p.name for p in expected}
    for path in paths:
        samples = read_wav(path)
        seconds = len(samples) / 8000
        rms = float(np.sqrt(np.mean(samples**2)))
        assert seconds >= 0.3 and rms > 300, (path, seconds, rms)  # heard, not silence
        assert path.stat().st_mode & 0o044 == 0o044  # Asterisk's user reads it


def test_chinese_and_english_are_different_recordings(installed: tuple[Path, list[Path]]) -> None:
    dest, _ = installed
    for name in system_sounds.NAMES:
        assert (dest / "en" / f"{name}.wav").read_bytes() != (
            dest / "zh" / f"{name}.wav"
        ).read_bytes(), name


def test_bad_languages_and_a_missing_espeak_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no system sounds in 'fr'"):
        system_sounds.install_system_sounds(tmp_path, ["en", "fr"])
    with pytest.raises(ValueError, match="no language"):
        system_sounds.install_system_sounds(tmp_path, [])
    with pytest.raises(tts.TTSError, match="espeak-ng not found"):
        system_sounds.install_system_sounds(tmp_path, ["en"], espeak=str(tmp_path / "nope"))
    assert not list(tmp_path.rglob("*.wav"))


def test_the_readme_says_where_asterisk_looks(tmp_path: Path) -> None:
    copy = system_sounds.readme(tmp_path / "sounds")
    for lang in ("en", "zh"):
        assert f"{tmp_path}/sounds/{lang}/" in copy
        assert f"/var/lib/asterisk/sounds/{lang}" in copy
    assert "language=zh" in copy
    assert "ccbox-hold" not in copy and "musiconhold.conf" in copy
    assert "nothing to copy" in system_sounds.readme(
        Path("/var/lib/asterisk/sounds"), in_place=True
    )
