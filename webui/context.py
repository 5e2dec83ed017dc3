"""What the web handlers share: the services they use, the session store, templates, the
reactor bridge.

Handlers reach the appliance only through these attributes (``ctx.db``, ``ctx.acd``, ...),
never the master: the composition root (appliance/master.py) hands them over. Nothing in
webui/ imports appliance.master (tests/unit/test_layering.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import jinja2
from twisted.internet import defer
from twisted.internet.threads import blockingCallFromThread

from appliance.config import Config
from webui import i18n
from webui.sessions import SessionStore
from webui.throttle import LoginThrottle

if TYPE_CHECKING:
    from acd.service import ACD
    from appliance.db.connector import DBConnector
    from appliance.eventbus import EventBus
    from appliance.health import HealthRegistry
    from drivers.asterisk.agi.server import FastAGIServer
    from drivers.asterisk.ami.client import AMIClient
    from drivers.asterisk.callmodel import CallModel
    from ivr.services import IVRServices
    from recorder.service import RecorderService

T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"


class WebContext:
    """Built by the composition root (appliance/master.py) from the services it started.

    The switch links are optional (``[ami]``/``[fastagi]`` enabled) and may come and go:
    they are handed over as callables and read when a handler asks.
    """

    def __init__(
        self,
        *,
        config: Config,
        reactor: Any,
        db: DBConnector,
        acd: ACD,
        ivr: IVRServices,
        recorder: RecorderService,
        health: HealthRegistry,
        bus: EventBus,
        ami: Callable[[], AMIClient | None] = lambda: None,
        callmodel: Callable[[], CallModel | None] = lambda: None,
        fastagi: Callable[[], FastAGIServer | None] = lambda: None,
        dialer: Callable[[], Any] = lambda: None,
        hardware: Any = None,
        channels: Any = None,
        email_channel: Any = None,
        cobrowse: Any = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self.db = db
        self.acd = acd
        self.ivr = ivr
        self.recorder = recorder
        self.health = health
        self.bus = bus
        self._ami = ami
        self._callmodel = callmodel
        self._fastagi = fastagi
        self._dialer = dialer
        # The box's hardware services (appliance/master.py builds it: spans, modem, SMS,
        # front panel, watchdog, backups); None in tests that start no hardware.
        self.hardware = hardware
        # The internet channels: the chat/e-mail engine (acd/channels/service.py
        # ChannelService) and the e-mail channel's service (its ``reload()`` after the
        # admin changes accounts or routes); None when not running.
        self.channels = channels
        self.email_channel = email_channel
        # Escorted browsing and the live view (webui/cobrowse/service.py CobrowseService:
        # its staff side is mounted on /chat-desk/api/cobrowse); None when not running.
        self.cobrowse = cobrowse
        self.sessions = SessionStore(idle_seconds=self.config.web.session_idle_minutes * 60)
        self.throttle = LoginThrottle()
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,  # every stored text is attacker-controlled: escape everything
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
        )
        self.templates.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=i18n._, ngettext=i18n.ngettext, newstyle=True
        )

    @property
    def ami(self) -> AMIClient | None:
        return self._ami()

    @property
    def callmodel(self) -> CallModel | None:
        return self._callmodel()

    @property
    def fastagi(self) -> FastAGIServer | None:
        return self._fastagi()

    @property
    def dialer(self) -> Any:
        """The outbound dialer (acd/dialer/service.py), None when it is not running."""
        return self._dialer()

    def call(self, fn: Callable[..., defer.Deferred[T]], *args: Any, **kwargs: Any) -> T:
        """Run reactor-side ``fn`` (which returns a Deferred) from a WSGI thread and wait."""
        call: Any = blockingCallFromThread
        return cast(T, call(self.reactor, fn, *args, **kwargs))

    def call_any(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the reactor from a WSGI thread and wait: a plain function's
        result, or what the coroutine (or Deferred) it returns gives; its exception is
        raised here."""

        async def run() -> Any:
            result = fn(*args)
            if hasattr(result, "__await__"):
                return await result
            return result

        return self.call(lambda: defer.ensureDeferred(run()))
