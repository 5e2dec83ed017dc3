"""Callers dropped by a restart (goal: 0 of those waiting, each sent to the fallback).

The real ccboxd process against the switch simulator (in this process): two agents talk,
ten callers are in the IVR's welcome prompt and twenty wait in the queue when ccboxd gets
SIGTERM (an upgrade, ``systemctl restart``). A waiting caller is dropped when its channel
ends without running the dialplan's hand-off ([ccbox-handoff]). Results:

- ``restart callers dropped``: how many, against the callers waiting at the SIGTERM;
- ``restart stop time``: SIGTERM to exit, against the configured grace.
"""

from __future__ import annotations

import signal
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from tests.benchmarks.harness import Result

IN_IVR = 10
QUEUED = 20
GRACE_S = 5


async def scenario(reactor: Any, tmp: Path) -> tuple[int, int, float]:
    from twisted.internet import defer

    from appliance.config import load
    from appliance.demo import switch_for
    from drivers.asterisk.simulator.agi_caller import CallerScript
    from drivers.asterisk.simulator.snapshots import Headers
    from drivers.asterisk.simulator.switch import Device
    from drivers.asterisk.simulator.traffic import run_call
    from tests.conftest import write_config
    from tests.integration.test_daemon_restart import Ccboxd, events, rows, seed
    from tests.support.acd_rig import wait_for
    from tests.support.appliance import migrate_and_seed

    conf = write_config(tmp, switch=True)
    conf.write_text(conf.read_text().replace("grace_s = 20", f"grace_s = {GRACE_S}"))
    config = load(conf)
    migrate_and_seed(config, partial(seed, available=("1001", "1002")))
    database = Path(config.database_url.removeprefix("sqlite:///"))
    sim = switch_for(
        reactor,
        config,
        devices={p: Device(ring_s=0.2, talk_s=30.0) for p in ("PJSIP/1001", "PJSIP/1002")},
    )
    sim.startService()
    handed: set[str] = set()

    def listen(headers: Headers) -> None:
        h = dict(headers)
        if h.get("Event") == "Newexten" and h.get("Context") == "ccbox-handoff":
            handed.add(h["Uniqueid"])

    sim.switch.subscribe(listen)
    daemon = Ccboxd(conf, tmp / "run")
    try:
        await daemon.ready()
        await sim.manager.wait_for_login()

        def place(number: str, prompt_s: float) -> defer.Deferred[Any]:
            script = CallerScript(caller_number=number, prompt_s=prompt_s)
            return defer.ensureDeferred(
                run_call(reactor, sim.agi_endpoint, script, "inbound", sim.switch)
            )

        talks = [place(f"1390000000{i}", 0.1) for i in (1, 2)]
        for n in ("13900000001", "13900000002"):
            await wait_for(lambda n=n: rows(database).get(n, {}).get("agent_answered_at"), n)
        queued = [f"138{i:08d}" for i in range(QUEUED)]
        in_ivr = [f"137{i:08d}" for i in range(IN_IVR)]
        calls = [place(n, 0.1) for n in queued] + [place(n, 120.0) for n in in_ivr]

        def kinds(n: str) -> list[str]:
            row = rows(database).get(n)
            return [k for k, _ in events(database, row["id"])] if row else []

        await wait_for(lambda: all("queued" in kinds(n) for n in queued), "queued", 30)
        await wait_for(lambda: all(n in rows(database) for n in in_ivr), "in IVR", 30)
        waiting = {rows(database)[n]["uniqueid"] for n in queued + in_ivr}
        started = time.monotonic()
        code = await daemon.signal(signal.SIGTERM)
        stop_s = time.monotonic() - started
        assert code == 0, daemon.output()
        await defer.DeferredList(calls)
        dropped = len(waiting - handed)
        for talk in talks:  # the talks outlive the process; end them for the cleanup
            talk.addErrback(lambda _: None)
        return dropped, len(waiting), stop_s
    finally:
        daemon.close()
        await sim.stopService()


def run() -> list[Result]:
    from twisted.internet import defer, task

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-restart-"))
    out: list[tuple[int, int, float]] = []

    async def main(reactor: Any) -> None:
        out.append(await scenario(reactor, tmp))

    try:
        task.react(lambda r: defer.ensureDeferred(main(r)))
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    dropped, waiting, stop_s = out[0]
    return [
        Result(
            "restart callers dropped",
            dropped,
            "callers",
            "callers waiting",
            waiting,
            better="lower",
        ),
        Result("restart stop time", stop_s, "s", "grace_s", GRACE_S, better="lower"),
    ]
