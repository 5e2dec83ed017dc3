"""Escorted browsing and the live view as a service: one relay (hub.py) and one book of
caller codes (codes.py), mounted on the public chat site (``/chat/api/cobrowse``) and on
the admin site's desk chat (``/chat-desk/api/cobrowse``). The appliance builds it with what
it uses; a co-browsing session of a chat ends with the chat (its bus event)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.application import service

from acd.channels.events import ConversationStateChanged
from webui.cobrowse.codes import CodeBook
from webui.cobrowse.hub import CobrowseHub
from webui.cobrowse.resources import StaffCobrowse, VisitorCobrowse

if TYPE_CHECKING:
    from appliance.config import CobrowseConfig


class CobrowseService(service.Service):
    name = "cobrowse"

    def __init__(
        self,
        *,
        reactor: Any,
        db: Any,
        channels: Any,
        bus: Any,
        config: CobrowseConfig,
        origins: Any = None,
        default_locale: str = "en",
    ) -> None:
        """``origins``: the chat site's allow-list (webui/chat/origins.py), the sites a page
        may be pushed to; None (no public chat) refuses every push."""
        self.reactor = reactor
        self.channels = channels
        self.bus = bus
        self.origins = origins
        self.default_locale = default_locale
        relay = channels.relay if channels is not None else None
        self.hub = CobrowseHub(
            reactor, mask_inputs=config.mask_inputs, audit=db.audit.add, relay=relay
        )
        self.codes = CodeBook(reactor.seconds, config.code_minutes)
        self._subscription: Any = None

    def allowed_origin(self, origin: str) -> bool:
        return self.origins is not None and self.origins.allowed(origin) is not None

    def public_resource(self, root: Any) -> VisitorCobrowse:
        """The visitor's side for ``PublicChatRoot.add_api(b"cobrowse", ...)``."""
        return VisitorCobrowse(
            self.hub,
            self.codes,
            root.visitor,  # the token, from the site it was given to
            root.address,
            default_locale=self.default_locale,
        )

    def staff_resource(self, *, acd: Any, sessions: Any, secure: bool) -> StaffCobrowse:
        """The agents' and supervisors' side for ``DeskChatRoot.add_api(b"cobrowse", ...)``."""
        return StaffCobrowse(
            self.hub,
            self.codes,
            sessions=sessions,
            agent_of_user=acd.agent_of_user,
            agent=acd.agents.get,
            channels=lambda: self.channels,
            allowed_origin=self.allowed_origin,
            secure=secure,
            default_locale=self.default_locale,
        )

    def _state_changed(self, event: ConversationStateChanged) -> None:
        if event.new in ("ended", "wrap_up"):  # the chat is over for the customer
            self.hub.end_conversation(event.conversation_id)
        elif event.new in ("waiting", "offered", "active"):
            self.hub.conversation_moved(event.conversation_id, event.agent_id)

    def startService(self) -> None:
        super().startService()
        self.hub.start()
        if self.bus is not None:
            self._subscription = self.bus.subscribe(ConversationStateChanged, self._state_changed)

    def stopService(self) -> Any:
        super().stopService()
        if self._subscription is not None:
            self.bus.unsubscribe(self._subscription)
            self._subscription = None
        self.hub.stop()
        return None
