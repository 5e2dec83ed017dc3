"""A real reactor whose clock runs ``speed`` times faster than the wall's.

Sockets, threads and the database are real; only time is compressed: the wait for the next
timer is divided by ``speed`` and counted ``speed`` times, so a call that rings 20 s, talks
3 minutes and wraps up 10 s takes a few seconds. Everything in the process that schedules
through the reactor (the ACD's timers, the switch simulator's callers, AMI keepalives,
FastAGI timeouts) lives on the same compressed clock. What does not (``datetime.now()`` in
the rows, thread pool work) runs on the wall's: a database write of 5 ms takes
``5 * speed`` ms of simulated time.

One correction keeps a compressed day faithful: the time the reactor spends running code
between two waits (a stretch) counts at most ``max_stretch_s`` of wall time. Without it a
garbage collection or a burst of the simulated switch's own work (200 ms, nothing on a
real box's 10 s margins) would become 12 simulated seconds at 60x, and the ACD's invariant
watch would see agents ringing or on calls far longer than they were. The longest stretch
is kept (``longest_stretch_s``) and reported, so a reactor that really blocks still shows.
Likewise a wait that ends late because other processes had the CPU counts as the wait the
reactor asked for: the soak measures ccboxd, not the load of the machine it runs on.

``install(speed)`` must run before anything imports ``twisted.internet.reactor``.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet.epollreactor import EPollReactor

MAX_STRETCH_S = 0.02


class _TimedPoller:
    """The epoll object, with the time spent waiting in ``poll`` credited to the clock."""

    def __init__(self, poller: Any, reactor: WarpReactor) -> None:
        self._poller = poller
        self._reactor = reactor

    def poll(self, timeout: float = -1, maxevents: int = -1) -> Any:
        r = self._reactor
        r._charge()
        r.longest_stretch_s = max(r.longest_stretch_s, r._stretch)
        started = time.monotonic()
        try:
            return self._poller.poll(timeout, maxevents)
        finally:
            now = time.monotonic()
            waited = now - started
            if timeout is not None and timeout >= 0:
                # woken late (the machine's other processes had the CPU): the wait asked for
                waited = min(waited, timeout + r.max_stretch_s)
            r._sim += waited * r.speed
            r._mark, r._stretch = now, 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._poller, name)


class WarpReactor(EPollReactor):
    def __init__(self, speed: float, max_stretch_s: float = MAX_STRETCH_S) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.max_stretch_s = max_stretch_s
        self.longest_stretch_s = 0.0
        self._sim = time.time()
        self._mark = time.monotonic()
        self._stretch = 0.0  # wall seconds run since the last wait
        super().__init__()
        self._poller = _TimedPoller(self._poller, self)  # type: ignore[assignment]

    def _charge(self) -> None:
        now = time.monotonic()
        ran = now - self._mark
        self._mark = now
        credit = min(ran, max(0.0, self.max_stretch_s - self._stretch))
        self._stretch += ran
        self._sim += credit * self.speed

    def seconds(self) -> float:
        self._charge()
        return self._sim

    def timeout(self) -> float | None:
        wait = super().timeout()
        return None if wait is None else wait / self.speed


def install(speed: float) -> WarpReactor:
    from twisted.internet.main import installReactor

    reactor = WarpReactor(speed)
    installReactor(reactor)
    return reactor
