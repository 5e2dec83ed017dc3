"""Sixty callers at once on the real switch, four agents: ccbox's rows and Asterisk's CDRs
must tell the same story, call by call and in total."""

from __future__ import annotations

import random
import time
from collections import Counter

from tests.asterisk.checks import Findings, cdr_of, talk_from_history
from tests.support.real_box import SETTLE_S, Caller, RealBox

AGENTS = ("1001", "1002", "1003", "1004")
CALLERS = 60
AGENT_TALK_S = 5  # the agents hang up first, after 5 s of talk


def test_sixty_concurrent_callers(box: RealBox) -> None:
    rng = random.Random(13)
    for agent in AGENTS:
        box.phone(agent, ring=1, talk=AGENT_TALK_S)
    box.agents_login(*AGENTS)
    started = time.time()
    callers: list[Caller] = [
        box.call(hangup_after=rng.randint(12, 35), number=f"1390000{i:04d}") for i in range(CALLERS)
    ]
    f = Findings()
    for c in callers:
        box.wait_gone(c, timeout=120)
    rows = {}
    time.sleep(SETTLE_S)
    for c in callers:
        try:
            rows[c.uniqueid] = box.wait_call_row(c, timeout=20, settle=0)
        except AssertionError as exc:
            f.check(False, str(exc))
    f.equal(len(rows), CALLERS, "ended calls rows")

    cdrs = box.cdrs()
    answered_by: dict[str, str] = {}  # caller uniqueid -> the phone that answered (CDRs)
    for c in callers:
        legs = [
            x
            for x in cdr_of(cdrs, uniqueid=c.uniqueid, dstchannel="IAX2/*")
            if x["disposition"] == "ANSWERED"
        ]
        f.check(len(legs) <= 1, f"{c.channel} was answered by {len(legs)} phones")
        if legs:
            answered_by[c.uniqueid] = str(legs[0]["dstchannel"]).split("/")[1].split("-")[0]
    dispositions = Counter(r["disposition"] for r in rows.values())
    mismatched = []
    for uid, row in rows.items():
        agent_ids = {box.ids[a]: a for a in AGENTS}
        ccbox_agent = agent_ids.get(row["agent_id"]) if row["disposition"] == "completed" else None
        if ccbox_agent != answered_by.get(uid):
            mismatched.append((uid, row["disposition"], ccbox_agent, answered_by.get(uid)))
    f.equal(mismatched, [], "calls where ccbox and the CDRs disagree on who answered")
    f.equal(
        dispositions["completed"],
        len(answered_by),
        f"completed calls vs callers the CDRs show answered ({dict(dispositions)})",
    )
    f.equal(
        dispositions["completed"] + dispositions["abandoned"],
        CALLERS,
        f"every call completed or abandoned ({dict(dispositions)})",
    )
    f.check(len(answered_by) >= 10, f"only {len(answered_by)} calls were answered")
    f.check(dispositions["abandoned"] >= 5, "no caller gave up: the load test tested no load")
    # Talk is a phone answer that reached its caller: (caller's number, phone) by the
    # caller's Dial leg. A phone's own CDR says ANSWERED once its Answer() ran, even when the
    # caller hung up an instant before and the switch had already dropped that ring: the
    # caller's leg says NO ANSWER, ccbox says abandoned, the agent went from ringing back to
    # available, and the phone shows a "call" of a millisecond (seen on the real switch under
    # load: "agent 1002: on_call spells vs answered CDRs: 5, want 6"). Such a crossing is no
    # talk, and it never lasts: a phone answer that reached nobody for a second would be.
    number_of = {c.uniqueid: c.number for c in callers}
    reached = {(number_of[uid], phone) for uid, phone in answered_by.items()}
    for agent in AGENTS:
        phone = [x for x in box.phone_cdrs(agent, since=started) if float(x["answer"]) > 0]
        talked = [
            float(x["end"]) - float(x["answer"]) for x in phone if (x["src"], agent) in reached
        ]
        crossed = [
            float(x["end"]) - float(x["answer"]) for x in phone if (x["src"], agent) not in reached
        ]
        f.check(
            all(s < 1.0 for s in crossed),
            f"agent {agent}: phone answers that reached no caller lasted {crossed} s",
        )
        spells = talk_from_history(box.agent_events(agent), since=started)
        f.equal(len(spells), len(talked), f"agent {agent}: on_call spells vs answered CDRs")
        f.near(sum(spells), sum(talked), 0.5 * max(1, len(talked)), f"agent {agent}: talk")
        state = box.agent_state(agent)
        f.check(state in ("available", "wrap_up"), f"agent {agent} is {state} at the end")
    talk_rows = [r["talk_ms"] for r in rows.values() if r["disposition"] == "completed"]
    f.check(all(t is not None for t in talk_rows), "completed calls without talk_ms")
    log = box.daemon_log()
    f.check("Traceback" not in log and "Unhandled" not in log, "ccboxd logged a traceback")
    f.verdict()
