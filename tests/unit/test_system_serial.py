"""The System page's serial card, from a running appliance: the real front panel service on
a simulated panel behind a pty, and the real watchdog writing to a file standing in for
/dev/watchdog (missing at first: the card says why it does not feed)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from twisted.internet import reactor, task

from appliance import config as config_mod
from appliance.hardware.front_panel import CenterFacts, FrontPanel
from appliance.hardware.watchdog import Watchdog
from drivers.serial.sim.front_panel import SimulatedPanel
from drivers.serial.sim.pty import PtyLink
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await task.deferLater(reactor, 0.01, lambda: None)


class SystemSerialTests(WebTestCase):
    async def test_the_card_shows_the_panel_and_why_the_watchdog_feeds_or_not(self) -> None:
        tmp = temp_dir(self)
        sim = SimulatedPanel(rows=4, cols=20, model="LCD4x20", firmware="2.1")
        pty = PtyLink.open(reactor, sim, tmp / "ttyPANEL")
        self.addCleanup(pty.close)
        wd = tmp / "watchdog"  # not there yet: every kick fails

        def configure(config: config_mod.Config) -> config_mod.Config:
            return dataclasses.replace(
                config,
                front_panel=config_mod.FrontPanelConfig(device=str(pty.device)),
                watchdog=config_mod.WatchdogConfig(device=str(wd), interval_s=60),
            )

        app = self.app = await RunningAppliance.start(tmp, configure=configure)
        self.addCleanup(app.stop)
        panel, dog = app.master.hardware.front_panel, app.master.hardware.watchdog
        assert isinstance(panel, FrontPanel) and isinstance(dog, Watchdog)
        assert isinstance(panel.facts_source, CenterFacts)
        await until(lambda: panel.status().model == "LCD4x20")
        await until(lambda: sim.text.startswith("IP address"))
        await until(lambda: "cannot kick" in dog.reason)
        b = await app.logged_in("admin")

        body = (await self.call(b.get, "/admin/system")).body
        card = body.split('id="sys-serial"', 1)[1].split("</section>", 1)[0]
        self.assertIn('<dd class="health-ok" data-state="ok">connected</dd>', card)
        self.assertIn("LCD4x20 · firmware 2.1", card)
        self.assertIn("none since the start", card)
        self.assertIn('data-state="not-feeding"', card)
        self.assertIn(f"cannot kick {wd}: No such file or directory", card)
        self.assertIn('<dd id="sys-watchdog-kick">never</dd>', card)

        sim.press("down")
        await until(lambda: panel.status().last_key == "down")
        wd.write_bytes(b"")
        dog.check()  # the next round, without waiting its minute
        await until(lambda: dog.feeding)
        self.assertEqual(wd.read_bytes(), b"\0")
        body = (await self.call(b.get, "/admin/system")).body
        card = body.split('id="sys-serial"', 1)[1].split("</section>", 1)[0]
        self.assertIn('id="sys-panel-key">DOWN · <time>', card)
        self.assertIn('data-state="feeding"', card)
        self.assertNotIn("sys-watchdog-reason", card)
        self.assertIn("1 since the start", card)
        # the page in Chinese: the labels and the health details are translated
        zh = (await self.call(b.get, "/admin/system", headers={"Accept-Language": "zh-CN"})).body
        self.assertIn("正在喂狗", zh)
        self.assertIn(f"每 60 秒喂狗 {wd}", zh)
        self.assertIn(f"{pty.device} 已打开", zh)
        self.assertIn("<td>前面板</td>", zh)  # the health table names the parts
        self.assertIn("<td>硬件看门狗</td>", zh)
