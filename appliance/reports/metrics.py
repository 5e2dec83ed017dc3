"""The Prometheus endpoint: the live state of the box, read when Prometheus scrapes.

Nothing is counted on the way: ``MetricsCollector.collect()`` reads what the engines already
keep (the ACD's agents, queues and calls as the wallboard shows them, the switch links,
the recorder, the database connector, the dialer) at the moment of the scrape, on the
reactor thread, where that state lives. The counters (``_total``) are the engines' own
counts since the process started (AMI logins, FastAGI sessions and refusals, a campaign's
calls since it started); a queue's figures of the day are gauges (``..._today``), since they
start again at the center's midnight and are restored from the database at a restart, which
a Prometheus counter must not do.

A scrape (``Scraper.scrape``) reads the free space of the recording disk in a thread, then
collects on the reactor, then writes the exposition (with prometheus_client's process,
platform and GC collectors, which read /proc) in a thread: the reactor never waits on a
disk or on /proc.

Labels are bounded: queue names, agent states, pause reasons (the known ones; any other is
``other``), campaign names, health parts. Never a caller's number or name, an agent's, or
anything of the configuration.

Served by ``MetricsService``: on ``[metrics] listen`` (an address of its own) and, when
``[metrics] token`` is set, as ``/metrics`` on the web UI's port; the token, when set, is
asked on both (``Authorization: Bearer <token>``, compared in constant time).
"""

from __future__ import annotations

import hmac
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from twisted.application import service
from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.web import resource, server
from twisted.web.resource import IResource

from acd import agent_state as st
from appliance import health
from appliance.config import MetricsConfig
from drivers.dahdi.status import ALARMS as DAHDI_ALARMS
from drivers.dahdi.status import COUNTERS as DAHDI_COUNTERS

if TYPE_CHECKING:
    from acd.service import ACD, Agent
    from appliance.db.acd_store import ACDQueue
    from appliance.db.connector import DBConnector
    from appliance.health import HealthRegistry
    from recorder.service import RecorderService

log = Logger(namespace="ccbox.metrics")

HEALTH_STATES = (health.OK, health.STARTING, health.DEGRADED, health.DOWN)
CALL_STATES = ("waiting", "ringing", "talking")
REFUSAL_LOG_S = 60.0
DIALER_LINE_STATES = ("placing", "ringing", "answered", "person", "talking")


@dataclass(frozen=True)
class MetricsSources:
    """What the collector reads, handed over by the composition root. The switch links and
    the dialer are optional and may come later: callables, read at each scrape."""

    reactor: Any
    acd: ACD
    db: DBConnector
    recorder: RecorderService
    health: HealthRegistry
    recording_dir: Path
    ami: Callable[[], Any] = lambda: None
    callmodel: Callable[[], Any] = lambda: None
    fastagi: Callable[[], Any] = lambda: None
    dialer: Callable[[], Any] = lambda: None
    spans: Callable[[], Any] = lambda: None  # the DAHDI span monitor (appliance/hardware/)


@dataclass(frozen=True)
class DiskUsage:
    total: int
    used: int
    free: int


def disk_usage(root: Path) -> DiskUsage:
    """The recording root's file system (its nearest existing folder): blocks, so a
    thread calls it."""
    path = root
    while not path.exists() and path.parent != path:
        path = path.parent
    usage = shutil.disk_usage(path)
    return DiskUsage(usage.total, usage.used, usage.free)


def _gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def _pool(prefix: str, what: str, pool: Any) -> Iterator[Metric]:
    """A Twisted thread pool's busy threads, its limit and the jobs waiting for a thread."""
    busy = _gauge(f"{prefix}_pool_busy_threads", f"Threads of {what} running a job.")
    busy.add_metric([], len(pool.working))
    limit = _gauge(f"{prefix}_pool_max_threads", f"The most threads {what} runs at once.")
    limit.add_metric([], pool.max)
    queued = _gauge(f"{prefix}_pool_queued_jobs", f"Jobs waiting for a thread of {what}.")
    queued.add_metric([], pool.q.qsize())
    yield from (busy, limit, queued)


