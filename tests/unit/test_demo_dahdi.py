"""The demo's simulated E1 card: its /proc/dahdi files read by the real parser, the switch's
trunk calls marking channels in use, span 2's line going down and back on the clock."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.task import Clock

from appliance import demo_dahdi
from drivers.dahdi import proc


def test_the_tree_reads_as_two_e1_spans(tmp_path: Path) -> None:
    demo_dahdi.write_tree(tmp_path, {1, 5, 40}, red_spans={2})
    spans = proc.read_root(tmp_path)
    assert spans is not None
    one, two = spans
    assert (one.number, one.alarms, two.number, two.alarms) == (1, frozenset(), 2, {"RED"})
    assert [len(s.channels) for s in spans] == [31, 31]
    assert [c.number for c in one.channels if c.opened] == [1, 5, 16]  # 16: the D-channel
    assert [c.number for c in two.channels if c.opened] == [40, 47]
    assert {c.alarms for c in two.channels} == {frozenset({"RED"})}
    assert (two.counters["crc4"], two.counters["fas"], one.counters.get("crc4", 0)) == (12, 7, 0)
    assert {c for group, chans in demo_dahdi.GROUPS for c in chans} == set(range(1, 63)) - {16, 47}


def test_the_card_follows_the_switch_and_the_clock(tmp_path: Path) -> None:
    clock = Clock()
    calls = {3}
    written: list[tuple[set[int], set[int]]] = []

    def writer(root: Path, busy: set[int], red: set[int]) -> None:
        demo_dahdi.write_tree(root, busy, red)
        written.append((busy, red))

    card = demo_dahdi.DemoCard(clock, tmp_path, lambda: set(calls), writer)
    card.start()
    calls.add(7)
    clock.advance(demo_dahdi.EVERY_S)
    clock.advance(demo_dahdi.DOWN_AT_S)  # two minutes in: span 2 is down
    clock.advance(demo_dahdi.DOWN_S)  # and back
    card.stop()
    assert written[:2] == [({3}, set()), ({3, 7}, set())]
    assert ({3, 7}, {2}) in written
    assert written[-1] == ({3, 7}, set())
    spans = proc.read_root(tmp_path)  # what the span monitor reads last: span 2 back up
    assert spans is not None and [s.alarms for s in spans] == [frozenset(), frozenset()]
