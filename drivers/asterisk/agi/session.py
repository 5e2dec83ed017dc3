"""One FastAGI connection = one call: the protocol and the typed command API on top of it.

Asterisk runs one command at a time, so commands queue here and go out one by one; each
returns a Deferred of its parsed reply. The unsolicited ``HANGUP`` line (which can arrive
before the reply to the command in progress, as the traces show) only marks the session
hung up. After it, channel commands answer 511 and raise ``DeadChannel``; GET VARIABLE
and VERBOSE still work. A socket closed mid-command fails the command with
``AGIConnectionLost`` and ends the session.

A ``result=-1`` alone never proves the caller left: a sound the switch does not have answers
the same, with the channel still up. ``caller_left`` is the one place that tells the two
apart, for every route on the session.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet import defer
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from drivers.asterisk.agi.codec import (
    MAX_LINE,
    AGIEnvironment,
    AGIProtocolError,
    AGIResult,
    HeaderParser,
    ReplyParser,
    command_line,
    text,
    token,
)
from drivers.asterisk.agi.limits import FastAGILimits, HeaderBudget

DEFAULT_TIMEOUT = 30.0
log = Logger(namespace="ccbox.fastagi")


class AGIError(Exception):
    """Base of the errors an AGI command can end with."""


class DeadChannel(AGIError):
    """511: the caller hung up; only variable commands and VERBOSE still work."""


class AGICommandError(AGIError):
    """510 (unknown command) or 520 (wrong usage)."""

    def __init__(self, line: str, result: AGIResult) -> None:
        self.result = result
        super().__init__(f"{line.strip()}: {result.code} {result.text.splitlines()[0]}")


class AGITimeout(AGIError):
    pass


class AGIConnectionLost(AGIError):
    pass


class RecordFileError(AGIError):
    """RECORD FILE answered ``(writefile)``: Asterisk could not create the file (a full
    disk, a missing folder, permissions). Nothing was recorded; the caller is still there."""


@dataclass(frozen=True)
class Playback:
    """STREAM FILE / SAY: the digit pressed (None when none) and where playback stopped."""

    digit: str | None
    endpos: int
    failed: bool  # result -1: a missing sound (``missing``), or the caller hung up
    missing: bool = False  # the switch has no such sound; the caller is still there


@dataclass(frozen=True)
class Digits:
    digits: str
    timed_out: bool
    hung_up: bool


@dataclass(frozen=True)
class Recording:
    digit: str | None
    timed_out: bool
    hung_up: bool
    endpos: int


@dataclass
class _Command:
    line: bytes
    timeout: float
    deferred: defer.Deferred[AGIResult]


class Interrupted(AGIError):
    """The playback was cut short by ``interrupt``: its reply will never come."""


# Asterisk watches the socket during these, and a new command stops them (PROTOCOL.md).
_INTERRUPTIBLE = (
    b"STREAM FILE ",
    b"CONTROL STREAM FILE ",
    b"GET DATA ",
    b"GET OPTION ",
    b"SAY ",
    b"WAIT FOR DIGIT ",  # answers 1 when cut (res_agi.c): a stale reply the marker drops
)
# Commands during which Asterisk does not read the socket (the call is busy in the switch:
# a Dial ringing or bridged, a recording): nothing sent meanwhile reaches it before they end.
_DEAF = (b"EXEC ", b"RECORD FILE ")
# Set on the channel by ``hand_off``: the generated dialplan sends the caller to its
# hand-off after AGI() (drivers/asterisk/confgen.py).
HANDOFF_MARK = "CCBOX_HANDOFF"
# The command that cuts a playback short: GET FULL VARIABLE of a literal answers
# ``200 result=1 (<the literal>)``, which no playback reply can be, even on a dead channel.
_SYNC = "ccbox-sync-"


class AGISessionProtocol(LineOnlyReceiver):
    """Reads the header, then hands the session to ``on_ready(self)``.

    The header must come whole within ``limits.header_timeout_s`` and
    ``limits.header_max_bytes`` (and the shared ``header_budget``), in Asterisk's order
    (codec.HeaderParser). A refused session is reported to ``on_refused(reason, message)``
    (logged here without one) and closed. ``refusal`` also catches the header that a value
    ended early (a caller name holding ``\\n\\n``): Asterisk sends nothing before the reply to
    the first command, so anything else in between is the rest of the header; the session
    then says why in ``refusal`` and its owner must not run the call on that header.
    """

    delimiter = b"\n"
    MAX_LENGTH = MAX_LINE

    def __init__(
        self,
        clock: Any,
        on_ready: Callable[[AGISessionProtocol], object],
        on_missing_sound: Callable[[str], object] | None = None,
        *,
        limits: FastAGILimits | None = None,
        header_budget: HeaderBudget | None = None,
        on_refused: Callable[[str, str], object] | None = None,
    ) -> None:
        self.clock = clock
        self.on_ready = on_ready
        self.on_missing_sound = on_missing_sound
        self.limits = limits or FastAGILimits()
        self.header_budget = header_budget
        self.on_refused = on_refused
        self.refusal: str | None = None
        self._header_bytes = 0
        self._budget_held = 0
        self._header_timer: Any = None
        self._replied = False  # no reply yet: only the header's rest can come before one
        self.env: AGIEnvironment | None = None
        self.hung_up = False
        self._hangup_watches: list[defer.Deferred[None]] = []
        self.closed = False
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._header = HeaderParser()
        self._replies = ReplyParser()
        self._queue: deque[_Command] = deque()
        self._current: _Command | None = None
        self._timer: Any = None
        # After an interrupt: the marker whose echo ends the replies that are stale (the
        # interrupted command's, when it finished before the interrupt reached Asterisk).
        self._sync: str | None = None
        self._syncs = 0
        self.stale_replies = 0
        # A stopping ccboxd (appliance/shutdown.py): when the session will be handed back
        # to the dialplan (reactor seconds), whether it was, and whether it was left to the
        # switch (a bridged call: its route must not write the call as ended).
        self.handoff_due: float | None = None
        self.handed_off = False
        self.left_running = False
        self._let_go = False  # handed off or left: nothing more goes out
        self._handing_off = False  # the hand-off mark is on its way: close() waits

    # ---- Twisted --------------------------------------------------------------------------

    def connectionMade(self) -> None:
        self._header_timer = self.clock.callLater(self.limits.header_timeout_s, self._header_late)

    def dataReceived(self, data: bytes) -> None:
        if self.env is None and not self.closed and self.refusal is None:
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.header_max_bytes:
                self._refuse("header size", f"header over {self.limits.header_max_bytes} bytes")
                return
            if self.header_budget is not None:
                if not self.header_budget.take(len(data)):
                    limit = self.header_budget.limit
                    self._refuse("header bytes", f"headers in flight over {limit} bytes")
                    return
                self._budget_held += len(data)
        super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if self.refusal is not None and self.env is None:
            return  # refused and closing: the rest of its bytes are not read
        raw = line.decode("utf-8", "replace").rstrip("\r").replace("\x00", "\ufffd")
        try:
            if self.env is None:
                if self._header.line(raw):
                    self._header_read()
                    self.env = self._header.environment()
                    self.on_ready(self)
                return
            reply = self._replies.line(raw)
        except AGIProtocolError as exc:
            if self.env is None:
                self._refuse("header", str(exc))
            elif not self._replied:
                self._header_spilled(raw)
            else:
                self._fatal(str(exc))
            return
        if reply is None:
            return
        if reply == "HANGUP":
            self._heard_hangup()
            return
        assert isinstance(reply, AGIResult)
        self._reply(reply)

    def lineLengthExceeded(self, line: bytes) -> None:
        self._fatal(f"line longer than {self.MAX_LENGTH} bytes")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed = True
        self._heard_hangup()
        self._header_read()
        self._cancel_timer()
        pending = [self._current] if self._current else []
        pending.extend(self._queue)
        self._current = None
        self._queue.clear()
        for cmd in pending:
            cmd.deferred.errback(AGIConnectionLost(f"{cmd.line.decode().strip()}: socket closed"))
        if not self.ended.called:
            self.ended.callback(None)

    # ---- commands ---------------------------------------------------------------------------

    def command(
        self, name: str, *args: str, timeout: float = DEFAULT_TIMEOUT
    ) -> defer.Deferred[AGIResult]:
        """Queue one command (args rendered with token()/text()); fires with its reply."""
        try:
            line = command_line(name, *args)
        except ValueError as exc:
            return defer.fail(exc)
        if self.closed or self._let_go:
            return defer.fail(AGIConnectionLost(f"{name}: the AGI session has ended"))
        d: defer.Deferred[AGIResult] = defer.Deferred()
        self._queue.append(_Command(line, timeout, d))
        self._next()
        return d

    def _next(self) -> None:
        if self._current is not None or not self._queue or self.closed:
            return
        self._current = self._queue.popleft()
        self._timer = self.clock.callLater(self._current.timeout, self._timed_out)
        cast(Any, self.transport).write(self._current.line)

    def _reply(self, reply: AGIResult) -> None:
        cmd = self._current
        if cmd is None:
            return  # nothing asked: a stray line
        self._replied = True
        if self._sync is not None:
            if reply.code == 200 and reply.result == "1" and reply.data == self._sync:
                self._sync = None  # in step again: the next reply answers the next command
            else:
                # The interrupted command had finished before the interrupt reached Asterisk
                # (or it answers even when cut, as WAIT FOR DIGIT does): not ours to deliver.
                self.stale_replies += 1
                return
        self._cancel_timer()
        self._current = None
        if reply.code == 200:
            cmd.deferred.callback(reply)
        elif reply.code == 511:
            self._heard_hangup()
            cmd.deferred.errback(DeadChannel(reply.text))
        else:
            cmd.deferred.errback(AGICommandError(cmd.line.decode(), reply))
        self._next()

    def interrupt(
        self,
        name: str,
        *args: str,
        timeout: float = DEFAULT_TIMEOUT,
        cuts: tuple[bytes, ...] = _INTERRUPTIBLE,
    ) -> defer.Deferred[AGIResult]:
        """Send a command now, cutting short the playback in progress (STREAM FILE, GET
        DATA, SAY ...): Asterisk stops it and never answers it, so its Deferred fails with
        ``Interrupted``. With nothing interruptible in progress this is ``command``.

        This is how a caller on hold is connected the moment an agent frees, instead of at
        the end of the next hold-music poll.

        The playback may have ended just before the interrupt reached Asterisk, and then
        its reply is already on the way. What cuts the playback is therefore a marker
        (``GET FULL VARIABLE ccbox-sync-N``, echoed as ``200 result=1 (ccbox-sync-N)``):
        every reply before its echo is the interrupted command's and is dropped, whatever
        it says, and the command asked for goes out after the echo.
        """
        cmd = self._current
        if cmd is None or not cmd.line.startswith(cuts) or self._queue:
            return self.command(name, *args, timeout=timeout)
        try:
            line = command_line(name, *args)
        except ValueError as exc:
            return defer.fail(exc)
        self._cancel_timer()
        self._syncs += 1
        self._sync = f"{_SYNC}{self._syncs}"
        marker = _Command(
            command_line("GET FULL VARIABLE", self._sync), DEFAULT_TIMEOUT, defer.Deferred()
        )
        marker.deferred.addErrback(lambda _: None)  # its failure is the session's (timeout)
        self._current = None
        d: defer.Deferred[AGIResult] = defer.Deferred()
        self._queue.extendleft([_Command(line, timeout, d), marker])
        self._next()  # on the wire before anything the interrupted caller does next
        cmd.deferred.errback(Interrupted(cmd.line.decode().strip()))
        return d

    @property
    def interruptible(self) -> bool:
        """A command that the next one cuts short is in progress (a playback, WAIT FOR
        DIGIT): ``interrupt`` sends at once instead of queueing behind it."""
        return self._current is not None and self._current.line.startswith(_INTERRUPTIBLE)

    def when_hung_up(self) -> defer.Deferred[None]:
        """Fires when the channel is gone (Asterisk's ``HANGUP`` line, or the socket closed),
        with no command on the wire: how a caller who waits with nothing in progress (music
        on hold played by the switch) is watched. Cancel it to stop watching."""
        if self.hung_up:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred(lambda d: self._hangup_watches.remove(d))
        self._hangup_watches.append(d)
        return d

    def _heard_hangup(self) -> None:
        self.hung_up = True
        watches, self._hangup_watches = self._hangup_watches, []
        for d in watches:
            d.callback(None)

    @property
    def in_switch(self) -> bool:
        """A command that does not read the socket is in progress (EXEC Dial, RECORD FILE):
        Asterisk hears nothing from this session until it ends."""
        return self._current is not None and self._current.line.startswith(_DEAF)

    def hand_off(self, timeout: float = 5.0) -> defer.Deferred[None]:
        """Give the call back to the dialplan: ``CCBOX_HANDOFF=1`` on the channel, sent at
        once (cutting short a playback in progress, see ``interrupt``), then the socket is
        closed, so AGI() returns and the generated dialplan goes to its hand-off. Routes
        then see the session end (``AGIConnectionLost``) with ``handed_off`` set.

        Not while ``in_switch``: the variable would land only after the Dial, i.e. after
        the talk. Fires when the socket is closed."""
        if self.in_switch:
            return defer.fail(AGIError("hand_off during a command Asterisk does not interrupt"))
        self.handed_off = True
        if self.closed:
            return defer.succeed(None)
        if self.env is None:  # no route yet: Asterisk's AGI fails, the fallback plays
            self.close()
            return self.ended
        # The route may end at once (its playback is cut with Interrupted): its close waits
        # for the mark, or the caller would leave AGI() without it and be hung up.
        self._handing_off = True

        def closed(result: object) -> defer.Deferred[None]:
            self._handing_off = False
            if guard.active():
                guard.cancel()
            if isinstance(result, Failure):
                log.warn("hand-off mark not set: {f}", f=result.getErrorMessage())
            self._drop_queue()
            self.close()
            return self.ended

        guard = self.clock.callLater(timeout + 1, closed, None)  # the marker never echoed
        self._drop_queue()  # the mark goes next (or cuts the playback short)
        # WAIT FOR DIGIT is cut too (ast_waitfordigit_full watches the socket and answers
        # 1): a menu's wait for a key would otherwise hold the mark back for its timeout.
        d = self.interrupt("SET VARIABLE", HANDOFF_MARK, '"1"', timeout=timeout)
        self._let_go = True  # what the route sends from now on fails: the mark goes last
        return d.addBoth(closed)

    def _drop_queue(self) -> None:
        queued, self._queue = list(self._queue), deque()
        for cmd in queued:
            cmd.deferred.errback(AGIConnectionLost(f"{cmd.line.decode().strip()}: handed off"))

    def leave_running(self) -> None:
        """Close the session and leave the call to the switch (a Dial bridged to an agent
        goes on without its script): ``left_running`` tells the route."""
        self.left_running = True
        self._let_go = True
        self._drop_queue()
        self.close()

    def _timed_out(self) -> None:
        cmd, self._current = self._current, None
        self._timer = None
        if cmd is not None:
            # The stream is out of step now (a late reply would answer the wrong command).
            cmd.deferred.errback(
                AGITimeout(f"{cmd.line.decode().strip()}: no reply in {cmd.timeout:g} s")
            )
            self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _fatal(self, why: str) -> None:
        log.warn("dropping FastAGI session: {why}", why=why)
        self.close()

    # ---- the header's limits ----------------------------------------------------------------

    def _who(self) -> str:
        """The call as its header named it so far (channel and uniqueid come before any
        value a caller controls)."""
        values = self._header.values
        return (
            f"channel {values.get('channel', '?')[:80]!r}, "
            f"uniqueid {values.get('uniqueid', '?')[:40]!r}"
        )

    def _refuse(self, reason: str, why: str) -> None:
        if self.refusal is not None:
            return
        self.refusal = why
        message = f"{why} ({self._who()})"
        if self.on_refused is not None:
            self.on_refused(reason, message)
        else:
            log.warn("FastAGI session refused: {message}", message=message)
        self._header_read()
        self.close()

    def _header_spilled(self, raw: str) -> None:
        """A line between the header's end and the first reply: a value ended the header
        early and this is Asterisk's rest of it. The command in flight still gets its reply
        (the owner undoes it, see ``refusal``)."""
        if self.refusal is None:
            self.refusal = "the header went on after its end (a value holds an empty line)"
            message = f"{self.refusal}: {raw[:60]!r} ({self._who()})"
            if self.on_refused is not None:
                self.on_refused("header", message)
            else:
                log.warn("FastAGI session refused: {message}", message=message)

    def _header_late(self) -> None:
        self._header_timer = None
        if self.env is None:
            self._refuse("header timeout", f"no whole header in {self.limits.header_timeout_s:g} s")

    def _header_read(self) -> None:
        """The header is done with (read, refused or the socket closed): its deadline and
        its share of the header budget end."""
        if self._header_timer is not None and self._header_timer.active():
            self._header_timer.cancel()
        self._header_timer = None
        if self.header_budget is not None and self._budget_held:
            self.header_budget.give_back(self._budget_held)
        self._budget_held = 0

    def close(self) -> None:
        if self._handing_off:
            return  # hand_off closes the session once Asterisk has the mark
        if self.transport is not None and not self.closed:
            cast(Any, self.transport).loseConnection()

    # ---- typed commands (the traces show each reply) -----------------------------------------

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        """HANGUP answers ``200 result=1`` and the ``HANGUP`` line follows about 40 ms later
        (hangup-causes.trace): the channel is gone from the reply on."""
        await self.command("HANGUP")
        self._heard_hangup()

    async def caller_left(self) -> bool:
        """After a command answered ``result=-1``: True if the caller hung up, False if the
        channel is still up (a missing sound, a failed application).

        Only the ``HANGUP`` line or a 511 proves a hangup. Asterisk sends the line about
        40 ms after the -1, and before the reply to a command sent meanwhile, so CHANNEL
        STATUS settles it: 511 (after the ``HANGUP`` line) when the caller has gone."""
        if self.hung_up:
            return True
        try:
            await self.command("CHANNEL STATUS")
        except (DeadChannel, AGIConnectionLost):
            return True
        return self.hung_up

    async def playback(self, result: AGIResult, sound: str) -> Playback:
        """The Playback of a STREAM FILE / SAY reply for ``sound``: a -1 is either the
        caller hanging up (``hung_up`` is then set) or a sound the switch lacks (reported
        to ``on_missing_sound``; ``missing``)."""
        digit, endpos = _digit(result.value), int(result.extras.get("endpos", "0"))
        if result.value >= 0:
            return Playback(digit, endpos, False)
        if await self.caller_left():
            return Playback(None, endpos, True)
        if self.on_missing_sound is not None:
            self.on_missing_sound(sound)
        return Playback(None, endpos, True, missing=True)

    async def stream_file(self, name: str, escape_digits: str = "") -> Playback:
        r = await self.command("STREAM FILE", token(name), text(escape_digits), timeout=3600)
        return await self.playback(r, name)

    async def say_digits(self, digits: str, escape_digits: str = "") -> Playback:
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError("SAY DIGITS takes ASCII digits only")
        r = await self.command("SAY DIGITS", token(digits), text(escape_digits), timeout=600)
        return await self.playback(r, f"SAY DIGITS {digits}")

    async def say_number(self, number: int, escape_digits: str = "") -> Playback:
        r = await self.command("SAY NUMBER", token(number), text(escape_digits), timeout=600)
        return await self.playback(r, f"SAY NUMBER {number}")

    async def say_date(self, epoch_s: int, escape_digits: str = "") -> Playback:
        """SAY DATE: the day of ``epoch_s`` (seconds since 1970, UTC), in the channel's
        language."""
        r = await self.command("SAY DATE", token(epoch_s), text(escape_digits), timeout=600)
        return await self.playback(r, f"SAY DATE {epoch_s}")

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Digits:
        """GET DATA. A prompt the switch lacks answers -1 before any digit is read: it is
        reported and the digits are read again without a prompt (the caller still types)."""
        args = (token(timeout_ms), token(max_digits))
        r = await self.command("GET DATA", token(prompt), *args, timeout=3600)
        if r.result == "-1":
            if await self.caller_left():
                return Digits("", False, True)
            if self.on_missing_sound is not None:
                self.on_missing_sound(prompt)
            r = await self.command("GET DATA", text(""), *args, timeout=3600)
            if r.result == "-1":
                return Digits("", False, await self.caller_left())
        return Digits(r.result, r.data == "timeout", False)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """The digit pressed, None on timeout; DeadChannel once the caller has gone."""
        r = await self.command("WAIT FOR DIGIT", token(timeout_ms), timeout=timeout_ms / 1000 + 30)
        if r.value < 0:
            # Unlike a playback's, this -1 has no other cause: no file is involved, and
            # Asterisk's wait fails only when the channel is gone (caller-abandons-on-hold).
            self._heard_hangup()
            raise DeadChannel("WAIT FOR DIGIT: the caller hung up")
        return _digit(r.value)

    async def record_file(
        self,
        path: str,
        fmt: str,
        escape_digits: str,
        timeout_ms: int,
        beep: bool = True,
        silence_s: int | None = None,
    ) -> Recording:
        args = [token(path), token(fmt), text(escape_digits), token(timeout_ms), token(0)]
        if beep:
            args.append("BEEP")
        if silence_s is not None:
            args.append(token(f"s={silence_s}"))
        r = await self.command("RECORD FILE", *args, timeout=timeout_ms / 1000 + 60)
        endpos = int(r.extras.get("endpos", "0"))
        if r.data == "writefile":
            # handle_recordfile: ast_writefile failed; the channel was not touched.
            raise RecordFileError(f"RECORD FILE {path}.{fmt}: Asterisk cannot write the file")
        if r.data == "hangup":
            return Recording(None, False, True, endpos)
        if r.result == "-1":
            # (randomerror) or (waitfor): the beep failed or the channel did; a beep the
            # switch lacks answers the same with the caller still there.
            return Recording(None, False, await self.caller_left(), endpos)
        digit = _digit(r.value) if r.data == "dtmf" else None
        return Recording(digit, r.data == "timeout", False, endpos)

    async def exec_(self, application: str, argument: str = "", timeout: float = 3600) -> int:
        """EXEC: the argument goes as one quoted string, literally (no ${} expansion)."""
        r = await self.command("EXEC", token(application), text(argument), timeout=timeout)
        return r.value

    async def exec_now(self, application: str, argument: str = "", timeout: float = 3600) -> int:
        """EXEC, cutting short the playback in progress (see ``interrupt``)."""
        r = await self.interrupt("EXEC", token(application), text(argument), timeout=timeout)
        return r.value

    async def get_variable(self, name: str) -> str | None:
        r = await self.command("GET VARIABLE", token(name))
        return r.data if r.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        r = await self.command("GET FULL VARIABLE", token(expression))
        return r.data if r.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", token(name), text(value))

    async def set_music(self, on: bool, music_class: str = "default") -> None:
        await self.command("SET MUSIC", "ON" if on else "OFF", token(music_class))

    async def channel_status(self) -> int:
        return (await self.command("CHANNEL STATUS")).value

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", text(message), token(level))


def _digit(result: int) -> str | None:
    """STREAM FILE & co. answer the ASCII code of the digit pressed, 0 for none."""
    if result <= 0:
        return None
    return chr(result)
