"""The AMI client service: connect, log in, wait for FullyBooted, resynchronize, stay up.

``ClientService`` reconnects with exponential backoff and jitter, capped at a few seconds
(Asterisk is on the same box: it is back as soon as it listens); logging in is its
``prepareConnection`` step, so a wrong secret is retried with a longer cap, never in a
tight loop. Each attempt's outcome goes to the health registry and our log (attempts.py).
After every (re)connect the client waits for ``FullyBooted`` (at most a few
seconds: without ``system`` read it never comes), runs the resync hooks (the call model
reloads channels), and only then reports ready. Until then every action fails at once
with ``NotConnected``. A Ping every ``ping_interval`` seconds that goes unanswered drops
the connection, which starts the next reconnect.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from twisted.application import service
from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger, globalLogPublisher
from twisted.python.failure import Failure

from drivers import health
from drivers.asterisk.ami.attempts import AttemptReporter, connect_failure_reason
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.ami.protocol import (
    DEFAULT_TIMEOUT,
    ActionError,
    ActionTimeout,
    AMIConnectionLost,
    AMIError,
    AMIProtocol,
    ListResult,
    NotAsterisk,
    NotConnected,
)

log = Logger(namespace="ccbox.ami")

EventHandler = Callable[[Message], object]
ResyncHook = Callable[["AMIClient", AMIProtocol], Awaitable[object]]
# Events the client itself needs, whatever the subscribers want.
_OWN_EVENTS = frozenset({"FullyBooted", "Shutdown"})


class LoginFailed(AMIError):
    """Asterisk refused the manager user or secret."""


class AttemptFailed(AMIError):
    """A connection attempt ended before the client was ready (the reason says where)."""


class _ReportingEndpoint:
    """The endpoint, with each failed connect reported before ClientService retries it."""

    def __init__(self, endpoint: Any, failed: Callable[[Failure], None]) -> None:
        self.endpoint = endpoint
        self.failed = failed

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = self.endpoint.connect(factory)

        def report(failure: Failure) -> Failure:
            if not failure.check(defer.CancelledError):  # stopService cancels: no outcome
                self.failed(failure)
            return failure

        return d.addErrback(report)


def _without_retry_lines(event: dict[str, Any]) -> None:
    """ClientService's own "Scheduling retry" line, once per attempt, is left out: each
    attempt's outcome is logged by attempts.py, once per reason and once a minute."""
    if not str(event.get("log_format", "")).startswith("Scheduling retry"):
        globalLogPublisher(event)


class _ClientService(ClientService):
    _log = Logger(namespace="ccbox.ami.client_service", observer=cast(Any, _without_retry_lines))


class _Factory(Factory):
    noisy = False

    def __init__(self, client: AMIClient) -> None:
        self.client = client

    def buildProtocol(self, addr: Any) -> AMIProtocol:
        return self.client.build_protocol()


@dataclass(frozen=True)
class AmiSettings:
    """Where Asterisk's manager listens, and the login (the daemon maps ``[ami]`` to it)."""

    host: str
    port: int
    username: str
    secret: str


