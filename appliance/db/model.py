"""The schema: one MetaData with every table, as SQLAlchemy Core tables.

Core, not the ORM: components run queries in the database thread pool and hand plain
dataclasses back to the reactor, so nothing can lazy-load on the reactor thread.
Migrations in ``migrations/versions`` must produce exactly this (a test holds them equal).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from appliance.db.types import UTCDateTime

ROLES = ("admin", "supervisor", "agent", "qa")
AGENT_STATUSES = ("active", "on_leave", "resigned")
# An agent's live state (acd/agent_state.py holds the transitions).
AGENT_STATES = ("logged_out", "available", "ringing", "on_call", "wrap_up", "paused")
NUMBER_LISTS = ("black", "red")
# Where a call goes when its queue is full or it waited max_wait_s.
OVERFLOW_KINDS = ("hangup", "queue", "voicemail", "extension")
CALLBACK_STATES = ("waiting", "dialing", "done", "failed", "cancelled")
CALL_DIRECTIONS = ("inbound", "outbound", "internal")
PROMPT_SOURCES = ("upload", "recorded", "tts")
MAILBOX_OWNERS = ("agent", "queue", "department")
# Why a call was recorded: the queue's/DID's policy, or someone pressed "record" mid-call.
RECORDING_REASONS = ("policy", "on_demand")
NOTICE_LEVELS = ("info", "warning", "urgent")
# The outbound dialer (acd/dialer/): the strings every part of it uses.
CAMPAIGN_MODES = ("preview", "progressive", "predictive")
CAMPAIGN_STATES = ("stopped", "running", "paused")
CAMPAIGN_RECORD = ("all", "none")
CAMPAIGN_BACKOFF = ("hard", "average", "tapered")
LEAD_STATUSES = ("new", "scheduled", "dialing", "done", "dnc", "failed")
DIAL_OUTCOMES = (
    "answered",
    "no_answer",
    "busy",
    "congestion",
    "machine",
    "abandoned",
    "failed",
    "dnc",
)
# A person answered (a machine is not): taken by an agent, or abandoned (no agent in time).
# The abandon rate is abandoned / these, live (acd/dialer/abandon.py) and from the store.
PERSON_ANSWERED_OUTCOMES = ("answered", "abandoned")
DNC_SCOPES = ("center", "campaign", "national")
DNC_SOURCES = ("admin", "ivr", "agent", "import")
# Reports (appliance/reports/): the rollup grains and the scopes of report_traffic.
REPORT_GRAINS = ("q15", "hour", "day", "month")
REPORT_SCOPES = ("center", "queue", "skill", "agent", "department", "did", "flow", "campaign")
# What a queue did with a call (calls.queue_outcome), written when the caller leaves the
# queue. Not a CHECK: adding one would make SQLite copy the whole calls table to migrate.
QUEUE_OUTCOMES = (
    "answered",
    "abandoned",
    "voicemail",
    "extension",
    "overflow",
    "callback",
    "handed_off",
)
# How a call ended (calls.disposition): the IVR's, the queue's (answered is completed) and
# the outbound legs' endings, and a row closed after a restart (appliance/call_rows.py).
CALL_DISPOSITIONS = (
    "completed",
    "caller_hangup",
    "self_service",
    "blacklisted",
    "transferred",
    "transfer_failed",
    "abandoned",
    "voicemail",
    "extension",
    "overflow",
    "callback",
    "handed_off",
    "not_reached",
    "daemon_stopped",
)
DEFAULT_RETRY_JSON = '{"no_answer": 60, "busy": 10, "congestion": 5, "machine": 240, "callback": 0}'

# Stable constraint names, so migrations on SQLite (batch mode) and PostgreSQL agree.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _created() -> sa.Column[dt.datetime]:
    return sa.Column("created_at", UTCDateTime(), nullable=False)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("locale", sa.String(8), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _created(),
    sa.CheckConstraint(_in("role", ROLES), name="role"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The number an agent types on the desk phone to log in.
    sa.Column("number", sa.String(16), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("pin_hash", sa.String(255), nullable=True),
    sa.Column("department", sa.String(64), nullable=False, server_default=""),
    # The desk phone, e.g. PJSIP/1001.
    sa.Column("device", sa.String(64), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    _created(),
    sa.CheckConstraint(_in("status", AGENT_STATUSES), name="status"),
)

skills = sa.Table(
    "skills",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("description", sa.String(255), nullable=False, server_default=""),
)

agent_skills = sa.Table(
    "agent_skills",
    metadata,
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "skill_id", sa.Integer, sa.ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("level", sa.Integer, nullable=False),
    sa.CheckConstraint("level BETWEEN 1 AND 10", name="level"),
)

queues = sa.Table(
    "queues",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("strategy", sa.String(32), nullable=False, server_default="longest_idle"),
    sa.Column("service_level_s", sa.Integer, nullable=False, server_default="20"),
    sa.Column("max_wait_s", sa.Integer, nullable=False, server_default="300"),
    sa.Column("wrapup_s", sa.Integer, nullable=False, server_default="10"),
    sa.Column("ring_timeout_s", sa.Integer, nullable=False, server_default="15"),
    # 0: no limit. A full queue, or a caller past max_wait_s, overflows.
    sa.Column("max_len", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "overflow_queue_id",
        sa.Integer,
        sa.ForeignKey("queues.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # Pause an agent automatically after this many unanswered offers in a row (0: never).
    sa.Column("auto_pause_misses", sa.Integer, nullable=False, server_default="3"),
    # Overflow: to overflow_queue_id (kind queue), the queue's mailbox (voicemail), an
    # extension of the old PBX (overflow_target), or a goodbye (hangup).
    sa.Column("overflow_kind", sa.String(16), nullable=False, server_default="queue"),
    sa.Column("overflow_target", sa.String(32), nullable=False, server_default=""),
    # Callers join (and stay) only while an agent who could take the call is logged in.
    sa.Column("join_empty", sa.Boolean, nullable=False, server_default=sa.true()),
    # While holding: position and expected wait every announce_every_s (0: never).
    sa.Column("announce_every_s", sa.Integer, nullable=False, server_default="45"),
    sa.Column("announce_position", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("moh_class", sa.String(32), nullable=False, server_default="default"),
    # A digit the holding caller presses to ask for a callback or leave a message ("": off).
    sa.Column("callback_key", sa.String(1), nullable=False, server_default="1"),
    sa.Column("voicemail_key", sa.String(1), nullable=False, server_default="2"),
    # Recording policy: record the queue's calls; keep them this many days (NULL: the
    # [recording] retention_days default; 0: forever).
    sa.Column("record_calls", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("recording_retention_days", sa.Integer, nullable=True),
    _created(),
    sa.CheckConstraint(_in("overflow_kind", OVERFLOW_KINDS), name="overflow_kind"),
)

queue_members = sa.Table(
    "queue_members",
    metadata,
    # Direct membership, besides skills: a lower penalty is offered calls first.
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("penalty", sa.Integer, nullable=False, server_default="0"),
)

callbacks = sa.Table(
    "callbacks",
    metadata,
    # A caller who asked to be called back keeps its place (seq) in its queue: the ACD
    # dials it out when an agent frees. Survives a restart.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    # where the request came from: "queue" (a digit while holding) or "web"
    sa.Column("source", sa.String(16), nullable=False, server_default="queue"),
    sa.Column("state", sa.String(16), nullable=False, server_default="waiting"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    # A scheduled callback is not dialed before this (NULL: as soon as an agent is free).
    sa.Column("due_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("state", CALLBACK_STATES), name="state"),
    sa.Index("ix_callbacks_state_queue_id", "state", "queue_id"),
    sa.Index("ix_callbacks_number_requested_at", "number", "requested_at"),  # the timeline
)

queue_skills = sa.Table(
    "queue_skills",
    metadata,
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "skill_id", sa.Integer, sa.ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("min_level", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("min_level BETWEEN 1 AND 10", name="min_level"),
)

ivr_flows = sa.Table(
    "ivr_flows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("description", sa.String(255), nullable=False, server_default=""),
    # The newest saved version's graph (JSON text) and number: what the editor opens.
    sa.Column("graph", sa.Text, nullable=False, server_default="{}"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False, server_default=""),
    # The version calls run (None: never published). Roll back = publish an older one.
    sa.Column("published_version", sa.Integer, nullable=True),
)

ivr_flow_versions = sa.Table(
    "ivr_flow_versions",
    metadata,
    # Every save, kept: who changed what and when; a call runs the version it entered with.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "flow_id", sa.Integer, sa.ForeignKey("ivr_flows.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("graph", sa.Text, nullable=False),
    sa.Column("author", sa.String(64), nullable=False, server_default=""),
    # What changed against the version before (nodes added, removed, changed).
    sa.Column("note", sa.String(255), nullable=False, server_default=""),
    _created(),
    sa.UniqueConstraint("flow_id", "version"),
)

prompts = sa.Table(
    "prompts",
    metadata,
    # Sound files the switch plays: <data_dir>/prompts/<name>.wav (8 kHz mono), the name
    # generated by the server, never taken from an upload.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(128), nullable=False, server_default=""),
    sa.Column("language", sa.String(8), nullable=False, server_default=""),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("duration_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
    _created(),
    sa.CheckConstraint(_in("source", PROMPT_SOURCES), name="source"),
)

mailboxes = sa.Table(
    "mailboxes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    # Whose it is: an agent (number), a queue (name) or a department (name).
    sa.Column("owner_kind", sa.String(16), nullable=False, server_default="department"),
    sa.Column("owner", sa.String(64), nullable=False, server_default=""),
    # New messages are mailed here (with the audio attached) when SMTP is configured.
    sa.Column("email", sa.String(254), nullable=False, server_default=""),
    # Retrieval by phone: the PIN's hash (None: no retrieval by phone).
    sa.Column("pin_hash", sa.String(255), nullable=True),
    sa.Column("greeting", sa.String(64), nullable=False, server_default=""),
    sa.Column("max_message_s", sa.Integer, nullable=False, server_default="120"),
    _created(),
    sa.CheckConstraint(_in("owner_kind", MAILBOX_OWNERS), name="owner_kind"),
)

customers = sa.Table(
    "customers",
    metadata,
    # The customer records the IVR looks up and the screen pop shows (CRM-lite's core).
    sa.Column("id", sa.Integer, primary_key=True),
    # (its one number went to customer_numbers: migration 0011)
    sa.Column("account", sa.String(64), nullable=False, server_default="", index=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("customer_class", sa.String(32), nullable=False, server_default="normal"),
    sa.Column("email", sa.String(254), nullable=False, server_default=""),
    sa.Column("note", sa.String(1000), nullable=False, server_default=""),
    _created(),
)

lookup_records = sa.Table(
    "lookup_records",
    metadata,
    # Business records a flow looks up by a collected value (order numbers, contracts...):
    # one book per kind, a key, and the fields as a JSON object of text.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("book", sa.String(32), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    sa.UniqueConstraint("book", "key"),
)

dids = sa.Table(
    "dids",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The dialed number as the trunk delivers it.
    sa.Column("number", sa.String(32), nullable=False, unique=True),
    sa.Column(
        "flow_id", sa.Integer, sa.ForeignKey("ivr_flows.id", ondelete="RESTRICT"), nullable=True
    ),
    sa.Column("description", sa.String(255), nullable=False, server_default=""),
    # Calls to this number are recorded (when their queue records too).
    sa.Column("record_calls", sa.Boolean, nullable=False, server_default=sa.true()),
)

agent_states = sa.Table(
    "agent_states",
    metadata,
    # The live state of each agent, written on every change so a restart restores it.
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("since", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("state", AGENT_STATES), name="state"),
)

agent_events = sa.Table(
    "agent_events",
    metadata,
    # Every state change with its time: the agent reports read these.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Index("ix_agent_events_agent_id_at", "agent_id", "at"),
)

number_lists = sa.Table(
    "number_lists",
    metadata,
    # black: turned away before queueing; red: VIP, queued with ``priority``.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("note", sa.String(255), nullable=False, server_default=""),
    _created(),
    sa.UniqueConstraint("number", "kind"),
    sa.CheckConstraint(_in("kind", NUMBER_LISTS), name="kind"),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Asterisk's Uniqueid of the first channel, and the Linkedid that ties every leg. Not
    # unique: Asterisk's ids (epoch.sequence) may repeat after a restart within a second,
    # and a repeated id must never cost a call its row.
    sa.Column("uniqueid", sa.String(64), nullable=False, index=True),
    sa.Column("linkedid", sa.String(64), nullable=False, index=True),
    sa.Column("direction", sa.String(16), nullable=False),
    # Caller ID is attacker-controlled: stored as given, bounded in length.
    sa.Column("caller_number", sa.String(80), nullable=False, server_default=""),
    sa.Column("caller_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("called_number", sa.String(80), nullable=False, server_default=""),
    sa.Column("trunk", sa.String(64), nullable=False, server_default=""),
    sa.Column("channel", sa.String(128), nullable=False, server_default=""),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("started_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("hangup_cause", sa.Integer, nullable=True),
    sa.Column("disposition", sa.String(32), nullable=False, server_default=""),
    # When an agent answered (answered_at is when the switch answered the caller) and how
    # long the agent talked: written as they happen, so reports need no event replay.
    sa.Column("agent_answered_at", UTCDateTime(), nullable=True),
    sa.Column("talk_ms", sa.Integer, nullable=True),
    # For the reports (appliance/reports/README.md), written as they happen: the IVR flow the
    # call ran; its first queue visit: the queue it joined, when, the queue it overflowed
    # into (NULL: none), what the queues did with it and how long it waited (to the agent's
    # answer or to leaving); how long agents held it and how many times they transferred it.
    sa.Column("flow_id", sa.Integer, nullable=True),
    sa.Column("entry_queue_id", sa.Integer, nullable=True),
    sa.Column("queued_at", UTCDateTime(), nullable=True),
    sa.Column("overflow_queue_id", sa.Integer, nullable=True),
    sa.Column("queue_outcome", sa.String(16), nullable=True),
    sa.Column("wait_ms", sa.Integer, nullable=True),
    sa.Column("hold_ms", sa.Integer, nullable=True),
    sa.Column("transfers", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(_in("direction", CALL_DIRECTIONS), name="direction"),
    # drill-down: the calls of a queue in a quarter hour
    sa.Index("ix_calls_queue_id_queued_at", "queue_id", "queued_at"),
    # a customer's timeline by the forms of its numbers (appliance/crm/timeline.py)
    sa.Index("ix_calls_caller_number_started_at", "caller_number", "started_at"),
    sa.Index("ix_calls_called_number_started_at", "called_number", "started_at"),
)

queue_day_stats = sa.Table(
    "queue_day_stats",
    metadata,
    # Each queue's counters for one local day (acd/stats.py), written as they move, so a
    # restart carries on with today's numbers instead of zero.
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, the box's local date
    sa.Column("offered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("answered", sa.Integer, nullable=False, server_default="0"),
    sa.Column("answered_in_sl", sa.Integer, nullable=False, server_default="0"),
    sa.Column("abandoned", sa.Integer, nullable=False, server_default="0"),
    sa.Column("abandoned_after_sl", sa.Integer, nullable=False, server_default="0"),
    sa.Column("overflowed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("callbacks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("wait_answered_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("talk_s", sa.Float, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

call_events = sa.Table(
    "call_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    # Event details as JSON text (node, input, branch, agent, ...).
    sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_call_events_call_id_at", "call_id", "at"),
)

recordings = sa.Table(
    "recordings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="SET NULL"), nullable=True),
    # Relative to the recording root; never an absolute path from outside.
    sa.Column("path", sa.String(512), nullable=False, unique=True),
    sa.Column("started_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("duration_ms", sa.Integer, nullable=False, server_default="0", index=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
    # Of the file as stored (after archiving / encryption: of that file).
    sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
    # wav (the working copy), flac or opus (the archive)
    sa.Column("format", sa.String(16), nullable=False, server_default="wav"),
    # The call, copied here so a search over a million rows needs no join.
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("direction", sa.String(16), nullable=False, server_default="inbound"),
    sa.Column("caller_number", sa.String(80), nullable=False, server_default=""),
    sa.Column("caller_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("called_number", sa.String(80), nullable=False, server_default=""),
    sa.Column("trunk", sa.String(64), nullable=False, server_default=""),
    # The trunk channel (E1 timeslot / analog port: DAHDI/17-1 -> 17); NULL off the trunks.
    sa.Column("channel_number", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(16), nullable=False, server_default="policy"),
    # Metrics from the DSP (ratios of the call's 20 ms frames) and the player's waveform.
    sa.Column("talk_over_ratio", sa.Float, nullable=False, server_default="0"),
    sa.Column("silence_ratio", sa.Float, nullable=False, server_default="0"),
    sa.Column("caller_talk_ratio", sa.Float, nullable=False, server_default="0"),
    sa.Column("agent_talk_ratio", sa.Float, nullable=False, server_default="0"),
    sa.Column("legs_mismatch_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("peaks", sa.Text, nullable=False, server_default="[]"),
    # Time the recording was paused (PCI: card numbers), in total.
    sa.Column("paused_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("encrypted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("archived_at", UTCDateTime(), nullable=True),
    # The latest QA evaluation's score (0-100), NULL while not scored.
    sa.Column("qa_score", sa.Float, nullable=True),
    sa.CheckConstraint(_in("reason", RECORDING_REASONS), name="reason"),
    sa.Index("ix_recordings_agent_id_started_at", "agent_id", "started_at"),
    sa.Index("ix_recordings_queue_id_started_at", "queue_id", "started_at"),
    sa.Index("ix_recordings_caller_number_started_at", "caller_number", "started_at"),
    sa.Index("ix_recordings_called_number_started_at", "called_number", "started_at"),
    sa.Index("ix_recordings_channel_number_started_at", "channel_number", "started_at"),
    sa.Index("ix_recordings_qa_score", "qa_score"),
    # "has talk-over" pages and their counts read only the rows with some talk-over
    sa.Index(
        "ix_recordings_talk_over_started_at",
        "started_at",
        sqlite_where=sa.text("talk_over_ratio > 0"),
        postgresql_where=sa.text("talk_over_ratio > 0"),
    ),
    sa.Index("ix_recordings_call_id", "call_id"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    # Who did what to whom: recording pauses, downloads and deletions, QA, supervisor actions.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False, index=True),
    # The user name, or "agent:1001" / "system" for actions from a phone or a timer.
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(48), nullable=False),
    sa.Column("target", sa.String(128), nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Column("ip", sa.String(64), nullable=False, server_default=""),
    sa.Index("ix_audit_log_action_at", "action", "at"),
)

qa_forms = sa.Table(
    "qa_forms",
    metadata,
    # A scoring form: groups of questions with weights, as JSON (recorder/qa_form.py checks it).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
    _created(),
)

qa_evaluations = sa.Table(
    "qa_evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Kept when the recording is purged: the averages still count it.
    sa.Column(
        "recording_id",
        sa.Integer,
        sa.ForeignKey("recordings.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column(
        "form_id", sa.Integer, sa.ForeignKey("qa_forms.id", ondelete="RESTRICT"), nullable=False
    ),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("evaluator", sa.String(64), nullable=False),
    # 0-100: the weighted share of the form's points
    sa.Column("score", sa.Float, nullable=False),
    # {"question id": points given, ...}
    sa.Column("answers", sa.Text, nullable=False, server_default="{}"),
    sa.Column("comment", sa.String(2000), nullable=False, server_default=""),
    _created(),
    sa.Index("ix_qa_evaluations_agent_id_created_at", "agent_id", "created_at"),
    sa.Index("ix_qa_evaluations_queue_id_created_at", "queue_id", "created_at"),
    sa.Index("ix_qa_evaluations_recording_id", "recording_id"),
)

voicemails = sa.Table(
    "voicemails",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mailbox", sa.String(32), nullable=False, index=True),
    sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="SET NULL"), nullable=True),
    sa.Column("caller_number", sa.String(80), nullable=False, server_default=""),
    sa.Column("caller_name", sa.String(256), nullable=False, server_default=""),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False, server_default="0"),
    # Relative to <data_dir>/voicemail; the name is ours (mailbox, time, call id).
    sa.Column("path", sa.String(512), nullable=False),
    sa.Column("heard", sa.Boolean, nullable=False, server_default=sa.false()),
    # A forwarded copy names the message it came from.
    sa.Column("forwarded_from", sa.Integer, nullable=True),
    # "complaint" for the complaint line's messages, else "message".
    sa.Column("kind", sa.String(16), nullable=False, server_default="message"),
    sa.Index("ix_voicemails_caller_number_received_at", "caller_number", "received_at"),
    sa.Index("ix_voicemails_call_id", "call_id"),  # a customer's calls' messages
)

call_notes = sa.Table(
    "call_notes",
    metadata,
    # What the agent wrote after the call: a disposition from the list and free notes.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("disposition", sa.String(32), nullable=False, server_default=""),
    sa.Column("notes", sa.String(4000), nullable=False, server_default=""),
    _created(),
    sa.Index("ix_call_notes_call_id", "call_id"),
)

notices = sa.Table(
    "notices",
    metadata,
    # Supervisors' messages to agents, shown on the desktop's scrolling bar until they expire.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.String(500), nullable=False),
    sa.Column("level", sa.String(16), nullable=False, server_default="info"),
    # NULL: every agent; else only the agents serving this queue.
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=True
    ),
    # Set: this agent only (a ticket's escalation telling its assignee; migration 0012).
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=True
    ),
    # True: the supervisors only, no agent (an unassigned ticket's escalation).
    sa.Column("supervisors", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("author", sa.String(64), nullable=False),
    _created(),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
    sa.CheckConstraint(_in("level", NOTICE_LEVELS), name="level"),
)

settings = sa.Table(
    "settings",
    metadata,
    # Settings admins change from the web UI (wallboard thresholds and colors, ...): one
    # JSON document per key, checked by the code that owns the key.
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_by", sa.String(64), nullable=False, server_default=""),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    # An outbound campaign: its leads are dialed for the agents of queue_id (skills and
    # members as for inbound calls), and answered calls join that queue.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("mode", sa.String(16), nullable=False, server_default="progressive"),
    sa.Column("state", sa.String(16), nullable=False, server_default="stopped"),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="RESTRICT"), nullable=False
    ),
    # Progressive: lines dialed per idle agent.
    sa.Column("ratio", sa.Float, nullable=False, server_default="1.0"),
    sa.Column("caller_id_number", sa.String(32), nullable=False, server_default=""),
    sa.Column("caller_id_name", sa.String(128), nullable=False, server_default=""),
    # Calling window in the called party's local time: "mon,tue,..." and "HH:MM".
    sa.Column("window_days", sa.String(64), nullable=False, server_default="mon,tue,wed,thu,fri"),
    sa.Column("window_start", sa.String(5), nullable=False, server_default="09:00"),
    sa.Column("window_end", sa.String(5), nullable=False, server_default="20:00"),
    # A lead's zone when neither its number nor its list gave one (IANA name).
    sa.Column("default_tz", sa.String(64), nullable=False, server_default="Asia/Shanghai"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"),
    # Minutes before the next attempt, per outcome (acd/dialer/retry.py).
    sa.Column("retry_json", sa.Text, nullable=False, server_default=DEFAULT_RETRY_JSON),
    # The dispositions the agent picks from (a JSON list of names) and the script shown.
    sa.Column("dispositions_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("script", sa.Text, nullable=False, server_default=""),
    sa.Column("record", sa.String(8), nullable=False, server_default="all"),
    # Answering-machine detection (Asterisk's AMD()).
    sa.Column("amd", sa.Boolean, nullable=False, server_default=sa.false()),
    # Predictive pacing (acd/dialer/pacing.py).
    sa.Column("target_abandon_pct", sa.Float, nullable=False, server_default="3.0"),
    sa.Column("backoff", sa.String(16), nullable=False, server_default="hard"),
    sa.Column("max_dial_level", sa.Float, nullable=False, server_default="3.0"),
    sa.Column("min_predictive_agents", sa.Integer, nullable=False, server_default="5"),
    sa.Column("trunk_group", sa.String(32), nullable=False, server_default="default"),
    # The prompt (by name) an answered call hears when no agent is free within 2 s.
    sa.Column("safe_harbor_prompt", sa.String(64), nullable=False, server_default=""),
    _created(),
    sa.CheckConstraint(_in("mode", CAMPAIGN_MODES), name="mode"),
    sa.CheckConstraint(_in("state", CAMPAIGN_STATES), name="state"),
    sa.CheckConstraint(_in("record", CAMPAIGN_RECORD), name="record"),
    sa.CheckConstraint(_in("backoff", CAMPAIGN_BACKOFF), name="backoff"),
)

campaign_holidays = sa.Table(
    "campaign_holidays",
    metadata,
    # Days nobody is called (the called party's local date). campaign_id NULL: every campaign.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("day", sa.Date, nullable=False),
    sa.UniqueConstraint("campaign_id", "day"),
)

call_lists = sa.Table(
    "call_lists",
    metadata,
    # One imported file (or batch) of leads.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(128), nullable=False),
    # Where it came from (the uploaded file's name), shown, never used as a path.
    sa.Column("source", sa.String(255), nullable=False, server_default=""),
    sa.Column("imported_at", UTCDateTime(), nullable=False),
    sa.Column("rows_ok", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_bad", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_call_lists_campaign_id", "campaign_id"),
)

leads = sa.Table(
    "leads",
    metadata,
    # A number to call for a campaign: normalised digits with an optional leading "+".
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "list_id", sa.Integer, sa.ForeignKey("call_lists.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("number", sa.String(32), nullable=False),
    # The called party's zone (IANA name); "": the campaign's default_tz.
    sa.Column("tz", sa.String(64), nullable=False, server_default=""),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    # The list's other columns, shown to the agent: a JSON object of text.
    sa.Column("fields_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("status", sa.String(16), nullable=False, server_default="new"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # Not dialed before this (NULL: now).
    sa.Column("next_at", UTCDateTime(), nullable=True),
    sa.Column("last_outcome", sa.String(16), nullable=False, server_default=""),
    sa.Column("disposition", sa.String(32), nullable=False, server_default=""),
    # A callback one agent scheduled for themselves: offered to that agent only.
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("campaign_id", "number"),
    sa.CheckConstraint(_in("status", LEAD_STATUSES), name="status"),
    # due_leads reads it in order (next_at, then id) and stops at its limit
    sa.Index("ix_leads_campaign_id_status_next_at_id", "campaign_id", "status", "next_at", "id"),
    sa.Index("ix_leads_list_id", "list_id"),
    sa.Index("ix_leads_number", "number"),  # a customer's campaign calls (the timeline)
)

dial_attempts = sa.Table(
    "dial_attempts",
    metadata,
    # Every call the dialer placed; the abandon rate is measured from these. Kept when the
    # lead goes (its list deleted): the rate over 30 days still counts it.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("lead_id", sa.Integer, sa.ForeignKey("leads.id", ondelete="SET NULL"), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    # NULL while the call is up.
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("uniqueid", sa.String(64), nullable=False, server_default=""),
    # The ChannelId given to Originate.
    sa.Column("channel_id", sa.String(64), nullable=False, server_default=""),
    # From the called party's answer to an agent's (ms).
    sa.Column("wait_ms", sa.Integer, nullable=True),
    sa.CheckConstraint(_in("outcome", DIAL_OUTCOMES), name="outcome"),
    sa.Index("ix_dial_attempts_campaign_id_started_at", "campaign_id", "started_at"),
    sa.Index("ix_dial_attempts_lead_id", "lead_id"),
    sa.Index("ix_dial_attempts_channel_id", "channel_id"),
)

dnc_numbers = sa.Table(
    "dnc_numbers",
    metadata,
    # Do-not-call: the center's list, a campaign's, and the national list (with its date).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column(
        "campaign_id",
        sa.Integer,
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("source", sa.String(16), nullable=False, server_default="admin"),
    sa.Column("list_date", sa.Date, nullable=True),
    sa.Column("added_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("scope", DNC_SCOPES), name="scope"),
    sa.CheckConstraint(_in("source", DNC_SOURCES), name="source"),
    sa.Index("ix_dnc_numbers_number", "number"),
    sa.Index("ix_dnc_numbers_scope_campaign_id", "scope", "campaign_id"),
)


# Reports: rollups per 15 minutes, hour, local day and local month (appliance/reports/,
# whose README says what every measure means). Maintained incrementally from report_inbox.


def _grain_bucket() -> list[sa.Column[object]]:
    return [
        sa.Column("grain", sa.String(5), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
    ]


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer, nullable=False, server_default="0")


def _secs(name: str) -> sa.Column[float]:
    return sa.Column(name, sa.Float, nullable=False, server_default="0")


TRAFFIC_COUNTS = (
    "calls",
    "offered",
    "answered",
    "answered_in_sl",
    "abandoned",
    "abandoned_in_sl",
    "abandoned_short",
    "ab_lt10",
    "ab_lt20",
    "ab_lt30",
    "ab_lt60",
    "ab_lt120",
    "ab_lt300",
    "ab_ge300",
    "overflowed",
    "voicemail",
    "callbacks",
    "transferred",
    "handled",
    "outbound",
    "recordings",
    "voicemails",
)
TRAFFIC_SECONDS = (
    "wait_answered_s",
    "wait_abandoned_s",
    "wait_max_s",  # a max, not a sum
    "talk_s",
    "hold_s",
    "wrapup_s",
    "recording_s",
    "voicemail_s",
)

report_traffic = sa.Table(
    "report_traffic",
    metadata,
    *_grain_bucket(),
    sa.Column("scope", sa.String(12), primary_key=True),
    # "" for the center; ids as decimal strings; a department's name; a DID's number
    sa.Column("key", sa.String(64), primary_key=True),
    *[_count(n) for n in TRAFFIC_COUNTS],
    *[_secs(n) for n in TRAFFIC_SECONDS],
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
    sa.CheckConstraint(_in("scope", REPORT_SCOPES), name="scope"),
    # one scope's trend and heat map (reports/query.py): its buckets without the other keys'
    sa.Index("ix_report_traffic_scope_key_grain_bucket", "scope", "key", "grain", "bucket"),
)

report_overflow = sa.Table(
    "report_overflow",
    metadata,
    *_grain_bucket(),
    sa.Column("queue_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(64), primary_key=True),
    _count("count"),
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
)

report_agent = sa.Table(
    "report_agent",
    metadata,
    *_grain_bucket(),
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    *[
        _secs(n)
        for n in ("logged_in_s", "available_s", "ringing_s", "on_call_s", "wrap_up_s", "paused_s")
    ],
    _count("handled"),
    _count("missed"),
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
)

report_pause = sa.Table(
    "report_pause",
    metadata,
    *_grain_bucket(),
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("reason", sa.String(64), primary_key=True),
    _secs("seconds"),
    _count("count"),
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
)

report_ivr = sa.Table(
    "report_ivr",
    metadata,
    *_grain_bucket(),
    sa.Column("flow_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("node", sa.String(64), primary_key=True),
    # "entered", "branch:<branch>", "hangup"
    sa.Column("outcome", sa.String(72), primary_key=True),
    _count("count"),
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
)

report_qa = sa.Table(
    "report_qa",
    metadata,
    *_grain_bucket(),
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("queue_id", sa.Integer, primary_key=True, autoincrement=False),  # 0: none
    sa.Column("form_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("item", sa.String(64), primary_key=True),  # "": the evaluation's total score
    _secs("score_sum"),
    _count("count"),
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
)

report_outbound = sa.Table(
    "report_outbound",
    metadata,
    *_grain_bucket(),
    sa.Column("campaign_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("outcome", sa.String(16), primary_key=True),
    _count("count"),
    _secs("talk_s"),
    _secs("wait_s"),
    sa.CheckConstraint(_in("grain", REPORT_GRAINS), name="grain"),
)

report_inbox = sa.Table(
    "report_inbox",
    metadata,
    # The outbox of rows the rollups have not counted yet: written in the same transaction
    # as the row (a finished call, an agent event, a QA score, ...), drained and deleted in
    # the same transaction as the rollups it moved (appliance/reports/maintainer.py).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("row_id", sa.BigInteger, nullable=False),
)

report_call_applied = sa.Table(
    "report_call_applied",
    metadata,
    # What a call an agent transferred added to the rollups (JSON deltas): the call's row is
    # finished again by the session it was transferred to, and its new facts replace these.
    sa.Column("call_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("deltas", sa.Text, nullable=False),
)

report_agent_open = sa.Table(
    "report_agent_open",
    metadata,
    # Each agent's last state as the rollups know it: its interval is counted when the next
    # state arrives (the maintainer's and the rebuild's bookkeeping).
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False, server_default=""),
    sa.Column("since", UTCDateTime(), nullable=False),
    sa.Column("event_id", sa.Integer, nullable=False, server_default="0"),
)

# Scheduled reports (appliance/reports/schedule.py): which report, how often, to whom.
REPORT_SCHEDULE_EVERY = ("daily", "weekly", "monthly")
REPORT_SCHEDULE_RANGES = ("day", "week", "month")
REPORT_EXPORT_FORMATS = ("csv", "xlsx", "pdf")

report_schedules = sa.Table(
    "report_schedules",
    metadata,
    # A report e-mailed as an attachment at [reports] schedule_hour (the center's zone):
    # every day, Monday or 1st of the month, covering the previous whole day, week or
    # month. ``last_period`` names the last period it was sent for (written with
    # ``last_sent_at`` after the mail went), so a restart never sends a period twice.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("scope", sa.String(12), nullable=False, server_default="center"),
    sa.Column("key", sa.String(64), nullable=False, server_default=""),
    sa.Column("range_kind", sa.String(8), nullable=False),
    sa.Column("every", sa.String(8), nullable=False),
    sa.Column("format", sa.String(4), nullable=False),
    # e-mail addresses, comma separated (checked by appliance/db/schedule_store.py)
    sa.Column("recipients", sa.String(1000), nullable=False),
    sa.Column("locale", sa.String(8), nullable=False, server_default="en"),
    sa.Column("last_period", sa.String(16), nullable=False, server_default=""),
    sa.Column("last_sent_at", UTCDateTime(), nullable=True),
    sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
    _created(),
    sa.CheckConstraint(_in("scope", REPORT_SCOPES), name="scope"),
    sa.CheckConstraint(_in("range_kind", REPORT_SCHEDULE_RANGES), name="range_kind"),
    sa.CheckConstraint(_in("every", REPORT_SCHEDULE_EVERY), name="every"),
    sa.CheckConstraint(_in("format", REPORT_EXPORT_FORMATS), name="format"),
)

# ---- CRM: customers (appliance/crm/; migration 0011) -----------------------------------
# A customer's class: VIP and key accounts raise the ACD priority of their calls ([crm]).
CUSTOMER_CLASSES = ("normal", "vip", "key_account")
# The kinds of custom fields (appliance/crm/fields.py checks their values).
CUSTOM_FIELD_KINDS = ("text", "number", "date", "choice")

# The customers table (0004) grows: custom field values (a JSON object of text, by key), the
# class checked, when it last changed, the survivor a merged duplicate now points to, and
# when its personal data was erased. Its old ``number`` column is gone: every number is in
# customer_numbers.
customers.append_column(sa.Column("fields", sa.Text, nullable=False, server_default="{}"))
customers.append_column(sa.Column("updated_at", UTCDateTime(), nullable=True))
customers.append_column(sa.Column("merged_into", sa.Integer, nullable=True))
customers.append_column(sa.Column("erased_at", UTCDateTime(), nullable=True))
customers.append_constraint(
    sa.CheckConstraint(_in("customer_class", CUSTOMER_CLASSES), name="customer_class")
)

customer_numbers = sa.Table(
    "customer_numbers",
    metadata,
    # Every number of a customer: as typed and normalised for showing, and its lookup key
    # (appliance/crm/numbers.match_key), which the screen pop and the IVR find by equality.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "customer_id",
        sa.Integer,
        sa.ForeignKey("customers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("match", sa.String(24), nullable=False, index=True),
    sa.Column("label", sa.String(32), nullable=False, server_default=""),
    sa.UniqueConstraint("customer_id", "match"),
)

customer_fields = sa.Table(
    "customer_fields",
    metadata,
    # The custom fields an admin defines for customers; a field no longer wanted is made
    # inactive (its values stay in the customers' JSON, unshown), never deleted.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(32), nullable=False, unique=True),
    sa.Column("label", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("choices", sa.Text, nullable=False, server_default="[]"),  # JSON list of text
    sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    _created(),
    sa.CheckConstraint(_in("kind", CUSTOM_FIELD_KINDS), name="kind"),
)

# The call's customer, written when it is known (the IVR's lookup, the desk). No foreign key
# (nor CHECK): adding one would make SQLite copy the whole calls table to migrate.
calls.append_column(sa.Column("customer_id", sa.Integer, nullable=True))
sa.Index("ix_calls_customer_id", calls.c.customer_id)
# (end of the customers section)

# ---- CRM: tickets and messages (appliance/crm/tickets/; migration 0012) -----------------
# A ticket's life (appliance/crm/tickets/transitions.py holds who may move it where).
TICKET_STATES = ("new", "accepted", "dispatched", "in_progress", "replied", "closed", "reopened")
# Lowest first: an escalation's raise_priority takes the next one.
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
# sms: migration 0016; chat, email: migration 0019
TICKET_SOURCES = ("phone", "voicemail", "ivr", "web", "manual", "sms", "chat", "email")
# The types every box has (seeded by migration 0012; an admin adds more).
TICKET_BUILTIN_TYPES = ("inquiry", "complaint", "suggestion", "fault", "sales")
# Who a ticket is assigned to: an agent (its number), a queue (its name: the queue's agents,
# "a group") or a department (its name).
ASSIGNEE_KINDS = ("agent", "queue", "department")
CRM_CHANNELS = ("sms", "email", "callback")
CRM_DIRECTIONS = ("outbound", "inbound")
# waiting_for_modem: an SMS no modem can send now (none configured, or not ready); the SMS
# outbox (appliance/sms/outbox.py) sends it when one can. delivered / undeliverable: an SMS's
# delivery report (migration 0016).
CRM_MESSAGE_STATES = (
    "queued",
    "sent",
    "failed",
    "waiting_for_modem",
    "delivered",
    "undeliverable",
)

ticket_types = sa.Table(
    "ticket_types",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("builtin", sa.Boolean, nullable=False, server_default=sa.false()),
    # The type's own fields: a JSON list of appliance/crm/fields.py FieldDefs.
    sa.Column("fields", sa.Text, nullable=False, server_default="[]"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

ticket_sla_rules = sa.Table(
    "ticket_sla_rules",
    metadata,
    # Due dates for a (type, priority): respond within, resolve within (minutes from the
    # ticket's creation), and the escalation steps once it is overdue: a JSON list of
    # {"after": minutes overdue, "action": notify | reassign | raise_priority, "kind",
    # "target"} in the order they fire.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "type_key",
        sa.String(32),
        sa.ForeignKey("ticket_types.key", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("respond_minutes", sa.Integer, nullable=False),
    sa.Column("resolve_minutes", sa.Integer, nullable=False),
    sa.Column("escalation", sa.Text, nullable=False, server_default="[]"),
    sa.UniqueConstraint("type_key", "priority"),
    sa.CheckConstraint(_in("priority", TICKET_PRIORITIES), name="priority"),
)

tickets = sa.Table(
    "tickets",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The number people say and type: T<day>-<that day's sequence>, e.g. T20261206-0001.
    sa.Column("number", sa.String(24), nullable=False, unique=True),
    sa.Column(
        "type_key",
        sa.String(32),
        sa.ForeignKey("ticket_types.key", ondelete="RESTRICT"),
        nullable=False,
    ),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(16), nullable=False, server_default="new"),
    sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
    sa.Column("source", sa.String(16), nullable=False, server_default="manual"),
    sa.Column(
        "customer_id",
        sa.Integer,
        sa.ForeignKey("customers.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("call_id", sa.Integer, sa.ForeignKey("calls.id", ondelete="SET NULL"), nullable=True),
    sa.Column(
        "voicemail_id",
        sa.Integer,
        sa.ForeignKey("voicemails.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column(
        "recording_id",
        sa.Integer,
        sa.ForeignKey("recordings.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # NULL kind: nobody yet.
    sa.Column("assignee_kind", sa.String(16), nullable=True),
    sa.Column("assignee", sa.String(64), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # From the SLA rule of (type, priority); NULL: no rule, no due date.
    sa.Column("respond_due_at", UTCDateTime(), nullable=True),
    sa.Column("due_at", UTCDateTime(), nullable=True),
    # How many of the rule's escalation steps have fired, and when the next one is due
    # (NULL: none left, or the ticket waits on nobody: replied or closed). Written in the
    # same transaction as the step, so a restart neither repeats nor forgets one.
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_escalation_at", UTCDateTime(), nullable=True, index=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    # The type's fields' values (JSON object of text), checked against the type.
    sa.Column("fields", sa.Text, nullable=False, server_default="{}"),
    sa.CheckConstraint(_in("state", TICKET_STATES), name="state"),
    sa.CheckConstraint(_in("priority", TICKET_PRIORITIES), name="priority"),
    sa.CheckConstraint(_in("source", TICKET_SOURCES), name="source"),
    sa.CheckConstraint(_in("assignee_kind", ASSIGNEE_KINDS), name="assignee_kind"),
    sa.Index("ix_tickets_state_due_at", "state", "due_at"),
    sa.Index("ix_tickets_assignee_kind_assignee", "assignee_kind", "assignee"),
)

ticket_history = sa.Table(
    "ticket_history",
    metadata,
    # Every change of a ticket: who, when, what (state, assignee, priority, comment, ...).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_value", sa.String(100), nullable=False, server_default=""),
    sa.Column("to_value", sa.String(100), nullable=False, server_default=""),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_ticket_history_ticket_id_at", "ticket_id", "at"),
)

ticket_comments = sa.Table(
    "ticket_comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "ticket_id",
        sa.Integer,
        sa.ForeignKey("tickets.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("author", sa.String(64), nullable=False),
    # Cleaned by appliance.rich_text.clean_html before it is stored.
    sa.Column("html", sa.Text, nullable=False),
    _created(),
)

ticket_attachments = sa.Table(
    "ticket_attachments",
    metadata,
    # The file is appliance/uploads.py's, stored once by its content's sha256.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "ticket_id",
        sa.Integer,
        sa.ForeignKey("tickets.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("mime", sa.String(100), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False, server_default=""),
    _created(),
    # the upload quota (appliance/db/upload_quota.py): one person's files of the last hour
    sa.Index("ix_ticket_attachments_uploaded_by_created_at", "uploaded_by", "created_at"),
)

crm_messages = sa.Table(
    "crm_messages",
    metadata,
    # What was said to (or heard from) a customer outside calls: e-mails, SMS, callback
    # tasks; a reply on a ticket names it.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "customer_id",
        sa.Integer,
        sa.ForeignKey("customers.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column(
        "ticket_id",
        sa.Integer,
        sa.ForeignKey("tickets.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False, server_default="outbound"),
    # The e-mail address or the phone number.
    sa.Column("address", sa.String(254), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("state", sa.String(24), nullable=False, server_default="queued"),
    sa.Column("error", sa.String(500), nullable=False, server_default=""),
    # A callback task's row in the ACD's callbacks table.
    sa.Column(
        "callback_id",
        sa.Integer,
        sa.ForeignKey("callbacks.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("channel", CRM_CHANNELS), name="channel"),
    sa.CheckConstraint(_in("direction", CRM_DIRECTIONS), name="direction"),
    sa.CheckConstraint(_in("state", CRM_MESSAGE_STATES), name="state"),
)
# (end of the tickets section)

# ---- knowledge base (appliance/kb/; migration 0013) --------------------------------------
# An article's working copy moves draft -> review -> published (or back to draft); archived
# hides it. Readers see the live version (kb_articles.live_version) while a newer one is
# reviewed (appliance/kb/review.py holds the transitions and who may make them).
KB_STATES = ("draft", "review", "published", "archived")
KB_LANGS = ("zh", "en")
# What the desk suggests an article from (appliance/kb/store.py suggest).
KB_LINK_KINDS = ("queue", "flow_node", "ticket_type")
KB_ATTACHMENT_KINDS = ("image", "document", "audio")

kb_categories = sa.Table(
    "kb_categories",
    metadata,
    # A tree of any depth (parent_id NULL: a top category), ordered by position then name.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "parent_id",
        sa.Integer,
        sa.ForeignKey("kb_categories.id", ondelete="RESTRICT"),
        nullable=True,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    _created(),
)

kb_articles = sa.Table(
    "kb_articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "category_id",
        sa.Integer,
        sa.ForeignKey("kb_categories.id", ondelete="RESTRICT"),
        nullable=False,
        index=True,
    ),
    # What readers see: the live version's title, cleaned HTML and plain text (the text is
    # what search indexes and snippets quote), or the newest draft's before any is live.
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("html", sa.Text, nullable=False, server_default=""),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("lang", sa.String(2), nullable=False),
    # The working copy's state: "published" means the newest version is the live one.
    sa.Column("state", sa.String(16), nullable=False, server_default="draft"),
    # tags, lowercased, separated by commas
    sa.Column("tags", sa.String(500), nullable=False, server_default=""),
    sa.Column("author", sa.String(64), nullable=False, server_default=""),
    sa.Column("reviewer", sa.String(64), nullable=False, server_default=""),
    # the newest version's number, and the live one's (NULL: never published)
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("live_version", sa.Integer, nullable=True),
    sa.Column("published_at", UTCDateTime(), nullable=True),
    sa.Column("views", sa.Integer, nullable=False, server_default="0"),
    sa.Column("helpful_yes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("helpful_no", sa.Integer, nullable=False, server_default="0"),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("state", KB_STATES), name="state"),
    sa.CheckConstraint(_in("lang", KB_LANGS), name="lang"),
    sa.Index("ix_kb_articles_state_updated_at", "state", "updated_at"),
)

kb_versions = sa.Table(
    "kb_versions",
    metadata,
    # Every save, kept: number, title, cleaned HTML, tags, who and when.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("tags", sa.String(500), nullable=False, server_default=""),
    sa.Column("author", sa.String(64), nullable=False, server_default=""),
    _created(),
    sa.UniqueConstraint("article_id", "number"),
)

kb_history = sa.Table(
    "kb_history",
    metadata,
    # Every transition and save: who, when, what (created, saved, submitted, approved,
    # rejected, archived, restored), from which state to which, at which version.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=False, server_default=""),
    sa.Column("to_state", sa.String(16), nullable=False, server_default=""),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("note", sa.String(2000), nullable=False, server_default=""),
)

kb_comments = sa.Table(
    "kb_comments",
    metadata,
    # Reviewers' and authors' remarks on a draft (plain text, escaped where shown).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("body", sa.String(2000), nullable=False),
    _created(),
)

kb_attachments = sa.Table(
    "kb_attachments",
    metadata,
    # Files an article shows or offers (appliance/uploads.py keeps the bytes by sha256;
    # served as /kb/attachments/<id>). article_id NULL: uploaded, not yet saved with one.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("mime", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False, server_default=""),
    sa.Column("uploaded_by", sa.String(64), nullable=False, server_default=""),
    _created(),
    sa.CheckConstraint(_in("kind", KB_ATTACHMENT_KINDS), name="kind"),
    # the upload quota (appliance/db/upload_quota.py): one person's files of the last hour
    sa.Index("ix_kb_attachments_uploaded_by_created_at", "uploaded_by", "created_at"),
)

kb_links = sa.Table(
    "kb_links",
    metadata,
    # What the desk suggests an article from: a queue (its id), an IVR flow node
    # ("<flow>:<node>", as the call's ivr_step events name them) or a ticket type (its key).
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("target", sa.String(128), primary_key=True),
    sa.CheckConstraint(_in("kind", KB_LINK_KINDS), name="kind"),
    sa.Index("ix_kb_links_kind_target", "kind", "target"),
)

kb_votes = sa.Table(
    "kb_votes",
    metadata,
    # "Was this helpful?": one vote per user per article (a second one replaces the first).
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
)

kb_search = sa.Table(
    "kb_search",
    metadata,
    # The search tokens of what readers see (appliance/kb/tokens.py: CJK bigrams and single
    # characters, Latin words casefolded and stemmed, separated by spaces). The full-text
    # index over them is per dialect, made by migration 0013 and kept in step by triggers:
    # SQLite's FTS5 table kb_fts, PostgreSQL's tsv column (GIN). live: agents may read it.
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("live", sa.Boolean, nullable=False),
    sa.Column("lang", sa.String(2), nullable=False),
    sa.Column("title_tokens", sa.Text, nullable=False),
    sa.Column("body_tokens", sa.Text, nullable=False),
    # what a search filters its matches by, without reading the rows' long token texts
    sa.Index("ix_kb_search_article_id_live_lang", "article_id", "live", "lang"),
)
# (end of the knowledge base section)

# ---- training: quizzes built from articles (appliance/kb/; migration 0014) --------------
# A quiz: questions, each tied to the article it checks. The correct options stay here: the
# taking page and its POST never carry them (appliance/kb/training.py scores on the server).
TRAINING_QUESTION_KINDS = ("single", "multiple", "true_false")

training_quizzes = sa.Table(
    "training_quizzes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False, server_default=""),
    # may an agent take it again after submitting (each attempt kept)
    sa.Column("allow_retake", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_by", sa.String(64), nullable=False, server_default=""),
    _created(),
)

training_questions = sa.Table(
    "training_questions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "quiz_id",
        sa.Integer,
        sa.ForeignKey("training_quizzes.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column(
        "article_id",
        sa.Integer,
        sa.ForeignKey("kb_articles.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("kind", sa.String(12), nullable=False),
    sa.Column("text", sa.String(1000), nullable=False),
    # ["option text", ...] (true/false: two options the page names in the reader's language)
    sa.Column("options", sa.Text, nullable=False),
    # [index of a correct option, ...]
    sa.Column("correct", sa.String(64), nullable=False),
    sa.CheckConstraint(_in("kind", TRAINING_QUESTION_KINDS), name="kind"),
    sa.UniqueConstraint("quiz_id", "position"),
)

training_assignments = sa.Table(
    "training_assignments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "quiz_id",
        sa.Integer,
        sa.ForeignKey("training_quizzes.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("assigned_by", sa.String(64), nullable=False, server_default=""),
    sa.Column("assigned_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("quiz_id", "agent_id"),
    sa.Index("ix_training_assignments_agent_id", "agent_id"),
)

training_attempts = sa.Table(
    "training_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "assignment_id",
        sa.Integer,
        sa.ForeignKey("training_assignments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # 1, 2, ...: unique, so two submissions racing for a quiz without retakes keep one
    sa.Column("number", sa.Integer, nullable=False),
    # 0-100: the share of questions answered exactly right
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("correct", sa.Integer, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("submitted_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("assignment_id", "number"),
)

training_answers = sa.Table(
    "training_answers",
    metadata,
    # One row per question of an attempt: the per-question results are SQL sums.
    sa.Column(
        "attempt_id",
        sa.Integer,
        sa.ForeignKey("training_attempts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "question_id",
        sa.Integer,
        sa.ForeignKey("training_questions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # [index of a chosen option, ...]
    sa.Column("chosen", sa.String(64), nullable=False),
    sa.Column("is_correct", sa.Boolean, nullable=False),
    sa.Index("ix_training_answers_question_id", "question_id"),
)
# (end of the training section)

# ---- SMS: the GSM modem channel (appliance/sms/; migration 0016) -------------------------
# The outbox's state of an outbound SMS, on its crm_messages row: how many times the modem
# was asked, when to ask again (NULL: not waiting on a retry), when its delivery report came.
crm_messages.append_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
crm_messages.append_column(sa.Column("next_attempt_at", UTCDateTime(), nullable=True))
crm_messages.append_column(sa.Column("delivered_at", UTCDateTime(), nullable=True))
# the outbox's queue (state, due time) and the notices' rate limit per number
sa.Index(
    "ix_crm_messages_state_next_attempt_at", crm_messages.c.state, crm_messages.c.next_attempt_at
)
sa.Index("ix_crm_messages_address_at", crm_messages.c.address, crm_messages.c.at)

SMS_PART_STATES = ("sent", "delivered", "undeliverable")

sms_parts = sa.Table(
    "sms_parts",
    metadata,
    # One part of a sent SMS: the message reference the modem gave it (+CMGS: n, 0-255, so
    # it repeats) and its delivery report. A report is matched to the newest part with its
    # reference and recipient still waiting for one.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "message_id",
        sa.Integer,
        sa.ForeignKey("crm_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("reference", sa.Integer, nullable=False),
    sa.Column("recipient", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="sent"),
    # the report's TP-Status (0: delivered; 64 and up: given up by the network)
    sa.Column("status", sa.Integer, nullable=True),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("reported_at", UTCDateTime(), nullable=True),
    sa.CheckConstraint(_in("state", SMS_PART_STATES), name="state"),
    sa.Index("ix_sms_parts_reference_state", "reference", "state"),
)
# (end of the SMS section)

# ---- DAHDI trunks: trunk groups and channels on calls (drivers/dahdi/; migration 0017) ----
# A DAHDI call's trunk group (a ``[dahdi] groups`` name; "" when not known or not a DAHDI
# call) and its channel (DAHDI/17-1 -> 17), written when the call starts; the
# recording copies them so its search needs no join. No CHECK or foreign key: adding one
# would make SQLite copy the whole calls table to migrate.
TRUNK_GROUP_MAX = 32  # appliance/config.py's group names
calls.append_column(
    sa.Column("trunk_group", sa.String(TRUNK_GROUP_MAX), nullable=False, server_default="")
)
calls.append_column(sa.Column("trunk_channel", sa.Integer, nullable=True))
recordings.append_column(
    sa.Column("trunk_group", sa.String(TRUNK_GROUP_MAX), nullable=False, server_default="")
)
# the recording search by trunk group (and channel); by channel alone: channel_number's index
sa.Index(
    "ix_recordings_trunk_group_channel_number_started_at",
    recordings.c.trunk_group,
    recordings.c.channel_number,
    recordings.c.started_at,
)
# (end of the DAHDI section)

# ---- backups (appliance/backup/; migration 0018) -----------------------------------------
# (end of the backups section)
BACKUP_PERIOD_LEN = 16

backups = sa.Table(
    "backups",
    metadata,
    # One backup archive the daemon wrote (appliance/backup/service.py): scheduled ones name
    # their period ("day:2026-12-07", "week:2026-W49"), unique, so a period is claimed once
    # across restarts (the row is inserted before the work); one asked for on the System
    # page has none. ``ok`` is NULL while it runs.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("period", sa.String(BACKUP_PERIOD_LEN), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("file_name", sa.String(100), nullable=False, server_default=""),
    sa.Column("size_bytes", sa.BigInteger, nullable=True),
    sa.Column("ok", sa.Boolean, nullable=True),
    sa.Column("detail", sa.String(500), nullable=False, server_default=""),
    sa.Column("requested_by", sa.String(64), nullable=False, server_default=""),
    sa.UniqueConstraint("period"),
)

# ---- internet channels: web chat and e-mail (acd/channels/; migration 0019) --------------
# A queue takes one medium: calls (the default), chats or e-mails; the channels' router
# (acd/channels/) offers chats and e-mail threads with the same routing engine as calls.
QUEUE_MEDIA = ("call", "chat", "email")
queues.append_column(sa.Column("media", sa.String(8), nullable=False, server_default="call"))
# An agent's capacity for conversations: chats and e-mail threads open at once (0: takes
# none); whether a new one may be offered while on a call; whether a call may be offered
# while conversations are open.
agents.append_column(sa.Column("max_chats", sa.Integer, nullable=False, server_default="3"))
agents.append_column(
    sa.Column("chat_on_call", sa.Boolean, nullable=False, server_default=sa.false())
)
agents.append_column(
    sa.Column("call_with_chats", sa.Boolean, nullable=False, server_default=sa.true())
)

CONVERSATION_MEDIA = ("chat", "email")
# waiting: in a queue; offered: to one agent, not yet accepted; active: an agent has it;
# wrap_up: ended, the agent's slot still held for the queue's wrap-up; ended: done;
# message: left as a message while nobody was on duty (a ticket was made of it).
CONVERSATION_STATES = ("waiting", "offered", "active", "wrap_up", "ended", "message")
# Who wrote a line: the customer, an agent, a supervisor who joined, or the box itself
# (auto-replies, "transferred to ..."). internal lines are never shown to the customer.
MESSAGE_SENDERS = ("customer", "agent", "supervisor", "system")
EMAIL_SECURITY = ("tls", "starttls", "none")
EMAIL_ROUTE_KINDS = ("sender", "keyword")

chat_topics = sa.Table(
    "chat_topics",
    metadata,
    # What a visitor picks on the widget's pre-chat form; it names the chat queue.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("label_zh", sa.String(128), nullable=False, server_default=""),
    sa.Column("label_en", sa.String(128), nullable=False, server_default=""),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
)

chat_origins = sa.Table(
    "chat_origins",
    metadata,
    # The web sites allowed to embed the widget: scheme://host[:port], exactly as a browser
    # sends it in Origin.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("origin", sa.String(200), nullable=False, unique=True),
)

email_accounts = sa.Table(
    "email_accounts",
    metadata,
    # A mailbox of the center polled over IMAP (IDLE where the server has it), answered over
    # SMTP. (``mailboxes`` are voicemail boxes.) The passwords are secrets: the backup
    # seals them like the config's.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("address", sa.String(254), nullable=False),
    sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
    sa.Column("imap_host", sa.String(253), nullable=False),
    sa.Column("imap_port", sa.Integer, nullable=False, server_default="993"),
    sa.Column("imap_security", sa.String(8), nullable=False, server_default="tls"),
    sa.Column("imap_user", sa.String(254), nullable=False, server_default=""),
    sa.Column("imap_password", sa.String(500), nullable=False, server_default=""),
    sa.Column("imap_folder", sa.String(128), nullable=False, server_default="INBOX"),
    sa.Column("smtp_host", sa.String(253), nullable=False, server_default=""),
    sa.Column("smtp_port", sa.Integer, nullable=False, server_default="587"),
    sa.Column("smtp_security", sa.String(8), nullable=False, server_default="starttls"),
    sa.Column("smtp_user", sa.String(254), nullable=False, server_default=""),
    sa.Column("smtp_password", sa.String(500), nullable=False, server_default=""),
    # New threads go to this queue unless a route says otherwise.
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("auto_reply", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("auto_reply_body", sa.Text, nullable=False, server_default=""),
    # Each new thread also opens a ticket (source "email").
    sa.Column("make_tickets", sa.Boolean, nullable=False, server_default=sa.false()),
    # The SLA timer: a first reply is due this many minutes after the thread arrived.
    sa.Column("sla_minutes", sa.Integer, nullable=False, server_default="240"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # Where polling stands: the folder's UIDVALIDITY and the last UID taken.
    sa.Column("uidvalidity", sa.BigInteger, nullable=True),
    sa.Column("last_uid", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("checked_at", UTCDateTime(), nullable=True),
    sa.Column("last_error", sa.String(500), nullable=False, server_default=""),
    sa.CheckConstraint(_in("imap_security", EMAIL_SECURITY), name="imap_security"),
    sa.CheckConstraint(_in("smtp_security", EMAIL_SECURITY), name="smtp_security"),
)

email_routes = sa.Table(
    "email_routes",
    metadata,
    # A new thread's queue by sender (an address or @domain) or by a keyword of its subject
    # or text; first match by position; an account's own routes before the global ones
    # (account_id NULL).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "account_id",
        sa.Integer,
        sa.ForeignKey("email_accounts.id", ondelete="CASCADE"),
        nullable=True,
    ),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("pattern", sa.String(254), nullable=False),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint(_in("kind", EMAIL_ROUTE_KINDS), name="kind"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    # One chat or one e-mail thread, from its first message to its end.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("media", sa.String(8), nullable=False),
    sa.Column("state", sa.String(8), nullable=False, server_default="waiting"),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "topic_id", sa.Integer, sa.ForeignKey("chat_topics.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "account_id",
        sa.Integer,
        sa.ForeignKey("email_accounts.id", ondelete="SET NULL"),
        nullable=True,
    ),
    # The agent who has it (or had it last).
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True
    ),
    # What the customer gave: the pre-chat form, or the e-mail's From.
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("phone", sa.String(32), nullable=False, server_default=""),
    sa.Column("email", sa.String(254), nullable=False, server_default=""),
    # The e-mail's subject (a chat's: its topic's label).
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
    sa.Column("language", sa.String(8), nullable=False, server_default=""),
    # The page the chat started from (its Origin).
    sa.Column("origin", sa.String(200), nullable=False, server_default=""),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    # An e-mail thread's first Message-ID: replies find their thread by it.
    sa.Column("thread_key", sa.String(255), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("answered_at", UTCDateTime(), nullable=True),
    sa.Column("first_reply_at", UTCDateTime(), nullable=True),
    # The e-mail SLA: the first reply is due then.
    sa.Column("due_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("end_reason", sa.String(24), nullable=False, server_default=""),
    sa.CheckConstraint(_in("media", CONVERSATION_MEDIA), name="media"),
    sa.CheckConstraint(_in("state", CONVERSATION_STATES), name="state"),
    sa.Index("ix_conversations_state_media", "state", "media"),
    sa.Index("ix_conversations_customer_id_created_at", "customer_id", "created_at"),
    sa.Index("ix_conversations_agent_id_created_at", "agent_id", "created_at"),
    sa.Index("ix_conversations_thread_key", "thread_key"),
    sa.Index("ix_conversations_created_at", "created_at"),
)

conversation_messages = sa.Table(
    "conversation_messages",
    metadata,
    # One line of a chat, or one e-mail of a thread (its text; html: its sanitized HTML).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    # The name shown beside the line (an agent's display name, the visitor's name).
    sa.Column("author", sa.String(128), nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
    sa.Column("html", sa.Text, nullable=False, server_default=""),
    # A supervisor's note to the agent, never shown to the customer.
    sa.Column("internal", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # When the other side saw it (the read mark).
    sa.Column("read_at", UTCDateTime(), nullable=True),
    # E-mail: this message's Message-ID and In-Reply-To.
    sa.Column("message_id", sa.String(255), nullable=True),
    sa.Column("in_reply_to", sa.String(255), nullable=True),
    sa.CheckConstraint(_in("sender", MESSAGE_SENDERS), name="sender"),
    sa.Index("ix_conversation_messages_conversation_id_id", "conversation_id", "id"),
    sa.Index("ix_conversation_messages_message_id", "message_id"),
)

conversation_attachments = sa.Table(
    "conversation_attachments",
    metadata,
    # A file a customer or an agent sent: stored under the data directory by its hash, its
    # type checked from its content (appliance/uploads.py).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "message_id",
        sa.Integer,
        sa.ForeignKey("conversation_messages.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("file_name", sa.String(200), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

conversation_events = sa.Table(
    "conversation_events",
    metadata,
    # What happened to a conversation, for its history and the reports: queued, offered,
    # missed, accepted, transferred, joined, watched, ended, ticket, auto_reply, ...
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column(
        "agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("user", sa.String(64), nullable=False, server_default=""),
    sa.Column("detail", sa.String(500), nullable=False, server_default=""),
)

chat_visitors = sa.Table(
    "chat_visitors",
    metadata,
    # The web chat's visitor sessions (webui/chat/visitors.py), so a daemon restart keeps
    # them: the widget's token is stored only as its SHA-256 (the token itself is the
    # visitor's only credential). A row goes with its conversation, or an hour after its end.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "conversation_id",
        sa.Integer,
        sa.ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("address", sa.String(64), nullable=False, server_default=""),
    sa.Column("origin", sa.String(200), nullable=False),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("email", sa.String(254), nullable=False, server_default=""),
    sa.Column("language", sa.String(8), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

canned_replies = sa.Table(
    "canned_replies",
    metadata,
    # A standard reply an agent inserts on the desk: for one topic, one queue, or all (both
    # NULL). Its body may hold variables ({customer_name}, {agent_name}, {reference}, ...;
    # acd/channels/canned.py fills them).
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "topic_id", sa.Integer, sa.ForeignKey("chat_topics.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column(
        "queue_id", sa.Integer, sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=True
    ),
    sa.Column("title", sa.String(128), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("language", sa.String(8), nullable=False, server_default=""),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
)

email_auto_replies = sa.Table(
    "email_auto_replies",
    metadata,
    # Every auto-reply sent, by recipient: at most one per address per interval, so two
    # auto-responders never answer each other for ever.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("address", sa.String(254), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_email_auto_replies_address_at", "address", "at"),
)
# (end of the internet channels section)
