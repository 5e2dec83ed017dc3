"""Beyond the templates: the codes pages show (option values), the messages engines and
validators refuse with, and the health details, all reach a Chinese reader in Chinese.

Templates are covered by test_i18n (every marked string translated) and test_i18n_pages (no
English left on a page); these hold the rest: the label tables to the codes their owners
define, every user-facing message in the code to being marked (a literal or an f-string
where a message goes fails, naming the file and line), and every health detail the parts
report to a translation.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import cherrypy
import pytest

from acd import agent_state
from acd.route import STRATEGIES
from appliance import health
from appliance.db import model
from appliance.text import N_, Message, message_of
from drivers.serial.gsm import modem
from ivr.prompt_audio import PromptAudioError, convert_upload
from webui import i18n, labels

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")

OWNERS: dict[str, tuple[str, ...]] = {
    "modem_state": modem.STATES,
    "sim_state": modem.SIM_STATES,
    "agent_state": agent_state.STATES,
    "pause_reason": agent_state.PAUSE_REASONS,
    "strategy": STRATEGIES,
    "overflow_kind": model.OVERFLOW_KINDS,
    "media": model.QUEUE_MEDIA,
    "email_security": model.EMAIL_SECURITY,
    "role": model.ROLES,
    "agent_status": model.AGENT_STATUSES,
    "direction": model.CALL_DIRECTIONS,
    "callback_state": model.CALLBACK_STATES,
    "prompt_source": model.PROMPT_SOURCES,
    "recording_reason": model.RECORDING_REASONS,
    "notice_level": model.NOTICE_LEVELS,
    "mailbox_owner": model.MAILBOX_OWNERS,
    "number_list": model.NUMBER_LISTS,
    "campaign_mode": model.CAMPAIGN_MODES,
    "campaign_state": model.CAMPAIGN_STATES,
    "campaign_record": model.CAMPAIGN_RECORD,
    "campaign_backoff": model.CAMPAIGN_BACKOFF,
    "lead_status": model.LEAD_STATUSES,
    "dial_outcome": model.DIAL_OUTCOMES,
    "dnc_scope": model.DNC_SCOPES,
    "dnc_source": model.DNC_SOURCES,
    "queue_outcome": model.QUEUE_OUTCOMES,
    "call_disposition": model.CALL_DISPOSITIONS,
    "health_state": (health.OK, health.DEGRADED, health.DOWN, health.STARTING),
}


@pytest.fixture
def zh_request() -> Any:
    """A request being served in Chinese (what the guard sets up)."""
    request = cherrypy.serving.request
    request.ccbox_translations = i18n.translations("zh_CN")
    yield request
    del request.ccbox_translations


def test_every_label_table_names_exactly_its_owners_codes() -> None:
    assert set(OWNERS) | {"health_part"} == set(labels.TABLES)
    for table, codes in OWNERS.items():
        assert tuple(labels.TABLES[table]) == codes, table


def test_every_code_reads_in_chinese(zh_request: Any) -> None:
    for table, names in labels.TABLES.items():
        for code, msgid in names.items():
            shown = labels.label(table, code)
            assert CJK.search(shown), (table, code, shown)
            assert i18n.translations("en").gettext(msgid) == msgid  # English as written
    assert labels.label("strategy", "a_new_one") == "a_new_one"  # unknown: the code


def test_every_health_part_the_code_names_has_a_name() -> None:
    """Each service's ``name`` and each driver's ``PART``: a new part needs a label."""
    parts: set[str] = set()
    for path in _sources("acd", "appliance", "drivers", "ivr", "recorder", "webui"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if _assigns(stmt, "name") and _is_service(node):
                        parts.add(stmt.value.value)  # type: ignore[attr-defined]
            elif isinstance(node, ast.Module):
                parts |= {s.value.value for s in node.body if _assigns(s, "PART")}  # type: ignore[attr-defined]
    assert {"db", "web", "acd", "recorder", "ami", "fastagi"} <= parts
    assert parts <= set(labels.TABLES["health_part"]), parts - set(labels.TABLES["health_part"])


def test_every_health_detail_the_code_reports_reads_in_chinese(zh_request: Any) -> None:
    """The details written where parts report (``.report(``, ``raise_alarm(``, a ``detail =``
    variable), with each interpolated value as a stand-in, translated by labels.py."""
    samples = {}
    for path in _sources("appliance", "drivers", "recorder", "acd", "ivr"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for text in _detail_texts(node):
                samples[text] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert len(samples) >= 10, samples  # the walk finds them
    # a detail built of parts ("writes failing: x; 3 calls writes waiting")
    samples[
        "writes failing: disk I/O error; 3 calls writes waiting; 2 lost (the backlog was full)"
    ] = "db"
    untranslated = {
        t: where for t, where in samples.items() if not CJK.search(labels.health_detail(t))
    }
    assert untranslated == {}
    composite = labels.health_detail("writes failing: disk I/O error; 3 calls writes waiting")
    assert composite == "写入失败：disk I/O error；3 条通话记录待写入"  # noqa: RUF001
    assert labels.health_detail("connection refused (127.0.0.1:5038); retrying") == (
        "连接被拒绝（127.0.0.1:5038）；正在重试"  # noqa: RUF001
    )


def test_every_refusal_of_the_drivers_reads_in_chinese(zh_request: Any) -> None:
    """Drivers sit below appliance/text.py: their refusals the pages show (the sound card's,
    a supervision action's) are matched in English by labels.py. Each one the code raises,
    with stand-in values, translates; and through json_error's path too."""
    raised = {}
    for rel, error in (
        ("drivers/audio/soundcard.py", "SoundcardError"),
        ("drivers/asterisk/ami/actions.py", "BadActionValue"),
    ):
        tree = ast.parse((ROOT / rel).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == error:
                for text in [_sample(node.args[0])] if node.args else []:
                    if text is not None:
                        for kind in ("input", "output"):
                            raised[text.replace("7 device", f"{kind} device")] = rel
    assert len(raised) >= 12, raised
    left = {t: rel for t, rel in raised.items() if not CJK.search(labels.driver_message(t))}
    assert left == {}
    exc = ValueError("supervision mode must be one of ['barge', 'listen', 'whisper']")
    assert i18n.error(exc) == "监听模式必须是以下之一：['barge', 'listen', 'whisper']"  # noqa: RUF001


def test_a_message_keeps_its_english_and_translates_with_its_parameters(zh_request: Any) -> None:
    state = N_("on call")
    error = ValueError(N_("agent {number} is {state}", number="1001", state=state))
    assert str(error) == "agent 1001 is on call"  # logs and English pages: unchanged
    assert message_of(error) == "agent 1001 is on call"
    assert isinstance(message_of(error), Message)
    assert i18n.error(error) == "坐席 1001 通话中"
    assert i18n.translate("user data stays") == "user data stays"


def test_an_engine_refusal_reads_in_chinese(zh_request: Any) -> None:
    """The case that was reported: an upload refused with English inside a Chinese page."""
    with pytest.raises(PromptAudioError) as caught:
        convert_upload(b"<html><body>not sound</body></html>")
    english = str(caught.value)
    assert english.startswith("not an audio file")
    chinese = i18n.error(caught.value)
    assert CJK.search(chinese) and "not an audio" not in chinese, chinese


def test_every_text_the_flow_editor_shows_is_sent_translated() -> None:
    """flow_editor.js shows ``t("...")``: the page sends the translation of EDITOR_TEXTS; a
    text missing there would show in English."""
    from webui.flow_pages import EDITOR_TEXTS

    js = (ROOT / "webui" / "static" / "flow_editor.js").read_text()
    used = set(re.findall(r'\bt\("((?:[^"\\]|\\.)*)"\)', js))
    assert len(used) > 10
    assert used - set(EDITOR_TEXTS) == set()


# ---- every message a user can see is marked ------------------------------------------------

# Exceptions whose message is shown to a person (by the web UI's handlers), with the position
# of the message argument; ValueError where the stores and validators refuse input with it.
USER_ERRORS = {
    "ACDError": 0,
    "TransitionError": 0,
    "TransferFailed": 0,
    "WeakPassword": 0,
    "_give_up": 2,
    "FlowError": 0,
    "FlowFormatError": 0,
    "PromptAudioError": 0,
    "TTSError": 0,
    "BadNumber": 0,
    "ControlError": 1,
    "FormError": 0,
    "FormInUse": 0,
    "FormInactive": 0,
    "DuplicateError": 0,
    "AdminError": 0,
    "BadField": 0,
    "NotFound": 0,
    "json_error": 1,
    "HTTPError": 1,  # the web UI's error pages, and the QA API's JSON errors
    "_refused": 1,
    "_insert": 2,
}
VALUE_ERROR_FILES = ("appliance/db/", "appliance/passwords.py", "ivr/tts.py", "ivr/voicemail.py")
# internal checks: a caller's mistake in code, not a person's input
NOT_SHOWN = (
    "appliance/db/engine.py",
    "appliance/db/types.py",
    "appliance/db/migrations/",
    "appliance/db/day_stats_store.py",
)


def test_every_message_a_user_can_see_is_marked() -> None:
    bare = []
    for path in _sources("acd", "appliance", "ivr", "recorder", "webui"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith(NOT_SHOWN):
            continue
        targets = dict(USER_ERRORS)
        if rel.startswith(VALUE_ERROR_FILES):
            targets["ValueError"] = 0
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            index = targets.get(name or "")
            if index is None or len(node.args) <= index:
                continue
            for arg in _operands(node.args[index]):
                if isinstance(arg, ast.JoinedStr) or (
                    isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                ):
                    bare.append(f"{rel}:{node.lineno} {name}({ast.unparse(arg)[:60]})")
    assert bare == [], "mark these with N_ (appliance/text.py):\n" + "\n".join(bare)


# ---- helpers ---------------------------------------------------------------------------------


def _operands(node: ast.expr) -> list[ast.expr]:
    """The values an argument may take: both sides of ``a or "text"`` and ``x if c else y``."""
    if isinstance(node, ast.BoolOp):
        return [v for value in node.values for v in _operands(value)]
    if isinstance(node, ast.IfExp):
        return _operands(node.body) + _operands(node.orelse)
    return [node]


def _sources(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _assigns(stmt: ast.stmt, name: str) -> bool:
    return (
        isinstance(stmt, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_service(node: ast.ClassDef) -> bool:
    bases = {getattr(b, "attr", None) or getattr(b, "id", None) for b in node.bases}
    return bool(bases & {"Service", "MultiService", "ClientService"}) or node.name.endswith(
        ("Service", "Server", "Connector", "Client", "Counters", "Upkeep")
    )


def _sample(node: ast.expr) -> str | None:
    """The text an f-string or literal gives, each interpolated value as a stand-in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                out.append(v.value)
            else:  # a stand-in value, quoted as !r would
                out.append("'7'" if v.conversion == ord("r") else "7")
        return "".join(out)
    return None


def _attempt(func: ast.expr) -> bool:
    """``self.attempts.failed(...)`` and the like: the AMI link's reasons (attempts.py)."""
    owner = getattr(func, "value", None)
    return getattr(func, "attr", None) in ("starting", "failed", "lost") and (
        getattr(owner, "attr", None) == "attempts"
    )


def _detail_texts(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Call):
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        args = []
        if name == "report" and len(node.args) >= 3:
            args = [node.args[2]]
        elif node.args and (name == "raise_alarm" or _attempt(node.func)):
            args = [node.args[0]]
        return [s for s in map(_sample, args) if s]
    if isinstance(node, ast.FunctionDef) and node.name == "connect_failure_reason":
        returns = [n.value for n in ast.walk(node) if isinstance(n, ast.Return) and n.value]
        return [s for s in map(_sample, returns) if s]
    if isinstance(node, ast.Assign | ast.AugAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if any(isinstance(t, ast.Name) and t.id == "detail" for t in targets):
            values = [node.value]
            if isinstance(node.value, ast.IfExp):
                values = [node.value.body, node.value.orelse]
            texts = [s for s in map(_sample, values) if s]
            # "; 3 calls writes waiting" is added to another detail: sampled as its own part
            return [t.removeprefix("; ") for t in texts]
    return []
