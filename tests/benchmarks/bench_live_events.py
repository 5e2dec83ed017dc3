"""The live-events channel: 50 SSE clients on loopback while the ACD changes agents'
states at ``RATE`` bus events per second (goal: publish to receipt under 1 s).

The server is its own process (``python -m tests.benchmarks.bench_live_events serve``): a
real ACD (100 agents, 3 queues; its database writes stubbed out, so the CPU measured is
the ACD's and the channel's), the live feed and ``/events`` on a twisted.web Site, driven
over stdin. The clients are raw sockets in this process, read by one selector loop. While
99 agents change state at the offered rate (coalesced: a client gets their latest states),
a probe agent changes every 0.3 s; its message carries ``since``, the server's clock at
that change, read back at receipt: the latency includes the wait for the next flush.

Measured:

- the bus events per second the server absorbed, against the rate offered;
- publish-to-receipt latency, median and p99, against the 1 s goal;
- the server's CPU (``resource.getrusage``) per wall second while streaming, against one
  core; and its CPU per MB streamed, against the same clients reading a static file of
  the same size from the same server, in the same run.
"""

from __future__ import annotations

import json
import os
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.benchmarks.harness import Result

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 50
AGENTS = 100
QUEUES = 3
RATE = 10_000  # bus events per second offered
LOAD_S = 10.0
TICK_S = 0.01
PROBE_EVERY_S = 0.3  # longer than a flush: each probe change is delivered, not coalesced
# The probe agent (id 1): its ``since`` is the moment of one change nothing superseded.
SINCE = re.compile(rb'event: agent\ndata: \{"id":1,.*?"since":([0-9.]+)')


# ---- the server process ---------------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def serve() -> None:
    from twisted.internet import defer, reactor, stdio, task
    from twisted.protocols.basic import LineReceiver
    from twisted.web import resource as web_resource
    from twisted.web import server, static

    from acd.route import strategy_code
    from acd.service import ACD, Agent
    from acd.stats import QueueStats
    from appliance.db.acd_store import ACDQueue
    from appliance.eventbus import EventBus
    from webui.live_feed import LiveFeed
    from webui.live_sse import LiveEventsResource, LiveHub
    from webui.sessions import SessionStore, SessionUser

    class NoWrites:
        def save_state(self, *args: Any) -> defer.Deferred[None]:
            return defer.succeed(None)

    bus = EventBus()
    acd = ACD(reactor, SimpleNamespace(acd=NoWrites()), bus)
    now = reactor.seconds()
    for i in range(1, AGENTS + 1):
        agent = Agent(i, str(2000 + i), f"Agent {i}", f"PJSIP/{2000 + i}", "active", since=now)
        acd.agents[i] = agent
        acd.router.add_agent(i)
    for qid in range(1, QUEUES + 1):
        members = tuple((i, 0) for i in range(1, AGENTS + 1) if i % QUEUES == qid - 1)
        q = ACDQueue(qid, f"q{qid}", f"Queue {qid}", "longest_idle", 20, 0, 5, 15, 0, None, 0, ())
        q = ACDQueue(**{**q.__dict__, "members": members})
        acd.queues[qid], acd.queue_by_name[q.name] = q, q
        acd.stats[qid] = QueueStats(qid, q.name, 20)
        acd.router.add_queue(qid, strategy_code(q.strategy), [])
        for aid, penalty in members:
            acd.router.set_member(qid, aid, penalty)
    for i in acd.agents:
        acd.login(i)
    sessions = SessionStore(idle_seconds=3600)
    cookies = []
    for i in range(CLIENTS):  # one logged-in supervisor per client, as 50 browsers
        session, _ = sessions.get_or_create(None)
        session.user = SessionUser(i + 1, f"sup{i}", "supervisor", f"Sup {i}")
        cookies.append(session.id)
    feed = LiveFeed(reactor, bus, acd)
    feed.start()
    hub = LiveHub(reactor, feed, sessions)
    hub.start()
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-live-"))
    root = web_resource.Resource()
    root.putChild(b"events", LiveEventsResource(hub, lambda _uid: None))
    root.putChild(b"static", static.File(str(tmp)))
    port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")

    class Commands(LineReceiver):
        delimiter = b"\n"

        def connectionMade(self) -> None:
            self.say({"port": port.getHost().port, "sessions": cookies})

        def say(self, what: dict[str, Any]) -> None:
            self.transport.write(json.dumps(what).encode() + b"\n")

        def lineReceived(self, line: bytes) -> None:
            cmd = json.loads(line)
            if cmd["do"] == "load":
                defer.ensureDeferred(self.load(cmd["rate"], cmd["seconds"]))
            elif cmd["do"] == "file":
                (tmp / "blob").write_bytes(b"x" * cmd["size"])
                self.say({"ok": True})
            elif cmd["do"] == "cpu":
                self.say({"cpu": _cpu(), "t": time.monotonic(), "streams": len(hub.streams)})
            elif cmd["do"] == "quit":
                hub.stop()
                reactor.stop()

        async def load(self, rate: int, seconds: float) -> None:
            per_tick, published = max(1, int(rate * TICK_S)), 0
            probe, agents = acd.agents[1], list(acd.agents.values())[1:]
            cpu0, t0 = _cpu(), time.monotonic()
            end, next_probe = t0 + seconds, t0
            while time.monotonic() < end:
                if time.monotonic() >= next_probe:
                    next_probe += PROBE_EVERY_S
                    if probe.state == "paused":
                        acd.unpause(probe.id)
                    else:
                        acd.pause(probe.id, "break")
                due = int((time.monotonic() - t0) * rate)
                for _ in range(min(max(0, due - published), per_tick * 5)):
                    agent = agents[published % len(agents)]
                    if agent.state == "paused":
                        acd.unpause(agent.id)
                    else:
                        acd.pause(agent.id, "break")
                    published += 1
                await task.deferLater(reactor, TICK_S, lambda: None)
            elapsed = time.monotonic() - t0
            self.say(
                {
                    "published": published,
                    "elapsed": elapsed,
                    "cpu": _cpu() - cpu0,
                    "flushes": feed.flushes,
                    "streams": len(hub.streams),
                }
            )

    stdio.StandardIO(Commands())
    reactor.run()


