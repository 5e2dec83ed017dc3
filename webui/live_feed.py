"""The live feed: bus events turned into the messages of the live-events contract.

Events only mark what changed (an agent, a queue, the calls); a flush, at most every
``FLUSH_S``, renders each changed thing once from the ACD's current state, so a burst of
thousands of events costs one message per key per flush: the latest. Each message gets a
global sequence number and its SSE frame (encoded once, shared by every client), and goes
into a bounded ring buffer that a reconnecting client resumes from.

Who may see a message is decided per viewer (``Viewer.frame``): admin and supervisor see
everything, qa everything but offers, an agent its own agent message and offers, the calls
it rang for or took, queue messages and the notices meant for it. The wallboard topic gets
queue, campaign and agent messages only, without callers' numbers and names. Campaign
messages (the dialer's figures, acd/dialer/events.py) go to staff and the wallboard; lead
messages (a campaign's lead shown to an agent: preview, offered, connected, ended) only to
that agent's desk, and its latest is in that agent's snapshot. A ``tickets`` message (a
ticket was written: its id, appliance/crm/tickets/events.py) goes to staff only, at most one
a flush; snapshots do not carry it. A ``channel_queue`` message (a chat or e-mail queue's
figures from the channels' engine, marked by its bus events) goes to staff and the
wallboard, as the snapshot's ``channel_queues`` does.

Everything here runs on the reactor thread.
"""

from __future__ import annotations

import json
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from acd import agent_state as st
from acd.channels.events import ChannelQueueStatsChanged, ConversationStateChanged
from acd.dialer.events import (
    AttemptEnded,
    CampaignFigures,
    LeadConnected,
    LeadOffered,
    LeadPreview,
)
from acd.service import QueuedCallLeft
from acd.stats import DayStarted, QueueStatsChanged
from appliance.crm.tickets.events import TicketsChanged
from appliance.hardware.spans import SpanAlarmChanged
from recorder.disk_guard import RecordingAlarm

if TYPE_CHECKING:
    from acd.service import ACD, Agent, QueuedCall
    from appliance.db.acd_store import ACDQueue
    from appliance.eventbus import EventBus, Subscription
    from appliance.health import HealthRegistry

log = Logger(namespace="ccbox.web.live")

FLUSH_S = 0.25
RING_SIZE = 4096
HEALTH_EVERY_S = 2.0
NAME_MAX = 128  # caller ID names are attacker-controlled: bounded
STAFF = frozenset({"admin", "supervisor", "qa"})
WALLBOARD_KINDS = frozenset({"agent", "queue", "campaign", "channel_queue"})
# Unanswered e-mail threads' reply deadlines sent per queue (the wallboard counts those past).
REPLY_DUE_MAX = 500
# The figures of a campaign a message carries (CampaignFigures' fields).
CAMPAIGN_FIELDS = (
    "campaign_id",
    "name",
    "mode",
    "state",
    "placed",
    "answered",
    "abandoned",
    "machines",
    "in_flight",
    "agents_idle",
    "agents_busy",
    "occupancy",
    "dial_level",
    "abandon_24h",
    "abandon_30d",
    "at",
)
CALL_FIELDS = ("caller_number", "caller_name")
SCRIPT_MAX = 8000  # a campaign's script as the desk shows it
LEAD_FIELDS_MAX = 50  # list columns shown per lead, each bounded like a name
NOTICE_FIELDS = (
    "id",
    "text",
    "level",
    "author",
    "created_at",
    "expires_at",
    "queue_id",
    "agent_id",  # one agent's (a ticket's escalation to its assignee)
    "supervisors",  # staff only (an unassigned ticket's escalation)
)


@dataclass(frozen=True)
class NoticePosted:
    """Publish on the bus (reactor thread) when a supervisor posts a notice; ``notice`` has
    the contract's fields (times as epoch seconds)."""

    notice: dict[str, Any]


@dataclass(frozen=True)
class NoticeWithdrawn:
    notice_id: int


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    kind: str  # agent, queue, campaign, call, offer, lead, notice, alarm, tickets, spans,
    # channel_queue
    key: str  # kind:id; coalescing keeps the latest per key
    frame: bytes
    # Agents (ids) an agent-role viewer must be one of to see it; None: every agent.
    agents: frozenset[int] | None
    wallboard_frame: bytes | None = None  # agent messages without the caller's details


