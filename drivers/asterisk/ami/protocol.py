"""The AMI protocol over one connection: actions correlated by ActionID, events dispatched.

Every action returns a Deferred that fires with its response, fails with ``ActionError``
on ``Response: Error``, with ``ActionTimeout`` when no answer comes in time, and with
``AMIConnectionLost`` when the connection drops. List actions (CoreShowChannels, Status,
QueueStatus, DeviceStateList, ...) collect their item events until the event carrying
``EventList: Complete``; nothing is guessed from message text.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from drivers.asterisk.ami.codec import Message, Parser, ProtocolError, encode_action

log = Logger(namespace="ccbox.ami")
DEFAULT_TIMEOUT = 10.0


class AMIError(Exception):
    """Base of every AMI failure an action can end with."""


class ActionError(AMIError):
    """Asterisk answered ``Response: Error`` (the message says why)."""

    def __init__(self, action: str, response: Message) -> None:
        self.action = action
        self.response = response
        super().__init__(f"{action}: {response.get('Message', 'error')}")


class ActionTimeout(AMIError):
    def __init__(self, action: str, timeout: float) -> None:
        super().__init__(f"{action}: no answer from Asterisk within {timeout:g} s")


class AMIConnectionLost(AMIError):
    """The connection dropped before the answer came."""


class NotAsterisk(AMIError):
    """The peer's first line is not an Asterisk manager banner."""


class NotConnected(AMIError):
    """No usable AMI connection right now (connecting, logging in or resynchronizing)."""


@dataclass
class ListResult:
    response: Message
    events: list[Message]
    complete: Message


@dataclass
class _Pending:
    action: str
    deferred: defer.Deferred[Any]
    is_list: bool
    timer: Any = None  # an IDelayedCall
    response: Message | None = None
    items: list[Message] = field(default_factory=list)

    def stop_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()


class AMIProtocol(protocol.Protocol):
    """One AMI session. ``on_event`` receives every event that is not a list item."""

    def __init__(
        self,
        clock: IReactorTime,
        on_event: Callable[[Message], object] | None = None,
        wanted_events: Iterable[str] | None = None,
        action_id_prefix: str = "ccbox-",
        max_message_bytes: int | None = None,
        on_connection_lost: Callable[[AMIProtocol], object] | None = None,
    ) -> None:
        self.clock: Any = clock  # zope interfaces confuse mypy without its plugin
        self.on_event = on_event or (lambda _msg: None)
        self.on_connection_lost = on_connection_lost
        kwargs = {"max_message_bytes": max_message_bytes} if max_message_bytes else {}
        self.parser = Parser(wanted_events, **kwargs)
        self.prefix = action_id_prefix
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self.banner: defer.Deferred[str] = defer.Deferred()
        self.fully_booted: defer.Deferred[Message] = defer.Deferred()
        self.connected = False
        self.stale_responses = 0
        self.lost_reason: Failure | None = None  # why the connection ended

    # ---- Twisted ------------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.connected = True

    def dataReceived(self, data: bytes) -> None:
        had_banner = self.parser.banner is not None
        try:
            for msg in self.parser.iter_feed(data):
                if not had_banner:
                    had_banner = True
                    self._banner_received()
                self._dispatch(msg)
            if not had_banner and self.parser.banner is not None:
                self._banner_received()
        except ProtocolError as exc:
            log.error("AMI stream broken, dropping the connection: {err}", err=exc)
            self._abort()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.connected = False
        self.lost_reason = reason
        pending, self._pending = self._pending, {}
        for p in pending.values():
            p.stop_timer()
            p.deferred.errback(AMIConnectionLost(f"{p.action}: connection lost"))
        for d in (self.banner, self.fully_booted):
            if not d.called:
                d.errback(AMIConnectionLost("connection lost"))
                d.addErrback(lambda _f: None)  # nobody may be waiting on these any more
        if self.on_connection_lost is not None:
            self.on_connection_lost(self)

    # ---- sending -------------------------------------------------------------------------

    def send_action(
        self,
        action: str,
        headers: Iterable[tuple[str, str]] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> defer.Deferred[Message]:
        """Send one action; the Deferred fires with its response message."""
        return self._send(action, headers, timeout, is_list=False)

    def send_list_action(
        self,
        action: str,
        headers: Iterable[tuple[str, str]] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> defer.Deferred[ListResult]:
        """Send an action answered by an event list; fires when the list is complete."""
        return self._send(action, headers, timeout, is_list=True)

    def _send(
        self, action: str, headers: Iterable[tuple[str, str]], timeout: float, is_list: bool
    ) -> defer.Deferred[Any]:
        if not self.connected or self.transport is None:
            return defer.fail(NotConnected(f"{action}: not connected to Asterisk"))
        action_id = f"{self.prefix}{next(self._ids)}"
        try:
            data = encode_action(action, headers, action_id)
        except ValueError as exc:
            return defer.fail(exc)
        d: defer.Deferred[Any] = defer.Deferred()
        pending = _Pending(action, d, is_list)
        pending.timer = self.clock.callLater(timeout, self._timed_out, action_id, timeout)
        self._pending[action_id] = pending
        cast(Any, self.transport).write(data)
        return d

    def _timed_out(self, action_id: str, timeout: float) -> None:
        p = self._pending.pop(action_id, None)
        if p is not None:
            p.deferred.errback(ActionTimeout(p.action, timeout))

    # ---- receiving -----------------------------------------------------------------------

    def _banner_received(self) -> None:
        banner = self.parser.banner or ""
        if not banner.startswith("Asterisk Call Manager/"):
            log.error("not an Asterisk manager: banner {banner!r}", banner=banner[:80])
            if not self.banner.called:
                self.banner.errback(NotAsterisk(f"not an Asterisk manager: {banner[:40]!r}"))
                self.banner.addErrback(lambda _f: None)  # in case nobody waits on it
            self._abort()
            return
        if not self.banner.called:
            self.banner.callback(banner)

    def _dispatch(self, msg: Message) -> None:
        event = msg.event
        action_id = msg.action_id
        if event is not None:
            p = self._pending.get(action_id) if action_id else None
            if p is not None and p.is_list and p.response is not None:
                if (msg.get("EventList") or "").lower() == "complete":
                    self._finish(action_id, ListResult(p.response, p.items, msg))  # type: ignore[arg-type]
                else:
                    p.items.append(msg)
                return
            if event == "FullyBooted" and not self.fully_booted.called:
                self.fully_booted.callback(msg)
            self.on_event(msg)
            return
        if msg.response is None:
            log.warn("AMI message with neither Event nor Response ignored")
            return
        p = self._pending.get(action_id) if action_id else None
        if p is None:
            self.stale_responses += 1
            log.info("response to unknown or expired ActionID {aid!r} ignored", aid=action_id)
            return
        if msg.response == "Error":
            self._finish(action_id, ActionError(p.action, msg))  # type: ignore[arg-type]
        elif p.is_list and (msg.get("EventList") or "").lower() == "start":
            p.response = msg
        elif p.is_list:
            self._finish(action_id, ListResult(msg, [], msg))  # type: ignore[arg-type]
        else:
            self._finish(action_id, msg)  # type: ignore[arg-type]

    def _finish(self, action_id: str, outcome: object) -> None:
        """End a pending action: an exception fails it, anything else is its result."""
        p = self._pending.pop(action_id)
        p.stop_timer()
        if isinstance(outcome, Exception):
            p.deferred.errback(outcome)
        else:
            p.deferred.callback(outcome)

    def _abort(self) -> None:
        if self.transport is not None:
            cast(Any, self.transport).abortConnection()
