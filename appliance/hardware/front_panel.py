"""The front panel: what the box's LCD says and what its four keys do.

A status view of pages (IP address, calls in progress, agents logged in, alarms) that
up/down step through, and a menu behind ok: the network settings, and a restart of the
service (confirmed with ok; ``restart`` is the callable the composition root hands over:
in the daemon it stops the daemon cleanly with exit code 75, for systemd's
``Restart=on-failure`` to start it again). Every ``refresh_s`` the facts are read again,
the panel is pinged, and only the rows that changed are rewritten. After an unplug and a
replug (a new connection) or a ``HELLO`` (the panel restarted, its screen blank) the whole
screen is drawn again from what the box last knew, without waiting for a key.

The LCD's character ROM is ASCII (HD44780 A00): the panel speaks English, whatever the
center's language; names and texts from the database never reach it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger

from appliance.config import FrontPanelConfig
from appliance.hardware.network import Network, read_network
from appliance.text import N_
from drivers import health as health_states
from drivers.health import HealthReporter
from drivers.serial import front_panel as wire
from drivers.serial.port import SerialLink

log = Logger()

PART = "front_panel"
REFRESH_S = 5.0
SILENT_AFTER = 3  # refreshes without a line from the panel: it is not answering
MENU_IDLE_S = 60.0  # a menu left alone goes back to the status pages
MALFORMED_LOG_EVERY_S = 60.0
ALARM_LED = 0
MENU = ("Network settings", "Restart ccbox", "Back")


@dataclass(frozen=True)
class PanelFacts:
    """What the status pages show, read at each refresh."""

    network: Network = field(default_factory=Network)
    calls: int = 0  # calls in progress
    waiting: int = 0  # of which waiting in a queue
    agents_in: int = 0  # agents logged in
    agents_free: int = 0  # of which available
    alarms: tuple[str, ...] = ()  # short texts, e.g. "dahdi: down"


@dataclass(frozen=True)
class PanelStatus:
    """The System page's view of the panel."""

    device: str
    connected: bool
    answering: bool
    model: str
    firmware: str
    last_key: str
    last_key_at: dt.datetime | None
    malformed: int
    last_malformed: str
    detail: str  # why the link is down ("" when connected)


@dataclass
class _View:
    kind: str = "page"  # page, menu, network, confirm, restarting
    index: int = 0  # the page, the menu item or the network line at the top


@dataclass
class _Panel:
    """What this connection's panel is known to show and say."""

    protocol: wire.FrontPanelProtocol
    shown: list[str] | None = None  # None: unknown (just connected, or it restarted)
    leds: dict[int, str] = field(default_factory=dict)
    heard_at: float = 0.0


