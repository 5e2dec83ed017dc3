"""The real switch in the loop: ccboxd (a subprocess, as systemd runs it) in front of a real
Asterisk 22 (tests/support/real_asterisk.py), both on free loopback ports.

    with real_box(install) as box:
        box.agents_login("1001")
        box.phone("1001", ring=1)                       # answers after 1 s, talks on
        call = box.call(hangup_after=12)                # a caller from the PSTN
        box.wait_gone(call)                             # the caller's channel hung up
        row = box.wait_call_row(call)                   # ccbox's calls row, once ended
        cdrs = box.cdrs_for(call)                       # Asterisk's own CDRs of the call

The configuration is the installer's: ``ccbox asterisk-config --device-tech IAX2 --trunk
Local@harness-pstn`` writes the manager user, the dialplan and ccbox's system sounds for
the ccbox.conf the box runs on. The seed: the skill "tech"; agents
1001-1004 on the desk phones ``IAX2/1001``-``IAX2/1004`` (tech 5); the queue "support"
(needs tech 3, ring timeout 5 s, wrap-up 1 s); the USERS of tests/support/appliance.py.
No DID is bound, so a call runs the built-in flow into "support".
"""

from __future__ import annotations

import itertools
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from appliance import config as config_mod
from appliance.cli import resolved
from appliance.db import model
from tests.conftest import free_port
from tests.support import real_asterisk as ra
from tests.support.appliance import migrate_and_seed
from tests.support.box_users import BoxUsers
from tests.support.daemon import BIN, Daemon, running_daemon
from tests.support.http import Browser

AMI_SECRET = "real-box-ami-secret"
AGENTS = {"1001": "Li Wei", "1002": "Zhang Min", "1003": "Anna Schmidt", "1004": "Wang Fang"}
DID = "4008001234"
TRUNK = "Local@harness-pstn"
SETTLE_S = 1.0  # after a call's end, how long ccboxd has to finish writing its rows


@dataclass
class Caller:
    """A caller the harness originated: the ``;1`` half that ccboxd drives over FastAGI."""

    number: str
    channel: str
    uniqueid: str
    linkedid: str
    originated_at: float


