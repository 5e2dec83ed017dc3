"""The IVR interpreter on a fake FastAGI session: each node type, menus with retries and
back, digit collection, variables, and a hangup in the middle of any node."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from appliance.db.ivr_store import FlowVersion
from drivers.asterisk.agi.codec import AGIEnvironment, HeaderParser
from drivers.asterisk.agi.session import DeadChannel, Digits, Playback, Recording
from ivr.interpreter import CallerGone, Interpreter
from ivr.prompt_library import PromptLibrary
from ivr.services import IVRServices


class FakeSession:
    """A caller who presses ``keys`` one at a time when asked, and hangs up at the
    ``hang_up_at``-th command (that command answers as a dead channel)."""

    def __init__(self, keys: str = "", hang_up_at: int | None = None, dial: str = "ANSWER"):
        self.keys = list(keys)
        self.hang_up_at = hang_up_at
        self.commands: list[str] = []
        self.hung_up = False
        self.dial_status = dial
        # the header as Asterisk sends it, read by the real session's parser (the names
        # lose their agi_ prefix there: given with it, caller_number was always "")
        header = HeaderParser()
        for line in (
            "agi_channel: DAHDI/1-1",
            "agi_uniqueid: 1700000000.1",
            "agi_callerid: 13800138000",
            "agi_calleridname: Zhang San",
            "agi_dnid: 4008001234",
            "",
        ):
            header.line(line)
        self.env: AGIEnvironment = header.environment()

    def _cmd(self, line: str) -> None:
        self.commands.append(line)
        if self.hang_up_at is not None and len(self.commands) >= self.hang_up_at:
            self.hung_up = True
            raise DeadChannel("511")

    def _press(self, allowed: str) -> str | None:
        if self.keys and self.keys[0] in allowed:
            return self.keys.pop(0)
        return None

    async def stream_file(self, name: str, keys: str = "") -> Playback:
        self._cmd(f"STREAM FILE {name} {keys}")
        return Playback(self._press(keys), 0, False)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        self._cmd(f"WAIT FOR DIGIT {timeout_ms}")
        return self.keys.pop(0) if self.keys else None

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Digits:
        self._cmd(f"GET DATA {prompt} {timeout_ms} {max_digits}")
        got = ""
        while self.keys and len(got) < max_digits:
            key = self.keys.pop(0)
            if key == "#":
                break
            got += key
        return Digits(got, not got, False)

    async def say_digits(self, digits: str, keys: str = "") -> Playback:
        self._cmd(f"SAY DIGITS {digits}")
        return Playback(None, 0, False)

    async def say_number(self, number: int, keys: str = "") -> Playback:
        self._cmd(f"SAY NUMBER {number}")
        return Playback(None, 0, False)

    async def say_date(self, epoch: int, keys: str = "") -> Playback:
        self._cmd(f"SAY DATE {epoch}")
        return Playback(None, 0, False)

    async def exec_(self, app: str, arg: str = "") -> int:
        self._cmd(f"EXEC {app} {arg}")
        return 0

    async def get_variable(self, name: str) -> str | None:
        self.commands.append(f"GET VARIABLE {name}")
        return self.dial_status if name == "DIALSTATUS" else None

    async def hangup(self) -> None:
        self._cmd("HANGUP")
        self.hung_up = True

    async def record_file(self, *args: Any, **kw: Any) -> Recording:
        self._cmd(f"RECORD FILE {args[0]}")
        return Recording(None, True, False, 8000)


@dataclass
class FakeCall:
    call_id: int = 7
    disposition: str = "completed"
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def steps(self) -> list[tuple[str, str, str | None]]:
        return [(d["node"], d["input"], d["branch"]) for k, d in self.events if k == "ivr_step"]


class FakeIVRStore:
    def __init__(self) -> None:
        self.flows: dict[str, FlowVersion] = {}

    async def find_record(self, book: str, key: str) -> dict[str, str] | None:
        if (book, key) == ("accounts", "4711"):
            return {"name": "Li Lei", "level": "gold"}
        return (
            {"Status": "shipped", "eta-date": "2026-12-01"}
            if (book, key) == ("orders", "99")
            else None
        )

    async def published(self, name: str) -> FlowVersion | None:
        return self.flows.get(name)


class FakeDB:
    def __init__(self) -> None:
        self.ivr = FakeIVRStore()


class FakeVoicemail:
    def __init__(self) -> None:
        self.left: list[tuple[str, str]] = []

    async def leave(self, session: Any, call: Any, mailbox: str, **kw: Any) -> int:
        await session.record_file(f"/vm/{mailbox}/x")
        self.left.append((mailbox, kw.get("kind", "message")))
        return len(self.left)


def version(doc: dict[str, Any], name: str = "main", number: int = 3) -> FlowVersion:
    return FlowVersion(1, name, number, doc, "admin", "", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def graph(nodes: list[tuple[str, str, dict[str, Any]]], edges: list[tuple[str, str, str]]) -> dict:
    return {
        "start": nodes[0][0],
        "nodes": [{"id": i, "type": t, "props": p} for i, t, p in nodes],
        "edges": [{"from": a, "out": o, "to": b} for a, o, b in edges],
    }


@dataclass
class Rig:
    services: IVRServices
    db: FakeDB
    voicemail: FakeVoicemail
    clock: MemoryReactorClock


def test_the_fake_caller_has_the_number_a_real_header_gives() -> None:
    """The fake's caller ID is read as the real session reads Asterisk's header."""
    env = FakeSession().env
    assert (env.caller_number, env.caller_name, env.uniqueid) == (
        "13800138000",
        "Zhang San",
        "1700000000.1",
    )


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    clock = MemoryReactorClock()
    clock.advance(dt.datetime(2026, 11, 23, 2, 30, tzinfo=dt.UTC).timestamp())  # Mon 10:30 CST
    db, vm = FakeDB(), FakeVoicemail()
    services = IVRServices(clock, db, PromptLibrary(tmp_path), vm)  # type: ignore[arg-type]
    return Rig(services, db, vm, clock)


def run(rig: Rig, doc: dict, session: FakeSession, **variables: str) -> FakeCall:
    call = FakeCall()
    d = defer.ensureDeferred(
        Interpreter(rig.services).run(session, call, version(doc), dict(variables))  # type: ignore[arg-type]
    )
    failure: list[Any] = []
    d.addErrback(failure.append)
    assert d.called, "the flow waits for something the fake session never gives"
    if failure:
        failure[0].raiseException()
    return call


MENU = graph(
    [
        ("main", "menu", {"prompt": "main-menu", "options": ["1", "2"], "retries": 1}),
        ("sub", "menu", {"prompt": "sub-menu", "options": ["1"]}),
        ("one", "hangup", {"prompt": "one"}),
        ("two", "hangup", {"prompt": "two"}),
        ("subone", "hangup", {"prompt": "subone"}),
    ],
    [("main", "1", "sub"), ("main", "2", "two"), ("sub", "1", "subone")],
)


def test_a_menu_key_takes_its_branch(rig: Rig) -> None:
    session = FakeSession("2")
    call = run(rig, MENU, session)
    assert call.steps() == [("main", "2", "2"), ("two", "", None)]
    assert session.commands[0] == f"STREAM FILE {rig.services.prompts.prompts_dir}/main-menu 12*"
    assert session.commands[-1] == "HANGUP"
    assert call.events[0] == ("flow_start", {"flow": "main", "version": 3})


def test_a_menu_retries_invalid_and_no_input_then_fails(rig: Rig) -> None:
    session = FakeSession("9")
    call = run(rig, MENU, session)
    # 9 is ignored during the prompt, read after it: invalid; then nothing: timeout.
    assert call.steps()[0] == ("main", "invalid:9,timeout", "failed")
    assert "STREAM FILE ccbox-invalid " in session.commands
    # The failed output is not connected: goodbye and hang up.
    assert session.commands[-2:] == ["STREAM FILE ccbox-goodbye ", "HANGUP"]


def test_star_goes_back_to_the_previous_menu(rig: Rig) -> None:
    session = FakeSession("1*2")
    call = run(rig, MENU, session)
    assert call.steps() == [
        ("main", "1", "1"),
        ("sub", "*", "@main"),
        ("main", "2", "2"),
        ("two", "", None),
    ]


def test_star_in_the_first_menu_is_invalid(rig: Rig) -> None:
    session = FakeSession("*2")
    call = run(rig, MENU, session)
    assert call.steps()[0] == ("main", "invalid:*,2", "2")


COLLECT = graph(
    [
        (
            "ask",
            "collect",
            {
                "prompt": "acct",
                "variable": "acct",
                "min_digits": 4,
                "max_digits": 6,
                "pattern": "4[0-9]+",
                "retries": 1,
            },
        ),
        (
            "look",
            "lookup",
            {"source": "record", "book": "accounts", "key": "${acct}", "store": "cust"},
        ),
        ("vip", "condition", {"left": "${cust_level}", "op": "eq", "right": "gold"}),
        ("say", "say", {"mode": "digits", "value": "${acct}"}),
        ("q", "hangup", {}),
        ("no", "hangup", {"prompt": "no"}),
    ],
    [
        ("ask", "ok", "look"),
        ("look", "found", "vip"),
        ("look", "not_found", "no"),
        ("vip", "true", "say"),
        ("vip", "false", "no"),
        ("say", "next", "q"),
    ],
)


def test_collect_validates_then_lookup_sets_variables(rig: Rig) -> None:
    session = FakeSession("12#4711#")  # 12: too short; 4711 matches
    call = run(rig, COLLECT, session, customer_class="")
    assert call.steps() == [
        ("ask", "invalid:12,4711", "ok"),
        ("look", "4711", "found"),
        ("vip", "gold", "true"),
        ("say", "4711", "next"),
        ("q", "", None),
    ]
    assert "GET DATA " + str(rig.services.prompts.prompts_dir) + "/acct 5000 6" in session.commands
    assert "SAY DIGITS 4711" in session.commands


def test_collect_fails_after_its_retries(rig: Rig) -> None:
    session = FakeSession("5#5#")
    call = run(rig, COLLECT, session)
    assert call.steps()[0] == ("ask", "invalid:5,invalid:5", "failed")


def test_secret_input_is_not_written_down(rig: Rig) -> None:
    doc = graph(
        [
            ("pin", "collect", {"prompt": "p", "variable": "pin", "secret": True}),
            ("h", "hangup", {}),
        ],
        [("pin", "ok", "h")],
    )
    call = run(rig, doc, FakeSession("1234#"))
    assert call.steps()[0] == ("pin", "***", "ok")


def test_record_lookup_time_set_and_say(rig: Rig) -> None:
    doc = graph(
        [
            ("s", "set", {"variable": "order", "value": "99"}),
            ("l", "lookup", {"source": "record", "book": "orders", "key": "${order}"}),
            ("d", "say", {"mode": "date", "value": "${found_eta_date}"}),
            ("n", "say", {"mode": "number", "value": "-12"}),
            (
                "t",
                "time",
                {
                    "timezone": "Asia/Shanghai",
                    "open": [{"days": [0, 1, 2, 3, 4], "from": "09:00", "to": "18:00"}],
                },
            ),
            ("open", "hangup", {"prompt": "open"}),
            ("closed", "hangup", {"prompt": "closed"}),
        ],
        [
            ("s", "next", "l"),
            ("l", "found", "d"),
            ("d", "next", "n"),
            ("n", "next", "t"),
            ("t", "open", "open"),
            ("t", "closed", "closed"),
        ],
    )
    session = FakeSession()
    call = run(rig, doc, session)
    assert [s[2] for s in call.steps()] == ["next", "found", "next", "next", "open", None]
    noon = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).timestamp()
    assert f"SAY DATE {int(noon)}" in session.commands
    assert "SAY NUMBER -12" in session.commands
    # Saturday: closed; a holiday without a holiday output is closed too.
    rig.clock.advance(5 * 86400)
    assert run(rig, doc, FakeSession()).steps()[4][2] == "closed"


def test_no_lookup_source_overwrites_a_variable_the_system_sets(rig: Rig) -> None:
    """A record book's and an HTTP source's fields stored as "caller": their "number" would
    be caller_number; the caller's own number stays, the other fields are set."""
    asked: list[tuple[str, str]] = []

    async def http_lookup(url: str, key: str, timeout_s: int) -> dict[str, str]:
        asked.append((url, key))
        return {"Number": "555", "plan": "42"}

    rig.services.http_lookup = http_lookup
    rig.db.ivr.find_record = _evil_record  # type: ignore[method-assign]
    doc = graph(
        [
            ("b", "lookup", {"source": "record", "book": "evil", "key": "1", "store": "caller"}),
            ("b2", "say", {"mode": "digits", "value": "${caller_number}"}),
            ("h", "lookup", {"source": "http", "url": "https://x/", "key": "2", "store": "caller"}),
            ("h2", "say", {"mode": "digits", "value": "${caller_number}"}),
            ("p", "say", {"mode": "digits", "value": "${caller_level}${caller_plan}"}),
            ("end", "hangup", {}),
        ],
        [
            ("b", "found", "b2"),
            ("b2", "next", "h"),
            ("h", "found", "h2"),
            ("h2", "next", "p"),
            ("p", "next", "end"),
        ],
    )
    session = FakeSession()
    call = run(rig, doc, session, caller_number="13800138000")
    assert [s[2] for s in call.steps()] == ["found", "next", "found", "next", "next", None]
    assert asked == [("https://x/", "2")]
    assert session.commands.count("SAY DIGITS 13800138000") == 2
    assert "SAY DIGITS 999" not in session.commands and "SAY DIGITS 555" not in session.commands
    assert "SAY DIGITS 742" in session.commands  # the other fields are set