class _Serving:
    """Who serves a queue, by state, as ``ACD.serves`` decides (a member, or every required
    skill at its level), with set operations over an index built once per scrape: a
    300-agent center with 50 queues costs a fraction of a millisecond, not 15,000 checks."""

    def __init__(self, agents: Iterable[Agent]) -> None:
        self.everyone: set[int] = set()
        self.by_state: dict[str, set[int]] = {state: set() for state in st.STATES}
        self.by_skill: dict[int, list[tuple[int, int]]] = {}  # skill -> (level, agent id)
        for a in agents:
            self.everyone.add(a.id)
            self.by_state.setdefault(a.state, set()).add(a.id)
            for skill, level in a.skills.items():
                self.by_skill.setdefault(skill, []).append((level, a.id))
        self._skilled: dict[tuple[tuple[int, int], ...], set[int]] = {}

    def skilled(self, requirements: tuple[tuple[int, int], ...]) -> set[int]:
        """The agents with every required skill at its level (none without requirements)."""
        found = self._skilled.get(requirements)
        if found is None:
            found = set(self.everyone) if requirements else set()
            for skill, minimum in requirements:
                if minimum > 0:  # a level 0 requirement: anyone (a missing skill is 0)
                    found &= {
                        aid for level, aid in self.by_skill.get(skill, ()) if level >= minimum
                    }
            self._skilled[requirements] = found
        return found

    def counts(self, q: ACDQueue) -> dict[str, int]:
        serving = self.skilled(q.requirements) | {m for m, _penalty in q.members}
        return {state: len(serving & ids) for state, ids in self.by_state.items()}


