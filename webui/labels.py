"""The names a person reads for the codes ccbox stores (strategies, overflow kinds, roles,
agent states, pause reasons, health parts, ...), so every page says the same thing in the
reader's language while the database, the API and the logs keep the code.

Each table maps a code to an English msgid marked with ``N_`` (extracted by ``make
messages``); ``label`` and the functions below translate at render time, in the request's
language. tests/unit/test_i18n_values.py holds each table to the codes its owner defines.
"""

from __future__ import annotations

import re

from acd import agent_state
from webui import i18n
from webui.i18n import N_

TABLES: dict[str, dict[str, str]] = {
    # drivers/serial/gsm/modem.py ModemStatus.state and .sim (the System page's modem card)
    "modem_state": {
        "absent": N_("Not connected"),
        "initialising": N_("Starting up"),
        "pin_required": N_("SIM PIN required"),
        "ready": N_("Ready"),
        "error": N_("Error"),
    },
    "sim_state": {
        "ready": N_("Ready"),
        "pin": N_("PIN required"),
        "puk": N_("PUK required (the PIN was refused three times)"),
        "absent": N_("No SIM"),
    },
    # acd/agent_state.py STATES
    "agent_state": {
        "logged_out": N_("Logged out"),
        "available": N_("Ready"),
        "ringing": N_("Ringing"),
        "on_call": N_("On a call"),
        "wrap_up": N_("Wrap-up"),
        "paused": N_("Paused"),
    },
    # acd/agent_state.py PAUSE_REASONS, named there (the reports show them too)
    "pause_reason": dict(agent_state.PAUSE_REASON_NAMES),
    # acd/route.py STRATEGIES
    "strategy": {
        "longest_idle": N_("Longest idle agent"),
        "fewest_calls": N_("Fewest calls"),
        "least_talk": N_("Least talk time"),
        "round_robin": N_("Round robin"),
        "ring_all": N_("Ring all"),
        "random": N_("Random"),
        "weighted_random": N_("Weighted random"),
        "skill_best": N_("Best skill level"),
    },
    # appliance/db/model.py QUEUE_MEDIA (what a queue takes; the wallboard's channel tiles)
    "media": {
        "call": N_("Calls"),
        "chat": N_("Chat"),
        "email": N_("E-mail"),
    },
    # appliance/db/model.py EMAIL_SECURITY (an e-mail account's IMAP and SMTP connections)
    "email_security": {
        "tls": N_("TLS"),
        "starttls": N_("STARTTLS"),
        "none": N_("None (unencrypted)"),
    },
    # appliance/db/model.py OVERFLOW_KINDS
    "overflow_kind": {
        "hangup": N_("Hang up"),
        "queue": N_("Another queue"),
        "voicemail": N_("Voicemail"),
        "extension": N_("An extension"),
    },
    # appliance/db/model.py ROLES
    "role": {
        "admin": N_("admin"),
        "supervisor": N_("supervisor"),
        "agent": N_("agent"),
        "qa": N_("qa"),
    },
    # appliance/db/model.py AGENT_STATUSES
    "agent_status": {
        "active": N_("Active"),
        "on_leave": N_("On leave"),
        "resigned": N_("Resigned"),
    },
    # appliance/db/model.py CALL_DIRECTIONS
    "direction": {
        "inbound": N_("Inbound"),
        "outbound": N_("Outbound"),
        "internal": N_("Internal"),
    },
    # appliance/db/model.py CALLBACK_STATES
    "callback_state": {
        "waiting": N_("Waiting"),
        "dialing": N_("Dialing"),
        "done": N_("Done"),
        "failed": N_("Failed"),
        "cancelled": N_("Cancelled"),
    },
    # appliance/db/model.py PROMPT_SOURCES
    "prompt_source": {
        "upload": N_("upload"),
        "recorded": N_("recorded"),
        "tts": N_("tts"),
    },
    # appliance/db/model.py RECORDING_REASONS
    "recording_reason": {
        "policy": N_("Policy"),
        "on_demand": N_("On demand"),
    },
    # appliance/db/model.py NOTICE_LEVELS
    "notice_level": {
        "info": N_("Info"),
        "warning": N_("Warning"),
        "urgent": N_("Urgent"),
    },
    # appliance/db/model.py MAILBOX_OWNERS
    "mailbox_owner": {
        "agent": N_("Agent"),
        "queue": N_("Queue"),
        "department": N_("Department"),
    },
    # appliance/db/model.py NUMBER_LISTS
    "number_list": {
        "black": N_("Black list"),
        "red": N_("VIP list"),
    },
    # appliance/db/model.py CAMPAIGN_MODES
    "campaign_mode": {
        "preview": N_("Preview"),
        "progressive": N_("Progressive"),
        "predictive": N_("Predictive"),
    },
    # appliance/db/model.py CAMPAIGN_STATES
    "campaign_state": {
        "stopped": N_("Stopped"),
        "running": N_("Running"),
        "paused": N_("Paused"),
    },
    # appliance/db/model.py CAMPAIGN_RECORD
    "campaign_record": {
        "all": N_("Record every call"),
        "none": N_("Record no call"),
    },
    # appliance/db/model.py CAMPAIGN_BACKOFF
    "campaign_backoff": {
        "hard": N_("Hard: one line per agent while above target"),
        "average": N_("Average: scale the dial level down by the excess"),
        "tapered": N_("Tapered: more room early in the day, the target by its end"),
    },
    # appliance/db/model.py LEAD_STATUSES
    "lead_status": {
        "new": N_("New"),
        "scheduled": N_("Scheduled"),
        "dialing": N_("Dialing"),
        "done": N_("Done"),
        "dnc": N_("Do not call"),
        "failed": N_("Failed"),
    },
    # appliance/db/model.py DIAL_OUTCOMES
    "dial_outcome": {
        "answered": N_("Answered"),
        "no_answer": N_("No answer"),
        "busy": N_("Busy"),
        "congestion": N_("Congestion"),
        "machine": N_("Answering machine"),
        "abandoned": N_("Abandoned"),
        "failed": N_("Failed"),
        "dnc": N_("Do not call"),
    },
    # appliance/db/model.py DNC_SCOPES
    "dnc_scope": {
        "center": N_("The center's list"),
        "campaign": N_("A campaign's list"),
        "national": N_("The national list"),
    },
    # appliance/db/model.py DNC_SOURCES
    "dnc_source": {
        "admin": N_("Added on this page"),
        "ivr": N_("Asked in the IVR"),
        "agent": N_("Asked an agent"),
        "import": N_("Imported"),
    },
    # appliance/health.py states
    # what a queue did with a call (appliance/db/model.py QUEUE_OUTCOMES): the report drills
    "queue_outcome": {
        "answered": N_("Answered"),
        "abandoned": N_("Abandoned"),
        "voicemail": N_("To voicemail"),
        "extension": N_("To an extension"),
        "overflow": N_("Overflowed"),
        "callback": N_("Callback"),
        "handed_off": N_("Handed to the dialplan"),
    },
    # appliance/db/model.py CALL_DISPOSITIONS: how a call ended (the desk's last calls)
    "call_disposition": {
        "completed": N_("Completed"),
        "caller_hangup": N_("Caller hung up"),
        "self_service": N_("Served by the IVR"),
        "blacklisted": N_("Blocked number"),
        "transferred": N_("Transferred"),
        "transfer_failed": N_("Transfer failed"),
        "abandoned": N_("Abandoned"),
        "voicemail": N_("To voicemail"),
        "extension": N_("To an extension"),
        "overflow": N_("Overflowed"),
        "callback": N_("Callback"),
        "handed_off": N_("Handed to the dialplan"),
        "not_reached": N_("Not reached"),
        "daemon_stopped": N_("Ended by a restart"),
    },
    "health_state": {
        "ok": N_("ok"),
        "degraded": N_("degraded"),
        "down": N_("down"),
        "starting": N_("starting"),
    },
    # the health registry's part names (services' ``name``, drivers' PART)
    "health_part": {
        "modem": N_("GSM modem"),
        "db": N_("Database"),
        "web": N_("Web UI"),
        "acd": N_("ACD"),
        "acd-day-counters": N_("ACD day counters"),
        "ami": N_("Asterisk link (AMI)"),
        "fastagi": N_("FastAGI server"),
        "sounds": N_("Asterisk sounds"),
        "ivr": N_("IVR service"),
        "recorder": N_("Recorder"),
        "recording-upkeep": N_("Recording upkeep"),
        "dialer": N_("Outbound dialer"),
        "charts": N_("Report charts"),
        "report-maintainer": N_("Report rollups"),
        "report-schedule": N_("Scheduled reports"),
        "ticket-escalation": N_("Ticket escalation"),
        "queue-log": N_("queue_log file"),
        "metrics": N_("Prometheus metrics"),
        "front_panel": N_("Front panel"),
        "watchdog": N_("Hardware watchdog"),
        "watchdog_board": N_("Watchdog board"),
        "backups": N_("Backups"),
        "dahdi": N_("E1/DAHDI spans"),
        "email": N_("E-mail channel"),
        "cobrowse": N_("Co-browsing"),
        "channels": N_("Chat and e-mail routing"),
        "chat-public": N_("Web chat (public endpoint)"),
    },
}


