"""The simulated switch runs its dialplan: a channel at context/exten/priority runs the step
``drivers.asterisk.dialplan`` finds there, as Asterisk's PBX loop does.

Each step is announced by a Newexten (AppData with the variables already substituted, as
the traces show); the applications ccbox's generated dialplan uses run here: NoOp, Verbose,
Set, Answer, Goto, GotoIf, Hangup, Wait, Playback, AGI (a FastAGI session through the
switch's ``agi_starter``), Dial (the switch rings the device) and ChanSpy. Anything else is
refused by name: ``unsupported`` lists what an extension would run that is not here, so
Originate and Redirect can answer an error before a call starts, and a channel that reaches
one anyway is hung up and the refusal is logged and kept in ``Pbx.refusals``.

A channel sent to an extension that does not exist goes to ``i`` in its context if there is
one; otherwise its dialplan ends. A dialplan that ends (no such extension, no next priority,
Hangup()) asks for the soft hangup with cause 16 and hangs the channel up with its
HANGUPCAUSE (0 when nothing set one), as the hangup-causes trace shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.logger import Logger

from drivers.asterisk.dialplan import Dialplan, Found
from drivers.asterisk.simulator import amd
from drivers.asterisk.simulator import snapshots as snap

if TYPE_CHECKING:
    from drivers.asterisk.simulator.switch import SimChannel, Switch

log = Logger(namespace="ccbox.simulator.pbx")

_VAR = re.compile(r"\$\{([^${}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_AGI_URL = re.compile(r"^agi://[^/]+/(?P<script>[^,]*)$")
_CALLERID = ("CALLERID(num)", "CALLERID(name)")  # the only functions Set writes here
_COMPARE = re.compile(r'^\s*"(?P<a>[^"]*)"\s*(?P<op>=|!=)\s*"(?P<b>[^"]*)"\s*$')


class Unsupported(Exception):
    """The dialplan asks for something the simulator does not do as Asterisk would."""


class Pbx:
    """Runs channels through ``dialplan`` on ``switch``."""

    # Application name (lower case) -> the method that runs it.
    APPS = (
        "noop",
        "verbose",
        "set",
        "answer",
        "goto",
        "gotoif",
        "hangup",
        "wait",
        "playback",
        "agi",
        "dial",
        "chanspy",
        "busy",
        "congestion",
        "amd",
    )

    def __init__(self, switch: Switch, dialplan: Dialplan) -> None:
        self.switch = switch
        self.dialplan = dialplan
        self.refusals: list[str] = []

    # ---- before a call starts -------------------------------------------------------------

    def unsupported(self, context: str, exten: str) -> str | None:
        """Why the simulator cannot run ``exten@context`` (an application it does not have,
        named with its place), or None."""
        found = self.dialplan.find(context, exten, 1)
        if found is None:
            return None
        for step in found.extension.steps.values():
            if step.app.lower() not in self.APPS:
                return (
                    f"the simulator does not implement the application {step.app} "
                    f"({found.context},{found.extension.name},{step.priority})"
                )
        return None

    # ---- running --------------------------------------------------------------------------

    def start(self, ch: SimChannel, context: str, exten: str, priority: int = 1) -> None:
        """``ch`` continues at ``exten@context`` (an answered Originate, a Redirect, Goto)."""
        ch.context, ch.exten, ch.priority = context, exten, priority
        self.run(ch)

    def next(self, ch: SimChannel) -> None:
        """The application at the channel's priority returned: on to the next one."""
        if ch.alive:
            ch.priority += 1
            self.run(ch)

    def run(self, ch: SimChannel) -> None:
        if not ch.alive:
            return
        found = self.dialplan.find(ch.context, ch.exten, ch.priority)
        if found is None:
            if not self.dialplan.exists(ch.context, ch.exten, 1) and self.dialplan.exists(
                ch.context, "i", 1
            ):
                ch.variables["INVALID_EXTEN"] = ch.exten
                self.start(ch, ch.context, "i", 1)
                return
            self.end(ch)
            return
        app = found.step.app
        try:
            data = self.substitute(ch, found.step.data)
            handler: Callable[[SimChannel, str, Found], None] | None = getattr(
                self, f"_app_{app.lower()}", None
            )
            if app.lower() not in self.APPS or handler is None:
                raise Unsupported(f"the simulator does not implement the application {app}")
            ch.application, ch.appdata = app, data
            self.switch.emit(
                snap.event(
                    "Newexten",
                    "dialplan",
                    ch.headers(),
                    [("Extension", ch.exten), ("Application", app), ("AppData", data)],
                )
            )
            handler(ch, data, found)
        except Unsupported as exc:
            self.refuse(ch, f"{exc} ({found.context},{ch.exten},{ch.priority})")

    def refuse(self, ch: SimChannel, why: str) -> None:
        """Loudly: logged, kept, and the channel hung up rather than pretending."""
        self.refusals.append(why)
        log.error("simulator refuses {channel}: {why}", channel=ch.name, why=why)
        self.end(ch)

    def end(self, ch: SimChannel) -> None:
        """The dialplan is over: the soft hangup (16), then Hangup with HANGUPCAUSE."""
        if ch.alive:
            self.switch.request_hangup(ch, 16, soft=True)
            self.switch.hangup(ch, ch.hangupcause)

    def substitute(self, ch: SimChannel, text: str) -> str:
        """``${NAME}`` from the channel's variables and the globals, innermost first;
        functions and substrings are refused, unset names give ''."""

        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            if not _NAME.match(name):
                raise Unsupported(f"the simulator cannot expand ${{{name}}}")
            builtin = {
                "EXTEN": ch.exten,
                "CONTEXT": ch.context,
                "PRIORITY": str(ch.priority),
                "CHANNEL": ch.name,
                "UNIQUEID": ch.uniqueid,
                "HANGUPCAUSE": str(ch.hangupcause),
            }
            if name in builtin:
                return builtin[name]
            return ch.variables.get(name, self.switch.globals.get(name, ""))

        previous = None
        while previous != text:
            previous, text = text, _VAR.sub(value, text)
        return text

    # ---- the applications -----------------------------------------------------------------

    def _app_noop(self, ch: SimChannel, data: str, found: Found) -> None:
        self.next(ch)

    _app_verbose = _app_noop
    _app_playback = _app_noop  # the sound's length is not modelled: it plays at once

    def _app_set(self, ch: SimChannel, data: str, found: Found) -> None:
        name, eq, value = data.partition("=")
        if eq and name.strip() in _CALLERID:  # click-to-dial's caller ID (ccbox-desk-dial)
            if name.strip() == "CALLERID(num)":
                ch.caller_num = value
            else:
                ch.caller_name = value
            self.switch.emit(
                snap.channel_event(
                    "NewCallerid", ch, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")
                )
            )
            self.next(ch)
            return
        if not eq or not _NAME.match(name.strip()):
            raise Unsupported(f"Set({data}) is not NAME=value")
        ch.variables[name.strip()] = value
        self.next(ch)

    def _app_answer(self, ch: SimChannel, data: str, found: Found) -> None:
        self.switch.set_state(ch, snap.UP)
        self.next(ch)

    def _app_wait(self, ch: SimChannel, data: str, found: Found) -> None:
        try:
            seconds = float(data or "0")
        except ValueError:
            raise Unsupported(f"Wait({data}) is not a number of seconds") from None
        timer = self.switch.clock.callLater(seconds, self.next, ch)
        ch.on_hangup.append(lambda _c, _cause: timer.cancel() if timer.active() else None)

    def _app_hangup(self, ch: SimChannel, data: str, found: Found) -> None:
        if data.strip():
            if not data.strip().isdigit():
                raise Unsupported(f"Hangup({data}) takes a cause number")
            ch.hangupcause = int(data)
        self.end(ch)

    def _app_busy(self, ch: SimChannel, data: str, found: Found) -> None:
        """Busy()/Congestion(): the channel signals it (state Busy) and its dialplan ends
        with cause 17 / 34 (hangup-causes: the congested ;2 hangs up with 34, its
        ChannelStateDesc Busy). The indication's own wait is not modelled: it ends at once."""
        ch.hangupcause = 34 if found.step.app.lower() == "congestion" else 17
        self.switch.set_state(ch, snap.BUSY)
        self.end(ch)

    _app_congestion = _app_busy

    def _goto(self, ch: SimChannel, target: str, found: Found) -> None:
        """Goto's ``[[context,]exten,]priority``; a priority may be a label."""
        parts = [p.strip() for p in target.split(",")]
        if len(parts) > 3 or not all(parts):
            raise Unsupported(f"Goto({target}) is not [[context,]exten,]priority")
        context, exten = ch.context, ch.exten
        if len(parts) == 3:
            context, exten = parts[0], parts[1]
        elif len(parts) == 2:
            exten = parts[0]
        where = parts[-1]
        if where.isdigit():
            priority = int(where)
        else:
            step = self.dialplan.find(context, exten, where)
            if step is None:
                # Asterisk: "Priority 'x' must be a number > 0, or valid label"; the
                # channel's dialplan ends.
                self.end(ch)
                return
            priority = step.step.priority
        self.start(ch, context, exten, priority)

    def _app_goto(self, ch: SimChannel, data: str, found: Found) -> None:
        self._goto(ch, data, found)

    def _app_gotoif(self, ch: SimChannel, data: str, found: Found) -> None:
        condition, _, branches = data.partition("?")
        if_true, _, if_false = branches.partition(":")
        target = if_true if _truth(condition) else if_false
        if target.strip():
            self._goto(ch, target, found)
        else:
            self.next(ch)

    def _app_agi(self, ch: SimChannel, data: str, found: Found) -> None:
        url, *args = data.split(",")
        m = _AGI_URL.match(url.strip())
        if m is None:
            raise Unsupported(f"AGI({data}): only FastAGI (agi://host:port/script) runs here")
        ch.agi_arg = args[0] if args else ""
        if ch.agi_preset:  # the channel's creator runs this session (trunk_call, phone_call)
            ch.agi_preset = False
            return
        if self.switch.agi_starter is not None:
            self.switch.agi_starter(ch, m.group("script"), ch.exten)

    def _app_dial(self, ch: SimChannel, data: str, found: Found) -> None:
        self.switch.dial_from_dialplan(ch, data)

    def _app_amd(self, ch: SimChannel, data: str, found: Found) -> None:
        """AMD() with amd.conf's defaults on what the far party says (amd.py): a Local ;1's
        party is the one its ;2 dialed; without one the line is silent (MACHINE,
        INITIALSILENCE, as Asterisk hears silence). AMDSTATUS/AMDCAUSE are set when the
        analysis ends; a hangup meanwhile ends the channel (its dialplan does not go on)."""
        if data.strip():
            raise Unsupported(f"AMD({data}): only amd.conf's defaults are modelled")
        speech: tuple[tuple[str, int], ...] = ()
        two = ch.local_peer
        # ;2's Dial answered the party (DIALEDPEERNAME is set before ;2 is even bridged)
        far = self.switch.find(two.variables.get("DIALEDPEERNAME", "")) if two else None
        if far is not None and far.party is not None:
            speech = far.party.speech
        verdict = amd.detect(speech)

        def decided() -> None:
            if ch.alive:
                ch.variables["AMDSTATUS"] = verdict.status
                ch.variables["AMDCAUSE"] = verdict.cause
                self.next(ch)

        timer = self.switch.clock.callLater(verdict.after_s, decided)
        ch.on_hangup.append(lambda _c, _cause: timer.cancel() if timer.active() else None)

    def _app_chanspy(self, ch: SimChannel, data: str, found: Found) -> None:
        target, _, options = data.partition(",")
        self.switch.spy(ch, target, options)


def _truth(condition: str) -> bool:
    """GotoIf's condition: ``$["a" = "b"]`` / ``!=`` after substitution, or a plain number."""
    text = condition.strip()
    if text.startswith("$[") and text.endswith("]"):
        inner = text[2:-1]
        m = _COMPARE.match(inner)
        if m is None:
            raise Unsupported(f"the simulator cannot evaluate $[{inner}]")
        equal = m.group("a") == m.group("b")
        return equal if m.group("op") == "=" else not equal
    if re.fullmatch(r"-?\d+", text):
        return int(text) != 0
    if text == "":
        return False
    raise Unsupported(f"the simulator cannot evaluate the condition {text!r}")
