"""AMI parsing: ours (filtered by event name, and unfiltered) against pyst2's parser.

The stream is the real traces' AMI traffic repeated to about 100,000 messages. pyst2 is
fed the way its reader thread feeds it: line by line, one ManagerMsg per message.
"""

from __future__ import annotations

import io

from asterisk.manager import ManagerMsg

from drivers.asterisk.ami import _scan_py, codec, scan
from drivers.asterisk.ami.codec import Parser
from drivers.asterisk.callmodel import CallModel
from tests.benchmarks.harness import Result, best_rate
from tests.support.traces import ami_timed_messages, load, trace_names

TARGET = 100_000
CHUNK = 64 * 1024


def stream() -> tuple[bytes, int]:
    messages = [data for name in trace_names() for _, data in ami_timed_messages(load(name))]
    reps = TARGET // len(messages) + 1
    return b"".join(messages) * reps, len(messages) * reps


def ours(data: bytes, wanted: frozenset[str] | None) -> int:
    parser = Parser(wanted)
    parser.banner = "Asterisk Call Manager/11.0.0"
    n = 0
    for i in range(0, len(data), CHUNK):
        n += len(parser.feed(data[i : i + CHUNK]))
    return n


def pyst2(data: bytes) -> int:
    n = 0
    lines: list[str] = []
    for raw in io.BytesIO(data):
        line = raw.decode("utf-8", "replace")
        if line == "\r\n":
            if lines:
                ManagerMsg(lines)
                n += 1
            lines = []
        else:
            lines.append(line)
    return n


def run() -> list[Result]:
    data, count = stream()
    wanted = frozenset(CallModel.EVENTS)
    filtered = best_rate(lambda: ours(data, wanted), count, repeat=3)
    everything = best_rate(lambda: ours(data, None), count, repeat=3)
    baseline = best_rate(lambda: pyst2(data), count, repeat=3)
    # The same parser on the pure-Python scanner (what runs where Cython is not built).
    codec.scan, codec.split_headers = _scan_py.scan, _scan_py.split_headers
    try:
        reference = best_rate(lambda: ours(data, wanted), count, repeat=3)
    finally:
        codec.scan, codec.split_headers = scan.scan, scan.split_headers
    return [
        Result("ami parse", filtered, "events/s", "pyst2 ManagerMsg", baseline, better="higher"),
        Result(
            "ami parse (no filter)",
            everything,
            "events/s",
            "pyst2 ManagerMsg",
            baseline,
            better="higher",
        ),
        Result(
            "ami parse (python scanner)",
            reference,
            "events/s",
            "pyst2 ManagerMsg",
            baseline,
            better="higher",
        ),
    ]
