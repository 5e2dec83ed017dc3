"""Asterisk's ``queue_log``, written by ccbox as its own ACD's calls happen.

Centers keep the reporting tool they read app_queue's ``/var/log/asterisk/queue_log`` with
(QueueMetrics and others): ccbox routes calls itself, so it writes that file itself, in the
layout Asterisk's logger writes (main/logger.c, ``ast_queue_log``)::

    <epoch seconds>|<callid>|<queue>|<agent>|<EVENT>|<data1>|<data2>|...

with the events and data fields of apps/app_queue.c (the test module's ``FORMAT`` names
each). The fields ccbox fills:

- callid: the caller channel's Uniqueid; ``NONE`` for an agent's own event
- queue: the ccbox queue's name; ``NONE`` for an event of every queue (PAUSEALL)
- agent: ``Agent/<agent number>``, what app_queue writes for a member added with that
  member name (QueueMetrics' convention): an agent logs in from any phone, the number stays
- times: whole seconds between the truncated epoch seconds of the two moments, as
  app_queue counts them with ``time(NULL)``: a CONNECT's hold time is its line's time
  minus the ENTERQUEUE line's

Where ccbox's steps differ from app_queue's, the nearest event is written: a caller handed
to the dialplan by a stopping ccboxd, or moved to another queue by a supervisor, leaves
with EXITWITHTIMEOUT; a callback taken with the callback key is EXITWITHKEY (the call back
is not a queue caller); an attended transfer is ATTENDEDTRANSFER ``BRIDGE|<exten@context>``
(the target, where Asterisk names its bridge). A join refused because the queue is full or
unstaffed writes nothing, as app_queue's refused join does.

Writes never block the reactor: lines are kept in memory and appended once a second by one
thread of the writer's own (order kept, one write a second however busy the center; a
reader polling the file sees lines at most a second late). The file is reopened when it
was rotated away (its path names another file, or none), as Python's WatchedFileHandler
does, so logrotate needs neither a signal nor ``copytruncate``. A failed write (disk full)
keeps the lines for the next second, up to ``MAX_PENDING`` (the oldest dropped, counted
in the log, which says so once a minute at most).

Caller ID is attacker-controlled: in every field ``|`` becomes ``_`` (as app_queue does for
caller names), control characters and line separators become ``_``, and a field is cut at
``FIELD_MAX`` characters, so no value can add a field or a line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from twisted.application import service
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from acd import agent_state as st
from acd import queue_events as qe
from acd.agent_state import AgentStateChanged
from acd.queue_events import QueueCallStep
from appliance.eventbus import EventBus, Subscription

log = Logger(namespace="ccbox.reports.queue_log")

FIELD_MAX = 128
LINE_MAX = 8191  # ast_queue_log formats into an 8 KB buffer
MAX_PENDING = 100_000  # lines kept while the file cannot be written
COMPLAIN_S = 60.0  # while it cannot, one error line a minute at most (a full disk's log)
# A stay whose end the ACD never told (an agent freed by the invariant watch mid-call) is
# forgotten this long after the caller joined: no queue call lasts a day.
STALE_S = 86_400
NONE = "NONE"
# C0 and C1 controls, DEL, and what some readers split lines on (NEL, LS, PS).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029|]")


def clean(value: object) -> str:
    """One field that cannot add a field or a line (see the module docstring)."""
    return _UNSAFE.sub("_", str(value))[:FIELD_MAX]


def format_line(
    at: float, callid: str, queue: str, agent: str, event: str, data: Sequence[object]
) -> str:
    """One queue_log line (no newline): Asterisk's layout, every field cleaned."""
    head = [str(int(at)), clean(callid), clean(queue), clean(agent), clean(event)]
    return "|".join(head + [clean(d) for d in (data or ("",))])[:LINE_MAX]


def agent_name(number: str) -> str:
    return f"Agent/{number}"


