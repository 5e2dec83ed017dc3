"""The chat benchmark's load generator (tests/benchmarks/bench_chat.py runs it in its own
process): visitors of the public widget endpoint and agents of the desk, over raw asyncio
sockets, against any server that speaks the two APIs (webui/chat/api.py, webui/desk_chat/).

``python -m tests.benchmarks.chat_load '<json plan>'`` prints one ``LOAD-JSON`` line.

The plan names the ports, the agents' session cookies and CSRF tokens, the topic, how many
visitors, and the server's pid (its CPU is read from /proc over the measuring window, the
same moments the latencies are taken). Steps:

1. every agent opens its desk stream (``GET /chat-desk/stream``);
2. the visitors start their chats (``POST /chat/api/start``, each from its own address in
   X-Forwarded-For: the endpoint trusts the loopback proxy) and open their streams
   (``GET /chat/api/stream?t=``); an agent accepts each offer it gets;
3. in every accepted chat each side writes a line every ``every_s`` (uniform), announced by
   a typing event; a line carries ``#v<seq>#`` (visitor) or ``#a<seq>#`` (agent), and its
   delivery is the time from the start of its POST to the moment the other side's stream
   brings it (one process, one monotonic clock);
4. after ``warm_s`` the window of ``measure_s`` opens: lines started in it are counted.

HTTP/1.0 for the streams (no chunking to undo), HTTP/1.1 keep-alive for the POSTs (each
visitor one connection, each agent one per chat slot, as a browser keeps a few).
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

MARK = re.compile(rb"#([va])(\d+)#")
_OPEN: list[asyncio.StreamWriter] = []
STALL_S = 10.0
T = TypeVar("T")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HTTPError(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"{status}: {body[:200]!r}")
        self.status = status


class Conn:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.headers = headers
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.lock = asyncio.Lock()

    async def post(
        self, path: str, body: dict[str, Any], extra: dict[str, str] | None = None
    ) -> Any:
        data = json.dumps(body, ensure_ascii=False).encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in {**self.headers, **(extra or {})}.items()]
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        async with self.lock:
            for attempt in (0, 1):
                if self.writer is None:
                    self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                assert self.reader is not None
                try:
                    self.writer.write(raw)
                    status, answer, close = await _response(self.reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    self.writer.close()
                    self.writer = None
                    if attempt:
                        raise
                    continue
                if close:
                    self.writer.close()
                    self.writer = None
                if status >= 400:
                    raise HTTPError(status, answer)
                return json.loads(answer) if answer.strip() else {}
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    close = headers.get("connection", "").lower() == "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
        close = True
    return status, body, close


async def open_stream(
    host: str, port: int, path: str, headers: dict[str, str]
) -> asyncio.StreamReader:
    reader, writer = await asyncio.open_connection(host, port)
    head = [f"GET {path} HTTP/1.0", f"Host: {host}:{port}", "Accept: text/event-stream"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    first = await reader.readuntil(b"\r\n\r\n")
    status = int(first.split(b" ", 2)[1])
    if status != 200:
        raise HTTPError(status, await reader.read(500))
    _OPEN.append(writer)  # a writer collected closes its socket
    return reader


@dataclass
class Stats:
    sent_at: dict[bytes, float] = field(default_factory=dict)  # marker -> POST start
    to_agent: list[float] = field(default_factory=list)  # ms, lines started in the window
    to_visitor: list[float] = field(default_factory=list)
    in_window: set[bytes] = field(default_factory=set)
    lines: int = 0
    typing: int = 0
    retries: int = 0
    sent_in_window: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    lag_ms: list[float] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors[what[:120]] = self.errors.get(what[:120], 0) + 1

    def received(self, data: bytes, side: bytes, now: float) -> None:
        for who, seq in MARK.findall(data):
            if who != side:
                continue
            key = who + seq
            started = self.sent_at.pop(key, None)
            if started is None or key not in self.in_window:
                continue
            self.in_window.discard(key)
            (self.to_agent if who == b"v" else self.to_visitor).append((now - started) * 1000)


class Run:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.host = plan.get("host", "127.0.0.1")
        self.rng = random.Random(plan.get("seed", 7))
        self.stats = Stats()
        self.seq = 0
        self.window = False
        self.stop = False
        self.accepted: asyncio.Queue[tuple[int, int]] = asyncio.Queue()  # (agent index, conv)
        self.offered = 0
        self.tasks: list[asyncio.Task[Any]] = []

    # ---- the agents ----------------------------------------------------------------------

    def agent_headers(self, i: int) -> dict[str, str]:
        a = self.plan["agents"][i]
        port = self.plan["desk_port"]
        return {
            "Cookie": f"{self.plan['cookie_name']}={a['cookie']}",
            "Origin": f"http://{self.host}:{port}",
            "X-CSRF-Token": a["csrf"],
        }

    async def agent(self, i: int) -> None:
        headers = self.agent_headers(i)
        stream_headers = {"Cookie": headers["Cookie"]}
        reader = await open_stream(
            self.host, self.plan["desk_port"], "/chat-desk/stream", stream_headers
        )
        slots = [Conn(self.host, self.plan["desk_port"], headers) for _ in range(3)]
        mine: dict[int, Conn] = {}
        buf = b""
        while not self.stop:
            data = await reader.read(65536)
            if not data:
                self.stats.error("an agent's stream closed")
                return
            now = time.perf_counter()
            buf += data
            cut = buf.rfind(b"\n\n")
            if cut < 0:
                continue
            done, buf = buf[: cut + 2], buf[cut + 2 :]
            if b"#v" in done:
                self.stats.received(done, b"v", now)
            for block in done.split(b"\n\n"):
                if b'"offer"' not in block and b'"ended"' not in block:
                    continue
                for line in block.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue
                    event = json.loads(line[5:])
                    cid = event.get("conversation")
                    if event.get("type") == "offer" and isinstance(cid, int) and cid not in mine:
                        free = [c for c in slots if c not in mine.values()]
                        conn = free[0] if free else slots[0]
                        mine[cid] = conn
                        self.offered += 1
                        self.tasks.append(asyncio.ensure_future(self.accept(i, cid, conn)))
                    elif event.get("type") == "ended" and isinstance(cid, int):
                        mine.pop(cid, None)

    async def accept(self, i: int, cid: int, conn: Conn) -> None:
        try:
            await conn.post("/chat-desk/api/accept", {"conversation": cid})
        except (HTTPError, OSError) as exc:
            self.stats.error(f"accept: {exc}")
            return
        self.tasks.append(asyncio.ensure_future(self.talk_agent(cid, conn)))
        await self.accepted.put((i, cid))

    async def talk_agent(self, cid: int, conn: Conn) -> None:
        lo, hi = self.plan["every_s"]
        await asyncio.sleep(self.rng.uniform(0, hi))
        while not self.stop:
            await asyncio.sleep(self.rng.uniform(lo, hi) - self.plan["typing_s"])
            if self.stop:
                return
            try:
                await conn.post("/chat-desk/api/typing", {"conversation": cid, "typing": True})
                self.stats.typing += 1
                await asyncio.sleep(self.plan["typing_s"])
                key = self.mark(b"a")
                await conn.post(
                    "/chat-desk/api/send",
                    {"conversation": cid, "text": f"好的，我来帮您查一下 #{key.decode()}#"},
                )
                self.stats.lines += 1
            except (HTTPError, OSError) as exc:
                self.stats.error(f"agent send: {exc}")
                await asyncio.sleep(1.0)

    # ---- the visitors --------------------------------------------------------------------

    async def visitor(self, n: int) -> None:
        port = self.plan["chat_port"]
        address = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256 or 1}"
        headers = {"Origin": self.plan["origin"], "X-Forwarded-For": address}
        conn = Conn(self.host, port, headers)
        form = {
            "topic_id": self.plan["topic_id"],
            "name": f"访客 Visitor {n}",
            "phone": f"1390000{n:04d}",
            "email": "",
            "language": "zh" if n % 3 else "en",
        }
        started = await self.again("start", lambda: conn.post("/chat/api/start", form))
        if started is None:
            return
        token = started["token"]
        conn.headers = {**headers, "X-Chat-Token": token}
        path = f"/chat/api/stream?t={token}"
        reader = await self.again(
            "visitor stream", lambda: open_stream(self.host, port, path, headers)
        )
        if reader is None:
            return
        talking = asyncio.ensure_future(self.talk_visitor(conn, reader))
        self.tasks.append(talking)

    async def talk_visitor(self, conn: Conn, reader: asyncio.StreamReader) -> None:
        answered = asyncio.Event()

        async def read() -> None:
            buf = b""
            while not self.stop:
                data = await reader.read(65536)
                if not data:
                    return
                now = time.perf_counter()
                buf += data
                cut = buf.rfind(b"\n\n")
                if cut < 0:
                    continue
                done, buf = buf[: cut + 2], buf[cut + 2 :]
                if b'"active"' in done or b"#a" in done:
                    answered.set()
                if b"#a" in done:
                    self.stats.received(done, b"a", now)

        self.tasks.append(asyncio.ensure_future(read()))
        await answered.wait()
        lo, hi = self.plan["every_s"]
        await asyncio.sleep(self.rng.uniform(0, hi))
        while not self.stop:
            await asyncio.sleep(self.rng.uniform(lo, hi) - self.plan["typing_s"])
            if self.stop:
                return
            try:
                await conn.post("/chat/api/typing", {"typing": True})
                self.stats.typing += 1
                await asyncio.sleep(self.plan["typing_s"])
                key = self.mark(b"v")
                await conn.post("/chat/api/send", {"text": f"我家宽带又掉线了 #{key.decode()}#"})
                self.stats.lines += 1
            except (HTTPError, OSError) as exc:
                self.stats.error(f"visitor send: {exc}")
                await asyncio.sleep(1.0)

    async def again(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T | None:
        """``attempt()``, tried again after a network error (as the widget lets a visitor
        retry); None (counted) when the third try fails too."""
        for n in range(3):
            try:
                return await attempt()
            except (HTTPError, OSError) as exc:
                if n == 2 or isinstance(exc, HTTPError):
                    self.stats.error(f"{what}: {exc}")
                    return None
                self.stats.retries += 1
                await asyncio.sleep(1.0 + n)
        return None

    def mark(self, side: bytes) -> bytes:
        self.seq += 1
        key = side + str(self.seq).encode()
        self.stats.sent_at[key] = time.perf_counter()
        if self.window:
            self.stats.in_window.add(key)
            self.stats.sent_in_window += 1
        return key

    # ---- the run -------------------------------------------------------------------------

    async def lag(self) -> None:
        while not self.stop:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            if self.window:
                self.stats.lag_ms.append((time.perf_counter() - t - 0.05) * 1000)

    async def main(self) -> dict[str, Any]:
        plan = self.plan
        pid = plan["server_pid"]
        t_setup = time.monotonic()
        agents = [asyncio.ensure_future(self.agent(i)) for i in range(len(plan["agents"]))]
        self.tasks += agents
        await asyncio.sleep(1.0)
        starts = []
        for n in range(plan["visitors"]):
            starts.append(asyncio.ensure_future(self.visitor(n)))
            if n % 5 == 4:
                await asyncio.sleep(0.1)  # 50 visitors a second come in
        await asyncio.gather(*starts, return_exceptions=True)
        want = min(plan["visitors"], 3 * len(plan["agents"]))
        deadline = time.monotonic() + plan.get("setup_s", 120)
        accepted, last = 0, time.monotonic()
        # until every slot is taken, or no chat was accepted for STALL_S (the engine keeps
        # a few visitors waiting: a slot freed late, an offer timed out)
        while accepted < want and time.monotonic() < deadline and time.monotonic() - last < STALL_S:
            try:
                await asyncio.wait_for(self.accepted.get(), timeout=1.0)
                accepted, last = accepted + 1, time.monotonic()
            except TimeoutError:
                pass
        setup_s = time.monotonic() - t_setup
        self.tasks.append(asyncio.ensure_future(self.lag()))
        await asyncio.sleep(plan["warm_s"])
        cpu0, mine0, t0 = cpu_s(pid), cpu_s(os.getpid()), time.monotonic()
        self.window = True
        await asyncio.sleep(plan["measure_s"])
        self.window = False
        cpu1, mine1, t1 = cpu_s(pid), cpu_s(os.getpid()), time.monotonic()
        # the window's last lines arrive (still sending meanwhile: the same load)
        drain_until = time.monotonic() + plan.get("drain_s", 20.0)
        while self.stats.in_window and time.monotonic() < drain_until:
            await asyncio.sleep(0.2)
        # a line still not delivered counts with its age now: a lower bound of its delay
        now = time.perf_counter()
        lost = len(self.stats.in_window)
        for key in self.stats.in_window:
            late = (now - self.stats.sent_at[key]) * 1000
            (self.stats.to_agent if key[:1] == b"v" else self.stats.to_visitor).append(late)
        self.stop = True
        for t in self.tasks:
            t.cancel()
        return {
            "setup_s": setup_s,
            "accepted": accepted,
            "offered": self.offered,
            "window_s": t1 - t0,
            "server_cpu_s": cpu1 - cpu0,
            "loadgen_cpu_s": mine1 - mine0,
            "to_agent_ms": self.stats.to_agent,
            "to_visitor_ms": self.stats.to_visitor,
            "lost": lost,
            "lines": self.stats.lines,
            "typing": self.stats.typing,
            "retries": self.stats.retries,
            "sent_in_window": self.stats.sent_in_window,
            "errors": self.stats.errors,
            "lag_p99_ms": percentile(self.stats.lag_ms, 0.99) if self.stats.lag_ms else 0.0,
        }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main(argv: list[str]) -> None:
    plan = json.loads(argv[0])
    result = asyncio.run(Run(plan).main())
    print("LOAD-JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
