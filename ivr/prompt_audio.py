"""Uploaded sound files -> the one format the switch plays: 8 kHz, mono, 16-bit PCM WAV.

The bytes come from a browser upload, so they are hostile until proven otherwise: the size is
capped before anything else, the container is named by its magic bytes (WAV, MP3, FLAC, OGG,
anything else refused, saying what it looks like), the duration is read from the header and
capped before a sample is decoded, and libsndfile's errors become :class:`PromptAudioError`,
a ``ValueError`` with a message meant for the person who uploaded the file. Decoding runs in
blocks and resamples as a stream, so memory stays bounded by the 8 kHz result.

This module touches no file except through :func:`write_atomically`, which writes one
``<name>.wav`` into the folder it is given and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import struct
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from appliance.text import N_

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_DURATION_S = 600
SWITCH_RATE = 8000
MAX_SOURCE_RATE = 384_000
MAX_CHANNELS = 32
_BLOCK_SAMPLES = 1 << 18  # per read, across all channels
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

# What libsndfile must agree the container is, per sniffed format.
_LIBSNDFILE_FORMATS = {
    "wav": {"WAV", "WAVEX"},
    "mp3": {"MP3"},
    "flac": {"FLAC"},
    "ogg": {"OGG"},
}


class PromptAudioError(ValueError):
    """An upload the switch cannot use; the message is for the person who uploaded it."""


@dataclass(frozen=True)
class ConvertedPrompt:
    wav: bytes
    duration_ms: int
    source_format: str  # "wav", "mp3", "flac", "ogg"
    sha256: str  # of wav


def convert_upload(data: bytes) -> ConvertedPrompt:
    """Check and convert an uploaded sound file; :class:`PromptAudioError` if it is refused."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise PromptAudioError(
            N_(
                "file too large: {size:.1f} MB (the limit is {limit} MB)",
                size=len(data) / 1048576,
                limit=MAX_UPLOAD_BYTES // 1048576,
            )
        )
    if not data:
        raise PromptAudioError(N_("empty file"))
    source_format = sniff(data)
    if source_format == "wav":
        _check_wav_chunks(data)
    return _convert(bytes(data), source_format)