def label(table: str, code: str | None) -> str:
    """The reader's name for ``code`` (the code itself when the table does not know it: a
    value from a newer version, or user data)."""
    if code is None:
        return ""
    msgid = TABLES[table].get(code)
    return i18n._(msgid) if msgid is not None else code


def options(table: str, codes: tuple[str, ...] | list[str] | None = None) -> list[tuple[str, str]]:
    """(code, name) pairs for a ``<select>``, in ``codes``' order (the table's by default)."""
    return [(c, label(table, c)) for c in (codes if codes is not None else TABLES[table])]


def agent_states() -> dict[str, str]:
    """acd/agent_state.py's states."""
    return dict(options("agent_state"))


def pause_reasons() -> dict[str, str]:
    """acd/agent_state.py's PAUSE_REASONS."""
    return dict(options("pause_reason"))


# The health details the parts report (appliance/db/connector.py, drivers/asterisk/ami/
# attempts.py, drivers/asterisk/agi/, recorder/disk_guard.py), matched in English and shown
# translated; what a pattern captures (an address, an OS error, a count) is shown as it is.
# A detail no pattern knows is shown as reported.
HEALTH_DETAILS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"connecting", N_("connecting")),
        (r"logging in to (?P<where>.+)", N_("logging in to {where}")),
        # the AMI link's reasons (drivers/asterisk/ami/attempts.py and client.py)
        (r"connection refused", N_("connection refused")),
        (r"timed out connecting", N_("timed out connecting")),
        (r"host name not found", N_("host name not found")),
        (r"cannot connect: (?P<error>.+)", N_("cannot connect: {error}")),
        (r"login failed: (?P<error>.+)", N_("login failed: {error}")),
        (r"failed: (?P<error>.+)", N_("failed: {error}")),
        (r"connection lost: (?P<error>.+)", N_("connection lost: {error}")),
        (r"Asterisk restarting", N_("Asterisk restarting")),
        (r"Asterisk shut down", N_("Asterisk shut down")),
        (r"connected to (?P<where>.+)", N_("connected to {where}")),
        (r"(?P<reason>.+) \((?P<where>[^()]+)\); retrying", N_("{reason} ({where}); retrying")),
        (
            r"(?P<reason>.+) \((?P<where>[^()]+)\); reconnecting",
            N_("{reason} ({where}); reconnecting"),
        ),
        (r"listening on (?P<where>.+)", N_("listening on {where}")),
        # the dialer (acd/dialer/service.py)
        (
            r"(?P<campaigns>\d+) campaigns running, (?P<lines>\d+) lines; (?P<why>.+)",
            N_("{campaigns} campaigns running, {lines} lines; {why}"),
        ),
        (
            r"(?P<campaigns>\d+) campaigns running, (?P<lines>\d+) lines",
            N_("{campaigns} campaigns running, {lines} lines"),
        ),
        (r"stopping: no new calls", N_("stopping: no new calls")),
        (r"missing in Asterisk: (?P<names>.+)", N_("missing in Asterisk: {names}")),
        (
            r"sessions refused \((?P<counts>[^()]*)\): (?P<message>.+)",
            N_("sessions refused ({counts}): {message}"),
        ),
        (
            r"writes slow: (?P<waiting>\d+) calls writes waiting",
            N_("writes slow: {waiting} calls writes waiting"),
        ),
        (
            r"recording disk full while merging call (?P<call_id>\S+): (?P<error>.+)",
            N_("recording disk full while merging call {call_id}: {error}"),
        ),
        (r"writes failing: (?P<why>[^;]+)", N_("writes failing: {why}")),
        (r"recovering from: (?P<why>[^;]+)", N_("recovering from: {why}")),
        (r"(?P<waiting>\d+) calls writes waiting", N_("{waiting} calls writes waiting")),
        (r"(?P<lost>\d+) lost \(the backlog was full\)", N_("{lost} lost (the backlog was full)")),
        # the channels' engine while sent chat lines wait for their rows (acd/channels/service.py)
        (r"(?P<lines>\d+) chat lines not written yet", N_("{lines} chat lines not written yet")),
        (
            r"cannot read the free space of (?P<root>.+): (?P<error>.+)",
            N_("cannot read the free space of {root}: {error}"),
        ),
        (
            r"recording stopped: (?P<free>\d+) MB free on (?P<root>.+), "
            r"less than min_free_mb = (?P<min>\d+)",
            N_("recording stopped: {free} MB free on {root}, less than min_free_mb = {min}"),
        ),
        # a serial device's link (drivers/serial/port.py): the front panel, the modem, ...
        (r"opening (?P<device>/\S*)", N_("opening {device}")),
        (r"(?P<device>\S+) open", N_("{device} open")),
        (r"(?P<device>/\S*) closed", N_("{device} closed")),
        (
            r"(?P<device>/\S*): (?P<reason>.+); retrying in (?P<seconds>\d+) s",
            N_("{device}: {reason}; retrying in {seconds} s"),
        ),
        (r"device gone \(unplugged\?\)", N_("device gone (unplugged?)")),
        (r"lost \((?P<error>.+)\)", N_("lost ({error})")),
        # the DAHDI spans (appliance/hardware/spans.py)
        (r"not read yet", N_("not read yet")),
        (r"not read: (?P<error>.+)", N_("not read: {error}")),
        (r"(?P<root>.+) is gone: DAHDI unloaded\?", N_("{root} is gone: DAHDI unloaded?")),
        (r"no DAHDI \((?P<root>.+)\)", N_("no DAHDI ({root})")),
        (r"(?P<count>\d+) spans OK", N_("{count} spans OK")),
        (r"span (?P<number>\d+): gone", N_("span {number}: gone")),
        (
            r"span (?P<number>\d+) (?P<name>[^:]*): (?P<alarms>[^;]+)",
            N_("span {number} {name}: {alarms}"),
        ),
    )
)


