"""The box's own sound card through PortAudio (sounddevice): record and preview prompts.

An administrator standing at the box records a prompt on its microphone and listens to one
on its speaker. Recording returns the switch format (8 kHz mono 16-bit WAV); playback sends
a WAV at its own rate, or, when the device refuses that rate, resampled to one it accepts.
Every PortAudio failure (no device, a name that matches none, a rate nothing accepts)
becomes :class:`SoundcardError` with a message for that administrator.

It touches only the sound devices; no files. Blocking: the daemon calls it from a thread
pool. PortAudio reads the device list (ALSA's configuration included) when sounddevice is
first imported, which is done here on first use.
"""

from __future__ import annotations

import io
import wave
from typing import Any

import numpy as np
import soundfile as sf
import soxr

MAX_RECORD_S = 600
SWITCH_RATE = 8000
# Tried after the asked rate and the device's default, when the device refuses those.
FALLBACK_RATES = (48000, 44100, 32000, 22050, 16000, 96000)

Device = int | str | None


class SoundcardError(RuntimeError):
    """The sound card could not do what was asked; the message says why."""


def _sd() -> Any:
    try:
        import sounddevice
    except OSError as exc:  # the PortAudio library itself is missing
        raise SoundcardError(f"PortAudio is not available (install libportaudio2): {exc}") from None
    return sounddevice


def list_devices() -> list[dict]:
    """Every PortAudio device: index, name, max input/output channels, default rate."""
    sd = _sd()
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as exc:
        raise SoundcardError(f"cannot list sound devices: {exc}") from None
    return [
        {
            "index": int(d["index"]),
            "name": str(d["name"]),
            "max_input_channels": int(d["max_input_channels"]),
            "max_output_channels": int(d["max_output_channels"]),
            "default_samplerate": float(d["default_samplerate"]),
        }
        for d in devices
    ]


def play_wav(wav: bytes, device: Device = None) -> None:
    """Play ``wav`` on ``device`` (index, name, or None for the default), until it ends."""
    try:
        data, file_rate = sf.read(io.BytesIO(wav), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise ValueError(f"not a playable sound file: {exc}") from None
    if len(data) == 0:
        return
    sd = _sd()
    info = _device_info(sd, device, "output")
    channels = data.shape[1]
    choices = [c for c in dict.fromkeys((channels, 2, 1)) if c <= info["max_output_channels"]]
    out_channels, rate = _settings(sd, device, info, "output", choices, int(file_rate))
    samples = _remix(data, out_channels)
    if rate != file_rate:
        samples = _resample(samples, int(file_rate), rate)
    try:
        with sd.OutputStream(
            samplerate=rate, channels=out_channels, dtype="int16", device=device
        ) as stream:
            stream.write(np.ascontiguousarray(samples))
            stream.stop()  # drains what is queued (close alone would drop it)
    except sd.PortAudioError as exc:
        raise SoundcardError(f"playing on {info['name']!r} failed: {exc}") from None


def record_wav(seconds: float, device: Device = None, rate: int = SWITCH_RATE) -> bytes:
    """Record ``seconds`` from ``device``, asking it for ``rate``; an 8 kHz mono WAV."""
    if not 0 < seconds <= MAX_RECORD_S:
        raise ValueError(f"a recording is 0 to {MAX_RECORD_S} s long, not {seconds}")
    if rate <= 0:
        raise ValueError(f"bad sample rate {rate}")
    sd = _sd()
    info = _device_info(sd, device, "input")
    choices = [c for c in (1, 2) if c <= info["max_input_channels"]]
    channels, actual = _settings(sd, device, info, "input", choices, int(rate))
    frames = round(seconds * actual)
    try:
        with sd.InputStream(
            samplerate=actual, channels=channels, dtype="int16", device=device
        ) as stream:
            data, _overflowed = stream.read(frames)
    except sd.PortAudioError as exc:
        raise SoundcardError(f"recording from {info['name']!r} failed: {exc}") from None
    mono = _remix(np.asarray(data, dtype=np.int16).reshape(-1, channels), 1)
    if actual != SWITCH_RATE:
        mono = _resample(mono, actual, SWITCH_RATE)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SWITCH_RATE)
        w.writeframes(mono.astype("<i2").tobytes())
    return buf.getvalue()


def _device_info(sd: Any, device: Device, kind: str) -> dict:
    try:
        info = dict(sd.query_devices(device, kind))
    except ValueError:  # a name or index that matches no device of that kind
        raise SoundcardError(f"no sound {kind} device {device!r} (see the device list)") from None
    except sd.PortAudioError:
        if device is None:
            raise SoundcardError(
                f"no sound {kind} device: is a sound card or USB headset connected?"
            ) from None
        raise SoundcardError(f"no sound {kind} device {device!r} (see the device list)") from None
    if info[f"max_{kind}_channels"] < 1:
        raise SoundcardError(f"{info['name']!r} is not a sound {kind} device")
    return info


def _settings(
    sd: Any, device: Device, info: dict, kind: str, channel_choices: list[int], wanted: int
) -> tuple[int, int]:
    """The first (channels, rate) the device accepts, preferring ``wanted`` Hz."""
    check = sd.check_output_settings if kind == "output" else sd.check_input_settings
    rates = list(dict.fromkeys((wanted, round(info["default_samplerate"]), *FALLBACK_RATES)))
    for channels in channel_choices:
        for rate in rates:
            try:
                check(device=device, channels=channels, dtype="int16", samplerate=rate)
            except (sd.PortAudioError, ValueError):
                continue
            return channels, rate
    tried = ", ".join(str(r) for r in rates)
    raise SoundcardError(
        f"sound {kind} device {info['name']!r} accepts none of these sample rates: {tried} Hz"
    )


def _remix(data: np.ndarray, channels: int) -> np.ndarray:
    """int16 frames x channels -> ``channels`` (1: the mean; more: mono copied to each)."""
    if data.shape[1] == channels:
        return data
    mono = data.mean(axis=1).round().astype(np.int16)
    return np.repeat(mono[:, None], channels, axis=1) if channels > 1 else mono[:, None]


def _resample(data: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    x = data.astype(np.float32) / 32768.0
    y = soxr.resample(x, from_rate, to_rate)
    return np.clip(np.rint(y * 32768.0), -32768, 32767).astype(np.int16).reshape(-1, data.shape[1])
