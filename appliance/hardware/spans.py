"""The E1/analog spans: DAHDI's status polled, alarms published, trunk capacity for the dialer.

Every ``[dahdi] poll_s`` seconds the monitor reads ``[dahdi] proc_root`` in a thread
(drivers/dahdi/proc.py; a missing root is a box without DAHDI, not a fault), runs
``scan_command`` there too when set and the spans changed (dahdi_scan, drivers/dahdi/scan.py:
the card facts), and, while the AMI client is ready, asks chan_dahdi for
``DAHDIShowChannels``: the kernel's ``(In use)`` only says
that Asterisk holds a channel open (all of them, once chan_dahdi is loaded), chan_dahdi says
which carry a call. chan_dahdi's alarm events start a read at once rather than at the next
poll.

A span's alarms changing (not every poll) publishes ``SpanAlarmChanged`` on the bus; the
health part ``dahdi`` is degraded, naming the span and its alarms, while any span is in alarm.
``trunk_free(group)`` is what the dialer takes at most: the group's channels (``[dahdi]
groups``) that are configured, out of alarm and idle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger

from appliance.config import DahdiConfig
from appliance.eventbus import EventBus
from appliance.hardware.trunks import dahdi_channel
from drivers.dahdi import ami as dahdi_ami
from drivers.dahdi import proc, scan
from drivers.dahdi.status import Channel, Span, alarm_text
from drivers.health import DEGRADED, OK, STARTING, HealthReporter, LastReports

log = Logger(namespace="ccbox.hardware.spans")

HEALTH = "dahdi"
DEGRADED_GONE = "gone"  # the root was there, then not
SCAN_TIMEOUT_S = 10.0
# the Asterisk channels the DAHDIChannel events named, kept at most (a box's live calls are a
# few hundred; a poll drops the ended ones, this bounds a box whose polls see no calls)
MAX_CALLS_INDEXED = 4096
# how long a call's session waits for chan_dahdi's DAHDIChannel event (sent before the
# dialplan runs, but on the AMI link: it may reach ccboxd just after the FastAGI session)
CHANNEL_WAIT_S = 1.0


@dataclass(frozen=True)
class SpanAlarmChanged:
    """A span's alarms changed (``alarms`` empty: cleared). A span that appears in alarm is a
    change from no alarm; one that disappears is reported once as ``NOTOPEN``."""

    span: int
    alarms: frozenset[str]
    previous: frozenset[str]
    name: str = ""
    description: str = ""

    @property
    def cleared(self) -> bool:
        return not self.alarms


@dataclass(frozen=True)
class Reading:
    """One poll's result, read in a thread: the spans (None: no DAHDI root) and dahdi_scan's;
    ``error``: the root could not be read (the spans are then unknown, not absent)."""

    spans: list[Span] | None
    scanned: Mapping[int, scan.ScanSpan] | None = None  # None: dahdi_scan not run this time
    error: str | None = None


def read(
    root: Path, scan_command: tuple[str, ...], scanned_for: frozenset[int] | None = None
) -> Reading:
    """The blocking part of a poll (a thread runs it). dahdi_scan runs only when the spans
    are not the ones it last described (``scanned_for``): the card facts it gives do not
    change under a running box, and it sleeps a second for each E1 span that has framing
    errors and no alarm (its LMFA test), which would hold a pool thread at every poll."""
    try:
        spans = proc.read_root(root)
    except proc.RootUnreadable as exc:
        return Reading(None, error=str(exc))
    scanned = None
    if spans is not None and scan_command and {s.number for s in spans} != scanned_for:
        scanned = scan.run(scan_command, SCAN_TIMEOUT_S)
    return Reading(spans, scanned)


class SpanMonitor(service.Service):
    name = HEALTH

    def __init__(
        self,
        reactor: Any,
        settings: DahdiConfig,
        bus: EventBus,
        *,
        health: HealthReporter | None = None,
        ami: Any = None,
        in_thread: Callable[..., defer.Deferred[Any]] | None = None,
    ) -> None:
        self.reactor = reactor
        self.settings = settings
        self.bus = bus
        self.health: HealthReporter = health or LastReports()
        self.ami = ami
        self.in_thread = in_thread or (
            lambda fn, *args: threads.deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)
        )
        self._groups: dict[str, tuple[int, ...]] = dict(settings.groups)
        self._group_of: dict[int, str] = {
            ch: group for group, channels in settings.groups for ch in channels
        }
        self._spans: list[Span] = []
        self._alarms: dict[int, frozenset[str]] = {}  # span -> alarms last published
        self._scanned: Mapping[int, scan.ScanSpan] = {}  # dahdi_scan's last answer
        self._scanned_for: frozenset[int] | None = None  # the spans it described
        self.present: bool | None = None  # the proc root exists (None: not read yet)
        self.ami_view = False  # the last read merged chan_dahdi's DAHDIShowChannels
        self.alarm_changes = 0  # SpanAlarmChanged published since start (a metrics counter)
        self.polls = 0
        self.health_state = ""  # DEGRADED_GONE while a root once read is missing
        self.read_error: str | None = None  # why the root could not be read last time
        self.read_at = reactor.seconds()  # when the spans were last read (reactor seconds)
        self._loop: task.LoopingCall | None = None
        self._polling: defer.Deferred[None] | None = None
        self._again = False  # a read was asked for while one was running
        # Asterisk channel name -> (DAHDI channel, when the DAHDIChannel event said so): a PRI
        # call's name (DAHDI/i1/<caller>-<hex>) has no channel number in it
        self._calls: dict[str, tuple[int, float]] = {}
        self._waiting: dict[str, list[defer.Deferred[int | None]]] = {}
        if ami is not None:
            # Before the client starts: its event filter is fixed when it connects.
            ami.subscribe(dahdi_ami.ALARM_EVENTS, self.alarm_event)
            ami.subscribe(dahdi_ami.SEIZED_EVENT, self.channel_seized)

    # ---- what others read ---------------------------------------------------------------

    def spans(self) -> list[Span]:
        """The spans as last read, in span order."""
        return list(self._spans)

    def group_of(self, channel: int) -> str | None:
        """The trunk group of a DAHDI channel number (``[dahdi] groups``)."""
        return self._group_of.get(channel)

    def channel_of(self, name: str) -> int | None:
        """The DAHDI channel carrying the Asterisk channel ``name``, as chan_dahdi's
        DAHDIChannel event said (sent when the channel is made, before its dialplan runs,
        and again when a PRI call moves to another B channel); None when none said so."""
        found = self._calls.get(name)
        return None if found is None else found[0]

    def wait_channel(
        self, name: str, timeout_s: float = CHANNEL_WAIT_S
    ) -> defer.Deferred[int | None]:
        """``channel_of(name)``, waiting up to ``timeout_s`` for chan_dahdi's event when the
        name is a DAHDI one without a channel number (PRI) and the AMI link is up: the
        event and the call's FastAGI session come on two connections, in either order.
        Anything else answers at once (None: not known, or the name says it)."""
        found = self.channel_of(name)
        if (
            found is not None
            or not name.startswith("DAHDI/")
            or dahdi_channel(name) is not None
            or self.ami is None
            or not getattr(self.ami, "ready", False)
        ):
            return defer.succeed(found)
        d: defer.Deferred[int | None] = defer.Deferred()
        self._waiting.setdefault(name, []).append(d)

        def timed_out() -> None:
            waiting = self._waiting.get(name, [])
            if d in waiting:
                waiting.remove(d)
                if not waiting:
                    del self._waiting[name]
                d.callback(None)

        timer = self.reactor.callLater(timeout_s, timed_out)
        d.addBoth(lambda result: (timer.cancel() if timer.active() else None, result)[1])
        return d

    def groups(self) -> dict[str, tuple[int, ...]]:
        return dict(self._groups)

    def channel(self, number: int) -> Channel | None:
        for span in self._spans:
            for ch in span.channels:
                if ch.number == number:
                    return ch
        return None

    def trunk_capacity(self, group: str) -> tuple[int, float] | None:
        """``trunk_free`` and when it was read (reactor seconds): what the dialer takes, so
        it counts the calls it placed since against it (a call seizes its channel between
        two polls)."""
        free = self.trunk_free(group)
        return None if free is None else (free, self.read_at)

    def trunk_free(self, group: str) -> int | None:
        """The group's channels that are configured, out of alarm (theirs and their span's)
        and idle; None when the group is not in ``[dahdi] groups`` or the box has no DAHDI
        root (the monitor knows nothing of it); 0 until the first read."""
        members = self._groups.get(group)
        if members is None or self.present is False:
            return None
        if self.present is None:
            return 0  # a dialer started before the first read waits for it
        wanted = set(members)
        free = 0
        for span in self._spans:
            if span.alarms:
                continue
            free += sum(
                1 for ch in span.channels if ch.number in wanted and ch.usable and not ch.in_use
            )
        return free

    # ---- lifecycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.health.report(HEALTH, STARTING, "not read yet")
        self._loop = task.LoopingCall(self.poll)
        self._loop.clock = self.reactor
        self._loop.start(self.settings.poll_s, now=True).addErrback(
            lambda f: log.failure("the DAHDI span poll stopped", f)
        )

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        waiting, self._waiting = self._waiting, {}
        for ds in waiting.values():
            for d in ds:
                d.callback(None)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        running = self._polling
        if running is None:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        running.addBoth(lambda _: done.callback(None))
        return done

    # ---- polling ------------------------------------------------------------------------

    def poll(self) -> defer.Deferred[None]:
        """Read now; a read already running is followed by one more (never two at once)."""
        if self._polling is not None:
            self._again = True
            return self._polling
        d = defer.ensureDeferred(self._poll())

        def done(result: Any) -> Any:
            self._polling = None
            if self._again and self.running:
                self._again = False
                self.poll()
            return result

        self._polling = d
        d.addBoth(done)
        d.addErrback(lambda f: log.failure("DAHDI spans not read", f))
        return d

    async def _poll(self) -> None:
        self._again = False
        started = self.reactor.seconds()
        reading: Reading = await self.in_thread(
            read, self.settings.proc_root, self.settings.scan_command, self._scanned_for
        )
        view = await self._ami_channels() if reading.spans else None
        self.polls += 1
        self.apply(reading, view, read_at=started)

    async def _ami_channels(self) -> dict[int, dahdi_ami.AmiChannel] | None:
        client = self.ami
        if client is None or not client.ready:
            return None
        try:
            result = await client.send_list_action(dahdi_ami.SHOW_CHANNELS)
        except Exception as exc:  # chan_dahdi not loaded, a timeout, a dropped link
            log.debug("DAHDIShowChannels: {why}", why=exc)
            return None
        return dahdi_ami.show_channels(result.events)

    def apply(
        self,
        reading: Reading,
        view: Mapping[int, dahdi_ami.AmiChannel] | None,
        read_at: float | None = None,
    ) -> None:
        """Take one reading: merge, publish what changed, report health (reactor thread).
        ``read_at``: when the reading began (a call placed after it may be missing from it)."""
        self.read_at = self.reactor.seconds() if read_at is None else read_at
        if reading.error is not None:
            # Unknown, not absent: the spans and their alarms stay as last read.
            if reading.error != self.read_error:
                log.warn("DAHDI spans not read: {why}", why=reading.error)
            self.read_error = reading.error
            self.health.report(HEALTH, DEGRADED, f"not read: {reading.error}")
            return
        if self.read_error is not None:
            log.info("DAHDI spans read again")
            self.read_error = None
        if reading.spans is None:
            root = str(self.settings.proc_root)
            if self.present is None:
                log.info("{root}: no DAHDI on this box", root=root)
            elif self.present:
                log.warn("{root} is gone: DAHDI unloaded?", root=root)
            # Never there: a box without DAHDI. There, then gone: the driver was unloaded.
            gone = bool(self.present) or self.health_state == DEGRADED_GONE
            self.present = False
            self.ami_view = False
            self._scanned_for = None  # DAHDI back: its cards described anew
            self._set_spans([])
            if gone:
                self.health.report(HEALTH, DEGRADED, f"{root} is gone: DAHDI unloaded?")
                self.health_state = DEGRADED_GONE
            else:
                self.health.report(HEALTH, OK, f"no DAHDI ({root})")
            return
        self.health_state = ""
        self.present = True
        self.ami_view = view is not None
        if reading.scanned is not None:
            self._scanned = reading.scanned
            # An empty answer (dahdi_scan failed, logged) is asked again at the next read.
            numbers = frozenset(s.number for s in reading.spans)
            self._scanned_for = numbers if reading.scanned else None
        spans = [merge(span, self._scanned.get(span.number), view) for span in reading.spans]
        self._set_spans(spans)
        if view is not None:
            self._forget_ended_calls(view)
        alarmed = [f"span {s.number} {s.name}: {s.alarm_text}" for s in spans if s.alarms]
        # A span read before and gone since (a card's driver unloaded, the card removed):
        # degraded until it is back or ccboxd restarts.
        seen = {s.number for s in spans}
        alarmed += [f"span {n}: gone" for n in sorted(self._alarms) if n not in seen]
        if alarmed:
            self.health.report(HEALTH, DEGRADED, "; ".join(alarmed))
        else:
            self.health.report(HEALTH, OK, f"{len(spans)} spans OK")

    def _set_spans(self, spans: list[Span]) -> None:
        previous = self._alarms
        now = {s.number: s.alarms for s in spans}
        by_number = {s.number: s for s in spans}
        self._spans = spans
        self._alarms = now
        for number in sorted(set(previous) | set(now)):
            old = previous.get(number, frozenset())
            new = now.get(number)
            if new is None:
                # A span gone (card removed, driver unloaded): said once as NOTOPEN, and
                # remembered so, for its return to be said too.
                new = frozenset({"NOTOPEN"})
                self._alarms[number] = new
                if old == new:
                    continue
            elif new == old:
                continue
            span = by_number.get(number)
            self.alarm_changes += 1
            log.info("span {n}: {old} -> {new}", n=number, old=alarm_text(old), new=alarm_text(new))
            self.bus.publish(
                SpanAlarmChanged(
                    number,
                    new,
                    old,
                    span.name if span else "",
                    span.description if span else "",
                )
            )

    # ---- chan_dahdi's events ------------------------------------------------------------

    def alarm_event(self, msg: Any) -> None:
        """An alarm raised or cleared on a channel or a span: read now, not at the next poll
        (the kernel's files are the truth; the event says when to look)."""
        event = dahdi_ami.alarm_event(msg)
        if event is None or not self.running:
            return
        log.info(
            "chan_dahdi: {kind} {n}: {alarms}",
            kind=event.kind,
            n=event.number,
            alarms=alarm_text(event.alarms),
        )
        self.poll()

    def channel_seized(self, msg: Any) -> None:
        """A call took a DAHDI channel: in use from now, not from the next poll, so the dialer
        does not count it free meanwhile (the next read says when it is idle again)."""
        seized = dahdi_ami.seized(msg)
        if seized is None:
            return
        number, owner = seized
        if owner:
            self._calls.pop(owner, None)  # a moved call: its new channel, latest last
            self._calls[owner] = (number, self.reactor.seconds())
            while len(self._calls) > MAX_CALLS_INDEXED:
                del self._calls[next(iter(self._calls))]
            for d in self._waiting.pop(owner, []):
                d.callback(number)
        spans = []
        for span in self._spans:
            if any(ch.number == number for ch in span.channels):
                span = span.with_channels(
                    tuple(
                        replace(ch, in_use=True, asterisk_channel=owner)
                        if ch.number == number
                        else ch
                        for ch in span.channels
                    )
                )
            spans.append(span)
        self._spans = spans

    def _forget_ended_calls(self, view: Mapping[int, dahdi_ami.AmiChannel]) -> None:
        """Drop the calls chan_dahdi no longer shows on their channel, when the event that
        named them came before this reading began (a later one may be missing from it)."""
        for name, (number, at) in list(self._calls.items()):
            item = view.get(number)
            if at < self.read_at and (item is None or item.owner != name):
                del self._calls[name]


def merge(
    span: Span,
    scanned: scan.ScanSpan | None,
    view: Mapping[int, dahdi_ami.AmiChannel] | None,
) -> Span:
    """The kernel's span with dahdi_scan's card facts and chan_dahdi's calls on its channels."""
    if scanned is not None:
        span = replace(
            span,
            manufacturer=scanned.manufacturer,
            devicetype=scanned.devicetype,
            span_type=scanned.span_type,
            basechan=scanned.basechan,
        )
    if view is None:
        return span
    channels = []
    for ch in span.channels:
        item = view.get(ch.number)
        if item is None:  # not in chan_dahdi.conf: Asterisk places no call on it
            channels.append(replace(ch, in_use=False, asterisk_channel=""))
        else:
            channels.append(
                replace(
                    ch,
                    in_use=item.in_use,
                    asterisk_channel=item.owner,
                    alarms=ch.alarms | item.alarms,
                )
            )
    return span.with_channels(tuple(channels))
