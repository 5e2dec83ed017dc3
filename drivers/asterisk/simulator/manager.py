"""The AMI side of the simulated switch: a manager server speaking as Asterisk 22 does.

Banner, Login (a wrong secret answers after one second and closes, as in the
ami-login-failure trace), FullyBooted and SuccessfulAuth after login, ``Permission denied``
before it, ActionID echoed, event lists (CoreShowChannels, QueueStatus, DeviceStateList)
ending in ``EventList: Complete``, ``Invalid/unknown command`` plus RequestBadFormat for
unknown actions, Logoff's Goodbye. Originate is asynchronous (``Originate successfully
queued`` then OriginateResponse); Hangup, Redirect, Getvar/Setvar, UserEvent and Command
work on the switch's channels. Every event the switch emits reaches the logged-in sessions
whose event mask is on.
"""

from __future__ import annotations

import datetime
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, cast

from twisted.internet import defer, protocol
from twisted.logger import Logger

from drivers.asterisk import confgen
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.confgen import MANAGER_READ, MANAGER_WRITE
from drivers.asterisk.device_names import device_of_channel
from drivers.asterisk.simulator import snapshots as snap
from drivers.asterisk.simulator.manager_input import ManagerInput
from drivers.asterisk.simulator.snapshots import Headers
from drivers.asterisk.simulator.switch import Switch
from drivers.asterisk.simulator.transfer import DIGIT_GAP_S, FEATURE_CODE, AttendedTransfer

log = Logger(namespace="ccbox.simulator.ami")
BANNER = b"Asterisk Call Manager/11.0.0\r\n"
VERSION = "Asterisk 22.10.1 built by ccbox-simulator on a x86_64 running Linux"
_sessions = itertools.count(0x7FC9D0028300, 0x100)
# manager.conf's classes ("all" is every one of them).
CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)
# The classes each action is registered with (manager.c, app_mixmonitor.c, app_queue.c,
# res_manager_devicestate.c); an empty set: anyone logged in.
ACTION_AUTHORITY: dict[str, frozenset[str]] = {
    "hangup": frozenset({"system", "call"}),
    "setvar": frozenset({"call"}),
    "getvar": frozenset({"call", "reporting"}),
    "redirect": frozenset({"call"}),
    "atxfer": frozenset({"call"}),
    "playdtmf": frozenset({"call"}),
    "muteaudio": frozenset({"system"}),  # res_mutestream.c; ccbox uses Setvar MUTEAUDIO()
    "originate": frozenset({"originate"}),
    "command": frozenset({"command"}),
    "userevent": frozenset({"user"}),
    "coreshowchannels": frozenset({"system", "reporting"}),
    "devicestatelist": frozenset({"call", "reporting"}),
    "mixmonitor": frozenset({"system"}),
    "stopmixmonitor": frozenset({"system", "call"}),
    "mixmonitormute": frozenset({"system", "call"}),
}


def _perms(text: str) -> frozenset[str]:
    names = {p.strip().lower() for p in text.split(",") if p.strip()}
    return CLASSES if "all" in names else frozenset(names & CLASSES)


def _header(headers: Headers, name: str) -> str | None:
    return next((v for k, v in headers if k == name), None)


def _classes(headers: Headers) -> frozenset[str]:
    """The classes of an event (its Privilege header without "all")."""
    privilege = next((v for k, v in headers if k == "Privilege"), "")
    return frozenset(p for p in privilege.split(",") if p and p != "all")


