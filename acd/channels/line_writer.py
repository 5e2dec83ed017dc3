"""Chat lines written behind their sending (acd/channels/service.py): a line goes to its
listeners at once with an id the engine gave it, and its row is written after, tried again
and again until written. Meanwhile the line is kept (``unwritten``) and the engine's health
is degraded; past ``UNWRITTEN_MAX`` lines not written the engine refuses new ones. When the
engine stops, each line still waiting gets one last try at once; a line that fails it is
logged whole, not silently lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from drivers.health import DEGRADED, OK, HealthReporter

if TYPE_CHECKING:
    from acd.channels.conversation import Message
    from appliance.db.conversation_store import ConversationStore

log = Logger(namespace="ccbox.channels")

# Lines kept while their rows are not written, at most; then new lines are refused.
UNWRITTEN_MAX = 10_000
# The waits between tries (the last one again and again).
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class LineWriter:
    def __init__(
        self,
        reactor: Any,
        store: ConversationStore,
        running: Callable[[], bool],
        health: HealthReporter | None,
        name: str,
    ) -> None:
        """``running``: whether the engine still runs (a failure then waits and tries
        again, else it is the last); ``health``/``name``: where the engine's state is
        reported."""
        self.reactor = reactor
        self.store = store
        self.running = running
        self.health = health
        self.name = name
        self.unwritten: dict[int, Message] = {}  # lines sent, their rows not written
        self._retries: dict[int, tuple[Any, defer.Deferred[None]]] = {}  # line id -> wait
        self._failing: set[int] = set()  # lines whose write failed, not written yet

    @property
    def full(self) -> bool:
        return len(self.unwritten) >= UNWRITTEN_MAX

    def keep(self, line: Message) -> None:
        """``line`` is sent: kept until its row is written."""
        self.unwritten[line.id] = line

    async def write(self, line: Message) -> None:
        """The kept ``line``'s row, tried until written (each failure logged, the health
        degraded meanwhile). Once the engine stops, a failure is the last try: the line is
        logged whole."""
        failures = 0
        while True:
            try:
                await self.store.add_message(
                    line.conversation_id,
                    sender=line.sender,
                    author=line.author,
                    body=line.body,
                    created_at=line.created_at,
                    html=line.html,
                    internal=line.internal,
                    agent_id=line.agent_id,
                    message_id=line.message_id,
                    in_reply_to=line.in_reply_to,
                    id=line.id,
                )
            except Exception:
                failures += 1
                log.failure(
                    "conversation {id}: line {line} not written (try {n}), kept to retry",
                    id=line.conversation_id,
                    line=line.id,
                    n=failures,
                )
                self._health(line.id, True)
                if not self.running():
                    self.unwritten.pop(line.id, None)
                    log.error(
                        "conversation {id}: line {line} lost at stop ({sender} {author!r} "
                        "at {at}): {body!r}",
                        id=line.conversation_id,
                        line=line.id,
                        sender=line.sender,
                        author=line.author,
                        at=line.created_at.isoformat(),
                        body=line.body,
                    )
                    self._health(line.id, False)
                    return
                await self._retry_wait(line.id, RETRY_S[min(failures, len(RETRY_S)) - 1])
                continue
            self.unwritten.pop(line.id, None)
            if failures:
                log.info(
                    "conversation {id}: line {line} written", id=line.conversation_id, line=line.id
                )
                self._health(line.id, False)
            return

    def try_now(self) -> None:
        """Every line waiting to be tried again is tried now (the engine stops: its last)."""
        for timer, wake in list(self._retries.values()):
            if timer.active():
                timer.cancel()
            wake.callback(None)
        self._retries.clear()

    def _retry_wait(self, line_id: int, delay_s: float) -> defer.Deferred[None]:
        wake: defer.Deferred[None] = defer.Deferred()

        def fire() -> None:
            self._retries.pop(line_id, None)
            wake.callback(None)

        self._retries[line_id] = (self.reactor.callLater(delay_s, fire), wake)
        return wake

    def _health(self, line_id: int, failed: bool) -> None:
        """Degraded while a sent line's write fails; ok again once all such are written."""
        was = bool(self._failing)
        if failed:
            self._failing.add(line_id)
        else:
            self._failing.discard(line_id)
        if self.health is None:
            return
        if self._failing:
            self.health.report(
                self.name, DEGRADED, f"{len(self._failing)} chat lines not written yet"
            )
        elif was:
            self.health.report(self.name, OK, "")