class MetricsCollector(Collector):
    """The box's live state as metric families; ``collect()`` runs on the reactor thread.

    ``disk`` is the recording disk's usage, read in a thread just before (None: unknown)."""

    def __init__(self, sources: MetricsSources) -> None:
        self.sources = sources
        self.disk: DiskUsage | None = None

    def collect(self) -> Iterator[Metric]:
        yield from self._health()
        yield from self._queues()
        yield from self._agents()
        yield from self._calls()
        yield from self._ami()
        yield from self._fastagi()
        yield from self._recorder()
        yield from self._database()
        yield from self._dialer()
        yield from self._spans()

    # ---- the parts ---------------------------------------------------------------------------

    def _health(self) -> Iterator[Metric]:
        part = _gauge(
            "ccbox_health_state",
            "1 for the state each part of the daemon reports (the status page's), else 0.",
            ("part", "state"),
        )
        for p in self.sources.health.parts():
            for state in HEALTH_STATES:
                part.add_metric([p.name, state], 1.0 if p.state == state else 0.0)
        yield part

    def _queues(self) -> Iterator[Metric]:
        acd = self.sources.acd
        now = self.sources.reactor.seconds()
        waiting = _gauge("ccbox_queue_callers_waiting", "Callers waiting in line.", ("queue",))
        longest = _gauge(
            "ccbox_queue_longest_wait_seconds",
            "How long the caller first in line has waited (0: nobody waits).",
            ("queue",),
        )
        agents = _gauge(
            "ccbox_queue_agents",
            "Agents who serve the queue (members or skilled enough), by state.",
            ("queue", "state"),
        )
        today = {
            name: _gauge(
                f"ccbox_queue_calls_{name}_today",
                f"Calls {name} today (the center's day; starts again at its midnight).",
                ("queue",),
            )
            for name in ("offered", "answered", "abandoned", "overflowed")
        }
        sl = _gauge(
            "ccbox_queue_service_level_ratio",
            "Today's service level: answered within the threshold / (answered + abandoned "
            "after it); absent before the first such call.",
            ("queue",),
        )
        serving = _Serving(acd.agents.values())
        for qid, q in sorted(acd.queues.items()):
            for state, n in serving.counts(q).items():
                agents.add_metric([q.name, state], n)
            line = [acd.calls[c] for c in acd.router.waiting(qid) if c in acd.calls]
            oldest = min((c.joined_at for c in line), default=None)
            waiting.add_metric([q.name], len(line))
            longest.add_metric([q.name], max(0.0, now - oldest) if oldest is not None else 0.0)
            stats = acd.stats.get(qid)
            if stats is None:
                continue
            for name, family in today.items():
                family.add_metric([q.name], getattr(stats, name))
            if stats.service_level is not None:
                sl.add_metric([q.name], stats.service_level)
        yield from (waiting, longest, agents, *today.values(), sl)

    def _agents(self) -> Iterator[Metric]:
        states = dict.fromkeys(st.STATES, 0)
        paused = dict.fromkeys((*st.PAUSE_REASONS, "other"), 0)
        for a in self.sources.acd.agents.values():
            states[a.state] = states.get(a.state, 0) + 1
            if a.state == st.PAUSED:
                reason = a.reason if a.reason in st.PAUSE_REASONS else "other"
                paused[reason] += 1
        by_state = _gauge("ccbox_agents", "Agents by state.", ("state",))
        for state, n in states.items():
            by_state.add_metric([state], n)
        by_reason = _gauge("ccbox_agents_paused", "Paused agents by pause reason.", ("reason",))
        for reason, n in paused.items():
            by_reason.add_metric([reason], n)
        yield from (by_state, by_reason)

    def _calls(self) -> Iterator[Metric]:
        acd = self.sources.acd
        callbacks = {id(c) for c in acd.callbacks.values()}
        counts = dict.fromkeys(CALL_STATES, 0)
        waiting_callbacks = 0
        for c in acd.calls.values():
            if c.done:
                continue
            if id(c) in callbacks and c.answered_at is None and not c.ringing:
                waiting_callbacks += 1
                continue
            state = (
                "talking" if c.answered_at is not None else "ringing" if c.ringing else "waiting"
            )
            counts[state] += 1
        calls = _gauge(
            "ccbox_calls_in_progress",
            "Calls in the ACD: waiting in a queue, ringing an agent, talking to one.",
            ("state",),
        )
        for state, n in counts.items():
            calls.add_metric([state], n)
        yield calls
        cb = _gauge("ccbox_callbacks_waiting", "Callbacks waiting in a queue for an agent.")
        cb.add_metric([], waiting_callbacks)
        yield cb
        model = self.sources.callmodel()
        if model is not None:
            channels = _gauge("ccbox_switch_channels", "Channels the switch has up (AMI view).")
            channels.add_metric(
                [], sum(1 for ch in model.channels.values() if ch.hungup_at is None)
            )
            yield channels

    def _ami(self) -> Iterator[Metric]:
        ami = self.sources.ami()
        if ami is None:
            return
        up = _gauge("ccbox_ami_up", "1 while logged in to the switch's AMI, else 0.")
        up.add_metric([], 1.0 if ami.ready else 0.0)
        reconnects = _counter(
            "ccbox_ami_reconnects", "AMI logins after the first one since the daemon started."
        )
        reconnects.add_metric([], max(0, ami.connects - 1))
        yield from (up, reconnects)
        if ami.last_heard is not None:
            heard = _gauge(
                "ccbox_ami_last_event_timestamp_seconds",
                "When the switch last sent an AMI event or answered a Ping (Unix time).",
            )
            heard.add_metric([], ami.last_heard)
            yield heard

    def _fastagi(self) -> Iterator[Metric]:
        server = self.sources.fastagi()
        if server is None:
            return
        factory = server.factory
        open_ = _gauge("ccbox_fastagi_sessions_open", "FastAGI sessions open now.")
        open_.add_metric([], len(factory.sessions))
        total = _counter("ccbox_fastagi_sessions", "FastAGI sessions accepted since the start.")
        total.add_metric([], factory.total)
        refused = _counter(
            "ccbox_fastagi_sessions_refused",
            "FastAGI connections refused since the start, by reason.",
            ("reason",),
        )
        refused.add_metric(["address"], factory.refused)
        for reason, n in sorted(factory.refusals.counts.items()):
            refused.add_metric([reason], n)
        yield from (open_, total, refused)

    def _recorder(self) -> Iterator[Metric]:
        rec = self.sources.recorder
        live = _gauge(
            "ccbox_recordings_in_progress",
            "Calls whose recording runs (it writes audio only while the call is bridged).",
        )
        live.add_metric([], sum(1 for c in rec.live.values() if c.plan is not None))
        backlog = _gauge(
            "ccbox_recorder_postprocess_backlog",
            "Recordings waiting for their legs to close, being merged or indexed.",
        )
        backlog.add_metric([], len(rec.pending))
        alarm = _gauge(
            "ccbox_recording_disk_alarm",
            "1 while new recordings are refused for lack of disk space, else 0.",
        )
        alarm.add_metric([], 1.0 if rec.guard.alarm is not None else 0.0)
        minimum = _gauge(
            "ccbox_recording_disk_min_free_bytes",
            "Below this much free space no new recording starts ([recording] min_free_mb).",
        )
        minimum.add_metric([], rec.settings.min_free_mb * 1024 * 1024)
        yield from (live, backlog, alarm, minimum)
        yield from _pool("ccbox_recorder", "the recorder's post-processing", rec.pool)
        if self.disk is not None:
            free = _gauge("ccbox_recording_disk_free_bytes", "Free space on the recording disk.")
            free.add_metric([], self.disk.free)
            used = _gauge("ccbox_recording_disk_used_bytes", "Used space on the recording disk.")
            used.add_metric([], self.disk.used)
            size = _gauge("ccbox_recording_disk_size_bytes", "Size of the recording disk.")
            size.add_metric([], self.disk.total)
            yield from (free, used, size)

    def _database(self) -> Iterator[Metric]:
        db = self.sources.db
        up = _gauge(
            "ccbox_database_up",
            "1 while the database takes work (its last operation did not fail), else 0.",
        )
        up.add_metric([], 1.0 if db.running and db.fault is None else 0.0)
        backlog = _gauge(
            "ccbox_database_write_backlog",
            "Calls rows' writes waiting for the database, kept in order through its faults.",
        )
        backlog.add_metric([], db.backlog.waiting)
        lost = _gauge(
            "ccbox_database_write_backlog_lost",
            "Calls rows' writes dropped since the backlog last drained (it was full).",
        )
        lost.add_metric([], db.backlog.lost)
        yield from (up, backlog, lost)
        yield from _pool("ccbox_database", "the database", db.pool)

    def _dialer(self) -> Iterator[Metric]:
        dialer = self.sources.dialer()
        if dialer is None:
            return
        now = self.sources.reactor.seconds()
        running = _gauge(
            "ccbox_dialer_campaign_running",
            "1 for each campaign the dialer runs now.",
            ("campaign", "mode"),
        )
        lines = _gauge(
            "ccbox_dialer_lines",
            "The dialer's calls by state (placing, ringing, answered, person: not yet with an "
            "agent; talking: with one).",
            ("campaign", "state"),
        )
        abandon = _gauge(
            "ccbox_dialer_abandon_ratio",
            "Answered calls abandoned (no agent within 2 s) / answered calls, over a window.",
            ("campaign", "window"),
        )
        level = _gauge(
            "ccbox_dialer_dial_level",
            "Lines placed per available agent (the pacer's).",
            ("campaign",),
        )
        calls = {
            name: _counter(
                f"ccbox_dialer_calls_{name}", f"{doc} since the campaign started.", ("campaign",)
            )
            for name, doc in (
                ("placed", "Calls placed"),
                ("answered", "Calls a person answered"),
                ("abandoned", "Answered calls no agent took within 2 s"),
                ("machines", "Calls an answering machine answered"),
            )
        }
        for run in sorted(dialer.runs.values(), key=lambda r: r.campaign.id):
            name = run.campaign.name
            running.add_metric([name, run.campaign.mode], 1.0)
            counts = dict.fromkeys(DIALER_LINE_STATES, 0)
            for line in run.lines:
                if line.state in counts:
                    counts[line.state] += 1
            for state, n in counts.items():
                lines.add_metric([name, state], n)
            abandon.add_metric([name, "24h"], run.meter.rate_24h(now) / 100.0)
            abandon.add_metric([name, "30d"], run.meter.rate_30d(now) / 100.0)
            level.add_metric([name], float(run.pacer.figures().get("dial_level", 0.0)))
            calls["placed"].add_metric([name], run.placed)
            calls["answered"].add_metric([name], run.answered)
            calls["abandoned"].add_metric([name], run.abandoned)
            calls["machines"].add_metric([name], run.machines)
        yield from (running, lines, abandon, level, *calls.values())

    def _spans(self) -> Iterator[Metric]:
        monitor = self.sources.spans()
        if monitor is None:
            return
        alarm = _gauge(
            "ccbox_dahdi_span_alarm",
            "1 while the DAHDI span has the alarm (RED, YELLOW, BLUE, LOOPBACK, RECOVERING, "
            "NOTOPEN), else 0.",
            ("span", "name", "alarm"),
        )
        in_use = _gauge(
            "ccbox_dahdi_channels_in_use", "The span's channels carrying a call.", ("span",)
        )
        configured = _gauge(
            "ccbox_dahdi_channels_configured",
            "The span's channels configured (given a signalling).",
            ("span",),
        )
        errors = _counter(
            "ccbox_dahdi_span_errors",
            "The span's error counters as the kernel counts them (bpv, crc4, ebit, fas, "
            "irq_misses, timing_slips).",
            ("span", "counter"),
        )
        changes = _counter(
            "ccbox_dahdi_alarm_changes", "Span alarm changes since the daemon started."
        )
        for span in monitor.spans():
            number = str(span.number)
            for name in DAHDI_ALARMS:
                alarm.add_metric([number, span.name, name], 1.0 if name in span.alarms else 0.0)
            in_use.add_metric([number], sum(1 for c in span.channels if c.in_use))
            configured.add_metric([number], sum(1 for c in span.channels if c.configured))
            for counter in DAHDI_COUNTERS:
                errors.add_metric([number, counter], span.counters.get(counter, 0))
        changes.add_metric([], monitor.alarm_changes)
        yield from (alarm, in_use, configured, errors, changes)


