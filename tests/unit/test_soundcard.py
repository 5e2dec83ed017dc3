"""The box's sound card through the real PortAudio and ALSA, with no sound card at all.

Each case runs in a fresh interpreter whose ``HOME`` holds an ``.asoundrc`` (PortAudio reads
the ALSA configuration when it starts, so the environment must be set first). The devices
are ALSA ``file`` plugins on the ``null`` device: playback is written to a raw file, capture
reads a raw file we prepared. ``plug`` devices whose slave rate is fixed and whose rate
converter does not exist accept only that one rate: a real ALSA device that refuses 8 kHz.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ivr.prompt_audio import tone_wav

REPO = Path(__file__).resolve().parents[2]

ASOUNDRC = """
pcm.ccb_play {{ type file; slave.pcm "null"; file "{d}/play.raw"; format "raw" }}
pcm.ccb_rec {{ type file; slave.pcm "null"; file "/dev/null"; infile "{d}/rec.raw"; format "raw" }}

pcm.ccb_sink48 {{ type file; slave.pcm "null"; file "{d}/play48.raw"; format "raw" }}
pcm.ccb_only48_play {{
    type plug
    slave {{ pcm "ccb_sink48"; rate 48000 }}
    rate_converter "ccbox-no-such-converter"
}}
pcm.ccb_source48 {{
    type file; slave.pcm "null"; file "/dev/null"; infile "{d}/rec48.raw"; format "raw"
}}
pcm.ccb_only48_rec {{
    type plug
    slave {{ pcm "ccb_source48"; rate 48000 }}
    rate_converter "ccbox-no-such-converter"
}}

