"""The hardware watchdog: fed only while the daemon is healthy, so a sick box gets reset.

Every ``interval_s`` a reactor timer asks the database a cheap query; the target (the
kernel's ``/dev/watchdog`` or a serial board, drivers/serial/watchdog.py) is kicked once
the answer is back within ``db_timeout_s`` and, from ``grace_s`` after the start, the AMI
link is logged in (when ``[ami]`` is enabled) once it has been logged in since this start:
an Asterisk that never comes up after a boot (a bad switch config, which no reset mends)
would otherwise reset the box every ``grace_s`` + the timeout for good; a link lost after
it was up stops the feeding, so a hung switch link resets the box once. The reactor's own
health is in the loop: a reactor that hangs runs no timer and delivers no answer, so it
kicks nothing. When a check fails the watchdog is simply not fed (the board's or driver's
timeout then resets the box); the reason is on the System page, in the health part
``watchdog`` and the log. When the checks pass again, feeding resumes. A clean stop disarms
the target.

systemd's ``WatchdogSec`` (appliance/sdnotify.py) stays the software layer: it restarts a
hung daemon; this resets a box whose daemon cannot get its database or switch back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance.config import WatchdogConfig
from appliance.text import N_
from drivers import health as health_states
from drivers.health import HealthReporter
from drivers.serial.watchdog import DeviceWatchdog, SerialWatchdog

log = Logger()

PART = "watchdog"
STOP_WAIT_S = 2.0  # at a stop, for a kick in flight and for the disarm


class Target(Protocol):
    description: str
    service: Any  # a Service to run beside the watchdog (the serial link), or None

    def kick(self) -> defer.Deferred[None]: ...

    def stop(self) -> defer.Deferred[None]: ...


@dataclass(frozen=True)
class WatchdogStatus:
    """The System page's view of the watchdog."""

    target: str
    feeding: bool
    kicks: int
    last_kick_at: dt.datetime | None
    reason: str  # why it is not feeding ("" while it is)


def make_target(
    reactor: Any, settings: WatchdogConfig, health: HealthReporter | None, clock: Any = None
) -> Target:
    """``/dev/watchdog`` or ``serial:/dev/ttyS1`` (config.py checked the form)."""
    if settings.device.startswith("serial:"):
        return SerialWatchdog(
            reactor,
            settings.device[len("serial:") :],
            baudrate=settings.baudrate,
            health=health,
            clock=clock,
        )
    return DeviceWatchdog(
        reactor, settings.device, longest_gap_s=settings.interval_s + settings.db_timeout_s
    )


def database_check(db: Any) -> Callable[[], defer.Deferred[Any]]:
    """The cheap query: one ``SELECT 1`` through the pool every other read uses (a pool
    with every thread stuck answers late, which is what the check is for)."""
    return lambda: db.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar_one())