class _Collected(Collector):
    """Families already collected (on the reactor), handed to a registry in a thread."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class Scraper:
    """One scrape: the disk in a thread, the live state on the reactor, the text in a
    thread. ``in_thread(fn, *args)`` returns a Deferred (tests may run it inline)."""

    def __init__(
        self,
        sources: MetricsSources,
        in_thread: Callable[..., defer.Deferred[Any]] | None = None,
    ) -> None:
        self.sources = sources
        self.collector = MetricsCollector(sources)
        self.in_thread = in_thread or (
            lambda fn, *args: threads.deferToThreadPool(
                sources.reactor, sources.reactor.getThreadPool(), fn, *args
            )
        )
        # The standard process_*, python_info and python_gc_* families: read /proc and the
        # interpreter, in the thread that writes the text.
        self.standard = CollectorRegistry()
        ProcessCollector(registry=self.standard)
        PlatformCollector(registry=self.standard)
        GCCollector(registry=self.standard)

    async def scrape(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition in the format ``accept`` asks for, and its content type."""
        try:
            self.collector.disk = await self.in_thread(disk_usage, self.sources.recording_dir)
        except OSError as exc:
            log.warn("metrics: the recording disk's usage not read: {exc}", exc=exc)
            self.collector.disk = None
        families = list(self.collector.collect())  # on the reactor: the live state
        result: tuple[bytes, str] = await self.in_thread(self._expose, families, accept)
        return result

    def _expose(self, families: list[Metric], accept: str) -> tuple[bytes, str]:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collected([*self.standard.collect(), *families]))
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type


