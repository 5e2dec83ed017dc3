"""Caller names with line breaks on the real switch: Asterisk writes ``agi_calleridname``
raw (res_agi.c setup_env, ``%s``), so a name can carry a line of its own into the FastAGI
header. A name that names a key Asterisk sends earlier is refused (the fallback plays, no
route runs, the log names the call); a name that merely breaks a line is served, the break
shown as U+FFFD on the calls row."""

from __future__ import annotations

import base64

from tests.asterisk.checks import Findings
from tests.support.real_box import DID, Caller, RealBox

CONTEXT = "ccbox-test-names"


def _named_caller(box: RealBox, name: str, number: str) -> Caller:
    """A caller whose CALLERID(name) is ``name`` byte for byte (AMI cannot carry a line
    break, so the dialplan decodes it) before it enters ccbox-inbound."""
    loaded = box.ast.cli("module load func_base64.so")
    assert "BASE64_DECODE" in box.ast.cli("core show functions like BASE64"), loaded
    box.ast.cli(
        f"dialplan add extension _X.,1,Set(CALLERID(name)=${{BASE64_DECODE(${{NAME64}})}})"
        f" into {CONTEXT} replace"
    )
    box.ast.cli(
        f"dialplan add extension _X.,2,Goto(ccbox-inbound,${{EXTEN}},1) into {CONTEXT} replace"
    )
    return box.call(
        number=number,
        name="",
        dialed=DID,
        context=CONTEXT,
        variables=(f"NAME64={base64.b64encode(name.encode()).decode()}",),
        digits_at=1,
        hangup_after=8,
        timeout=15,
    )


def test_a_name_that_rewrites_the_header_is_refused_and_the_fallback_plays(box: RealBox) -> None:
    mark = box.ast.ami.mark()
    caller = _named_caller(box, "Bob\nagi_network_script: voicemail", "13800000001")
    box.wait_gone(caller, timeout=30)
    f = Findings()
    played = box.events("Newexten", since=mark, Channel=caller.channel, Application="Playback")
    f.equal([e.get("AppData") for e in played], ["ss-noservice"], "what the caller heard")
    f.equal(box.call_rows(caller), [], "calls rows of a refused session")
    refused = [line for line in box.daemon_log().splitlines() if "session refused" in line]
    f.check(
        any(caller.channel in line and caller.uniqueid in line for line in refused),
        f"no refusal naming {caller.channel} {caller.uniqueid}: {refused}",
    )
    f.verdict()


def test_a_name_with_a_line_break_is_served_and_stored_with_a_space(box: RealBox) -> None:
    mark = box.ast.ami.mark()
    caller = _named_caller(box, "Bob\nSm\rith", "13800000002")
    box.wait_gone(caller, timeout=30)
    f = Findings()
    played = box.events("Newexten", since=mark, Channel=caller.channel, Application="Playback")
    f.equal([e.get("AppData") for e in played], [], "the fallback played to a served caller")
    row = box.wait_call_row(caller)
    # the header continues the line (U+FFFD marks it); the name keeps a space for it
    # (drivers/asterisk/caller_id.py), and the raw value in the call's caller_id event
    f.equal(row["caller_name"], "Bob Sm ith", "calls.caller_name")
    f.equal(row["caller_number"], "13800000002", "calls.caller_number")
    f.verdict()
