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
    sa.CheckConstraint(_in("state", CALLBACK_STATES), name="state"),
    sa.Index("ix_callbacks_state_queue_id", "state", "queue_id"),
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
    sa.Column("number", sa.String(32), nullable=False, server_default="", index=True),
    sa.Column("account", sa.String(64), nullable=False, server_default="", index=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("customer_class", sa.String(32), nullable=False, server_default=""),
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
    # Asterisk's Uniqueid of the first channel, and the Linkedid that ties every leg.
    sa.Column("uniqueid", sa.String(64), nullable=False, unique=True),
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
    sa.CheckConstraint(_in("direction", CALL_DIRECTIONS), name="direction"),
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
    sa.Column("duration_ms", sa.Integer, nullable=False, server_default="0"),
    sa.Column("size_bytes", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
    sa.Column("format", sa.String(16), nullable=False, server_default="wav"),
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
)
