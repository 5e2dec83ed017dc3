"""Starting a call's recording from its FastAGI session: MixMonitor with the two legs in
separate files (``r()`` what the caller's channel receives: the caller; ``t()`` what it
sends: the agent), only while bridged (``b``), kept in step (``S``). Every path is literal
and ours: Asterisk expands no ``${...}`` in AGI EXEC (the traces show it), and the unique
id is checked before it becomes part of a file name."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.internet import threads

if TYPE_CHECKING:
    from drivers.asterisk.agi.session import AGISessionProtocol

SAFE_ID = re.compile(r"[0-9A-Za-z._-]{1,64}")
# b: only while bridged with an agent; S: silence inserted where one direction had no frames
# (a phone that stops sending during silence, a jitter burst), so that the two legs stay in
# step all along and the stereo merge only pads the shorter leg's end.
OPTIONS = "bS"
LAWS = {"ulaw": "ulaw", "alaw": "alaw"}


@dataclass(frozen=True)
class Capture:
    started_at: dt.datetime
    rx: Path  # the caller's voice
    tx: Path  # the agent's voice
    mix: Path  # MixMonitor's own mixed file (removed once the stereo file exists)
    relative: str  # the stereo file, relative to the recording root


def plan(root: Path, call_id: int, uniqueid: str, law: str, now: dt.datetime) -> Capture:
    if law not in LAWS:
        raise ValueError("law must be ulaw or alaw")
    name = uniqueid if SAFE_ID.fullmatch(uniqueid) and uniqueid not in (".", "..") else ""
    stem = f"call{call_id}-{name}" if name else f"call{call_id}"
    day = now.strftime("%Y/%m/%d")
    folder = root / "legs" / day
    return Capture(
        now,
        folder / f"{stem}-rx.{law}",
        folder / f"{stem}-tx.{law}",
        folder / f"{stem}-mix.wav",
        f"{day}/{stem}.wav",
    )


async def start(session: AGISessionProtocol, capture: Capture, agent_side: bool = False) -> None:
    """MixMonitor on the session's channel. ``agent_side``: the session runs on the agent's
    channel (a callback), whose received audio is the agent and whose sent audio is the
    customer: the legs are swapped so that ``rx`` is still the customer (left). At the ring
    nothing plays: the caller's session has cut its hold first (``acd.caller.ring_offer``)."""
    await threads.deferToThread(capture.rx.parent.mkdir, parents=True, exist_ok=True)
    rx, tx = (capture.tx, capture.rx) if agent_side else (capture.rx, capture.tx)
    await session.exec_("MixMonitor", f"{capture.mix},{OPTIONS}r({rx})t({tx})")
