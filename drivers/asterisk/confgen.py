"""Generate the Asterisk configuration a ccbox box needs: `ccbox asterisk-config --out DIR`.

Three files, each meant to be ``#include``d from the matching Asterisk file (see the README
written beside them and docs/operations.md):

- ``manager_ccbox.conf``: the AMI user, least privilege: it reads call events, dialplan
  (Newexten: a blind transfer counts once the caller runs the target) and system
  (FullyBooted, Shutdown, DAHDI alarms), and of those only the events ccboxd handles
  (``eventfilter``: MANAGER_EVENTS, Newexten in the transfer contexts only); it writes
  only call, originate, agent, user and reporting; never system, command or config,
  which are root on the box. It is permitted from the AMI host in ccbox.conf only.
- ``extensions_ccbox.conf``: the dialplan contexts: trunks enter FastAGI, agent phones,
  outbound dialing, and supervision (ChanSpy) for Originate to land in.
- ``README.txt``: where each file goes.

Every context whose extension is an id or a number ccboxd sends (a queue id, a callback id,
an agent's endpoint, a DID, a phone number) matches one character or more with the pair
``_X`` and ``_X.``: ``_X.`` alone matches only from two characters on (callback 7 or queue
1 would be "Extension does not exist"), and ``_X!`` ends digit collection at its first
match (pbx.c: a ``!`` match is final), so an attended transfer to agent 1002 dialed 1 or
10, and an overlap-dialed DID would enter at its first digit. No pattern matches letters,
so none can catch the special extensions ``h``, ``i``, ``t`` or ``s``.

The FastAGI server marks each session it accepts with the channel variable ``CCBOX_AGI=1``
(drivers/asterisk/agi/server.py), and the dialplan plays its "no service" fallback only when
that mark is missing after ``AGI()``: ccboxd was unreachable. ``AGISTATUS`` cannot tell:
it is ``FAILURE`` after any failed command inside a session (a missing sound) too. A
stopping ccboxd gives the callers it still has in the IVR or a queue back with
``CCBOX_HANDOFF=1`` (appliance/shutdown.py): the dialplan then sends them to
``[ccbox-handoff]``, which config ``[shutdown] handoff`` makes a message, voicemail or an
extension of the old PBX.

Every FastAGI script named here is a route ccboxd serves (appliance/master.py; a test holds
the two together): an unknown script is hung up.

It reads ``AsteriskSettings``, not ccbox's config: the daemon's CLI maps ``ccbox.conf`` to
them (appliance/switch_settings.py), the switch simulator builds its own.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from drivers.asterisk.agi.server import SESSION_MARK as AGI_MARK
from drivers.asterisk.agi.session import HANDOFF_MARK
from drivers.asterisk.callmodel import CallModel

MANAGER_READ = "call,system,dialplan"
MANAGER_WRITE = "call,originate,agent,user,reporting"
# The events the AMI user receives (Asterisk 22 ``eventfilter``, include only): those
# ccboxd's subscribers handle (the AMI client, the call model, the switch link, the DAHDI
# span monitor; a unit test holds them together). Asterisk formats each event once whoever
# reads it, but writes to ccboxd's socket only these: of the ~80 events of a queued call,
# VarSet, most Newexten, HangupRequest, NewConnectedLine, DialBegin, LocalBridge,
# MusicOnHold... (three quarters, by count and bytes) never cross it.
MANAGER_EVENTS = (
    "FullyBooted",
    "Shutdown",
    *CallModel.EVENTS,
    "AttendedTransfer",
    "LocalOptimizationBegin",
    "Alarm",
    "AlarmClear",
    "SpanAlarm",
    "SpanAlarmClear",
    "DAHDIChannel",
)
# Newexten (one per dialplan priority of every call) only where a blind transfer lands:
# ccboxd counts a Redirect once the channel runs its target (acd/switch_link.py), and
# redirects only into these contexts.
REDIRECT_CONTEXTS = ("ccbox-transfer-queue", "ccbox-transfer-agent", "ccbox-extensions")
# A trunk: a DAHDI group or span, a PJSIP endpoint, or ``Local@<context>`` (numbers handed
# to a dialplan context of the installer's, e.g. a least-cost router or a test harness).
_TRUNK = re.compile(
    r"(DAHDI/[gGrR]?\d{1,3}|PJSIP/[A-Za-z0-9_.-]{1,40}|Local@[A-Za-z0-9_-]{1,40})\Z"
)
# The desk phones' technology (Asterisk 22 has no chan_sip), or ``Local@<context>`` for
# phones reached through a context of the installer's (follow-me, tests).
_DEVICE_TECH = re.compile(r"(PJSIP|IAX2|DAHDI|Local@[A-Za-z0-9_-]{1,40})\Z")
# Extension patterns: ids and numbers are digits, from one on (_X, then _X. from two: never
# _X!, whose first match ends digit collection); phone numbers may start '+'.
DIGITS = ("_X", "_X.")
NUMBERS = ("_X", "_X.", "_+X", "_+X.")
# ChanSpy options: q quiet, E exit when the target hangs up, u the target is an exact
# channel name or uniqueid (otherwise a prefix match!); w whisper, B barge.
SPY_OPTIONS = {"listen": "qEu", "whisper": "qEuw", "barge": "qEuB"}
# Click-to-dial: the caller ID the customer sees, then the call; T: the agent may transfer.
DESK_DIAL = (
    ",1,Set(CALLERID(num)=${{CCBOX_DESK_CID_NUM}})\n"
    " same => n,Set(CALLERID(name)=${{CCBOX_DESK_CID_NAME}})\n"
    " same => n,Dial({dial},60,T)\n"
    " same => n,Hangup()"
)
# Hold: one exact extension, so the Atxfer's digit collection ends at once (a pattern that
# could match more digits waits out the 3 s transfer digit timeout).
HOLD_EXTEN = "0"
HOLD_MAX_S = 3600


class ConfgenError(ValueError):
    """The ccbox config cannot produce a safe Asterisk config."""


@dataclass(frozen=True)
class AsteriskSettings:
    """What the generated files say: the AMI login ccboxd uses and the host it comes from,
    where ccboxd's FastAGI listens, and where a stopping ccboxd hands its callers
    (``handoff``: message, voicemail or extension; ``handoff_to``: the sound, mailbox or
    extension)."""

    ami_username: str = "ccbox"
    ami_secret: str = ""
    ami_host: str = "127.0.0.1"
    agi_bind: str = "127.0.0.1"
    agi_port: int = 4573
    handoff: str = "message"
    handoff_to: str = "ccbox-handoff"


def manager_conf(settings: AsteriskSettings) -> str:
    secret = settings.ami_secret
    if len(secret) < 12:
        raise ConfgenError(
            "set [ami] secret in ccbox.conf to at least 12 characters first "
            "(for example the output of: openssl rand -hex 16)"
        )
    if any(c in secret for c in ";\n\r") or secret != secret.strip():
        raise ConfgenError("[ami] secret must not contain ';', line breaks or edge spaces")
    try:
        host = ipaddress.ip_address(settings.ami_host)
    except ValueError:
        raise ConfgenError("[ami] host must be an IP address to generate 'permit'") from None
    permit = "127.0.0.1/255.255.255.255" if host.is_loopback else f"{host}/255.255.255.255"
    return f"""\
