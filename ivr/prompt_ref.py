"""How a node names what the caller hears: an uploaded/recorded prompt, or text to speak.

In a flow document a prompt prop is either the name of a prompt in the library
(``"welcome"``) or ``{"tts": "Welcome to ...", "lang": "en"}``. TTS is rendered to a cached
file (ivr/tts.py) when the flow is published, and again on demand if the cache was cleared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PROMPT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MAX_TTS = 1000


@dataclass(frozen=True)
class PromptRef:
    name: str | None = None  # a prompt in the library
    tts: str | None = None  # or text to speak
    lang: str = "en"


def prompt_ref(value: Any) -> PromptRef | None:
    """The prompt a prop names; None when the prop is empty; ValueError when malformed."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if not PROMPT_NAME.fullmatch(value):
            raise ValueError("a prompt name is 1-64 of a-z, 0-9 and -")
        return PromptRef(name=value)
    if isinstance(value, dict) and set(value) <= {"tts", "lang"}:
        text, lang = value.get("tts"), value.get("lang", "en")
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the text to speak is empty")
        if len(text) > MAX_TTS:
            raise ValueError(f"the text to speak is longer than {MAX_TTS} characters")
        if not isinstance(lang, str):
            raise ValueError("lang must be text")
        return PromptRef(tts=text, lang=lang)
    raise ValueError('a prompt is a prompt name or {"tts": text, "lang": "en" or "zh"}')
