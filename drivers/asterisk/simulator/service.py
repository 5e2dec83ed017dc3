"""The switch simulator as a Twisted service: AMI on loopback, traffic into FastAGI.

``SwitchSimulator`` is what ``ccbox simulator --serve`` and the demo run beside ccboxd: a
``Switch`` (the state), the manager server on ``ami_port``, and optionally Poisson traffic
into ccboxd's FastAGI port. Channels that the dialplan would hand to FastAGI (Originate into
``ccbox-callback``, Redirect into ``ccbox-transfer-queue``) connect there too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint

from drivers.asterisk.dialplan import Dialplan
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.manager import ManagerFactory
from drivers.asterisk.simulator.sounds import SoundLibrary
from drivers.asterisk.simulator.switch import Device, SimChannel, Switch, generated_dialplan
from drivers.asterisk.simulator.traffic import PoissonTraffic, demo_caller, run_call


class SwitchSimulator(service.MultiService):
    def __init__(
        self,
        reactor: Any,
        *,
        ami_port: int,
        ami_username: str,
        ami_secret: str,
        agi_host: str = "127.0.0.1",
        agi_port: int = 4573,
        calls_per_s: float = 0.0,
        devices: dict[str, Device] | None = None,
        default_device: Device | None = None,
        seed: int | None = None,
        bind: str = "127.0.0.1",
        sounds_dir: Path | None = None,
        dialplan: Dialplan | None = None,
    ) -> None:
        """``sounds_dir`` plays Asterisk's sounds folder (``<lang>/<name>.wav``, see
        sounds.py): install ccbox's system sounds there (ivr.system_sounds'
        install_system_sounds) or STREAM FILE of them answers as a missing file does.
        ``dialplan``: what the switch routes by; by default the one ``ccbox
        asterisk-config`` writes for a ccboxd whose FastAGI is at agi_host:agi_port."""
        super().__init__()
        self.reactor = reactor
        self.switch = Switch(
            reactor,
            devices=devices,
            default_device=default_device,
            seed=seed,
            sounds=SoundLibrary(sounds_dir),
            dialplan=dialplan if dialplan is not None else generated_dialplan(agi_host, agi_port),
        )
        self.switch.agi_starter = self._start_agi
        self.agi_address = (agi_host, agi_port)
        self._seed = seed
        self.agi_endpoint = TCP4ClientEndpoint(reactor, agi_host, agi_port, timeout=2)
        self.manager = ManagerFactory(reactor, self.switch, ami_username, ami_secret)
        self._ami_bind = (ami_port, bind)
        self._listener: Any = None
        self.traffic: PoissonTraffic | None = None
        if calls_per_s > 0:
            self.start_traffic(calls_per_s)
        self._sessions: set[defer.Deferred[Any]] = set()

    @property
    def sounds_dir(self) -> Path | None:
        """Where the simulated Asterisk finds its sounds (None: core sounds only)."""
        return self.switch.sounds.sounds_dir

    @property
    def ami_port(self) -> int:
        assert self._listener is not None, "the AMI port is not listening yet"
        return int(self._listener.getHost().port)

    def startService(self) -> None:
        # Listen first and synchronously: a taken port fails the start, loudly.
        port, bind = self._ami_bind
        self._listener = self.reactor.listenTCP(port, self.manager, interface=bind)
        super().startService()

    def cut_ami(self) -> defer.Deferred[None]:
        """The manager goes away as when Asterisk crashes or restarts: its port closes and
        every session drops. The channels are the caller's business (see ``Switch.hangup``)."""
        listener, self._listener = self._listener, None
        for session in list(self.manager.sessions):
            if session.transport is not None:
                cast(Any, session.transport).abortConnection()
        return defer.maybeDeferred(listener.stopListening) if listener else defer.succeed(None)

    def restore_ami(self) -> None:
        """The manager listens again on the same port (Asterisk back up)."""
        assert self._listener is None, "the AMI port is listening already"
        port, bind = self._ami_bind
        self._listener = self.reactor.listenTCP(port, self.manager, interface=bind)

    def start_traffic(
        self,
        calls_per_s: float,
        script: Callable[[random.Random, int], CallerScript] | None = None,
        curve: Callable[[float], float] | None = None,
    ) -> PoissonTraffic:
        """Start Poisson arrivals now (e.g. once ccboxd is ready); stop it to end them.
        ``script`` makes each caller (default: traffic.demo_caller); ``curve``: the share of
        ``calls_per_s`` arriving so many seconds after the start (PoissonTraffic)."""
        assert self.traffic is None, "traffic is already running"
        self.traffic = PoissonTraffic(
            self.reactor,
            self.switch,
            *self.agi_address,
            calls_per_s,
            seed=self._seed,
            script=script or demo_caller,
            curve=curve,
        )
        self.traffic.setServiceParent(self)
        return self.traffic

    def _start_agi(self, channel: SimChannel, agi_script: str, exten: str) -> None:
        script = CallerScript(
            caller_number=channel.caller_num, caller_name=channel.caller_name, dialed=exten
        )
        d = defer.ensureDeferred(
            run_call(self.reactor, self.agi_endpoint, script, agi_script, self.switch, channel)
        )
        self._sessions.add(d)
        d.addBoth(lambda _: self._sessions.discard(d))

    def stopService(self) -> defer.Deferred[None]:
        d = defer.maybeDeferred(super().stopService)
        listener, self._listener = self._listener, None
        if listener is not None:
            d.addCallback(lambda _: listener.stopListening())
        for session in list(self.manager.sessions):
            if session.transport is not None:
                cast(Any, session.transport).loseConnection()
        return d
