"""The channels' engine: web chats and e-mail threads routed to agents beside their calls.

Like the call ACD it holds everything routing needs in memory and never waits on the
database to decide: a conversation joins its queue's line in the channels' router
(acd/channels/router.py: a second instance of the ACD's routing engine, holding the chat
and e-mail queues) and is *offered* to an agent who may take one more
(acd/channels/capacity.py). The agent accepts within ``[chat] offer_timeout_s``, or the
offer is withdrawn, counted as a miss (the queue's ``auto_pause_misses`` in a row pause the
agent, as with calls) and the conversation goes to the next agent, keeping its place.
``ring_all`` offers to every candidate; the first accept wins.

- Service level per queue, as for calls (acd/stats.py): answered = accepted within the
  queue's ``service_level_s``; abandoned = the customer left before an agent accepted.
- Wrap-up: after an end the agent's slot stays held for the queue's ``wrapup_s`` (or until
  ``wrapup_done``).
- Transfer to an agent (offered to that agent, who may decline: then it is back in its
  queue) or to a queue (back in line with its priority and arrival order); both written to
  the conversation's events.
- Past a chat queue's ``max_wait_s`` the customer is offered to leave a message: an
  ``overflow`` event to the customer's side and a system line; the chat keeps its place
  (the widget may end it and leave a message).
- Restart: waiting and offered conversations are back in line in arrival order; active ones
  stay with their agent when the agent is logged in (the ACD restores logins), else wait;
  a wrap-up is over.

Writes (states, events) are queued in order per conversation (acd/channels/ordered_writes.py)
and never waited for; a chat line goes to its listeners with the id the engine gave it and
its row is written behind it (acd/channels/line_writer.py); an e-mail's insert is awaited.

Listeners (the web streams, acd/channels/listeners.py) are callables
``listener(event: dict)``, called on the reactor thread; a customer's side never gets
internal lines, offers or agent-only data.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from acd import agent_state as st
from acd.channels import capacity
from acd.channels.conversation import (
    ACTIVE,
    CUSTOMER,
    ENDED,
    MESSAGE,
    OFFERED,
    SIDES,
    STAFF,
    WAITING,
    WRAP_UP,
    ChannelQueueStats,
    Conversation,
    Listener,
    Load,
    Message,
    NewMessage,
    Subscription,
    Topic,
)
from acd.channels.errors import ChannelError
from acd.channels.events import AgentLoadChanged, ChannelQueueStatsChanged, ConversationStateChanged
from acd.channels.line_writer import LineWriter
from acd.channels.listeners import Listeners
from acd.channels.ordered_writes import OrderedWrites
from acd.channels.router import AgentSlots, ChannelRouter, RouteOffer
from acd.day_counters import day_start
from acd.live_config import AgentConfigApplied, QueueConfigApplied
from acd.stats import DayStarted, QueueStats
from appliance.crm.tickets.store import TicketStore
from appliance.db.conversation_store import ConversationStore, TopicRow
from appliance.text import N_
from drivers.health import DOWN, HealthReporter

if TYPE_CHECKING:
    from types import ModuleType

    from acd.service import ACD
    from appliance.config import ChatConfig
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus

__all__ = [
    "ChannelError",
    "ChannelQueueStats",
    "ChannelService",
    "Conversation",
    "EmailSender",
    "Load",
    "Message",
    "NewMessage",
    "Subscription",
    "Topic",
]

log = Logger(namespace="ccbox.channels")

# Ends without an answer that are not the customer's leaving (the figures restored after a
# restart count every other unanswered end as abandoned, whatever reason the widget gave).
NOT_ABANDONED = frozenset(("queue_gone", "restart"))
# A leave-a-message ticket's type, when the box has it (else an active built-in one).
TICKET_TYPE = "inquiry"
ACTOR = "chat"
# A write that finds the database idle waits this long for others to share its transaction
# (the lines are with their listeners already): a few transactions a second, not hundreds.
WRITE_LINGER_S = 0.05
# The lines the box itself writes into a chat, in the customer's language.
SYSTEM_LINES = {
    "transferred_agent": {
        "en": "You are being transferred to {name}.",
        "zh": "正在为您转接给 {name}。",
    },
    "transferred_queue": {
        "en": "You are being transferred to {name}. Please wait.",
        "zh": "正在为您转接到 {name}，请稍候。",
    },
    "max_wait": {
        "en": "All our agents are still busy. You may keep waiting or leave a message.",
        "zh": "客服仍在忙碌中。您可以继续等待，或者留言。",
    },
    "agent_left": {
        "en": "Your agent had to leave; you are back in line.",
        "zh": "客服已离开，正在为您重新排队。",
    },
}


def _line(key: str, language: str, **values: str) -> str:
    texts = SYSTEM_LINES[key]
    text = texts["zh"] if language.lower().startswith("zh") else texts["en"]
    return text.format(**values)


def _message_id(value: object) -> int:
    """A read mark's message id, as a client sent it."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ChannelError(N_("a read mark is a message id"))
    try:
        number = int(value)
    except ValueError:
        raise ChannelError(N_("a read mark is a message id")) from None
    if not 0 <= number < 2**63:
        raise ChannelError(N_("a read mark is a message id"))
    return number


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class EmailSender(Protocol):
    """What the e-mail channel registers (``set_email_sender``) to send an agent's reply."""

    def send_reply(
        self, conversation: Conversation, message: Message, agent_name: str
    ) -> defer.Deferred[Any]: ...


