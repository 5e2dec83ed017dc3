"""A callback on the real switch: the holding caller presses the callback key, an agent
logs in, ccbox rings the agent's phone into ``ccbox-callback,<id>`` (the first ids are one
digit: the ``_X.`` pattern never matched them) and dials the customer through the trunk."""

from __future__ import annotations

from tests.asterisk.checks import Findings, assert_caller_left_agent_right, cdr_of
from tests.support.real_box import RealBox


def test_callback_to_an_outside_number(box: RealBox) -> None:
    box.phone("1001", ring=1)
    number = "13900139000"
    box.outside(number, talk=6)  # the customer answers after 1 s and talks 6 s
    mark = box.ast.ami.mark()
    caller = box.call(number=number, digits="1", digits_at=7, hangup_after=30)
    callbacks = box.wait_rows(box.callbacks, "the callback request", timeout=30)
    box.wait_gone(caller, timeout=40)
    inbound = box.wait_call_row(caller)
    f = Findings()
    f.equal(len(callbacks), 1, "callbacks requested")
    cb = callbacks[0]
    f.check(1 <= cb["id"] <= 9, f"the first callback's id is {cb['id']}, not one digit")
    f.equal(cb["number"], number, "callbacks.number")
    f.equal(inbound["disposition"], "callback", "the inbound call's disposition")

    box.agents_login("1001")
    done = box.wait_rows(
        lambda: [c for c in box.callbacks() if c["state"] in ("done", "failed")],
        "the callback's outcome",
        timeout=60,
    )[0]
    orig = box.events("OriginateResponse", since=mark)
    f.equal(done["state"], "done", f"callbacks.state (OriginateResponses: {orig})")
    f.equal(done["attempts"], 1, "callbacks.attempts")
    # Asterisk: the agent's phone went into ccbox-callback,<id>, the customer answered
    f.check(
        any(e.get("Context") == "ccbox-callback" and e.get("Exten") == str(cb["id"]) for e in orig),
        f"no Originate into ccbox-callback,{cb['id']}: {orig}",
    )
    customer = [
        c
        for c in cdr_of(box.cdrs(), dcontext="harness-pstn", dst=number)
        if str(c["channel"]).startswith("Local/")
    ]
    f.check(bool(customer), f"no CDR of the customer's leg {number}")
    if not customer:
        f.verdict()
    answered = [c for c in customer if c["disposition"] == "ANSWERED"]
    f.equal(len(answered), 1, "answered customer legs")
    talk = float(answered[0]["end"]) - float(answered[0]["answer"])

    rows = box.wait_rows(
        lambda: [r for r in box.outbound_rows(number) if r["ended_at"] is not None],
        "the callback's calls row, ended",
        timeout=20,
    )
    row = rows[-1]
    f.equal(len(rows), 1, "outbound calls rows of the callback")
    f.equal(row["agent_id"], box.ids["1001"], "the callback row's agent")
    f.equal(row["called_number"], number, "the callback row's called number")
    f.check(row.get("talk_ms") is not None, "the callback row has no talk_ms")
    if row.get("talk_ms") is not None:
        f.near(row["talk_ms"] / 1000, talk, 0.5, "callback talk time vs the customer's CDR")
    f.check(row["hangup_cause"] is not None, "the callback row has no hangup cause")
    kinds = [e["kind"] for e in box.call_events(row["id"])]
    f.check("callback" in kinds, f"no callback event on the row: {kinds}")
    recs = box.wait_rows(lambda: box.recordings(row["id"]), "the callback's recording", 30)
    try:
        audio_s = assert_caller_left_agent_right(box.config.recording_dir / recs[0]["path"])
        f.near(audio_s, talk, 1.0, "the callback recording's length vs the talk")
    except AssertionError as exc:
        f.check(False, f"callback recording: {exc}")
    box.wait_agent_state("1001", "available", timeout=10)
    f.verdict()
