"""The sounds the simulated Asterisk can play, found where Asterisk 22 looks for them.

Asterisk (main/file.c, ``fileexists_core``) tries, for a name without a leading ``/``,
``<sounds>/<lang>/<name>.<ext>``, then the language without its ``_dialect`` suffix, then
``<sounds>/<name>.<ext>``, then ``<sounds>/en/<name>.<ext>``. An absolute name (STREAM FILE
of ``/var/lib/ccbox/prompts/welcome``, no extension) is tried the same way with the language
put before its last component: ``/var/lib/ccbox/prompts/<lang>/welcome.<ext>``, then
``/var/lib/ccbox/prompts/welcome.<ext>``, then the ``en`` folder. ``<ext>`` is any format
Asterisk has a module for. A ``.wav`` must be what format_wav opens: PCM, mono, 16-bit,
8000 Hz (16000 Hz for ``.wav16``); anything else plays as a missing file does.

``CORE_SOUNDS`` is a small built-in list, not a copy of the core sounds package: the names
from Asterisk's core-sounds-en that ccbox plays or that SAY NUMBER / SAY DIGITS / SAY DATE
need (``beep``, ``goodbye``, ``ss-noservice``, ``digits/*``). They count as installed in
``en`` unless the library is made with ``core=False``. Every other sound (the ``ccbox-*``
system sounds included) must be installed: as files in ``sounds_dir`` (what the demo does
with ivr's sound generator) or, in tests, as names only (``install_names``) or as empty
but valid WAV files (``install_placeholders``).
"""

from __future__ import annotations

import wave
from collections.abc import Iterable
from pathlib import Path

DEFAULT_LANGUAGE = "en"

# The file extensions of the formats Asterisk 22 registers (formats/*.c ``.exts``).
EXTENSIONS = (
    "wav",
    "wav16",
    "WAV",
    "gsm",
    "ulaw",
    "pcm",
    "ul",
    "mu",
    "ulw",
    "alaw",
    "al",
    "alw",
    "sln",
    "slin",
    "raw",
    "sln16",
    "g722",
    "g729",
    "g726-32",
    "ilbc",
    "ogg",
    "au",
    "vox",
)

_NUMBERS = [str(n) for n in range(20)] + [str(n) for n in range(20, 100, 10)]
CORE_SOUNDS = frozenset(
    ["beep", "goodbye", "ss-noservice", *(f"silence/{n}" for n in range(1, 11))]
    + [f"digits/{n}" for n in _NUMBERS]
    + [f"digits/{w}" for w in ("hundred", "thousand", "million", "billion", "minus")]
    + ["digits/star", "digits/pound"]
    + [f"digits/day-{n}" for n in range(7)]
    + [f"digits/mon-{n}" for n in range(12)]
)


class SoundLibrary:
    """Which sounds exist for the simulated switch (see the module docstring).

    ``sounds_dir`` plays the part of ``/var/lib/asterisk/sounds``: ``<lang>/<name>.wav``
    files in it are found like Asterisk finds them. Without it only the built-in core
    sounds and the names installed with ``install_names`` exist.
    """

    def __init__(self, sounds_dir: Path | None = None, *, core: bool = True) -> None:
        self.sounds_dir = sounds_dir
        self._names: set[tuple[str, str]] = set()  # (language, name) known without a file
        if core:
            self.install_names(CORE_SOUNDS, (DEFAULT_LANGUAGE,))

    def install_names(self, names: Iterable[str], languages: Iterable[str] = ("en",)) -> None:
        """Make ``names`` exist in ``languages`` without files (for tests on a clock)."""
        langs = list(languages)
        for name in names:
            _check_name(name)
            for lang in langs:
                self._names.add((lang, name))

    def install_placeholders(
        self, names: Iterable[str], languages: Iterable[str] = ("en",)
    ) -> list[Path]:
        """Write each name as an empty but valid sound file (8 kHz mono WAV, no frames) in
        ``sounds_dir/<lang>/``, as a test fixture stands in for the real system sounds."""
        if self.sounds_dir is None:
            raise ValueError("install_placeholders needs a SoundLibrary with a sounds_dir")
        written = []
        langs = list(languages)
        for name in names:
            _check_name(name)
            for lang in langs:
                path = self.sounds_dir / lang / f"{name}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                with wave.open(str(path), "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(8000)
                    w.writeframes(b"")
                written.append(path)
        return written

    def find(self, name: str, language: str = DEFAULT_LANGUAGE) -> str | None:
        """Where Asterisk would find ``name`` for a channel in ``language``: a file path, or
        ``<lang>/<name>`` for a sound known by name; None when it would not find it."""
        if not name or "\x00" in name:
            return None
        for lang in _languages(language):
            if name.startswith("/"):
                folder, _, base = name.rpartition("/")
                found = _file(Path(f"{folder}/{lang}/{base}" if lang else name))
            else:
                if lang is not None and (lang, name) in self._names:
                    return f"{lang}/{name}"
                found = None
                if self.sounds_dir is not None and ".." not in name.split("/"):
                    found = _file(self.sounds_dir / lang / name if lang else self.sounds_dir / name)
            if found is not None:
                return str(found) if _playable(found) else None
        return None

    def exists(self, name: str, language: str = DEFAULT_LANGUAGE) -> bool:
        return self.find(name, language) is not None


def _check_name(name: str) -> None:
    if not name or name.startswith("/") or ".." in name.split("/") or "\x00" in name:
        raise ValueError(f"not a sound name Asterisk would look up under its sounds: {name!r}")


def _languages(preferred: str) -> list[str | None]:
    """fileexists_core's order: the language, without dialect suffixes, none, then en."""
    out: list[str | None] = []
    lang = preferred
    while lang:
        out.append(lang)
        if "_" not in lang:
            break
        lang = lang.rsplit("_", 1)[0]
    out.append(None)
    if DEFAULT_LANGUAGE not in out:
        out.append(DEFAULT_LANGUAGE)
    return out


def _file(stem: Path) -> Path | None:
    for ext in EXTENSIONS:
        path = stem.parent / f"{stem.name}.{ext}"
        if path.is_file():
            return path
    return None


def _playable(path: Path) -> bool:
    """format_wav's check_header: PCM, mono, 16-bit, 8 kHz (16 kHz for .wav16)."""
    if path.suffix not in (".wav", ".wav16"):
        return True
    try:
        with wave.open(str(path), "rb") as w:
            rate = 16000 if path.suffix == ".wav16" else 8000
            return (
                w.getcomptype() == "NONE"
                and w.getnchannels() == 1
                and w.getsampwidth() == 2
                and w.getframerate() == rate
            )
    except (wave.Error, EOFError, OSError):
        return False
