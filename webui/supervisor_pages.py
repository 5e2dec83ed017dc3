"""The supervisor console: every agent and queue live, with the supervisor's actions.

``/supervisor`` (admin, supervisor) is static HTML plus the translated strings and settings
the script needs (JSON in a script element that is never executed); supervisor.js fills it
from the live feed (``ccboxLive``, topics "all") with textContent only, and posts the
actions to ``/api/supervisor/...`` (webui/supervisor_api.py) with the CSRF token.
"""

from __future__ import annotations

from typing import Any

import cherrypy
from twisted.internet import defer

from acd.agent_state import PAUSE_REASONS
from acd.channels.errors import ChannelError
from webui import admin_forms, audit_trail, i18n, labels
from webui.access import api, current_session, page
from webui.context import WebContext
from webui.desk_chat import reads
from webui.render import render
from webui.supervisor_api import SPY_MODES, SUPERVISING

_ = i18n._
MAX_CALLS = 10  # calls shown per queue, longest wait first; the rest are counted
IDLE_EVERY_MS = 3000  # how often the page asks why ready agents get no calls, while any wait
CHATS_EVERY_MS = 2000  # how often the page reads the chats and e-mails (waiting and active)
MAX_CONVERSATIONS = 500  # listed at once, waiting ones first (the rest are counted)
NAME_MAX = 128


def console_texts() -> dict[str, Any]:
    """What supervisor.js shows, translated (the script has no strings of its own)."""
    return {
        "states": labels.agent_states(),
        "reasons": labels.pause_reasons(),
        "call_states": {
            "waiting": _("Waiting"),
            "ringing": _("Ringing"),
            "talking": _("Talking"),
        },
        "modes": {"listen": _("Listen in"), "whisper": _("Whisper"), "barge": _("Barge")},
        "live": _("Live"),
        "lost": _("Connection lost: reconnecting…"),
        "pause": _("Pause"),
        "logout": _("Log agent out"),
        "release": _("Free agent"),
        "move": _("Move"),
        "hangup": _("Hang up"),
        "record_now": _("Record now"),
        # call control on the agent's call (webui/call_control_api.py)
        "controls": {
            "hold": _("Hold"),
            "resume": _("Resume"),
            "mute": _("Mute"),
            "unmute": _("Unmute"),
            "hangup": _("Hang up"),
        },
        "to_queue": _("Queue: {name}"),
        "to_agent": _("Agent: {name}"),
        "move_to": _("Move to…"),
        "no_calls": _("No calls."),
        "unknown_caller": _("Unknown caller"),
        "confirm_hangup": _("Hang up the call from {caller}?"),
        "confirm_logout": _("Log out agent {agent}?"),
        "confirm_release": _("Free {agent}? Only if the switch has no call on its phone."),
        "done": _("Done: {what}"),
        "failed": _("Failed: {reason}"),
        "waiting_n": _("{n} waiting"),
        "longest": _("longest {time}"),
        "priority": _("priority {n}"),
        "more_calls": _("and {n} more"),
        "handled_1": _("1 call"),
        "handled_n": _("{n} calls"),
        "talk": _("talk {time}"),
        "idle_title": _("Takes none of the callers waiting:"),
        # chats and e-mails (the engine's waiting and active conversations)
        "media": {"chat": _("Chat"), "email": _("E-mail")},
        "conv_states": {
            "waiting": _("Waiting"),
            "offered": _("Offered"),
            "active": _("Active now"),
            "wrap_up": _("Wrap-up"),
        },
        "watch": _("Watch"),
        "join": _("Join"),
        "live_view": _("Live view"),
        "load": _("Chats {open}/{capacity}"),
        "no_conversations": _("No chats or e-mails."),
        "channels_off": _("Chats and e-mails are not running."),
        "more_conversations": _("and {n} more"),
        "due_in": _("reply due in {time}"),
        "overdue": _("reply overdue by {time}"),
        "nobody": "—",
    }


def _epoch(value: Any) -> float | None:
    return value.timestamp() if value is not None else None


def conversations_view(channels: Any, acd: Any, now: float) -> dict[str, Any]:
    """What the console's chats section shows, from the engine (reactor thread): the
    waiting and offered conversations (longest waiting first), then the active ones and
    those in wrap-up; each chat and e-mail queue's service level threshold; each logged-in
    agent's load. Customer names are attacker-controlled: bounded here, textContent there."""
    if channels is None:
        return {"running": False, "conversations": [], "more": 0, "loads": {}, "queues": {}}
    queues = getattr(acd, "channel_queues", None) or {}
    waiting = sorted(channels.waiting(), key=lambda c: c.queued_at or now)
    active = sorted(channels.active(), key=lambda c: c.id)
    rows = [*waiting, *active]
    out = []
    for c in rows[:MAX_CONVERSATIONS]:
        agent = acd.agents.get(c.agent_id) if c.agent_id is not None else None
        q = queues.get(c.queue_id)
        out.append(
            {
                "id": c.id,
                "media": c.media,
                "state": c.state,
                "name": (c.name or c.email or c.phone)[:NAME_MAX],
                "subject": c.subject[:NAME_MAX],
                "queue_id": c.queue_id,
                "queue": (q.display_name or q.name) if q is not None else "",
                "agent_id": c.agent_id,
                "agent": f"{agent.number} {agent.name}" if agent is not None else "",
                # waiting: since it joined the queue (the engine's clock); else since answered
                "waiting_since": c.queued_at if c.state in ("waiting", "offered") else None,
                "answered_at": _epoch(c.answered_at),
                "created_at": _epoch(c.created_at),
                "due_at": _epoch(c.due_at) if c.first_reply_at is None else None,
            }
        )
    loads = {}
    for agent_id, agent in acd.agents.items():
        if agent.state == "logged_out":
            continue
        try:
            load = channels.load(agent_id)
        except ChannelError:  # an agent the engine does not know (yet)
            continue
        loads[str(agent_id)] = {"open": load.open, "capacity": load.capacity}
    return {
        "running": True,
        "server_time": now,
        "conversations": out,
        "more": max(0, len(rows) - MAX_CONVERSATIONS),
        "loads": loads,
        "queues": {str(qid): {"service_level_s": q.service_level_s} for qid, q in queues.items()},
    }


class SupervisorPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx

    @page(*SUPERVISING)
    def index(self, queue: Any = "", team: Any = "") -> str:
        """``?queue=<name>&team=<department>``: the filters chosen on the page (kept in the
        URL; a name that is no queue or team shows everything)."""
        user = current_session().user
        assert user is not None
        acd = self.ctx.acd
        mine = self.ctx.call(lambda: defer.succeed(acd.agent_of_user(user.id)))
        queues = self.ctx.call(
            lambda: defer.succeed(
                sorted(
                    ((q.name, q.display_name or q.name) for q in acd.queues.values()),
                    key=lambda q: q[0],
                )
            )
        )
        # Teams are the agents' departments (set on the agent's admin page).
        agents = self.ctx.call(self.ctx.db.agents.list_all)
        departments = {a.id: a.department for a in agents if a.department}
        teams = sorted(set(departments.values()))
        chosen_queue = queue if isinstance(queue, str) and queue in dict(queues) else ""
        chosen_team = team if isinstance(team, str) and team in teams else ""
        settings = {
            "phone": mine.device if mine is not None else "",
            "modes": list(SPY_MODES),
            "reasons": [r for r in PAUSE_REASONS if r != "missed_calls"],
            "teams": {str(aid): dept for aid, dept in departments.items()},
            "max_calls": MAX_CALLS,
            "idle_every_ms": IDLE_EVERY_MS,
            "chats_every_ms": CHATS_EVERY_MS,
        }
        return render(
            self.ctx,
            "supervisor.html",
            texts=console_texts(),
            settings=settings,
            phone=settings["phone"],
            queues=queues,
            teams=teams,
            chosen_queue=chosen_queue,
            chosen_team=chosen_team,
        )

    @api(*SUPERVISING)
    @cherrypy.tools.json_out()
    def conversations(self) -> dict[str, Any]:
        """The chats section's data (``conversations_view``), read every few seconds."""
        channels, acd, reactor = self.ctx.channels, self.ctx.acd, self.ctx.reactor
        return dict(self.ctx.call_any(lambda: conversations_view(channels, acd, reactor.seconds())))

    @page(*SUPERVISING)
    def chat(self, id: Any = "") -> str:
        """A conversation watched read-only (``?id=``): its lines from the desk's stream
        (``/chat-desk/stream?watch=``, which audits the watch too), with Join and a line or an
        internal note to the agent (``/chat-desk/api/join`` and ``say``). Opening it is
        audited here (``supervisor.chat.open``)."""
        cid = admin_forms.page_id(id)
        channels = self.ctx.channels
        conv = self.ctx.call_any(lambda: channels.conversation(cid)) if channels else None
        if conv is None:
            facts = self.ctx.call(self.ctx.db.run, lambda conn: reads.conversation(conn, cid))
            if facts is None:
                raise cherrypy.NotFound()
            media, name, subject, state = facts.media, facts.name, facts.subject, facts.state
        else:
            media, name, subject, state = conv.media, conv.name, conv.subject, conv.state
        audit_trail.record(self.ctx, "supervisor.chat.open", f"conversation:{cid}")
        return render(
            self.ctx,
            "supervisor_chat.html",
            conversation={
                "id": cid,
                "media": media,
                "name": name,
                "subject": subject,
                "state": state,
            },
            texts=watch_texts(),
        )


def watch_texts() -> dict[str, Any]:
    """What supervisor_chat.js shows, translated."""
    return {
        "senders": {
            "customer": _("Customer"),
            "agent": _("Agent"),
            "supervisor": _("Supervisor"),
            "system": _("System"),
        },
        "internal": _("Internal note"),
        "typing": _("{side} is typing…"),
        "customer": _("Customer"),
        "staff": _("Agent"),
        "joined": _("You joined the conversation."),
        "ended": _("The conversation ended."),
        "states": {
            "waiting": _("Waiting"),
            "offered": _("Offered"),
            "active": _("Active now"),
            "wrap_up": _("Wrap-up"),
            "ended": _("Ended"),
            "message": _("Left a message"),
        },
        "failed": _("Failed: {reason}"),
        "lost": _("Connection lost: reconnecting…"),
        "attachment": _("Attachment: {name}"),
    }
