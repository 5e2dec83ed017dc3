"""The appliance's one configuration file: parse, check every value, and say what is wrong.

The file is INI (``/etc/ccbox/ccbox.conf`` on a box, ``./ccbox-data/ccbox.conf`` for the
demo). Checking collects *every* problem, each as one line naming ``[section] key`` and
what is wrong, so an installer fixes the file in one pass; the daemon refuses to start
while any remain. Unknown sections and keys are errors too: a typo must not silently fall
back to a default.
"""

from __future__ import annotations

import argparse
import configparser
import ipaddress
import os
import re
import shlex
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("/etc/ccbox/ccbox.conf")
LOCALES = ("en", "zh_CN")
LOG_LEVELS = ("debug", "info", "warn", "error")


class ConfigError(Exception):
    """The file cannot be used; ``problems`` holds one line per bad key."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}: {p}" for p in problems))


@dataclass(frozen=True)
class AmiConfig:
    host: str
    port: int
    username: str
    secret: str
    enabled: bool = True


@dataclass(frozen=True)
class FastAgiConfig:
    bind: str
    port: int
    enabled: bool = True
    # What a peer may hold before its header is read (drivers/asterisk/agi/limits.py).
    header_timeout_s: float = 5.0
    header_max_bytes: int = 16 * 1024
    header_bytes_in_flight: int = 2 * 1024 * 1024
    max_sessions: int = 480


@dataclass(frozen=True)
class WebConfig:
    bind: str
    port: int
    session_idle_minutes: int
    secure_cookies: bool
    # The queue that web callback requests (/callback) go to; "": the page is off (404).
    callback_queue: str = ""


@dataclass(frozen=True)
class SmtpConfig:
    """Where voicemail notifications are sent from (host "" : no e-mail)."""

    host: str = ""
    port: int = 25
    username: str = ""
    password: str = ""
    sender: str = "ccbox@localhost"
    starttls: bool = False
    timeout_s: int = 30


@dataclass(frozen=True)
class RecordingConfig:
    """How recordings are kept (``[recording]``); the folder is ``Config.recording_dir``."""

    archive_after_days: int = 30  # WAV -> archive_format after this many days (0: never)
    archive_format: str = "flac"  # flac or opus
    retention_days: int = 365  # purge after this many days unless the queue says (0: never)
    encryption_key_file: Path | None = None  # AES-256 key (32 bytes); None: not encrypted
    min_free_mb: int = 500  # below this much free space no new recording starts (alarm)
    pause_max_s: int = 180  # a paused recording resumes by itself after this long


@dataclass(frozen=True)
class MetricsConfig:
    """The Prometheus endpoint (``[metrics]``, appliance/reports/metrics.py): ``listen`` is
    an address and port of its own (None: none); ``token`` the bearer token a scrape must
    send ("" : ``/metrics`` on the web UI's port answers 404, and the own port asks none)."""

    listen: tuple[str, int] | None = None
    token: str = ""


HANDOFF_KINDS = ("message", "voicemail", "extension")


@dataclass(frozen=True)
class ShutdownConfig:
    """What a stop (SIGTERM: an upgrade, ``systemctl restart``) does with calls in progress
    (``[shutdown]``, appliance/shutdown.py): no new call is taken, those in progress get
    ``grace_s`` to end, and the callers still in the IVR or a queue then go to the generated
    dialplan's hand-off (drivers/asterisk/confgen.py): ``handoff`` says what it is and
    ``handoff_to`` names the sound, the mailbox or the extension."""

    grace_s: int = 20  # well below systemd's TimeoutStopSec=40 (systemd/ccboxd.service)
    handoff: str = "message"
    handoff_to: str = "ccbox-handoff"


@dataclass(frozen=True)
class DialerConfig:
    """The outbound dialer (``[dialer]``, acd/dialer/service.py): ``trunks`` is how many
    channels each trunk group may carry at once (a campaign names its group; a group not
    listed places no call); ``ring_timeout_s`` how long a number rings before it counts as
    no answer."""

    enabled: bool = True
    trunks: tuple[tuple[str, int], ...] = (("default", 30),)
    ring_timeout_s: int = 25


@dataclass(frozen=True)
class DahdiConfig:
    """E1/analog spans (``[dahdi]``, appliance/hardware/spans.py): ``proc_root`` is read every
    ``poll_s`` seconds (a missing root: no DAHDI on this box); ``groups`` maps the dialer's
    trunk groups to DAHDI channel numbers; ``scan_command`` (an argument list, e.g.
    ``/usr/sbin/dahdi_scan``; empty: not run) adds the card's make and span type."""

    enabled: bool = False
    proc_root: Path = Path("/proc/dahdi")
    poll_s: int = 5
    groups: tuple[tuple[str, tuple[int, ...]], ...] = ()
    scan_command: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportsConfig:
    """Statistics and reports (``[reports]``, appliance/reports/): ``timezone`` is the
    center's zone, where days and months are cut (an IANA name; default: the box's own);
    an abandon within ``short_abandon_s`` of joining the queue also counts as a short
    abandon (a caller who hung up at once, often a wrong number); ``queue_log`` is the file
    Asterisk-format queue_log lines are appended to ("": none); the staffing and forecast
    reports plan for ``staffing_target_pct`` % of calls answered within each queue's
    threshold, the forecast from ``forecast_weeks`` weeks of history."""

    timezone: str = "UTC"
    short_abandon_s: int = 5
    queue_log: str = ""
    schedule_hour: int = 7  # scheduled reports are e-mailed at this local hour (0-23)
    staffing_target_pct: int = 80
    forecast_weeks: int = 6


@dataclass(frozen=True)
class CrmConfig:
    """Customers (``[crm]``, appliance/crm/): a number's lookup key drops ``country_code``
    (the box's country, digits) and the national ``trunk_prefix``, so every way a number is
    written finds the same customer; a VIP's or key account's calls join queues with at
    least ``vip_priority`` / ``key_account_priority`` (the red list's priorities still win
    when higher)."""

    country_code: str = "86"
    trunk_prefix: str = "0"
    vip_priority: int = 5
    key_account_priority: int = 3


@dataclass(frozen=True)
class SmsConfig:
    """SMS through the GSM modem (``[sms]``, appliance/sms/): an outbound SMS is tried up to
    ``attempts`` times, ``retry_s`` apart and doubling (at most an hour); an inbound SMS
    opens a ticket of ``ticket_type`` for ``queue``'s agents (empty: anyone's) when its
    customer has none open. ``callback_confirmation`` / ``missed_call_notice`` send those
    notices (text: the template, empty for the built-in one in the center's language), at
    most one per number every ``notice_interval_min`` minutes. At most
    ``max_new_tickets_per_hour`` tickets are opened by SMS in an hour; past that, SMS join
    one flood ticket (appliance/sms/inbox.py)."""

    attempts: int = 5
    retry_s: int = 30
    queue: str = ""
    ticket_type: str = "inquiry"
    callback_confirmation: bool = False
    callback_text: str = ""
    missed_call_notice: bool = False
    missed_call_text: str = ""
    notice_interval_min: int = 60
    max_new_tickets_per_hour: int = 60


@dataclass(frozen=True)
class ModemConfig:
    """The GSM modem (``[modem]``, drivers/serial/gsm/): ``device`` is its serial port
    (empty: no modem), ``pin`` the SIM's PIN (empty: the SIM asks for none), ``smsc`` the
    SMS center's number (empty: the one stored on the SIM)."""

    device: str = ""
    baudrate: int = 115200
    pin: str = ""
    smsc: str = ""


BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


@dataclass(frozen=True)
class FirmwareConfig:
    """Firmware flashing (``[firmware]``, firmware_tools/): ``ccbox firmware flash`` and
    ``verify`` accept only images signed by a public key in ``keys_dir``."""

    keys_dir: Path = Path("/etc/ccbox/firmware-keys")


BACKUP_SCHEDULES = ("off", "daily", "weekly")


@dataclass(frozen=True)
class BackupConfig:
    """Scheduled backups (``[backup]``, appliance/backup/): an archive in ``dir`` (None:
    ``<data_dir>/backups``) every day or every Monday (``schedule``) at ``hour`` in the
    center's zone, the newest ``keep`` kept; ``passphrase_file`` (one line) encrypts the
    secrets into it (None: the secrets are left out)."""

    dir: Path | None = None
    schedule: str = "off"
    hour: int = 2
    keep: int = 7
    include_recordings: bool = False
    passphrase_file: Path | None = None


@dataclass(frozen=True)
class FrontPanelConfig:
    """The front panel (``[front_panel]``, appliance/hardware/front_panel.py): a character
    LCD of ``rows`` x ``cols`` with four keys on the serial port ``device`` (empty: none)."""

    device: str = ""
    baudrate: int = 9600
    rows: int = 4
    cols: int = 20


@dataclass(frozen=True)
class WatchdogConfig:
    """The hardware watchdog (``[watchdog]``, appliance/hardware/watchdog.py): ``device`` is
    ``/dev/watchdog`` (a kernel watchdog), ``serial:/dev/ttyS1`` (a board that wants a
    ``KICK`` line) or empty (none). Kicked every ``interval_s`` while the reactor, the
    database (a query answered within ``db_timeout_s``) and, ``grace_s`` after the start,
    the AMI link are healthy."""

    device: str = ""
    baudrate: int = 9600
    interval_s: int = 5
    db_timeout_s: int = 5
    grace_s: int = 120


@dataclass(frozen=True)
class ChatConfig:
    """Web chat (``[chat]``, acd/channels/, webui/chat/): the widget's public endpoint has
    its own port (``bind``:``port``) that serves the widget and nothing else of the box.
    ``public_url`` is how sites reach it (empty: http://<bind>:<port>). A visitor may send
    ``messages_per_minute`` messages and an address may start ``chats_per_hour`` chats;
    ``trusted_proxies`` (addresses, comma-separated) may tell the visitor's address in
    X-Forwarded-For. An offer not accepted in ``offer_timeout_s`` goes to the next agent; a
    visitor gone ``idle_close_min`` minutes ends the chat."""

    enabled: bool = True
    bind: str = "127.0.0.1"
    port: int = 8090
    public_url: str = ""
    offer_timeout_s: int = 30
    idle_close_min: int = 15
    max_message_chars: int = 2000
    max_attachment_kb: int = 5120
    messages_per_minute: int = 30
    chats_per_hour: int = 20
    max_visitors: int = 5000
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmailChannelConfig:
    """The e-mail channel (``[email]``, acd/channels/email/, drivers/mail/): the accounts
    are rows (the admin's Channels page). A server without IDLE is polled every
    ``poll_s``; a message over ``max_message_kb`` is kept as a stub with its headers; one
    auto-reply per sender at most every ``auto_reply_interval_min`` minutes."""

    enabled: bool = True
    poll_s: int = 60
    max_message_kb: int = 25600
    auto_reply_interval_min: int = 60


@dataclass(frozen=True)
class CobrowseConfig:
    """Escorted browsing and the live view (``[cobrowse]``): form fields are masked unless
    ``mask_inputs`` is no (password fields always are); a code an agent gives a caller is
    good for ``code_minutes``."""

    mask_inputs: bool = True
    code_minutes: int = 10


@dataclass(frozen=True)
class Config:
    path: Path
    data_dir: Path
    locale: str
    log_level: str
    database_url: str
    ami: AmiConfig
    fastagi: FastAgiConfig
    web: WebConfig
    recording_dir: Path
    smtp: SmtpConfig = SmtpConfig()
    recording: RecordingConfig = RecordingConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    dialer: DialerConfig = DialerConfig()
    metrics: MetricsConfig = MetricsConfig()
    reports: ReportsConfig = ReportsConfig()
    crm: CrmConfig = CrmConfig()
    front_panel: FrontPanelConfig = FrontPanelConfig()
    watchdog: WatchdogConfig = WatchdogConfig()
    backup: BackupConfig = BackupConfig()
    firmware: FirmwareConfig = FirmwareConfig()
    sms: SmsConfig = SmsConfig()
    modem: ModemConfig = ModemConfig()
    dahdi: DahdiConfig = DahdiConfig()
    chat: ChatConfig = ChatConfig()
    email: EmailChannelConfig = EmailChannelConfig()
    cobrowse: CobrowseConfig = CobrowseConfig()


# ---- value checkers: each returns the parsed value or raises ValueError(reason) ----------


def _text(raw: str) -> str:
    if any(ord(c) < 32 for c in raw):
        raise ValueError("contains control characters")
    return raw


def _nonempty(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return _text(raw)


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def check(raw: str) -> int:
        try:
            value = int(raw, 10)
        except ValueError:
            raise ValueError(f"not a whole number (expected {lo} to {hi})") from None
        if not lo <= value <= hi:
            raise ValueError(f"out of range (expected {lo} to {hi})")
        return value

    return check


_port = _int_range(1, 65535)


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def check(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"must be one of: {', '.join(options)}")
        return raw

    return check


def _digits(lo: int, hi: int) -> Callable[[str], str]:
    def check(raw: str) -> str:
        if not (raw.isascii() and (raw.isdigit() or not raw) and lo <= len(raw) <= hi):
            raise ValueError(f"expected {lo} to {hi} digits")
        return raw

    return check


def _baudrate(raw: str) -> int:
    if not raw.isdigit() or int(raw) not in BAUDRATES:
        raise ValueError(f"expected one of {', '.join(map(str, BAUDRATES))}")
    return int(raw)


def _sim_pin(raw: str) -> str:
    if raw and not (raw.isascii() and raw.isdigit() and 4 <= len(raw) <= 8):
        raise ValueError("expected 4 to 8 digits (or empty: the SIM asks for no PIN)")
    return raw


def _smsc(raw: str) -> str:
    digits = raw[1:] if raw.startswith("+") else raw
    if raw and not (digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 20):
        raise ValueError("expected a number: + and digits, e.g. +8613800100500 (or empty)")
    return raw


def _bool(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError("must be yes or no")


def _ip(raw: str) -> str:
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        raise ValueError(
            "not an IP address (use 127.0.0.1, 0.0.0.0 or an address of this box)"
        ) from None


def _public_url(raw: str) -> str:
    if not raw:
        return raw
    parts = urllib.parse.urlsplit(_text(raw))
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError("expected http(s)://host[:port][/path], e.g. https://chat.example.com")
    return raw.rstrip("/")


def _ip_list(raw: str) -> tuple[str, ...]:
    return tuple(_ip(part.strip()) for part in raw.split(",") if part.strip())


def _host(raw: str) -> str:
    raw = _nonempty(raw)
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    labels = raw.rstrip(".").split(".")
    if len(raw) > 253 or not all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
        for label in labels
    ):
        raise ValueError("not a host name or IP address")
    return raw


def _abs_path(raw: str) -> Path:
    raw = _nonempty(raw)
    path = Path(raw)
    if not path.is_absolute():
        raise ValueError("must be an absolute path")
    return path


# Asterisk is handed paths below these directories in dialplan application arguments
# (MixMonitor's ``b,r(..)t(..)`` options, RECORD FILE, STREAM FILE), where a comma,
# parenthesis, space, quote or ``$`` would split or expand the argument: none is allowed.
_SWITCH_PATH = re.compile(r"/[A-Za-z0-9/._+-]*")


def _switch_path(raw: str) -> Path:
    path = _abs_path(raw)
    if not _SWITCH_PATH.fullmatch(raw):
        raise ValueError(
            "must be an absolute path of letters, digits and / . _ + - only "
            "(Asterisk is handed paths below it)"
        )
    return path


def _optional_abs_path(raw: str) -> Path | None:
    return _abs_path(raw) if raw else None


def _zone(raw: str) -> str:
    from appliance.zones import UnknownZone, center_zone

    try:
        center_zone(raw)
    except UnknownZone:
        raise ValueError("not a known IANA time zone name (e.g. Asia/Shanghai)") from None
    return raw


def _optional_abs_text(raw: str) -> str:
    return str(_abs_path(raw)) if raw else ""


def _email(raw: str) -> str:
    if not re.fullmatch(r"[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,190}", raw):
        raise ValueError("must be an e-mail address like ccbox@example.com")
    return raw


def _db_url(raw: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    raw = _nonempty(raw)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ValueError(
            "not a database URL (e.g. sqlite:////var/lib/ccbox/ccbox.sqlite)"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("only sqlite and postgresql databases are supported")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError("a SQLite database must be a file")
    return raw


def _trunk_limits(raw: str) -> tuple[tuple[str, int], ...]:
    """``group:channels`` pairs, comma-separated (``default:30, e1b:8``)."""
    out: dict[str, int] = {}
    for part in raw.split(","):
        name, sep, count = part.strip().partition(":")
        name, count = name.strip(), count.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name) or not count.isdigit():
            raise ValueError("expected group:channels pairs, e.g. default:30, e1b:8")
        if not 0 <= int(count) <= 10000:
            raise ValueError(f"{name}: channels must be 0 to 10000")
        if name in out:
            raise ValueError(f"{name} is listed twice")
        out[name] = int(count)
    return tuple(out.items())


def _channel_groups(raw: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``group:ranges`` separated by ``;`` (``default:1-15,17-31; g1:32-46``): each DAHDI
    channel in at most one group."""
    out: dict[str, tuple[int, ...]] = {}
    owner: dict[int, str] = {}
    for part in raw.split(";"):
        if not part.strip():
            continue
        name, sep, ranges = part.strip().partition(":")
        name = name.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", name):
            raise ValueError("expected group:channels; ..., e.g. default:1-15,17-31; g1:32-46")
        if name in out:
            raise ValueError(f"{name} is listed twice")
        channels: list[int] = []
        for item in ranges.split(","):
            m = re.fullmatch(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?", item)
            if not m:
                raise ValueError(f"{name}: {item.strip()!r} is not a channel or a range like 1-15")
            lo, hi = int(m[1]), int(m[2] or m[1])
            if not 1 <= lo <= hi <= 4096:
                raise ValueError(f"{name}: {lo}-{hi}: channels are 1 to 4096, low to high")
            for ch in range(lo, hi + 1):
                if ch in owner:
                    raise ValueError(f"channel {ch} is in both {owner[ch]} and {name}")
                owner[ch] = name
                channels.append(ch)
        out[name] = tuple(channels)
    return tuple(out.items())


def _argv(raw: str) -> tuple[str, ...]:
    """A command as an argument list (shell quoting; run without a shell): absolute path."""
    try:
        argv = tuple(shlex.split(raw))
    except ValueError as exc:
        raise ValueError(f"cannot be split into arguments: {exc}") from None
    if argv and not argv[0].startswith("/"):
        raise ValueError("the command must be an absolute path")
    return argv


def _sms_template(raw: str) -> str:
    """An SMS notice's text: {number}, {queue} and {when} are filled in; other braces are
    refused (a typo would otherwise reach customers)."""
    import string

    raw = _text(raw)
    if len(raw) > 670:
        raise ValueError("at most 670 characters (ten SMS parts)")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(raw) if name is not None]
    except ValueError as exc:
        raise ValueError(f"not a template: {exc}") from None
    unknown = sorted(set(names) - {"number", "queue", "when"})
    if unknown:
        raise ValueError(f"unknown field {{{unknown[0]}}} (known: {{number}} {{queue}} {{when}})")
    return raw


def _handoff_to(raw: str) -> str:
    """A sound name, a mailbox (``box`` or ``box@context``) or an extension: written into
    the dialplan, so only letters, digits and ``_-@`` pass."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}(@[A-Za-z0-9_-]{1,40})?", raw):
        raise ValueError("use letters, digits, '_' and '-' (a mailbox may add @context)")
    return raw


def _listen(raw: str) -> tuple[str, int] | None:
    """``address:port`` (``[::1]:9108`` for IPv6), or empty: none."""
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        sep = ""
    if not sep or not port.isdigit():
        raise ValueError("expected address:port, e.g. 127.0.0.1:9108 or [::1]:9108")
    return _ip(host), _port(port)


METRICS_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]{16,256}")


def _metrics_token(raw: str) -> str:
    """A bearer token (RFC 6750's characters), long enough not to be guessed."""
    if raw and not METRICS_TOKEN.fullmatch(raw):
        raise ValueError(
            "must be 16 to 256 letters, digits or . _ ~ + / - "
            "(e.g. the output of: openssl rand -hex 32)"
        )
    return raw


def _serial_device(raw: str) -> str:
    """A serial port's absolute path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``) or empty."""
    return str(_switch_path(raw)) if raw else ""


def _watchdog_device(raw: str) -> str:
    """``/dev/watchdog`` (any absolute path: the kernel's device), ``serial:<absolute path>``
    (a serial board) or empty."""
    if not raw:
        return ""
    if raw.startswith("serial:"):
        return "serial:" + _serial_device(raw[len("serial:") :])
    return str(_switch_path(raw))


# ---- the schema: section -> key -> (checker, default or None when derived) ---------------

_Checker = Callable[[str], Any]
SCHEMA: dict[str, dict[str, tuple[_Checker, str | None]]] = {
    "ccbox": {
        "data_dir": (_switch_path, "/var/lib/ccbox"),
        "locale": (_choice(LOCALES), "en"),
        "log_level": (_choice(LOG_LEVELS), "info"),
    },
    "database": {
        # default: sqlite in data_dir
        "url": (_db_url, None),
    },
    "ami": {
        "enabled": (_bool, "yes"),
        "host": (_host, "127.0.0.1"),
        "port": (_port, "5038"),
        "username": (_nonempty, "ccbox"),
        "secret": (_text, ""),
    },
    "fastagi": {
        "enabled": (_bool, "yes"),
        "bind": (_ip, "127.0.0.1"),
        "port": (_port, "4573"),
        # Asterisk sends its whole header at once (< 4 KB): more time or bytes is not Asterisk.
        "header_timeout_s": (_int_range(1, 60), "5"),
        "header_max_bytes": (_int_range(4096, 1024 * 1024), "16384"),
        "header_bytes_in_flight": (_int_range(65536, 256 * 1024 * 1024), "2097152"),
        # 2 x the trunk channels (8 E1 = 240); LimitNOFILE in systemd/ccboxd.service fits it.
        "max_sessions": (_int_range(1, 100_000), "480"),
    },
    "web": {
        "bind": (_ip, "127.0.0.1"),
        "port": (_port, "8080"),
        "session_idle_minutes": (_int_range(5, 7 * 24 * 60), "480"),
        "secure_cookies": (_bool, "no"),
        "callback_queue": (_text, ""),
    },
    "recording": {
        # default: <data_dir>/recordings
        "dir": (_switch_path, None),
        "archive_after_days": (_int_range(0, 3650), "30"),
        "archive_format": (_choice(("flac", "opus")), "flac"),
        "retention_days": (_int_range(0, 36500), "365"),
        "encryption_key_file": (_optional_abs_path, ""),
        "min_free_mb": (_int_range(0, 10_000_000), "500"),
        "pause_max_s": (_int_range(10, 3600), "180"),
    },
    "smtp": {
        "host": (_text, ""),
        "port": (_port, "25"),
        "username": (_text, ""),
        "password": (_text, ""),
        "sender": (_email, "ccbox@localhost"),
        "starttls": (_bool, "no"),
        "timeout_s": (_int_range(1, 300), "30"),
    },
    "shutdown": {
        # at most 22: grace + 2 s for bridged calls + up to 3 s each for the web chat's and
        # the desk's requests + up to 5 s for the routes to write their calls down must end
        # before systemd's TimeoutStopSec=40 kills the stop
        "grace_s": (_int_range(0, 22), "20"),
        "handoff": (_choice(HANDOFF_KINDS), "message"),
        "handoff_to": (_handoff_to, "ccbox-handoff"),
    },
    "dialer": {
        "enabled": (_bool, "yes"),
        "trunks": (_trunk_limits, "default:30"),
        "ring_timeout_s": (_int_range(5, 120), "25"),
    },
    "dahdi": {
        "enabled": (_bool, "no"),
        "proc_root": (_abs_path, "/proc/dahdi"),
        "poll_s": (_int_range(1, 300), "5"),
        "groups": (_channel_groups, ""),
        "scan_command": (_argv, ""),
    },
    "metrics": {
        "listen": (_listen, ""),
        "token": (_metrics_token, ""),
    },
    "reports": {
        # default: the box's own zone (where /etc/localtime points)
        "timezone": (_zone, None),
        "short_abandon_s": (_int_range(0, 600), "5"),
        "queue_log": (_optional_abs_text, ""),
        "schedule_hour": (_int_range(0, 23), "7"),
        "staffing_target_pct": (_int_range(1, 99), "80"),
        "forecast_weeks": (_int_range(1, 26), "6"),
    },
    "crm": {
        "country_code": (_digits(0, 4), "86"),
        "trunk_prefix": (_digits(0, 2), "0"),
        "vip_priority": (_int_range(0, 100), "5"),
        "key_account_priority": (_int_range(0, 100), "3"),
    },
    "front_panel": {
        "device": (_serial_device, ""),
        "baudrate": (_baudrate, "9600"),
        "rows": (_choice(("2", "4")), "4"),
        "cols": (_choice(("16", "20", "40")), "20"),
    },
    "watchdog": {
        "device": (_watchdog_device, ""),
        "baudrate": (_baudrate, "9600"),
        "interval_s": (_int_range(1, 60), "5"),
        "db_timeout_s": (_int_range(1, 60), "5"),
        "grace_s": (_int_range(0, 3600), "120"),
    },
    "backup": {
        # default: <data_dir>/backups
        "dir": (_abs_path, None),
        "schedule": (_choice(BACKUP_SCHEDULES), "off"),
        "hour": (_int_range(0, 23), "2"),
        "keep": (_int_range(1, 365), "7"),
        "include_recordings": (_bool, "no"),
        "passphrase_file": (_optional_abs_path, ""),
    },
    "firmware": {
        "keys_dir": (_abs_path, "/etc/ccbox/firmware-keys"),
    },
    "sms": {
        "attempts": (_int_range(1, 20), "5"),
        "retry_s": (_int_range(5, 3600), "30"),
        "queue": (_text, ""),
        "ticket_type": (_text, "inquiry"),
        "callback_confirmation": (_bool, "no"),
        "callback_text": (_sms_template, ""),
        "missed_call_notice": (_bool, "no"),
        "missed_call_text": (_sms_template, ""),
        "notice_interval_min": (_int_range(1, 7 * 24 * 60), "60"),
        "max_new_tickets_per_hour": (_int_range(1, 10000), "60"),
    },
    "chat": {
        "enabled": (_bool, "yes"),
        "bind": (_ip, "127.0.0.1"),
        "port": (_port, "8090"),
        "public_url": (_public_url, ""),
        "offer_timeout_s": (_int_range(5, 600), "30"),
        "idle_close_min": (_int_range(1, 24 * 60), "15"),
        "max_message_chars": (_int_range(100, 20000), "2000"),
        "max_attachment_kb": (_int_range(1, 51200), "5120"),
        "messages_per_minute": (_int_range(1, 600), "30"),
        "chats_per_hour": (_int_range(1, 10000), "20"),
        "max_visitors": (_int_range(10, 100000), "5000"),
        "trusted_proxies": (_ip_list, ""),
    },
    "email": {
        "enabled": (_bool, "yes"),
        "poll_s": (_int_range(10, 3600), "60"),
        "max_message_kb": (_int_range(64, 102400), "25600"),
        "auto_reply_interval_min": (_int_range(1, 7 * 24 * 60), "60"),
    },
    "cobrowse": {
        "mask_inputs": (_bool, "yes"),
        "code_minutes": (_int_range(1, 120), "10"),
    },
    "modem": {
        "device": (_optional_abs_text, ""),
        "baudrate": (_baudrate, "115200"),
        "pin": (_sim_pin, ""),
        "smsc": (_smsc, ""),
    },
}


def parse(text: str, path: Path | str = "<string>") -> Config:
    """Parse and check config text; raise ConfigError listing every problem."""
    parser = configparser.ConfigParser(interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        line = exc.message.splitlines()[0] if hasattr(exc, "message") else str(exc)
        raise ConfigError(path, [f"cannot be read as an INI file: {line}"]) from None

    problems: list[str] = []
    values: dict[tuple[str, str], Any] = {}
    for section in parser.sections():
        if section not in SCHEMA:
            problems.append(f"[{section}]: unknown section (known: {', '.join(SCHEMA)})")
            continue
        for key in parser[section]:
            if key not in SCHEMA[section]:
                known = ", ".join(SCHEMA[section])
                problems.append(f"[{section}] {key}: unknown key (known: {known})")
    for section, keys in SCHEMA.items():
        for key, (check, default) in keys.items():
            raw = parser.get(section, key, fallback=None)
            if raw is None:
                if default is None:
                    continue
                raw = default
            try:
                values[section, key] = check(raw.strip())
            except ValueError as exc:
                shown = raw if len(raw) <= 60 else raw[:57] + "..."
                problems.append(f"[{section}] {key} = {shown!r}: {exc}")
    problems += _shutdown_problems(values)
    problems += _watchdog_problems(values)
    if problems:
        raise ConfigError(path, problems)

    data_dir: Path = values["ccbox", "data_dir"]
    return Config(
        path=Path(path),
        data_dir=data_dir,
        locale=values["ccbox", "locale"],
        log_level=values["ccbox", "log_level"],
        database_url=values.get(("database", "url"), f"sqlite:///{data_dir / 'ccbox.sqlite'}"),
        ami=AmiConfig(
            host=values["ami", "host"],
            port=values["ami", "port"],
            username=values["ami", "username"],
            secret=values["ami", "secret"],
            enabled=values["ami", "enabled"],
        ),
        fastagi=FastAgiConfig(
            bind=values["fastagi", "bind"],
            port=values["fastagi", "port"],
            enabled=values["fastagi", "enabled"],
            header_timeout_s=values["fastagi", "header_timeout_s"],
            header_max_bytes=values["fastagi", "header_max_bytes"],
            header_bytes_in_flight=values["fastagi", "header_bytes_in_flight"],
            max_sessions=values["fastagi", "max_sessions"],
        ),
        web=WebConfig(
            bind=values["web", "bind"],
            port=values["web", "port"],
            session_idle_minutes=values["web", "session_idle_minutes"],
            secure_cookies=values["web", "secure_cookies"],
            callback_queue=values["web", "callback_queue"],
        ),
        recording_dir=values.get(("recording", "dir"), data_dir / "recordings"),
        recording=RecordingConfig(
            archive_after_days=values["recording", "archive_after_days"],
            archive_format=values["recording", "archive_format"],
            retention_days=values["recording", "retention_days"],
            encryption_key_file=values["recording", "encryption_key_file"],
            min_free_mb=values["recording", "min_free_mb"],
            pause_max_s=values["recording", "pause_max_s"],
        ),
        smtp=SmtpConfig(
            host=values["smtp", "host"],
            port=values["smtp", "port"],
            username=values["smtp", "username"],
            password=values["smtp", "password"],
            sender=values["smtp", "sender"],
            starttls=values["smtp", "starttls"],
            timeout_s=values["smtp", "timeout_s"],
        ),
        shutdown=_shutdown(values),
        dialer=DialerConfig(
            enabled=values["dialer", "enabled"],
            trunks=values["dialer", "trunks"],
            ring_timeout_s=values["dialer", "ring_timeout_s"],
        ),
        metrics=MetricsConfig(listen=values["metrics", "listen"], token=values["metrics", "token"]),
        reports=_reports(values),
        crm=CrmConfig(
            country_code=values["crm", "country_code"],
            trunk_prefix=values["crm", "trunk_prefix"],
            vip_priority=values["crm", "vip_priority"],
            key_account_priority=values["crm", "key_account_priority"],
        ),
        front_panel=FrontPanelConfig(
            device=values["front_panel", "device"],
            baudrate=values["front_panel", "baudrate"],
            rows=int(values["front_panel", "rows"]),
            cols=int(values["front_panel", "cols"]),
        ),
        watchdog=WatchdogConfig(
            device=values["watchdog", "device"],
            baudrate=values["watchdog", "baudrate"],
            interval_s=values["watchdog", "interval_s"],
            db_timeout_s=values["watchdog", "db_timeout_s"],
            grace_s=values["watchdog", "grace_s"],
        ),
        backup=BackupConfig(
            dir=values.get(("backup", "dir")),
            schedule=values["backup", "schedule"],
            hour=values["backup", "hour"],
            keep=values["backup", "keep"],
            include_recordings=values["backup", "include_recordings"],
            passphrase_file=values["backup", "passphrase_file"],
        ),
        firmware=FirmwareConfig(keys_dir=values["firmware", "keys_dir"]),
        sms=SmsConfig(
            attempts=values["sms", "attempts"],
            retry_s=values["sms", "retry_s"],
            queue=values["sms", "queue"],
            ticket_type=values["sms", "ticket_type"],
            callback_confirmation=values["sms", "callback_confirmation"],
            callback_text=values["sms", "callback_text"],
            missed_call_notice=values["sms", "missed_call_notice"],
            missed_call_text=values["sms", "missed_call_text"],
            notice_interval_min=values["sms", "notice_interval_min"],
            max_new_tickets_per_hour=values["sms", "max_new_tickets_per_hour"],
        ),
        chat=ChatConfig(
            enabled=values["chat", "enabled"],
            bind=values["chat", "bind"],
            port=values["chat", "port"],
            public_url=values["chat", "public_url"],
            offer_timeout_s=values["chat", "offer_timeout_s"],
            idle_close_min=values["chat", "idle_close_min"],
            max_message_chars=values["chat", "max_message_chars"],
            max_attachment_kb=values["chat", "max_attachment_kb"],
            messages_per_minute=values["chat", "messages_per_minute"],
            chats_per_hour=values["chat", "chats_per_hour"],
            max_visitors=values["chat", "max_visitors"],
            trusted_proxies=values["chat", "trusted_proxies"],
        ),
        email=EmailChannelConfig(
            enabled=values["email", "enabled"],
            poll_s=values["email", "poll_s"],
            max_message_kb=values["email", "max_message_kb"],
            auto_reply_interval_min=values["email", "auto_reply_interval_min"],
        ),
        cobrowse=CobrowseConfig(
            mask_inputs=values["cobrowse", "mask_inputs"],
            code_minutes=values["cobrowse", "code_minutes"],
        ),
        modem=ModemConfig(
            device=values["modem", "device"],
            baudrate=values["modem", "baudrate"],
            pin=values["modem", "pin"],
            smsc=values["modem", "smsc"],
        ),
        dahdi=DahdiConfig(
            enabled=values["dahdi", "enabled"],
            proc_root=values["dahdi", "proc_root"],
            poll_s=values["dahdi", "poll_s"],
            groups=values["dahdi", "groups"],
            scan_command=values["dahdi", "scan_command"],
        ),
    )


def _reports(values: dict[tuple[str, str], Any]) -> ReportsConfig:
    from appliance.zones import box_zone_name

    zone = values.get(("reports", "timezone")) or box_zone_name()
    return ReportsConfig(
        timezone=zone,
        short_abandon_s=values["reports", "short_abandon_s"],
        queue_log=values["reports", "queue_log"],
        schedule_hour=values["reports", "schedule_hour"],
        staffing_target_pct=values["reports", "staffing_target_pct"],
        forecast_weeks=values["reports", "forecast_weeks"],
    )


def _shutdown(values: dict[tuple[str, str], Any]) -> ShutdownConfig:
    return ShutdownConfig(
        grace_s=values["shutdown", "grace_s"],
        handoff=values["shutdown", "handoff"],
        handoff_to=values["shutdown", "handoff_to"],
    )


def _shutdown_problems(values: dict[tuple[str, str], Any]) -> list[str]:
    """``handoff_to`` must fit ``handoff``: an extension is digits, a sound has no '@'."""
    kind, to = values.get(("shutdown", "handoff")), values.get(("shutdown", "handoff_to"))
    if to is None or kind is None:
        return []  # already reported
    if kind == "extension" and not to.isdigit():
        return [f"[shutdown] handoff_to = {to!r}: an extension is digits"]
    if kind == "message" and "@" in to:
        return [f"[shutdown] handoff_to = {to!r}: a sound name has no '@'"]
    return []


def _watchdog_problems(values: dict[tuple[str, str], Any]) -> list[str]:
    """A round's database query must be over before the next round starts."""
    interval = values.get(("watchdog", "interval_s"))
    timeout = values.get(("watchdog", "db_timeout_s"))
    if interval is None or timeout is None or timeout <= interval:
        return []  # fine, or already reported
    return [
        f"[watchdog] db_timeout_s = {timeout}: at most interval_s ({interval}): a round's "
        "query must be over before the next round"
    ]


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` option every ccbox command takes."""
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help=f"config file (default: $CCBOX_CONFIG or {DEFAULT_PATH})",
    )


def path_from_args(args: argparse.Namespace) -> Path:
    """``--config``, else ``$CCBOX_CONFIG``, else the box's default path."""
    return Path(args.config or os.environ.get("CCBOX_CONFIG") or DEFAULT_PATH)


def load(path: Path | str) -> Config:
    """Read and check the file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except UnicodeDecodeError:
        raise ConfigError(path, ["is not UTF-8 text"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot be read: {exc.strerror}"]) from None
    return parse(text, path)


def render(
    data_dir: Path,
    web_port: int = 8080,
    database_url: str | None = None,
    switch: bool = True,
    fastagi_port: int = 4573,
    ami_port: int = 5038,
    ami: bool | None = None,
    ami_secret: str = "",
    firmware_keys_dir: Path | None = None,
    chat_port: int = 8090,
) -> str:
    """A complete, commented config file with every default spelled out."""
    db_line = (
        f"url = {database_url}" if database_url else "# url = sqlite:///<data_dir>/ccbox.sqlite"
    )
    return f"""\
# ccbox configuration. Every key is optional; the value shown is the default unless noted.
# Check it with: ccbox --config <this file> config check

[ccbox]
# Where the database, recordings and prompts live (absolute path).
data_dir = {data_dir}
# Default language of the web UI: en or zh_CN (each user can pick their own).
locale = en
# debug, info, warn or error.
log_level = info

[database]
# SQLAlchemy URL: sqlite:////abs/path.sqlite (default, in data_dir) or
# postgresql+psycopg://user:password@host/dbname
{db_line}

[ami]
# The Asterisk Manager Interface of the local Asterisk. enabled = no runs without a switch.
enabled = {"yes" if (switch if ami is None else ami) else "no"}
host = 127.0.0.1
port = {ami_port}
username = ccbox
secret = {ami_secret}

[fastagi]
# Where Asterisk's AGI(agi://...) connects. Keep it on loopback unless Asterisk runs elsewhere.
enabled = {"yes" if switch else "no"}
bind = 127.0.0.1
port = {fastagi_port}
# Asterisk sends a session's whole header at once: a socket still without one after this
# many seconds, or past header_max_bytes, is closed (Asterisk then plays the fallback).
header_timeout_s = 5
header_max_bytes = 16384
# Header bytes held across all sessions still reading one.
header_bytes_in_flight = 2097152
# Concurrent sessions: about 2 x the trunk channels (8 E1 = 240). Past it a connection is
# closed at once and the refusal shows on the status page. Raise LimitNOFILE with it.
max_sessions = 480

[web]
# The admin/agent web UI. Use 0.0.0.0 to serve the whole LAN.
bind = 127.0.0.1
port = {web_port}
# Sessions end after this many idle minutes.
session_idle_minutes = 480
# yes when the UI is served over HTTPS (behind a TLS proxy): cookies get the Secure flag.
secure_cookies = no
# The queue (by name) that the public callback request page /callback hands requests to;
# empty: the page and POST /api/public/callback answer 404.
callback_queue =

[recording]
# Where call recordings are written (default: <data_dir>/recordings).
# dir = /var/spool/ccbox/recordings
# Recordings older than this many days are compressed into the archive format (0: never).
archive_after_days = 30
# flac (lossless) or opus (about a tenth of the size, lossy).
archive_format = flac
# Recordings older than this many days are deleted, unless their queue keeps them longer
# or shorter (queue setting recording_retention_days). 0 keeps them forever.
retention_days = 365
# A file holding a 32-byte AES-256 key (ccbox recording-key --out FILE makes one): every
# recording is then encrypted at rest. Empty: not encrypted. Keep a copy of the key safe:
# without it the recordings cannot be played.
encryption_key_file =
# Below this much free space (MB) on the recording disk no new recording starts and an
# alarm is raised; calls go on unrecorded.
min_free_mb = 500
# A recording paused for a card number resumes by itself after this many seconds.
pause_max_s = 180

[smtp]
# The mail server new voicemail is announced through (with the audio attached).
# Leave host empty to send no e-mail.
host =
port = 25
username =
password =
sender = ccbox@localhost
# yes: upgrade the connection with STARTTLS before logging in.
starttls = no
timeout_s = 30

[shutdown]
# On a stop (an upgrade, systemctl restart) no new call is taken; calls in progress get
# this many seconds (0-22, under systemd's 30 s stop timeout) to end by themselves.
grace_s = 20
# Then callers still in the IVR or waiting in a queue go to the hand-off: message (play the
# sound handoff_to, then hang up), voicemail (Asterisk's VoiceMail() of the mailbox
# handoff_to, box or box@context) or extension (dial handoff_to on the old PBX). Calls
# talking to an agent go on; the next start takes them over. Run ccbox asterisk-config
# again after a change: the dialplan carries it.
handoff = message
handoff_to = ccbox-handoff

[dialer]
# Outbound campaigns. trunks: how many channels each trunk group may carry at once, as
# group:channels pairs (a campaign names its group; a group not listed places no call).
# Count only what the trunks have left for campaigns. ring_timeout_s (5-120): how long a
# number rings before the attempt counts as no answer.
enabled = yes
trunks = default:30
ring_timeout_s = 25

[dahdi]
# E1/analog spans through DAHDI: their alarms on the System page, the wallboard and /metrics,
# and the dialer's capacity. proc_root is read every poll_s seconds (1-300). groups maps the
# dialer's trunk groups to DAHDI channels (group:ranges; ...): a campaign never dials more
# than its group has channels free and out of alarm. scan_command: dahdi_scan's absolute
# path (run each poll for the card's make; empty: not run).
enabled = no
proc_root = /proc/dahdi
poll_s = 5
# groups = default:1-15,17-31; g1:32-46
groups =
scan_command =

[metrics]
# Prometheus metrics (queues, agents, the switch links, recorder, disk, database). listen:
# an address:port of their own, e.g. 127.0.0.1:9108 (empty: none). token: a bearer token
# (16+ letters/digits, e.g. openssl rand -hex 32) that turns on /metrics on the web UI's
# port and is then asked on both. Neither: no metrics.
listen =
token =

[reports]
# The center's time zone (an IANA name such as Asia/Shanghai): report days, weeks and
# months are cut at its midnights, daylight saving included. Default: the box's own zone.
# After a change, run ccbox reports rebuild over the history to cut it again.
# timezone = Asia/Shanghai
# An abandon within this many seconds of joining the queue also counts as a short abandon.
short_abandon_s = 5
# Append Asterisk-format queue_log lines (for QueueMetrics and other app_queue tools) to
# this file (absolute path); empty: none.
queue_log =
# The local hour (0-23, the zone above) at which scheduled reports are e-mailed (through
# [smtp]); an admin adds them on the reports page's Scheduled reports.
schedule_hour = 7
# Staffing and forecast: the agents needed to answer this share (%) of the offered calls
# within each queue's service level threshold, and how many weeks the forecast reads.
staffing_target_pct = 80
forecast_weeks = 6

[crm]
# Customers are found by any of their numbers however they are written: a number's lookup
# key drops this country code (the box's country, digits; empty: none) and the national
# trunk prefix (empty: none), so +86 138..., 0086 138..., 0138... and 138... are one.
# After a change, run ccbox customers rekey: numbers already stored keep their old keys.
country_code = 86
trunk_prefix = 0
# The least queue priority of a VIP's and a key account's calls (0-100; higher is served
# first). A red-listed number keeps its own priority when that is higher.
vip_priority = 5
key_account_priority = 3

[front_panel]
# The front panel: a character LCD with up/down/ok/back keys on a serial port
# (docs/front-panel-protocol.md). device: its port, e.g. /dev/ttyUSB0 or a
# /dev/serial/by-id/... link (empty: no panel). rows: 2 or 4; cols: 16, 20 or 40.
device =
baudrate = 9600
rows = 4
cols = 20

[watchdog]
# A hardware watchdog that resets the box when the daemon stops feeding it: /dev/watchdog
# (the kernel's) or serial:/dev/ttyS1 (a board that wants a KICK line; baudrate applies).
# Empty: none. Fed every interval_s seconds (1-60) only while the reactor runs, the database
# answers a query within db_timeout_s seconds and, from grace_s seconds after the start,
# the AMI link (when [ami] enabled) is up. Set the board's or the driver's timeout to
# several intervals. db_timeout_s is at most interval_s. systemd's WatchdogSec stays the
# software layer.
device =
baudrate = 9600
interval_s = 5
db_timeout_s = 5
grace_s = 120

[backup]
# Backups (ccbox backup writes one by hand): the database, this file, prompts, voicemail
# and uploads in one archive. dir: where scheduled ones go (default: <data_dir>/backups).
# dir = /var/backups/ccbox
# schedule: off, daily or weekly (Mondays), at hour (0-23, the [reports] time zone); the
# newest keep (1-365) archives in dir are kept, older ones deleted.
schedule = off
hour = 2
keep = 7
# yes: the recordings (and their key) go in too; the archives get as big as the recordings.
include_recordings = no
# A file whose first line is a passphrase (8+ characters): the secrets (the AMI secret, the
# SMTP password, the metrics token, the modem PIN, the recording key) go in encrypted with
# it. Empty: they are left out, and a restored box needs them typed in again.
passphrase_file =

[firmware]
# ccbox firmware flash / verify take only images signed by one of the Ed25519 public keys
# (PEM or 32 raw bytes, one a file) in this directory.
keys_dir = {firmware_keys_dir or "/etc/ccbox/firmware-keys"}

[sms]
# SMS through the GSM modem ([modem]). An outbound SMS (a ticket reply, a notice) is tried
# up to attempts times (1-20), retry_s seconds apart (5-3600), doubling up to an hour; then
# it is failed, with the modem's error on the ticket.
attempts = 5
retry_s = 30
# An SMS from a customer with no open ticket opens a ticket of ticket_type for queue's
# agents (a queue name; empty: unassigned) and a notice on their desks.
queue =
ticket_type = inquiry
# yes: confirm a web callback request by SMS, and tell a caller who hung up waiting in a
# queue that the center missed the call. The texts may use {{number}}, {{queue}} and {{when}};
# empty: the built-in text in the center's language. One notice per number at most every
# notice_interval_min minutes.
callback_confirmation = no
callback_text =
missed_call_notice = no
missed_call_text =
notice_interval_min = 60
# At most this many tickets are opened by SMS in an hour (a flood from many senders); past
# it, SMS from new senders join one "Too many requests (SMS)" ticket, each kept and listed.
max_new_tickets_per_hour = 60

[chat]
# Web chat: the widget a center embeds in its own site with one <script> tag talks only to
# this port, which serves nothing else of the box. Put it behind the site's HTTPS proxy and
# set public_url to the address browsers use (empty: http://bind:port); list the proxy in
# trusted_proxies (comma-separated addresses) so visitors' own addresses are rate-limited.
# The sites allowed to embed it are listed on the admin's Channels page.
enabled = yes
bind = 127.0.0.1
port = {chat_port}
public_url =
trusted_proxies =
# An offer an agent does not accept in offer_timeout_s goes to the next agent; a visitor
# gone idle_close_min minutes ends the chat.
offer_timeout_s = 30
idle_close_min = 15
# Limits per visitor (messages a minute, characters a message, attachment size) and per
# address (chats started an hour); max_visitors connected at once.
max_message_chars = 2000
max_attachment_kb = 5120
messages_per_minute = 30
chats_per_hour = 20
max_visitors = 5000

[email]
# The e-mail channel: accounts (IMAP in, SMTP out) are set on the admin's Channels page. A
# server without IDLE is polled every poll_s seconds. A message larger than max_message_kb
# is kept as its headers only; a sender gets one auto-reply at most every
# auto_reply_interval_min minutes.
enabled = yes
poll_s = 60
max_message_kb = 25600
auto_reply_interval_min = 60

[cobrowse]
# Escorted browsing and the supervisor's live view: form fields are masked (no: shown;
# password fields are always masked). A code an agent reads to a caller is good for
# code_minutes.
mask_inputs = yes
code_minutes = 10

[modem]
# The GSM modem SMS go through: its serial port, best a stable name from /dev/serial/by-id/
# (empty: no modem). A USB modem is reopened by itself after an unplug.
device =
baudrate = 115200
# The SIM's PIN (4-8 digits) when it asks for one. A PIN the SIM refuses is not tried again
# (three wrong ones lock the SIM): fix it here and restart.
pin =
# The SMS center's number (+ and digits); empty: the one stored on the SIM.
smsc =
"""