class FrontPanel(service.MultiService):
    """The panel's Service: a SerialLink and the screens drawn through it."""

    name = PART

    def __init__(
        self,
        reactor: Any,
        settings: FrontPanelConfig,
        facts: Callable[[], Awaitable[PanelFacts]],
        restart: Callable[[], None],
        *,
        health: HealthReporter | None = None,
        clock: Any = None,
        refresh_s: float = REFRESH_S,
    ) -> None:
        super().__init__()
        self.reactor = reactor
        self.clock: Any = clock if clock is not None else reactor
        self.settings = settings
        self.rows, self.cols = settings.rows, settings.cols
        self.facts_source = facts
        self.restart = restart
        self.health = health
        self.refresh_s = refresh_s
        self.facts = PanelFacts()
        self.view = _View()
        self.model = self.firmware = ""
        self.last_key = ""
        self.last_key_at: dt.datetime | None = None
        self.malformed_count = 0  # panel lines ignored since start
        self.last_malformed = ""
        self._malformed_logged_at: float | None = None
        self._malformed_unlogged = 0
        self._key_at = 0.0
        self._panel: _Panel | None = None
        self._reading = False  # a facts read is running
        self._answering = True
        self.link = SerialLink(
            reactor,
            settings.device,
            lambda: wire.FrontPanelProtocol(self),
            baudrate=settings.baudrate,
            name=PART,
            health=health,
            clock=self.clock,
        )
        self.link.setServiceParent(self)
        self._loop = task.LoopingCall(self.refresh)
        self._loop.clock = self.clock

    # ---- lifecycle -------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self._loop.start(self.refresh_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        if self._loop.running:
            self._loop.stop()
        # A facts read still running is not waited for: its drawing finds no panel.
        return defer.maybeDeferred(super().stopService)

    # ---- the panel's link (wire.PanelListener) -----------------------------------------------

    def panel_connected(self, protocol: wire.FrontPanelProtocol) -> None:
        self._panel = _Panel(protocol, heard_at=self.clock.seconds())
        self._answering = True
        protocol.send(wire.info())  # its HELLO, if it just powered up, was flushed at open
        self.draw()  # at once, from what the box last knew: no key needed after a replug

    def panel_lost(self, protocol: wire.FrontPanelProtocol) -> None:
        if self._panel is not None and self._panel.protocol is protocol:
            self._panel = None

    def panel_event(self, event: wire.PanelEvent) -> None:
        panel = self._panel
        if panel is None:
            return
        panel.heard_at = self.clock.seconds()
        self._set_answering(True)
        if isinstance(event, wire.Hello | wire.Info):
            if (event.model, event.firmware) != (self.model, self.firmware):
                log.info("front panel: {m} firmware {fw}", m=event.model, fw=event.firmware)
            self.model, self.firmware = event.model, event.firmware
        if isinstance(event, wire.Hello):
            panel.shown, panel.leds = None, {}  # it restarted: its screen is blank
            self.draw()
        elif isinstance(event, wire.Key):
            self.key(event.name)

    def malformed(self, reason: str, line: bytes) -> None:
        """Ignored, counted, logged (at most once a minute, with how many were not)."""
        self.malformed_count += 1
        self.last_malformed = f"{reason}: {line[:40].decode('ascii', 'replace')!r}"
        now = self.clock.seconds()
        if self._malformed_logged_at is None or now - self._malformed_logged_at >= (
            MALFORMED_LOG_EVERY_S
        ):
            more = f" ({self._malformed_unlogged} more since)" if self._malformed_unlogged else ""
            log.warn(
                "front panel: ignored a line: {what}{more}", what=self.last_malformed, more=more
            )
            self._malformed_logged_at, self._malformed_unlogged = now, 0
        else:
            self._malformed_unlogged += 1

    # ---- the refresh -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the facts again and redraw; ping the panel and notice when it stays silent."""
        panel = self._panel
        if panel is not None:
            silent = self.clock.seconds() - panel.heard_at
            self._set_answering(silent < SILENT_AFTER * self.refresh_s)
            panel.protocol.send(wire.ping())
        if self.view.kind != "page" and self.clock.seconds() - self._key_at >= MENU_IDLE_S:
            self.view = _View("page", 0)
        if self._reading:
            return  # the last read is still running (a slow disk): skip this one
        # Not returned to the LoopingCall: a read that hangs must not stop the pings.
        self._reading = True
        d = defer.ensureDeferred(self._read_facts())
        d.addErrback(lambda f: log.failure("front panel: drawing failed", f))

    async def _read_facts(self) -> None:
        try:
            self.facts = await self.facts_source()
        except Exception:
            log.failure("front panel: reading the facts failed")
        finally:
            self._reading = False
        self.draw()

    def _set_answering(self, answering: bool) -> None:
        if answering == self._answering:
            return
        self._answering = answering
        if self.health is None or not self.link.connected:
            return
        if answering:
            self.health.report(PART, health_states.OK, f"{self.link.device} open")
        else:
            self.health.report(
                PART,
                health_states.DEGRADED,
                N_("{device} open, the panel does not answer", device=self.link.device),
            )

    # ---- keys and views ----------------------------------------------------------------------

    def key(self, name: str) -> None:
        self.last_key, self.last_key_at = name, dt.datetime.now(dt.UTC)
        self._key_at = self.clock.seconds()
        v = self.view
        if v.kind == "page":
            n = len(self._pages())
            if name == "up":
                v.index = (v.index - 1) % n
            elif name == "down":
                v.index = (v.index + 1) % n
            elif name == "ok":
                self.view = _View("menu", 0)
            elif name == "back":
                v.index = 0
        elif v.kind == "menu":
            if name == "up":
                v.index = max(0, v.index - 1)
            elif name == "down":
                v.index = min(len(MENU) - 1, v.index + 1)
            elif name == "back" or (name == "ok" and MENU[v.index] == "Back"):
                self.view = _View("page", 0)
            elif name == "ok" and MENU[v.index] == "Network settings":
                self.view = _View("network", 0)
            elif name == "ok":
                self.view = _View("confirm", 0)
        elif v.kind == "network":
            last = max(0, len(self._network_lines()) - (self.rows - 1))
            if name == "up":
                v.index = max(0, v.index - 1)
            elif name == "down":
                v.index = min(last, v.index + 1)
            else:
                self.view = _View("menu", 0)
        elif v.kind == "confirm":
            if name == "ok":
                self.view = _View("restarting", 0)
                self.draw()
                log.info("front panel: restart asked for on the panel")
                self.restart()
                return
            if name == "back":
                self.view = _View("menu", 1)
        self.draw()

    # ---- drawing -----------------------------------------------------------------------------

    def draw(self) -> None:
        """Bring the panel's screen and LEDs to what the view says: the rows that differ, or
        everything after a connect or a panel restart."""
        panel = self._panel
        if panel is None:
            return
        want = self.screen()
        send = panel.protocol.send
        if panel.shown is None:
            send(wire.clear())
            panel.shown = [" " * self.cols] * self.rows
        for row, (old, new) in enumerate(zip(panel.shown, want, strict=True)):
            if old != new:
                send(wire.text(row, 0, new))
        panel.shown = want
        mode = "blink" if self.facts.alarms else "off"
        if panel.leds.get(ALARM_LED) != mode:
            send(wire.led(ALARM_LED, mode))
            panel.leds[ALARM_LED] = mode

    def screen(self) -> list[str]:
        """The rows the current view shows, each exactly ``cols`` wide."""
        v = self.view
        if v.kind == "page":
            pages = self._pages()
            v.index %= len(pages)
            title, lines = pages[v.index]
            rows = self._page(f"{title}", f"{v.index + 1}/{len(pages)}", lines)
        elif v.kind == "menu":
            first = max(0, v.index - (self.rows - 2))
            items = [
                (">" if i == v.index else " ") + item for i, item in enumerate(MENU) if i >= first
            ]
            rows = ["Menu", *items]
        elif v.kind == "network":
            lines = self._network_lines()
            rows = ["Network", *lines[v.index : v.index + self.rows - 1]]
        elif v.kind == "confirm":
            rows = ["Restart ccbox?", "OK=yes BACK=no"]
        else:
            rows = ["Restarting ccbox..."]
        rows = rows[: self.rows] + [""] * (self.rows - len(rows))
        # what the LCD can show (ASCII; the wire escapes backslashes itself), cut to its width
        shown = ("".join(c if " " <= c <= "~" else "?" for c in r) for r in rows)
        return [r[: self.cols].ljust(self.cols) for r in shown]

    def _page(self, title: str, marker: str, lines: list[str]) -> list[str]:
        room = self.rows - 1
        if len(lines) > room:
            lines = [*lines[: room - 1], f"+{len(lines) - room + 1} more"]
        return [
            title[: self.cols - len(marker) - 1].ljust(self.cols - len(marker)) + marker,
            *lines,
        ]

    def _pages(self) -> list[tuple[str, list[str]]]:
        f = self.facts
        addresses = [a.address.split("/")[0] for a in f.network.addresses] or ["no address"]
        return [
            ("IP address", addresses),
            ("Calls", [f"{f.calls} in progress", f"{f.waiting} waiting"]),
            ("Agents", [f"{f.agents_in} logged in", f"{f.agents_free} available"]),
            (f"Alarms ({len(f.alarms)})" if f.alarms else "Alarms", list(f.alarms) or ["none"]),
        ]

    def _network_lines(self) -> list[str]:
        n = self.facts.network
        lines = [f"{a.interface} {a.address}" for a in n.addresses] or ["no address"]
        lines.append(f"GW {n.gateway or '-'}")
        lines += [f"DNS {d}" for d in n.dns] or ["DNS -"]
        return lines

    # ---- the System page -----------------------------------------------------------------------

    def status(self) -> PanelStatus:
        part = self.health.get(PART) if self.health is not None else None
        return PanelStatus(
            device=self.link.device,
            connected=self.link.connected,
            answering=self.link.connected and self._answering,
            model=self.model,
            firmware=self.firmware,
            last_key=self.last_key,
            last_key_at=self.last_key_at,
            malformed=self.malformed_count,
            last_malformed=self.last_malformed,
            detail=""
            if self.link.connected
            else (self.link.last_error or getattr(part, "detail", "")),
        )


