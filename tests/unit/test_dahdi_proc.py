"""/proc/dahdi/<N> and dahdi_scan parsing, on the fixture trees and on hostile lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from drivers.dahdi import ami, proc, scan, status
from drivers.dahdi.status import LOOPBACK, NOTOPEN, RED, YELLOW

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dahdi"


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """The text of every warning logged meanwhile."""
    out: list[str] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_level") == LogLevel.warn:
            out.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    try:
        yield out
    finally:
        globalLogPublisher.removeObserver(observe)


def test_healthy_tree() -> None:
    spans = proc.read_root(FIXTURES / "healthy" / "proc" / "dahdi")
    assert spans is not None
    assert [s.number for s in spans] == [1, 2]
    one, two = spans
    assert (one.name, one.description) == ("TE2/0/1", "T2XXP (PCI) Card 0 Span 1")
    assert one.alarms == frozenset() and one.alarm_text == "OK"
    assert (one.framing, one.coding, one.crc4) == ("CCS", "HDB3", True)
    assert one.sync_master and one.clock_source and not two.sync_master
    assert [c.number for c in one.channels] == list(range(1, 32))
    assert [c.number for c in two.channels] == list(range(32, 63))
    assert one.channels[0].name == "TE2/0/1/1" and one.channels[0].signalling == "Clear"
    assert one.channels[15].signalling == "HDLCFCS"
    # (In use): the kernel's open flag, the only in-use view without chan_dahdi's
    assert [c.number for c in one.channels if c.in_use] == [1, 2, 3, 16]
    assert [c.number for c in two.channels if c.opened] == [32, 47]
    assert all(not c.alarms for s in spans for c in s.channels)
    assert dict(one.counters) == {}


def test_alarmed_tree() -> None:
    spans = proc.read_root(FIXTURES / "alarmed" / "proc" / "dahdi")
    assert spans is not None
    one, two = spans
    assert one.alarms == frozenset() and dict(one.counters) == {"irq_misses": 1}
    assert two.alarms == {RED} and two.alarm_text == "RED"
    assert dict(two.counters) == {"crc4": 12, "fas": 7, "irq_misses": 1}
    assert len(two.channels) == 31
    assert all(c.alarms == {RED} and not c.usable for c in two.channels)
    assert all(c.usable for c in one.channels)


def test_every_source_cleans_its_texts_with_one_function() -> None:
    assert status.printable("TE2/0/1\x1b[31m\r\n\x00 ok", 12) == "TE2/0/1[31m "
    for module in (proc, scan, ami):
        assert module.printable is status.printable
        assert not hasattr(module, "_clean"), module.__name__


def test_missing_root_is_no_dahdi(tmp_path: Path) -> None:
    assert proc.read_root(tmp_path / "absent") is None
    assert proc.read_root(tmp_path) == []  # DAHDI loaded, no span registered


def test_a_root_gone_while_read_is_no_root_and_an_unreadable_one_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_iterdir = Path.iterdir
    failure: list[OSError] = []

    def iterdir(self: Path) -> Any:
        if self == tmp_path and failure:
            raise failure[0]  # the root goes (or turns unreadable) as it is listed
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    failure.append(FileNotFoundError(2, "No such file or directory"))
    assert proc.read_root(tmp_path) is None  # DAHDI unloaded as we looked: no root
    failure[0] = PermissionError(13, "Permission denied")
    with pytest.raises(proc.RootUnreadable, match=f"{tmp_path}: Permission denied"):
        proc.read_root(tmp_path)


def test_header_variants() -> None:
    span = proc.parse_span('Span 3: ""  \n\n\t  65 \n')
    assert span is not None and (span.number, span.name, span.description) == (3, "", "")
    assert span.channels[0].signalling == "Unconfigured" and not span.channels[0].configured
    span = proc.parse_span(
        'Span 4: WCT1/0 "Wildcard T100P" ESF/B8ZS YELLOW LOOP NOTOPEN \n\n'
        "\t  66 WCT1/0/1 E&M-E1 Master (In use) YELLOW \n"
        "\t  67 WCT1/0/2 SF (ToneOnly) \n"
        "\t  68 Reserved \n"
        "\t  69 FXSKS (In use) (no pcm) \n"
    )
    assert span is not None
    assert span.alarms == {YELLOW, LOOPBACK, NOTOPEN}
    assert span.alarm_text == "YELLOW LOOPBACK NOTOPEN"
    assert (span.framing, span.coding, span.crc4) == ("ESF", "B8ZS", False)
    sigs = [(c.name, c.signalling, c.in_use, c.alarms) for c in span.channels]
    assert sigs == [
        ("WCT1/0/1", "E&M-E1", True, {YELLOW}),
        ("WCT1/0/2", "SF (ToneOnly)", False, frozenset()),
        ("", "Reserved", False, frozenset()),
        ("", "FXSKS", True, frozenset()),
    ]
    assert not span.channels[2].configured


def test_hostile_lines_are_skipped_and_the_rest_kept(warnings: list[str]) -> None:
    text = (
        'Span 2: TE2/0/2 "Card 0 Span 2" CCS/HDB3/CRC4 RED \n'
        "\tBPV count: 5\n"
        "\tBPV count: 99999999999999999999\n"  # too long to be a count
        "\tSecret counter: 7\n"
        "\n"
        "\t  32 TE2/0/2/1 Clear (In use) RED \n"
        "\t  33 TE2/0/2/2 Clear <script>alert(1)</script>\n"
        "\t  34\x00\x1b[2J TE2/0/2/3 Clear\n"
        "\t9999999 TE2/0/2/4 Clear \n"
        "\t  32 TE2/0/2/1 Clear \n" + "\t  35 " + "A" * 70000 + "\n"  # listed twice: the first kept
        'Span 9: spoofed "second header" \n'
        "\t  36 TE2/0/2/5 Clear RED \n"
    )
    span = proc.parse_span(text, "/proc/dahdi/2")
    assert span is not None and span.number == 2 and span.alarms == {RED}
    assert dict(span.counters) == {"bpv": 5}
    assert [c.number for c in span.channels] == [32, 36]
    assert span.channels[0].in_use and span.channels[0].alarms == {RED}
    assert len(warnings) == 8
    assert all("/proc/dahdi/2" in w and "line skipped" in w for w in warnings)
    assert all(len(w) < 300 for w in warnings)  # a 70 KB line is not copied into the log


def test_a_file_that_is_no_span_is_ignored(tmp_path: Path, warnings: list[str]) -> None:
    root = tmp_path / "dahdi"
    root.mkdir()
    (root / "1").write_text("this is not DAHDI\n")
    (root / "2").write_bytes(
        b'Span 2: X "\xff\xfe bad utf-8" \n\n\t  1 X/1 Clear \n'
    )  # kept: undecodable bytes become U+FFFD
    (root / "notes").write_text("ignored: not a span number")
    (root / "3").write_bytes(b"")
    spans = proc.read_root(root)
    assert spans is not None and [s.number for s in spans] == [2]
    assert spans[0].description == "\ufffd\ufffd bad utf-8"
    assert any("not a span header" in w for w in warnings)


def test_a_huge_file_is_read_up_to_its_bound(tmp_path: Path) -> None:
    root = tmp_path / "dahdi"
    root.mkdir()
    head = 'Span 1: X "big" \n\n'
    lines = "".join(f"\t{n:4d} X/{n} Clear \n" for n in range(1, 20000))
    (root / "1").write_text(head + lines)
    spans = proc.read_root(root)
    assert spans is not None
    assert 0 < len(spans[0].channels) < 19999  # cut at MAX_FILE_BYTES, not refused


def test_dahdi_scan_output() -> None:
    healthy = scan.parse_scan((FIXTURES / "healthy" / "dahdi_scan.txt").read_text())
    alarmed = scan.parse_scan((FIXTURES / "alarmed" / "dahdi_scan.txt").read_text())
    assert sorted(healthy) == [1, 2]
    two = alarmed[2]
    assert two.alarms == {RED} and healthy[2].alarms == frozenset()
    assert (two.manufacturer, two.span_type, two.basechan, two.totchans) == (
        "Digium",
        "digital-E1",
        32,
        31,
    )
    assert scan.scan_alarms("BLU/YEL/LB/REC/NOP") == (
        frozenset({"BLUE", "YELLOW", "LOOPBACK", "RECOVERING", "NOTOPEN"}),
        True,
    )
    assert scan.scan_alarms("LMFA/OK") == (frozenset(), True)
    assert scan.scan_alarms("UNCONFIGURED") == (frozenset(), False)


def test_dahdi_scan_hostile_lines(warnings: list[str]) -> None:
    out = scan.parse_scan("orphan=1\n[1]\nalarms=RED\nno equals sign\n\x00\n[x]\nname=TE\n")
    assert out[1].alarms == {RED} and out[1].name == "TE"
    assert len(warnings) == 4


def test_dahdi_scan_command(tmp_path: Path) -> None:
    fixture = FIXTURES / "alarmed" / "dahdi_scan.txt"
    assert scan.run(("/bin/cat", str(fixture)), 5.0)[2].alarms == {RED}
    assert scan.run(("/bin/false",), 5.0) == {}
    assert scan.run((str(tmp_path / "absent"),), 5.0) == {}


def test_an_analog_card() -> None:
    """A TDM410P: no line config, FXO/FXS signalling, an older DAHDI's (SWEC: ...)."""
    span = proc.parse_span(
        'Span 1: WCTDM/4 "Wildcard TDM410P Board 5" (MASTER) \n\n'
        "\t   1 WCTDM/4/0 FXOKS (In use) (SWEC: MG2) \n"
        "\t   2 WCTDM/4/1 FXSKS RED \n"
        "\t   3 WCTDM/4/2 \n"
    )
    assert span is not None and span.sync_master and span.framing == "" and not span.alarms
    got = [(c.signalling, c.in_use, c.alarms, c.usable) for c in span.channels]
    assert got == [
        ("FXOKS", True, frozenset(), True),
        ("FXSKS", False, {RED}, False),
        ("Unconfigured", False, frozenset(), False),
    ]
    assert hash(span) == hash(span)  # plain data: usable as a key


def test_a_header_with_a_quoted_description_or_an_unknown_word_keeps_the_span(
    warnings: list[str],
) -> None:
    span = proc.parse_span(
        'Span 5: TE4/0/1 "Card "A" port 1" CCS/HDB3/CRC4 RED NEWFLAG ClockSource \n\n'
        "\t 129 TE4/0/1/1 Clear RED \n"
    )
    assert span is not None and span.description == 'Card "A" port 1'
    assert span.alarms == {RED} and span.clock_source and len(span.channels) == 1
    assert len(warnings) == 1 and "NEWFLAG" in warnings[0]
