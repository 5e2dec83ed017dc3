"""What became of each AMI connection attempt: said on the health registry, and in our log.

Every attempt ends in one outcome: ready, or down with the reason (refused, timed out,
closed before the banner, closed before login, login failed, ...). The health part keeps the
last outcome until the next one, so the status page never shows an outage as "starting".
The log says the first failure at once, a changed reason at once, and the same reason again
at most once a ``quiet`` period with the count of attempts since, so an Asterisk that stays
down for a night writes a line a minute, not one per retry.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, error
from twisted.logger import Logger
from twisted.python.failure import Failure

from drivers import health

log = Logger(namespace="ccbox.ami")


def connect_failure_reason(failure: Failure) -> str:
    """The reason a TCP connect failed, in the words the status page shows."""
    if failure.check(error.ConnectionRefusedError):
        return "connection refused"
    if failure.check(error.TimeoutError, error.TCPTimedOutError, defer.TimeoutError):
        return "timed out connecting"
    if failure.check(error.DNSLookupError):
        return "host name not found"
    return f"cannot connect: {failure.getErrorMessage()}"


class AttemptReporter:
    """Reports the outcome of each attempt to connect to ``where``."""

    def __init__(
        self,
        registry: health.HealthReporter,
        part: str,
        where: str,
        clock: Callable[[], float],
        quiet: float = 60.0,
    ) -> None:
        self.registry = registry
        self.part = part
        self.where = where
        self.clock = clock
        self.quiet = quiet
        self.failures = 0  # attempts failed since the last success
        self._logged_reason: str | None = None
        self._logged_at = 0.0
        self._unlogged = 0

    def starting(self, detail: str) -> None:
        """Progress of an attempt: shown only until the first outcome is known."""
        part = self.registry.get(self.part)
        if part is None or part.state == health.STARTING:
            self.registry.report(self.part, health.STARTING, detail)

    def failed(self, reason: str) -> None:
        """An attempt failed (the client retries): the part is down, with the reason."""
        self.failures += 1
        self.registry.report(self.part, health.DOWN, f"{reason} ({self.where}); retrying")
        now = self.clock()
        if reason != self._logged_reason or now - self._logged_at >= self.quiet:
            more = f" ({self._unlogged} more attempts since)" if self._unlogged else ""
            log.warn(
                "AMI {where}: {reason}{more}; retrying", where=self.where, reason=reason, more=more
            )
            self._logged_reason, self._logged_at, self._unlogged = reason, now, 0
        else:
            self._unlogged += 1

    def lost(self, reason: str) -> None:
        """A ready connection dropped: down until an attempt succeeds again."""
        self.registry.report(self.part, health.DOWN, f"{reason} ({self.where}); reconnecting")
        log.warn("AMI {where}: {reason}; reconnecting", where=self.where, reason=reason)
        self._logged_reason, self._logged_at, self._unlogged = reason, self.clock(), 0

    def succeeded(self) -> None:
        self.registry.report(self.part, health.OK, f"connected to {self.where}")
        after = f" after {self.failures} failed attempts" if self.failures else ""
        log.info("AMI ready on {where}{after}", where=self.where, after=after)
        self.failures = 0
        self._logged_reason, self._unlogged = None, 0