async def _evil_record(book: str, key: str) -> dict[str, str] | None:
    return {"number": "999", "level": "7"} if (book, key) == ("evil", "1") else None


def test_time_holiday_output(rig: Rig) -> None:
    doc = graph(
        [
            (
                "t",
                "time",
                {
                    "timezone": "Asia/Shanghai",
                    "holidays": ["2026-11-23"],
                    "open": [{"days": [0], "from": "00:00", "to": "24:00"}],
                },
            ),
            ("h", "hangup", {"prompt": "holiday"}),
            ("o", "hangup", {}),
        ],
        [("t", "holiday", "h"), ("t", "open", "o"), ("t", "closed", "o")],
    )
    assert run(rig, doc, FakeSession()).steps()[0] == ("t", "2026-11-23 10:30", "holiday")


@pytest.mark.parametrize(
    ("left", "op", "right", "expected"),
    [
        ("13800138000", "prefix", "138", "true"),
        ("abc", "contains", "b", "true"),
        ("5", "lt", "10", "true"),
        ("x", "gt", "1", "false"),
        ("", "empty", "", "true"),
        ("4711", "regex", "47[0-9]{2}", "true"),
        ("a", "ne", "a", "false"),
    ],
)
def test_condition_operators(rig: Rig, left: str, op: str, right: str, expected: str) -> None:
    doc = graph(
        [("c", "condition", {"left": left, "op": op, "right": right}), ("h", "hangup", {})],
        [("c", "true", "h"), ("c", "false", "h")],
    )
    assert run(rig, doc, FakeSession()).steps()[0][2] == expected