class Watchdog(service.MultiService):
    name = PART

    def __init__(
        self,
        reactor: Any,
        settings: WatchdogConfig,
        target: Target,
        *,
        db_check: Callable[[], defer.Deferred[Any]],
        ami: Callable[[], Any] | None = None,
        health: HealthReporter | None = None,
        clock: Any = None,
    ) -> None:
        """``ami``: the AMI client when ``[ami]`` is enabled (read at each check; its
        ``ready`` says logged in), None when it is not (then it is not checked)."""
        super().__init__()
        self.reactor = reactor
        self.clock: Any = clock if clock is not None else reactor
        self.settings = settings
        self.target = target
        self.db_check = db_check
        self.ami = ami
        self.health = health
        self.kicks = 0
        self.last_kick_at: dt.datetime | None = None
        self.reason = N_("not started")
        self._feeding = False
        self._started_at = 0.0
        self._probe_since: float | None = None  # a database check not answered yet
        self._kicking: defer.Deferred[None] | None = None
        self._ami_was_up = False  # the AMI link has been logged in since this start
        if target.service is not None:
            target.service.setServiceParent(self)
        self._loop = task.LoopingCall(self.check)
        self._loop.clock = self.clock

    @property
    def feeding(self) -> bool:
        return self._feeding

    def startService(self) -> None:
        super().startService()
        self._started_at = self.clock.seconds()
        self._ami_was_up = False
        self.reason = N_("starting")
        self._report(
            health_states.STARTING, N_("first check of {target}", target=self.target.description)
        )
        self._loop.start(self.settings.interval_s, now=True)

    def stopService(self) -> defer.Deferred[None]:
        if self._loop.running:
            self._loop.stop()
        return defer.ensureDeferred(self._stop())

    async def _stop(self) -> None:
        # A device write that hangs must not hang the daemon's stop: each wait is bounded.
        if self._kicking is not None:
            await _within(self.clock, self._kicking, STOP_WAIT_S)
        try:
            if await _within(self.clock, self.target.stop(), STOP_WAIT_S):
                log.info("watchdog {target} disarmed (clean stop)", target=self.target.description)
            else:
                log.error(
                    "watchdog {target}: the disarm did not finish", target=self.target.description
                )
        except Exception as exc:
            log.error(
                "watchdog {target}: could not disarm: {exc}",
                target=self.target.description,
                exc=exc,
            )
        self._feeding = False
        self.reason = N_("stopped")
        await super().stopService()

    # ---- one round ---------------------------------------------------------------------------

    def check(self) -> None:
        """Start one round: the database query, then (if it answers in time) the rest."""
        now = self.clock.seconds()
        if self._probe_since is not None:
            waited = now - self._probe_since
            self._not_feeding(
                N_("the database has not answered a query for {seconds} s", seconds=round(waited))
            )
            return
        self._probe_since = now
        timer = self.clock.callLater(self.settings.db_timeout_s, self._too_slow)

        def done(result: object) -> None:
            self._probe_since = None
            if not timer.active():
                return  # too late: this round already stopped feeding
            timer.cancel()
            if isinstance(result, Failure):
                error = result.getErrorMessage()[:200]
                self._not_feeding(N_("the database query failed: {error}", error=error))
            else:
                self._after_database()

        d = defer.maybeDeferred(self.db_check)
        d.addBoth(done)

    def _too_slow(self) -> None:
        self._not_feeding(
            N_(
                "the database did not answer a query within {seconds} s",
                seconds=self.settings.db_timeout_s,
            )
        )

    def _after_database(self) -> None:
        if self.ami is not None:
            in_grace = self.clock.seconds() - self._started_at < self.settings.grace_s
            client = self.ami()
            up = client is not None and bool(client.ready)
            if up and not self._ami_was_up:
                self._ami_was_up = True
                log.info("watchdog: the AMI link is up; from now on it is checked")
            if not up and self._ami_was_up and not in_grace:
                self._not_feeding(N_("the AMI link to Asterisk is down"))
                return
        if self._kicking is not None:
            # The last kick is still being written (a device write that blocks): the target
            # has not been fed since, so the page and the health part must not say it is.
            self._not_feeding(
                N_(
                    "cannot kick {target}: {error}",
                    target=self.target.description,
                    error="the last kick has not finished",
                )
            )
            return
        self._kicking = self.target.kick()
        self._kicking.addCallbacks(self._kicked, self._kick_failed)

    def _kicked(self, _: object) -> None:
        self._kicking = None
        self.kicks += 1
        self.last_kick_at = dt.datetime.now(dt.UTC)
        if not self._feeding:
            after = f" (was not: {self.reason})" if self.kicks > 1 else ""
            log.info(
                "watchdog {target}: feeding{after}", target=self.target.description, after=after
            )
        self._feeding, self.reason = True, ""
        self._report(
            health_states.OK,
            N_(
                "feeding {target} every {seconds} s",
                target=self.target.description,
                seconds=self.settings.interval_s,
            ),
        )

    def _kick_failed(self, failure: Failure) -> None:
        self._kicking = None
        self._not_feeding(
            N_(
                "cannot kick {target}: {error}",
                target=self.target.description,
                error=failure.getErrorMessage(),
            )
        )

    def _not_feeding(self, reason: str) -> None:
        # Logged when it stops feeding or the kind of reason changes, not at every round (a
        # stuck database's "not answered for 5 s, 10 s, ..." is one reason).
        if self._feeding or _kind(reason) != _kind(self.reason):
            log.warn(
                "watchdog {target}: not feeding: {reason}; the box resets unless this clears",
                target=self.target.description,
                reason=reason,
            )
        self._feeding, self.reason = False, reason
        self._report(
            health_states.DOWN,
            N_("not feeding {target}: {reason}", target=self.target.description, reason=reason),
        )

    def _report(self, state: str, detail: str) -> None:
        if self.health is not None:
            self.health.report(PART, state, detail)

    def status(self) -> WatchdogStatus:
        return WatchdogStatus(
            target=self.target.description,
            feeding=self._feeding,
            kicks=self.kicks,
            last_kick_at=self.last_kick_at,
            reason=self.reason,
        )


def _within(clock: Any, d: defer.Deferred[Any], seconds: float) -> defer.Deferred[bool]:
    """Fires with True when ``d`` did within ``seconds`` (raising its failure), else False."""
    done: defer.Deferred[bool] = defer.Deferred()

    def too_late() -> None:
        if not done.called:
            done.callback(False)

    timer = clock.callLater(seconds, too_late)

    def fired(result: object) -> None:
        if timer.active():
            timer.cancel()
        if done.called:
            return
        if isinstance(result, Failure):
            done.errback(result)
        else:
            done.callback(True)

    d.addBoth(fired)
    return done


def _kind(reason: str) -> str:
    """A reason's msgid when it is a message (its numbers left out), else the text."""
    return getattr(reason, "msgid", reason)
