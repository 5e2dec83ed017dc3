"""Web chat at the issue's scale: 300 agents with 3 chats each and 1,000 visitors connected
to the widget (goals: delivery p99 under 100 ms end to end, the daemon under 0.25 core and
under 200 MB more memory).

The server is its own process (``python -m tests.benchmarks.bench_chat serve engine``): the
smallest real stack that carries a chat line: a DBConnector on SQLite, the ACD, the
channels' engine (acd/channels/service.py), the public widget endpoint
(webui/chat/service.py) on its own port and the desk's ``/chat-desk`` (webui/desk_chat/) on
another, every piece as the daemon builds it; 300 agents logged in, each with a desk session
as a logged-in browser has. The load generator is another process (chat_load.py: raw
asyncio sockets): 1,300 SSE streams, a line every 5-10 s each way in each of the 900 chats
(100 visitors wait in the queue), each announced by a typing event; delivery is from the
start of the line's POST to its arrival on the other side's stream.

The baseline, in the same run and the same shape: ``serve echo``, a bare twisted.web relay
on the same URLs (start pairs the visitor with an agent in memory, a POST's line is written
to the streams at once): no engine, no database, no checks. Measured in both over the same
window: delivery p99 (both directions), the server's CPU (/proc/<pid>/stat) per wall
second, its RSS growth from ready to the peak under load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from tests.benchmarks.harness import PeakRSS, Result

ROOT = Path(__file__).resolve().parents[2]
AGENTS = 300
CHATS_PER_AGENT = 3
VISITORS = 1000
EVERY_S = (5.0, 10.0)  # a line each way in each chat
TYPING_S = 1.0  # the typing event this long before the line
WARM_S = 10.0
DRAIN_S = 20.0  # how long after the window its last lines may still arrive
MEASURE_S = 30.0
ORIGIN = "http://shop.example.com"
GOALS = {"p99_ms": 100.0, "cores": 0.25, "mb": 200.0}
_KEEP: list[Any] = []  # the engine server's services, alive while it runs


# ---- the engine server ----------------------------------------------------------------------


def _seed(db: Any) -> None:
    from appliance.cli import resolved
    from appliance.db.channel_admin_store import ChannelAdminStore

    admin = ChannelAdminStore(db)
    qid = int(resolved(db.queues.add("web-chat", "Web chat", wrapup_s=0)).id)
    resolved(admin.set_queue_media(qid, "chat"))
    for i in range(AGENTS):
        agent = resolved(db.agents.add(f"{3000 + i}", f"Agent {i} 坐席", "", f"PJSIP/{3000 + i}"))
        resolved(db.agents.set_member(qid, agent.id))
        resolved(admin.set_agent_capacity(agent.id, CHATS_PER_AGENT, False, True))
    resolved(
        admin.save_topic(
            None,
            {"name": "support", "label_zh": "技术支持", "label_en": "Support", "queue_id": qid},
        )
    )
    resolved(admin.add_origin(ORIGIN))


async def _engine(reactor: Any, tmp: Path) -> dict[str, Any]:
    import dataclasses

    from twisted.web import resource, server
    from twisted.web.resource import IResource

    from acd.channels.service import WRITE_LINGER_S, ChannelService
    from acd.service import ACD
    from appliance.config import load
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus
    from tests.conftest import write_config
    from tests.support.appliance import migrate_and_seed
    from webui.chat.service import PublicChatService
    from webui.desk_chat.site import DeskChatRoot
    from webui.sessions import SessionStore, SessionUser

    config = load(write_config(tmp, switch=False))
    chat_config = dataclasses.replace(
        config.chat,
        port=0,
        bind="127.0.0.1",
        trusted_proxies=("127.0.0.1",),  # each visitor's address in X-Forwarded-For
        max_visitors=VISITORS + 100,
        offer_timeout_s=60,
    )
    migrate_and_seed(config, _seed)
    db = DBConnector(reactor, config.database_url)
    await db.startService()
    bus = EventBus()
    acd = ACD(reactor, db, bus)
    await acd.startService()
    channels = ChannelService(
        reactor=reactor,
        db=db,
        acd=acd,
        bus=bus,
        config=chat_config,
        write_linger_s=WRITE_LINGER_S,  # as the daemon's (appliance/master.py)
    )
    await _started(channels)
    public = PublicChatService(
        reactor=reactor,
        db=db,
        channels=channels,
        config=chat_config,
        smtp=config.smtp,
        data_dir=tmp,
        requests_per_minute=100_000,
    )
    await _started(public)
    sessions = SessionStore(idle_seconds=3600)
    user_agent: dict[int, int] = {}
    agents = []
    for n, agent in enumerate(sorted(acd.agents.values(), key=lambda a: a.id)):
        acd.login(agent.id)
        session, _ = sessions.get_or_create(None)
        session.user = SessionUser(n + 1, f"agent{agent.number}", "agent", agent.name)
        user_agent[n + 1] = agent.id
        agents.append({"cookie": session.id, "csrf": session.csrf_token})
    desk = DeskChatRoot(
        reactor=reactor,
        db=db,
        channels=channels,
        sessions=sessions,
        agent_of_user=user_agent.get,
        acd=acd,
        config=config,
        bus=bus,
    )
    desk.start()
    root = resource.Resource()
    root.putChild(b"chat-desk", cast(IResource, desk))
    desk_port = reactor.listenTCP(0, server.Site(root), interface="127.0.0.1")
    topic = channels.topics("zh")[0]
    return {
        "chat_port": public.port_number,
        "desk_port": desk_port.getHost().port,
        "agents": agents,
        "topic_id": topic.id,
        "_keep": [channels, public, desk, db, acd, desk_port],
    }


async def _started(svc: Any) -> None:
    from twisted.internet import defer

    await defer.maybeDeferred(svc.startService)


# ---- the baseline: a bare relay on the same URLs ------------------------------------------


def _echo(reactor: Any) -> dict[str, Any]:
    from twisted.web import resource, server
    from twisted.web.resource import IResource

    from webui.sessions import SessionStore

    convs: dict[int, dict[str, Any]] = {}  # id -> {visitor: request, agent: index}
    by_token: dict[bytes, int] = {}
    agent_streams: dict[int, Any] = {}
    load = [0] * AGENTS
    waiting: list[int] = []
    seq = [0, 0]
    sessions = SessionStore(idle_seconds=3600)
    by_cookie: dict[bytes, int] = {}
    agents = []
    for i in range(AGENTS):
        session, _ = sessions.get_or_create(None)
        by_cookie[session.id.encode()] = i
        agents.append({"cookie": session.id, "csrf": session.csrf_token})

    def frame(event: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(event, ensure_ascii=False).encode() + b"\n\n"

    def to_agent(i: int, event: dict[str, Any]) -> None:
        req = agent_streams.get(i)
        if req is not None:
            req.write(frame(event))

    def to_visitor(cid: int, event: dict[str, Any]) -> None:
        req = convs[cid].get("visitor")
        if req is not None:
            req.write(frame(event))

    def offer(cid: int) -> bool:
        free = [i for i in range(AGENTS) if load[i] < CHATS_PER_AGENT and i in agent_streams]
        if not free:
            return False
        i = min(free, key=lambda k: load[k])
        load[i] += 1
        convs[cid]["agent"] = i
        to_agent(i, {"type": "offer", "conversation": cid, "media": "chat"})
        return True

    def body(request: Any) -> dict[str, Any]:
        request.content.seek(0)
        data: dict[str, Any] = json.loads(request.content.read())
        return data

    def answer(request: Any, data: dict[str, Any]) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(data).encode()

    def message(cid: int, sender: str, text: str) -> dict[str, Any]:
        seq[1] += 1
        return {
            "type": "message",
            "conversation": cid,
            "message": {"id": seq[1], "sender": sender, "body": text, "internal": False},
        }

    class Api(resource.Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> Any:  # the visitor's stream
            token = request.args.get(b"t", [b""])[0]
            cid = by_token[token]
            request.setHeader(b"content-type", b"text/event-stream")
            convs[cid]["visitor"] = request
            request.channel.transport.setTcpNoDelay(True)
            request.write(b"retry: 3000\n\n")
            return server.NOT_DONE_YET

        def render_POST(self, request: Any) -> bytes:
            what = request.postpath[-1]
            data = body(request)
            if what == b"start":
                seq[0] += 1
                cid = seq[0]
                token = os.urandom(16).hex().encode()
                by_token[token] = cid
                convs[cid] = {}
                if not offer(cid):
                    waiting.append(cid)
                return answer(request, {"token": token.decode(), "conversation": cid})
            cid = by_token[request.getHeader(b"x-chat-token")]
            conv = convs[cid]
            if what == b"send":
                event = message(cid, "customer", data["text"])
                to_agent(conv["agent"], event)
                to_visitor(cid, event)
                return answer(request, {"message": event["message"]})
            if what == b"typing":
                to_agent(conv["agent"], {"type": "typing", "conversation": cid, "side": "customer"})
            return answer(request, {"ok": True})

    class DeskStream(resource.Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> Any:
            i = by_cookie[request.getCookie(b"ccbox_session")]
            request.setHeader(b"content-type", b"text/event-stream")
            agent_streams[i] = request
            request.channel.transport.setTcpNoDelay(True)
            request.write(b"retry: 3000\n\n")
            while waiting and load[i] < CHATS_PER_AGENT:
                offer(waiting.pop(0))
            return server.NOT_DONE_YET

    class DeskApi(resource.Resource):
        isLeaf = True

        def render_POST(self, request: Any) -> bytes:
            i = by_cookie[request.getCookie(b"ccbox_session")]
            what = request.postpath[-1]
            data = body(request)
            cid = int(data["conversation"])
            if convs[cid].get("agent") != i:
                request.setResponseCode(403)
                return answer(request, {"error": "not yours"})
            if what == b"accept":
                to_visitor(cid, {"type": "state", "conversation": cid, "state": "active"})
            elif what == b"send":
                event = message(cid, "agent", data["text"])
                to_visitor(cid, event)
                to_agent(i, event)
                return answer(request, event["message"])
            elif what == b"typing":
                to_visitor(cid, {"type": "typing", "conversation": cid, "side": "staff"})
            return answer(request, {"ok": True})

    chat_root, chat = resource.Resource(), resource.Resource()
    chat_root.putChild(b"chat", cast(IResource, chat))
    chat.putChild(b"api", cast(IResource, Api()))
    desk_root, desk = resource.Resource(), resource.Resource()
    desk_root.putChild(b"chat-desk", cast(IResource, desk))
    desk.putChild(b"stream", cast(IResource, DeskStream()))
    desk.putChild(b"api", cast(IResource, DeskApi()))
    chat_port = reactor.listenTCP(0, server.Site(chat_root), interface="127.0.0.1")
    desk_port = reactor.listenTCP(0, server.Site(desk_root), interface="127.0.0.1")
    return {
        "chat_port": chat_port.getHost().port,
        "desk_port": desk_port.getHost().port,
        "agents": agents,
        "topic_id": 1,
    }


def serve(mode: str) -> None:
    """The server process: builds ``mode``'s stack, says its ports on stdout, runs until
    stdin closes."""
    from twisted.internet import defer, stdio
    from twisted.internet import reactor as _reactor
    from twisted.protocols.basic import LineReceiver

    reactor: Any = _reactor

    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-chat-"))

    class Control(LineReceiver):
        delimiter = b"\n"

        def connectionLost(self, reason: Any = None) -> None:
            reactor.stop()

    async def start() -> None:
        try:
            hello = await _engine(reactor, tmp) if mode == "engine" else _echo(reactor)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            print(json.dumps({"error": repr(exc)}), flush=True)
            reactor.stop()
            return
        _KEEP.append(hello.pop("_keep", None))
        print(json.dumps(hello), flush=True)

    stdio.StandardIO(Control())
    reactor.callWhenRunning(lambda: defer.ensureDeferred(start()))
    reactor.run()


# ---- the run --------------------------------------------------------------------------------


def measure(mode: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.bench_chat", "serve", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        hello = json.loads(server.stdout.readline() or "{}")
        if "chat_port" not in hello:
            raise RuntimeError(f"the {mode} server did not start: {hello}")
        time.sleep(0.5)
        plan = {
            **hello,
            "cookie_name": "ccbox_session",
            "origin": ORIGIN,
            "visitors": VISITORS,
            "every_s": EVERY_S,
            "typing_s": TYPING_S,
            "warm_s": WARM_S,
            "measure_s": MEASURE_S,
            "drain_s": DRAIN_S,
            "server_pid": server.pid,
        }
        with PeakRSS(server.pid, 0.2) as rss:
            load = subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.chat_load", json.dumps(plan)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env=env,
                timeout=600,
            )
        line = next((x for x in load.stdout.splitlines() if x.startswith("LOAD-JSON ")), None)
        if line is None:
            raise RuntimeError(f"the load generator failed:\n{load.stdout}\n{load.stderr}")
        result: dict[str, Any] = json.loads(line[len("LOAD-JSON ") :])
        result["rss_idle"], result["rss_peak"] = rss.idle, rss.peak
        return result
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _p99(r: dict[str, Any]) -> float:
    from tests.benchmarks.chat_load import percentile

    both = r["to_agent_ms"] + r["to_visitor_ms"]
    return percentile(both, 0.99)


def offered_lines() -> float:
    """Lines the chats would write in the window at EVERY_S each way."""
    chats = min(VISITORS, AGENTS * CHATS_PER_AGENT)
    return chats * 2 * MEASURE_S / (sum(EVERY_S) / 2)


def _check(r: dict[str, Any], mode: str) -> None:
    chats = min(VISITORS, AGENTS * CHATS_PER_AGENT)
    assert r["accepted"] >= 0.95 * chats, (mode, r["accepted"], r["errors"])
    # the load ran: lines were written (each side waits for its POST before its next line,
    # so a slow server is offered fewer: the note says how many; the delay is the figure)
    assert r["sent_in_window"] >= 0.5 * offered_lines(), (mode, r["sent_in_window"])
    assert len(r["to_agent_ms"]) + len(r["to_visitor_ms"]) == r["sent_in_window"], mode


def run() -> list[Result]:
    echo = measure("echo")
    _check(echo, "echo")
    engine = measure("engine")
    _check(engine, "engine")
    p99, p99_echo = _p99(engine), _p99(echo)
    cores = engine["server_cpu_s"] / engine["window_s"]
    cores_echo = echo["server_cpu_s"] / echo["window_s"]
    growth = engine["rss_peak"] - engine["rss_idle"]
    growth_echo = echo["rss_peak"] - echo["rss_idle"]
    lines = len(engine["to_agent_ms"]) + len(engine["to_visitor_ms"])

    def goal(value: float, limit: float, unit: str) -> str:
        return f"goal < {limit:g} {unit}: {'met' if value < limit else 'MISSED'}"

    scale = f"{AGENTS} agents x {CHATS_PER_AGENT} chats, {VISITORS} visitors"
    return [
        Result(
            "chat delivery p99",
            p99,
            "ms",
            "bare POST->SSE relay, same load",
            p99_echo,
            better="lower",
            note=f"{scale}, {lines} lines in {MEASURE_S:g} s (of {offered_lines():.0f} at the "
            f"offered rate; relay: {len(echo['to_agent_ms']) + len(echo['to_visitor_ms'])}; "
            f"{engine['lost']} not delivered "
            f"{DRAIN_S:g} s after, counted at that age); "
            f"{goal(p99, GOALS['p99_ms'], 'ms')}; load generator lag p99 "
            f"{engine['lag_p99_ms']:.1f} ms",
        ),
        Result(
            "chat daemon cpu",
            cores,
            "cores",
            "bare POST->SSE relay, same load",
            cores_echo,
            better="lower",
            note=f"{scale}; {goal(cores, GOALS['cores'], 'core')}",
        ),
        Result(
            "chat daemon memory growth",
            growth,
            "MB",
            "bare POST->SSE relay, same load",
            max(growth_echo, 0.1),
            better="lower",
            note=f"RSS {engine['rss_idle']:.0f} MB ready, {engine['rss_peak']:.0f} MB peak; "
            f"{goal(growth, GOALS['mb'], 'MB')}",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["only"]:  # one server's figures: only echo|engine
        figures = measure(sys.argv[2] if len(sys.argv) > 2 else "echo")
        print({k: v for k, v in figures.items() if not k.endswith("_ms")})
        from tests.benchmarks.chat_load import percentile

        for side in ("to_agent_ms", "to_visitor_ms"):
            ms = figures[side]
            if ms:
                print(side, len(ms), [round(percentile(ms, p), 1) for p in (0.5, 0.9, 0.99, 1)])
    else:
        for r in run():
            print(f"{r.name}: {r.value:.2f} {r.unit} ({r.baseline}: {r.baseline_value:.2f})")
            if r.note:
                print("  " + r.note)
