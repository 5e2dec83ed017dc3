"""A simulated GSM modem in a process of its own, for tests that run ccboxd as a process (the
browser scenario): drivers/serial/sim/gsm_modem.py's SimulatedModem on a PtyLink whose
symlink is the daemon's ``[modem] device`` (appliance/demo_sms.py plugs it the same way).

    python -m tests.support.sim_modem LINK

JSON lines in on stdin: ``{"cmd": "deliver", "sender": ..., "text": ...}``, ``{"cmd":
"quit"}``. JSON lines out on stdout: ``plugged`` (``device``), ``command`` (each AT command
line the driver sent), ``delivered`` (``parts``), ``sent`` (each part the driver sent:
``reference``, ``pdu``, and ``number``/``text`` as the simulator decoded them).

``SimModem`` is the test side: it starts the process and waits for its reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def main(link: Path) -> None:
    from twisted.internet import reactor as _reactor
    from twisted.internet import stdio, task
    from twisted.protocols.basic import LineReceiver

    from appliance.config import parse
    from appliance.demo_sms import DemoModem, plug

    reactor: Any = _reactor

    def emit(event: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    _config, demo = plug(reactor, parse(""), link)
    modem: DemoModem = demo
    modem.sim.on_command = lambda line: emit({"event": "command", "line": line[:80]})
    reported = [0]

    def watch() -> None:
        for part in modem.sim.sent[reported[0] :]:
            emit(
                {
                    "event": "sent",
                    "reference": part.reference,
                    "pdu": part.pdu,
                    "number": part.submit.number,
                    "text": part.submit.text,
                }
            )
        reported[0] = len(modem.sim.sent)

    task.LoopingCall(watch).start(0.1)

    class Commands(LineReceiver):
        delimiter = b"\n"

        def lineReceived(self, line: bytes) -> None:
            command = json.loads(line)
            if command["cmd"] == "deliver":
                parts = modem.sim.deliver(command["sender"], command["text"])
                emit({"event": "delivered", "parts": parts})
            elif command["cmd"] == "quit":
                modem.link.unplug()
                reactor.stop()

        def connectionLost(self, reason: Any = None) -> None:
            if reactor.running:
                reactor.stop()

    stdio.StandardIO(Commands())
    emit({"event": "plugged", "device": str(modem.link.device)})
    reactor.run()


class SimModem:
    """The modem process, its reports read by a thread (see the module's docstring)."""

    def __init__(self, link: Path, log: Path) -> None:
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sim_modem", str(link)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
        )
        self.events: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.events.append(json.loads(line))
                self.cond.notify_all()

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"timed out waiting for {what}: {self.events[-10:]}")
                self.cond.wait(left)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
