"""The in-process event bus: typed events, published on the reactor thread, delivered in order.

Producers (the AMI layer, the ACD, the IVR) publish frozen dataclasses; subscribers (the
database writer, live web updates, the front panel) register for an event class. A failing
subscriber is logged and never stops delivery to the others or breaks the publisher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.logger import Logger

E = TypeVar("E")
log = Logger(namespace="ccbox.eventbus")


@dataclass(frozen=True)
class Subscription:
    """Returned by subscribe(); pass it to unsubscribe()."""

    event_type: type
    callback: Callable[[Any], object]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type, list[Subscription]] = {}

    def subscribe(self, event_type: type[E], callback: Callable[[E], object]) -> Subscription:
        sub = Subscription(event_type, callback)
        self._subscribers.setdefault(event_type, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.event_type, [])
        if sub in subs:
            subs.remove(sub)

    def publish(self, event: object) -> None:
        """Deliver ``event`` to subscribers of its class and of its base classes."""
        for cls in type(event).__mro__:
            for sub in list(self._subscribers.get(cls, ())):
                try:
                    sub.callback(event)
                except Exception:
                    log.failure(
                        "subscriber {callback!r} failed on {event!r}",
                        callback=sub.callback,
                        event=event,
                    )
