"""The prompt studio through the running ccboxd and real PortAudio, with no sound card: the
daemon's ALSA devices are ``file`` plugins (its HOME holds the .asoundrc), so recording
from the "microphone" reads a prepared file and the preview on the "speaker" writes one."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from tests.support.appliance import prepare
from tests.support.daemon import running_daemon
from tests.support.http import Browser

pytestmark = pytest.mark.integration

ASOUNDRC = """
pcm.ccb_play {{ type file; slave.pcm "null"; file "{d}/play.raw"; format "raw" }}
pcm.ccb_rec {{ type file; slave.pcm "null"; file "/dev/null"; infile "{d}/rec.raw"; format "raw" }}
"""


def test_record_from_the_box_then_preview_on_its_speaker(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".asoundrc").write_text(ASOUNDRC.format(d=home))
    # What the microphone hears: 1.5 s of a 500 Hz tone, 8 kHz 16-bit mono.
    t = np.arange(12000) / 8000
    voice = (8000 * np.sin(2 * np.pi * 500 * t)).astype("<i2")
    (home / "rec.raw").write_bytes(voice.tobytes())
    config = prepare(tmp_path / "box")
    with running_daemon(config.path, tmp_path, HOME=str(home)) as daemon:
        b = Browser(config.web.port)
        assert b.login("admin", "admin-password").status == 303
        token = b.get("/").csrf()
        r = b.post_json(
            "/api/ivr/record_prompt",
            {"seconds": 1, "label": "Recorded", "language": "en", "device": "ccb_rec"},
            token,
        )
        assert r.status == 201, r.body
        name = r.json()["name"]
        with wave.open(str(config.data_dir / "prompts" / f"{name}.wav")) as w:
            got = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)
        assert len(got) == 8000
        assert np.abs(got.astype(int) - voice[:8000]).max() <= 2  # the samples, as recorded

        r = b.post_json("/api/ivr/preview", {"name": name, "device": "ccb_play"}, token)
        assert (r.status, r.json()) == (200, {"played": name})
        played = np.frombuffer((home / "play.raw").read_bytes(), "<i2")
        assert np.array_equal(played[: len(got)], got)

        r = b.post_json("/api/ivr/record_prompt", {"seconds": 9999, "device": "ccb_rec"}, token)
        assert r.status == 400
        r = b.post_json("/api/ivr/record_prompt", {"seconds": 1, "device": "no-such"}, token)
        assert r.status == 503, r.body  # PortAudio does not know that device
        r = b.post_json("/api/ivr/preview", {"name": "../../etc/passwd"}, token)
        assert r.status == 404
        daemon.stop()
    assert "Traceback" not in daemon.output