# ---- the clients ----------------------------------------------------------------------------


class Reader:
    """Raw sockets reading their streams; ``run`` until ``until`` (monotonic)."""

    def __init__(self, socks: list[socket.socket]) -> None:
        self.sel = selectors.DefaultSelector()
        self.buf: dict[socket.socket, bytes] = {}
        self.bytes: dict[socket.socket, int] = {}
        self.latencies: list[float] = []
        self.messages = 0
        self.measure = False
        for s in socks:
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.buf[s], self.bytes[s] = b"", 0

    def run(self, until: float) -> None:
        while (left := until - time.monotonic()) > 0:
            for key, _ in self.sel.select(min(left, 0.1)):
                s: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = s.recv(1 << 18)
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(s)
                    continue
                now = time.time()
                self.bytes[s] += len(data)
                buf = self.buf[s] + data
                cut = buf.rfind(b"\n\n")
                if cut < 0:
                    self.buf[s] = buf
                    continue
                done, self.buf[s] = buf[: cut + 2], buf[cut + 2 :]
                self.messages += done.count(b"\nevent: ")
                if self.measure:
                    self.latencies.extend(now - float(m) for m in SINCE.findall(done))


def _http_get(port: int, path: str, cookie: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ccbox_session={cookie}\r\n"
        "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode()
    )
    return s


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def run() -> list[Result]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_live_events", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(cmd: dict[str, Any], answer: bool = True) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline()) if answer else {}

    try:
        hello = json.loads(proc.stdout.readline())
        port, cookies = hello["port"], hello["sessions"]
        socks = [_http_get(port, "/events", cookie) for cookie in cookies]
        reader = Reader(socks)
        reader.run(time.monotonic() + 1.0)  # the snapshots
        assert ask({"do": "cpu"})["streams"] == CLIENTS
        reader.measure = True
        ask({"do": "load", "rate": RATE, "seconds": LOAD_S}, answer=False)
        reader.run(time.monotonic() + LOAD_S + 1.0)
        load = json.loads(proc.stdout.readline())
        live_bytes = sum(reader.bytes.values())
        for s in socks:
            s.close()
        assert load["streams"] == CLIENTS, load
        assert len(reader.latencies) > CLIENTS * LOAD_S / PROBE_EVERY_S * 0.8, len(reader.latencies)

        # Baseline: the same clients, the same bytes each, from a static file.
        per_client = live_bytes // CLIENTS
        ask({"do": "file", "size": per_client})
        before = ask({"do": "cpu"})
        socks = [_http_get(port, "/static/blob", cookie) for cookie in cookies]
        static_reader = Reader(socks)
        deadline = time.monotonic() + 30
        while static_reader.sel.get_map() and time.monotonic() < deadline:
            static_reader.run(time.monotonic() + 0.2)
        after = ask({"do": "cpu"})
        static_bytes = sum(static_reader.bytes.values())
        assert static_bytes >= per_client * CLIENTS, (static_bytes, per_client)
        for s in socks:
            s.close()
        ask({"do": "quit"}, answer=False)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    rate = load["published"] / load["elapsed"]
    mb_live = live_bytes / 1e6
    mb_static = static_bytes / 1e6
    static_cpu = after["cpu"] - before["cpu"]
    return [
        Result(
            f"live events: bus events/s absorbed, {CLIENTS} SSE clients",
            rate,
            "events/s",
            "rate offered",
            float(RATE),
            better="higher",
        ),
        Result(
            "live events: publish to receipt, median",
            _percentile(reader.latencies, 0.5) * 1000,
            "ms",
            "goal 1 s",
            1000.0,
            better="lower",
        ),
        Result(
            "live events: publish to receipt, p99",
            _percentile(reader.latencies, 0.99) * 1000,
            "ms",
            "goal 1 s",
            1000.0,
            better="lower",
        ),
        Result(
            f"live events: server CPU at {RATE} events/s to {CLIENTS} clients",
            load["cpu"] / load["elapsed"],
            "cores",
            "one core",
            1.0,
            better="lower",
        ),
        Result(
            "live events: server CPU per MB streamed",
            load["cpu"] / mb_live * 1000,
            "ms/MB",
            "static file, same bytes, same clients",
            static_cpu / mb_static * 1000,
            better="lower",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        for r in run():
            print(f"{r.name}: {r.value:.2f} {r.unit} ({r.baseline}: {r.baseline_value:.2f})")
