"""What the scenarios compare: ccbox's rows against Asterisk's own records, and the audio of
a recording (the harness's caller plays 440 Hz, the desk phones 880 Hz)."""

from __future__ import annotations

import datetime as dt
import wave
from pathlib import Path
from typing import Any

import numpy as np

CALLER_HZ = 440.0
AGENT_HZ = 880.0


def seconds(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds()


def talk_from_history(events: list[dict[str, Any]], since: float = 0) -> list[float]:
    """Each on_call spell in an agent's history (on_call to the next state) that began
    after ``since`` (epoch seconds), in seconds."""
    spells, start = [], None
    for e in events:
        if e["state"] == "on_call":
            start = e["at"]
        elif start is not None:
            if start.timestamp() >= since:
                spells.append(seconds(start, e["at"]))
            start = None
    return spells


def states(events: list[dict[str, Any]]) -> list[str]:
    return [e["state"] for e in events]


def phone_talk(cdr: dict[str, Any]) -> float:
    """How long the phone end was answered, from its CDR (answer and end, microseconds)."""
    answer, end = float(cdr["answer"]), float(cdr["end"])
    assert answer > 0, f"the phone never answered: {cdr}"
    return end - answer


def tone_power(samples: np.ndarray, rate: int, hz: float) -> float:
    """The share of the signal's energy within 30 Hz of ``hz`` (0..1)."""
    if samples.size == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    total = float(spectrum.sum())
    if total <= 0:
        return 0.0
    band = (freqs > hz - 30) & (freqs < hz + 30)
    return float(spectrum[band].sum()) / total


def stereo_legs(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """The left and right channels of a 16-bit stereo WAV (fails unless it is one)."""
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2, f"{path} has {w.getnchannels()} channel(s), not 2"
        assert w.getsampwidth() == 2, f"{path}: {8 * w.getsampwidth()}-bit samples"
        rate = w.getframerate()
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return frames[:, 0], frames[:, 1], rate


def assert_caller_left_agent_right(path: Path) -> float:
    """The caller's 440 Hz on the left, the agent's 880 Hz on the right; returns seconds."""
    left, right, rate = stereo_legs(path)
    assert left.size > rate, f"{path}: only {left.size / rate:.2f} s of audio"
    caller_l, agent_l = tone_power(left, rate, CALLER_HZ), tone_power(left, rate, AGENT_HZ)
    caller_r, agent_r = tone_power(right, rate, CALLER_HZ), tone_power(right, rate, AGENT_HZ)
    assert caller_l > 0.3 and caller_l > 5 * agent_l, (
        f"left channel is not the caller: 440 Hz {caller_l:.2f}, 880 Hz {agent_l:.2f}"
    )
    assert agent_r > 0.3 and agent_r > 5 * caller_r, (
        f"right channel is not the agent: 880 Hz {agent_r:.2f}, 440 Hz {caller_r:.2f}"
    )
    return left.size / rate


def _matches(value: Any, want: str) -> bool:
    text = str(value if value is not None else "")
    return text.startswith(want[:-1]) if want.endswith("*") else text == want


def cdr_of(cdrs: list[dict[str, Any]], **match: str) -> list[dict[str, Any]]:
    """CDRs whose fields equal the given values; a value ending in ``*`` is a prefix
    (``dstchannel="IAX2/1001-*"``)."""
    return [c for c in cdrs if all(_matches(c.get(k), v) for k, v in match.items())]


class Findings:
    """Every check of a scenario, run to the end: the test fails with all that were wrong,
    so one run on the real switch tells everything it shows (not only the first)."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.problems.append(what)
        return ok

    def equal(self, seen: Any, want: Any, what: str) -> bool:
        return self.check(seen == want, f"{what}: {seen!r}, want {want!r}")

    def near(self, seen: float, want: float, tolerance: float, what: str) -> bool:
        return self.check(
            abs(seen - want) <= tolerance,
            f"{what}: {seen:.3f}, want {want:.3f} +- {tolerance}",
        )

    def verdict(self) -> None:
        assert not self.problems, "\n".join(["the real switch showed:", *self.problems])