class MetricsResource(resource.Resource):
    """``GET`` answers the exposition; with a ``token``, only to ``Authorization: Bearer
    <token>`` (401 otherwise). ``hidden``: 404 to everything (no token on the web UI port)."""

    isLeaf = True

    def __init__(self, scraper: Scraper, token: str, *, hidden: bool = False) -> None:
        super().__init__()
        self.scraper = scraper
        self.token = token.encode("ascii")
        self.hidden = hidden
        self._refused = 0  # refusals not logged yet
        self._logged_at = -REFUSAL_LOG_S

    def render_GET(self, request: Any) -> bytes | int:
        request.setHeader(b"Cache-Control", b"no-store")
        if self.hidden:
            return _plain(request, 404, b"Not Found\n")
        if self.token and not self._authorized(request):
            self._log_refusal(request)
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="ccbox metrics"')
            return _plain(request, 401, b"Unauthorized\n")
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        gone: list[bool] = []
        # A scraper that hangs up early: the answer is dropped, nothing else to undo.
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        d = defer.ensureDeferred(self.scraper.scrape(accept))

        def send(result: tuple[bytes, str]) -> None:
            body, content_type = result
            if not gone:
                request.setHeader(b"Content-Type", content_type.encode("ascii"))
                request.write(body)
                request.finish()

        def failed(failure: Any) -> None:
            log.failure("metrics: the scrape failed", failure)
            if not gone:
                request.setResponseCode(500)
                request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
                request.write(b"the scrape failed: see the daemon's log\n")
                request.finish()

        d.addCallback(send).addErrback(failed)
        return server.NOT_DONE_YET

    def _log_refusal(self, request: Any) -> None:
        """One line a minute at most, with how many were refused since: a peer trying
        tokens cannot fill the log."""
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at < REFUSAL_LOG_S:
            return
        log.info(
            "metrics: {n} scrape(s) refused (no valid bearer token), the last from {peer}",
            n=self._refused,
            peer=getattr(request.getClientAddress(), "host", "?"),
        )
        self._refused, self._logged_at = 0, now

    def _authorized(self, request: Any) -> bool:
        scheme, _, given = (request.getHeader(b"authorization") or b"").partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(given.strip(), self.token)


