"""The ACD rig with the recorder's settings for recording tests (a pause's maximum, a disk
that never counts as full), the indexed recording of a call, and the peaks of its file."""

from __future__ import annotations

import dataclasses
import wave
from array import array
from typing import Any

import sqlalchemy as sa
from twisted.internet import reactor, task

from appliance.config import RecordingConfig
from appliance.db import model
from tests.support import acd_rig
from tests.support.acd_rig import ACDRig, wait_for


def window_peaks(path: str, step_s: float = 0.1) -> list[tuple[int, int]]:
    """(left, right) peak per ``step_s`` window of a 16-bit stereo WAV."""
    with wave.open(path) as w:
        samples = array("h", w.readframes(w.getnframes()))
    step = int(8000 * step_s) * 2
    out = []
    for i in range(0, len(samples) - step + 1, step):
        chunk = samples[i : i + step]
        out.append((max(abs(s) for s in chunk[0::2]), max(abs(s) for s in chunk[1::2])))
    return out


class RecordingRig(ACDRig):
    PAUSE_MAX_S = 30  # [recording] pause_max_s

    def setUp(self) -> None:
        super().setUp()
        original = acd_rig.simulated_switch

        def settings(test: Any, devices: Any = None) -> Any:
            sim, config = original(test, devices)
            recording = RecordingConfig(pause_max_s=self.PAUSE_MAX_S, min_free_mb=1)
            return sim, dataclasses.replace(config, recording=recording)

        self.patch(acd_rig, "simulated_switch", settings)

    async def recording(self, master: Any, call_id: int | None = None) -> Any:
        """The recording indexed for ``call_id`` (None: the first one), once merged."""
        await wait_for(lambda: not master.recorder.pending, "the merge", 15)
        r = model.recordings
        q = sa.select(r.c.id).order_by(r.c.id)
        if call_id is not None:
            q = q.where(r.c.call_id == call_id)
        for _ in range(100):
            ids = await master.db.run(lambda c: c.execute(q).scalars().all())
            if ids:
                return await master.db.recordings.get(ids[0])
            await task.deferLater(reactor, 0.05, lambda: None)
        raise AssertionError("no recording indexed")