class RealBox(BoxUsers):
    def __init__(
        self,
        root: Path,
        config: config_mod.Config,
        ast: ra.RunningAsterisk,
        daemon: Daemon,
        ids: dict[str, int],
    ) -> None:
        self.root = root
        self.config = config
        self.ast = ast
        self.daemon = daemon
        self.ids = ids
        self.web_port = config.web.port
        self.url = f"http://127.0.0.1:{config.web.port}"
        self._numbers = itertools.count(1)
        self._browsers: dict[str, tuple[Browser, str]] = {}
        self.engine = sa.create_engine(config.database_url)
        self._stack = ExitStack()  # the ccboxd processes started after the first
        self._starts = 0
        self.daemon_lines: list[str] = []
        self._drain = threading.Thread(target=self._read_daemon, daemon=True)
        self._drain.start()

    # ---- ccboxd ---------------------------------------------------------------------------

    def kill_daemon(self) -> None:
        """SIGKILL ccboxd, as a crash would (no clean stop, nothing flushed)."""
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.daemon.proc.wait(timeout=10)

    def start_daemon(self, timeout: float = 60) -> None:
        """A new ccboxd on the same configuration and database (after ``kill_daemon``);
        returns once it is ready and logged in to Asterisk's AMI."""
        assert self.daemon.proc.poll() is not None, "ccboxd is still running"
        self._starts += 1
        run_dir = self.root / f"run-{self._starts}"
        run_dir.mkdir()
        mark = self.ast.ami.mark()
        self.daemon = self._stack.enter_context(running_daemon(self.config.path, run_dir))
        self._browsers.clear()
        self._drain = threading.Thread(target=self._read_daemon, daemon=True)
        self._drain.start()
        wait_ccbox_on_ami(self.ast, timeout, since=mark)

    def _read_daemon(self) -> None:
        self.daemon_lines.append(f"---- ccboxd pid {self.daemon.proc.pid} ----\n")
        out = self.daemon.proc.stdout
        if out is not None:
            for line in out:
                self.daemon_lines.append(line)

    def daemon_log(self) -> str:
        return "".join(self.daemon_lines)

    def agent_state(self, number: str) -> str:
        r = self.api(f"/api/acd/state?agent={number}")
        assert r.status == 200, (r.status, r.body[:300])
        state: str = r.json()["state"]
        return state

    def wait_agent_state(self, number: str, state: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = self.agent_state(number)
            if seen == state:
                return
            time.sleep(0.2)
        raise AssertionError(f"agent {number} is {seen!r}, not {state!r} after {timeout}s")

    # ---- the switch side --------------------------------------------------------------------

    def phone(
        self, number: str, mode: str = "answer", ring: float = 1, talk: float | None = None
    ) -> None:
        """How desk phone ``number`` behaves when rung: answer (after ``ring`` s; hangs up
        after ``talk`` s, or never), noanswer or busy."""
        assert mode in ("answer", "noanswer", "busy"), mode
        self.ast.set_global(f"PHONE_{number}", mode)
        self.ast.set_global(f"PHONE_RING_{number}", f"{ring:g}")
        self.ast.set_global(f"PHONE_TALK_{number}", "" if talk is None else f"{talk:g}")

    def outside(self, number: str, mode: str = "answer", talk: float | None = None) -> None:
        """How an outside number behaves when ccbox calls it (``machine``/``person``: what
        AMD() hears first, see tests/support/real_asterisk.py)."""
        assert mode in ("answer", "noanswer", "busy", "machine", "person"), mode
        self.ast.set_global(f"PSTN_{number}", mode)
        self.ast.set_global(f"PSTN_TALK_{number}", "" if talk is None else f"{talk:g}")

    def call(
        self,
        digits: str = "",
        digits_at: float = 2,
        hangup_after: float = 60,
        number: str | None = None,
        name: str = "Zhang San",
        dialed: str = DID,
        timeout: float = 15,
        context: str = "ccbox-inbound",
        variables: tuple[str, ...] = (),
    ) -> Caller:
        """A caller dials ``dialed``: presses ``digits`` ``digits_at`` s after the answer and
        hangs up ``hangup_after`` s after that (or after the answer, without digits).
        ``context``: where the call enters the dialplan (a test's own, to set what AMI
        cannot carry, before ccbox-inbound); ``variables``: more channel variables."""
        number = number or f"138001{next(self._numbers):05d}"
        mark = self.ast.ami.mark()
        headers = [
            ("Channel", "Local/caller@harness-callers"),
            ("Context", context),
            ("Exten", dialed),
            ("Priority", "1"),
            ("CallerID", f'"{name}" <{number}>'),
            ("Async", "true"),
            ("Timeout", "10000"),
            *(("Variable", v) for v in variables),
            ("Variable", f"CALLER_DIGITS={digits}"),
            ("Variable", f"CALLER_DIGITS_AT={digits_at:g}"),
            ("Variable", f"CALLER_HANGUP_AFTER={hangup_after:g}"),
        ]
        started = time.time()
        r = self.ast.ami.action_list("Originate", headers)
        assert r.get("Response") == "Success", r
        action_id = r["ActionID"]
        ev = self.ast.ami.wait_event(
            lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == action_id,
            timeout,
            "the caller's OriginateResponse",
            mark,
        )
        assert ev.get("Response") == "Success", ev
        new = self.ast.ami.wait_event(
            lambda e: e.get("Event") == "Newchannel" and e.get("Uniqueid") == ev["Uniqueid"],
            5,
            "the caller's Newchannel",
            mark,
        )
        return Caller(number, ev["Channel"], ev["Uniqueid"], new.get("Linkedid", ""), started)

    def desk_dial(
        self, phone: str, code: str, keys: list[tuple[float, str]], hold: float = 15
    ) -> dict[str, str]:
        """Desk phone ``phone`` dials ``code`` (``*71``, ``*98`` ...); once answered, the
        person presses each ``(after_s, digits)`` of ``keys`` in turn, then hangs up after
        ``hold`` s (or when ccbox does). Returns the OriginateResponse."""
        assert len(keys) <= 3, keys
        steps = [*keys, *([(0.0, "")] * (3 - len(keys)))]
        headers = [
            ("Channel", f"Local/{code}@desk-{phone}"),
            ("Context", "harness-keypad"),
            ("Exten", "s"),
            ("Priority", "1"),
            ("Async", "true"),
            ("Timeout", "10000"),
            ("Variable", f"HOLD={hold:g}"),
        ]
        for i, (after, digits) in enumerate(steps, 1):
            headers += [("Variable", f"KEYS{i}_AT={after:g}"), ("Variable", f"KEYS{i}={digits}")]
        mark = self.ast.ami.mark()
        r = self.ast.ami.action_list("Originate", headers)
        assert r.get("Response") == "Success", r
        return self.ast.ami.wait_event(
            lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == r["ActionID"],
            15,
            f"phone {phone} dialing {code}",
            mark,
        )

    def wait_gone(self, caller: Caller, timeout: float = 60) -> dict[str, str]:
        """The caller's ``;1`` channel hung up: its Hangup event."""
        return self.ast.ami.wait_event(
            lambda e: e.get("Event") == "Hangup" and e.get("Uniqueid") == caller.uniqueid,
            timeout,
            f"the hangup of {caller.channel}",
        )

    def events(self, name: str, since: int = 0, **match: str) -> list[dict[str, str]]:
        return self.ast.ami.find(
            lambda e: e.get("Event") == name and all(e.get(k) == v for k, v in match.items()),
            since,
        )

    def bridge_time(self, channel: str) -> float:
        """Seconds ``channel`` spent in bridges (BridgeEnter to BridgeLeave), by AMI."""
        total, entered = 0.0, None
        for e in self.ast.ami.find(lambda e: e.get("Channel") == channel):
            if e.get("Event") == "BridgeEnter":
                entered = float(e["_t"])
            elif e.get("Event") == "BridgeLeave" and entered is not None:
                total += float(e["_t"]) - entered
                entered = None
        return total

    def wait_phone_answered(self, phone: str, since: int = 0, timeout: float = 30) -> str:
        """Desk phone ``phone`` answered a call: the phone end's channel (to hang it up)."""
        ev = self.ast.ami.wait_event(
            lambda e: (
                e.get("Event") == "UserEvent"
                and e.get("UserEvent") == "HarnessPhoneAnswered"
                and e.get("Phone") == phone
            ),
            timeout,
            f"desk phone {phone} answering",
            since,
        )
        return ev["Channel"]

    def hang_up_channel(self, channel: str) -> None:
        """Someone puts the phone down (AMI Hangup of that channel)."""
        r = self.ast.ami.action("Hangup", Channel=channel)
        assert r.get("Response") == "Success", r

    def cdrs(self) -> list[dict[str, Any]]:
        return self.ast.cdrs()

    def cdrs_for(self, caller: Caller) -> list[dict[str, Any]]:
        """Every CDR of the caller's call (its linkedid)."""
        return [c for c in self.ast.cdrs() if c.get("linkedid") == caller.linkedid]

    def phone_cdrs(self, phone: str, since: float = 0) -> list[dict[str, Any]]:
        """The CDRs of the phone end of calls to desk phone ``phone`` (IAX2/phoneside-N in
        harness-phone): ``answer``..``end`` is how long the phone was off the hook."""
        return [
            c
            for c in self.ast.cdrs()
            if str(c.get("channel", "")).startswith("IAX2/phoneside-")
            and c.get("dcontext") == "harness-phone"
            and c.get("dst") == phone
            and float(c.get("start") or 0) >= since
        ]

    # ---- ccbox's rows -----------------------------------------------------------------------

    def rows(self, query: Any) -> list[dict[str, Any]]:
        """A SQLAlchemy select on the model's tables (typed: times come back aware UTC)."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def call_rows(self, caller: Caller) -> list[dict[str, Any]]:
        """Every calls row of the caller's call (its uniqueid or linkedid)."""
        c = model.calls
        return self.rows(
            sa.select(c)
            .where(sa.or_(c.c.uniqueid == caller.uniqueid, c.c.linkedid == caller.linkedid))
            .order_by(c.c.id)
        )

    def wait_call_row(
        self, caller: Caller, timeout: float = 20, ended: bool = True, settle: float = SETTLE_S
    ) -> dict[str, Any]:
        """ccbox's calls row of the caller's channel (by uniqueid), once it has an end (and
        ``settle`` s more)."""
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        c = model.calls
        query = sa.select(c).where(c.c.uniqueid == caller.uniqueid)
        while time.monotonic() < deadline:
            rows = self.rows(query)
            if rows and not ended:
                return rows[-1]
            if rows and rows[-1]["ended_at"] is not None:
                # what ccboxd writes from the Hangup event (the cause) may land just after
                # the session's end: read the row once it has had a moment to settle
                time.sleep(settle)
                return self.rows(query)[-1]
            time.sleep(0.25)
        raise AssertionError(
            f"no {'ended ' if ended else ''}calls row for {caller.uniqueid} "
            f"({caller.channel}) after {timeout}s; rows: {rows}"
        )

    def call_events(self, call_id: int) -> list[dict[str, Any]]:
        e = model.call_events
        return self.rows(sa.select(e).where(e.c.call_id == call_id).order_by(e.c.id))

    def agent_events(self, number: str) -> list[dict[str, Any]]:
        e, a = model.agent_events, model.agents
        return self.rows(
            sa.select(e)
            .join(a, a.c.id == e.c.agent_id)
            .where(a.c.number == number)
            .order_by(e.c.id)
        )

    def callbacks(self) -> list[dict[str, Any]]:
        cb = model.callbacks
        return self.rows(sa.select(cb).order_by(cb.c.id))

    def outbound_rows(self, number: str) -> list[dict[str, Any]]:
        c = model.calls
        return self.rows(
            sa.select(c)
            .where(c.c.direction == "outbound", c.c.caller_number == number)
            .order_by(c.c.id)
        )

    def recordings(self, call_id: int) -> list[dict[str, Any]]:
        r = model.recordings
        return self.rows(sa.select(r).where(r.c.call_id == call_id).order_by(r.c.id))

    def wait_rows(
        self, fetch: Callable[[], list[dict[str, Any]]], what: str, timeout: float = 20, n: int = 1
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = fetch()
            if len(rows) >= n:
                return rows
            time.sleep(0.25)
        raise AssertionError(f"{what}: {len(rows)} rows after {timeout}s, wanted {n}: {rows}")

    def diagnostics(self) -> str:
        """What to print when a scenario fails: both logs' tails."""
        return (
            "---- ccboxd ----\n"
            + self.daemon_log()[-6000:]
            + "\n---- asterisk ----\n"
            + self.ast.log()[-6000:]
        )


# ---- building the box ---------------------------------------------------------------------


def write_box_config(root: Path, ports: ra.Ports) -> config_mod.Config:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    path = root / "ccbox.conf"
    path.write_text(
        config_mod.render(
            data,
            web_port=free_port(),
            switch=True,
            fastagi_port=ports.fastagi,
            ami_port=ports.ami,
            ami_secret=AMI_SECRET,
        ),
        encoding="utf-8",
    )
    return config_mod.load(path)


def generate_asterisk_files(config: config_mod.Config, out: Path, sounds: bool = True) -> None:
    """What an installer runs: ``ccbox asterisk-config`` (``sounds``: with the system sounds
    in ``<out>/sounds/<lang>/``)."""
    r = subprocess.run(
        [
            str(BIN / "ccbox"),
            "--config",
            str(config.path),
            "asterisk-config",
            "--out",
            str(out),
            "--device-tech",
            "IAX2",
            "--trunk",
            TRUNK,
            *([] if sounds else ["--no-sounds"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if r.returncode != 0:
        raise AssertionError(f"ccbox asterisk-config failed: {r.stdout}{r.stderr}")


def seed_center(db: Any, queue: dict[str, Any] | None = None) -> dict[str, int]:
    """The center of the module docstring; ``queue``: settings of "support" to change."""
    tech = resolved(db.skills.add("tech", "Technical support")).id
    ids = {"tech": tech}
    for number, name in AGENTS.items():
        agent = resolved(db.agents.add(number, name, "Support", f"IAX2/{number}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        ids[number] = agent.id
    settings: dict[str, Any] = {"wrapup_s": 1, "ring_timeout_s": 5, **(queue or {})}
    queue_row = resolved(db.queues.add("support", "Support", skills={tech: 3}, **settings))
    ids["support"] = queue_row.id
    return ids


def wait_ccbox_on_ami(ast: ra.RunningAsterisk, timeout: float = 30, since: int = 0) -> None:
    """ccboxd's AMI user has logged in (the SuccessfulAuth security event)."""
    ast.ami.wait_event(
        lambda e: e.get("Event") == "SuccessfulAuth" and e.get("AccountID") == "ccbox",
        timeout,
        "ccboxd's AMI login",
        since,
    )


def system_sounds(out: Path) -> Path:
    """ccbox's system sounds as ``ccbox asterisk-config`` renders them (``<out>/sounds``),
    made once for many boxes: only the sounds differ in nothing between them."""
    out.mkdir(parents=True, exist_ok=True)
    ports = ra.Ports(ami=free_port(), iax=0, fastagi=free_port())
    config = write_box_config(out, ports)
    generate_asterisk_files(config, out / "generated")
    return out / "generated" / "sounds"


@contextmanager
def real_box(
    install: ra.AsteriskInstall,
    sounds: Path | None = None,
    seed: Callable[[Any, dict[str, int]], None] | None = None,
    queue: dict[str, Any] | None = None,
    keep: bool = False,
) -> Iterator[RealBox]:
    """Asterisk and ccboxd on a fresh seeded database in a private temporary directory;
    both stopped and the directory removed on the way out (``keep``: left for a look).
    ``sounds``: ccbox's system sounds made already (see ``system_sounds``); None: this box's
    own ``ccbox asterisk-config`` makes them. ``seed(db, ids)`` adds rows; ``queue``
    changes settings of the queue "support" (e.g. ``{"announce_every_s": 5}``)."""
    root = Path(tempfile.mkdtemp(prefix="ccbox-ast-"))
    try:
        ports = ra.Ports(ami=free_port(), iax=ra.free_udp_port(), fastagi=free_port())
        config = write_box_config(root, ports)
        ids: dict[str, int] = {}

        def seed_all(db: Any) -> None:
            ids.update(seed_center(db, queue))
            if seed is not None:
                seed(db, ids)

        migrate_and_seed(config, seed_all)
        generated = root / "ccbox-asterisk"
        generate_asterisk_files(config, generated, sounds=sounds is None)
        conf = ra.write_config(
            root / "asterisk", install, ports, generated, sounds or generated / "sounds"
        )
        with ra.running_asterisk(install, conf, ports, root / "asterisk") as ast:
            mark = ast.ami.mark()
            with running_daemon(config.path, root) as daemon:
                wait_ccbox_on_ami(ast, 30, mark)
                box = RealBox(root, config, ast, daemon, ids)
                try:
                    yield box
                finally:
                    box.engine.dispose()
                    if box.daemon.proc.poll() is None:
                        box.daemon.stop()
                    box._stack.close()
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
