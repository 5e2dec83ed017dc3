"""Where the switch finds what a node plays: the prompt library and the TTS cache.

Library prompts are ``<data_dir>/prompts/<name>.wav`` (8 kHz mono, written by the web UI's
upload, the box's microphone or TTS); STREAM FILE gets their absolute path without the
extension. TTS text is rendered to ``<data_dir>/prompts/tts/`` by espeak-ng (ivr/tts.py),
cached by voice and text: when a flow is published, and again on demand if the cache was
cleared. The ``ccbox-*`` system sounds live in Asterisk's own sounds folder
(ivr/system_sounds.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from twisted.internet import threads
from twisted.logger import Logger

from ivr import system_sounds, tts
from ivr.flow_model import Flow
from ivr.prompt_ref import PromptRef, prompt_ref

log = Logger(namespace="ccbox.ivr.prompts")

# The sounds a flow may name without uploading them: ccbox's own system sounds (rendered
# into Asterisk's sounds folder by `ccbox asterisk-config`, see ivr/system_sounds.py) and
# Asterisk's core beep.
SYSTEM_SOUNDS = system_sounds.NAMES | {"beep"}
PROMPT_PROPS = ("prompt", "timeout_prompt", "invalid_prompt")


class PromptLibrary:
    def __init__(self, prompts_dir: Path, reactor: Any = None) -> None:
        self.prompts_dir = prompts_dir
        self.tts_dir = prompts_dir / "tts"
        self.reactor = reactor
        self._tts: dict[tuple[str, str], str] = {}

    def path_of(self, name: str) -> Path:
        return self.prompts_dir / f"{name}.wav"

    def sound_for_name(self, name: str) -> str:
        if name in SYSTEM_SOUNDS:
            return name
        return str(self.prompts_dir / name)

    async def sound(self, ref: PromptRef) -> str | None:
        """What STREAM FILE plays for ``ref`` (None: TTS could not be rendered)."""
        if ref.name is not None:
            return self.sound_for_name(ref.name)
        assert ref.tts is not None
        key = (ref.lang, ref.tts)
        if key not in self._tts:
            try:
                path = await threads.deferToThread(self._render, ref.tts, ref.lang)
            except Exception:
                log.failure("TTS failed for a {lang} prompt", lang=ref.lang)
                return None
            self._tts[key] = path
        return self._tts[key]

    def _render(self, text: str, lang: str) -> str:
        result = tts.synthesize(text, lang, self.tts_dir)
        return str(result.path.with_suffix(""))

    async def render_flow(self, flow: Flow) -> int:
        """Render every TTS prompt of a flow ahead of its first call (at publish)."""
        count = 0
        for node in flow.nodes.values():
            for prop in PROMPT_PROPS:
                try:
                    ref = prompt_ref(node.props.get(prop))
                except ValueError:
                    continue
                if ref is not None and ref.tts is not None:
                    if await self.sound(ref) is None:
                        raise RuntimeError(f"{node.id}: text-to-speech failed")
                    count += 1
        return count