; Generated by ccbox asterisk-config. Include it at the end of /etc/asterisk/manager.conf:
;   #include manager_ccbox.conf
; and make sure [general] has enabled = yes (bind only to loopback when ccbox runs here).

[{settings.ami_username}]
secret = {secret}
; only ccboxd may connect
deny = 0.0.0.0/0.0.0.0
permit = {permit}
; least privilege: system read only so that FullyBooted, Shutdown and DAHDI alarms are
; delivered; never system, command or config write (each of those is root on the box)
read = {MANAGER_READ}
write = {MANAGER_WRITE}
; ccboxd reads promptly; a stalled reader is dropped rather than stalling Asterisk
writetimeout = 1000
; only the events ccboxd handles reach it (Asterisk 22 event filters; all others are dropped)
{event_filters()}"""


def event_filters() -> str:
    """The ``eventfilter`` lines of the AMI user: MANAGER_EVENTS by name, Newexten only in
    REDIRECT_CONTEXTS (its Context header, exact). Name filters cost Asterisk a hash
    compare per event; the header filter reads the lines of Newexten events alone."""
    names = [f"eventfilter(name({e})) =" for e in MANAGER_EVENTS]
    newexten = [
        f"eventfilter(name(Newexten),header(Context),method(exact)) = {c}"
        for c in REDIRECT_CONTEXTS
    ]
    return "\n".join(names + newexten) + "\n"


def receives(event: str, context: str | None = None) -> bool:
    """Whether the generated AMI user receives ``event`` (a Newexten in ``context``), as
    Asterisk's filters decide: for the switch simulator and the tests."""
    if event == "Newexten":
        return context in REDIRECT_CONTEXTS
    return event in MANAGER_EVENTS


