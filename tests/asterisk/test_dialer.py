"""A progressive campaign on the real switch: ccboxd's dialer originates
``Local/<number>@ccbox-outbound/n`` into ``[ccbox-dialer]``; Asterisk's AMD() hears the
outside party (the harness's ``machine``: a long greeting; ``person``: a short hello, then
silence). The machine is hung up and recorded as ``machine``; the person joins the queue and
reaches agent 1001's phone, and the lead is done. Then a busy number (Asterisk's
OriginateResponse says Reason 0, as main/pbx.c reads) and a person no agent is free for
(the safe-harbor prompt within 2 s of the greeting's end)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.dialer_store import NewLead
from tests.asterisk.checks import Findings, assert_caller_left_agent_right
from tests.asterisk.conftest import BoxFactory
from tests.support.dialer_seed import OPEN_ALL_WEEK
from tests.support.real_box import RealBox

MACHINE = "13900000001"
PERSON = "13900000002"


def campaign(*numbers: str) -> Any:
    """A seed: the running progressive campaign with AMD on queue support, its leads."""

    def seed(db: Any, ids: dict[str, int]) -> None:
        ids["campaign"] = add_campaign(db, ids, numbers)

    return seed


def add_campaign(db: Any, ids: dict[str, int], numbers: tuple[str, ...]) -> int:
    row = resolved(
        db.dialer.create_campaign(
            "real-switch",
            ids["support"],
            mode="progressive",
            state="running",
            amd=True,
            caller_id_number="4008001234",
            caller_id_name="Acme",
            safe_harbor_prompt="ccbox-goodbye",
            **OPEN_ALL_WEEK,
        )
    )
    resolved(db.dialer.add_leads(row.id, [NewLead(number=n) for n in numbers]))
    return int(row.id)


def leads(box: RealBox) -> dict[str, dict[str, Any]]:
    return {r["number"]: r for r in box.rows(sa.select(model.leads))}


def test_progressive_campaign_with_amd(make_box: BoxFactory) -> None:
    with make_box(seed=campaign(MACHINE, PERSON)) as box:
        box.outside(MACHINE, "machine")
        box.outside(PERSON, "person", talk=6)
        box.phone("1001", ring=1)
        mark = box.ast.ami.mark()
        box.agents_login("1001")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = leads(box)
            if all(found[n]["status"] in ("done", "scheduled", "failed") for n in found):
                break
            time.sleep(0.5)
        found = leads(box)
        attempts = box.rows(sa.select(model.dial_attempts).order_by(model.dial_attempts.c.id))
        orig = box.events("OriginateResponse", since=mark)
        amd = [
            e
            for e in box.events("VarSet", since=mark)
            if e.get("Variable") in ("AMDSTATUS", "AMDCAUSE")
        ]
        causes = [e.get("Value") for e in amd if e.get("Variable") == "AMDCAUSE"]
        print(f"AMD causes {causes}; waits {[a['wait_ms'] for a in attempts]} ms")
        f = Findings()
        f.equal(
            [a["outcome"] for a in attempts],
            ["machine", "answered"],
            f"attempt outcomes (OriginateResponses: {orig}; AMD: {amd})",
        )
        f.equal(
            (found[MACHINE]["status"], found[MACHINE]["last_outcome"]),
            ("scheduled", "machine"),
            "the machine's lead",
        )
        f.equal(
            (found[PERSON]["status"], found[PERSON]["last_outcome"]),
            ("done", "answered"),
            "the person's lead",
        )
        statuses = [e.get("Value") for e in amd if e.get("Variable") == "AMDSTATUS"]
        f.equal(statuses, ["MACHINE", "HUMAN"], "AMDSTATUS as Asterisk set it")
        f.check(
            all(e.get("Context") == "ccbox-dialer" for e in orig if e.get("Response") == "Success"),
            f"answered Originates not into ccbox-dialer: {orig}",
        )
        answered = [a for a in attempts if a["outcome"] == "answered"]
        if answered:
            f.equal(answered[0]["agent_id"], box.ids["1001"], "the agent who took the person")
            f.check(
                answered[0]["wait_ms"] is not None and answered[0]["wait_ms"] < 2000,
                f"answer -> agent wait {answered[0]['wait_ms']} ms",
            )
        box.wait_agent_state("1001", "available", timeout=15)
        # the person's call: an outbound calls row with the agent, recorded (record = all)
        rows = box.wait_rows(
            lambda: [r for r in box.outbound_rows(PERSON) if r["ended_at"] is not None],
            "the person's calls row, ended",
            timeout=20,
        )
        f.equal(rows[-1]["agent_id"], box.ids["1001"], "the calls row's agent")
        recs = box.wait_rows(lambda: box.recordings(rows[-1]["id"]), "the recording", 30)
        try:
            audio_s = assert_caller_left_agent_right(box.config.recording_dir / recs[0]["path"])
            # the person talks 6 s from the answer; AMD and the agent's ring took ~2.3 s of it
            talk_ms = rows[-1].get("talk_ms")
            f.check(talk_ms is not None, "the person's calls row has no talk_ms")
            if talk_ms is not None:
                f.near(audio_s, talk_ms / 1000, 0.5, "the recording's length vs the talk")
                f.near(talk_ms / 1000, 6 - 1.3 - 1.0, 0.6, "the talk with the agent")
        except AssertionError as exc:
            f.check(False, f"the person's recording: {exc}")
        f.verdict()


BUSY = "13900000003"
LATE = "13900000004"


def test_busy_reads_reason_0_and_no_agent_hears_the_safe_harbor(make_box: BoxFactory) -> None:
    """Asterisk's OriginateResponse for a busy number behind a Local channel is Failure with
    Reason 0 (main/pbx.c): the dialer reads BUSY from ;2's DialEnd. Then a person answers
    while no agent is free: the safe-harbor prompt starts within 2 s of the greeting's end."""
    with make_box(seed=campaign(BUSY, LATE)) as box:
        box.outside(BUSY, "busy")
        box.outside(LATE, "person", talk=20)
        box.ast.set_global("PSTN_RING", "3")  # time to pause the agent while it rings
        box.phone("1001", ring=1)
        mark = box.ast.ami.mark()
        box.agents_login("1001")
        box.ast.ami.wait_event(
            lambda e: (
                e.get("Event") == "Newchannel"
                and str(e.get("Channel", "")).startswith(f"Local/{LATE}@ccbox-outbound")
            ),
            90,
            f"the Originate to {LATE}",
            mark,
        )
        box.acd("pause", "1001")  # before the person answers: nobody free to take the call
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and leads(box)[LATE]["status"] == "dialing":
            time.sleep(0.5)
        found = leads(box)
        orig = box.events("OriginateResponse", since=mark)
        f = Findings()
        busy = [e for e in orig if str(e.get("Channel", "")).startswith(f"Local/{BUSY}@")]
        f.equal(
            [(e.get("Response"), e.get("Reason")) for e in busy],
            [("Failure", "0")],
            "Asterisk's OriginateResponse for the busy number",
        )
        f.equal(found[BUSY]["last_outcome"], "busy", "the busy number's outcome")
        f.equal(found[LATE]["last_outcome"], "abandoned", "the unserved person's outcome")
        answered = [
            float(e["_t"])
            for e in box.events("UserEvent", since=mark)
            if e.get("UserEvent") == "HarnessOutsideAnswered" and e.get("Number") == LATE
        ]
        prompt = [
            float(e["_t"])
            for e in box.events("AGIExecStart", since=mark)
            if str(e.get("Command", "")).startswith("STREAM FILE ccbox-goodbye")
        ]
        f.equal((len(answered), len(prompt)), (1, 1), "the person's answer and the prompt")
        if answered and prompt:
            after = prompt[0] - (answered[0] + 0.5)  # the greeting: 0.5 s of tone
            print(f"safe harbor {after:.3f} s after the greeting's end")
            f.check(0 < after <= 2.0, f"the prompt started {after:.3f} s after the greeting")
        f.verdict()
