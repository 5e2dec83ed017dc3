"""The widget script, read as text: it builds its DOM only with createElement and
textContent (nothing a visitor or an agent wrote can become markup), carries both
languages for every string, and has each data-test hook its header promises the browser
tests."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

WIDGET = Path(__file__).resolve().parents[2] / "webui" / "static" / "chat" / "widget.js"


def _code() -> str:
    text = WIDGET.read_text(encoding="utf-8")
    return text.split("*/", 1)[1]  # past the header comment


@pytest.mark.parametrize(
    "sink",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"],
)
def test_no_markup_sink(sink: str) -> None:
    assert sink not in _code()


HOOKS = (
    "open", "close", "form", "name", "phone", "email", "topic", "start", "form-error",
    "offline", "leave-form", "leave-text", "leave-send", "leave-done", "chat", "log",
    "message", "typing", "input", "send", "attach", "file-input", "transcript", "end",
    "status", "notice", "ended", "new-chat", "overflow-leave",
)  # fmt: skip


def test_every_string_in_both_languages() -> None:
    code = _code()
    blocks = dict(re.findall(r"\n    (en|zh): \{\n(.*?)\n    \},", code, re.S))
    keys = {lang: set(re.findall(r"^\s+(\w+):", body, re.M)) for lang, body in blocks.items()}
    assert set(keys) == {"en", "zh"}
    assert keys["en"] == keys["zh"]
    error_block = re.search(r"ERROR_CODES = \{(.*?)\};", code, re.S)
    assert error_block is not None
    used = set(re.findall(r'\bt\("(\w+)"', code))
    used |= set(re.findall(r': "(\w+)"', error_block.group(1)))
    assert used <= keys["en"], used - keys["en"]


def test_every_promised_test_hook_exists() -> None:
    header = WIDGET.read_text(encoding="utf-8").split("*/", 1)[0]
    hooks = set(re.findall(r'test: "([a-z-]+)"', _code()))
    for hook in HOOKS:
        assert hook in hooks, hook
        assert re.search(rf"\b{hook}\b", header), hook


def test_it_parses() -> None:
    subprocess.run(["node", "--check", str(WIDGET)], check=True)