pcm.ccb_sink11 {{ type file; slave.pcm "null"; file "{d}/play11.raw"; format "raw" }}
pcm.ccb_only11025_play {{
    type plug
    slave {{ pcm "ccb_sink11"; rate 11025 }}
    rate_converter "ccbox-no-such-converter"
}}
"""


def run(home: Path, code: str) -> Any:
    """Run ``code`` in a fresh interpreter that sees only ``home``'s ALSA devices; it prints
    one JSON line, which is returned."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSA_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), PYTHONPATH=str(REPO))
    prologue = "import json, sys\nfrom drivers.audio import soundcard as sc\n"
    proc = subprocess.run(
        [sys.executable, "-c", prologue + code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def alsa(tmp_path: Path) -> Path:
    """A home folder whose .asoundrc defines the file-backed devices above."""
    (tmp_path / ".asoundrc").write_text(ASOUNDRC.format(d=tmp_path))
    for name in ("rec.raw", "rec48.raw"):  # a capture device whose infile is missing fails
        (tmp_path / name).write_bytes(bytes(2000))
    return tmp_path


def pcm(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype="<i2")


def wav_samples(data: bytes, rate: int = 8000) -> np.ndarray:
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, rate)
        return pcm(w.readframes(w.getnframes()))


def sine(freq: float, seconds: float, rate: int, amplitude: float = 12000) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def zero_crossings_per_s(x: np.ndarray, rate: int) -> float:
    middle = x[len(x) // 10 : -len(x) // 10]
    return np.count_nonzero(np.diff(np.signbit(middle).astype(np.int8))) * rate / len(middle)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def play(home: Path, wav: bytes, device: str) -> None:
    (home / "prompt.wav").write_bytes(wav)
    run(home, f"sc.play_wav(open({str(home / 'prompt.wav')!r}, 'rb').read(), {device!r})\nprint(1)")


def record(home: Path, seconds: float, device: str) -> np.ndarray:
    got = home / "recorded.wav"
    run(home, f"open({str(got)!r}, 'wb').write(sc.record_wav({seconds}, {device!r}))\nprint(1)")
    return wav_samples(got.read_bytes())


def test_list_devices_shows_the_alsa_devices(alsa: Path) -> None:
    out = run(alsa, "print(json.dumps(sc.list_devices()))")
    by_name = {d["name"]: d for d in out}
    assert {"ccb_play", "ccb_rec", "ccb_only48_play"} <= set(by_name)
    assert by_name["ccb_play"]["max_output_channels"] >= 1
    assert by_name["ccb_rec"]["max_input_channels"] >= 1
    assert by_name["ccb_play"]["index"] == out.index(by_name["ccb_play"])


def test_play_wav_writes_exactly_the_samples_at_8k(alsa: Path) -> None:
    wav = tone_wav(440, 1.0)
    play(alsa, wav, "ccb_play")
    played = (alsa / "play.raw").read_bytes()
    expected = wav[44:]
    assert len(expected) == 16000
    # PortAudio may pad with silence around it; the tone itself arrives bit for bit
    assert expected in played
    assert len(played) - len(expected) < 8000


def test_play_wav_uses_the_files_own_rate(alsa: Path) -> None:
    wav = tone_wav(1000, 0.5, rate=16000)
    play(alsa, wav, "ccb_play")
    played = (alsa / "play.raw").read_bytes()
    assert wav[44:] in played  # not resampled: the device took 16 kHz as it is


def test_play_wav_resamples_for_a_device_that_refuses_8k(alsa: Path) -> None:
    wav = tone_wav(440, 1.0)
    probe = """
import sounddevice as sd
try:
    sd.check_output_settings('ccb_only48_play', samplerate=8000, channels=1, dtype='int16')
    print(json.dumps('accepted'))
except sd.PortAudioError as exc:
    print(json.dumps(str(exc)))
"""
    assert run(alsa, probe) != "accepted"  # the device really refuses 8 kHz
    play(alsa, wav, "ccb_only48_play")
    played = pcm((alsa / "play48.raw").read_bytes())
    tone = played[np.flatnonzero(played)[0] :]
    assert abs(len(tone) - 48000) < 2400
    assert zero_crossings_per_s(tone[:48000], 48000) == pytest.approx(880, abs=6)
    assert rms(tone[4800:43200]) == pytest.approx(16384 / np.sqrt(2), rel=0.03)


def test_play_wav_falls_back_to_the_devices_default_rate(alsa: Path) -> None:
    # accepts only 11025 Hz, which is in no fixed list: PortAudio reports it as the default
    wav = tone_wav(500, 1.0)
    play(alsa, wav, "ccb_only11025_play")
    played = pcm((alsa / "play11.raw").read_bytes())
    assert abs(len(played) - 11025) < 1200
    assert zero_crossings_per_s(played[:11025], 11025) == pytest.approx(1000, abs=8)


def test_record_wav_returns_the_captured_samples(alsa: Path) -> None:
    source = sine(697, 2.0, 8000)
    (alsa / "rec.raw").write_bytes(source.tobytes())
    got = record(alsa, 1.0, "ccb_rec")
    assert len(got) == 8000
    assert np.array_equal(got, source[:8000])


def test_record_wav_resamples_a_48k_device_to_8k(alsa: Path) -> None:
    source = sine(1000, 2.0, 48000)
    (alsa / "rec48.raw").write_bytes(source.tobytes())
    got = record(alsa, 1.5, "ccb_only48_rec")
    assert abs(len(got) - 12000) <= 2
    assert zero_crossings_per_s(got, 8000) == pytest.approx(2000, abs=8)
    assert rms(got[800:-800]) == pytest.approx(12000 / np.sqrt(2), rel=0.03)


ERRORS = """
import sounddevice
from ivr.prompt_audio import tone_wav
out = {}
for key, call in [
    ("play_default", lambda: sc.play_wav(tone_wav(440, 0.2))),
    ("record_default", lambda: sc.record_wav(0.2)),
    ("play_unknown", lambda: sc.play_wav(tone_wav(440, 0.2), "no-such-card")),
    ("record_unknown", lambda: sc.record_wav(0.2, 99)),
]:
    try:
        call()
        out[key] = "no error"
    except sc.SoundcardError as exc:
        out[key] = str(exc)
out["devices"] = sc.list_devices()
print(json.dumps(out))
"""


def test_no_sound_card_is_a_clear_soundcard_error(tmp_path: Path) -> None:
    out = run(tmp_path, ERRORS)  # no .asoundrc: ALSA has no device at all
    assert out["devices"] == []
    assert out["play_default"] == (
        "no sound output device: is a sound card or USB headset connected?"
    )
    assert out["record_default"] == (
        "no sound input device: is a sound card or USB headset connected?"
    )
    assert out["play_unknown"] == "no sound output device 'no-such-card' (see the device list)"
    assert out["record_unknown"] == "no sound input device 99 (see the device list)"


def test_bad_arguments_are_refused_before_portaudio(alsa: Path) -> None:
    out = run(
        alsa,
        """
out = {}
for key, call in [
    ("long", lambda: sc.record_wav(601, 'ccb_rec')),
    ("zero", lambda: sc.record_wav(0, 'ccb_rec')),
    ("not_wav", lambda: sc.play_wav(b'<html></html>', 'ccb_play')),
]:
    try:
        call()
        out[key] = "no error"
    except ValueError as exc:
        out[key] = str(exc)
print(json.dumps(out))
""",
    )
    assert out["long"] == "a recording is 0 to 600 s long, not 601"
    assert out["zero"] == "a recording is 0 to 600 s long, not 0"
    assert out["not_wav"].startswith("not a playable sound file")
    assert not (alsa / "play.raw").exists()
