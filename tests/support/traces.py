"""Read the real Asterisk transcripts in shared/asterisk-traces/ (format: see their README)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

# shared/ sits beside the checkout (as in CI); CCBOX_TRACES points elsewhere if needed.
TRACES = Path(
    os.environ.get("CCBOX_TRACES")
    or Path(__file__).resolve().parents[3] / "shared" / "asterisk-traces"
)
_LINE = re.compile(r"^\s*(\d+\.\d+) (AMI|AGI\d+)([<>-])(?: (.*))?$")


@dataclass(frozen=True)
class TraceLine:
    time: float
    socket: str  # "AMI" or "AGI3"
    direction: str  # "<" from Asterisk, ">" to Asterisk, "-" Asterisk closed it
    text: str


def trace_names() -> list[str]:
    names = sorted(p.stem for p in TRACES.glob("*.trace"))
    assert names, f"no traces in {TRACES}: check out shared/ beside the repo or set CCBOX_TRACES"
    return names


def load(name: str) -> list[TraceLine]:
    lines = []
    for raw in (TRACES / f"{name}.trace").read_text(encoding="utf-8").splitlines():
        m = _LINE.match(raw)
        assert m, f"{name}: unreadable trace line {raw!r}"
        lines.append(TraceLine(float(m.group(1)), m.group(2), m.group(3), m.group(4) or ""))
    return lines


def ami_bytes(lines: list[TraceLine], direction: str = "<") -> bytes:
    """What crossed the AMI socket in one direction, with CRLF line ends restored."""
    return b"".join(
        ln.text.encode() + b"\r\n"
        for ln in lines
        if ln.socket == "AMI" and ln.direction == direction
    )


def agi_sessions(lines: list[TraceLine]) -> dict[str, list[TraceLine]]:
    sessions: dict[str, list[TraceLine]] = {}
    for ln in lines:
        if ln.socket.startswith("AGI"):
            sessions.setdefault(ln.socket, []).append(ln)
    return sessions


def ami_timed_messages(lines: list[TraceLine]) -> list[tuple[float, bytes]]:
    """Each AMI message from Asterisk with the time of its first line (banner excluded)."""
    out: list[tuple[float, bytes]] = []
    current: list[str] = []
    start = 0.0
    for ln in lines:
        if ln.socket != "AMI" or ln.direction != "<":
            continue
        if ln.text.startswith("Asterisk Call Manager/"):
            continue
        if ln.text == "":
            if current:
                out.append((start, ("\r\n".join(current) + "\r\n\r\n").encode()))
            current = []
            continue
        if not current:
            start = ln.time
        current.append(ln.text)
    return out
