"""Answering-machine detection as Asterisk 22's ``AMD()`` decides it (apps/app_amd.c, read
for its rules and defaults, not copied): the called party's audio, 20 ms frames of voice or
silence, against the default thresholds of amd.conf.

It sets ``AMDSTATUS`` (``MACHINE``, ``HUMAN``, ``NOTSURE``, ``HANGUP``) and ``AMDCAUSE``
(``INITIALSILENCE-<silence>-<initialSilence>``, ``HUMAN-<silence>-<afterGreetingSilence>``,
``LONGGREETING-<voice>-<greeting>``, ``MAXWORDS-<words>-<maximumNumberOfWords>``,
``MAXWORDLENGTH-<voice>``, ``TOOLONG-<total>``; empty after a hangup), the values the
application documents, after as long as the analysis takes.

The simulated party's audio is a list of ``(kind, ms)`` segments, ``kind`` ``voice`` or
``silence``; after the last segment the line is silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FRAME_MS = 20


@dataclass(frozen=True)
class AMDSettings:
    """amd.conf's defaults (app_amd.c)."""

    initial_silence: int = 2500
    greeting: int = 1500
    after_greeting_silence: int = 800
    total_analysis_time: int = 5000
    minimum_word_length: int = 100
    between_words_silence: int = 50
    maximum_number_of_words: int = 2
    maximum_word_length: int = 5000


@dataclass(frozen=True)
class Verdict:
    status: str
    cause: str
    after_s: float  # how long the analysis ran


# A person: "Hello?" after a short pause, then waits for an answer.
PERSON: tuple[tuple[str, int], ...] = (("silence", 300), ("voice", 600), ("silence", 10_000))
# A machine: a greeting of several words with short pauses between them.
MACHINE: tuple[tuple[str, int], ...] = (
    ("silence", 200),
    ("voice", 500),
    ("silence", 150),
    ("voice", 700),
    ("silence", 150),
    ("voice", 900),
    ("silence", 150),
    ("voice", 3000),
)


def _frames(speech: Sequence[tuple[str, int]]) -> list[bool]:
    """True for a voice frame."""
    out: list[bool] = []
    for kind, ms in speech:
        out.extend([kind == "voice"] * max(0, ms // FRAME_MS))
    return out


def detect(
    speech: Sequence[tuple[str, int]],
    settings: AMDSettings = AMDSettings(),
    hangup_after_ms: int | None = None,
) -> Verdict:
    """What AMD() concludes on ``speech`` (``hangup_after_ms``: the party hangs up then)."""
    s = settings
    frames = _frames(speech)
    silence = voice = consecutive = words = 0
    in_word = False
    initial = True  # no voice heard yet
    greeting = False  # a greeting (a word or more) has started
    elapsed = 0
    i = 0
    while True:
        if hangup_after_ms is not None and elapsed >= hangup_after_ms:
            return Verdict("HANGUP", "", elapsed / 1000)
        elapsed += FRAME_MS
        if elapsed > s.total_analysis_time:
            return Verdict("NOTSURE", f"TOOLONG-{elapsed - FRAME_MS}", elapsed / 1000)
        is_voice = frames[i] if i < len(frames) else False
        i += 1
        if not is_voice:
            silence += FRAME_MS
            if silence >= s.between_words_silence:
                in_word = False
                consecutive = 0
            if initial and silence >= s.initial_silence:
                cause = f"INITIALSILENCE-{silence}-{s.initial_silence}"
                return Verdict("MACHINE", cause, elapsed / 1000)
            if greeting and silence >= s.after_greeting_silence:
                cause = f"HUMAN-{silence}-{s.after_greeting_silence}"
                return Verdict("HUMAN", cause, elapsed / 1000)
            continue
        consecutive += FRAME_MS
        voice += FRAME_MS
        if consecutive >= s.minimum_word_length and not in_word:
            words += 1
            in_word = True
        if consecutive >= s.maximum_word_length:
            return Verdict("MACHINE", f"MAXWORDLENGTH-{consecutive}", elapsed / 1000)
        if words > s.maximum_number_of_words:
            cause = f"MAXWORDS-{words}-{s.maximum_number_of_words}"
            return Verdict("MACHINE", cause, elapsed / 1000)
        if greeting and voice >= s.greeting:
            cause = f"LONGGREETING-{voice}-{s.greeting}"
            return Verdict("MACHINE", cause, elapsed / 1000)
        if voice >= s.minimum_word_length:
            silence = 0
            initial = False
            greeting = True