# What the drivers refuse with (drivers/audio/soundcard.py, drivers/asterisk/ami/actions.py):
# drivers sit below appliance/text.py and write plain English, matched here as the health
# details are. ``kind`` is "input" or "output".
DRIVER_MESSAGES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (
            r"PortAudio is not available \(install libportaudio2\): (?P<error>.+)",
            N_("PortAudio is not available (install libportaudio2): {error}"),
        ),
        (r"cannot list sound devices: (?P<error>.+)", N_("cannot list sound devices: {error}")),
        (r"playing on (?P<name>.+) failed: (?P<error>.+)", N_("playing on {name} failed: {error}")),
        (
            r"recording from (?P<name>.+) failed: (?P<error>.+)",
            N_("recording from {name} failed: {error}"),
        ),
        (
            r"no sound input device: is a sound card or USB headset connected\?",
            N_("no sound input device: is a sound card or USB headset connected?"),
        ),
        (
            r"no sound output device: is a sound card or USB headset connected\?",
            N_("no sound output device: is a sound card or USB headset connected?"),
        ),
        (
            r"no sound input device (?P<device>.+) \(see the device list\)",
            N_("no sound input device {device} (see the device list)"),
        ),
        (
            r"no sound output device (?P<device>.+) \(see the device list\)",
            N_("no sound output device {device} (see the device list)"),
        ),
        (r"(?P<name>.+) is not a sound input device", N_("{name} is not a sound input device")),
        (r"(?P<name>.+) is not a sound output device", N_("{name} is not a sound output device")),
        (
            r"sound input device (?P<name>.+) accepts none of these sample rates: "
            r"(?P<rates>.+) Hz",
            N_("sound input device {name} accepts none of these sample rates: {rates} Hz"),
        ),
        (
            r"sound output device (?P<name>.+) accepts none of these sample rates: "
            r"(?P<rates>.+) Hz",
            N_("sound output device {name} accepts none of these sample rates: {rates} Hz"),
        ),
        (r"(?P<what>.+) (?P<value>'.*') is not allowed", N_("{what} {value} is not allowed")),
        (
            r"value of (?P<name>\S+) has a comma, an expression or a control character",
            N_("value of {name} has a comma, an expression or a control character"),
        ),
        (r"hangup cause (?P<cause>\S+) is not allowed", N_("hangup cause {cause} is not allowed")),
        (
            r"direction must be read, write or both",
            N_("direction must be read, write or both"),
        ),
        (
            r"supervision mode must be one of (?P<modes>.+)",
            N_("supervision mode must be one of {modes}"),
        ),
        (
            r"mute direction must be one of (?P<directions>.+)",
            N_("mute direction must be one of {directions}"),
        ),
    )
)


def driver_message(text: str) -> str:
    """A driver's refusal in the reader's language (see DRIVER_MESSAGES), or a health
    detail given as a refusal (the recorder's disk alarm refusing "record now")."""
    return _matched(text, DRIVER_MESSAGES + HEALTH_DETAILS)


def _matched(text: str, patterns: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    """``text`` translated by the first pattern it matches (a captured ``reason`` is itself
    looked up: "connection refused (host:5038); retrying"), else ``text`` itself."""
    for pattern, msgid in patterns:
        m = pattern.fullmatch(text)
        if m:
            values = m.groupdict()
            if "reason" in values:
                values["reason"] = _matched(values["reason"], patterns)
            return i18n._(msgid).format(**values)
    return text


def health_detail(detail: str) -> str:
    """A part's health detail in the reader's language (see HEALTH_DETAILS); a detail made
    of several (``a; b``) is translated part by part."""
    if isinstance(detail, i18n.Message):
        return i18n.translate(detail)
    shown = _matched(detail, HEALTH_DETAILS)
    if shown is not detail:
        return shown
    if "; " in detail:
        return i18n._("; ").join(health_detail(d) for d in detail.split("; "))
    return detail