def sniff(data: bytes) -> str:
    """The container by its magic bytes ("wav", "mp3", "flac", "ogg"), else refuse it."""
    head = bytes(data[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3" or _mpeg_audio_frame(head):
        return "mp3"
    what = _looks_like(bytes(data[:4096]))
    if what:
        raise PromptAudioError(N_("not an audio file: it looks like {what}", what=what))
    raise PromptAudioError(
        N_("not an audio file the switch can use: unknown format (upload WAV, MP3, FLAC or OGG)")
    )


def _mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG-1/2/2.5 audio frame header (layer I-III) at offset 0."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 3
    layer = (head[1] >> 1) & 3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3


_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (0, b"PK\x05\x06", "a ZIP archive"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"BM", "a BMP image"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM file (not supported: upload WAV, MP3, FLAC or OGG)"),
    (4, b"ftyp", "an MP4/M4A file (not supported: upload WAV, MP3, FLAC or OGG)"),
    (0, b"FORM", "an AIFF file (not supported: upload WAV, MP3, FLAC or OGG)"),
    (0, b"\x7fELF", "a program (ELF)"),
    (0, b"MZ", "a Windows program"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"#!", "a script"),
]


def _looks_like(head: bytes) -> str | None:
    if head[:4] == b"RIFF":
        kind = head[8:12]
        if kind == b"WEBP":
            return "a WebP image"
        if kind.startswith(b"AVI"):
            return "an AVI video"
        return "a RIFF file that is not WAV"
    if head[:2] == b"\xff\xf1" or head[:2] == b"\xff\xf9":
        return "an AAC (ADTS) file (not supported: upload WAV, MP3, FLAC or OGG)"
    for offset, magic, what in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return what
    head = head.removeprefix(b"\xef\xbb\xbf")
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "HTML"
    if text.startswith(b"<") and b"<svg" in text:
        return "an SVG image"
    if any(tag in text for tag in (b"<html", b"<head", b"<body", b"<script", b"<iframe")):
        return "HTML"
    if text.startswith((b"<?xml", b"<!doctype", b"<")):
        return "XML"
    if text.startswith((b"{", b"[")):
        return "JSON or other text"
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the sample is still text
        try:
            decoded = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if decoded and all(c.isprintable() or c in "\r\n\t" for c in decoded):
        return "text"
    return None


def _check_wav_chunks(data: bytes) -> None:
    """Refuse a WAV whose ``data`` chunk promises more bytes than the file holds.

    libsndfile would quietly play what is there; a cut upload is better reported. A size of
    0 or 0xFFFFFFFF is what streaming writers leave when they cannot seek back: unknown, so
    libsndfile's reading of the rest decides.
    """
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"data":
            held = len(data) - body
            if size not in (0, 0xFFFFFFFF) and size > held:
                raise PromptAudioError(
                    N_(
                        "damaged audio: the file is cut short (the header promises {size} bytes "
                        "of sound, the file holds {held})",
                        size=size,
                        held=held,
                    )
                )
            return
        pos = body + size + (size & 1)
    # no data chunk: libsndfile says so in its own words


def _convert(data: bytes, source_format: str) -> ConvertedPrompt:
    """Decode ``data`` (already sniffed as ``source_format``) into the switch format."""
    try:
        handle = sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise PromptAudioError(N_("damaged audio: {reason}", reason=_reason(exc))) from None
    with handle as f:
        if f.format not in _LIBSNDFILE_FORMATS[source_format]:
            raise PromptAudioError(
                N_(
                    "damaged audio: it starts like {kind} but reads as {format}",
                    kind=source_format.upper(),
                    format=f.format,
                )
            )
        rate, channels, frames = f.samplerate, f.channels, f.frames
        if not 0 < rate <= MAX_SOURCE_RATE:
            raise PromptAudioError(N_("damaged audio: impossible sample rate {rate} Hz", rate=rate))
        if not 0 < channels <= MAX_CHANNELS:
            raise PromptAudioError(N_("damaged audio: {channels} channels", channels=channels))
        if frames <= 0:
            raise PromptAudioError(N_("empty audio"))
        seconds = frames / rate
        if seconds > MAX_DURATION_S:
            raise PromptAudioError(_too_long(seconds))
        mono = _decode(f, source_format, rate, channels, frames)
    if mono.size == 0:
        raise PromptAudioError(N_("empty audio"))
    wav = pcm16_wav(mono, SWITCH_RATE)
    return ConvertedPrompt(
        wav=wav,
        duration_ms=round(mono.size * 1000 / SWITCH_RATE),
        source_format=source_format,
        sha256=hashlib.sha256(wav).hexdigest(),
    )


def _decode(
    f: sf.SoundFile, source_format: str, rate: int, channels: int, frames: int
) -> np.ndarray:
    """Read block by block, mixing to mono and resampling to 8 kHz as a stream."""
    # soundfile reads no further than the header's frame count, so this only guards
    # against a header that changes its mind
    limit = MAX_DURATION_S * rate
    block = max(1024, _BLOCK_SAMPLES // channels)
    resampler = soxr.ResampleStream(rate, SWITCH_RATE, 1) if rate != SWITCH_RATE else None
    out: list[np.ndarray] = []
    decoded = 0
    try:
        while True:
            chunk = f.read(block, dtype="float32", always_2d=True)
            if len(chunk) == 0:
                break
            decoded += len(chunk)
            if decoded > limit:
                raise PromptAudioError(_too_long(decoded / rate))
            mono = chunk.mean(axis=1, dtype=np.float32) if channels > 1 else chunk[:, 0]
            out.append(resampler.resample_chunk(mono) if resampler else mono.copy())
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise PromptAudioError(N_("damaged audio: {reason}", reason=_reason(exc))) from None
    if source_format == "flac" and decoded < frames:
        raise PromptAudioError(
            N_(
                "damaged audio: the file is cut short (the header promises {promised:.1f} s, "
                "the file holds {held:.1f} s)",
                promised=frames / rate,
                held=decoded / rate,
            )
        )
    if decoded == 0:
        return np.zeros(0, dtype=np.float32)
    if resampler:
        out.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(out)


def _too_long(seconds: float) -> str:
    return f"too long: {seconds:.0f} s (the limit is {MAX_DURATION_S} s)"


def _reason(exc: Exception) -> str:
    text = getattr(exc, "error_string", "") or str(exc) or type(exc).__name__
    if "does not exist" in text or not text.strip():  # libsndfile's words for "no frames"
        return "no readable sound in it"
    return text.strip().rstrip(".")


def pcm16_wav(samples: np.ndarray, rate: int) -> bytes:
    """Float samples (full scale 1.0) -> 16-bit mono WAV, clipped rather than wrapped."""
    pcm = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def tone_wav(freq_hz: float, seconds: float, rate: int = SWITCH_RATE) -> bytes:
    """A sine at half full scale as a 16-bit mono WAV (placeholder prompts, tests)."""
    if rate <= 0 or seconds < 0 or freq_hz < 0:
        raise ValueError("tone_wav needs a positive rate and non-negative seconds and frequency")
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    return pcm16_wav(0.5 * np.sin(2 * np.pi * freq_hz * t), rate)


def write_atomically(folder: Path, name: str, data: bytes) -> Path:
    """Write ``folder/<name>.wav`` so a reader sees the old file or the new one, never half.

    ``name`` is a plain slug (no path, no dot); the file is readable by the switch's user.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"bad prompt file name {str(name)[:80]!r}: use 1-64 of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.wav"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")  # never "*.wav"
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return target