class CenterFacts:
    """The daemon's facts for the panel: the network (read in a thread), the ACD's agents
    and waiting calls, the switch's live calls, and every part of the health registry that
    is not ok (the DAHDI spans' alarms among them)."""

    def __init__(
        self,
        reactor: Any,
        acd: Any,
        health: Any,
        callmodel: Callable[[], Any] = lambda: None,
        network: Callable[[], Network] = read_network,
    ) -> None:
        self.reactor = reactor
        self.acd = acd
        self.health = health
        self.callmodel = callmodel
        self.network = network

    async def __call__(self) -> PanelFacts:
        from acd import agent_state as st

        network = await threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), self.network
        )
        agents = list(self.acd.agents.values())
        waiting = sum(len(self.acd.router.waiting(qid)) for qid in self.acd.queues)
        model = self.callmodel()
        if model is not None:
            calls = sum(1 for call in model.calls.values() if call.live)
        else:
            calls = waiting + sum(1 for a in agents if a.state == st.ON_CALL)
        alarms = tuple(
            f"{p.name}: {p.state}" for p in self.health.parts() if p.state != health_states.OK
        )
        return PanelFacts(
            network=network,
            calls=calls,
            waiting=waiting,
            agents_in=sum(1 for a in agents if a.state != st.LOGGED_OUT),
            agents_free=sum(1 for a in agents if a.state == st.AVAILABLE),
            alarms=alarms,
        )
