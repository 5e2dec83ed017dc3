"""The end-to-end rig of issue 7's browser tests: the real ccboxd in one process and the
switch simulator (tests/support/sim_driver.py) in another, on loopback ports.

    with live_box(tmp_path) as box:
        box.agents_login("1001")                      # the ACD login, through the JSON API
        box.devices({"PJSIP/1001": {"ring_s": 1, "talk_s": 30}})
        call = box.call(caller_number="13800138000", caller_name="Zhang San")
        box.wait_action("Originate", where=lambda h: h["Context"] == "ccbox-supervise")
        box.hangup(call)
        driver.get(box.url + "/wallboard")

The seed: the USERS of tests/support/appliance.py; the skill "tech"; agents 1001..1003 on
phones ``PJSIP/100x`` (tech 5; AGENT_NAMES), agent 1001 linked to the web user "agent";
the queue "support" (display name "Technical support 技术支持", needs tech 3, wrap-up 1 s,
ring timeout 5 s). No DID is bound, so a call runs the built-in flow, which queues to the
first queue: "support". ``seed(db)`` adds more (an inline DBConnector, as in
appliance.prepare; ``box.ids`` names the rows made here). Phones never answer until
``devices`` says otherwise.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appliance import config as config_mod
from appliance.cli import resolved
from tests.conftest import free_port
from tests.support.appliance import migrate_and_seed
from tests.support.box_users import BoxUsers
from tests.support.daemon import Daemon, running_daemon
from tests.support.http import Browser

ROOT = Path(__file__).resolve().parents[2]
AGENT_NAMES = {"1001": "Li Wei 李伟", "1002": "Zhang Min 张敏", "1003": "Anna Schmidt"}
QUEUE_DISPLAY = "Technical support 技术支持"
AMI_SECRET = "live-box-secret"

Event = dict[str, Any]


class SimProcess:
    """The simulator subprocess: commands in, reports collected by a reader thread."""

    def __init__(self, conf: Path, log: Path) -> None:
        self.log = log
        self._log_file = log.open("w")  # a file, not a pipe nobody reads: it never blocks
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.sim_driver", "--config", str(conf)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
            bufsize=1,
        )
        self.events: list[Event] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "output", "line": line.rstrip("\n")}
            with self.cond:
                self.events.append(event)
                self.cond.notify_all()
        with self.cond:
            self.events.append({"event": "exited"})
            self.cond.notify_all()

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the simulator exited: {self.stderr()}")
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def wait(
        self, predicate: Callable[[Event], bool], timeout: float, what: str, start: int = 0
    ) -> Event:
        """The first report from index ``start`` on that matches (waits up to ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events[start:]:
                    if predicate(event):
                        return event
                    if event["event"] == "error":
                        raise AssertionError(f"the simulator refused a command: {event}")
                left = deadline - time.monotonic()
                if left <= 0 or any(e["event"] == "exited" for e in self.events):
                    raise AssertionError(f"timed out waiting for {what}; reports: {self.tail()}")
                self.cond.wait(left)

    def tail(self, n: int = 15) -> list[Event]:
        with self.cond:
            return self.events[-n:]

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.proc.wait(timeout=10)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


def _headers(event: Event) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in event.get("headers", []):
        out.setdefault(key, value)
    return out


class LiveBox(BoxUsers):
    def __init__(
        self, config: config_mod.Config, daemon: Daemon, sim: SimProcess, ids: dict[str, int]
    ) -> None:
        self.config = config
        self.daemon = daemon
        self.sim = sim
        self.ids = ids
        self.port = self.web_port = config.web.port
        self.url = f"http://127.0.0.1:{self.port}"
        self._calls = itertools.count(1)
        self._browsers: dict[str, tuple[Browser, str]] = {}
        # ccboxd logs to a pipe: read it all along, or a chatty test fills it and blocks it
        self.daemon_lines: list[str] = []
        self._drain = threading.Thread(target=self._read_daemon, daemon=True)
        self._drain.start()

    def _read_daemon(self) -> None:
        out = self.daemon.proc.stdout
        if out is not None:
            for line in out:
                self.daemon_lines.append(line)

    def daemon_log(self) -> str:
        """What ccboxd has logged so far."""
        return "".join(self.daemon_lines)

    # ---- the web side ---------------------------------------------------------------------

    # ---- the switch side ------------------------------------------------------------------

    def devices(
        self, devices: dict[str, dict[str, Any]], default: dict[str, Any] | None = None
    ) -> None:
        """How phones behave when rung, e.g. ``{"PJSIP/1001": {"ring_s": 1, "talk_s": 20}}``
        (``answers``, ``busy``, ``ring_s``, ``talk_s``, ``unavailable``)."""
        mark = len(self.sim.events)
        self.sim.send({"cmd": "devices", "devices": devices, "default": default})
        self.sim.send({"cmd": "channels"})  # answered after the devices command ran
        self.sim.wait(lambda e: e["event"] == "channels", 10, "the devices command", mark)

    def call(
        self,
        caller_number: str = "13800138000",
        caller_name: str = "Zhang San",
        dialed: str = "4008001234",
        digits: str = "",
        hold_s: float | None = None,
        prompt_s: float = 0.0,
    ) -> Event:
        """A trunk call into ccboxd's FastAGI; returns the ``call_started`` report (``id``,
        ``uniqueid``). ``hold_s``: the caller hangs up after that long (None: never)."""
        call_id = f"c{next(self._calls)}"
        mark = len(self.sim.events)
        command: dict[str, Any] = {
            "cmd": "call",
            "id": call_id,
            "caller_number": caller_number,
            "caller_name": caller_name,
            "dialed": dialed,
            "digits": digits,
            "prompt_s": prompt_s,
        }
        if hold_s is not None:
            command["hold_s"] = hold_s
        self.sim.send(command)
        return self.sim.wait(
            lambda e: e["event"] == "call_started" and e["id"] == call_id, 10, "the call", mark
        )

    def hangup(self, call: Event) -> None:
        """That caller hangs up now."""
        self.sim.send({"cmd": "hangup", "id": call["id"]})

    def wait_call_ended(self, call: Event, timeout: float = 20) -> Event:
        return self.sim.wait(
            lambda e: e["event"] == "call_ended" and e["id"] == call["id"], timeout, "the end"
        )

    def channels(self) -> list[dict[str, Any]]:
        mark = len(self.sim.events)
        self.sim.send({"cmd": "channels"})
        event = self.sim.wait(lambda e: e["event"] == "channels", 10, "channels", mark)
        result: list[dict[str, Any]] = event["channels"]
        return result

    def actions(self, name: str | None = None) -> list[dict[str, str]]:
        """The AMI actions received so far (headers), of one name (case-insensitive) or all."""
        with self.sim.cond:
            events = list(self.sim.events)
        return [
            _headers(e)
            for e in events
            if e["event"] == "action" and (name is None or e["name"].lower() == name.lower())
        ]

    def wait_action(
        self,
        name: str,
        timeout: float = 10,
        where: Callable[[dict[str, str]], bool] = lambda h: True,
        since: int = 0,
    ) -> dict[str, str]:
        """The first AMI action ``name`` (reports from index ``since``, see ``mark``) whose
        headers satisfy ``where``; fails after ``timeout`` seconds."""
        event = self.sim.wait(
            lambda e: (
                e["event"] == "action" and e["name"].lower() == name.lower() and where(_headers(e))
            ),
            timeout,
            f"the AMI action {name}",
            since,
        )
        return _headers(event)

    def mark(self) -> int:
        """An index into the reports: pass it as ``since`` to see only what comes after."""
        with self.sim.cond:
            return len(self.sim.events)


def write_box_config(
    tmp: Path, database_url: str | None = None, dahdi_root: Path | None = None
) -> config_mod.Config:
    """``dahdi_root``: [dahdi] enabled on that /proc/dahdi tree, read every second."""
    data = tmp / "data"
    data.mkdir(parents=True, exist_ok=True)
    path = tmp / "ccbox.conf"
    text = config_mod.render(
        data,
        web_port=free_port(),
        database_url=database_url,
        switch=True,
        fastagi_port=free_port(),
        ami_port=free_port(),
        ami_secret=AMI_SECRET,
        chat_port=free_port(),
    )
    if dahdi_root is not None:
        off = "enabled = no\nproc_root = /proc/dahdi\npoll_s = 5\n"
        assert text.count(off) == 1
        text = text.replace(off, f"enabled = yes\nproc_root = {dahdi_root}\npoll_s = 1\n")
    path.write_text(text, encoding="utf-8")
    return config_mod.load(path)


def seed_center(db: Any) -> dict[str, int]:
    """The agents, the queue and the agent user link described in the module docstring."""
    tech = resolved(db.skills.add("tech", "Technical support")).id
    ids = {"tech": tech}
    for number, name in AGENT_NAMES.items():
        agent = resolved(db.agents.add(number, name, "Support", f"PJSIP/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        ids[number] = agent.id
    queue = resolved(
        db.queues.add("support", QUEUE_DISPLAY, skills={tech: 3}, wrapup_s=1, ring_timeout_s=5)
    )
    ids["support"] = queue.id
    user = next(u for u in resolved(db.users.list_all()) if u.username == "agent")
    resolved(db.agents.link_user(ids["1001"], user.id))
    return ids


@contextmanager
def live_box(
    tmp: Path,
    seed: Callable[[Any, dict[str, int]], None] | None = None,
    database_url: str | None = None,
    dahdi_root: Path | None = None,
) -> Iterator[LiveBox]:
    """ccboxd and the simulator on a seeded database under ``tmp``; both stopped after.
    ``seed(db, ids)`` adds rows after the center's (ids: "tech", "support", "1001".."1003");
    ``dahdi_root``: see write_box_config."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = write_box_config(tmp, database_url, dahdi_root)
    ids: dict[str, int] = {}

    def seed_all(db: Any) -> None:
        ids.update(seed_center(db))
        if seed is not None:
            seed(db, ids)

    migrate_and_seed(config, seed_all)
    sim = SimProcess(config.path, tmp / "simulator.log")
    try:
        sim.wait(lambda e: e["event"] == "listening", 30, "the simulator's AMI port")
        with running_daemon(config.path, tmp) as daemon:
            sim.wait(lambda e: e["event"] == "ami_login", 30, "ccboxd's AMI login")
            box = LiveBox(config, daemon, sim, ids)
            yield box
            if daemon.proc.poll() is None:
                daemon.stop()
    finally:
        sim.stop()