def _plain(request: Any, code: int, body: bytes) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return body


class _ListenRoot(resource.Resource):
    """The own port: ``/metrics``; ``/`` points there; any other path is 404."""

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"ccbox metrics: /metrics\n"


class _QuietRequest(server.Request):
    """No ``Server: TwistedWeb/x.y`` header: no free hint for a scanner."""

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:
        if (name.encode() if isinstance(name, str) else name).lower() == b"server":
            return
        super().setHeader(name, value)


class _QuietSite(server.Site):
    """No access line per scrape (one every 15 s would fill the log)."""

    noisy = False
    requestFactory = _QuietRequest
    displayTracebacks = False

    def log(self, request: Any) -> None:
        pass


class MetricsService(service.Service):
    """Serves the metrics: on ``[metrics] listen`` (a twisted.web site of its own, on that
    address only) and as ``web_resource`` for the web UI's ``/metrics``."""

    name = "metrics"

    def __init__(self, reactor: Any, config: MetricsConfig, sources: MetricsSources) -> None:
        self.reactor = reactor
        self.config = config
        self.scraper = Scraper(sources)
        self.web_resource = cast(
            IResource, MetricsResource(self.scraper, config.token, hidden=not config.token)
        )
        self.port: Any = None

    def startService(self) -> None:
        super().startService()
        if self.config.listen is None:
            return
        host, port = self.config.listen
        root = _ListenRoot()
        root.putChild(b"metrics", cast(IResource, MetricsResource(self.scraper, self.config.token)))
        site = _QuietSite(root)
        self.port = self.reactor.listenTCP(port, site, interface=host)
        log.info("metrics served on {host}:{port}/metrics", host=host, port=port)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        port, self.port = self.port, None
        if port is None:
            return defer.succeed(None)
        return defer.maybeDeferred(port.stopListening)