def _split_args(value: str) -> list[str]:
    """A Variable header's assignments, split at commas outside parentheses, as manager.c's
    AST_STANDARD_APP_ARGS does (``PJSIP_HEADER(add,Call-Info)=...`` is one)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(value):
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c == "," and not depth:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def encode(headers: Iterable[tuple[str, str]]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("utf-8")


def _tv(seconds: float) -> str:
    t = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


class ManagerSession(protocol.Protocol):
    def __init__(self, factory: ManagerFactory) -> None:
        self.factory = factory
        self.switch = factory.switch
        self.input = ManagerInput()  # Asterisk's line and header limits
        self.username: str | None = None
        self.events_on = True
        self.session_id = f"0x{next(_sessions):x}"
        self.session_tv = ""
        self.closing = False

    # ---- connection -----------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.factory.sessions.add(self)
        cast(Any, self.transport).write(BANNER)

    def connectionLost(self, reason: Any = None) -> None:
        self.factory.sessions.discard(self)
        self.switch.unsubscribe(self.event)

    def dataReceived(self, data: bytes) -> None:
        for request in self.input.feed(data):
            if self.closing:
                return
            if request.refused is not None:
                self.respond(request.message, "Error", ("Message", request.refused))
                continue
            self.action(request.message)

    def send(self, headers: Headers) -> None:
        if self.transport is not None and not self.closing:
            cast(Any, self.transport).write(encode(headers))

    def event(self, headers: Headers) -> None:
        """An event reaches the session only if the user may read every class it belongs
        to (manager.c: ``(readperm & category) == category``): ccbox's generated user does
        not read ``agi`` (AGIExec), ``cdr`` or ``security``, as on a real box; and only if
        the user's event filters let it through (``factory.receives``: ccbox's generated
        user receives only what ccboxd handles, confgen.receives)."""
        if not self.events_on or not _classes(headers) <= self.factory.read:
            return
        receives = self.factory.receives
        if receives is not None:
            name, context = _header(headers, "Event"), _header(headers, "Context")
            if not receives(name or "", context):
                return
        self.send(headers)

    # ---- actions --------------------------------------------------------------------------

    def respond(self, msg: Message, response: str, *extra: tuple[str, str]) -> None:
        out: Headers = [("Response", response)]
        if msg.action_id is not None:
            out.append(("ActionID", msg.action_id))
        out.extend(extra)
        self.send(out)

    def action(self, msg: Message) -> None:
        name = (msg.get("Action") or "").lower()
        self.factory.actions[name] += 1
        if self.username is None and name not in ("login", "logoff", "challenge"):
            self.respond(msg, "Error", ("Message", "Permission denied"))
            return
        handler = getattr(self, f"do_{name}", None) if name.isidentifier() else None
        needs = ACTION_AUTHORITY.get(name, frozenset())
        if handler is not None and needs and not needs & self.factory.write:
            # manager.c: the user's write classes must include one the action is registered
            # with (ccbox's generated user has no system, command or config).
            self.respond(msg, "Error", ("Message", "Permission denied"))
            return
        if handler is None:
            self.respond(
                msg,
                "Error",
                (
                    "Message",
                    f"Invalid/unknown command: {msg.get('Action', '')}. "
                    "Use Action: ListCommands to show available commands.",
                ),
            )
            self.security_event(
                "RequestBadFormat", "Error", ("RequestType", f"Action: {msg.get('Action', '')}")
            )
            return
        handler(msg)

    def security_event(self, name: str, severity: str, *extra: tuple[str, str]) -> None:
        now = self.factory.clock.seconds()
        transport = cast(Any, self.transport)
        host = transport.getHost() if transport is not None else None
        peer = transport.getPeer() if transport is not None else None
        headers: Headers = [
            ("Event", name),
            ("Privilege", "security,all"),
            ("EventTV", _tv(now)),
            ("Severity", severity),
            ("Service", "AMI"),
            ("EventVersion", "1"),
        ]
        if name == "SuccessfulAuth":
            headers.append(("AccountID", self.username or ""))
        headers += [
            ("SessionID", self.session_id),
            ("LocalAddress", f"IPV4/TCP/{getattr(host, 'host', '')}/{getattr(host, 'port', '')}"),
            ("RemoteAddress", f"IPV4/TCP/{getattr(peer, 'host', '')}/{getattr(peer, 'port', '')}"),
        ]
        if name == "SuccessfulAuth":
            headers += [("UsingPassword", "0"), ("SessionTV", self.session_tv)]
        else:
            headers += [*extra, ("SessionTV", self.session_tv), ("AccountID", self.username or "")]
        self.event(headers)

    def do_login(self, msg: Message) -> None:
        f = self.factory
        if msg.get("Username") != f.username or msg.get("Secret") != f.secret:
            # Asterisk answers a wrong secret about a second later, then hangs up.
            self.closing = True
            f.clock.callLater(1.0, self._refuse, msg)
            return
        self.username = f.username
        f.logins += 1
        waiting, f._login_waiters = f._login_waiters, []
        for d in waiting:
            d.callback(None)
        self.session_tv = _tv(f.clock.seconds())
        events = (msg.get("Events") or "on").lower()
        self.events_on = events not in ("off", "no", "false", "0")
        self.respond(msg, "Success", ("Message", "Authentication accepted"))
        self.switch.subscribe(self.event)
        uptime = str(int(f.clock.seconds() - self.switch.started_at))
        self.event(
            [
                ("Event", "FullyBooted"),
                ("Privilege", "system,all"),
                ("Uptime", uptime),
                ("LastReload", uptime),
                ("Status", "Fully Booted"),
            ]
        )
        self.security_event("SuccessfulAuth", "Informational")

    def _refuse(self, msg: Message) -> None:
        self.closing = False
        self.respond(msg, "Error", ("Message", "Authentication failed"))
        self.closing = True
        if self.transport is not None:
            cast(Any, self.transport).loseConnection()

    def do_logoff(self, msg: Message) -> None:
        self.respond(msg, "Goodbye", ("Message", "Thanks for all the fish."))
        self.closing = True
        cast(Any, self.transport).loseConnection()

    def do_ping(self, msg: Message) -> None:
        now = self.factory.clock.seconds()
        self.respond(msg, "Success", ("Ping", "Pong"), ("Timestamp", f"{now:.6f}"))

    def do_events(self, msg: Message) -> None:
        mask = (msg.get("EventMask") or "on").lower()
        self.events_on = mask not in ("off", "no", "false", "0")
        self.respond(msg, "Success", ("Events", "On" if self.events_on else "Off"))

    def do_command(self, msg: Message) -> None:
        command = (msg.get("Command") or "").strip()
        if command == "core show version":
            output = VERSION
        elif command == "core show channels count":
            output = f"{len(self.switch.channels)} active channels"
        else:
            output = f"No such command '{command}' (type 'core show help {command}' for help)"
        self.respond(msg, "Success", ("Message", "Command output follows"), ("Output", output))

    def _list(self, msg: Message, what: str, complete: str, items: list[Headers]) -> None:
        self.respond(msg, "Success", ("EventList", "start"), ("Message", f"{what} will follow"))
        for item in items:
            self.send(item)
        tail: Headers = [("Event", complete)]
        if msg.action_id is not None:
            tail.append(("ActionID", msg.action_id))
        tail += [("EventList", "Complete"), ("ListItems", str(len(items)))]
        self.send(tail)

    def do_coreshowchannels(self, msg: Message) -> None:
        items = self.switch.show_channels(msg.action_id or "")
        self._list(msg, "Channels", "CoreShowChannelsComplete", items)

    def do_queuestatus(self, msg: Message) -> None:
        self._list(msg, "Queue status", "QueueStatusComplete", [])

    def do_devicestatelist(self, msg: Message) -> None:
        items: Headers = []
        out = []
        busy = {device_of_channel(ch.name) for ch in self.switch.channels.values()}
        for device, dev in sorted(self.switch.devices.items()):
            state = (
                "INUSE" if device in busy else ("UNAVAILABLE" if dev.unavailable else "NOT_INUSE")
            )
            items = [("Event", "DeviceStateChange")]
            if msg.action_id is not None:
                items.append(("ActionID", msg.action_id))
            out.append([*items, ("Device", device), ("State", state)])
        self._list(msg, "Device State Changes", "DeviceStateListComplete", out)

    def do_getvar(self, msg: Message) -> None:
        """As action_getvar: a variable of the channel (or a global); a dialplan function
        (``NAME(args)``) is refused by name rather than answered empty."""
        name = msg.get("Variable") or ""
        chan = msg.get("Channel")
        if not name:
            self.respond(msg, "Error", ("Message", "No variable specified"))
            return
        if "(" in name:
            why = f"Simulator: the dialplan function {name} is not modelled"
            self.respond(msg, "Error", ("Message", why))
            return
        if chan:
            ch = self.switch.find(chan)
            if ch is None:
                self.respond(msg, "Error", ("Message", "No such channel"))
                return
            value = ch.variables.get(name, "")
        else:
            value = self.switch.globals.get(name, "")
        self.respond(msg, "Success", ("Variable", name), ("Value", value))

    def do_setvar(self, msg: Message) -> None:
        name = msg.get("Variable") or ""
        if not name:
            self.respond(msg, "Error", ("Message", "No variable specified"))
            return
        chan = msg.get("Channel")
        target = self.switch.globals
        if chan:
            ch = self.switch.find(chan)
            if ch is None:
                self.respond(msg, "Error", ("Message", "No such channel"))
                return
            target = ch.variables
        target[name] = msg.get("Value") or ""
        self.respond(msg, "Success", ("Message", "Variable Set"))

    def do_userevent(self, msg: Message) -> None:
        self.respond(msg, "Success", ("Message", "Event Sent"))
        body = [(k, v) for k, v in msg.headers if k.lower() not in ("action", "userevent")]
        self.switch.emit(
            [
                ("Event", "UserEvent"),
                ("Privilege", "user,all"),
                ("UserEvent", msg.get("UserEvent") or ""),
                *body,
            ]
        )

    def _priority(self, msg: Message, header: str, context: str, exten: str) -> int:
        """A Priority header as manager.c reads it: a number, or a label of the extension
        (0 when it is neither)."""
        text = (msg.get(header) or "").strip()
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        found = self.switch.dialplan.find(context, exten, text) if text else None
        return found.step.priority if found is not None else 0

    def do_originate(self, msg: Message) -> None:
        """Checked in manager.c's order; an extension that does not exist answers
        ``Extension does not exist.`` at once, Async or not, with no channel and no event
        (originate-unknown-extension.trace)."""
        chan = msg.get("Channel") or ""
        context, exten = msg.get("Context") or "", msg.get("Exten") or ""
        if not chan:
            self.respond(msg, "Error", ("Message", "Channel not specified"))
            return
        priority = self._priority(msg, "Priority", context, exten)
        if msg.get("Priority") and priority < 1:
            self.respond(msg, "Error", ("Message", "Invalid priority"))
            return
        if msg.get("Timeout") and not re.fullmatch(r"\s*-?\d+.*", msg.get("Timeout") or ""):
            self.respond(msg, "Error", ("Message", "Invalid timeout"))
            return
        if "/" not in chan:
            self.respond(msg, "Error", ("Message", "Invalid channel"))
            return
        if msg.get("Application"):
            # ccbox never originates into an application; a real box's manager user
            # lacks the rights for System/Exec anyway.
            self.respond(msg, "Error", ("Message", "Originate with Application is not allowed"))
            return
        if priority and not self.switch.dialplan.exists(context, exten, priority):
            self.respond(msg, "Error", ("Message", "Extension does not exist."))
            return
        if not priority:
            # Asterisk: synchronous, "requires 'Context' and 'Priority'"; asynchronous, a
            # call at priority 0 the simulator does not model.
            self.respond(
                msg,
                "Error",
                ("Message", "Originate with 'Exten' requires 'Context' and 'Priority'"),
            )
            return
        why = self.switch.pbx.unsupported(context, exten)
        if why is not None:
            self.respond(msg, "Error", ("Message", f"Simulator: {why}"))
            return
        if (msg.get("Async") or "").lower() not in ("true", "yes", "1", "y", "t", "on"):
            # Asterisk would answer only when the call is over (or failed to start).
            self.respond(
                msg, "Error", ("Message", "Simulator: a synchronous Originate is not modelled")
            )
            return
        variables: dict[str, str] = {}
        for value in msg.get_all("Variable"):
            for part in _split_args(value):
                key, _, val = part.partition("=")
                if key:
                    # a function (PJSIP_HEADER(add,...) for an auto-answering phone) is kept
                    # as a variable of that name: its effect, SIP headers, is not modelled
                    variables[key] = val
        fields = {k: v for k, v in msg.headers}
        fields["Priority"] = str(priority)  # a label resolved to its number
        self.respond(msg, "Success", ("Message", "Originate successfully queued"))
        self.switch.originate(msg.action_id, fields, variables)

    def do_hangup(self, msg: Message) -> None:
        ch = self.switch.find(msg.get("Channel") or "")
        if ch is None:
            self.respond(msg, "Error", ("Message", "No such channel"))
            return
        try:
            cause = int(msg.get("Cause") or "16")
        except ValueError:
            cause = 16
        self.respond(msg, "Success", ("Message", "Channel Hungup"))
        if ch.agi is not None:
            # A channel in AGI: the script hears it; Hangup comes when the script closes.
            explicit = msg.get("Cause") or ""
            ch.agi.hangup_requested(int(explicit) if explicit.isdigit() else 0)
            return
        self.switch.request_hangup(ch, cause, soft=True)
        self.switch.hangup(ch, cause)

    def do_redirect(self, msg: Message) -> None:
        """As manager.c's action_redirect: its checks and messages in its order. A Redirect
        into an extension that does not exist still answers ``Redirect successful`` (Asterisk
        checks nothing there); the channel then finds no extension and hangs up."""
        name, extra = msg.get("Channel") or "", msg.get("ExtraChannel") or ""
        context, exten = msg.get("Context") or "", msg.get("Exten") or ""
        context2, exten2 = msg.get("ExtraContext") or "", msg.get("ExtraExten") or ""
        for value, what in ((name, "Channel"), (context, "Context"), (exten, "Exten")):
            if not value:
                self.respond(msg, "Error", ("Message", f"{what} not specified"))
                return
        if not msg.get("Priority"):
            self.respond(msg, "Error", ("Message", "Priority not specified"))
            return
        pi = self._priority(msg, "Priority", context, exten)
        if pi < 1:
            self.respond(msg, "Error", ("Message", "Priority is invalid"))
            return
        pi2 = 0
        if extra and context2:
            if not exten2:
                self.respond(msg, "Error", ("Message", "ExtraExten not specified"))
                return
            if not msg.get("ExtraPriority"):
                self.respond(msg, "Error", ("Message", "ExtraPriority not specified"))
                return
            pi2 = self._priority(msg, "ExtraPriority", context2, exten2)
            if pi2 < 1:
                self.respond(msg, "Error", ("Message", "ExtraPriority is invalid"))
                return
        ch = self.switch.find(name)
        if ch is None:
            self.respond(msg, "Error", ("Message", f"Channel does not exist: {name}"))
            return
        other = None
        if extra:
            other = self.switch.find(extra)
            if other is None:
                self.respond(msg, "Error", ("Message", f"ExtraChannel does not exist: {extra}"))
                return
            if not context2:  # both go to Context/Exten/Priority
                context2, exten2, pi2 = context, exten, pi
        for where in ((context, exten), (context2, exten2) if other is not None else None):
            why = self.switch.pbx.unsupported(*where) if where is not None else None
            if why is not None:
                self.respond(msg, "Error", ("Message", f"Simulator: {why}"))
                return
        ok = "Dual Redirect successful" if other is not None else "Redirect successful"
        self.respond(msg, "Success", ("Message", ok))
        self.switch.redirect(ch, context, exten, pi)
        if other is not None:
            self.switch.redirect(other, context2, exten2, pi2)

    def do_atxfer(self, msg: Message) -> None:
        """As manager.c's action_atxfer: the atxfer feature code (``*2``) and the digits are
        queued on the channel as DTMF. Without Dial's ``t`` on that leg the bridge does not
        act on them: the peer hears them (DTMF ``Direction: Sent`` on the peer's channel,
        atxfer-without-t-option.trace) and nothing is transferred. With ``t`` the attended
        transfer runs as transfer.py describes (atxfer-and-mixmonitor-mute.trace)."""
        name, exten = msg.get("Channel") or "", msg.get("Exten") or ""
        if not name:
            self.respond(msg, "Error", ("Message", "No channel specified"))
            return
        if not exten:
            self.respond(msg, "Error", ("Message", "No extension specified"))
            return
        ch = self.switch.find(name)
        if ch is None:
            self.respond(msg, "Error", ("Message", "Channel specified does not exist"))
            return
        context = msg.get("Context") or ""
        if "t" in ch.features:
            where = context or ch.variables.get("TRANSFER_CONTEXT") or ch.context or "default"
            why = self.switch.pbx.unsupported(where, exten)
            if why is not None:
                self.respond(msg, "Error", ("Message", f"Simulator: {why}"))
                return
            if ch.transfer is not None:
                self.respond(
                    msg,
                    "Error",
                    ("Message", "Simulator: a second Atxfer during a transfer is not modelled"),
                )
                return
        self.respond(msg, "Success", ("Message", "Atxfer successfully queued"))
        if context:
            ch.variables["TRANSFER_CONTEXT"] = context
            extra = [("Variable", "TRANSFER_CONTEXT"), ("Value", context)]
            self.switch.emit(snap.event("VarSet", "dialplan", ch.headers(), extra))
        if "t" in ch.features:
            ch.transfer = AttendedTransfer(self.switch, ch, exten, where)
            ch.transfer.start()
            return
        clock = self.factory.clock
        for i, digit in enumerate(f"{FEATURE_CODE}{exten}"):
            clock.callLater(i * DIGIT_GAP_S, self._pass_digit, ch, digit)

    def do_playdtmf(self, msg: Message) -> None:
        """As app_senddtmf.c's manager_play_dtmf: its checks and messages in its order; only
        the first character of Digit counts. ``Receive: true`` queues the digit on the
        channel's read side, as if its phone pressed it: during an attended transfer the
        transfer hears it (``*3``: three-way), otherwise it goes on to the bridged peer.
        Without it the digit is played to the channel's own phone."""
        ch = self.switch.find(msg.get("Channel") or "")
        if ch is None:
            self.respond(msg, "Error", ("Message", "Channel not found"))
            return
        digit = msg.get("Digit") or ""
        if not digit:
            self.respond(msg, "Error", ("Message", "No digit specified"))
            return
        duration = msg.get("Duration") or ""
        leading = re.match(r"\s*(\d+)", duration)  # sscanf("%30u")
        if duration and leading is None:
            self.respond(msg, "Error", ("Message", "Could not convert Duration parameter"))
            return
        ms = int(leading.group(1)) if leading is not None else 0
        self.respond(msg, "Success", ("Message", "DTMF successfully queued"))
        digit = digit[0]
        if (msg.get("Receive") or "").lower() not in ("true", "yes", "1", "y", "t", "on"):
            self.switch.emit(snap.dtmf("DTMFBegin", ch, digit, direction="Sent"))
            self.switch.emit(snap.dtmf("DTMFEnd", ch, digit, ms or 100, direction="Sent"))
            return
        if ch.transfer is not None:
            self.switch.emit(snap.dtmf("DTMFEnd", ch, digit, ms))
            ch.transfer.key(digit)
            return
        self._pass_digit(ch, digit)

    def do_muteaudio(self, msg: Message) -> None:
        """res_mutestream.c's MuteAudio, for a user with system write (ccbox's has none: it
        writes MUTEAUDIO() by Setvar, which lands in the same channel variable here)."""
        for header in ("Channel", "State", "Direction"):
            if not msg.get(header):
                self.respond(msg, "Error", ("Message", f"{header} not specified"))
                return
        ch = self.switch.find(msg.get("Channel") or "")
        if ch is None:
            self.respond(msg, "Error", ("Message", "No such channel"))
            return
        direction = msg.get("Direction") or ""
        if direction not in ("in", "out", "all"):
            self.respond(msg, "Error", ("Message", "Failed to mute/unmute stream"))
            return
        on = (msg.get("State") or "").lower() in ("true", "yes", "1", "y", "t", "on")
        ch.variables[f"MUTEAUDIO({direction})"] = "on" if on else "off"
        self.respond(msg, "Success")

    def _pass_digit(self, ch: Any, digit: str) -> None:
        """One queued digit: read on the channel (DTMFEnd, 0 ms), then sent on to the
        bridged peer as a 100 ms tone, as the trace shows."""
        if not ch.alive:
            return
        self.switch.emit(snap.dtmf("DTMFEnd", ch, digit, 0))
        for peer in [p for p in (ch.bridge.members if ch.bridge else []) if p is not ch]:
            self.switch.emit(snap.dtmf("DTMFBegin", peer, digit, direction="Sent"))
            self.factory.clock.callLater(0.1, self._digit_sent, peer, digit)

    def _digit_sent(self, peer: Any, digit: str) -> None:
        if peer.alive:
            self.switch.emit(snap.dtmf("DTMFEnd", peer, digit, 100, direction="Sent"))

    def do_mixmonitor(self, msg: Message) -> None:
        """MixMonitor on a live channel, as EXEC MixMonitor would start it (the simulator
        writes legs for channels in a FastAGI session: the trunk calls ccbox records)."""
        ch = self.switch.find(msg.get("Channel") or "")
        if ch is None:
            self.respond(msg, "Error", ("Message", "No such channel"))
            return
        data = f"{msg.get('File') or ''},{msg.get('Options') or ''}"
        if ch.agi is None or not ch.agi.start_monitor(data):
            self.respond(msg, "Error", ("Message", "Could not start monitoring channel"))
            return
        self.switch.mixmonitor(ch, True)
        self.respond(msg, "Success", ("MixMonitorID", f"0x{id(ch.agi) & 0xFFFFFFFF:08x}"))

    def do_stopmixmonitor(self, msg: Message) -> None:
        ch = self.switch.find(msg.get("Channel") or "")
        if ch is None:
            self.respond(msg, "Error", ("Message", "No such channel"))
            return
        if ch.agi is not None and not ch.agi.stop_monitor():
            self.respond(msg, "Error", ("Message", "Could not stop MixMonitor"))
            return
        self.switch.mixmonitor(ch, False)
        self.respond(msg, "Success")

    def do_mixmonitormute(self, msg: Message) -> None:
        ch = self.switch.find(msg.get("Channel") or "")
        if ch is None:
            self.respond(msg, "Error", ("Message", "No such channel"))
            return
        direction = (msg.get("Direction") or "").lower()
        state = msg.get("State") or ""
        if direction not in ("read", "write", "both") or state not in ("0", "1"):
            self.respond(msg, "Error", ("Message", "Invalid direction or state specified"))
            return
        if ch.agi is None or not ch.agi.mute_monitor(direction, state == "1"):
            self.respond(msg, "Error", ("Message", "Cannot set mute flag"))
            return
        self.switch.emit(
            snap.channel_event("MixMonitorMute", ch, ("Direction", direction), ("State", state))
        )
        self.respond(msg, "Success")