class ChannelService(service.Service):
    name = "channels"

    def __init__(
        self,
        *,
        reactor: Any,
        db: DBConnector,
        acd: ACD,
        bus: EventBus,
        config: ChatConfig,
        customers: Any = None,
        engine: ModuleType | None = None,
        health: HealthReporter | None = None,
        write_linger_s: float = 0.0,
    ) -> None:
        """``customers``: the CRM's CustomerStore (links a conversation to its customer by
        number; its class raises the priority), None without one; ``engine``: the routing
        module (tests pass acd._route_py or acd._route_c; default: acd.route's choice);
        ``health``: the daemon's registry, told when the engine did not start;
        ``write_linger_s``: how long a write waits for others to share its transaction
        (ConversationStore; the daemon: WRITE_LINGER_S)."""
        self.reactor = reactor
        self.db = db
        self.acd = acd
        self.bus = bus
        self.config = config
        self.customers = customers
        self.health = health
        self.store = ConversationStore(db, reactor, write_linger_s)
        self.tickets = TicketStore(db, bus=bus)
        self.router = ChannelRouter(lambda: int(self.reactor.seconds() * 1_000_000), engine)
        self.conversations: dict[int, Conversation] = {}  # waiting, offered, active, wrap-up
        self.stats: dict[int, QueueStats] = {}
        self.topic_rows: list[TopicRow] = []
        self.email_sender: EmailSender | None = None
        self.writes = OrderedWrites()
        self.misses: dict[int, int] = {}  # agent id -> offers let go in a row
        self.ready = False
        self._offer_timers: dict[int, Any] = {}
        self._wrapup_timers: dict[int, Any] = {}
        self._wait_timers: dict[int, Any] = {}
        self.listeners = Listeners()
        self._joined: dict[int, set[str]] = {}  # supervisors who joined a conversation
        self._bus_subs: list[Any] = []
        self._later: set[Any] = set()  # dispatches after a transfer's grace time
        self._hold = 0  # dispatch held while a step changes several agents at once
        self.lines = LineWriter(reactor, self.store, lambda: bool(self.running), health, self.name)

    # ---- lifecycle ------------------------------------------------------------------------

    def startService(self) -> defer.Deferred[None]:
        super().startService()
        bus = self.bus
        self._bus_subs += [
            bus.subscribe(st.AgentStateChanged, self._agent_state_changed),
            bus.subscribe(AgentConfigApplied, self._config_changed),
            bus.subscribe(QueueConfigApplied, self._config_changed),
            bus.subscribe(DayStarted, self._new_day),
        ]
        d = defer.ensureDeferred(self._start())
        d.addErrback(self._not_started)
        return d

    def _not_started(self, failure: Failure) -> None:
        """Logged and told to the health registry: every chat is refused as "starting"
        meanwhile, and the status page must not say the part is fine."""
        log.failure("the channels' engine did not start", failure)
        if self.health is not None:
            self.health.report(self.name, DOWN, f"failed: {failure.getErrorMessage()}")

    async def _start(self) -> None:
        await self.acd.when_loaded()
        await self.store.seed_ids()
        self.topic_rows = await self.store.topics()
        self._configure()
        self.acd.set_call_gate(self._call_gate)
        await self._restore_today()
        await self._restore()
        self.ready = True
        self._dispatch()
        log.info(
            "channels ready: {queues} chat and e-mail queues, {open} conversations restored",
            queues=len(self.router.queues),
            open=len(self.conversations),
        )

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        for sub in self._bus_subs:
            self.bus.unsubscribe(sub)
        self._bus_subs.clear()
        # The call gate stays: the daemon stops the ACD after us, and an agent's open
        # chats (still open, restored at the next start) keep calls away until then.
        self.ready = False  # a timer that still fires finds nothing to do
        for timer in self._later:
            if timer.active():
                timer.cancel()
        self._later.clear()
        for timers in (self._offer_timers, self._wrapup_timers, self._wait_timers):
            for timer in timers.values():
                if timer.active():
                    timer.cancel()
            timers.clear()
        self.lines.try_now()  # a last try each
        d = self.writes.flushed()
        self.store.flush_now()  # what lingers for company goes now (the stop waits for it)
        return d

    def _configure(self) -> None:
        """The router from the ACD's chat and e-mail queues and its agents, as they are."""
        queues = list(self.acd.channel_queues.values())
        agents = [
            AgentSlots(
                a.id,
                skills=dict(a.skills),
                max_chats=max(0, a.max_chats),
                chat_on_call=a.chat_on_call,
                state=a.state,
            )
            for a in self.acd.agents.values()
        ]
        self.router.configure(queues, agents)
        for q in queues:
            s = self.stats.get(q.id)
            if s is None:
                self.stats[q.id] = QueueStats(q.id, q.name, q.service_level_s)
            else:
                s.name, s.threshold_s = q.name, q.service_level_s

    def _config_changed(self, event: AgentConfigApplied | QueueConfigApplied) -> None:
        if not self.ready:
            return
        self._configure()
        if isinstance(event, AgentConfigApplied):
            self._load_changed(event.agent_id)
        else:
            # A queue that takes no chats or e-mails any more: its line is over.
            for conv in list(self.conversations.values()):
                if conv.state == WAITING and conv.queue_id not in self.router.queues:
                    self._finish(conv, "queue_gone", abandoned=False)
        self._dispatch()

    async def _restore(self) -> None:
        now = self.reactor.seconds()
        for conv in await self.store.open_conversations():
            conv.seq = conv.id
            if conv.state == WRAP_UP or conv.queue_id not in self.router.queues:
                reason = conv.end_reason or "restart"
                self._write(
                    conv.id, state=ENDED, ended_at=conv.ended_at or _utc(now), end_reason=reason
                )
                continue
            self.conversations[conv.id] = conv
            agent = self.acd.agents.get(conv.agent_id) if conv.agent_id is not None else None
            if conv.state == ACTIVE and agent is not None and agent.state != st.LOGGED_OUT:
                self.router.hold(agent.id, conv.id)
                self._load_changed(agent.id)
                continue
            was = conv.state
            # Its wait goes on from its arrival (the service level counts from there); one
            # answered before is not counted again.
            conv.state, conv.offered_to = WAITING, ()
            answered = conv.answered_at is not None
            conv.queued_at = 0.0 if answered else min(now, conv.created_at.timestamp())
            if was != WAITING:
                self._write(conv.id, state=WAITING)
                self._event(conv.id, "restored", detail=was)
            self._into_line(conv, count=False)

    async def _restore_today(self) -> None:
        """Today's figures after a restart, from the conversations that came today (local
        midnight, as the ACD's): each counts in the queue it is in now (a transfer to
        another queue counted it there); answered within the queue's service level from
        its arrival; abandoned when the customer left before an answer."""
        now = self._now()
        for row in await self.store.since(_utc(day_start(now))):
            s = self.stats.get(row.queue_id) if row.queue_id is not None else None
            if s is None:
                continue
            s.offered += 1
            if row.answered_at is not None:
                s.answer(max(0.0, (row.answered_at - row.created_at).total_seconds()))
            elif (
                row.state == ENDED
                and row.end_reason not in NOT_ABANDONED
                and row.ended_at is not None
            ):
                s.abandon(max(0.0, (row.ended_at - row.created_at).total_seconds()))

    def _new_day(self, _event: DayStarted) -> None:
        for qid, s in self.stats.items():
            s.new_day()
            self.bus.publish(ChannelQueueStatsChanged(qid))

    # ---- helpers --------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self.reactor.seconds())

    def _conversation(self, conversation_id: int) -> Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None:
            raise ChannelError(N_("this conversation is over or does not exist"))
        return conv

    def _agent_name(self, agent_id: int | None) -> str:
        agent = self.acd.agents.get(agent_id) if agent_id is not None else None
        return agent.name if agent is not None else ""

    def _queue_ref(self, queue_id: int | None) -> dict[str, Any] | None:
        q = self.router.queues.get(queue_id) if queue_id is not None else None
        if q is None:
            return None
        return {"id": q.id, "name": q.display_name or q.name}

    def _write(self, conversation_id: int, **values: Any) -> None:
        d = self.writes.run(conversation_id, lambda: self.store.update(conversation_id, **values))
        d.addErrback(
            lambda f: log.failure("conversation {id}: a write failed", f, id=conversation_id)
        )

    def _event(
        self,
        conversation_id: int,
        kind: str,
        *,
        agent_id: int | None = None,
        queue_id: int | None = None,
        user: str = "",
        detail: str = "",
    ) -> None:
        at = _utc(self._now())
        d = self.writes.run(
            conversation_id,
            lambda: self.store.add_event(
                conversation_id,
                kind,
                at,
                agent_id=agent_id,
                queue_id=queue_id,
                user=user,
                detail=detail,
            ),
        )
        d.addErrback(
            lambda f: log.failure(
                "conversation {id}: an event's write failed", f, id=conversation_id
            )
        )

    def _call_gate(self, agent_id: int) -> bool:
        agent = self.acd.agents.get(agent_id)
        if agent is None:
            return True
        return capacity.may_take_call(self.router.open_count(agent_id), agent.call_with_chats)

    def _load_changed(self, agent_id: int) -> None:
        a = self.router.agents.get(agent_id)
        if a is None:
            return
        self.acd.gate_changed(agent_id)
        self.bus.publish(AgentLoadChanged(agent_id, a.open, a.max_chats))

    def _stats_changed(self, queue_id: int | None) -> None:
        if queue_id is not None and queue_id in self.stats:
            self.bus.publish(ChannelQueueStatsChanged(queue_id))

    def _state_event(self, conv: Conversation) -> dict[str, Any]:
        agent = None
        if conv.agent_id is not None and conv.state in (ACTIVE, WRAP_UP):
            agent = {"id": conv.agent_id, "name": self._agent_name(conv.agent_id)}
        position = self.router.position(conv.id) if conv.state == WAITING else None
        return {
            "type": "state",
            "conversation": conv.id,
            "state": conv.state,
            "agent": agent,
            "queue": self._queue_ref(conv.queue_id),
            "position": position,
        }

    def _set_state(self, conv: Conversation, new: str, **values: Any) -> None:
        """Move a conversation, write it, tell its listeners and the bus."""
        old = conv.state
        conv.state = new
        self._write(conv.id, state=new, **values)
        event = self._state_event(conv)
        # The customer sees waiting, active and ended; an offer is the staff's business.
        self.listeners.emit(conv, event, customer=new not in (OFFERED, WRAP_UP))
        self.bus.publish(
            ConversationStateChanged(
                conv.id, conv.media, conv.queue_id, conv.agent_id, old, new, self._now()
            )
        )

    def _line_moved(self, queue_id: int | None) -> None:
        """The line of a queue moved: its waiting customers hear their new place (and the
        wallboard its figures)."""
        if queue_id is None:
            return
        self._stats_changed(queue_id)
        for i, cid in enumerate(self.router.waiting(queue_id), start=1):
            conv = self.conversations.get(cid)
            if conv is None or not self.listeners.listened(cid):
                continue
            event = self._state_event(conv)
            event["position"] = i
            self.listeners.to_conversation(cid, event)

    # ---- routing --------------------------------------------------------------------------

    def _into_line(self, conv: Conversation, *, count: bool = True) -> None:
        """Into its queue's line (its priority and arrival order kept)."""
        assert conv.queue_id is not None
        q = self.router.queues[conv.queue_id]
        conv.state, conv.offered_to = WAITING, ()
        self.router.enqueue(conv.id, q.id, conv.priority, conv.seq)
        if count:  # a new wait in this queue (back in line, the first wait goes on)
            conv.queued_at = self._now()
            self.stats[q.id].offered += 1
            self._stats_changed(q.id)
        self._cancel(self._wait_timers, conv.id)
        if conv.media == "chat" and q.max_wait_s > 0 and not conv.left_message_offered:
            self._wait_timers[conv.id] = self.reactor.callLater(
                q.max_wait_s, self._waited_too_long, conv.id
            )

    def _dispatch(self, exclude: Iterable[int] = ()) -> None:
        """Offer what waits. ``exclude``: agents who just let a conversation go: others
        first; then they may get it again, as with calls."""
        if not self.ready:
            return
        if self._hold:  # (the step dispatches at its end)
            return
        left_out = tuple(exclude)
        for offer in self.router.dispatch(left_out):
            self._offer(offer)
        if left_out:  # nobody else took it: those who let it go may again
            for offer in self.router.dispatch():
                self._offer(offer)

    def _dispatch_later(self, delay_s: float) -> None:
        """A dispatch in ``delay_s`` (each transfer's own: a second one replaces none)."""

        def fire() -> None:
            self._later.discard(timer)
            self._dispatch()

        timer = self.reactor.callLater(delay_s, fire)
        self._later.add(timer)

    def _offer(self, offer: RouteOffer) -> None:
        conv = self.conversations[offer.conversation_id]
        self._cancel(self._wait_timers, conv.id)
        conv.offered_to = offer.agents
        timeout = max(1, int(self.config.offer_timeout_s))
        self._offer_timers[conv.id] = self.reactor.callLater(
            timeout, self._offer_timed_out, conv.id
        )
        self._set_state(conv, OFFERED)
        event = {
            "type": "offer",
            "conversation": conv.id,
            "media": conv.media,
            "name": conv.name,
            "subject": conv.subject,
            "queue": self._queue_ref(conv.queue_id),
            "timeout_s": timeout,
        }
        for agent_id in offer.agents:
            self._event(conv.id, "offered", agent_id=agent_id, queue_id=conv.queue_id)
            self.listeners.to_agent(agent_id, event)
            self._load_changed(agent_id)
        self._line_moved(conv.queue_id)

    def _withdraw(self, conv: Conversation, agent_id: int) -> None:
        """An agent's offer of ``conv`` is over (taken by another, declined, let go,
        the agent away): its slot is free."""
        conv.offered_to = tuple(a for a in conv.offered_to if a != agent_id)
        self.router.release(agent_id, conv.id)
        self.listeners.to_agent(agent_id, {"type": "offer_withdrawn", "conversation": conv.id})
        self._load_changed(agent_id)

    def _back_in_line(self, conv: Conversation, exclude: Iterable[int] = ()) -> None:
        """Nobody took it: back in its line with its place, others first."""
        self._cancel(self._offer_timers, conv.id)
        if conv.queue_id not in self.router.queues:
            self._finish(conv, "queue_gone", abandoned=False)
            return
        self._into_line(conv, count=False)
        self._set_state(conv, WAITING)
        self._line_moved(conv.queue_id)
        self._dispatch(exclude)

    def _offer_timed_out(self, conversation_id: int) -> None:
        self._offer_timers.pop(conversation_id, None)
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.state != OFFERED:
            return
        q = self.router.queues.get(conv.queue_id) if conv.queue_id is not None else None
        missed = conv.offered_to
        self._hold += 1
        try:
            for agent_id in missed:
                self._event(conv.id, "missed", agent_id=agent_id, queue_id=conv.queue_id)
                self._withdraw(conv, agent_id)
                self.misses[agent_id] = self.misses.get(agent_id, 0) + 1
            self._back_in_line(conv, missed)
            for agent_id in missed:
                if (
                    q is not None
                    and q.auto_pause_misses
                    and self.misses[agent_id] >= q.auto_pause_misses
                ):
                    self._auto_pause(agent_id)
        finally:
            self._hold -= 1
        self._dispatch(missed)

    def _auto_pause(self, agent_id: int) -> None:
        agent = self.acd.agents.get(agent_id)
        if agent is None or agent.state not in (st.AVAILABLE, st.WRAP_UP):
            return  # on a call (paused after it by the ACD's rules, not ours) or away
        try:
            self.acd.pause(agent_id, "missed_calls")
        except Exception as exc:
            log.warn("agent {id}: not paused after missed chats: {exc}", id=agent_id, exc=exc)

    def _waited_too_long(self, conversation_id: int) -> None:
        self._wait_timers.pop(conversation_id, None)
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.state != WAITING:
            return
        conv.left_message_offered = True
        self._event(conv.id, "max_wait", queue_id=conv.queue_id)
        self.listeners.emit(
            conv, {"type": "overflow", "conversation": conv.id, "reason": "max_wait"}
        )
        text = _line("max_wait", conv.language)
        self._system_line(conv, text)

    def _system_line(self, conv: Conversation, text: str, internal: bool = False) -> None:
        d = self._insert(conv, sender="system", author="", body=text, internal=internal)
        d.addErrback(
            lambda f: log.failure("conversation {id}: a system line failed", f, id=conv.id)
        )

    def _insert(
        self,
        conv: Conversation,
        *,
        sender: str,
        author: str,
        body: str,
        internal: bool = False,
        agent_id: int | None = None,
        html: str = "",
        attachment_ids: Iterable[int] = (),
        message_id: str | None = None,
        in_reply_to: str | None = None,
    ) -> defer.Deferred[Message]:
        """A chat line (with no attachment) gets its id here and goes to the listeners at
        once, its row written behind it (after the conversation's writes before it, retried
        until written: acd/channels/line_writer.py). An e-mail, or a line with attachments
        (their rows go out with it), is stored first and then sent."""
        at = _utc(self._now())
        ids = tuple(attachment_ids)
        if conv.media == "chat" and not ids and self.store.ids.seeded:
            if self.lines.full:
                log.error(
                    "conversation {id}: a line refused: {n} lines not written",
                    id=conv.id,
                    n=len(self.lines.unwritten),
                )
                return defer.fail(ChannelError(N_("messages cannot be taken now")))
            line = Message(
                id=self.store.ids.take(),
                conversation_id=conv.id,
                sender=sender,
                author=author[:128],
                body=body,
                created_at=at,
                html=html,
                internal=internal,
                agent_id=agent_id,
                message_id=message_id[:255] if message_id else None,
                in_reply_to=in_reply_to[:255] if in_reply_to else None,
            )
            self.lines.keep(line)
            self.writes.run(conv.id, lambda: defer.ensureDeferred(self.lines.write(line)))
            self.listeners.emit(conv, line.to_event(), customer=not internal)
            return defer.succeed(line)
        d = self.writes.run(
            conv.id,
            lambda: self.store.add_message(
                conv.id,
                sender=sender,
                author=author,
                body=body,
                created_at=at,
                html=html,
                internal=internal,
                agent_id=agent_id,
                message_id=message_id,
                in_reply_to=in_reply_to,
                attachment_ids=ids,
            ),
        )

        def sent(message: Message) -> Message:
            self.listeners.emit(conv, message.to_event(), customer=not internal)
            return message

        return d.addCallback(sent)

    def _cancel(self, timers: dict[int, Any], key: int) -> None:
        timer = timers.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _finish(self, conv: Conversation, reason: str, *, abandoned: bool) -> None:
        """The conversation is over for the customer: out of line and offers; wrap-up for
        its agent (the queue's wrapup_s) or ended now."""
        now = self._now()
        self._cancel(self._offer_timers, conv.id)
        self._cancel(self._wait_timers, conv.id)
        queue_id = conv.queue_id
        if self.router.dequeue(conv.id):
            self._line_moved(queue_id)
        for agent_id in conv.offered_to:
            self._withdraw(conv, agent_id)
        if abandoned and queue_id in self.stats and conv.queued_at > 0:
            self.stats[queue_id].abandon(now - conv.queued_at)
            self._stats_changed(queue_id)
        conv.end_reason = reason[:24]
        conv.ended_at = _utc(now)
        self._event(conv.id, "ended", agent_id=conv.agent_id, queue_id=queue_id, detail=reason)
        self.listeners.emit(
            conv, {"type": "ended", "conversation": conv.id, "reason": conv.end_reason}
        )
        q = self.router.queues.get(queue_id) if queue_id is not None else None
        held = (
            conv.agent_id is not None
            and conv.id in self.router.agents.get(conv.agent_id, AgentSlots(-1)).held
        )
        if held and conv.state == ACTIVE and q is not None and q.wrapup_s > 0:
            self._set_state(conv, WRAP_UP, ended_at=conv.ended_at, end_reason=conv.end_reason)
            self._wrapup_timers[conv.id] = self.reactor.callLater(
                q.wrapup_s, self._wrapup_over, conv.id
            )
            return
        self._close(conv)

    def _close(self, conv: Conversation) -> None:
        """Ended: the agent's slot is free, the conversation leaves memory."""
        self._cancel(self._wrapup_timers, conv.id)
        agent_id = conv.agent_id
        self._set_state(conv, ENDED, ended_at=conv.ended_at, end_reason=conv.end_reason)
        self.conversations.pop(conv.id, None)
        self._joined.pop(conv.id, None)
        self.router.forget(conv.id)
        if agent_id is not None and conv.answered_at is not None:
            talk = (
                max(0.0, conv.ended_at.timestamp() - conv.answered_at.timestamp())
                if conv.ended_at
                else 0.0
            )
            self.router.release(agent_id, conv.id, int(talk * 1_000_000))
            self._load_changed(agent_id)
        elif agent_id is not None:
            self.router.release(agent_id, conv.id)
            self._load_changed(agent_id)
        self._stats_changed(conv.queue_id)
        self._dispatch()

    def _wrapup_over(self, conversation_id: int) -> None:
        self._wrapup_timers.pop(conversation_id, None)
        conv = self.conversations.get(conversation_id)
        if conv is not None and conv.state == WRAP_UP:
            self._close(conv)

    def _agent_state_changed(self, event: st.AgentStateChanged) -> None:
        """The ACD moved an agent: its availability for conversations follows; a pause or
        logout withdraws its offers; a logout puts its open chats back in line."""
        if event.agent_id not in self.router.agents:
            return
        self.router.set_state(event.agent_id, event.new)
        if not self.ready:
            return
        if event.new in (st.PAUSED, st.LOGGED_OUT):
            self._hold += 1
            try:
                for conv in list(self.conversations.values()):
                    if conv.state == OFFERED and event.agent_id in conv.offered_to:
                        self._withdraw(conv, event.agent_id)
                        if not conv.offered_to:
                            self._back_in_line(conv, (event.agent_id,))
                    elif event.new == st.LOGGED_OUT and conv.agent_id == event.agent_id:
                        if conv.state == ACTIVE:
                            self._agent_gone(conv)
                        elif conv.state == WRAP_UP:
                            self._close(conv)
            finally:
                self._hold -= 1
        self._load_changed(event.agent_id)
        self._dispatch()

    def _agent_gone(self, conv: Conversation) -> None:
        agent_id = conv.agent_id
        assert agent_id is not None
        self.router.release(agent_id, conv.id)
        self._event(conv.id, "agent_left", agent_id=agent_id, queue_id=conv.queue_id)
        self.listeners.emit(
            conv,
            {
                "type": "state",
                "conversation": conv.id,
                "state": "wrap_up",
                "agent": None,
                "queue": None,
                "position": None,
            },
            customer=False,
        )
        self._system_line(conv, _line("agent_left", conv.language))
        self._back_in_line(conv, (agent_id,))

    # ---- customers' side ------------------------------------------------------------------

    def topics(self, language: str) -> list[Topic]:
        """The enabled topics of chat queues, in their order, labelled in ``language``."""
        zh = language.lower().startswith("zh")
        out = []
        for t in self.topic_rows:
            if not t.enabled or t.queue_id not in self.router.queues:
                continue
            label = (t.label_zh if zh else t.label_en) or t.label_en or t.label_zh or t.name
            out.append(Topic(t.id, t.name, label, t.queue_id, self._on_duty(t.queue_id)))
        return out

    async def reload_topics(self) -> None:
        """The admin changed the topics: read them again."""
        self.topic_rows = await self.store.topics()

    def _on_duty(self, queue_id: int | None) -> bool:
        q = self.router.queues.get(queue_id) if queue_id is not None else None
        if q is None:
            return False
        return any(
            a.state != st.LOGGED_OUT and self.acd.serves(a, q) and a.max_chats > 0
            for a in self.acd.agents.values()
        )

    async def _topic(self, topic_id: int) -> TopicRow:
        found = next((t for t in self.topic_rows if t.id == topic_id), None)
        if found is None:
            await self.reload_topics()
            found = next((t for t in self.topic_rows if t.id == topic_id), None)
        if found is None or not found.enabled or found.queue_id not in self.router.queues:
            raise ChannelError(N_("no such topic"))
        return found

    async def _customer(
        self, customer_id: int | None, phone: str, email: str
    ) -> tuple[int | None, int]:
        """The customer's id and its class's priority (found by number, then e-mail)."""
        klass: str | None = None
        if customer_id is None and phone and self.customers is not None:
            try:
                found = await self.customers.by_number(phone)
            except Exception:
                log.failure("a chat's customer lookup by number failed")
                found = None
            if found is not None:
                customer_id, klass = found.id, found.customer_class
        if customer_id is None and email and "@" in email:
            hit = await self.store.customer_by_email(email)
            if hit is not None:
                customer_id, klass = hit
        elif customer_id is not None and klass is None:
            klass = await self.store.customer_class(customer_id)
        priority = 0
        if klass and self.customers is not None:
            priority = int(self.customers.class_priority(klass))
        return customer_id, priority

    def _check_text(self, text: str, attachments: tuple[int, ...]) -> str:
        if not isinstance(text, str):
            raise ChannelError(N_("a message is text"))
        text = text.replace("\x00", "")
        if len(text) > self.config.max_message_chars:
            raise ChannelError(
                N_("a message has {n} characters at most", n=self.config.max_message_chars)
            )
        if not text.strip() and not attachments:
            raise ChannelError(N_("the message is empty"))
        return text

    async def start_chat(
        self,
        *,
        topic_id: int,
        name: str,
        phone: str,
        email: str,
        language: str,
        origin: str,
        customer_id: int | None = None,
    ) -> Conversation:
        self._check_ready()
        topic = await self._topic(topic_id)
        assert topic.queue_id is not None
        if not self._on_duty(topic.queue_id):
            raise ChannelError(N_("nobody on duty"))
        q = self.router.queues[topic.queue_id]
        if q.max_len and len(self.router.waiting(q.id)) >= q.max_len:  # the queue's limit
            raise ChannelError(N_("every agent is busy: please leave a message"))
        customer_id, class_priority = await self._customer(customer_id, phone, email)
        priority = max(self.acd.priority_of(phone), class_priority) if phone else class_priority
        zh = language.lower().startswith("zh")
        subject = (topic.label_zh if zh else topic.label_en) or topic.name
        conv = await self.store.create(
            media="chat",
            state=WAITING,
            queue_id=topic.queue_id,
            topic_id=topic.id,
            customer_id=customer_id,
            name=name,
            phone=phone,
            email=email,
            subject=subject,
            language=language,
            origin=origin,
            priority=priority,
            created_at=_utc(self._now()),
        )
        return self._joined_line(conv)

    def _joined_line(self, conv: Conversation) -> Conversation:
        if conv.queue_id not in self.router.queues:  # the queue changed while we wrote
            self._write(conv.id, state=ENDED, ended_at=_utc(self._now()), end_reason="queue_gone")
            raise ChannelError(N_("nobody on duty"))
        conv.seq = conv.id
        self.conversations[conv.id] = conv
        self._event(conv.id, "queued", queue_id=conv.queue_id, detail=f"priority {conv.priority}")
        self._into_line(conv)
        self.bus.publish(
            ConversationStateChanged(
                conv.id, conv.media, conv.queue_id, None, "", WAITING, self._now()
            )
        )
        self._dispatch()
        return dataclasses.replace(conv)

    def _check_ready(self) -> None:
        if not self.ready:
            raise ChannelError(N_("the chat service is starting: try again in a moment"))

    async def leave_message(
        self,
        *,
        topic_id: int,
        name: str,
        phone: str,
        email: str,
        language: str,
        origin: str,
        text: str,
    ) -> int:
        text = self._check_text(text, ())
        topic = await self._topic(topic_id)
        customer_id, priority = await self._customer(None, phone, email)
        now = _utc(self._now())
        conv = await self.store.create(
            media="chat",
            state=MESSAGE,
            queue_id=topic.queue_id,
            topic_id=topic.id,
            customer_id=customer_id,
            name=name,
            phone=phone,
            email=email,
            subject=(topic.label_zh if language.lower().startswith("zh") else topic.label_en)
            or topic.name,
            language=language,
            origin=origin,
            priority=priority,
            created_at=now,
            ended_at=now,
            end_reason="message",
        )
        await self.store.add_message(
            conv.id, sender="customer", author=name, body=text, created_at=now
        )
        type_key = await self.store.ticket_type(TICKET_TYPE)
        if type_key is None:
            raise ChannelError(N_("messages cannot be taken now"))
        contact = " ".join(x for x in (name, phone, email) if x)
        first = " ".join(text.split())[:80]
        subject = f"{contact[:60]}: {first}" if contact else first
        try:
            ticket_id: int = await self.tickets.create(
                ACTOR,
                type_key=type_key,
                subject=subject[:200] or topic.name,
                body=text,
                customer_id=customer_id,
                source="chat",
            )
        except ValueError:  # the message is kept in its conversation
            log.failure("conversation {id}: the message's ticket was refused", id=conv.id)
            raise ChannelError(N_("messages cannot be taken now")) from None
        await self.store.update(conv.id, ticket_id=ticket_id)
        await self.store.add_event(
            conv.id, "ticket", now, queue_id=topic.queue_id, detail=str(ticket_id)
        )
        return ticket_id

    async def customer_says(
        self, conversation_id: int, text: str, attachment_ids: Iterable[int] = ()
    ) -> Message:
        conv = self._conversation(conversation_id)
        if conv.state == WRAP_UP:
            raise ChannelError(N_("this conversation is over"))
        ids = tuple(attachment_ids)
        text = self._check_text(text, ids)
        return await self._insert(
            conv, sender="customer", author=conv.name, body=text, attachment_ids=ids
        )

    def customer_typing(self, conversation_id: int, typing: bool) -> None:
        conv = self._conversation(conversation_id)
        event = {
            "type": "typing",
            "conversation": conv.id,
            "side": CUSTOMER,
            "typing": bool(typing),
        }
        self.listeners.emit(conv, event, customer=False)

    async def customer_read(self, conversation_id: int, up_to_message_id: int) -> None:
        conv = self._conversation(conversation_id)
        up_to = _message_id(up_to_message_id)
        await self.writes.run(
            conv.id,
            lambda: self.store.mark_read(
                conv.id, ("agent", "supervisor", "system"), up_to, _utc(self._now())
            ),
        )
        self.listeners.emit(
            conv,
            {"type": "read", "conversation": conv.id, "side": CUSTOMER, "up_to": up_to},
            customer=False,
        )

    async def customer_left(self, conversation_id: int, reason: str = "customer_left") -> None:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.state == WRAP_UP:
            return
        self._finish(conv, reason, abandoned=conv.state in (WAITING, OFFERED))

    async def start_email_thread(
        self,
        *,
        queue_id: int,
        account_id: int,
        name: str,
        email: str,
        subject: str,
        language: str,
        thread_key: str,
        due_at: dt.datetime | None,
        customer_id: int | None = None,
    ) -> Conversation:
        self._check_ready()
        if queue_id not in self.router.queues:
            raise ChannelError(N_("no such e-mail queue"))
        customer_id, priority = await self._customer(customer_id, "", email)
        conv = await self.store.create(
            media="email",
            state=WAITING,
            queue_id=queue_id,
            account_id=account_id,
            customer_id=customer_id,
            name=name,
            email=email,
            subject=subject,
            language=language,
            thread_key=thread_key,
            due_at=due_at,
            priority=priority,
            created_at=_utc(self._now()),
        )
        return self._joined_line(conv)

    async def email_received(self, conversation_id: int, message: NewMessage) -> Message:
        """A mail of a thread. A thread that was over (or in its agent's wrap-up) opens
        again, back in its queue."""
        self._check_ready()  # (restored threads are not in memory yet: it would be reopened)
        conv = self.conversations.get(conversation_id)
        if conv is not None and conv.state == WRAP_UP:
            self._close(conv)  # the agent's wrap-up ends: the new mail needs an answer
            self._reopen(conv)
        elif conv is None:
            stored = await self.store.get(conversation_id)
            if stored is None or stored.media != "email":
                raise ChannelError(N_("no such e-mail thread"))
            conv = self.conversations.get(conversation_id)  # (it may have come back meanwhile)
            if conv is None:
                conv = stored
                self._reopen(conv)
        return await self._insert(
            conv,
            sender="customer",
            author=message.author or conv.name,
            body=message.body,
            html=message.html,
            attachment_ids=message.attachment_ids,
            message_id=message.message_id,
            in_reply_to=message.in_reply_to,
        )

    def _reopen(self, conv: Conversation) -> None:
        if conv.queue_id not in self.router.queues:
            raise ChannelError(N_("the thread's queue takes no e-mail now"))
        conv.seq, conv.ended_at, conv.end_reason = conv.id, None, ""
        # no agent's while it waits: its end (or its state) would go to the old agent's desk
        conv.agent_id = None
        self.conversations[conv.id] = conv
        self._write(conv.id, state=WAITING, agent_id=None, ended_at=None, end_reason="")
        self._event(conv.id, "reopened", queue_id=conv.queue_id)
        self._into_line(conv)
        self._set_state(conv, WAITING)
        self._dispatch()

    def set_email_sender(self, sender: EmailSender | None) -> None:
        self.email_sender = sender

    async def add_attachment(
        self, conversation_id: int, *, file_name: str, content_type: str, size: int, sha256: str
    ) -> Any:
        """The row of a file stored (by its hash) for this conversation; the next message
        that names its id carries it."""
        if conversation_id not in self.conversations:
            stored = await self.store.get(conversation_id)
            if stored is None:
                raise ChannelError(N_("this conversation is over or does not exist"))
        return await self.store.add_attachment(
            conversation_id,
            file_name=file_name,
            content_type=content_type,
            size=size,
            sha256=sha256,
            created_at=_utc(self._now()),
        )

    # ---- agents' side ---------------------------------------------------------------------

    def _offered(self, agent_id: int, conversation_id: int) -> Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.state != OFFERED or agent_id not in conv.offered_to:
            raise ChannelError(N_("this conversation is no longer offered to you"))
        return conv

    def _mine(self, agent_id: int, conversation_id: int) -> Conversation:
        conv = self.conversations.get(conversation_id)
        if conv is None or conv.agent_id != agent_id or conv.state not in (ACTIVE, WRAP_UP):
            raise ChannelError(N_("this conversation is not yours"))
        return conv

    async def accept(self, agent_id: int, conversation_id: int) -> None:
        conv = self._offered(agent_id, conversation_id)
        self._cancel(self._offer_timers, conv.id)
        for other in conv.offered_to:
            if other != agent_id:
                self._withdraw(conv, other)
        now = self._now()
        conv.offered_to = ()
        conv.agent_id = agent_id
        self.misses[agent_id] = 0
        first = conv.answered_at is None
        if first:
            conv.answered_at = _utc(now)
        q = self.router.queues.get(conv.queue_id) if conv.queue_id is not None else None
        if q is not None and conv.queued_at > 0:  # from the line (a transfer's offer is not)
            self.stats[q.id].answer(now - conv.queued_at)
            self._stats_changed(q.id)
        conv.queued_at = 0.0
        self._event(conv.id, "accepted", agent_id=agent_id, queue_id=conv.queue_id)
        values: dict[str, Any] = {"agent_id": agent_id}
        if first:
            values["answered_at"] = conv.answered_at
        self._set_state(conv, ACTIVE, **values)
        self._load_changed(agent_id)

    async def decline(self, agent_id: int, conversation_id: int) -> None:
        conv = self._offered(agent_id, conversation_id)
        self._event(conv.id, "declined", agent_id=agent_id, queue_id=conv.queue_id)
        self._withdraw(conv, agent_id)
        if not conv.offered_to:
            self._back_in_line(conv, (agent_id,))

    async def agent_says(
        self, agent_id: int, conversation_id: int, text: str, attachment_ids: Iterable[int] = ()
    ) -> Message:
        conv = self._mine(agent_id, conversation_id)
        if conv.state != ACTIVE:
            raise ChannelError(N_("this conversation is over"))
        ids = tuple(attachment_ids)
        text = self._check_text(text, ids)
        name = self._agent_name(agent_id)
        message = await self._insert(
            conv, sender="agent", author=name, body=text, agent_id=agent_id, attachment_ids=ids
        )
        if conv.first_reply_at is None:
            conv.first_reply_at = message.created_at
            self._write(conv.id, first_reply_at=message.created_at)
        if conv.media == "email":
            if self.email_sender is None:
                raise ChannelError(N_("the reply is kept, but e-mail cannot be sent now"))
            try:
                await self.email_sender.send_reply(dataclasses.replace(conv), message, name)
            except Exception:
                log.failure("conversation {id}: the reply's e-mail failed", id=conv.id)
                self._event(conv.id, "send_failed", agent_id=agent_id, detail=str(message.id))
                raise ChannelError(
                    N_("the reply is kept, but its e-mail could not be sent")
                ) from None
        return message

    def agent_typing(self, agent_id: int, conversation_id: int, typing: bool) -> None:
        conv = self._mine(agent_id, conversation_id)
        event = {"type": "typing", "conversation": conv.id, "side": STAFF, "typing": bool(typing)}
        self.listeners.emit(conv, event, staff=False)

    async def agent_read(self, agent_id: int, conversation_id: int, up_to: int) -> None:
        conv = self._mine(agent_id, conversation_id)
        mark = _message_id(up_to)
        await self.writes.run(
            conv.id, lambda: self.store.mark_read(conv.id, ("customer",), mark, _utc(self._now()))
        )
        self.listeners.emit(
            conv,
            {"type": "read", "conversation": conv.id, "side": STAFF, "up_to": mark},
            staff=False,
        )

    async def transfer(
        self,
        agent_id: int,
        conversation_id: int,
        *,
        to_agent_id: int | None = None,
        to_queue_id: int | None = None,
        note: str = "",
    ) -> None:
        conv = self._mine(agent_id, conversation_id)
        if conv.state != ACTIVE:
            raise ChannelError(N_("this conversation is over"))
        if (to_agent_id is None) == (to_queue_id is None):
            raise ChannelError(N_("transfer to one agent or one queue"))
        note = str(note)[:400]
        if to_agent_id is not None:
            if to_agent_id == agent_id:
                raise ChannelError(N_("this conversation is yours already"))
            if not self.router.may_take(to_agent_id):
                raise ChannelError(N_("that agent cannot take a conversation now"))
        elif to_queue_id not in self.router.queues:
            raise ChannelError(N_("no such chat or e-mail queue"))
        now = self._now()
        talk = now - conv.answered_at.timestamp() if conv.answered_at is not None else 0.0
        self.router.release(agent_id, conv.id, int(max(0.0, talk) * 1_000_000))
        # the history line's text (a conversation event, not a health detail)
        where = f"to agent {to_agent_id}" if to_agent_id is not None else f"to queue {to_queue_id}"
        if note:
            where += f": {note}"
        self._event(conv.id, "transferred", agent_id=agent_id, queue_id=to_queue_id, detail=where)
        event = {
            "type": "transferred",
            "conversation": conv.id,
            "from_agent": {"id": agent_id, "name": self._agent_name(agent_id)},
            "to_agent": (
                {"id": to_agent_id, "name": self._agent_name(to_agent_id)}
                if to_agent_id is not None
                else None
            ),
            "to_queue": self._queue_ref(to_queue_id),
            "note": note,
        }
        self.listeners.emit(conv, event, customer=False)
        if to_agent_id is not None:
            self.listeners.to_agent(to_agent_id, event)
        if note:
            # kept for the staff (internal: never the customer's), so the desk that takes it
            # sees the note in the history it loads, after a reload too
            to = (
                self._agent_name(to_agent_id)
                if to_agent_id is not None
                else (self._queue_ref(to_queue_id) or {}).get("name", "")
            )
            self._system_line(conv, f"{self._agent_name(agent_id)} → {to}: {note}", internal=True)
        conv.agent_id = None
        self._load_changed(agent_id)
        if to_agent_id is not None:
            self._system_line(
                conv, _line("transferred_agent", conv.language, name=self._agent_name(to_agent_id))
            )
            self.router.hold(to_agent_id, conv.id)
            self._offer(RouteOffer(conv.id, conv.queue_id or 0, (to_agent_id,)))
        else:
            assert to_queue_id is not None
            q = self.router.queues[to_queue_id]
            self._system_line(
                conv, _line("transferred_queue", conv.language, name=q.display_name or q.name)
            )
            old_queue = conv.queue_id
            conv.queue_id = to_queue_id
            self._write(conv.id, queue_id=to_queue_id, agent_id=None)
            self._into_line(conv)
            self._set_state(conv, WAITING)
            self._stats_changed(old_queue)
            # The agent passed it on: others first, and only after an offer's time the
            # agent itself again (when nobody else serves the queue), whichever dispatch
            # comes meanwhile (a bar each dispatch reads, not this one's exclusion).
            grace_s = self.config.offer_timeout_s
            self.router.bar(conv.id, agent_id, self.router.now_us() + int(grace_s * 1_000_000))
            self._dispatch()
            self._dispatch_later(grace_s)

    async def end(self, agent_id: int, conversation_id: int) -> None:
        conv = self._mine(agent_id, conversation_id)
        if conv.state != ACTIVE:
            raise ChannelError(N_("this conversation is over"))
        self._finish(conv, "agent_ended", abandoned=False)

    def wrapup_done(self, agent_id: int, conversation_id: int) -> None:
        conv = self._mine(agent_id, conversation_id)
        if conv.state != WRAP_UP:
            raise ChannelError(N_("this conversation is not in wrap-up"))
        self._close(conv)

    def conversations_of(self, agent_id: int) -> list[Conversation]:
        return [
            dataclasses.replace(c)
            for c in self.conversations.values()
            if (c.state == OFFERED and agent_id in c.offered_to)
            or (c.state in (ACTIVE, WRAP_UP) and c.agent_id == agent_id)
        ]

    def holds(self, agent_id: int, conversation_id: int) -> bool:
        """Whether the conversation is offered to the agent or is the agent's (active or
        in wrap-up): ``conversations_of`` for one conversation, with no walk and no copy
        (a desk's every action asks)."""
        c = self.conversations.get(conversation_id)
        return c is not None and (
            (c.state == OFFERED and agent_id in c.offered_to)
            or (c.state in (ACTIVE, WRAP_UP) and c.agent_id == agent_id)
        )

    def conversation(self, conversation_id: int) -> Conversation | None:
        """A copy of an open conversation (None when over or unknown)."""
        conv = self.conversations.get(conversation_id)
        return dataclasses.replace(conv) if conv is not None else None

    def offer_left_s(self, conversation_id: int) -> float | None:
        """The seconds left before the conversation's offer times out (None when it is
        not offered): a desk that reloads shows the offer's own countdown, not a new one."""
        timer = self._offer_timers.get(conversation_id)
        if timer is None or not timer.active():
            return None
        return max(0.0, float(timer.getTime() - self.reactor.seconds()))

    async def history(self, conversation_id: int, limit: int = 200) -> list[Message]:
        limit = max(1, min(int(limit), 1000))
        stored = await self.store.history(conversation_id, limit)
        have = {m.id for m in stored}
        kept = [
            m
            for m in self.lines.unwritten.values()
            if m.conversation_id == conversation_id and m.id not in have
        ]
        if not kept:
            return stored
        return sorted(stored + kept, key=lambda m: m.id)[-limit:]

    def load(self, agent_id: int) -> Load:
        agent = self.acd.agents.get(agent_id)
        slots = self.router.agents.get(agent_id)
        if agent is None or slots is None:
            raise ChannelError(N_("no such agent"))
        return Load(slots.open, slots.max_chats, capacity.on_call(agent.state), slots.may_take())

    # ---- supervisors ----------------------------------------------------------------------

    def watch(self, conversation_id: int, listener: Listener) -> Subscription:
        conv = self._conversation(conversation_id)
        sub = self.listeners.conversation(conv.id, listener, STAFF, kind="watch")
        self._event(conv.id, "watched")
        return sub

    async def join(self, user_name: str, conversation_id: int) -> None:
        conv = self._conversation(conversation_id)
        names = self._joined.setdefault(conv.id, set())
        if user_name not in names:
            names.add(user_name)
            self._event(conv.id, "joined", user=user_name)

    async def supervisor_says(
        self, user_name: str, conversation_id: int, text: str, internal: bool
    ) -> Message:
        conv = self._conversation(conversation_id)
        if conv.state == WRAP_UP:
            raise ChannelError(N_("this conversation is over"))
        text = self._check_text(text, ())
        await self.join(user_name, conv.id)
        return await self._insert(
            conv, sender="supervisor", author=user_name, body=text, internal=bool(internal)
        )

    def waiting(self) -> list[Conversation]:
        return [
            dataclasses.replace(c)
            for c in self.conversations.values()
            if c.state in (WAITING, OFFERED)
        ]

    def active(self) -> list[Conversation]:
        return [
            dataclasses.replace(c)
            for c in self.conversations.values()
            if c.state in (ACTIVE, WRAP_UP)
        ]

    def queue_stats(self, only: Iterable[int] | None = None) -> dict[int, ChannelQueueStats]:
        """Each queue's figures (``only``: those of these queues). One pass over the open
        conversations for all the queues (the live feed asks on every flush)."""
        now = self._now()
        out = {}
        queues = self.router.queues
        wanted = list(queues) if only is None else [q for q in dict.fromkeys(only) if q in queues]
        in_talk: dict[int | None, int] = {}
        for c in self.conversations.values():
            if c.state in (ACTIVE, WRAP_UP):
                in_talk[c.queue_id] = in_talk.get(c.queue_id, 0) + 1
        for qid in wanted:
            q = queues[qid]
            s = self.stats[qid]
            line = [
                self.conversations[c] for c in self.router.waiting(qid) if c in self.conversations
            ]
            oldest = max((now - c.queued_at for c in line), default=0.0)
            active = in_talk.get(qid, 0)
            sl = s.service_level
            out[qid] = ChannelQueueStats(
                qid,
                q.media,
                len(line),
                round(oldest, 1),
                active,
                s.offered,
                s.answered,
                s.answered_in_sl,
                s.abandoned,
                None if sl is None else round(sl * 100, 1),
            )
        return out

    # ---- listeners ------------------------------------------------------------------------

    def subscribe_conversation(
        self, conversation_id: int, listener: Listener, side: str
    ) -> Subscription:
        return self.listeners.conversation(conversation_id, listener, side)

    def subscribe_agent(self, agent_id: int, listener: Listener) -> Subscription:
        return self.listeners.agent(agent_id, listener)

    def unsubscribe(self, sub: Subscription) -> None:
        self.listeners.remove(sub)

    def relay(self, conversation_id: int, from_side: str, event: dict[str, Any]) -> None:
        """Pass a cobrowse event to the other side as it is (never stored). Only
        ``cobrowse.*`` types: a visitor must not forge lines or states for the desk."""
        if from_side not in SIDES:
            raise ValueError(f"side is one of {SIDES}")
        kind = event.get("type") if isinstance(event, dict) else None
        if not isinstance(kind, str) or not kind.startswith("cobrowse."):
            raise ChannelError(N_("only cobrowse events are relayed"))
        conv = self._conversation(conversation_id)
        self.listeners.emit(conv, event, customer=from_side == STAFF, staff=from_side == CUSTOMER)
