"""A real Asterisk 22 for `make test-asterisk`: found, configured in a private directory,
started in the foreground, driven over AMI, and stopped.

    install = find_asterisk()                 # ASTERISK=/path/to/sbin/asterisk, or PATH
    conf = write_config(root, install, ports, ccbox_dir)
    with running_asterisk(install, conf) as ast:
        ast.ami.action("Originate", Channel="Local/caller@harness-callers", ...)
        ast.cli("core show channels")

The private configuration: every directory inside ``root``, modules loaded by name
(``autoload = no``), AMI and IAX2 on free loopback ports, the log and the CDRs (cdr_custom,
one JSON object a line) in files the tests read. On top of ccbox's own generated files
(``ccbox asterisk-config``: the manager user and the dialplan), a harness dialplan stands in
for the world around the box, as the lab of ../asterisk-lab did when the traces were
recorded:

- desk phones: IAX2 peers 1001-1006 that loop back into this Asterisk. A call to
  ``IAX2/1001`` arrives here again as ``IAX2/phoneside-N`` in ``[iax-in-1001]``, which
  answers, never answers, is busy or talks as the global variables ``PHONE_1001`` (answer,
  noanswer, busy), ``PHONE_RING_1001`` and ``PHONE_TALK_1001`` (seconds) say. A phone that
  talks plays a 880 Hz pattern (the agent's voice). Its answer is the UserEvent
  HarnessPhoneAnswered (``Phone``, and ``Caller``: the number of the call it took).
- callers: ``Local/caller@harness-callers`` originated into ``[ccbox-inbound]``: the ``;2``
  half answers, plays a 440 Hz pattern (the caller's voice), presses ``CALLER_DIGITS`` after
  ``CALLER_DIGITS_AT`` seconds and hangs up after ``CALLER_HANGUP_AFTER`` seconds.
- the outside world for outbound calls (the trunk ``Local@harness-pstn``): a number answers
  after ``PSTN_RING`` s unless ``PSTN_<number>`` says noanswer or busy; ``machine``
  answers with a long greeting (4 s of tone, again and again), ``person`` with a short
  "hello" (0.5 s of tone) followed by silence, for AMD() to tell apart.
- desk phones dialing feature codes: ``Local/<code>@desk-<agent>`` dials into this Asterisk
  as the IAX2 user of that phone, so ccboxd sees the channel ``IAX2/<agent>-N``; its ``;1``
  half runs ``[harness-keypad]``, the person pressing keys at set times.
- Asterisk's own app_queue instead of ccboxd (``write_config(app_queue=AppQueue())``, for
  tests/asterisk_bench): callers originated into ``[harness-app-queue]`` run ``Queue()``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import ports

PHONES = ("1001", "1002", "1003", "1004", "1005", "1006")
AMI_USER = "harness"
AMI_SECRET = "harness-secret"
CDR_FILE = "cdr.json"
WANT_MAJOR = 22

# Modules loaded by name: what ccbox's dialplan and sessions use (AGI, Dial, MixMonitor,
# ChanSpy, Playback, hold music, transfers), what the harness dialplan uses, IAX2 for the
# desk phones and the CDR backend the tests read.
MODULES = (
    "res_timing_timerfd",
    "res_crypto",
    "res_speech",
    "res_agi",
    "res_musiconhold",
    "res_cdrel_custom",
    "cdr_custom",
    "pbx_config",
    "chan_iax2",
    "bridge_simple",
    "bridge_holding",
    "bridge_builtin_features",
    "bridge_builtin_interval_features",
    "bridge_softmix",  # a three-way call (an attended transfer turned into a conference)
    "res_mutestream",  # MUTEAUDIO(): the desk's mute
    "codec_ulaw",
    "codec_alaw",
    "codec_gsm",
    "codec_a_mu",
    "format_gsm",
    "format_wav",
    "format_wav_gsm",
    "format_pcm",
    "format_sln",
    "app_dial",
    "app_amd",  # the dialer's answering-machine detection ([ccbox-dialer])
    "app_playback",
    "app_mixmonitor",
    "app_chanspy",
    "app_stack",
    "app_exec",
    "app_verbose",
    "app_senddtmf",
    "app_playtones",
    "app_echo",
    "app_read",
    "app_record",
    "app_userevent",
    "app_transfer",
    "app_attended_transfer",
    "app_blind_transfer",
    "func_cdr",
    "func_strings",
    "func_logic",
    "func_global",
    "func_channel",
    "func_callerid",
    "func_hangupcause",
    "func_math",
)


class AsteriskMissing(Exception):
    """No usable Asterisk 22: the message says what is missing and how to provide it."""


@dataclass(frozen=True)
class AsteriskInstall:
    """Where an installed Asterisk keeps what the private configuration points at."""

    binary: Path
    version: str
    modules: Path
    sounds: Path  # the core sounds of one language (beep, digits/, ...)
    moh: Path | None
    documentation: Path  # core-en_US.xml: Asterisk checks config options against it


def _version(binary: Path) -> str:
    try:
        out = subprocess.run(
            [str(binary), "-V"], capture_output=True, text=True, timeout=20, check=False
        )
    except OSError as exc:
        raise AsteriskMissing(f"{binary} does not run: {exc}") from None
    return out.stdout.strip()


def _first_dir(candidates: list[Path], probe: str) -> Path | None:
    return next((c for c in candidates if (c / probe).exists()), None)


def find_asterisk(env: dict[str, str] | None = None) -> AsteriskInstall:
    """The Asterisk named by ``ASTERISK`` (or the one on PATH), with its module directory
    (``ASTERISK_MODULES`` overrides) and core sounds (``ASTERISK_SOUNDS``: the directory of
    one language's files, e.g. .../sounds/en). Raises AsteriskMissing with the remedy."""
    env = dict(os.environ if env is None else env)
    named = env.get("ASTERISK", "")
    found = named or shutil.which("asterisk", path=env.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        raise AsteriskMissing(
            "no Asterisk 22 binary: none on PATH and ASTERISK is not set. Build Asterisk 22 "
            "LTS from its release source (docs/operations.md, "
            "'Asterisk 22 for ccbox') and run: make test-asterisk ASTERISK=/path/to/sbin/asterisk"
        )
    binary = Path(found)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise AsteriskMissing(f"ASTERISK={binary}: no executable file there")
    version = _version(binary)
    m = re.match(r"Asterisk (?:certified-)?(\d+)\.", version)
    if not m or int(m.group(1)) != WANT_MAJOR:
        raise AsteriskMissing(
            f"{binary} says {version!r}: ccbox is tested against Asterisk {WANT_MAJOR} LTS"
        )
    prefix = binary.resolve().parent.parent
    mod_candidates = [
        Path(p)
        for p in (
            env.get("ASTERISK_MODULES", ""),
            prefix / "lib" / "asterisk" / "modules",
            prefix / "lib64" / "asterisk" / "modules",
            "/usr/lib/asterisk/modules",
            "/usr/lib/x86_64-linux-gnu/asterisk/modules",
        )
        if p
    ]
    modules = _first_dir(mod_candidates, "chan_iax2.so")
    if modules is None:
        raise AsteriskMissing(
            "no Asterisk module directory with chan_iax2.so (looked in "
            + ", ".join(map(str, mod_candidates))
            + "): set ASTERISK_MODULES, or build Asterisk with chan_iax2 (docs/operations.md)"
        )
    missing = [m for m in MODULES if not (modules / f"{m}.so").exists()]
    if missing:
        raise AsteriskMissing(
            f"{modules} lacks modules ccbox needs: {', '.join(missing)} "
            "(enable them in menuselect and rebuild; docs/operations.md)"
        )
    sound_candidates = [
        Path(p)
        for p in (
            env.get("ASTERISK_SOUNDS", ""),
            prefix / "var" / "lib" / "asterisk" / "sounds" / "en",
            "/var/lib/asterisk/sounds/en",
            "/usr/share/asterisk/sounds/en",
            "/usr/share/asterisk/sounds/en_US_f_Allison",
        )
        if p
    ]
    sounds = next(
        (c for c in sound_candidates if any(c.glob("beep.*")) and (c / "digits").is_dir()), None
    )
    if sounds is None:
        raise AsteriskMissing(
            "no Asterisk core sounds (beep, digits/) found in "
            + ", ".join(map(str, sound_candidates))
            + ": install them (Debian: apt-get install asterisk-core-sounds-en-gsm, or the "
            "core-sounds tarball from downloads.asterisk.org) or set ASTERISK_SOUNDS"
        )
    moh = next(
        (
            d
            for d in (prefix / "var" / "lib" / "asterisk" / "moh", Path("/usr/share/asterisk/moh"))
            if d.is_dir() and any(d.iterdir())
        ),
        None,
    )
    doc_candidates = [
        prefix / "var" / "lib" / "asterisk" / "documentation",
        Path("/var/lib/asterisk/documentation"),
        Path("/usr/share/asterisk/documentation"),
    ]
    documentation = _first_dir(doc_candidates, "core-en_US.xml")
    if documentation is None:
        raise AsteriskMissing(
            "no core-en_US.xml in "
            + ", ".join(map(str, doc_candidates))
            + ": Asterisk refuses its own configuration without it (run make install)"
        )
    return AsteriskInstall(binary, version, modules, sounds, moh, documentation)


def free_udp_port() -> int:
    """A free loopback UDP port for IAX2, outside the ephemeral range (tests/support/ports.py)."""
    return ports.free_port(socket.SOCK_DGRAM)


@dataclass(frozen=True)
class Ports:
    ami: int
    iax: int
    fastagi: int


# ---- the private configuration ---------------------------------------------------------


def _asterisk_conf(root: Path, install: AsteriskInstall) -> str:
    return f"""\
[directories]
astetcdir => {root}/etc
astmoddir => {install.modules}
astvarlibdir => {root}/var/lib
astdbdir => {root}/var/lib
astkeydir => {root}/var/lib
astdatadir => {root}/data
astagidir => {root}/data/agi-bin
astspooldir => {root}/var/spool
astrundir => {root}/run
astlogdir => {root}/log
astsbindir => {install.binary.parent}

[options]
verbose = 3
debug = 0
nocolor = yes
defaultlanguage = en
documentation_language = en_US
hideconnect = yes
"""


def _modules_conf(modules: tuple[str, ...] = MODULES) -> str:
    loads = "\n".join(f"load => {m}.so" for m in modules)
    return f"[modules]\nautoload = no\n{loads}\n"


def _manager_conf(port: int, harness_events: tuple[str, ...] | None = None) -> str:
    filters = "".join(f"{line}\n" for line in harness_events or ())
    return f"""\
[general]
enabled = yes
port = {port}
bindaddr = 127.0.0.1
displayconnects = no

; the test harness: sees and may do everything (ccbox's own user is the one it generates)
[{AMI_USER}]
secret = {AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all
{filters}
#include manager_ccbox.conf
"""


def event_filter(name: str, header: str = "", starts_with: str = "") -> str:
    """A manager.conf line that lets the harness user see event ``name`` (with ``header``
    starting with ``starts_with``, when given). With any such line the user sees nothing
    else: Asterisk builds every event once, but writing it to a session that does not want
    it, and that session's reading, are work the switch skips (write_config's
    ``harness_events``)."""
    criteria = f"action(include),name({name})"
    if header:
        criteria += f",header({header}),method(starts_with)"
    return f"eventfilter({criteria}) = {starts_with}"


# What the harness itself must see: FullyBooted (the AMI connection is up), SuccessfulAuth
# (ccboxd's AMI login) and OriginateResponse (box.call).
HARNESS_MINIMUM = (
    event_filter("FullyBooted"),
    event_filter("SuccessfulAuth"),
    event_filter("OriginateResponse"),
)


def _phone_addr(phone: str) -> str:
    """Each desk phone has a loopback address of its own (127.0.0.11 for 1001, ...): chan_iax2
    names an incoming call after the peer whose address it came from, so a call the phone
    makes is ``IAX2/1001-N`` while the phone end of a call to it is ``IAX2/phoneside-N``."""
    return f"127.0.0.{10 + PHONES.index(phone) + 1}"


def _iax_conf(port: int) -> str:
    contexts = "\n".join(f"context = iax-in-{p}" for p in PHONES)
    binds = "\n".join(f"bindaddr = {_phone_addr(p)}" for p in PHONES)
    peers = "\n".join(
        f"""\
; the desk phone, as ccboxd dials it (Dial(IAX2/{p}))
[{p}]
type = friend
host = {_phone_addr(p)}
port = {port}
username = phoneside
peercontext = iax-in-{p}
context = phone-{p}
requirecalltoken = no
qualify = no

; the same phone dialing out (the harness's Local/<code>@desk-{p})
[desk-{p}]
type = peer
host = 127.0.0.2
port = {port}
sourceaddress = {_phone_addr(p)}:{port}
username = {p}
peercontext = phone-{p}
requirecalltoken = no
qualify = no
"""
        for p in PHONES
    )
    return f"""\
[general]
; bindport first: bindaddr binds at once, with the port known so far. The first address is
; the one calls to the phones leave from.
bindport = {port}
bindaddr = 127.0.0.1
bindaddr = 127.0.0.2
{binds}
disallow = all
allow = ulaw
jitterbuffer = no
forcejitterbuffer = no
autokill = yes
requirecalltoken = no
calltokenoptional = 127.0.0.0/255.0.0.0
delayreject = no
encryption = no

; the phone end of every call to a desk phone (the lab's loopback): the calls come from
; 127.0.0.1, this peer's address, so they are named IAX2/phoneside-N
[phoneside]
type = friend
host = 127.0.0.1
port = {port}
requirecalltoken = no
qualify = no
{contexts}

{peers}"""


def _cdr_confs(root: Path) -> tuple[str, str]:
    cdr = """\
[general]
enable = yes
unanswered = yes
congestion = yes
batch = no
endbeforehexten = no
"""
    custom = f"""\
[{root}/log/{CDR_FILE}]
format = json
fields = clid, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, start(double), \
answer(double), end(double), duration, billsec, disposition, uniqueid, linkedid, sequence
"""
    return cdr, custom


def _logger_conf() -> str:
    return """\
[general]
dateformat = %F %T.%3q

[logfiles]
messages.log => notice,warning,error,verbose(3),dtmf
"""


def _musiconhold_conf(install: AsteriskInstall) -> str:
    """``default``, and ``jazz`` (the same files) for a queue with a class of its own."""
    if install.moh is None:
        return "".join(f"[{c}]\nmode = files\ndirectory = moh\n" for c in ("default", "jazz"))
    return "".join(
        f"[{c}]\nmode = files\ndirectory = {install.moh}\nsort = alpha\n"
        for c in ("default", "jazz")
    )


APP_QUEUE_CONTEXT = "harness-app-queue"


@dataclass(frozen=True)
class AppQueue:
    """Asterisk's own app_queue as the brain instead of ccboxd (the switch benchmark's
    baseline, tests/asterisk_bench): one queue of static members; a caller originated into
    ``[harness-app-queue]`` runs ``Queue(<name>,t)`` (t: the agent may transfer, as ccboxd's
    Dial t). joinempty/leavewhenempty: nobody is turned away or dropped."""

    name: str = "bench"
    members: tuple[str, ...] = ("IAX2/1001", "IAX2/1002")
    strategy: str = "rrmemory"
    timeout_s: int = 5
    wrapup_s: int = 1
    music_class: str = "default"
    # What the caller hears first, as ccboxd's built-in flow plays it before the queue
    # (appliance's default flow: ccbox-welcome): both modes then differ only in the wait.
    greeting: str = "ccbox-welcome"

    def queues_conf(self) -> str:
        members = "".join(f"member => {m}\n" for m in self.members)
        return f"""\
[general]
persistentmembers = no
autofill = yes
shared_lastcall = no

[{self.name}]
strategy = {self.strategy}
ringinuse = no
timeout = {self.timeout_s}
wrapuptime = {self.wrapup_s}
musicclass = {self.music_class}
announce-frequency = 0
periodic-announce-frequency = 0
announce-position = no
announce-holdtime = no
joinempty = yes
leavewhenempty = no
{members}"""

    def dialplan(self) -> str:
        return f"""
; Asterisk's own queue as the brain (tests/asterisk_bench): Local/caller@harness-callers
; originated here instead of into ccbox-inbound.
[{APP_QUEUE_CONTEXT}]
exten => _X!,1,Answer()
 same => n,Playback({self.greeting})
 same => n,Queue({self.name},t)
 same => n,Hangup()
"""


def harness_dialplan() -> str:
    """The world around the box (see the module docstring)."""
    iax_in = "\n".join(f"[iax-in-{p}]\nexten => s,1,Goto(harness-phone,{p},1)\n" for p in PHONES)
    desks = "\n".join(
        f"""\
[desk-{p}]
exten => _[*0-9#]!,1,Dial(IAX2/desk-{p}/${{EXTEN}})
 same => n,Hangup()
[phone-{p}]
include => ccbox-features
include => desk-dtmf
"""
        for p in PHONES
    )
    return f"""\
; ---- the test harness (tests/support/real_asterisk.py) ----
[globals]
PSTN_RING = 1

; Desk phones: the phone end of a call to IAX2/<n>.
{iax_in}
[harness-phone]
exten => _X!,1,NoOp(phone ${{EXTEN}} rings: ${{PHONE_${{EXTEN}}}})
 same => n,Set(MODE=${{PHONE_${{EXTEN}}}})
 same => n,GotoIf($["${{MODE}}" = "busy"]?busy)
 same => n,GotoIf($["${{MODE}}" = "noanswer"]?never)
 same => n,Wait(${{IF($["${{PHONE_RING_${{EXTEN}}}}" = ""]?1:${{PHONE_RING_${{EXTEN}}}})}})
 same => n,Answer()
 same => n,UserEvent(HarnessPhoneAnswered,Phone: ${{EXTEN}},Caller: ${{CALLERID(num)}})
 same => n,PlayTones(880/400,0/250,880/300,0/600)
 same => n,Wait(${{IF($["${{PHONE_TALK_${{EXTEN}}}}" = ""]?3600:${{PHONE_TALK_${{EXTEN}}}})}})
 same => n,UserEvent(HarnessPhoneHungUp,Phone: ${{EXTEN}})
 same => n,Hangup()
 same => n(busy),Busy(5)
 same => n(never),Wait(3600)

; Callers: the ;2 half of Local/caller@harness-callers (the ;1 half is in ccbox-inbound).
[harness-callers]
exten => caller,1,Answer()
 same => n,PlayTones(440/500,0/300,440/300,0/700)
 same => n,GotoIf($["${{CALLER_DIGITS}}" = ""]?hold)
 same => n,Wait(${{CALLER_DIGITS_AT}})
 same => n,StopPlayTones()
 same => n,SendDTMF(${{CALLER_DIGITS}},250)
 same => n,PlayTones(440/500,0/300,440/300,0/700)
 same => n(hold),Wait(${{CALLER_HANGUP_AFTER}})
 same => n,UserEvent(HarnessCallerHangsUp,Caller: ${{CALLERID(num)}})
 same => n,Hangup()

; The outside world behind the trunk Local@harness-pstn.
[harness-pstn]
exten => _X!,1,NoOp(outside number ${{EXTEN}}: ${{PSTN_${{EXTEN}}}})
 same => n,GotoIf($["${{PSTN_${{EXTEN}}}}" = "busy"]?busy)
 same => n,GotoIf($["${{PSTN_${{EXTEN}}}}" = "noanswer"]?never)
 same => n,GotoIf($["${{PSTN_${{EXTEN}}}}" = "machine"]?machine)
 same => n,GotoIf($["${{PSTN_${{EXTEN}}}}" = "person"]?person)
 same => n,Wait(${{PSTN_RING}})
 same => n,Answer()
 same => n,UserEvent(HarnessOutsideAnswered,Number: ${{EXTEN}})
 same => n,PlayTones(440/500,0/300,440/300,0/700)
 same => n,Wait(${{IF($["${{PSTN_TALK_${{EXTEN}}}}" = ""]?3600:${{PSTN_TALK_${{EXTEN}}}})}})
 same => n,Hangup()
 same => n(busy),Busy(5)
 same => n(never),Wait(3600)
 same => n(machine),Wait(${{PSTN_RING}})
 same => n,Answer()
 same => n,UserEvent(HarnessOutsideAnswered,Number: ${{EXTEN}})
 same => n,PlayTones(440/4000,0/300)
 same => n,Wait(60)
 same => n,Hangup()
 same => n(person),Wait(${{PSTN_RING}})
 same => n,Answer()
 same => n,UserEvent(HarnessOutsideAnswered,Number: ${{EXTEN}})
 same => n,PlayTones(440/500,0/5000)
 same => n,Wait(${{IF($["${{PSTN_TALK_${{EXTEN}}}}" = ""]?3600:${{PSTN_TALK_${{EXTEN}}}})}})
 same => n,Hangup()

; The person at a desk phone (the ;1 half of Local/<code>@desk-<n>): keys pressed at set
; times once the code's call is answered (KEYS1 after KEYS1_AT s, KEYS2 KEYS2_AT s later,
; KEYS3 KEYS3_AT s after that), then the phone is put down after HOLD s.
[harness-keypad]
exten => s,1,Wait(${{KEYS1_AT}})
 same => n,ExecIf($["${{KEYS1}}" != ""]?SendDTMF(${{KEYS1}},250))
 same => n,Wait(${{KEYS2_AT}})
 same => n,ExecIf($["${{KEYS2}}" != ""]?SendDTMF(${{KEYS2}},250))
 same => n,Wait(${{KEYS3_AT}})
 same => n,ExecIf($["${{KEYS3}}" != ""]?SendDTMF(${{KEYS3}},250))
 same => n,Wait(${{HOLD}})
 same => n,Hangup()

; Desk phones dialing out: Local/<code>@desk-<n> calls in as the IAX2 user <n>.
{desks}
[desk-dtmf]
exten => _X!,1,Hangup()
"""


def write_config(
    root: Path,
    install: AsteriskInstall,
    ports: Ports,
    ccbox_dir: Path,
    ccbox_sounds: Path,
    app_queue: AppQueue | None = None,
    harness_events: tuple[str, ...] | None = None,
) -> Path:
    """Write the private configuration under ``root``; return the asterisk.conf to pass to
    ``asterisk -C``. ``ccbox_dir`` holds what ``ccbox asterisk-config`` wrote, and
    ``ccbox_sounds`` its ``sounds/<lang>/`` directories (installed into the sounds here).
    ``app_queue``: load app_queue with that queue and its context; ``harness_events``:
    the only events the harness's AMI user sees (``event_filter`` lines; None: all)."""
    modules: tuple[str, ...] = MODULES
    if app_queue is not None:
        modules = (*MODULES, "app_queue")
        if not (install.modules / "app_queue.so").exists():
            raise AsteriskMissing(
                f"{install.modules} has no app_queue.so (enable it in menuselect and rebuild)"
            )
    etc = root / "etc"
    for d in ("etc", "var/lib", "var/spool", "run", "log", "data/agi-bin", "data/sounds/en"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name in ("manager_ccbox.conf", "extensions_ccbox.conf"):
        src = ccbox_dir / name
        if not src.exists():
            raise AsteriskMissing(f"ccbox asterisk-config wrote no {name} into {ccbox_dir}")
        shutil.copyfile(src, etc / name)
    _install_sounds(root / "data" / "sounds", install, ccbox_sounds)
    docs = root / "data" / "documentation"
    if not docs.exists():
        docs.symlink_to(install.documentation)
    cdr, custom = _cdr_confs(root)
    files = {
        "asterisk.conf": _asterisk_conf(root, install),
        "modules.conf": _modules_conf(modules),
        "manager.conf": _manager_conf(ports.ami, harness_events),
        "iax.conf": _iax_conf(ports.iax),
        "extensions.conf": "[general]\nstatic = yes\nwriteprotect = yes\n\n"
        "#include extensions_ccbox.conf\n\n"
        + harness_dialplan()
        + (app_queue.dialplan() if app_queue else ""),
        "cdr.conf": cdr,
        "cdr_custom.conf": custom,
        "logger.conf": _logger_conf(),
        "musiconhold.conf": _musiconhold_conf(install),
        "features.conf": "[general]\ntransferdigittimeout = 3\n\n[featuremap]\natxfer = *2\n",
        # app_amd declines to load without it; an empty [general] keeps its defaults
        "amd.conf": "[general]\n",
        "indications.conf": "[general]\ncountry = us\n\n[us]\ndescription = United States\n"
        "ringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\n"
        "ring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\n",
    }
    if app_queue is not None:
        files["queues.conf"] = app_queue.queues_conf()
    for name, text in files.items():
        (etc / name).write_text(text, encoding="utf-8")
    return etc / "asterisk.conf"


def _install_sounds(dest: Path, install: AsteriskInstall, ccbox_sounds: Path) -> None:
    """The core sounds (linked) and ccbox's own sounds of every language it wrote, where
    Asterisk looks: ``<astdatadir>/sounds/<lang>/``."""
    en = dest / "en"
    for entry in install.sounds.iterdir():
        target = en / entry.name
        if not target.exists():
            target.symlink_to(entry)
    if not ccbox_sounds.is_dir():
        return
    for lang_dir in ccbox_sounds.iterdir():
        if not lang_dir.is_dir():
            continue
        out = dest / lang_dir.name
        out.mkdir(parents=True, exist_ok=True)
        for f in lang_dir.iterdir():
            if f.is_file():
                shutil.copyfile(f, out / f.name)


# ---- AMI, as a test client ------------------------------------------------------------

Message = dict[str, str]


class AmiClient:
    """A blocking AMI client with a reader thread: every event is kept (with the time it
    arrived, ``_t``), responses are matched by ActionID."""

    def __init__(self, port: int, username: str = AMI_USER, secret: str = AMI_SECRET) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.settimeout(None)
        self.events: list[Message] = []
        self.previous: list[Message] = []  # a restarted Asterisk's events before the restart
        self.responses: dict[str, Message] = {}
        self.cond = threading.Condition()
        self.closed = False
        self._ids = 0
        self._file = self.sock.makefile("rb")
        self.banner = self._file.readline().decode().strip()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        r = self.action("Login", Username=username, Secret=secret)
        if r.get("Response") != "Success":
            raise AssertionError(f"AMI login refused: {r}")

    def _read(self) -> None:
        msg: Message = {}
        try:
            for raw in self._file:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    key, _, value = line.partition(":")
                    msg.setdefault(key.strip(), value.strip())
                    continue
                if not msg:
                    continue
                msg["_t"] = repr(time.time())
                with self.cond:
                    if "Event" in msg:
                        self.events.append(msg)
                    elif "ActionID" in msg:
                        self.responses[msg["ActionID"]] = msg
                    self.cond.notify_all()
                msg = {}
        except (OSError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def send(self, name: str, headers: list[tuple[str, str]]) -> str:
        with self.cond:
            self._ids += 1
            action_id = f"h{self._ids}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return action_id

    def action(self, name: str, timeout: float = 15, **headers: str) -> Message:
        """Send and wait for the response (list actions: the first response only)."""
        return self.action_list(name, list(headers.items()), timeout)

    def action_list(
        self, name: str, headers: list[tuple[str, str]], timeout: float = 15
    ) -> Message:
        """Like ``action``, with repeated headers allowed (Originate's ``Variable``)."""
        action_id = self.send(name, headers)
        deadline = time.monotonic() + timeout
        with self.cond:
            while action_id not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError(f"no AMI response to {name} within {timeout}s")
                self.cond.wait(left)
            return self.responses.pop(action_id)

    def mark(self) -> int:
        with self.cond:
            return len(self.events)

    def wait_event(
        self,
        predicate: Callable[[Message], bool],
        timeout: float,
        what: str,
        since: int = 0,
    ) -> Message:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                self.cond.wait(left)

    def find(self, predicate: Callable[[Message], bool], since: int = 0) -> list[Message]:
        with self.cond:
            return [e for e in self.events[since:] if predicate(e)]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# ---- the process ------------------------------------------------------------------------


@dataclass
class RunningAsterisk:
    install: AsteriskInstall
    conf: Path
    ports: Ports
    proc: subprocess.Popen[bytes]
    ami: AmiClient
    root: Path
    output: Path
    restarts: int = 0
    _out_file: object = field(default=None, repr=False)

    def cli(self, command: str, timeout: float = 20) -> str:
        """A CLI command through the control socket (``asterisk -rx``)."""
        r = subprocess.run(
            [str(self.install.binary), "-C", str(self.conf), "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return r.stdout + r.stderr

    def log(self) -> str:
        path = self.root / "log" / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cdrs(self) -> list[dict[str, object]]:
        """Asterisk's own CDRs so far, one dict per record."""
        import json

        path = self.root / "log" / CDR_FILE
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line:
                rows.append(json.loads(line))
        return rows

    def set_global(self, name: str, value: str) -> None:
        r = self.ami.action("Setvar", Variable=name, Value=value)
        assert r.get("Response") == "Success", r

    def restart_now(self, timeout: float = 60) -> AmiClient:
        """``core restart now`` (every call is hung up, Asterisk starts again in the same
        process); returns the new harness AMI connection, once FullyBooted. The old
        connection's events stay readable in the returned client's ``previous``."""
        old = self.ami
        self.cli("core restart now")
        with old.cond:
            deadline = time.monotonic() + timeout
            while not old.closed and time.monotonic() < deadline:
                old.cond.wait(0.5)
        assert old.closed, "Asterisk's AMI stayed up after core restart now"
        self.ami = _connect(self.ports.ami, timeout, self)
        self.ami.previous = old.events
        self.restarts += 1
        old.close()
        return self.ami


def _connect(port: int, timeout: float, ast: RunningAsterisk | None = None) -> AmiClient:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if ast is not None and ast.proc.poll() is not None:
            raise AssertionError(f"Asterisk exited ({ast.proc.returncode}): {ast.log()[-3000:]}")
        try:
            ami = AmiClient(port)
        except (OSError, AssertionError) as exc:
            last = exc
            time.sleep(0.2)
            continue
        ami.wait_event(lambda e: e.get("Event") == "FullyBooted", 30, "FullyBooted")
        return ami
    raise AssertionError(f"Asterisk's AMI did not come up on port {port}: {last}")


@contextmanager
def running_asterisk(
    install: AsteriskInstall, conf: Path, ports: Ports, root: Path
) -> Iterator[RunningAsterisk]:
    """``asterisk -f`` on the private configuration, as the current user; yields once its
    AMI has said FullyBooted; stopped (then killed) on the way out."""
    output = root / "asterisk.out"
    out = output.open("wb")
    proc = subprocess.Popen(
        [str(install.binary), "-f", "-n", "-C", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ast: RunningAsterisk | None = None
    try:
        holder = RunningAsterisk(install, conf, ports, proc, None, root, output, 0, out)  # type: ignore[arg-type]
        holder.ami = _connect(ports.ami, 60, holder)
        ast = holder
        yield ast
    finally:
        if ast is not None:
            ast.ami.close()
        _stop(proc, install, conf)
        out.close()


def _stop(proc: subprocess.Popen[bytes], install: AsteriskInstall, conf: Path) -> None:
    if proc.poll() is None:
        subprocess.run(
            [str(install.binary), "-C", str(conf), "-rx", "core stop now"],
            capture_output=True,
            timeout=20,
            check=False,
        )
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    """``python -m tests.support.real_asterisk``: say which Asterisk `make test-asterisk`
    will use, or exactly what is missing (exit status 2)."""
    import sys

    try:
        install = find_asterisk()
    except AsteriskMissing as exc:
        print(f"make test-asterisk: {exc}", file=sys.stderr)
        return 2
    print(f"make test-asterisk: {install.version} at {install.binary} (modules {install.modules})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
