"""The simulator on a full disk answers as Asterisk does and goes on (it used to raise out
of the call and never finish its run).

/dev/full is a real full device (every write fails with ENOSPC), reached through a link
where the recording goes: no root and no mount needed.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.simulator.agi_caller import CallerScript
from tests.protocol.test_simulator_agi import talk


def _full(path: Path) -> Path:
    path.symlink_to("/dev/full")
    try:
        with path.open("wb") as f:
            f.write(b"x" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:  # pragma: no cover - the premise of the test
        raise AssertionError("/dev/full took a write")
    return path


def test_record_file_on_a_full_disk_records_what_fits_and_the_call_goes_on(
    tmp_path: Path,
) -> None:
    """ast_writestream's failures are not checked by res_agi.c: the caller speaks, the
    silence ends it as usual, and the session goes on to hang up."""
    _full(tmp_path / "msg.wav")

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        reply = await s.command("RECORD FILE", str(tmp_path / "msg"), "wav", "#", "10000", "0")
        await s.hangup()
        return reply

    reply, caller, _ = talk(CallerScript(message_s=3.0), body)
    assert (reply.result, reply.data) == ("0", "timeout")
    assert caller.outcome.recorded == [str(tmp_path / "msg")]


def test_record_file_that_cannot_be_created_answers_writefile(tmp_path: Path) -> None:
    (tmp_path / "msg.wav").mkdir()  # the file cannot be opened for writing

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        reply = await s.command("RECORD FILE", str(tmp_path / "msg"), "wav", "#", "10000", "0")
        await s.hangup()
        return reply

    reply, _, _ = talk(CallerScript(message_s=3.0), body)
    assert (reply.result, reply.data) == ("-1", "writefile")


def test_mixmonitor_legs_on_a_full_disk_do_not_stop_the_call(tmp_path: Path) -> None:
    rx, tx = _full(tmp_path / "rx.ulaw"), tmp_path / "tx.ulaw"

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        await s.exec_("MixMonitor", f"x.wav,r({rx})t({tx})")
        await s.command("RECORD FILE", str(tmp_path / "gone"), "gsm", "#", "3000", "0")
        stopped = await s.exec_("StopMixMonitor")
        await s.hangup()
        return stopped

    stopped, _, _ = talk(CallerScript(message_s=2.0), body)
    assert stopped == 0
    assert os.path.realpath(rx) == "/dev/full"
    assert tx.stat().st_size > 0  # the leg on a disk with room is written