class ManagerFactory(protocol.Factory):
    """Listen with this on loopback: ``reactor.listenTCP(5038, ManagerFactory(...))``.

    ``read`` and ``write`` are the user's classes as manager.conf gives them; by default
    those ``ccbox asterisk-config`` writes (confgen.MANAGER_READ/MANAGER_WRITE), so ccboxd
    gets exactly the events and actions a real box allows it, through the same event
    filters; ``"all"`` is the lab's user (no filters)."""

    noisy = False

    def __init__(
        self,
        clock: Any,
        switch: Switch,
        username: str,
        secret: str,
        read: str = MANAGER_READ,
        write: str = MANAGER_WRITE,
        receives: Callable[[str, str | None], bool] | None = confgen.receives,
    ) -> None:
        self.clock = clock
        self.switch = switch
        self.username = username
        self.secret = secret
        self.read = _perms(read)
        self.write = _perms(write)
        # manager.conf eventfilter lines, as a predicate (event name, its Context header);
        # None: no filter (the lab's user). By default those ``ccbox asterisk-config`` writes.
        self.receives = receives if read == MANAGER_READ else None
        self.sessions: set[ManagerSession] = set()
        self.logins = 0
        self.actions: Counter[str] = Counter()  # action name (lower case) -> times received
        self._login_waiters: list[defer.Deferred[None]] = []

    def wait_for_login(self) -> defer.Deferred[None]:
        """Fires once a client has logged in (at once if one already has)."""
        if self.logins:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._login_waiters.append(d)
        return d

    def buildProtocol(self, addr: Any) -> ManagerSession:
        return ManagerSession(self)