def test_transfer_and_its_failure(rig: Rig) -> None:
    doc = graph(
        [("x", "transfer", {"kind": "external", "number": "01088886666"}), ("h", "hangup", {})],
        [("x", "failed", "h")],
    )
    session = FakeSession()
    call = run(rig, doc, session)
    assert "EXEC Dial Local/01088886666@ccbox-outbound,60" in session.commands
    assert (call.steps(), call.disposition) == ([("x", "01088886666", None)], "transferred")
    busy = run(rig, doc, FakeSession(dial="BUSY"))
    assert busy.steps()[0] == ("x", "01088886666:BUSY", "failed")


def test_voicemail_and_complaint_recording(rig: Rig) -> None:
    doc = graph(
        [
            ("v", "voicemail", {"mailbox": "800"}),
            ("r", "record", {"kind": "complaint"}),
            ("h", "hangup", {}),
        ],
        [("v", "next", "r"), ("r", "next", "h")],
    )
    call = run(rig, doc, FakeSession())
    assert rig.voicemail.left == [("800", "message"), ("complaints", "complaint")]
    assert call.disposition == "voicemail"


def test_goto_runs_the_other_flows_published_version(rig: Rig) -> None:
    other = graph([("o", "hangup", {"prompt": "other"})], [])
    rig.db.ivr.flows["after-hours"] = version(other, "after-hours", 9)
    doc = graph([("g", "goto", {"flow": "after-hours"})], [])
    session = FakeSession()
    call = run(rig, doc, session)
    assert ("flow_start", {"flow": "after-hours", "version": 9}) in call.events
    assert f"STREAM FILE {rig.services.prompts.prompts_dir}/other " in session.commands


