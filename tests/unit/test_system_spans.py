"""The E1/DAHDI spans on the web: the System page's card and the wallboard's alarm banner,
from the real SpanMonitor (its [dahdi] root a copy of the fixture trees) in a running
appliance, read through the real page handler and the real live feed."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from appliance import config as config_mod
from tests.support.appliance import RunningAppliance
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from webui.live_feed import Viewer
from webui.span_alarms import alarmed_spans

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dahdi"
WALLBOARD = Viewer("supervisor", None, wallboard=True)


def use_tree(root: Path, tree: str) -> None:
    """The box's /proc/dahdi becomes the fixture tree's (healthy or alarmed)."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(FIXTURES / tree / "proc" / "dahdi", root)


def channel_states(body: str, span: int) -> dict[int, str]:
    block = body.split(f'data-span="{span}"', 1)[1].split('class="span-block"', 1)[0]
    found = re.findall(r'data-channel="(\d+)" data-state="(\w+)"', block)
    return {int(n): state for n, state in found}


class SystemSpansTests(WebTestCase):
    async def test_the_system_page_and_the_wallboard_show_the_spans(self) -> None:
        tmp = temp_dir(self)
        root = tmp / "proc-dahdi"
        use_tree(root, "healthy")
        groups = (("g0", tuple(range(1, 16)) + tuple(range(17, 32))), ("g1", (32, 33)))

        def configure(config: config_mod.Config) -> config_mod.Config:
            dahdi = config_mod.DahdiConfig(enabled=True, proc_root=root, poll_s=300, groups=groups)
            return dataclasses.replace(config, dahdi=dahdi)

        app = self.app = await RunningAppliance.start(tmp, configure=configure)
        self.addCleanup(app.stop)
        monitor = app.master.hardware.spans
        assert monitor is not None
        await monitor.poll()
        b = await app.logged_in("admin")

        page = await self.call(b.get, "/admin/system")
        self.assertEqual(page.status, 200)
        body = page.body
        self.assertNotIn('id="sys-spans-none"', body)
        self.assertEqual(body.count('class="span-block"'), 2)
        self.assertEqual(body.count('data-alarm="OK"'), 2)
        self.assertIn("T2XXP (PCI) Card 0 Span 1", body)
        one = channel_states(body, 1)
        self.assertEqual(sorted(one), list(range(1, 32)))  # an E1: 31 channels
        self.assertEqual({one[n] for n in (1, 2, 3)}, {"busy"})  # (In use) in the tree
        self.assertEqual(one[4], "idle")
        self.assertEqual(one[16], "dchan")  # the PRI's D-channel: open, but never a call
        self.assertIn("3 of 30 channels in use", body)
        self.assertIn('title="Channel 1 · g0 · Clear', body)
        self.assertIn('title="Channel 16 · HDLCFCS', body)  # the D-channel: in no group
        self.assertEqual(alarmed_spans(monitor), [])
        feed = app.master.web.feed
        assert feed is not None
        self.assertEqual(feed.snapshot(WALLBOARD).count(b'"spans":[]'), 1)

        # The line of span 2 goes down: the page shows it red, and the wallboard's banner.
        use_tree(root, "alarmed")
        await monitor.poll()
        body = (await self.call(b.get, "/admin/system")).body
        self.assertEqual(body.count('data-alarm="OK"'), 1)
        two = body.split('data-span="2"', 1)[1]
        self.assertIn('class="span-alarm span-alarm-red" data-alarm="RED"', two)
        self.assertIn("Red alarm: no signal from the line", two)
        self.assertIn('<dd class="health-degraded" data-counter="crc4">12</dd>', two)
        self.assertIn('<dd class="health-degraded" data-counter="fas">7</dd>', two)
        self.assertEqual(set(channel_states(body, 2).values()), {"alarm"})
        banner = [
            {
                "span": 2,
                "name": "TE2/0/2",
                "description": "T2XXP (PCI) Card 0 Span 2",
                "alarms": ["RED"],
            }
        ]
        self.assertEqual(alarmed_spans(monitor), banner)
        self.assertIn(b'"spans":[{"span":2,"name":"TE2/0/2"', feed.snapshot(WALLBOARD))
        feed.flush()  # the SpanAlarmChanged the poll published, as the wallboard gets it
        frames = [WALLBOARD.frame(m) for m in feed.ring if m.kind == "spans"]
        self.assertTrue(frames and frames[-1] is not None)
        self.assertIn(b'"alarms":["RED"]', frames[-1] or b"")
        self.assertIsNone(Viewer("agent", 7).frame(feed.ring[-1]))  # not an agent's
        # The driver unloaded: the root is gone, and the card says where it looked.
        shutil.rmtree(root)
        await monitor.poll()
        body = (await self.call(b.get, "/admin/system")).body
        self.assertIn(f"No DAHDI on this box: {root} is not there", body)
        wallboard = await self.call(b.get, "/wallboard")
        self.assertIn('id="wb-spans"', wallboard.body)
        self.assertIn("Trunk alarm: span {span} {name}: {alarms}", wallboard.body)
