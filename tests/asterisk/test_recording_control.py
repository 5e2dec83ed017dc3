"""Recording control on the real switch: PCI pause and resume (MixMonitorMute both ways, and
the stereo file silent in both channels for exactly the paused span); a waiting caller has no
MixMonitor (issue 21), and "record now" while it waits records the call from its ring on."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from appliance.cli import resolved
from appliance.db import model
from tests.asterisk.checks import Findings, assert_caller_left_agent_right, stereo_legs
from tests.asterisk.conftest import BoxFactory
from tests.support.real_box import RealBox


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def test_pci_pause_and_resume(box: RealBox) -> None:
    box.phone("1001", ring=1)
    box.agents_login("1001")
    mark = box.ast.ami.mark()
    caller = box.call(hangup_after=25)
    box.wait_phone_answered("1001", since=mark)
    row = box.wait_call_row(caller, ended=False)
    time.sleep(3)
    f = Findings()
    r = box.api("/api/recording_control/pause", {"call_id": row["id"]})
    f.equal(r.status, 200, f"pause answered {r.body[:300]}")
    time.sleep(4)
    r = box.api("/api/recording_control/resume", {"call_id": row["id"]})
    f.equal(r.status, 200, f"resume answered {r.body[:300]}")
    box.wait_gone(caller, timeout=40)
    row = box.wait_call_row(caller)
    mutes = box.events("MixMonitorMute", since=mark)
    f.equal(
        [(e.get("Direction"), e.get("State")) for e in mutes],
        [("both", "1"), ("both", "0")],
        "MixMonitorMute events",
    )
    recs = box.wait_rows(lambda: box.recordings(row["id"]), "the recording", timeout=30)
    rec = recs[0]
    if len(mutes) == 2:
        paused = float(mutes[1]["_t"]) - float(mutes[0]["_t"])
        f.near(rec["paused_ms"] / 1000, paused, 0.5, "recordings.paused_ms vs MixMonitorMute")
        bridged = box.events("BridgeEnter", since=mark, Channel=caller.channel)
        if f.check(bool(bridged), "the caller never entered a bridge"):
            start = float(bridged[0]["_t"])  # MixMonitor with b: the file starts here
            left, right, rate = stereo_legs(box.config.recording_dir / rec["path"])
            a = int((float(mutes[0]["_t"]) - start + 0.4) * rate)
            b = int((float(mutes[1]["_t"]) - start - 0.4) * rate)
            before = slice(max(0, a - int(2.5 * rate)), max(0, a - int(0.6 * rate)))
            for name, leg in (("caller (left)", left), ("agent (right)", right)):
                f.check(
                    _rms(leg[a:b]) < 50,
                    f"the {name} channel is not silent while paused (RMS {_rms(leg[a:b]):.0f})",
                )
                f.check(
                    _rms(leg[before]) > 500,
                    f"the {name} channel is silent before the pause (RMS {_rms(leg[before]):.0f})",
                )
            after = slice(b + int(1.2 * rate), b + int(3.2 * rate))
            f.check(
                _rms(left[after]) > 500 and _rms(right[after]) > 500,
                "the recording stays silent after the resume",
            )
    f.verdict()


def test_record_now_while_the_caller_waits(make_box: BoxFactory) -> None:
    """A queue that records nothing, a caller waiting 4 s with no agent: no MixMonitor on
    its channel; "record now" meanwhile makes it a recording, started unmuted by the
    session just before it dials the agent, so the file has the whole talk."""

    def records_nothing(db: Any, ids: dict[str, int]) -> None:
        q = model.queues
        resolved(db.run(lambda c: c.execute(q.update().values(record_calls=False))))

    with make_box(seed=records_nothing) as box:
        box.phone("1001", ring=1)
        mark = box.ast.ami.mark()
        caller = box.call(hangup_after=14)
        row = box.wait_call_row(caller, ended=False)
        time.sleep(4)
        f = Findings()
        f.equal(box.events("MixMonitorStart", since=mark), [], "MixMonitors while waiting")
        r = box.api("/api/recording_control/start", {"call_id": row["id"]})
        f.equal(r.status, 200, f"record now answered {r.body[:300]}")
        if r.status == 200:
            got = r.json()
            f.equal((got["recording"], got["started"]), (True, False), "status while waiting")
        time.sleep(1)
        f.equal(box.events("MixMonitorStart", since=mark), [], "MixMonitors after record now")
        box.agents_login("1001")
        box.wait_phone_answered("1001", since=mark)
        box.wait_gone(caller, timeout=40)
        row = box.wait_call_row(caller)
        starts = box.events("MixMonitorStart", since=mark)
        f.equal([e.get("Channel") for e in starts], [caller.channel], "MixMonitorStart events")
        f.equal(box.events("MixMonitorMute", since=mark), [], "MixMonitorMute events")
        dials = box.events("DialBegin", since=mark, Channel=caller.channel)
        if starts and f.check(bool(dials), "the caller's session never dialed the agent"):
            lead = float(dials[0]["_t"]) - float(starts[0]["_t"])
            f.check(0 <= lead < 1, f"MixMonitor started {lead:.2f} s before the Dial")
        recs = box.wait_rows(lambda: box.recordings(row["id"]), "the recording", timeout=30)
        f.equal(recs[0]["reason"], "on_demand", "recordings.reason")
        try:
            audio_s = assert_caller_left_agent_right(box.config.recording_dir / recs[0]["path"])
            bridged = box.events("BridgeEnter", since=mark, Channel=caller.channel)
            if bridged:
                talk = float(box.wait_gone(caller)["_t"]) - float(bridged[0]["_t"])
                f.near(audio_s, talk, 1.0, "the recording's length vs the talk")
        except AssertionError as exc:
            f.check(False, f"recording: {exc}")
        f.verdict()