@dataclass(frozen=True)
class Viewer:
    role: str
    agent_id: int | None  # the ACD agent of the user, if any
    wallboard: bool = False

    @property
    def cache_key(self) -> tuple[bool, int | None, bool]:
        """Viewers with the same key see the same frames (one filtering per flush)."""
        return (self.role in STAFF, self.agent_id, self.wallboard)

    def frame(self, m: Message) -> bytes | None:
        """The bytes this viewer gets for ``m``, or None when it may not see it."""
        staff = self.role in STAFF
        mine = self.agent_id is not None and m.agents is not None and self.agent_id in m.agents
        if self.wallboard:
            if m.kind in ("queue", "campaign", "spans", "channel_queue"):
                return m.frame
            if m.kind == "agent" and (staff or mine):
                return m.wallboard_frame or m.frame
            return None
        if m.kind in ("offer", "lead"):
            return m.frame if mine else None
        if staff or m.kind == "queue" or mine:
            return m.frame
        if m.kind == "notice" and m.agents is None:
            return m.frame
        return None  # another agent's messages and calls; alarms are for staff


def sse_frame(event: str, event_id: str, data: dict[str, Any]) -> bytes:
    """One SSE message: JSON on a single line (json escapes every newline)."""
    body = json.dumps(data, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {body}\n\n".encode()


def _epoch(value: Any) -> Any:
    return value.timestamp() if hasattr(value, "timestamp") else value


class LiveFeed:
    def __init__(
        self,
        reactor: Any,
        bus: EventBus,
        acd: ACD | None,
        health: HealthRegistry | None = None,
        ring_size: int = RING_SIZE,
        flush_s: float = FLUSH_S,
        spans: Callable[[], list[dict[str, Any]]] = lambda: [],
        channels: Callable[[], Any] = lambda: None,
    ) -> None:
        """``spans``: the E1/DAHDI spans in alarm now (webui/span_alarms.py), for the
        wallboard's banner. ``channels``: the chats' and e-mails' engine
        (acd/channels/service.py ChannelService) when it runs, for their queues' figures."""
        self.reactor = reactor
        self.bus = bus
        self.acd = acd
        self.health = health
        self.spans = spans
        self.channels = channels
        self.flush_s = flush_s
        # A new epoch per process: an id from before a restart never matches the new ring.
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.ring: deque[Message] = deque(maxlen=ring_size)
        self.listeners: list[Callable[[list[Message]], object]] = []
        self.notices: dict[int, dict[str, Any]] = {}
        self.campaigns: dict[int, dict[str, Any]] = {}  # the latest figures of each
        self._subs: list[Subscription] = []
        self._dirty_agents: set[int] = set()
        self._dirty_queues: set[int] = set()
        self._dirty_channel_queues: set[int] = set()
        self._dirty_keys: dict[str, tuple[str, dict[str, Any], frozenset[int] | None]] = {}
        self._calls_dirty = False
        self._calls: dict[int, tuple[dict[str, Any], frozenset[int]]] = {}  # last sent
        self._offers: dict[int, tuple[Any, str]] = {}  # agent id -> (call id, state) sent
        self.leads: dict[int, dict[str, Any]] = {}  # agent id -> its campaign lead shown
        self._last: dict[str, dict[str, Any]] = {}  # key -> data last sent (agents, queues)
        self._alarms: dict[str, dict[str, Any]] = {}
        self._timer: Any = None
        self._health_timer: Any = None
        self._last_flush = 0.0
        self._members: dict[int, frozenset[int]] = {}
        self.flushes = 0

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        sub = self.bus.subscribe
        self._subs = [
            sub(st.AgentStateChanged, self._on_agent),
            sub(QueueStatsChanged, self._on_queue),
            sub(QueuedCallLeft, self._on_call_left),
            sub(DayStarted, self._on_day_started),
            sub(RecordingAlarm, lambda _e: self._check_health()),
            sub(NoticePosted, self._on_notice),
            sub(NoticeWithdrawn, self._on_notice_withdrawn),
            sub(CampaignFigures, self._on_campaign),
            sub(LeadPreview, self._on_lead),
            sub(LeadOffered, self._on_lead),
            sub(LeadConnected, self._on_lead_state),
            sub(AttemptEnded, self._on_lead_state),
            sub(TicketsChanged, self._on_tickets),
            sub(SpanAlarmChanged, self._on_span_alarm),
            sub(ChannelQueueStatsChanged, self._on_channel_queue),
            sub(ConversationStateChanged, self._on_conversation),
        ]
        self._alarms = {a["part"]: a for a in self._health_parts()}
        if self.health is not None:
            self._health_timer = self.reactor.callLater(HEALTH_EVERY_S, self._health_tick)

    def stop(self) -> None:
        for s in self._subs:
            self.bus.unsubscribe(s)
        self._subs = []
        for timer in (self._timer, self._health_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._health_timer = None

    @property
    def last_id(self) -> str:
        return f"{self.epoch}-{self.seq}"

    # ---- events ---------------------------------------------------------------------------

    def _on_agent(self, event: st.AgentStateChanged) -> None:
        # Cheap per event (a burst is thousands): which queues it touches is worked out
        # once per flush.
        self._dirty_agents.add(event.agent_id)
        self._calls_dirty = True
        self._schedule()

    def _on_queue(self, event: QueueStatsChanged) -> None:
        self._dirty_queues.add(int(event.stats["queue_id"]))
        self._calls_dirty = True
        self._schedule()

    def _on_day_started(self, _event: DayStarted) -> None:
        # every agent's calls and talk time of the day went back to zero
        if self.acd is not None:
            self._dirty_agents.update(self.acd.agents)
            self._schedule()

    def _on_call_left(self, event: QueuedCallLeft) -> None:
        self._dirty_queues.add(event.queue_id)
        self._calls_dirty = True
        self._schedule()

    def load_notices(self, notices: Iterable[dict[str, Any]]) -> None:
        """The current notices at start (from the database): in snapshots, not sent."""
        for raw in notices:
            notice = {k: _epoch(raw.get(k)) for k in NOTICE_FIELDS}
            self.notices.setdefault(int(notice["id"]), notice)

    def _on_notice(self, event: NoticePosted) -> None:
        notice = {k: _epoch(event.notice.get(k)) for k in NOTICE_FIELDS}
        notice["text"] = str(notice["text"] or "")[:500]
        nid = int(notice["id"])
        self.notices[nid] = notice
        self._mark(f"notice:{nid}", "notice", notice, self._notice_audience(notice))

    def _on_notice_withdrawn(self, event: NoticeWithdrawn) -> None:
        notice = self.notices.pop(event.notice_id, None)
        if notice is not None:  # sent once more, expired now: the pages drop it
            notice = {**notice, "expires_at": self.reactor.seconds()}
            self._mark(f"notice:{event.notice_id}", "notice", notice, self._notice_audience(notice))

    def _on_tickets(self, event: TicketsChanged) -> None:
        """A ticket was written: one ``tickets`` message per flush (the latest id), for staff
        only (the supervisors' board reloads on it and reads the tickets itself)."""
        data = {"ticket_id": event.ticket_id, "at": self.reactor.seconds()}
        self._mark("tickets", "tickets", data, frozenset())

    def _on_campaign(self, event: CampaignFigures) -> None:
        data = {k: getattr(event, k) for k in CAMPAIGN_FIELDS}
        data["id"] = event.campaign_id
        data["name"] = str(data["name"])[:NAME_MAX]
        self.campaigns[event.campaign_id] = data
        # staff only (no agent's): the wallboard topic gets campaigns by kind
        self._mark(f"campaign:{event.campaign_id}", "campaign", data, frozenset())

    def _on_lead(self, event: LeadPreview | LeadOffered) -> None:
        """The desk's campaign pop: a preview (``withdrawn`` when taken back) or an answered
        customer offered to the agent. Only that agent's desk gets it."""
        if isinstance(event, LeadOffered):
            state = "offered"
            call: dict[str, Any] = {
                "attempt_id": event.attempt_id,
                "call_id": event.call_id,
                "dispositions": [str(d)[:NAME_MAX] for d in event.dispositions],
                "dial_in_s": None,
            }
        else:
            state = "withdrawn" if event.withdrawn else "preview"
            call = {
                "attempt_id": None,
                "call_id": None,
                "dispositions": [],
                "dial_in_s": event.dial_in_s,
            }
        fields = list(event.fields.items())[:LEAD_FIELDS_MAX]
        data = {
            "agent_id": event.agent_id,
            "state": state,
            "campaign_id": event.campaign_id,
            "campaign": str(event.campaign)[:NAME_MAX],
            "lead_id": event.lead_id,
            "attempt_id": call["attempt_id"],
            "call_id": call["call_id"],
            "number": str(event.number)[:NAME_MAX],
            "name": str(event.name)[:NAME_MAX],
            "script": str(event.script)[:SCRIPT_MAX],
            "fields": [[str(k)[:NAME_MAX], str(v)[:NAME_MAX]] for k, v in fields],
            "dispositions": call["dispositions"],
            "dial_in_s": call["dial_in_s"],
            "at": event.at,
            "talked": False,  # the agent answered: its disposition is due
        }
        shown = self.leads.get(event.agent_id)
        if state == "withdrawn" and (shown is None or shown["lead_id"] != event.lead_id):
            return  # a preview the desk no longer shows
        self.leads[event.agent_id] = data
        self._mark(f"lead:{event.agent_id}", "lead", data, frozenset((event.agent_id,)))

    def _on_lead_state(self, event: LeadConnected | AttemptEnded) -> None:
        """The agent answered the lead's customer, or the attempt ended: the desk keeps the
        lead (its disposition comes after the call) with its new state."""
        state = "connected" if isinstance(event, LeadConnected) else "ended"
        for agent_id, shown in self.leads.items():
            if shown["attempt_id"] == event.attempt_id and shown["state"] != state:
                data = {**shown, "state": state, "talked": shown["talked"] or state == "connected"}
                self.leads[agent_id] = data
                self._mark(f"lead:{agent_id}", "lead", data, frozenset((agent_id,)))
                return

    def _mark(
        self, key: str, kind: str, data: dict[str, Any], agents: frozenset[int] | None
    ) -> None:
        self._dirty_keys.pop(key, None)
        self._dirty_keys[key] = (kind, data, agents)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        delay = max(0.0, self._last_flush + self.flush_s - self.reactor.seconds())
        self._timer = self.reactor.callLater(delay, self.flush)

    def _on_channel_queue(self, event: ChannelQueueStatsChanged) -> None:
        self._dirty_channel_queues.add(int(event.queue_id))
        self._schedule()

    def _on_conversation(self, event: ConversationStateChanged) -> None:
        if event.queue_id is not None:
            self._dirty_channel_queues.add(int(event.queue_id))
            self._schedule()

    def channel_queues(self, only: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Each chat and e-mail queue's figures today (``ChannelService.queue_stats``), with
        when its oldest conversation joined (the browser keeps the wait ticking) and the
        reply deadlines of its unanswered e-mail threads (the wallboard counts those past).
        Empty when the engine does not run; a failing engine is logged, never raised."""
        channels = self.channels()
        if channels is None:
            return []
        try:
            # only the queues marked (the engine counts each's figures: not all on a flush)
            stats = channels.queue_stats() if only is None else channels.queue_stats(only)
            wanted = set(stats)
            due: dict[int, list[float]] = {}
            if any(stats[q].media == "email" for q in wanted):
                seen: set[int] = set()
                for c in [*channels.waiting(), *channels.active()]:
                    if c.id in seen or c.media != "email" or c.queue_id not in wanted:
                        continue
                    seen.add(c.id)
                    if c.due_at is not None and c.first_reply_at is None:
                        due.setdefault(c.queue_id, []).append(c.due_at.timestamp())
        except Exception:
            log.failure("the channels' queue figures")
            return []
        now = self.reactor.seconds()
        out = []
        for qid in sorted(wanted):
            s = stats[qid]
            sl = s.service_level_pct
            out.append(
                {
                    "id": qid,
                    "media": s.media,
                    "waiting": s.waiting,
                    "longest_wait_s": round(s.oldest_wait_s, 3),
                    # whole seconds: the engine's wait is rounded, so this stays put between
                    # flushes and a queue is sent again only when a figure changed
                    "oldest_since": round(now - s.oldest_wait_s) if s.waiting else None,
                    "active": s.active,
                    "offered": s.offered_today,
                    "answered": s.answered_today,
                    "answered_in_sl": s.answered_in_sl_today,
                    "abandoned": s.abandoned_today,
                    "service_level": None if sl is None else round(sl / 100, 4),
                    "reply_due": sorted(due.get(qid, []))[:REPLY_DUE_MAX],
                }
            )
        return out

    def _on_span_alarm(self, _event: SpanAlarmChanged) -> None:
        """A span's alarms changed: every span in alarm now (staff and the wallboard)."""
        self._mark("spans", "spans", {"spans": self.spans()}, frozenset())

    def _health_tick(self) -> None:
        self._health_timer = self.reactor.callLater(HEALTH_EVERY_S, self._health_tick)
        self._check_health()

    def _health_parts(self) -> list[dict[str, Any]]:
        if self.health is None:
            return []
        return [
            {"part": p.name, "state": p.state, "detail": p.detail, "since": p.since.timestamp()}
            for p in self.health.parts()
        ]

    def _check_health(self) -> None:
        for alarm in self._health_parts():
            old = self._alarms.get(alarm["part"])
            if old is None or (old["state"], old["detail"]) != (alarm["state"], alarm["detail"]):
                self._alarms[alarm["part"]] = alarm
                self._mark(f"alarm:{alarm['part']}", "alarm", alarm, frozenset())

    # ---- rendering ------------------------------------------------------------------------

    def call_id(self, call: QueuedCall) -> int | str:
        """The id pages know a call by: its calls row; a callback has none (``acd-N``)."""
        return call.record_id if call.record_id is not None else f"acd-{call.id}"

    def agent_data(self, a: Agent) -> dict[str, Any]:
        call = a.call
        return {
            "id": a.id,
            "number": a.number,
            "name": a.name,
            "state": a.state,
            "reason": a.reason,
            "since": a.since,
            "call_id": self.call_id(call) if call else None,
            "caller_number": call.caller if call else None,
            "caller_name": call.caller_name[:NAME_MAX] if call else None,
            "queue_id": call.queue_id if call else None,
            "call_since": (call.answered_at or a.since) if call else None,
            # the day's figures (acd/stats.py, restored at start by acd/day_counters.py)
            "handled": a.stats.handled,
            "talk_s": round(a.stats.talk_s, 1),
            # the queues it serves: the wallboard's and console's queue filters
            "queues": self._queues_of(a),
        }

    def _queues_of(self, a: Agent) -> list[int]:
        acd = self.acd
        if acd is None:
            return []
        return sorted(q.id for q in acd.queues.values() if self._serves(a, q))

    def _serves(self, a: Agent, q: ACDQueue) -> bool:
        """ACD.serves, with the queue's members as a set (kept per flush): the feed asks
        for every agent and queue, and member lists can be long."""
        members = self._members.get(q.id)
        if members is None:
            members = self._members[q.id] = frozenset(m for m, _penalty in q.members)
        if a.id in members:
            return True
        return bool(q.requirements) and all(
            a.skills.get(skill, 0) >= level for skill, level in q.requirements
        )

    def queue_data(self, qid: int) -> dict[str, Any] | None:
        acd = self.acd
        if acd is None or qid not in acd.queues or qid not in acd.stats:
            return None
        q, s = acd.queues[qid], acd.stats[qid]
        waiting = [acd.calls[c] for c in acd.router.waiting(qid) if c in acd.calls]
        oldest = min((c.joined_at for c in waiting), default=None)
        now = self.reactor.seconds()
        counts = {state: 0 for state in st.STATES}
        for a in acd.agents.values():
            if self._serves(a, q):
                counts[a.state] = counts.get(a.state, 0) + 1
        sl, avg = s.service_level, s.avg_wait_s
        return {
            "id": qid,
            "name": q.name,
            "display_name": q.display_name,
            "waiting": len(waiting),
            "longest_wait_s": round(now - oldest, 3) if oldest is not None else 0.0,
            "oldest_since": oldest,  # the browser keeps longest_wait_s ticking from this
            "offered": s.offered,
            "answered": s.answered,
            "abandoned": s.abandoned,
            "overflowed": s.overflowed,
            "callbacks": s.callbacks,
            "service_level": None if sl is None else round(sl, 4),
            "avg_wait_s": None if avg is None else round(avg, 3),
            "agents": counts,
        }

    def call_data(self, c: QueuedCall) -> dict[str, Any]:
        if c.answered_at is not None:
            state = "talking"
        elif c.ringing:
            state = "ringing"
        else:
            state = "waiting"
        agent = c.agent or (c.ringing[0] if c.ringing else None)
        return {
            "id": self.call_id(c),
            "uniqueid": c.uniqueid,
            "queue_id": c.queue_id,
            "caller_number": c.caller,
            "caller_name": c.caller_name[:NAME_MAX],
            "state": state,
            "since": c.joined_at,
            "agent_id": agent.id if agent else None,
            "priority": c.priority,
        }

    def _notice_audience(self, notice: dict[str, Any]) -> frozenset[int] | None:
        """The agents a notice is for (None: every agent; staff see them all anyway)."""
        acd, qid, aid = self.acd, notice.get("queue_id"), notice.get("agent_id")
        if notice.get("supervisors"):
            return frozenset()
        if aid is not None:
            return frozenset({int(aid)})
        if qid is None:
            return None
        if acd is None or qid not in acd.queues:
            return frozenset()
        q = acd.queues[qid]
        return frozenset(a.id for a in acd.agents.values() if self._serves(a, q))

    # ---- flushing -------------------------------------------------------------------------

    def flush(self) -> list[Message]:
        """Render everything marked since the last flush; hand it to the listeners."""
        self._timer = None
        self._last_flush = self.reactor.seconds()
        self._members = {}  # queues may have been edited since the last flush
        out: list[Message] = []
        acd = self.acd
        if acd is not None:
            if self._calls_dirty:
                self._calls_dirty = False
                out.extend(self._flush_calls(acd))
            agents, self._dirty_agents = self._dirty_agents, set()
            for aid in sorted(agents):
                a = acd.agents.get(aid)
                if a is not None:
                    out.extend(self._flush_agent(a))
                    self._dirty_queues.update(
                        q.id for q in acd.queues.values() if self._serves(a, q)
                    )
            queues, self._dirty_queues = self._dirty_queues, set()
            for qid in sorted(queues):
                data = self.queue_data(qid)
                if data is not None and self._changed(f"queue:{qid}", data, ("longest_wait_s",)):
                    out.append(self._message("queue", f"queue:{qid}", data, None))
        channel_queues, self._dirty_channel_queues = self._dirty_channel_queues, set()
        if channel_queues:
            for data in self.channel_queues(channel_queues):
                key = f"channel_queue:{data['id']}"
                if self._changed(key, data, ("longest_wait_s",)):
                    out.append(self._message("channel_queue", key, data, None))
        keys, self._dirty_keys = self._dirty_keys, {}
        for key, (kind, data, audience) in keys.items():
            out.append(self._message(kind, key, data, audience))
        if out:
            self.flushes += 1
            for listener in list(self.listeners):
                try:
                    listener(out)
                except Exception:
                    log.failure("a live listener failed")
        return out

    def _changed(self, key: str, data: dict[str, Any], ignore: Iterable[str] = ()) -> bool:
        old = self._last.get(key)
        self._last[key] = data
        if old is None:
            return True
        skip = set(ignore)
        return any(old.get(k) != v for k, v in data.items() if k not in skip)

    def _flush_agent(self, a: Agent) -> list[Message]:
        out = []
        data = self.agent_data(a)
        if self._changed(f"agent:{a.id}", data):
            out.append(self._message("agent", f"agent:{a.id}", data, frozenset((a.id,))))
        call = a.call
        offer: tuple[Any, str] | None = None
        if call is not None and a.state == st.RINGING:
            offer = (self.call_id(call), "ringing")
        elif call is not None and a.state == st.ON_CALL:
            offer = (self.call_id(call), "answered")
        if offer is not None and self._offers.get(a.id) != offer and call is not None:
            self._offers[a.id] = offer
            data = {
                "call_id": offer[0],
                "agent_id": a.id,
                "state": offer[1],
                "caller_number": call.caller,
                "caller_name": call.caller_name[:NAME_MAX],
                "queue_id": call.queue_id,
            }
            out.append(self._message("offer", f"offer:{a.id}", data, frozenset((a.id,))))
        elif offer is None:
            self._offers.pop(a.id, None)
        return out

    def _flush_calls(self, acd: ACD) -> list[Message]:
        out = []
        live = set()
        for c in list(acd.calls.values()):
            if c.done:
                continue
            live.add(c.id)
            data = self.call_data(c)
            old = self._calls.get(c.id)
            involved = {a.id for a in c.ringing}
            if c.agent is not None:
                involved.add(c.agent.id)
            audience = frozenset(involved | (old[1] if old else frozenset()))
            if old is None or old[0] != data or old[1] != audience:
                self._calls[c.id] = (data, audience)
                out.append(self._message("call", f"call:{c.id}", data, audience))
        for cid in [cid for cid in self._calls if cid not in live]:
            data, audience = self._calls.pop(cid)
            out.append(self._message("call", f"call:{cid}", {**data, "state": "ended"}, audience))
        return out

    def _message(
        self, kind: str, key: str, data: dict[str, Any], agents: frozenset[int] | None
    ) -> Message:
        self.seq += 1
        event_id = f"{self.epoch}-{self.seq}"
        wall = None
        if kind == "agent":
            wall = sse_frame(kind, event_id, {**data, **dict.fromkeys(CALL_FIELDS)})
        m = Message(self.seq, kind, key, sse_frame(kind, event_id, data), agents, wall)
        self.ring.append(m)
        return m

    # ---- what a (re)connecting client gets -----------------------------------------------

    def snapshot(self, viewer: Viewer) -> bytes:
        """The whole state this viewer may see, as one ``snapshot`` frame."""
        acd, now = self.acd, self.reactor.seconds()
        self._members = {}
        agents: list[dict[str, Any]] = []
        queues: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        staff = viewer.role in STAFF
        if acd is not None:
            for a in acd.agents.values():
                if staff or a.id == viewer.agent_id:
                    data = self.agent_data(a)
                    if viewer.wallboard:
                        data.update(dict.fromkeys(CALL_FIELDS))
                    agents.append(data)
            queues = [d for d in (self.queue_data(qid) for qid in acd.queues) if d is not None]
            if not viewer.wallboard:
                for c in acd.calls.values():
                    if c.done:
                        continue
                    involved = {a.id for a in c.ringing}
                    if c.agent is not None:
                        involved.add(c.agent.id)
                    seen = self._calls.get(c.id)
                    if seen is not None:
                        involved |= seen[1]
                    mine = viewer.agent_id is not None and viewer.agent_id in involved
                    if staff or mine:
                        calls.append(self.call_data(c))
        notices: list[dict[str, Any]] = []
        alarms: list[dict[str, Any]] = []
        campaigns = list(self.campaigns.values()) if staff or viewer.wallboard else []
        if not viewer.wallboard:
            for nid in [n for n, v in self.notices.items() if (v["expires_at"] or 0) < now]:
                del self.notices[nid]
            for notice in self.notices.values():
                audience = self._notice_audience(notice)
                if staff or audience is None or viewer.agent_id in audience:
                    notices.append(notice)
            if staff:
                alarms = [a for a in self._health_parts() if a["state"] != "ok"]
        data = {
            "server_time": now,
            "agents": agents,
            "queues": queues,
            "campaigns": campaigns,
            "calls": calls,
            "notices": notices,
            "alarms": alarms,
            "spans": self.spans() if staff or viewer.wallboard else [],
            "channel_queues": self.channel_queues() if staff or viewer.wallboard else [],
        }
        if not viewer.wallboard and viewer.agent_id is not None:
            data["lead"] = self.leads.get(viewer.agent_id)
        return sse_frame("snapshot", self.last_id, data)

    def replay(self, viewer: Viewer, last_event_id: str) -> list[bytes] | None:
        """What a client that saw ``last_event_id`` missed (the latest per key), or None
        when the ring no longer holds it all (then it needs a snapshot)."""
        epoch, _, seq_text = last_event_id.strip().partition("-")
        if epoch != self.epoch or not seq_text.isdigit():
            return None
        seen = int(seq_text)
        if seen > self.seq:
            return None
        if seen == self.seq:
            return []
        if not self.ring or self.ring[0].seq > seen + 1:
            return None
        latest: dict[str, bytes] = {}
        for m in self.ring:
            if m.seq > seen:
                frame = viewer.frame(m)
                if frame is not None:
                    latest.pop(m.key, None)
                    latest[m.key] = frame
        return list(latest.values())
