"""What the web handlers share: the services they use, the session store, templates, the
reactor bridge.

Handlers reach the appliance only through these attributes (``ctx.db``, ``ctx.acd``, ...),
never the master: the composition root (appliance/master.py) hands them over.
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
    from appliance.master import ApplianceMaster
    from drivers.asterisk.agi.server import FastAGIServer
    from drivers.asterisk.ami.client import AMIClient
    from drivers.asterisk.callmodel import CallModel
    from ivr.services import IVRServices
    from recorder.service import RecorderService

T = TypeVar("T")
TEMPLATES = Path(__file__).parent / "templates"


class WebContext:
    def __init__(self, master: ApplianceMaster) -> None:
        self.master = master
        self.config: Config = master.config
        self.reactor: Any = master.reactor
        self.db: DBConnector = master.db
        self.acd: ACD = master.acd
        self.ivr: IVRServices = master.ivr
        self.recorder: RecorderService = master.recorder
        self.health: HealthRegistry = master.health
        self.bus: EventBus = master.bus
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

    # The switch links are optional ([ami]/[fastagi] enabled) and read when asked.
    @property
    def ami(self) -> AMIClient | None:
        return self.master.ami

    @property
    def callmodel(self) -> CallModel | None:
        return self.master.callmodel

    @property
    def fastagi(self) -> FastAGIServer | None:
        return self.master.fastagi

    def call(self, fn: Callable[..., defer.Deferred[T]], *args: Any, **kwargs: Any) -> T:
        """Run reactor-side ``fn`` (which returns a Deferred) from a WSGI thread and wait."""
        call: Any = blockingCallFromThread
        return cast(T, call(self.reactor, fn, *args, **kwargs))
