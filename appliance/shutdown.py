"""A stop that drops no caller: what ccboxd does with its calls on SIGTERM (an upgrade,
``systemctl restart``) before the service tree goes down.

1. No new call: the FastAGI port closes, so Asterisk's ``AGI()`` fails at once and the
   generated dialplan plays its "no service" fallback (drivers/asterisk/confgen.py).
2. The calls in progress get ``[shutdown] grace_s`` to end by themselves: agents keep
   answering the queues meanwhile. Each session knows when the grace ends
   (``handoff_due``): the queue rings no agent past it (acd/caller.py).
3. Then every caller still in the IVR or waiting in a queue is handed back to the dialplan
   (``AGISessionProtocol.hand_off``: ``CCBOX_HANDOFF=1``, the AGI ends), which sends it to
   ``[ccbox-handoff]``: a message, voicemail or an extension of the old PBX. Its calls row
   says ``handed_off``.
4. A session busy in the switch (a Dial bridged to an agent; a ring that ends in the next
   ``settle_s``) is waited for up to ``settle_s``; a ring that ends unanswered is handed
   off by its route, and whatever is still in the switch then is left running: its row
   stays open (the ``left_running`` event) and the next start adopts it from the AMI resync
   (appliance/call_rows.py), closing it when the channel hangs up.

Calls bridged to an agent need no grace: once every call left is one (the ACD saw the
answer), steps 2 and 4 end at once, and a restart with only talks in progress takes no
longer than one without calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

if TYPE_CHECKING:
    from drivers.asterisk.agi.server import FastAGIServer
    from drivers.asterisk.agi.session import AGISessionProtocol

log = Logger(namespace="ccbox.shutdown")

# How long a session busy in the switch at the end of the grace (a Dial) is waited for:
# a ring capped to end by then returns; a bridged call does not.
SETTLE_S = 2.0
POLL_S = 0.5  # how often the stop asks whether every call left is bridged


def never_bridged(session: AGISessionProtocol) -> bool:
    return False


@dataclass(frozen=True)
class StopReport:
    """What became of the calls in progress at the stop."""

    in_progress: int = 0  # sessions when the stop began
    ended: int = 0  # ended by themselves (within the grace)
    handed_off: int = 0  # given back to the dialplan's hand-off (at the grace's end or before)
    left_running: int = 0  # bridged to an agent: left to the switch, adopted at next start


def ended_within(
    clock: Any,
    sessions: Iterable[AGISessionProtocol],
    seconds: float,
    enough: Callable[[], bool] = lambda: False,
) -> defer.Deferred[None]:
    """Fires when every one of ``sessions`` has ended, or ``enough()`` says so (asked every
    POLL_S), or after ``seconds``, whichever is first (the sessions' own Deferreds are left
    alone)."""
    waiting = [s for s in sessions if not s.ended.called]
    done: defer.Deferred[None] = defer.Deferred()
    timers: list[Any] = []

    def finish() -> None:
        if not done.called:
            for timer in timers:
                if timer.active():
                    timer.cancel()
            done.callback(None)

    def one_ended(result: object) -> object:
        if all(s.ended.called for s in waiting):
            finish()
        return result

    def poll() -> None:
        if enough():
            finish()
        elif not done.called:
            timers.append(clock.callLater(POLL_S, poll))

    if not waiting or enough():
        finish()
        return done
    timers.append(clock.callLater(max(0.0, seconds), finish))
    timers.append(clock.callLater(POLL_S, poll))
    for s in waiting:
        s.ended.addBoth(one_ended)
    return done


class GracefulStop:
    """Runs steps 1-4 above once, on ``server``'s sessions."""

    def __init__(
        self,
        clock: Any,
        server: FastAGIServer,
        grace_s: float,
        settle_s: float = SETTLE_S,
        bridged: Callable[[AGISessionProtocol], bool] = never_bridged,
    ) -> None:
        """``bridged(session)``: the session's caller talks to an agent (the ACD saw the
        answer): once every call left is so, the grace and the settle end early, as such a
        call is left to the switch anyway."""
        self.clock = clock
        self.server = server
        self.grace_s = grace_s
        self.settle_s = settle_s
        self.bridged = bridged

    async def run(self) -> StopReport:
        due = self.clock.seconds() + self.grace_s
        closing = self.server.stop_listening()
        for session in self.server.factory.sessions:
            session.handoff_due = due  # from now on: no ring runs past it (acd/caller.py)
        await closing
        sessions = list(self.server.factory.sessions)  # with any accepted meanwhile
        if not sessions:
            return StopReport()
        for session in sessions:
            session.handoff_due = due
        log.info(
            "stopping: no new calls; {n} in progress get {g} s to end",
            n=len(sessions),
            g=self.grace_s,
        )
        await ended_within(
            self.clock,
            sessions,
            self.grace_s,
            lambda: all(s.closed or self.bridged(s) for s in sessions),
        )
        live = [s for s in sessions if not s.closed]
        now = self.clock.seconds()
        for session in live:
            session.handoff_due = min(due, now)  # a ring coming back hands itself off
            if not session.in_switch:
                session.hand_off()
        await ended_within(
            self.clock,
            live,
            self.settle_s,
            lambda: all(s.closed or (s.in_switch and self.bridged(s)) for s in live),
        )
        left = 0
        for session in live:
            if not session.closed and session.in_switch:
                session.leave_running()
                left += 1
            elif not (session.closed or session.handed_off):  # back from the switch
                session.hand_off()
        handed_off = sum(1 for s in sessions if s.handed_off)  # here, or by their route
        report = StopReport(
            in_progress=len(sessions),
            ended=len(sessions) - handed_off - left,
            handed_off=handed_off,
            left_running=left,
        )
        log.info(
            "stop: of {n} calls in progress {e} ended, {h} handed off to the dialplan, "
            "{l} left running in the switch (the next start adopts them)",
            n=report.in_progress,
            e=report.ended,
            h=report.handed_off,
            l=report.left_running,
        )
        return report
