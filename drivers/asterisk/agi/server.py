"""The FastAGI server: Asterisk connects once per call; a route runs the call.

Routes are an allowlist keyed by ``agi_network_script`` without its query string; an
unknown script gets ``HANGUP`` and the connection closes. Connections from addresses not
allowed (loopback by default: FastAGI has no authentication) are closed before a byte is
read. Every session is tracked until its socket closes, so leaks show on the status page.

Past ``limits.max_sessions`` a connection is closed at once, and a header that is late, too
big or not Asterisk's is refused (limits.py, codec.HeaderParser): each refusal is logged
(rate-limited) and shows on the health page, and Asterisk plays the dialplan's fallback.
A route runs only once the session mark is answered: a caller name that ended the header
early (``Bob\\n\\nagi_...``) has shown itself by then (``session.refusal``), and the mark is
cleared again so that the fallback plays.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from twisted.application import service
from twisted.internet import defer
from twisted.internet.protocol import Factory
from twisted.logger import Logger

from drivers import health
from drivers.asterisk.agi.limits import FastAGILimits, HeaderBudget, Refusals
from drivers.asterisk.agi.missing_sounds import MissingSounds
from drivers.asterisk.agi.session import AGIConnectionLost, AGISessionProtocol, DeadChannel

log = Logger(namespace="ccbox.fastagi")
Route = Callable[[AGISessionProtocol], Awaitable[object]]
BACKLOG = 1024
# Set first in every session a route takes: the generated dialplan (confgen.py) plays its
# "no service" fallback after AGI() only when this is missing, i.e. ccboxd never took the
# call. AGISTATUS cannot tell: it is FAILURE after any failed command (a missing sound).
SESSION_MARK = "CCBOX_AGI"


STOP_WAIT_S = 5.0


class FastAGIFactory(Factory):
    noisy = False

    def __init__(
        self,
        clock: Any,
        routes: dict[str, Route],
        allowed: Iterable[str] = ("127.0.0.1", "::1"),
        missing_sounds: MissingSounds | None = None,
        limits: FastAGILimits | None = None,
        refusals: Refusals | None = None,
    ) -> None:
        self.clock = clock
        self.routes = routes
        self.missing_sounds = missing_sounds or MissingSounds()
        self.limits = limits or FastAGILimits()
        self.header_budget = HeaderBudget(self.limits.header_bytes_in_flight)
        self.refusals = refusals or Refusals(clock)
        self.allowed = [ipaddress.ip_network(a, strict=False) for a in allowed]
        self.sessions: set[AGISessionProtocol] = set()
        self.handlers: set[defer.Deferred[Any]] = set()  # routes still running
        self.total = 0
        self.refused = 0

    def buildProtocol(self, addr: Any) -> AGISessionProtocol | None:
        host = getattr(addr, "host", None)
        try:
            ip = ipaddress.ip_address(host) if host is not None else None
        except ValueError:
            ip = None
        if ip is None or not any(ip in net for net in self.allowed):
            self.refused += 1
            log.warn("FastAGI connection from {host} refused: not an allowed address", host=host)
            return None  # Twisted closes the connection
        if len(self.sessions) >= self.limits.max_sessions:
            self.refusals.refused(
                "sessions", f"{len(self.sessions)} sessions open, the cap (max_sessions)"
            )
            return None  # closed at once: its descriptor is free again
        proto = AGISessionProtocol(
            self.clock,
            self._session_ready,
            self.missing_sounds.report,
            limits=self.limits,
            header_budget=self.header_budget,
            on_refused=self.refusals.refused,
        )
        self.sessions.add(proto)
        self.total += 1
        proto.ended.addBoth(lambda _: self.sessions.discard(proto))
        return proto

    def _session_ready(self, session: AGISessionProtocol) -> None:
        assert session.env is not None
        script = session.env.script.split("?", 1)[0].strip("/")
        route = self.routes.get(script)
        if route is None:
            log.warn(
                "unknown FastAGI script {script!r} from {channel}: hanging up",
                script=script[:80],
                channel=session.env.channel[:80],
            )
            d = session.command("HANGUP")
            d.addBoth(lambda _: session.close())
            return
        # The first command; Asterisk answers it even on a dead channel. The route starts
        # at its reply: a session lost meanwhile never runs the route, and one whose header
        # went on after its end (session.refusal) gets the mark cleared and is closed.
        mark = session.command("SET VARIABLE", SESSION_MARK, '"1"')
        mark.addCallbacks(lambda _: self._start(session, route, script), lambda _: None)

    def _start(self, session: AGISessionProtocol, route: Route, script: str) -> None:
        if session.closed or session.handed_off:
            return  # lost, or handed back to the dialplan (a stop) before the route began
        if session.refusal is not None:
            unmark = session.command("SET VARIABLE", SESSION_MARK, '""')
            unmark.addBoth(lambda _: session.close())
            return
        d: defer.Deferred[Any] = defer.ensureDeferred(route(session))  # type: ignore[arg-type]
        self.handlers.add(d)

        def ended(result: Any) -> None:
            self.handlers.discard(d)
            if isinstance(result, defer.Failure) and not result.check(
                DeadChannel, AGIConnectionLost
            ):
                log.failure(
                    "FastAGI route {script} failed on {channel}",
                    result,
                    script=script,
                    channel=session.env.channel if session.env else "?",
                )
            session.close()

        d.addBoth(ended)


class FastAGIServer(service.Service):
    name = "fastagi"

    def __init__(
        self,
        reactor: Any,
        bind: str,
        port: int,
        routes: dict[str, Route],
        *,
        health_registry: health.HealthReporter | None = None,
        allowed: Iterable[str] = ("127.0.0.1", "::1"),
        limits: FastAGILimits | None = None,
    ) -> None:
        self.reactor = reactor
        self.bind, self.port_number_wanted = bind, port
        self.health: health.HealthReporter = health_registry or health.LastReports()
        self.refusals = Refusals(reactor, self.health, self._state)
        self.factory = FastAGIFactory(
            reactor, routes, allowed, MissingSounds(self.health), limits, self.refusals
        )
        self.port: Any = None

    def _listening(self) -> str:
        return f"listening on {self.bind}:{self.port_number}"

    def _state(self) -> tuple[str, str]:
        """The part's state without refusals: listening, or stopping (stop_listening)."""
        if self.port is None:
            return health.DEGRADED, "stopping: no new calls"
        return health.OK, self._listening()

    @property
    def port_number(self) -> int:
        return int(self.port.getHost().port) if self.port else 0

    def startService(self) -> None:
        super().startService()
        # A burst of calls (a trunk coming back, an E1 full of callers) connects at once;
        # Twisted's default backlog of 50 drops the rest and Asterisk gives up after 2 s.
        self.port = self.reactor.listenTCP(
            self.port_number_wanted, self.factory, backlog=BACKLOG, interface=self.bind
        )
        self.health.report(self.name, health.OK, self._listening())
        log.info("FastAGI listening on {bind}:{port}", bind=self.bind, port=self.port_number)

    def stop_listening(self) -> defer.Deferred[None]:
        """No new session from now on: Asterisk's AGI() fails at once and the dialplan
        plays its fallback (a stopping ccboxd, appliance/shutdown.py); sessions go on."""
        port, self.port = self.port, None
        if port is None:
            return defer.succeed(None)
        self.health.report(self.name, health.DEGRADED, "stopping: no new calls")
        return defer.maybeDeferred(port.stopListening).addCallback(lambda _: None)

    def stopService(self) -> defer.Deferred[None]:
        """Stop listening, close every session, and wait (up to STOP_WAIT_S) for the routes
        to finish what a lost session leaves them (writing the call down), so the services
        stopped after this one (the database) still take their work."""
        super().stopService()
        self.refusals.stop()
        for session in list(self.factory.sessions):
            session.close()
        running = defer.DeferredList(list(self.factory.handlers), consumeErrors=True)
        running.addTimeout(STOP_WAIT_S, self.reactor)
        running.addErrback(lambda f: log.warn("FastAGI routes still running at stop: {f}", f=f))
        if self.port is not None:
            stopped = defer.maybeDeferred(self.port.stopListening)
            running.addCallback(lambda _: stopped)
        return running.addCallback(lambda _: None)