def test_a_runaway_flow_is_stopped(rig: Rig) -> None:
    # A menu looping on itself: the caller pressing 1 forever is bounded.
    doc = graph([("m", "menu", {"prompt": "p", "options": ["1"]})], [("m", "1", "m")])
    session = FakeSession("1" * 400)
    call = run(rig, doc, session)
    assert call.events[-1][0] == "ivr_error"
    assert len(call.steps()) == 300


@pytest.mark.parametrize("at", range(1, 7))  # the six commands of the walk
def test_hangup_at_any_command_ends_the_run(rig: Rig, at: int) -> None:
    session = FakeSession("12#4711#", hang_up_at=at)
    with pytest.raises(CallerGone):
        run(rig, COLLECT, session)


@pytest.mark.parametrize(
    "node",
    [
        ("play", {"prompt": "p"}),
        ("menu", {"prompt": "p", "options": ["1"]}),
        ("collect", {"prompt": "p", "variable": "v"}),
        ("say", {"mode": "digits", "value": "123"}),
        ("voicemail", {"mailbox": "800"}),
        ("record", {}),
        ("transfer", {"kind": "extension", "number": "8001"}),
        ("hangup", {}),
    ],
    ids=lambda n: n[0] if isinstance(n, tuple) else "",
)
def test_hangup_in_every_node_is_recorded_on_that_node(rig: Rig, node: tuple) -> None:
    doc = graph([("n", node[0], node[1])], [])
    call = FakeCall()
    d = defer.ensureDeferred(
        Interpreter(rig.services).run(FakeSession(hang_up_at=1), call, version(doc), {})  # type: ignore[arg-type]
    )
    failures: list[Any] = []
    d.addErrback(failures.append)
    assert failures and failures[0].check(CallerGone)
    kind, step = call.events[-1]
    assert (kind, step["node"], step["type"], step["branch"]) == (
        "ivr_step",
        "n",
        node[0],
        "hangup",
    )
