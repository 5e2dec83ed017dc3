"""SpanMonitor on a fake clock: the fixture trees copied where a test changes them, a real
AMI client on a StringTransport for chan_dahdi's side (built from chan_dahdi.c's formats)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from acd.service import ACD
from appliance.cli import resolved
from appliance.config import DahdiConfig, parse
from appliance.eventbus import EventBus
from appliance.hardware.spans import SpanAlarmChanged, SpanMonitor
from appliance.health import HealthRegistry
from appliance.reports import metrics
from drivers.dahdi.status import NOTOPEN, RED
from drivers.health import DEGRADED, OK, LastReports
from recorder.service import RecorderService
from tests.protocol.test_ami_client import Endpoint, login_ok, make, reply
from tests.support.inline_db import inline_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dahdi"
GROUPS = "default:1-15,17-31; g1:32-46"


def at_once(fn: Any, *args: Any) -> defer.Deferred[Any]:
    """The poll's thread, run inline (the clock drives the rest)."""
    return defer.succeed(fn(*args))


class Box:
    def __init__(self, tmp_path: Path, tree: str = "healthy", ami: Any = None) -> None:
        self.root = tmp_path / "dahdi"
        self.use(tree)
        self.clock = MemoryReactorClock()
        self.bus = EventBus()
        self.events: list[SpanAlarmChanged] = []
        self.bus.subscribe(SpanAlarmChanged, self.events.append)
        self.health = LastReports()
        groups = parse(f"[dahdi]\ngroups = {GROUPS}\n").dahdi.groups
        settings = DahdiConfig(enabled=True, proc_root=self.root, poll_s=5, groups=groups)
        self.monitor = SpanMonitor(
            self.clock, settings, self.bus, health=self.health, ami=ami, in_thread=at_once
        )

    def use(self, tree: str) -> None:
        """The box's /proc/dahdi becomes the fixture tree's (as the kernel rewrites it)."""
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.copytree(FIXTURES / tree / "proc" / "dahdi", self.root)

    def state(self) -> tuple[str, str]:
        part = self.health.get("dahdi")
        assert part is not None
        return part.state, part.detail


