"""Text to speech for IVR prompts: espeak-ng, Mandarin Chinese and English, cached on disk.

The text comes from whoever edits a flow, so it is treated as data: control characters are
dropped (espeak-ng reads ASCII control codes as embedded commands), whitespace is collapsed,
the length is capped, and the text reaches espeak-ng on its standard input, never on the
command line (a text starting with ``-`` is spoken, not parsed as an option; SSML is off, so
markup is read as text). espeak-ng runs as an argument list with a timeout, never through a
shell.

The result is converted to the switch format (8 kHz mono 16-bit WAV, see ivr/prompt_audio.py)
and cached as ``<cache_dir>/tts-<language>-<key>.wav``, keyed by the voice and the normalized
text. This module writes only there and in a private temporary directory it removes.
Blocking: the daemon calls it from a thread pool.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

from appliance.text import N_
from ivr.prompt_audio import PromptAudioError, convert_upload, write_atomically

VOICES = {"en": "en-us", "zh": "cmn"}
MAX_TEXT = 1000


class TTSError(RuntimeError):
    """espeak-ng is missing, failed, timed out or produced no sound."""


@dataclass(frozen=True)
class TTSResult:
    path: Path
    cached: bool
    duration_ms: int


def normalize(text: str) -> str:
    """Drop control and format characters, collapse whitespace (the cache key uses this)."""
    text = unicodedata.normalize("NFC", text)
    kept = (
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )
    return " ".join("".join(kept).split())


def cache_path(text: str, language: str, cache_dir: Path) -> Path:
    """Where the prompt for ``text`` is cached (whether it exists yet or not)."""
    voice = _voice(language)
    clean = _checked_text(text)
    return cache_dir / f"{_cache_name(voice, clean, language)}.wav"


def synthesize(
    text: str,
    language: str,
    cache_dir: Path,
    *,
    espeak: str = "espeak-ng",
    timeout_s: float = 30,
) -> TTSResult:
    """The cached prompt for ``text`` in ``language``, rendered by espeak-ng if needed.

    ValueError for a text or language that cannot be spoken; TTSError when espeak-ng fails.
    """
    voice = _voice(language)
    clean = _checked_text(text)
    name = _cache_name(voice, clean, language)
    path = cache_dir / f"{name}.wav"
    duration_ms = _cached_duration(path)
    if duration_ms is not None:
        return TTSResult(path=path, cached=True, duration_ms=duration_ms)
    raw = _run_espeak(espeak, voice, clean, timeout_s)
    try:
        converted = convert_upload(raw)
    except PromptAudioError as exc:
        raise TTSError(N_("espeak-ng produced unusable audio: {exc}", exc=exc)) from None
    written = write_atomically(cache_dir, name, converted.wav)
    return TTSResult(path=written, cached=False, duration_ms=converted.duration_ms)


def _voice(language: str) -> str:
    if not isinstance(language, str) or language not in VOICES:
        known = ", ".join(sorted(VOICES))
        raise ValueError(
            N_(
                "unknown TTS language {language!r} (known: {known})",
                language=str(language)[:20],
                known=known,
            )
        )
    return VOICES[language]


def _checked_text(text: str) -> str:
    if not isinstance(text, str):
        raise ValueError(N_("the text to speak must be a string"))
    clean = normalize(text)
    if not clean:
        raise ValueError(N_("nothing to speak: the text is empty"))
    if len(clean) > MAX_TEXT:
        raise ValueError(
            N_(
                "text too long to speak: {length} characters (the limit is {limit})",
                length=len(clean),
                limit=MAX_TEXT,
            )
        )
    return clean


def _cache_name(voice: str, clean: str, language: str) -> str:
    key = hashlib.sha256(f"{voice}\0{clean}".encode()).hexdigest()
    return f"tts-{language}-{key[:20]}"


def _cached_duration(path: Path) -> int | None:
    """The duration of a usable cached file, or None (missing or damaged: render again)."""
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 8000):
                return None
            frames = w.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    return round(frames * 1000 / 8000) if frames > 0 else None


def _run_espeak(espeak: str, voice: str, text: str, timeout_s: float) -> bytes:
    with tempfile.TemporaryDirectory(prefix="ccbox-tts-") as tmp:
        out = Path(tmp) / "speech.wav"
        # -b 1: the input is UTF-8; no -m: markup is text; no text argument: read stdin.
        argv = [espeak, "-v", voice, "-b", "1", "-w", str(out)]
        try:
            proc = subprocess.run(  # noqa: S603  argument list, no shell; text on stdin
                argv,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except FileNotFoundError:
            raise TTSError(
                N_("espeak-ng not found ({espeak!r}): install espeak-ng", espeak=espeak)
            ) from None
        except PermissionError:
            raise TTSError(
                N_("espeak-ng cannot be run ({espeak!r}): permission denied", espeak=espeak)
            ) from None
        except subprocess.TimeoutExpired:
            raise TTSError(
                N_(
                    "espeak-ng took longer than {timeout_s:g} s and was stopped",
                    timeout_s=timeout_s,
                )
            ) from None
        except OSError as exc:
            raise TTSError(N_("espeak-ng could not be started: {exc}", exc=exc)) from None
        why = _summary(proc.stderr)
        if proc.returncode != 0:
            raise TTSError(
                N_(
                    "espeak-ng failed (exit {returncode}): {why}",
                    returncode=proc.returncode,
                    why=why or N_("no message"),
                )
            )
        try:
            raw = out.read_bytes()
        except OSError:
            raw = b""
        if len(raw) <= 44:
            raise TTSError(
                N_("espeak-ng produced no sound: {why}", why=why)
                if why
                else N_("espeak-ng produced no sound")
            )
        return raw


def _summary(stderr: bytes, limit: int = 300) -> str:
    text = " ".join(stderr.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
