"""The front panel: its line protocol, and the service against a simulated panel on a pty.

The panel's bytes go through a real pseudo-terminal (PtyLink) in the real reactor; the
refresh and the link's backoff run on a task.Clock the tests advance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import reactor, task
from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from acd import agent_state as st
from acd.service import ACD, Agent
from appliance.config import FrontPanelConfig, parse
from appliance.eventbus import EventBus
from appliance.hardware.front_panel import CenterFacts, FrontPanel, PanelFacts
from appliance.hardware.network import Address, Network
from appliance.hardware.watchdog import Watchdog
from appliance.health import HealthRegistry
from drivers.health import DEGRADED, OK, LastReports
from drivers.serial import front_panel as wire
from drivers.serial.sim.front_panel import SimulatedPanel
from drivers.serial.sim.pty import PtyLink
from drivers.serial.watchdog import SerialWatchdog
from tests.support.tmp import temp_dir

# ---- the protocol, sans I/O -------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b"KEY UP", wire.Key("up")),
        (b"KEY back", wire.Key("back")),
        (b"PONG", wire.Pong()),
        (b"HELLO LCD4x20 2.1", wire.Hello("LCD4x20", "2.1")),
        (b"INFO LCD2x16 1.0", wire.Info("LCD2x16", "1.0")),
    ],
)
def test_panel_lines_parse(line: bytes, event: wire.PanelEvent) -> None:
    assert wire.parse_line(line) == event


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"KEY LEFT", "unknown key"),
        (b"KEY", "unknown key"),
        (b"PONG now", "unknown line"),
        (b"HELLO onlymodel", "HELLO needs"),
        (b"INFO a b c", "INFO needs"),
        (b"BEEP", "unknown line"),
        (b"KEY \xffUP", "not printable"),
        (b"KEY UP\x00", "not printable"),
        (b"K" * 81, "longer than 80"),
    ],
)
def test_malformed_panel_lines_are_refused_with_a_reason(line: bytes, why: str) -> None:
    with pytest.raises(wire.MalformedLine, match=why):
        wire.parse_line(line)


def test_text_is_escaped_and_bounded() -> None:
    assert wire.text(1, 0, "a\\b") == b"TXT 1 0 a\\\\b\r\n"
    assert wire.text(0, 2, "李伟 ok") == b"TXT 0 2 ?? ok\r\n"
    long = wire.text(3, 0, "\\" * 40)
    assert len(long) <= wire.MAX_LINE + 2 and long.endswith(b"\\\\\r\n")
    assert wire.unescape("a\\\\b\\x41") == "a\\bA"
    with pytest.raises(ValueError, match="no cell"):
        wire.text(4, 0, "x")


# ---- the service on a pty ---------------------------------------------------------------

FACTS = PanelFacts(
    network=Network((Address("eth0", "192.0.2.2/24"),), gateway="192.0.2.1", dns=("192.0.2.53",)),
    calls=3,
    waiting=1,
    agents_in=5,
    agents_free=2,
    alarms=("dahdi: down", "ami: down"),
)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for bytes through the pty (real I/O: there is no clock to advance for it)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the panel")
        await task.deferLater(reactor, 0.005, lambda: None)


class FrontPanelTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.health = LastReports()
        self.facts = FACTS
        self.restarts = 0
        self.at = temp_dir(self) / "ttyPANEL"

    async def _facts(self) -> PanelFacts:
        return self.facts

    def _restart(self) -> None:
        self.restarts += 1

    async def plug(self, rows: int = 4) -> SimulatedPanel:
        """A panel powered up before the box opens its port: the box never reads its HELLO
        (the port's input is flushed at open), it asks with INFO."""
        sim = SimulatedPanel(rows=rows, cols=20)
        pty = PtyLink.open(reactor, sim, self.at)
        self.addCleanup(pty.close)
        self.pty = pty
        await until(lambda: pty.pending() > 0)
        return sim

    async def start(self, rows: int = 4) -> tuple[FrontPanel, SimulatedPanel]:
        sim = await self.plug(rows)
        panel = FrontPanel(
            reactor,
            FrontPanelConfig(device=str(self.at), rows=rows, cols=20),
            self._facts,
            self._restart,
            health=self.health,
            clock=self.clock,
        )
        panel.startService()
        self.addCleanup(panel.stopService)
        await until(lambda: sim.text.startswith("IP address") and panel.model == "LCD4x20")
        self.assertEqual(sim.received.count("CLR"), 1)  # drawn once: its HELLO was flushed
        return panel, sim

    async def test_the_pages_and_their_keys(self) -> None:
        _, sim = await self.start()
        self.assertEqual(sim.text, "IP address       1/4\n192.0.2.2\n\n")
        sim.press("down")
        await until(lambda: sim.text.startswith("Calls"))
        self.assertEqual(sim.text, "Calls            2/4\n3 in progress\n1 waiting\n")
        sim.press("down")
        await until(lambda: sim.text.startswith("Agents"))
        self.assertIn("5 logged in\n2 available", sim.text)
        sim.press("down")
        await until(lambda: sim.text.startswith("Alarms"))
        self.assertEqual(sim.text, "Alarms (2)       4/4\ndahdi: down\nami: down\n")
        self.assertEqual(sim.leds, {0: "blink"})
        sim.press("down")  # round to the first
        await until(lambda: sim.text.startswith("IP address"))
        # the facts change: the next refresh rewrites only the rows that changed
        self.facts = PanelFacts(network=FACTS.network, calls=4, alarms=())
        sim.press("down")
        await until(lambda: sim.text.startswith("Calls"))
        sent = len(sim.received)
        self.clock.advance(5)
        await until(lambda: "4 in progress" in sim.text)
        await until(lambda: sim.leds == {0: "off"})
        self.assertEqual(
            sorted(sim.received[sent:]),
            [
                "LED 0 off",
                "PING",
                "TXT 1 0 " + "4 in progress".ljust(20),
                "TXT 2 0 0 waiting".ljust(28),
            ],
        )
        self.assertEqual(sim.errors, [])

    async def test_what_the_lcd_cannot_show_is_a_question_mark_and_a_backslash_is_one(
        self,
    ) -> None:
        self.facts = PanelFacts(alarms=("C:\\span 李: down",))
        _, sim = await self.start()
        sim.press("up")
        await until(lambda: sim.text.startswith("Alarms"))
        self.assertEqual(sim.text.splitlines()[1], "C:\\span ?: down")

    async def test_a_two_row_panel_shows_the_first_lines_and_a_count_of_the_rest(self) -> None:
        self.facts = PanelFacts(alarms=("a: down", "b: down", "c: down"))
        _, sim = await self.start(rows=2)
        await until(lambda: sim.text.startswith("IP address"))
        sim.press("up")
        await until(lambda: sim.text.startswith("Alarms"))
        self.assertEqual(sim.text, "Alarms (3)       4/4\n+3 more")

    async def test_the_menu_network_settings_and_a_confirmed_restart(self) -> None:
        panel, sim = await self.start()
        sim.press("ok")
        await until(lambda: sim.text.startswith("Menu"))
        self.assertEqual(sim.text, "Menu\n>Network settings\n Restart ccbox\n Back")
        sim.press("ok")
        await until(lambda: sim.text.startswith("Network"))
        self.assertEqual(sim.text, "Network\neth0 192.0.2.2/24\nGW 192.0.2.1\nDNS 192.0.2.53")
        sim.press("back")
        await until(lambda: sim.text.startswith("Menu"))
        sim.press("down")
        await until(lambda: ">Restart" in sim.text)
        sim.press("ok")
        await until(lambda: sim.text.startswith("Restart ccbox?"))
        sim.press("back")  # not confirmed: nothing happens
        await until(lambda: sim.text.startswith("Menu"))
        self.assertEqual(self.restarts, 0)
        sim.press("ok")
        await until(lambda: sim.text.startswith("Restart ccbox?"))
        sim.press("ok")
        await until(lambda: sim.text.startswith("Restarting"))
        self.assertEqual(self.restarts, 1)
        self.assertEqual(panel.status().last_key, "ok")

    async def test_a_menu_left_alone_goes_back_to_the_pages(self) -> None:
        _, sim = await self.start()
        sim.press("ok")
        await until(lambda: sim.text.startswith("Menu"))
        self.clock.advance(60)
        await until(lambda: sim.text.startswith("IP address"))

    async def test_malformed_lines_are_ignored_and_counted(self) -> None:
        panel, sim = await self.start()
        sim.send_raw(b"KEY LEFT\r\nKEY \xffDOWN\r\n" + b"KEY DOWN" * 20 + b"\r\nBEEP\r\n\r\n")
        sim.send_raw(b"X" * 300)  # no line end in sight
        sim.send_raw(b"KEY DOWN\r\n")  # the rest of that long line: discarded with it
        sim.press("down")  # then a good line: read as ever
        await until(lambda: sim.text.startswith("Calls"))
        status = panel.status()
        self.assertEqual(status.malformed, 5)
        self.assertIn("longer than 80 bytes", status.last_malformed)
        self.assertEqual(status.last_key, "down")

    async def test_a_panel_flooding_keys_is_not_read_while_the_redraws_back_up(self) -> None:
        panel, sim = await self.start()
        handled: list[str] = []
        key = panel.key
        panel.key = lambda name: (handled.append(name), key(name))[1]  # type: ignore[method-assign]
        sim_side: Any = sim.transport
        sim_side.pauseProducing()  # the panel reads nothing: the box's redraws back up
        self.addCleanup(sim_side.resumeProducing)  # (before the stop, which flushes)
        presses = 10001
        sim.send_raw(b"KEY DOWN\r\n" * presses)  # a stuck key at line rate
        port: Any = panel.link.protocol.transport  # type: ignore[union-attr]
        await until(lambda: port.producerPaused, timeout=10)
        await task.deferLater(reactor, 0.2, lambda: None)  # time to read on, were it reading
        unsent = len(port.dataBuffer) - port.offset + port._tempDataLen
        self.assertLess(unsent, 4 * port.bufferSize)  # not ~700 kB of redraws
        self.assertLess(len(handled), presses)
        sim_side.resumeProducing()  # it drains: every key is read in the end, none lost
        await until(lambda: len(handled) == presses)
        await until(lambda: sim.text.startswith("Calls"))

    async def test_a_stop_while_the_redraws_back_up_closes_once_they_drained(self) -> None:
        panel, sim = await self.start()
        sim_side: Any = sim.transport
        sim_side.pauseProducing()
        self.addCleanup(sim_side.resumeProducing)
        sim.send_raw(b"KEY DOWN\r\n" * 5001)
        port: Any = panel.link.protocol.transport  # type: ignore[union-attr]
        await until(lambda: port.producerPaused, timeout=10)
        stopped = panel.stopService()
        self.assertFalse(stopped.called)  # the redraws are flushed first
        sim_side.resumeProducing()
        await until(lambda: stopped.called, timeout=10)  # not held by the paused reading
        self.assertFalse(panel.link.connected)

    async def test_unplugged_mid_update_then_replugged_the_screen_is_redrawn(self) -> None:
        panel, first = await self.start()
        plugged = self.pty

        def pull_at_first_text(line: str) -> None:
            if line.startswith("TXT"):
                plugged.unplug()

        first.on_line = pull_at_first_text
        first.press("down")  # the box rewrites the screen: the cable goes at its first row
        await until(lambda: not panel.link.connected)
        self.assertEqual(first.text.splitlines()[0], "Calls            2/4")
        self.assertNotEqual(first.text.splitlines()[1], "3 in progress")  # left half done
        part = self.health.get("front_panel")
        assert part is not None
        self.assertIn("device gone", part.detail)
        second = await self.plug()  # a panel fresh from the box, blank; no key pressed
        self.clock.advance(1)  # the link's first retry
        self.assertTrue(panel.link.connected)
        await until(lambda: second.text == "Calls            2/4\n3 in progress\n1 waiting\n")
        self.assertEqual(second.leds, {0: "blink"})
        self.assertEqual(self.health.get("front_panel").state, OK)  # type: ignore[union-attr]

    async def test_a_panel_that_restarts_is_redrawn_and_a_silent_one_is_noticed(self) -> None:
        panel, sim = await self.start()
        sim.screen = [" " * 20] * 4  # a power glitch: the LCD forgot everything
        sim.say("HELLO LCD4x20 2.0")
        await until(lambda: "192.0.2.2" in sim.text)
        self.assertEqual((panel.status().model, panel.status().firmware), ("LCD4x20", "2.0"))
        sim.answer_pings = False
        for _ in range(3):
            self.clock.advance(5)
        self.assertEqual(self.health.get("front_panel").state, DEGRADED)  # type: ignore[union-attr]
        self.assertFalse(panel.status().answering)
        sim.press("down")  # it speaks again
        await until(lambda: panel.status().answering)
        self.assertEqual(self.health.get("front_panel").state, OK)  # type: ignore[union-attr]


# ---- the daemon's wiring ------------------------------------------------------------------


def test_the_master_builds_the_panel_and_the_watchdog_when_configured(tmp_path: Path) -> None:
    from appliance.master import ApplianceMaster

    conf = parse(
        f"[ccbox]\ndata_dir = {tmp_path}\n"
        "[front_panel]\ndevice = /dev/ttyUSB0\nrows = 2\n"
        "[watchdog]\ndevice = serial:/dev/ttyS1\n"
    )
    master = ApplianceMaster(conf, MemoryReactorClock())
    panel, dog = master.hardware.front_panel, master.hardware.watchdog
    assert isinstance(panel, FrontPanel) and panel.rows == 2
    assert panel.link.device == "/dev/ttyUSB0"
    assert isinstance(dog, Watchdog) and isinstance(dog.target, SerialWatchdog)
    assert dog.ami is not None  # [ami] is enabled: its link counts
    names = [child.name for child in master]
    assert names[-2:] == ["watchdog", "web"]  # up once the rest is, first down
    assert names.index("front_panel") > names.index("acd")
    off = ApplianceMaster(parse(f"[ccbox]\ndata_dir = {tmp_path}\n"), MemoryReactorClock())
    assert off.hardware.front_panel is None and off.hardware.watchdog is None


def test_the_panels_restart_stops_the_daemon_with_an_exit_code_systemd_restarts(
    tmp_path: Path,
) -> None:
    from appliance.daemon import RESTART_EXIT, Daemon
    from appliance.sdnotify import Notifier

    reactor_ = MemoryReactorClock()
    conf = parse(f"[ccbox]\ndata_dir = {tmp_path}\n[front_panel]\ndevice = /dev/ttyUSB0\n")
    daemon = Daemon(reactor_, conf, Notifier({}))
    assert daemon.exit_code == 0
    daemon.master.hardware.front_panel.restart()
    assert daemon.exit_code == RESTART_EXIT == 75
    assert reactor_.hasStopped  # the reactor's shutdown runs the clean stop


class CenterFactsTests(unittest.TestCase):
    async def test_the_facts_come_from_the_acd_the_health_registry_and_the_network(self) -> None:
        acd = ACD(reactor, None, EventBus())  # type: ignore[arg-type]
        for n, state in enumerate((st.AVAILABLE, st.ON_CALL, st.LOGGED_OUT, st.PAUSED)):
            acd.agents[n] = Agent(n, f"100{n}", "A", f"PJSIP/100{n}", "active", state=state)
        registry = HealthRegistry()
        registry.report("db", OK)
        registry.report("dahdi", DEGRADED, "span 2: RED")
        network = Network((Address("eth0", "10.0.0.2/8"),), gateway="10.0.0.1")
        facts = await CenterFacts(reactor, acd, registry, network=lambda: network)()
        self.assertEqual(
            facts,
            PanelFacts(
                network=network,
                calls=1,
                waiting=0,
                agents_in=3,
                agents_free=1,
                alarms=("dahdi: degraded",),
            ),
        )