def _dial(trunk: str) -> str:
    """Dial's argument for ``${EXTEN}`` on ``trunk``: DAHDI/g0/${EXTEN}; PJSIP/${EXTEN}@name;
    Local/${EXTEN}@context; a device technology alone: PJSIP/${EXTEN}."""
    if trunk.startswith("Local@"):
        return f"Local/${{EXTEN}}@{trunk.partition('@')[2]}"
    tech, _, name = trunk.partition("/")
    if tech == "PJSIP" and name:
        return f"PJSIP/${{EXTEN}}@{name}"
    return f"{trunk}/${{EXTEN}}"


def _extens(patterns: tuple[str, ...], body: str) -> str:
    """The same priorities (``body``, starting ``,1,``) under each pattern."""
    return "\n".join(f"exten => {p}{body}" for p in patterns)


def _then_hangup(app: str) -> str:
    return f",1,{app}\n same => n,Hangup()"


def _agi_with_fallback(agi: str) -> str:
    """AGI into ccboxd; the "no service" prompt only when ccboxd never took the session
    (its first command sets CCBOX_AGI=1); the hand-off when ccboxd, stopping, gave the
    caller back (CCBOX_HANDOFF=1, appliance/shutdown.py). Both cleared first: a channel
    redirected here keeps the marks of its previous session."""
    return (
        f",1,Set({AGI_MARK}=)\n"
        f" same => n,Set({HANDOFF_MARK}=)\n"
        f" same => n,{agi}\n"
        f' same => n,GotoIf($["${{{HANDOFF_MARK}}}" = "1"]?handoff)\n'
        f' same => n,GotoIf($["${{{AGI_MARK}}}" != "1"]?fallback)\n'
        " same => n,Hangup()\n"
        " same => n(fallback),Answer()\n"
        " same => n,Playback(ss-noservice)\n"
        " same => n,Hangup()\n"
        " same => n(handoff),Goto(ccbox-handoff,s,1)"
    )


def _dialer(agi: str) -> str:
    """An answered campaign call: AMD() when asked (AMDSTATUS, AMDCAUSE for ccboxd), then
    FastAGI with the attempt's id. Hung up when ccboxd cannot take it (no prompt: the
    called party hears nothing from a dialer that is down, and the attempt is retried)."""
    return (
        ',1,GotoIf($["${CCBOX_AMD}" != "1"]?talk)\n'
        " same => n,AMD()\n"
        f" same => n(talk),{agi}/dialer,${{EXTEN}})\n"
        " same => n,Hangup()"
    )


def handoff_context(settings: AsteriskSettings) -> str:
    """``[ccbox-handoff]``'s ``s``: where a stopping ccboxd sends the callers it still has
    in the IVR or a queue (config ``[shutdown] handoff``)."""
    to = settings.handoff_to
    if settings.handoff == "extension":
        return f"exten => s,1,Goto(ccbox-extensions,{to},1)"
    if settings.handoff == "voicemail":
        box = to if "@" in to else f"{to}@default"
        return f"exten => s,1,Answer()\n same => n,VoiceMail({box},u)\n same => n,Hangup()"
    return f"exten => s,1,Answer()\n same => n,Playback({to})\n same => n,Hangup()"


