"""The switch simulator in its own process, driven by a test over stdin/stdout (JSON lines).

Run as ``python -m tests.support.sim_driver --config ccbox.conf``: it serves AMI on the
config's [ami] port (username and secret from there) and connects trunk calls to the
config's FastAGI port, as Asterisk would. tests/support/live_box.py starts it beside a real
ccboxd; a browser test then drives calls and agent phones and sees what ccboxd asked of the
switch.

Commands, one JSON object a line on stdin:

- ``{"cmd": "call", "id": "c1", "caller_number": ..., "caller_name": ..., "dialed": ...,
  "digits": "1", "hold_s": 30, "prompt_s": 0}``: a trunk call walking the flow (``hold_s``:
  the caller hangs up after that long; absent: waits until the script ends the call).
- ``{"cmd": "hangup", "id": "c1"}``: that caller hangs up now.
- ``{"cmd": "devices", "devices": {"PJSIP/1001": {"ring_s": 1, "talk_s": 20}}, "default":
  {...}}``: how phones behave when rung (``answers``, ``busy``, ``ring_s``, ``talk_s``,
  ``unavailable``: switch.Device's fields).
- ``{"cmd": "channels"}``: report the live channels.
- ``{"cmd": "ami_down"}`` / ``{"cmd": "ami_up"}``: the manager port closes (sessions
  dropped) / listens again; ``{"cmd": "hangup_all"}``: every channel ends (a restart).
- ``{"cmd": "quit"}``.

Reports, one JSON object a line on stdout, each with ``"event"``:
``listening`` (the AMI port is up), ``ami_login`` (a client logged in), ``action`` (every
AMI action received: ``name`` and ``headers`` as [key, value] pairs, Secret masked),
``call_started`` (``id``, ``uniqueid``), ``call_ended`` (``id``, ``uniqueid``,
``caller_hung_up``, ``script_hung_up``, ``redirected``, ``commands``), ``channels``,
``ami_down``, ``ami_up``, ``hung_up_all``, ``error`` (``detail``: a command that could not
be run).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from typing import Any

from twisted.internet import defer, stdio
from twisted.internet.endpoints import connectProtocol
from twisted.protocols.basic import LineReceiver

from appliance import config as config_mod
from appliance.demo import switch_for
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.manager import ManagerFactory, ManagerSession
from drivers.asterisk.simulator.service import SwitchSimulator
from drivers.asterisk.simulator.switch import Device
from tests.support.sim_sounds import install_test_sounds

DEVICE_FIELDS = {f.name for f in fields(Device)}


def report(event: str, **data: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def device(spec: Any) -> Device:
    if not isinstance(spec, dict) or set(spec) - DEVICE_FIELDS:
        raise ValueError(f"a device is an object with some of {sorted(DEVICE_FIELDS)}")
    return Device(**spec)


class ReportingSession(ManagerSession):
    """A manager session that reports every action it receives."""

    def action(self, msg: Message) -> None:
        headers = [[k, "***" if k.lower() == "secret" else v] for k, v in msg.headers]
        report("action", name=msg.get("Action") or "", headers=headers)
        before = self.factory.logins
        super().action(msg)
        if self.factory.logins > before:
            report("ami_login")


class ReportingFactory(ManagerFactory):
    def buildProtocol(self, addr: Any) -> ManagerSession:
        return ReportingSession(self)


class Driver(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 65536

    def __init__(self, reactor: Any, sim: SwitchSimulator) -> None:
        self.reactor = reactor
        self.sim = sim
        self.calls: dict[str, SimulatedCall] = {}
        self.running: set[defer.Deferred[None]] = set()

    def lineReceived(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            command = json.loads(line)
            if not isinstance(command, dict):
                raise ValueError("a command is a JSON object")
            handler = getattr(self, f"do_{command.get('cmd')}", None)
            if handler is None:
                raise ValueError(f"unknown command {command.get('cmd')!r}")
            handler(command)
        except Exception as exc:  # a bad command is reported; the switch goes on
            report(
                "error", detail=f"{type(exc).__name__}: {exc}", line=line.decode("utf-8", "replace")
            )

    def connectionLost(self, reason: Any = None) -> None:
        self.do_quit({})

    def do_call(self, c: dict[str, Any]) -> None:
        call_id = str(c.get("id") or f"call-{len(self.calls) + 1}")
        script = CallerScript(
            caller_number=str(c.get("caller_number", "13800138000")),
            caller_name=str(c.get("caller_name", "Zhang San")),
            dialed=str(c.get("dialed", "4008001234")),
            digits=str(c.get("digits", "")),
            patience_s=c.get("hold_s"),
            prompt_s=float(c.get("prompt_s", 0.0)),
        )
        # As traffic.run_call does, but the call (and its channel) is known before it connects.
        call = SimulatedCall(self.reactor, script, "inbound", self.sim.switch)
        self.calls[call_id] = call
        report("call_started", id=call_id, uniqueid=call.uniqueid)

        async def run() -> None:
            try:
                await connectProtocol(self.sim.agi_endpoint, call)
            except Exception as exc:
                call.channel.agi = None
                self.sim.switch.hangup(call.channel, 16)
                report("call_ended", id=call_id, uniqueid=call.uniqueid, failed=str(exc))
                return
            outcome = await call.finished
            report(
                "call_ended",
                id=call_id,
                uniqueid=outcome.uniqueid,
                caller_hung_up=outcome.caller_hung_up,
                script_hung_up=outcome.script_hung_up,
                redirected=outcome.redirected,
                commands=outcome.commands,
            )

        d = defer.ensureDeferred(run())
        d.addErrback(lambda f: report("error", detail=f"call {call_id}: {f.getErrorMessage()}"))
        self.running.add(d)
        d.addBoth(lambda _: self.running.discard(d))

    def do_hangup(self, c: dict[str, Any]) -> None:
        call = self.calls.get(str(c.get("id")))
        if call is None:
            raise ValueError(f"no call {c.get('id')!r}")
        call.caller_hangs_up()

    def do_devices(self, c: dict[str, Any]) -> None:
        for name, spec in dict(c.get("devices") or {}).items():
            self.sim.switch.devices[str(name)] = device(spec)
        if c.get("default") is not None:
            self.sim.switch.default_device = device(c["default"])

    def do_channels(self, c: dict[str, Any]) -> None:
        report(
            "channels",
            channels=[
                {
                    "name": ch.name,
                    "uniqueid": ch.uniqueid,
                    "state": ch.state,
                    "context": ch.context,
                    "exten": ch.exten,
                    "caller_number": ch.caller_num,
                    "bridged": ch.bridge is not None,
                    "application": ch.application,
                    "appdata": ch.appdata,
                }
                for ch in self.sim.switch.channels.values()
                if ch.alive
            ],
        )

    def do_ami_down(self, c: dict[str, Any]) -> None:
        """The manager port closes and its sessions drop (channels go on)."""
        d = self.sim.cut_ami()
        d.addCallback(lambda _: report("ami_down"))

    def do_ami_up(self, c: dict[str, Any]) -> None:
        """The manager listens again on the same port."""
        self.sim.restore_ami()
        report("ami_up")

    def do_hangup_all(self, c: dict[str, Any]) -> None:
        """Every channel ends (cause 0), as in an Asterisk restart."""
        for ch in list(self.sim.switch.channels.values()):
            if ch.alive:
                self.sim.switch.hangup(ch, 0)
        report("hung_up_all")

    def do_quit(self, c: dict[str, Any]) -> None:
        if self.reactor.running:
            self.reactor.callLater(0, self.reactor.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    config = config_mod.load(args.config)
    from twisted.internet import reactor

    sim = switch_for(
        reactor,
        config,
        default_device=Device(answers=False),
        seed=args.seed,
    )
    install_test_sounds(sim.switch.sounds)
    sim.manager.__class__ = ReportingFactory
    sim.startService()
    report("listening", ami_port=sim.ami_port, agi_port=config.fastagi.port)
    stdio.StandardIO(Driver(reactor, sim))
    reactor.run()  # type: ignore[misc]
    return 0


if __name__ == "__main__":
    sys.exit(main())
