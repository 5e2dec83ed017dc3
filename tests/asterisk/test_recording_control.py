"""PCI pause and resume of a recording on the real switch: MixMonitorMute both ways, and the
stereo file silent in both channels for exactly the paused span."""

from __future__ import annotations

import time

import numpy as np

from tests.asterisk.checks import Findings, stereo_legs
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