class QueueLogFile:
    """The file, on the writer's thread: appends lines, reopens a rotated file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def append(self, lines: Sequence[str]) -> None:
        f = self._open()
        f.write("".join(line + "\n" for line in lines))
        f.flush()

    def _open(self) -> IO[str]:
        if self._file is not None and not self._same_file(self._file):
            self.close()  # rotated away: the next lines go to a new file at the path
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
        return self._file

    def _same_file(self, f: IO[str]) -> bool:
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(f.fileno())
        return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None


@dataclass
class _Entry:
    """A caller in a queue, from ENTERQUEUE to the line that ends its stay."""

    queue: str
    uniqueid: str
    joined: int
    position: int  # where it entered the line (app_queue's origposition)
    answered: int | None = None
    rings: dict[int, float] = field(default_factory=dict)  # agent id -> ring started


Runner = Callable[[Callable[[], None]], "defer.Deferred[None]"]


class QueueLog(service.Service):
    """Writes the queue_log from the ACD's bus events (``QueueCallStep``, agent states).

    ``acd``: the running ACD (queue names, agent numbers, who serves which queue).
    ``run``: runs a write off the reactor (default: the writer's own one-thread pool; a
    test passes a synchronous runner)."""

    name = "queue-log"

    def __init__(
        self,
        reactor: Any,
        acd: Any,
        bus: EventBus,
        path: Path | str,
        *,
        flush_s: float = 1.0,
        run: Runner | None = None,
    ) -> None:
        self.reactor = reactor
        self.acd = acd
        self.bus = bus
        self.file = QueueLogFile(Path(path))
        self.flush_s = flush_s
        self._run = run
        self._pool: ThreadPool | None = None
        self.pending: list[str] = []
        self.dropped = 0
        self._complained_at: float | None = None
        self._writing: defer.Deferred[None] | None = None
        self._loop: task.LoopingCall | None = None
        self._subs: list[Subscription] = []
        self.entries: dict[int, _Entry] = {}  # call id -> its stay in a queue

    # ---- lifecycle ------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        if self._run is None:
            pool = ThreadPool(minthreads=1, maxthreads=1, name="queue-log")
            pool.start()
            self._pool = pool
            self._run = lambda f: threads.deferToThreadPool(self.reactor, pool, f)
        self._subs = [
            self.bus.subscribe(QueueCallStep, self.on_step),
            self.bus.subscribe(AgentStateChanged, self.on_agent_state),
        ]
        self._write(NONE, NONE, NONE, "QUEUESTART", ("",))
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self.reactor
        self._loop.start(self.flush_s, now=False).addErrback(
            lambda f: log.failure("the queue_log writer stopped", f)
        )

    async def _stop(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._writing is not None:
            await self._writing
        await self.flush()
        assert self._run is not None
        await self._run(self.file.close)
        if self._pool is not None:
            self._pool.stop()
            self._pool = None

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.ensureDeferred(self._stop())

    # ---- writing --------------------------------------------------------------------------

    def _tick(self) -> None:
        oldest = self.reactor.seconds() - STALE_S
        for call_id in [c for c, e in self.entries.items() if e.joined < oldest]:
            del self.entries[call_id]
        self.flush()

    def flush(self) -> defer.Deferred[None]:
        """Append the lines kept so far (one write in flight at a time)."""
        if not self.pending or self._writing is not None or self._run is None:
            return defer.succeed(None)
        lines, self.pending = self.pending, []
        d = self._run(lambda: self.file.append(lines))

        def failed(f: Any) -> None:
            self.pending[:0] = lines  # kept for the next try, in order
            self._cap()
            self._complain(str(f.value))

        def done(_: object) -> None:
            self._writing = None

        d.addErrback(failed).addBoth(done)
        if not d.called:
            self._writing = d
        return d

    def _cap(self) -> None:
        over = len(self.pending) - MAX_PENDING
        if over > 0:
            del self.pending[:over]
            self.dropped += over
            self._complain("too many lines waiting")

    def _complain(self, why: str) -> None:
        """An error line, at most one per ``COMPLAIN_S``: a write failing every second, or
        a line dropped per queue event once ``MAX_PENDING`` wait, must not flood the log
        (of a disk that is likely full already)."""
        now = self.reactor.seconds()
        if self._complained_at is not None and now - self._complained_at < COMPLAIN_S:
            return
        self._complained_at = now
        log.error(
            "queue_log {path}: cannot write: {why} ({n} lines waiting, {dropped} dropped)",
            path=self.file.path,
            why=why,
            n=len(self.pending),
            dropped=self.dropped,
        )

    def _write(
        self,
        callid: str,
        queue: str,
        agent: str,
        event: str,
        data: Sequence[object],
        at: float | None = None,
    ) -> None:
        when = self.reactor.seconds() if at is None else at
        self.pending.append(format_line(when, callid, queue, agent, event, data))
        self._cap()

    # ---- calls ----------------------------------------------------------------------------

    def _agent(self, agent_id: int | None) -> str:
        agent = self.acd.agents.get(agent_id) if agent_id is not None else None
        return agent_name(agent.number) if agent is not None else NONE

    def on_step(self, ev: QueueCallStep) -> None:
        at = int(ev.at)
        if ev.step == qe.JOINED:
            self._joined(ev)
            return
        entry = self.entries.get(ev.call_id)
        if entry is None:
            return  # not a caller this log follows (a callback), or its stay already ended
        agent = self._agent(ev.agent_id)
        if ev.step == qe.RANG_OUT:
            started = entry.rings.pop(ev.agent_id or 0, ev.at)
            ms = int((ev.at - started) * 1000)
            self._write(entry.uniqueid, entry.queue, agent, "RINGNOANSWER", (ms,), ev.at)
        elif ev.step == qe.CONNECTED:
            rang = int(ev.at - entry.rings.get(ev.agent_id or 0, ev.at))
            entry.rings.clear()
            entry.answered = at
            data: tuple[object, ...] = (at - entry.joined, ev.detail, rang)
            self._write(entry.uniqueid, entry.queue, agent, "CONNECT", data, ev.at)
        elif ev.step in (qe.COMPLETED, qe.TRANSFERRED):
            del self.entries[ev.call_id]
            answered = entry.answered if entry.answered is not None else at
            times = (answered - entry.joined, at - answered, entry.position)
            if ev.step == qe.COMPLETED:
                event = "COMPLETEAGENT" if ev.detail == "agent" else "COMPLETECALLER"
                self._write(entry.uniqueid, entry.queue, agent, event, times, ev.at)
            elif ev.attended:
                data = ("BRIDGE", ev.detail, *times)
                self._write(entry.uniqueid, entry.queue, agent, "ATTENDEDTRANSFER", data, ev.at)
            else:
                exten, _, context = ev.detail.rpartition("@")
                data = (exten, context, *times)
                self._write(entry.uniqueid, entry.queue, agent, "BLINDTRANSFER", data, ev.at)
        else:
            exit_event = {
                qe.ABANDONED: "ABANDON",
                qe.TIMED_OUT: "EXITWITHTIMEOUT",
                qe.EMPTIED: "EXITEMPTY",
                qe.KEY: "EXITWITHKEY",
                qe.GAVE_UP: "EXITWITHTIMEOUT",
            }.get(ev.step)
            if exit_event is not None:
                del self.entries[ev.call_id]
                self._exit(entry, ev, exit_event, ev.position)

    def _joined(self, ev: QueueCallStep) -> None:
        old = self.entries.pop(ev.call_id, None)
        if old is not None:  # moved on by a supervisor: it left that queue (its place there
            self._exit(old, ev, "EXITWITHTIMEOUT", old.position)  # is gone: the first one)
        q = self.acd.queues.get(ev.queue_id)
        new = _Entry(q.name if q else str(ev.queue_id), ev.uniqueid, int(ev.at), ev.position)
        self.entries[ev.call_id] = new
        data = ("", ev.caller, ev.position)
        self._write(ev.uniqueid, new.queue, NONE, "ENTERQUEUE", data, ev.at)

    def _exit(self, entry: _Entry, ev: QueueCallStep, event: str, position: int) -> None:
        data: tuple[object, ...] = (position, entry.position, int(ev.at) - entry.joined)
        if event == "EXITWITHKEY":
            data = (ev.detail, *data)
        self._write(entry.uniqueid, entry.queue, NONE, event, data, ev.at)

    # ---- agents ---------------------------------------------------------------------------

    def on_agent_state(self, ev: AgentStateChanged) -> None:
        agent = self.acd.agents.get(ev.agent_id)
        if agent is None:
            return
        if ev.new == st.RINGING:
            call = agent.call
            entry = self.entries.get(call.id) if call is not None else None
            if entry is not None:
                entry.rings[agent.id] = ev.at
            return
        name = agent_name(agent.number)
        if ev.old == st.LOGGED_OUT and ev.new != st.LOGGED_OUT:
            flag = "PAUSED" if ev.new == st.PAUSED else ""
            for q in self._served(agent):
                self._write(NONE, q, name, "ADDMEMBER", (flag,), ev.at)
        elif ev.new == st.LOGGED_OUT and ev.old != st.LOGGED_OUT:
            for q in self._served(agent):
                self._write(NONE, q, name, "REMOVEMEMBER", ("",), ev.at)
        elif ev.new == st.PAUSED:
            self._all(name, self._served(agent), "PAUSE", ev.reason, ev.at)
        elif ev.old == st.PAUSED:
            self._all(name, self._served(agent), "UNPAUSE", "", ev.at)

    def _served(self, agent: Any) -> list[str]:
        """The queues ``agent`` takes calls of (members and the skilled), by name."""
        return [q.name for q in self.acd.queues.values() if self.acd.serves(agent, q)]

    def _all(self, name: str, queues: list[str], event: str, reason: str, at: float) -> None:
        """A pause or unpause of every queue: app_queue's PAUSEALL line, then each queue's."""
        self._write(NONE, NONE, name, f"{event}ALL", (reason,), at)
        for q in queues:
            self._write(NONE, q, name, event, (reason,), at)