def extensions_conf(
    settings: AsteriskSettings,
    trunk: str = "DAHDI/g0",
    device_tech: str = "PJSIP",
    pbx: str | None = None,
) -> str:
    """The dialplan; ``pbx`` is the trunk to the old PBX's extensions (default: the desk
    phones' technology, for extensions on this Asterisk)."""
    if not _TRUNK.match(trunk):
        raise ConfgenError(
            f"trunk {trunk!r}: use DAHDI/g<group>, DAHDI/<span>, PJSIP/<name> or Local@<context>"
        )
    if not _DEVICE_TECH.match(device_tech):
        raise ConfgenError(
            f"device technology {device_tech!r}: use PJSIP, IAX2, DAHDI or Local@<context>"
            " (Asterisk 22 has no chan_sip: SIP/ phones are PJSIP endpoints now)"
        )
    pbx = pbx or device_tech
    if not (_TRUNK.match(pbx) or _DEVICE_TECH.match(pbx)):
        raise ConfgenError(
            f"PBX trunk {pbx!r}: use DAHDI/g<group>, DAHDI/<span>, PJSIP/<name> or Local@<context>"
        )
    agi = f"AGI(agi://{settings.agi_bind}:{settings.agi_port}"
    spy = "\n".join(
        f"exten => {mode},1,Answer()\n"
        f" same => n,ChanSpy(${{CCBOX_SPY_TARGET}},{opts})\n"
        f" same => n,Hangup()"
        for mode, opts in SPY_OPTIONS.items()
    )
    inbound = _extens(NUMBERS, _agi_with_fallback(f"{agi}/inbound,${{EXTEN}})"))
    to_queue = _extens(DIGITS, _agi_with_fallback(f"{agi}/transfer-queue,${{EXTEN}})"))
    to_agent = _extens(DIGITS, _agi_with_fallback(f"{agi}/transfer-agent,${{EXTEN}})"))
    return f"""\
; Generated by ccbox asterisk-config. Include it from /etc/asterisk/extensions.conf:
;   #include extensions_ccbox.conf
; then point the trunks' context at [ccbox-inbound] (chan_dahdi.conf: context=ccbox-inbound;
; pjsip.conf endpoints of providers: context=ccbox-inbound).
;
; Every id or number below matches from one character on (_X and _X.: 1, 7, 12, ...); _X.
; alone would need two, and _X! would end an attended transfer's digits at the first match.
; The fallback after AGI() plays only when ccboxd never took the call: ccboxd sets
; {AGI_MARK}=1 first thing in every session (AGISTATUS is FAILURE after any failed command,
; a missing sound, even when ccboxd handled the call).

; Calls from the trunks. Every call is handed to ccboxd over FastAGI with the dialed number
; (DIDs arrive whole, en bloc); analog lines without DID arrive at 's' and go in as 0. If
; ccboxd is unreachable, AGI fails after 2 s and the caller hears the fallback prompt rather
; than silence.
[ccbox-inbound]
{inbound}
exten => s,1,Goto(ccbox-inbound,0,1)

; Agent desk phones, by endpoint (digits): attended transfers to an agent dial here.
[ccbox-agents]
{_extens(DIGITS, _then_hangup(f"Dial({_dial(device_tech)},30)"))}

; Agent feature codes: include this context in the desk phones' context
; (include => ccbox-features). Login asks for the agent number and PIN.
[ccbox-features]
exten => *71,1,{agi}/agent,login)
 same => n,Hangup()
exten => *72,1,{agi}/agent,logout)
 same => n,Hangup()
exten => *73,1,{agi}/agent,pause)
 same => n,Hangup()
exten => *74,1,{agi}/agent,unpause)
 same => n,Hangup()
exten => *75,1,{agi}/agent,wrapup_done)
 same => n,Hangup()
; Voicemail by phone: mailbox number and PIN, then the messages.
exten => *98,1,{agi}/voicemail)
 same => n,Hangup()

; Callbacks: ccboxd originates the agent's phone into here (the exten is the callback's
; id in ccboxd: 1, 2, ...); once the agent answers, ccboxd dials the customer.
[ccbox-callback]
{_extens(DIGITS, _then_hangup(f"{agi}/callback,${{EXTEN}})"))}

; Transfers: ccboxd redirects a caller into a queue (by id) or to an agent (by number).
[ccbox-transfer-queue]
{to_queue}
[ccbox-transfer-agent]
{to_agent}

; Extensions of the old PBX (digits), for transfers and overflow out of ccbox.
[ccbox-extensions]
{_extens(DIGITS, _then_hangup(f"Dial({_dial(pbx)},60)"))}

; Outbound calls: callbacks dial the customer through here (numbers, '+' allowed).
[ccbox-outbound]
{_extens(NUMBERS, _then_hangup(f"Dial({_dial(trunk)},60)"))}

; Campaigns: ccboxd's dialer originates Local/<number>@ccbox-outbound/n into here (the exten
; is the attempt's id). The ;1 half runs this once the called party answered; AMD() first
; when the campaign detects answering machines (CCBOX_AMD=1), then ccboxd takes the call.
[ccbox-dialer]
{_extens(DIGITS, _dialer(agi))}

; Click-to-dial from the desk: ccboxd originates the agent's phone into here (the exten is
; the number to call; the phone shows it as the caller) with the caller ID the customer sees
; in CCBOX_DESK_CID_NUM/NAME. T gives the agent (this Dial's calling side) the transfer
; feature that hold, consultation and conference use (AMI Atxfer on the agent's channel).
[ccbox-desk-dial]
{_extens(NUMBERS, DESK_DIAL.format(dial=_dial(trunk)))}

; Hold: ccboxd starts an attended transfer (AMI Atxfer) of the agent's leg to 0 here. The
; bridge plays the caller hold music while the agent waits in silence with this leg;
; hanging this leg up (AMI Hangup) puts the agent back with the caller.
[ccbox-desk-hold]
exten => {HOLD_EXTEN},1,Answer()
 same => n,Wait({HOLD_MAX_S})
 same => n,Hangup()

; A stopping ccboxd (an upgrade, a restart) hands the callers still in the IVR or waiting
; in a queue to here ([shutdown] handoff in ccbox.conf: {settings.handoff}).
[ccbox-handoff]
{handoff_context(settings)}

; Supervision: ccboxd originates the supervisor's phone into here with CCBOX_SPY_TARGET set
; to the agent's exact channel name.
[ccbox-supervise]
{spy}
"""