def test_alarm_raised_then_cleared_publishes_once_each_and_moves_health(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.monitor.startService()
    assert [s.number for s in box.monitor.spans()] == [1, 2]
    assert box.state() == (OK, "2 spans OK")
    assert box.events == []  # healthy from the start: nothing changed

    box.use("alarmed")
    box.clock.advance(5)
    assert box.events == [
        SpanAlarmChanged(2, frozenset({RED}), frozenset(), "TE2/0/2", "T2XXP (PCI) Card 0 Span 2")
    ]
    assert box.state() == (DEGRADED, "span 2 TE2/0/2: RED")
    box.clock.advance(5)
    box.clock.advance(5)
    assert len(box.events) == 1  # unchanged polls publish nothing

    box.use("healthy")
    box.clock.advance(5)
    assert box.events[1].span == 2 and box.events[1].cleared
    assert box.events[1].previous == {RED}
    assert box.state() == (OK, "2 spans OK")
    assert box.monitor.alarm_changes == 2 and box.monitor.polls == 5
    box.monitor.stopService()
    box.clock.advance(30)
    assert box.monitor.polls == 5


def test_trunk_free_counts_configured_idle_channels_out_of_alarm(tmp_path: Path) -> None:
    box = Box(tmp_path)
    assert box.monitor.trunk_free("default") == 0  # nothing read yet: no call placed
    box.monitor.startService()
    # default: 30 bearer channels, 1-3 held open; g1: 32-46, 32 open
    assert box.monitor.trunk_free("default") == 27
    assert box.monitor.trunk_free("g1") == 14
    assert box.monitor.trunk_free("sip") is None  # not a DAHDI group
    assert box.monitor.group_of(32) == "g1" and box.monitor.group_of(16) is None
    box.use("alarmed")
    box.clock.advance(5)
    assert box.monitor.trunk_free("g1") == 0  # span 2 is RED
    assert box.monitor.trunk_free("default") == 27


def test_no_dahdi_root_is_no_dahdi_not_a_fault(tmp_path: Path) -> None:
    box = Box(tmp_path)
    shutil.rmtree(box.root)
    box.monitor.startService()
    assert box.monitor.spans() == [] and box.monitor.present is False
    assert box.state()[0] == OK and "no DAHDI" in box.state()[1]
    assert box.monitor.trunk_free("default") is None
    assert box.events == []


def test_a_span_that_disappears_is_said_once_as_not_open(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.monitor.startService()
    (box.root / "2").unlink()
    box.clock.advance(5)
    box.clock.advance(5)
    assert [(e.span, e.alarms) for e in box.events] == [(2, {NOTOPEN})]
    assert [s.number for s in box.monitor.spans()] == [1]
    assert box.state() == (DEGRADED, "span 2: gone")
    box.use("healthy")
    box.clock.advance(5)
    assert box.events[-1].span == 2 and box.events[-1].cleared
    assert box.state() == (OK, "2 spans OK")


# ---- chan_dahdi over AMI ------------------------------------------------------------------


def show_channel(number: int, owner: str = "", alarm: str = "No Alarm") -> str:
    """One DAHDIShowChannels item as action_dahdishowchannels writes it."""
    call = (
        f"Channel: {owner}\r\nUniqueid: 1700000000.{number}\r\nAccountCode: \r\n" if owner else ""
    )
    return (
        f"Event: DAHDIShowChannels\r\nDAHDIChannel: {number}\r\n{call}"
        f"Signalling: PRI Signalling\r\nSignallingCode: 2\r\nContext: from-pstn\r\n"
        f"DND: Disabled\r\nAlarm: {alarm}\r\nDescription: \r\nActionID: {{id}}\r\n\r\n"
    )


def show_channels_reply(busy: dict[int, str], alarm: str = "No Alarm") -> str:
    items = [n for n in range(1, 63) if n not in (16, 47)]  # chan_dahdi lists no D-channel
    return (
        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n"
        "Message: DAHDI channel status will follow\r\n\r\n"
        + "".join(show_channel(n, busy.get(n, ""), alarm if n > 31 else "No Alarm") for n in items)
        + "Event: DAHDIShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n"
        f"ListItems: {len(items)}\r\nItems: {len(items)}\r\n\r\n"
    )


def started_with_ami(tmp_path: Path) -> tuple[Box, Any, Any]:
    """A box whose monitor starts with the AMI client logged in: the monitor, and the AMI
    server side's protocol and transport (what the monitor asked, and the replies)."""
    endpoint = Endpoint()
    client = make(MemoryReactorClock(), endpoint)
    box = Box(tmp_path, ami=client)
    client.startService()
    proto, transport = endpoint.accept()
    login_ok(proto, transport)
    assert client.ready
    box.monitor.startService()
    return box, proto, transport


def test_chan_dahdi_says_which_channels_carry_calls(tmp_path: Path) -> None:
    box, proto, transport = started_with_ami(tmp_path)
    assert b"Action: DAHDIShowChannels\r\n" in transport.value()
    reply(proto, transport, show_channels_reply({2: "DAHDI/2-1", 40: "DAHDI/40-1"}))
    assert box.monitor.ami_view
    one = {c.number: c for c in box.monitor.spans()[0].channels}
    assert one[2].in_use and one[2].asterisk_channel == "DAHDI/2-1"
    assert not one[1].in_use  # open in the kernel (Asterisk holds it), but idle
    assert box.monitor.trunk_free("default") == 29 and box.monitor.trunk_free("g1") == 14

    # A call seizes channel 5: in use at once, before the next poll.
    proto.dataReceived(
        b"Event: DAHDIChannel\r\nPrivilege: call,all\r\nChannel: DAHDI/5-1\r\n"
        b"DAHDIGroup: 1\r\nDAHDISpan: 1\r\nDAHDIChannel: 5\r\n\r\n"
    )
    assert box.monitor.trunk_free("default") == 28
    assert box.monitor.channel(5) is not None and box.monitor.channel(5).in_use  # type: ignore[union-attr]

    # chan_dahdi's SpanAlarm makes the monitor read now, not at the next poll.
    box.use("alarmed")
    transport.clear()
    proto.dataReceived(
        b"Event: SpanAlarm\r\nPrivilege: system,all\r\nSpan: 2\r\nAlarm: Red Alarm\r\n\r\n"
    )
    assert b"Action: DAHDIShowChannels\r\n" in transport.value()
    reply(proto, transport, show_channels_reply({}, alarm="Red Alarm"))
    assert [(e.span, e.alarms) for e in box.events] == [(2, {RED})]
    assert box.state()[0] == DEGRADED
    assert box.monitor.trunk_free("g1") == 0


def dahdi_channel_event(name: str, channel: str, span: int = 1) -> bytes:
    """chan_dahdi's DAHDIChannel event (dahdichannel_to_ami) for Asterisk channel ``name``."""
    return (
        f"Event: DAHDIChannel\r\nPrivilege: call,all\r\nChannel: {name}\r\n"
        f"DAHDIGroup: 1\r\nDAHDISpan: {span}\r\nDAHDIChannel: {channel}\r\n\r\n"
    ).encode()


def test_a_pri_calls_channel_is_known_from_chan_dahdis_event(tmp_path: Path) -> None:
    """A PRI call's name has no channel (DAHDI/i1/<caller>-<hex>): the DAHDIChannel event
    says which; a call moved to another B channel follows; a reading begun after the event
    that shows the channel idle forgets it, one begun before it does not."""
    box, proto, transport = started_with_ami(tmp_path)
    reply(proto, transport, show_channels_reply({}))
    pri, moved = "DAHDI/i1/13800138000-1a", "DAHDI/i2/4008001234-1b"
    box.clock.advance(1)
    proto.dataReceived(dahdi_channel_event(pri, "7"))
    proto.dataReceived(dahdi_channel_event(moved, "no-media (-1)", span=2))  # no B channel yet
    assert box.monitor.channel_of(pri) == 7 and box.monitor.channel_of(moved) is None
    proto.dataReceived(dahdi_channel_event(moved, "33", span=2))
    assert box.monitor.channel_of(moved) == 33
    assert box.monitor.channel(7).asterisk_channel == pri  # type: ignore[union-attr]
    proto.dataReceived(dahdi_channel_event(moved, "34", span=2))  # moved to channel 34
    assert box.monitor.channel_of(moved) == 34
    # a poll begun after the events: both calls shown, both kept
    transport.clear()
    box.clock.advance(5)
    reply(proto, transport, show_channels_reply({7: pri, 34: moved}))
    assert (box.monitor.channel_of(pri), box.monitor.channel_of(moved)) == (7, 34)
    # the next poll's answer comes after a new call's event, and does not show it yet
    transport.clear()
    box.clock.advance(5)
    new = "DAHDI/i1/13900139000-1c"
    proto.dataReceived(dahdi_channel_event(new, "8"))
    reply(proto, transport, show_channels_reply({7: pri}))  # the moved call ended
    assert box.monitor.channel_of(moved) is None
    assert (box.monitor.channel_of(pri), box.monitor.channel_of(new)) == (7, 8)

    # A session that starts before its event waits for it (the AMI link and FastAGI are two
    # connections), up to a second; a CAS name, or a known call, answers at once.
    early = box.monitor.wait_channel("DAHDI/i1/13700137000-1d")
    late = box.monitor.wait_channel("DAHDI/i1/13600136000-1e")
    assert not early.called
    proto.dataReceived(dahdi_channel_event("DAHDI/i1/13700137000-1d", "9"))
    assert resolved(early) == 9
    assert resolved(box.monitor.wait_channel(pri)) == 7
    assert resolved(box.monitor.wait_channel("DAHDI/12-1")) is None  # the name says 12
    box.clock.advance(1)
    assert resolved(late) is None  # never said: no channel rather than a held call
    assert not box.clock.getDelayedCalls() or all(
        c.getTime() > box.clock.seconds() for c in box.clock.getDelayedCalls()
    )


def test_without_chan_dahdi_the_kernel_view_stands(tmp_path: Path) -> None:
    box, proto, transport = started_with_ami(tmp_path)
    reply(
        proto,
        transport,
        "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n",
    )
    assert not box.monitor.ami_view
    assert box.monitor.trunk_free("default") == 27  # the kernel's open flags
    assert box.state() == (OK, "2 spans OK")


def test_metrics_per_span_and_alarm_changes(tmp_path: Path) -> None:
    """/metrics as scraped (the real collector over an empty center): the spans' gauges."""
    box = Box(tmp_path)
    box.monitor.startService()
    box.use("alarmed")
    box.clock.advance(5)
    with inline_db(tmp_path / "m.sqlite") as db:
        sources = metrics.MetricsSources(
            box.clock,
            ACD(box.clock, db, box.bus),
            db,
            RecorderService(box.clock, db, tmp_path / "recordings"),
            HealthRegistry(),
            tmp_path,
            spans=lambda: box.monitor,
        )
        scraper = metrics.Scraper(sources, in_thread=lambda fn, *a: defer.maybeDeferred(fn, *a))
        body, _ = resolved(defer.ensureDeferred(scraper.scrape()))
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if s.name.startswith("ccbox_dahdi_")
    }

    def value(metric: str, **labels: str) -> float:
        return got[metric, tuple(sorted(labels.items()))]

    assert value("ccbox_dahdi_span_alarm", span="2", name="TE2/0/2", alarm="RED") == 1
    assert value("ccbox_dahdi_span_alarm", span="2", name="TE2/0/2", alarm="YELLOW") == 0
    assert value("ccbox_dahdi_span_alarm", span="1", name="TE2/0/1", alarm="RED") == 0
    assert value("ccbox_dahdi_channels_in_use", span="1") == 4  # 1-3 and the D-channel
    assert value("ccbox_dahdi_channels_configured", span="2") == 31
    assert value("ccbox_dahdi_span_errors_total", span="2", counter="crc4") == 12
    assert value("ccbox_dahdi_alarm_changes_total") == 1


def test_the_master_builds_the_monitor_before_the_dialer_and_hands_it_over(
    tmp_path: Path,
) -> None:
    from appliance.master import ApplianceMaster

    root = FIXTURES / "healthy" / "proc" / "dahdi"
    conf = parse(
        f"[ccbox]\ndata_dir = {tmp_path}\n"
        f"[dahdi]\nenabled = yes\nproc_root = {root}\ngroups = {GROUPS}\n"
    )
    master = ApplianceMaster(conf, MemoryReactorClock())
    assert isinstance(master.spans, SpanMonitor)
    assert master.hardware.spans is master.spans
    assert master.dialer is not None
    assert master.dialer.span_free == master.spans.trunk_capacity
    names = [child.name for child in master]
    assert names.index("dahdi") < names.index("dialer")
    assert master.ami is not None
    assert {"SpanAlarm", "SpanAlarmClear", "DAHDIChannel"} <= set(master.ami._handlers)
    off = ApplianceMaster(parse(f"[ccbox]\ndata_dir = {tmp_path}\n"), MemoryReactorClock())
    assert off.spans is None and off.hardware.spans is None


def test_dahdi_unloaded_under_a_running_box_is_degraded_until_it_is_back(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.monitor.startService()
    shutil.rmtree(box.root)
    box.clock.advance(5)
    assert box.state()[0] == DEGRADED and "gone" in box.state()[1]
    assert sorted(e.span for e in box.events) == [1, 2]  # each said once as NOTOPEN
    box.clock.advance(5)
    assert box.state()[0] == DEGRADED and len(box.events) == 2
    box.use("healthy")
    box.clock.advance(5)
    assert box.state() == (OK, "2 spans OK")
    assert [e.cleared for e in box.events[2:]] == [True, True]


def test_a_root_that_cannot_be_read_is_reported_and_the_spans_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = Box(tmp_path, "alarmed")
    box.monitor.startService()
    assert box.state() == (DEGRADED, "span 2 TE2/0/2: RED")
    assert [e.span for e in box.events] == [2]
    real_iterdir = Path.iterdir

    def iterdir(self: Path) -> Any:
        if self == box.root:
            raise OSError(5, "Input/output error")
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    box.clock.advance(5)
    assert box.state() == (DEGRADED, f"not read: {box.root}: Input/output error")
    assert [s.number for s in box.monitor.spans()] == [1, 2] and len(box.events) == 1
    assert box.monitor.present is True  # unknown is not gone
    monkeypatch.setattr(Path, "iterdir", real_iterdir)
    box.use("healthy")
    box.clock.advance(5)
    assert box.state() == (OK, "2 spans OK") and box.monitor.read_error is None
    assert [e.cleared for e in box.events] == [False, True]


def test_dahdi_scan_runs_once_per_set_of_spans(tmp_path: Path) -> None:
    """Its card facts stay on the spans; it runs again only when the spans change (a real
    dahdi_scan sleeps a second for each E1 span with framing errors)."""
    runs = tmp_path / "runs"
    fixture = FIXTURES / "alarmed" / "dahdi_scan.txt"
    command = ("/bin/sh", "-c", f"echo run >> '{runs}'; cat '{fixture}'")
    box = Box(tmp_path)
    settings = DahdiConfig(enabled=True, proc_root=box.root, poll_s=5, scan_command=command)
    monitor = SpanMonitor(box.clock, settings, box.bus, health=box.health, in_thread=at_once)
    monitor.startService()
    box.clock.advance(5)
    box.clock.advance(5)
    assert runs.read_text().count("run") == 1
    assert [(s.manufacturer, s.span_type, s.basechan) for s in monitor.spans()] == [
        ("Digium", "digital-E1", 1),
        ("Digium", "digital-E1", 32),
    ]
    (box.root / "2").unlink()  # span 2 gone: described anew
    box.clock.advance(5)
    box.clock.advance(5)
    assert runs.read_text().count("run") == 2
    assert [s.manufacturer for s in monitor.spans()] == ["Digium"]
    monitor.stopService()
