"""The co-browsing scripts, read as text: no markup sink (what a visitor's page or an agent
sends never becomes markup here; the replay is rrweb's, in its sandboxed frame), both
languages for every string of the visitor's side, the data-test hooks the headers promise,
the masking every recorder must set, and they parse (node --check). Their behaviour in a
browser is the browser tests' (a headless Chromium run is described in the commit that
fixed input sampling)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "webui" / "static"
VISITOR = STATIC / "chat" / "cobrowse.js"
VIEWER = STATIC / "cobrowse_view.js"
DESK = STATIC / "desk_record.js"
SCRIPTS = (VISITOR, VIEWER, DESK)


def _code(path: Path) -> str:
    return path.read_text(encoding="utf-8").split("*/", 1)[1]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "sink",
    ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"],
)
def test_no_markup_sink(path: Path, sink: str) -> None:
    assert sink not in _code(path)


def test_the_visitors_strings_are_in_both_languages() -> None:
    code = _code(VISITOR)
    blocks = dict(re.findall(r"\n    (en|zh): \{\n(.*?)\n    \},", code, re.S))
    keys = {lang: set(re.findall(r"^\s+(\w+):", body, re.M)) for lang, body in blocks.items()}
    assert set(keys) == {"en", "zh"}
    assert keys["en"] == keys["zh"]
    used = set(re.findall(r'\bt\("(\w+)"', code))
    used |= set(re.findall(r'var key = .*? \? "(\w+)" : "(\w+)"', code)[0])
    assert used and used <= keys["en"], used - keys["en"]


VISITOR_HOOKS = (
    "cobrowse-consent", "cobrowse-allow", "cobrowse-deny", "cobrowse-banner",
    "cobrowse-stop", "cobrowse-push-notice", "cobrowse-code-form", "cobrowse-code",
    "cobrowse-code-go", "cobrowse-code-error", "cobrowse-ended",
)  # fmt: skip


def test_the_visitors_promised_hooks_exist() -> None:
    header = VISITOR.read_text(encoding="utf-8").split("*/", 1)[0]
    code = _code(VISITOR)
    hooks = set(re.findall(r'test: "([a-z-]+)"', code))
    hooks |= set(re.findall(r'notice\(.*?, "([a-z-]+)"\)', code))
    for hook in VISITOR_HOOKS:
        assert hook in hooks, hook
        assert hook in header, hook


@pytest.mark.parametrize("path", (VISITOR, DESK), ids=lambda p: p.name)
def test_every_recorder_masks_inputs_and_passwords(path: Path) -> None:
    code = _code(path)
    record = code.split("record({", 1)[1].split("});", 1)[0]
    # every field's value goes through maskInputFn, by its tag (maskAllInputs: true lists
    # types and lets a hidden or a file input out), which blanks passwords, marked and
    # hidden fields
    assert "maskAllInputs: false" in record
    assert "maskInputOptions: { input: true, textarea: true, select: true" in record
    assert "maskInputFn: maskInputFn" in record
    assert 'maskTextClass: "ccbox-mask"' in record
    assert "[data-ccbox-mask]" in record
    assert 'input: "last"' not in record  # typing is mirrored as it happens
    fn = code.split("function maskInputFn", 1)[1].split("\n  }\n", 1)[0]
    first = next(line for line in fn.splitlines() if 'return "";' in line)
    assert "if (isPassword(node)" in first  # before anything else, whatever the config
    assert 'fieldType(node) === "hidden") return "";' in fn
    assert "ccbox-mask" in fn or "marked(node)" in fn
    assert "passwords.add" in code  # a password field stays one when a script retypes it


def test_the_widget_is_never_recorded() -> None:
    record = _code(VISITOR).split("record({", 1)[1].split("});", 1)[0]
    assert 'blockSelector: "#ccbox-chat, #ccbox-cobrowse"' in record


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_it_parses(path: Path) -> None:
    subprocess.run(["node", "--check", str(path)], check=True)
