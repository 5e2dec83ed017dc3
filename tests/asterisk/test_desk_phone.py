"""Desk phones on the real switch: agent login with number and PIN (``*71``), pause with a
reason digit (``*73``), unpause (``*74``), logout (``*72``), as the phone's own IAX2 channel
(``IAX2/1001-N``: the device ccbox binds the agent to); and voicemail left by a caller who
presses the queue's voicemail key, then retrieved by phone (``*98``)."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from tests.asterisk.checks import Findings
from tests.asterisk.conftest import BoxFactory
from tests.support.real_box import RealBox


def _agi_sessions(box: RealBox, phone: str, since: int) -> list[dict[str, str]]:
    """The FastAGI sessions the phone's own channel ran (AGIExecStart of IAX2/<phone>-N)."""
    return box.ast.ami.find(
        lambda e: (
            e.get("Event") == "AGIExecStart"
            and str(e.get("Channel", "")).startswith(f"IAX2/{phone}-")
        ),
        since,
    )


def _wait_state(box: RealBox, agent: str, state: str, timeout: float = 25) -> str:
    with contextlib.suppress(AssertionError):
        box.wait_agent_state(agent, state, timeout)
    return box.agent_state(agent)


def test_desk_phone_login_with_pin_and_pause_codes(make_box: BoxFactory) -> None:
    def seed(db: Any, ids: dict[str, int]) -> None:
        resolved(db.agents.set_pin(ids["1001"], "4321"))
        resolved(db.agents.set_pin(ids["1002"], "5678"))

    with make_box(seed=seed) as box:
        f = Findings()
        mark = box.ast.ami.mark()
        # agent 1002 with a wrong PIN stays logged out
        box.desk_dial("1002", "*71", [(1.5, "1002#"), (2.5, "9999#")], hold=10)
        # agent 1001 with its PIN
        box.desk_dial("1001", "*71", [(1.5, "1001#"), (2.5, "4321#")], hold=20)
        f.equal(_wait_state(box, "1001", "available"), "available", "1001 after *71 with its PIN")
        f.check(bool(_agi_sessions(box, "1001", mark)), "no FastAGI session on IAX2/1001-N")
        time.sleep(4)
        f.equal(box.agent_state("1002"), "logged_out", "1002 after *71 with a wrong PIN")

        box.desk_dial("1001", "*73", [(1.5, "2")], hold=15)  # 2: lunch
        f.equal(_wait_state(box, "1001", "paused"), "paused", "1001 after *73 2")
        history = box.agent_events("1001")
        f.equal(
            [(e["state"], e["reason"]) for e in history][-1:],
            [("paused", "lunch")],
            "the pause and its reason in the history",
        )
        box.desk_dial("1001", "*74", [], hold=15)
        f.equal(_wait_state(box, "1001", "available"), "available", "1001 after *74")
        box.desk_dial("1001", "*72", [], hold=15)
        f.equal(_wait_state(box, "1001", "logged_out"), "logged_out", "1001 after *72")
        f.verdict()


def test_voicemail_left_and_retrieved_by_phone(make_box: BoxFactory) -> None:
    """Nobody answers the queue; the caller presses 2 (the voicemail key), speaks 5 s after
    the beep and hangs up. Then desk phone 1005 dials *98, gives the mailbox and PIN, and
    hears the message to its end: it is marked heard."""

    def seed(db: Any, ids: dict[str, int]) -> None:
        resolved(db.voicemail.add_mailbox("8001", "Support", "queue", "support"))
        resolved(db.voicemail.set_pin("8001", "2468"))

    with make_box(seed=seed) as box:
        f = Findings()
        caller = box.call(digits="2", digits_at=7, hangup_after=12)
        box.wait_gone(caller, timeout=40)
        row = box.wait_call_row(caller)
        kinds = [e["kind"] for e in box.call_events(row["id"])]
        f.check("voicemail_left" in kinds, f"no voicemail_left event: {kinds}")
        v = model.voicemails
        messages = box.rows(sa.select(v).where(v.c.mailbox == "8001"))
        f.equal(len(messages), 1, "messages in mailbox 8001")
        if not messages:
            f.verdict()
        msg = messages[0]
        f.equal(msg["caller_number"], caller.number, "the message's caller")
        f.check(3000 <= msg["duration_ms"] <= 13000, f"message length {msg['duration_ms']} ms")

        mark = box.ast.ami.mark()
        box.desk_dial("1005", "*98", [(1.5, "8001#"), (2.5, "2468#")], hold=40)
        deadline = time.monotonic() + 45
        heard = False
        while time.monotonic() < deadline and not heard:
            heard = bool(box.rows(sa.select(v.c.heard).where(v.c.id == msg["id"]))[0]["heard"])
            time.sleep(0.5)
        played = [
            e
            for e in _agi_sessions(box, "1005", mark)
            if "STREAM FILE" in e.get("Command", "") and msg["path"][:-4] in e.get("Command", "")
        ]
        f.check(bool(played), "the message was never played to the phone")
        f.check(heard, "the message played by phone is not marked heard")
        f.verdict()
