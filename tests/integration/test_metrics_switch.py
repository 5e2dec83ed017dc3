"""The Prometheus endpoint on a running daemon: ccboxd's master on the switch simulator, one
caller talking to agent 1001, another waiting in line, agent 1002 at lunch; scraped over
real loopback HTTP and read back with prometheus_client's own parser."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor, task, threads

from acd import agent_state as st
from appliance import config as config_mod
from appliance.master import ApplianceMaster
from appliance.reports import metrics
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.switch import Device
from tests.conftest import free_port
from tests.support import acd_rig
from tests.support.acd_rig import ACDRig, wait_for
from tests.support.http import Browser, Response

TOKEN = "metrics-token-0123456789abcdef"
TALKING, WAITING = "13900001111", "13900002222"
HOSTILE = "<img src=x onerror=alert(1)>"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, as Prometheus' own parser reads the text."""
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


class MetricsSwitchTests(ACDRig):
    def setUp(self) -> None:
        super().setUp()
        self.listen_port = free_port()
        self.token = TOKEN
        original = acd_rig.simulated_switch

        def with_metrics(test: Any, devices: Any = None) -> Any:
            sim, config = original(test, devices)
            return sim, dataclasses.replace(
                config,
                metrics=config_mod.MetricsConfig(("127.0.0.2", self.listen_port), self.token),
                shutdown=config_mod.ShutdownConfig(grace_s=0),
            )

        self.patch(acd_rig, "simulated_switch", with_metrics)

    async def get(self, port: int, headers: dict[str, str], host: str = "127.0.0.1") -> Response:
        browser = Browser(port, host)
        return await threads.deferToThread(browser.request, "GET", "/metrics", headers=headers)

    async def busy_center(self) -> tuple[ApplianceMaster, list[Any]]:
        """1001 talking to TALKING, WAITING in line, 1002 paused for lunch."""
        master = await self.start({"PJSIP/1001": Device(ring_s=0.2, talk_s=60.0)})
        a1, a2 = self.agent(master, "1001"), self.agent(master, "1002")
        master.acd.login(a1.id)
        master.acd.login(a2.id)
        master.acd.pause(a2.id, "lunch")
        calls = [
            defer.ensureDeferred(
                self.call(CallerScript(caller_number=TALKING, caller_name=HOSTILE, prompt_s=0.1))
            )
        ]
        await wait_for(lambda: a1.state == st.ON_CALL, "1001 on the call")
        calls.append(
            defer.ensureDeferred(self.call(CallerScript(caller_number=WAITING, prompt_s=0.1)))
        )
        await wait_for(
            lambda: any(master.acd.is_waiting(c) for c in master.acd.calls.values()),
            "the second caller in line",
        )
        return master, calls

    async def hang_up(self, master: ApplianceMaster, calls: list[Any]) -> None:
        assert master.acd.switch is not None
        for c in list(master.acd.calls.values()):
            await master.acd.switch.hangup(c.channel)
        await defer.gatherResults(calls)

    async def test_a_scrape_of_a_busy_center(self) -> None:
        started = time.time()
        master, calls = await self.busy_center()
        port = master.web.port_number

        # The web UI's /metrics: only with the token.
        self.assertEqual((await self.get(port, {})).status, 401)
        wrong = await self.get(port, {"Authorization": "Bearer " + "x" * len(TOKEN)})
        self.assertEqual(wrong.status, 401)
        self.assertEqual(wrong.headers["WWW-Authenticate"], 'Bearer realm="ccbox metrics"')
        r = await self.get(port, AUTH)
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        got = samples(r.body)
        q = (("queue", "support"),)

        def value(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
            return got[name, tuple(sorted(labels))]

        self.assertEqual(value("ccbox_queue_callers_waiting", q), 1)
        self.assertGreater(value("ccbox_queue_longest_wait_seconds", q), 0)
        self.assertLess(value("ccbox_queue_longest_wait_seconds", q), time.time() - started)
        self.assertEqual(value("ccbox_queue_agents", (*q, ("state", "on_call"))), 1)
        self.assertEqual(value("ccbox_queue_agents", (*q, ("state", "paused"))), 1)
        self.assertEqual(value("ccbox_queue_agents", (*q, ("state", "available"))), 0)
        self.assertEqual(value("ccbox_queue_calls_offered_today", q), 2)
        self.assertEqual(value("ccbox_queue_calls_answered_today", q), 1)
        self.assertEqual(value("ccbox_queue_service_level_ratio", q), 1.0)  # a share, not a %
        self.assertEqual(value("ccbox_agents", (("state", "on_call"),)), 1)
        self.assertEqual(value("ccbox_agents", (("state", "paused"),)), 1)
        self.assertEqual(value("ccbox_agents_paused", (("reason", "lunch"),)), 1)
        self.assertEqual(value("ccbox_agents_paused", (("reason", "break"),)), 0)
        self.assertEqual(value("ccbox_calls_in_progress", (("state", "talking"),)), 1)
        self.assertEqual(value("ccbox_calls_in_progress", (("state", "waiting"),)), 1)
        self.assertEqual(value("ccbox_ami_up"), 1)
        self.assertEqual(value("ccbox_ami_reconnects_total"), 0)
        heard = value("ccbox_ami_last_event_timestamp_seconds")
        self.assertTrue(started <= heard <= time.time(), heard)
        self.assertEqual(value("ccbox_fastagi_sessions_open"), 2)
        self.assertEqual(value("ccbox_fastagi_sessions_total"), 2)
        self.assertEqual(value("ccbox_database_up"), 1)
        self.assertEqual(value("ccbox_database_write_backlog"), 0)
        self.assertEqual(value("ccbox_recordings_in_progress"), 2)  # from the queue on
        self.assertGreater(value("ccbox_recording_disk_free_bytes"), 0)
        self.assertEqual(value("ccbox_health_state", (("part", "ami"), ("state", "ok"))), 1)
        self.assertGreater(value("process_resident_memory_bytes"), 0)  # the standard ones
        # Nothing secret: no caller's number or name, no token, no AMI secret.
        for secret in (TALKING, WAITING, HOSTILE, "onerror", TOKEN, "s3cret"):
            self.assertNotIn(secret, r.body)

        # The own port, on 127.0.0.2 only: the same text for the token, nothing on 127.0.0.1.
        self.assertEqual(master.metrics.port.getHost().host, "127.0.0.2")
        own = await self.get(self.listen_port, AUTH, host="127.0.0.2")
        self.assertEqual(own.status, 200)
        self.assertEqual(samples(own.body)["ccbox_queue_callers_waiting", q], 1)
        self.assertEqual((await self.get(self.listen_port, {}, host="127.0.0.2")).status, 401)
        with self.assertRaises(ConnectionRefusedError):
            await self.get(self.listen_port, AUTH, host="127.0.0.1")

        await self.hang_up(master, calls)

    async def test_a_slow_disk_does_not_block_the_reactor(self) -> None:
        """The disk is read in a thread, the live state on the reactor's: while the disk
        hangs, the web UI answers; the scrape comes once it is back. No token: the own port
        asks none, the web UI's port has no /metrics."""
        self.token = ""
        master = await self.start({})
        port = master.web.port_number
        self.assertEqual((await self.get(port, AUTH)).status, 404)
        entered, release = threading.Event(), threading.Event()
        real = metrics.disk_usage
        collected_in: list[threading.Thread] = []

        def slow_disk(root: Any) -> Any:
            entered.set()
            release.wait(5)
            return real(root)

        original_collect = metrics.MetricsCollector.collect

        def collect(self_: Any) -> Any:
            collected_in.append(threading.current_thread())
            return original_collect(self_)

        self.patch(metrics, "disk_usage", slow_disk)
        self.patch(metrics.MetricsCollector, "collect", collect)
        scrape = defer.ensureDeferred(self.get(self.listen_port, {}, host="127.0.0.2"))
        await wait_for(entered.is_set, "the scrape reading the disk")
        page = await threads.deferToThread(Browser(port).request, "GET", "/login")
        self.assertEqual(page.status, 200)
        await task.deferLater(reactor, 0.05, lambda: None)
        self.assertFalse(scrape.called, "the scrape did not wait for the disk")
        release.set()
        r = await scrape
        self.assertEqual(r.status, 200)
        self.assertEqual(collected_in, [threading.main_thread()])  # the reactor's thread

    async def test_the_ami_link_lost_and_back(self) -> None:
        master = await self.start({})
        ami = master.ami
        assert ami is not None

        async def link() -> tuple[float, float]:
            r = await self.get(master.web.port_number, AUTH)
            got = samples(r.body)
            return got["ccbox_ami_up", ()], got["ccbox_ami_reconnects_total", ()]

        self.assertEqual(await link(), (1, 0))
        await self.sim.cut_ami()
        await wait_for(lambda: not ami.ready, "the AMI link down")
        self.assertEqual(await link(), (0, 0))
        self.sim.restore_ami()
        await wait_for(lambda: ami.ready, "the AMI login again")
        self.assertEqual(await link(), (1, 1))
