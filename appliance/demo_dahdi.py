"""The demo's E1 card: a dual-port E1 (two spans of 31 channels, an ISDN PRI's D-channel on
timeslot 16) simulated as the files dahdi-linux writes in ``/proc/dahdi`` (the layout of
tests/fixtures/dahdi/), under the demo's data directory, read by the real span monitor.

Every ``EVERY_S`` seconds the files are written again from the simulated switch (its
``pri_spans`` on: calls named ``DAHDI/i<span>/<caller>-<hex>`` as on a PRI): a trunk call
on channel n marks that channel ``(In use)``. Span 2's line goes down
(RED, with CRC-4 and framing errors) for ``DOWN_S`` seconds in every ``CYCLE_S``, so the
System page and the wallboard show an alarm coming and going.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from twisted.internet import task, threads
from twisted.logger import Logger

from appliance import config as config_mod

CHANNELS = 31  # per span: 30 bearer channels and the D-channel
D_CHANNEL = 16  # the timeslot of the PRI's signalling
SPANS = 2
# [dahdi] groups: the bearer channels of each span (g0:1-15,17-31; g1:32-46,48-62)
GROUPS = (
    ("g0", (*range(1, 16), *range(17, 32))),
    ("g1", (*range(32, 47), *range(48, 63))),
)
EVERY_S = 2.0
CYCLE_S = 300.0
DOWN_AT_S = 120.0  # into each cycle
DOWN_S = 30.0
log = Logger(namespace="ccbox.demo")


def span_text(span: int, in_use: Iterable[int], red: bool) -> str:
    """``/proc/dahdi/<span>`` as dahdi-base.c's dahdi_seq_show writes it."""
    busy = set(in_use)
    master = " (MASTER)" if span == 1 else ""
    alarm = "RED " if red else ""
    clock = "ClockSource " if span == 1 else ""
    lines = [
        f'Span {span}: TE2/0/{span} "T2XXP (PCI) Card 0 Span {span}"{master} '
        f"CCS/HDB3/CRC4 {alarm}{clock}"
    ]
    if red:
        lines += ["\tCRC4 error count: 12", "\tFAS error count: 7"]
    lines.append("\tIRQ misses: 1")
    lines.append("")
    for slot in range(1, CHANNELS + 1):
        number = (span - 1) * CHANNELS + slot
        signalling = "HDLCFCS" if slot == D_CHANNEL else "Clear"
        opened = slot == D_CHANNEL or number in busy
        flags = " (In use)" if opened else ""
        echo = "" if slot == D_CHANNEL else " (EC: OSLEC - INACTIVE)"
        lines.append(
            f"\t{number:4d} TE2/0/{span}/{slot} {signalling}{flags}{' RED' if red else ''}{echo} "
        )
    return "\n".join(lines) + "\n"


def write_tree(root: Path, in_use: Iterable[int], red_spans: Iterable[int] = ()) -> None:
    """Every span's file, each replaced whole (a reader never sees half of one)."""
    root.mkdir(parents=True, exist_ok=True)
    busy, red = set(in_use), set(red_spans)
    for span in range(1, SPANS + 1):
        path = root / str(span)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(span_text(span, busy, span in red), encoding="utf-8")
        os.replace(tmp, path)


def plug(config: config_mod.Config) -> config_mod.Config:
    """``config`` with ``[dahdi]`` on the demo's tree (written once here, idle and healthy)."""
    root = config.data_dir / "dahdi" / "proc"
    write_tree(root, ())
    dahdi = dataclasses.replace(
        config.dahdi,
        enabled=True,
        proc_root=root,
        poll_s=2,
        groups=GROUPS,
    )
    return dataclasses.replace(config, dahdi=dahdi)


Writer = Callable[[Path, set[int], set[int]], Any]


class DemoCard:
    """Rewrites the tree from the simulated switch's live trunk calls, on the reactor's
    clock; ``writer`` (root, channels in use, spans in RED) writes the files (by default
    ``write_tree`` in the reactor's thread pool)."""

    def __init__(
        self,
        reactor: Any,
        root: Path,
        trunk_calls: Callable[[], set[int]],
        writer: Writer | None = None,
    ) -> None:
        self.reactor = reactor
        self.root = root
        self.trunk_calls = trunk_calls
        self.writer = writer or self._in_thread
        self.started = reactor.seconds()
        self.loop = task.LoopingCall(self.write)
        self.loop.clock = reactor

    def start(self) -> None:
        self.started = self.reactor.seconds()
        self.loop.start(EVERY_S, now=True)

    def stop(self) -> None:
        if self.loop.running:
            self.loop.stop()

    def red_spans(self) -> set[int]:
        into = (self.reactor.seconds() - self.started) % CYCLE_S
        return {2} if DOWN_AT_S <= into < DOWN_AT_S + DOWN_S else set()

    def write(self) -> Any:
        return self.writer(self.root, self.trunk_calls(), self.red_spans())

    def _in_thread(self, root: Path, busy: set[int], red: set[int]) -> Any:
        pool = self.reactor.getThreadPool()
        d = threads.deferToThreadPool(self.reactor, pool, write_tree, root, busy, red)
        # a demo's files: logged, and the next round writes them again
        return d.addErrback(lambda f: log.failure("the demo's /proc/dahdi not written", f))


def trunk_calls(switch: Any) -> set[int]:
    """The E1 channels the simulated switch has live calls on (its channels' ``trunk``)."""
    return {c.trunk for c in list(switch.channels.values()) if c.alive and c.trunk is not None}