README = """\
Files generated by `ccbox asterisk-config` for this box.

  manager_ccbox.conf     -> /etc/asterisk/, then add '#include manager_ccbox.conf'
                            at the end of /etc/asterisk/manager.conf
  extensions_ccbox.conf  -> /etc/asterisk/, then add '#include extensions_ccbox.conf'
                            to /etc/asterisk/extensions.conf

Point the trunks at the context ccbox-inbound (chan_dahdi.conf or pjsip.conf), then:
  asterisk -rx 'manager reload' && asterisk -rx 'dialplan reload'
The secret in manager_ccbox.conf is ccbox.conf's [ami] secret: keep the file mode 0640,
owned by root:asterisk.
"""


def write(
    settings: AsteriskSettings,
    out: Path,
    trunk: str = "DAHDI/g0",
    device_tech: str = "PJSIP",
    pbx: str | None = None,
    *,
    sounds_note: str = "",
) -> list[Path]:
    """Write the files into ``out`` (created if missing); return their paths.
    ``sounds_note`` ends the README: where the system sounds are (ivr/system_sounds.py
    writes them; this module only configures Asterisk)."""
    files = {
        "manager_ccbox.conf": manager_conf(settings),
        "extensions_ccbox.conf": extensions_conf(settings, trunk, device_tech, pbx),
        "README.txt": README + ("\n" + sounds_note if sounds_note else ""),
    }
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o640)
        tmp.replace(path)
        written.append(path)
    return written