class AMIClient(service.Service):
    name = "ami"

    def __init__(
        self,
        reactor: Any,
        config: AmiSettings,
        *,
        health_registry: health.HealthReporter | None = None,
        endpoint: Any = None,
        ping_interval: float = 20.0,
        fully_booted_timeout: float = 5.0,
        action_timeout: float = DEFAULT_TIMEOUT,
        max_backoff: float = 30.0,
        max_retry_delay: float = 2.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.health: health.HealthReporter = health_registry or health.LastReports()
        self.endpoint = endpoint or TCP4ClientEndpoint(reactor, config.host, config.port, timeout=5)
        self.ping_interval = ping_interval
        self.fully_booted_timeout = fully_booted_timeout
        self.action_timeout = action_timeout
        self._handlers: dict[str, list[EventHandler]] = {}
        self._resync_hooks: list[ResyncHook] = []
        self.protocol: AMIProtocol | None = None  # set only while ready
        self._connecting: AMIProtocol | None = None
        self.connects = 0
        # When Asterisk last sent an event or answered a Ping (reactor seconds; None: never).
        self.last_heard: float | None = None
        self._ping: task.LoopingCall | None = None
        self.where = f"{config.host}:{config.port}"
        self._drop_reason: str | None = None  # why we dropped a ready connection ourselves
        # Asterisk is on this box: while it is down or restarting, an attempt every few
        # seconds costs nothing and makes the recovery quick (the log is rate-limited). A
        # refused login is a configuration fault: retried slowly, up to ``max_backoff``.
        self._login_refused = False
        self._quick = backoffPolicy(0.5, max_retry_delay, 2.0, jitter)
        self._slow = backoffPolicy(1.0, max_backoff, 2.0, jitter)
        self.attempts = AttemptReporter(self.health, self.name, self.where, reactor.seconds)
        self._service = _ClientService(
            cast(Any, _ReportingEndpoint(self.endpoint, self._connect_failed)),
            cast(Any, _Factory(self)),
            retryPolicy=self._retry_delay,
            clock=reactor,
            prepareConnection=self._prepare,
        )

    # ---- subscriptions ----------------------------------------------------------------------

    def subscribe(self, events: str | Iterable[str], handler: EventHandler) -> None:
        """Call ``handler(message)`` for each named event. Subscribe before starting:
        the event filter of a connection is fixed when it is made."""
        for name in [events] if isinstance(events, str) else events:
            self._handlers.setdefault(name, []).append(handler)

    def add_resync_hook(self, hook: ResyncHook) -> None:
        """``await hook(client, protocol)`` after every login, before the client is ready."""
        self._resync_hooks.append(hook)

    @property
    def ready(self) -> bool:
        return self.protocol is not None and bool(self.protocol.connected)

    # ---- actions ------------------------------------------------------------------------------

    def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = None
    ) -> defer.Deferred[Message]:
        proto = self._ready_protocol()
        if proto is None:
            return defer.fail(NotConnected(f"{action}: not connected to Asterisk"))
        return proto.send_action(action, headers, timeout or self.action_timeout)

    def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = None
    ) -> defer.Deferred[ListResult]:
        proto = self._ready_protocol()
        if proto is None:
            return defer.fail(NotConnected(f"{action}: not connected to Asterisk"))
        return proto.send_list_action(action, headers, timeout or self.action_timeout)

    def _ready_protocol(self) -> AMIProtocol | None:
        """The connection to use, or None until login and resync are done."""
        return self.protocol if self.ready else None

    # ---- connection lifecycle ----------------------------------------------------------------

    def build_protocol(self) -> AMIProtocol:
        wanted = set(self._handlers) | _OWN_EVENTS
        self._connecting = AMIProtocol(
            self.reactor,
            on_event=self._event_received,
            wanted_events=wanted,
            on_connection_lost=self._connection_lost,
        )
        return self._connecting

    def _prepare(self, _proxy: Any) -> defer.Deferred[None]:
        # ClientService passes a proxy of the protocol; keep the instance itself, so that
        # its connectionLost can be recognised (ClientService makes one attempt at a time).
        proto = self._connecting
        assert proto is not None
        d = defer.ensureDeferred(self._login_and_resync(proto))

        def rejected(failure: Failure) -> Failure:
            # ClientService has no transition for the loss of a connection whose
            # preparation failed (it raises NoTransition from connectionLost, in the Waiting
            # state). It has already counted the attempt as failed and scheduled the retry,
            # so this connection's loss must not be reported to it: detach, then close.
            if hasattr(_proxy, "_lostNotification"):
                _proxy._lostNotification = lambda _reason: None
            proto._abort()
            return failure

        d.addErrback(rejected)
        return d

    async def _login_and_resync(self, proto: AMIProtocol) -> None:
        """One attempt, from the accepted connection to ready; any failure is reported
        with the step it failed at, then raised (ClientService retries)."""
        self.attempts.starting(f"logging in to {self.where}")
        try:
            await self._attempt(proto)
        except LoginFailed as exc:
            self._login_refused = True
            self.attempts.failed(f"login failed: {exc}")
            raise
        except AttemptFailed as exc:
            self._login_refused = False
            self.attempts.failed(str(exc))
            raise
        except Exception as exc:
            self._login_refused = False
            self.attempts.failed(f"failed: {exc}")
            raise
        self.protocol = proto
        self.connects += 1
        self._drop_reason = None  # a Shutdown seen while logging in is not this one's
        self.attempts.succeeded()

    async def _attempt(self, proto: AMIProtocol) -> None:
        try:
            await _with_timeout(self.reactor, proto.banner, self.action_timeout, "banner")
        except AMIConnectionLost:
            raise AttemptFailed("closed before the banner") from None
        except NotAsterisk as exc:
            raise AttemptFailed(str(exc)) from None
        except defer.TimeoutError:
            raise AttemptFailed(f"timed out: no banner within {self.action_timeout:g} s") from None
        try:
            await proto.send_action(
                "Login",
                [
                    ("Username", self.config.username),
                    ("Secret", self.config.secret),
                    ("Events", "on"),
                ],
                self.action_timeout,
            )
        except ActionError as exc:
            raise LoginFailed(str(exc.response.get("Message", "refused"))) from None
        except AMIConnectionLost:
            raise AttemptFailed("closed before login") from None
        except ActionTimeout:
            raise AttemptFailed(
                f"timed out: no answer to Login within {self.action_timeout:g} s"
            ) from None
        try:
            await _with_timeout(
                self.reactor, proto.fully_booted, self.fully_booted_timeout, "FullyBooted"
            )
        except defer.TimeoutError:
            log.warn(
                "no FullyBooted within {t} s (does the manager user have system read?); going on",
                t=self.fully_booted_timeout,
            )
        except AMIConnectionLost:
            raise AttemptFailed("closed after login") from None
        for hook in self._resync_hooks:
            try:
                await hook(self, proto)
            except AMIConnectionLost:
                raise AttemptFailed("closed during the resync") from None
            except ActionTimeout as exc:
                raise AttemptFailed(f"timed out in the resync: {exc}") from None
            except Exception as exc:
                log.failure("AMI resync hook {h!r} failed", h=hook)
                raise AttemptFailed(f"resync failed: {exc}") from None

    def _retry_delay(self, failed_attempts: int) -> float:
        policy = self._slow if self._login_refused else self._quick
        return float(policy(failed_attempts))

    def _connect_failed(self, failure: Failure) -> None:
        self._login_refused = False
        self.attempts.failed(connect_failure_reason(failure))

    def _connection_lost(self, proto: AMIProtocol) -> None:
        if proto is self.protocol:
            self.protocol = None
            why = proto.lost_reason.getErrorMessage() if proto.lost_reason else "closed"
            self.attempts.lost(self._drop_reason or f"connection lost: {why}")
            self._drop_reason = None

    def _event_received(self, msg: Message) -> None:
        self.last_heard = self.reactor.seconds()
        name = msg.event or ""
        if name == "Shutdown":
            log.warn("Asterisk is shutting down ({how})", how=msg.get("Shutdown", "?"))
            restart = (msg.get("Restart") or "").lower() == "true"
            self._drop_reason = "Asterisk restarting" if restart else "Asterisk shut down"
        for handler in self._handlers.get(name, ()):
            try:
                handler(msg)
            except Exception:
                log.failure("AMI handler {h!r} failed on {name}", h=handler, name=name)

    def _send_ping(self) -> None:
        proto = self.protocol
        if proto is None or not self.ready:
            return
        d = proto.send_action("Ping", timeout=self.ping_interval / 2)
        d.addCallback(self._pong)

        def no_pong(failure: Any) -> None:
            if proto is self.protocol and failure.check(AMIError):
                self._drop_reason = "no answer to Ping: connection dropped"
                proto._abort()

        d.addErrback(no_pong)

    def _pong(self, _response: Message) -> None:
        self.last_heard = self.reactor.seconds()

    # ---- service ------------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        self.health.report(self.name, health.STARTING, "connecting")
        self._service.startService()
        self._ping = task.LoopingCall(self._send_ping)
        self._ping.clock = self.reactor
        self._ping.start(self.ping_interval, now=False)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        if self._ping is not None and self._ping.running:
            self._ping.stop()
        self.protocol = None
        d: defer.Deferred[None] = self._service.stopService()
        return d


def _with_timeout(
    clock: Any, d: defer.Deferred[Any], seconds: float, what: str
) -> defer.Deferred[Any]:
    """Wait for ``d`` at most ``seconds``, without cancelling ``d`` itself."""
    waiter: defer.Deferred[Any] = defer.Deferred()

    def expire() -> None:
        if not waiter.called:
            waiter.errback(defer.TimeoutError(f"no {what} within {seconds:g} s"))

    timer = clock.callLater(seconds, expire)

    def settle(result: Any) -> Any:
        if not waiter.called:
            timer.cancel()
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)
        return result

    d.addBoth(settle)
    return waiter
