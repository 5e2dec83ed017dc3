""" "Try it": a flow run against a simulated call, driven from the editor in the browser.

The real interpreter walks the (unsaved) graph; the session under it is a stand-in that
writes down what a caller would hear and asks the browser for the keys. Nothing reaches the
switch, the ACD, a mailbox or an outside number: a queue, voicemail, recording or transfer
node says what would happen (and a queue or transfer ends the try). Lookups read the real
records, read only.

A run waits for input with a Deferred the next ``input`` call fires; ``settle`` fires when
the run waits or has ended, so one HTTP request returns everything that happened since the
last. Runs are few (at most ``MAX_RUNS``) and expire after ``IDLE_S`` without input.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.python.failure import Failure

from appliance.db.ivr_store import FlowVersion
from appliance.text import N_
from drivers.asterisk.agi.codec import AGIEnvironment
from drivers.asterisk.agi.session import Digits, Playback, Recording
from ivr.flow_model import Node, parse
from ivr.interpreter import CallerGone, Interpreter, Run
from ivr.prompt_ref import prompt_ref

if TYPE_CHECKING:
    from ivr.services import IVRServices

MAX_RUNS = 20
IDLE_S = 600
MAX_INPUT = 64
KEYS = set("0123456789*#")


@dataclass
class TryEvent:
    kind: str
    template: str  # English, with {name} fields: the web UI translates it, then fills it in
    params: dict[str, Any] = field(default_factory=dict)
    node: str | None = None
    prompt: str | None = None
    tts: str | None = None

    def as_dict(self, translate: Any = None) -> dict[str, Any]:
        template = translate(self.template) if translate is not None else self.template
        return {
            "kind": self.kind,
            "text": template.format(**self.params),
            "node": self.node,
            "prompt": self.prompt,
            "tts": self.tts,
        }


class _Ended(Exception):
    """The try stops here (a queue, a transfer: the real call would leave the IVR)."""


@dataclass
class TryRun:
    id: str
    events: list[TryEvent] = field(default_factory=list)
    sent: int = 0  # events already returned to the browser
    keys: list[str] = field(default_factory=list)  # typed ahead, not read yet
    waiting: str | None = None  # "digit" | "digits"
    ended: bool = False
    last_seen: float = 0.0
    _input: defer.Deferred[None] | None = None
    _settled: defer.Deferred[None] | None = None

    def emit(
        self,
        kind: str,
        template: str,
        node: str | None = None,
        prompt: str | None = None,
        tts: str | None = None,
        **params: Any,
    ) -> None:
        self.events.append(TryEvent(kind, template, params, node, prompt, tts))

    def new_events(self, translate: Any = None) -> list[dict[str, Any]]:
        fresh, self.sent = self.events[self.sent :], len(self.events)
        return [e.as_dict(translate) for e in fresh]

    def settle(self) -> defer.Deferred[None]:
        if self.waiting is not None or self.ended:
            return defer.succeed(None)
        self._settled = defer.Deferred()
        return self._settled

    def _fire_settled(self) -> None:
        d, self._settled = self._settled, None
        if d is not None:
            d.callback(None)

    async def wait_input(self, kind: str) -> bool:
        """Until the browser sends keys; False when it sent none (the caller is silent)."""
        self.waiting = kind
        self._input = defer.Deferred()
        self._fire_settled()
        await self._input
        self.waiting = None
        return bool(self.keys)

    def give(self, keys: str) -> None:
        self.keys.extend(k for k in keys[:MAX_INPUT] if k in KEYS)
        d, self._input = self._input, None
        if d is not None:
            d.callback(None)

    def finish(self) -> None:
        self.ended = True
        self.waiting = None
        self._fire_settled()


class TrySession:
    """The AGI session API, answered from the try run instead of a switch."""

    def __init__(self, run: TryRun, caller_number: str) -> None:
        self.run = run
        self.hung_up = False
        self.env = AGIEnvironment(
            {
                "agi_channel": "Try/1",
                "agi_uniqueid": f"try-{run.id}",
                "agi_callerid": caller_number,
                "agi_calleridname": "Try it",
                "agi_dnid": "try",
            }
        )

    def _take(self, allowed: str) -> str | None:
        if self.run.keys and self.run.keys[0] in allowed:
            return self.run.keys.pop(0)
        return None

    async def stream_file(self, name: str, keys: str = "") -> Playback:
        return Playback(self._take(keys), 0, False)

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        if not self.run.keys and not await self.run.wait_input("digit"):
            self.run.emit("input", N_("no input (timeout)"))
            return None
        digit = self.run.keys.pop(0)
        self.run.emit("input", N_("pressed {keys}"), keys=digit)
        return digit

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Digits:
        if not self.run.keys and not await self.run.wait_input("digits"):
            self.run.emit("input", N_("no input (timeout)"))
            return Digits("", True, False)
        got = ""
        while self.run.keys and len(got) < max_digits:
            key = self.run.keys.pop(0)
            if key == "#":
                break
            got += key
        self.run.emit("input", N_("pressed {keys}"), keys=got or "#")
        return Digits(got, not got, False)

    async def say_digits(self, digits: str, keys: str = "") -> Playback:
        self.run.emit("say", N_("says the digits {digits}"), digits=digits)
        return Playback(None, 0, False)

    async def say_number(self, number: int, keys: str = "") -> Playback:
        self.run.emit("say", N_("says the number {number}"), number=number)
        return Playback(None, 0, False)

    async def say_date(self, epoch: int, keys: str = "") -> Playback:
        day = dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()
        self.run.emit("say", N_("says the date {day}"), day=day)
        return Playback(None, 0, False)

    async def record_file(self, *args: Any, **kw: Any) -> Recording:
        return Recording(None, True, False, 0)

    async def exec_(self, application: str, argument: str = "", timeout: float = 0) -> int:
        return 0

    async def get_variable(self, name: str) -> str | None:
        return "ANSWER" if name == "DIALSTATUS" else None

    async def channel_status(self) -> int:
        return 6

    async def hangup(self) -> None:
        self.hung_up = True


class _TryCall:
    """Stands for the calls row: steps become transcript lines."""

    def __init__(self, run: TryRun) -> None:
        self.run = run
        self.call_id = 0
        self.disposition = "completed"
        self.agent_id = None

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "ivr_step":
            branch = data["branch"]
            self.run.emit(
                "step",
                N_("{at} -> {branch}"),
                data["node"],
                at=data["node"],
                branch=branch.lstrip("@") if branch else "end",
            )
        elif kind == "flow_start":
            self.run.emit("step", N_("flow {flow}"), flow=data["flow"])
        elif kind == "ivr_error":
            self.run.emit(
                "error", N_("stopped at {at}: {why}"), at=data.get("node"), why=data.get("why")
            )


class TryInterpreter(Interpreter):
    """The interpreter with the nodes that would leave the IVR replaced by what they say."""

    def __init__(self, services: IVRServices, run: TryRun) -> None:
        super().__init__(services)
        self.try_run = run

    async def _play(self, r: Run, value: Any, keys: str = "") -> str | None:
        ref = prompt_ref(value)
        if ref is None:
            return None
        if ref.tts is not None:
            self.try_run.emit(
                "play",
                N_("says ({lang}): {text}"),
                r.current,
                None,
                ref.tts,
                lang=ref.lang,
                text=ref.tts,
            )
        else:
            self.try_run.emit(
                "play", N_("plays the prompt {name}"), r.current, ref.name, name=ref.name
            )
        digit = await r.session.stream_file("", keys)
        if digit.digit is not None:
            self.try_run.emit("input", N_("pressed {keys} during the prompt"), keys=digit.digit)
        return digit.digit

    async def queue(self, r: Run, node: Node) -> tuple[str | None, str]:
        name, prio = node.props.get("queue"), node.props.get("priority", 0)
        self.try_run.emit(
            "queue",
            N_("the caller waits in queue {queue} (priority {priority})"),
            node.id,
            queue=name,
            priority=prio,
        )
        return None, "try"

    async def voicemail(self, r: Run, node: Node) -> tuple[str | None, str]:
        box = node.props.get("mailbox")
        self.try_run.emit(
            "voicemail",
            N_("the caller leaves a message in mailbox {mailbox}"),
            node.id,
            mailbox=box,
        )
        return "next", "try"

    async def record(self, r: Run, node: Node) -> tuple[str | None, str]:
        await self._play(r, node.props.get("prompt"))
        queue = node.props.get("callback_queue")
        if node.props.get("kind") == "complaint":
            template = N_("the caller records a complaint")
        else:
            template = N_("the caller records a message")
        self.try_run.emit("record", template, node.id)
        if queue:
            self.try_run.emit("record", N_("queue {queue} will call back"), node.id, queue=queue)
        if node.props.get("ticket") is True:
            self.try_run.emit("record", N_("a complaint ticket is opened"), node.id)
        return "next", "try"

    def _link_customer(self, r: Run, customer_id: int) -> None:
        """A try has no call to give the customer found (lookups only read)."""

    async def transfer(self, r: Run, node: Node) -> tuple[str | None, str]:
        number = node.props.get("number")
        self.try_run.emit(
            "transfer", N_("the call is transferred to {number}"), node.id, number=number
        )
        return None, "try"

    async def dnc(self, r: Run, node: Node) -> tuple[str | None, str]:
        self.try_run.emit("dnc", N_("the caller's number goes on the do-not-call list"), node.id)
        await self._play(r, node.props.get("prompt"))
        return "next", "try"

    async def hangup(self, r: Run, node: Node) -> tuple[str | None, str]:
        await self._play(r, node.props.get("prompt") or "ccbox-goodbye")
        self.try_run.emit("hangup", N_("hang up"), node.id)
        return None, ""


class TryRuns:
    def __init__(self, services: IVRServices) -> None:
        self.services = services
        self.runs: dict[str, TryRun] = {}

    def _expire(self) -> None:
        now = self.services.reactor.seconds()
        for run_id, run in list(self.runs.items()):
            if run.ended or now - run.last_seen > IDLE_S:
                if not run.ended:
                    run.give("")  # let it finish
                del self.runs[run_id]

    async def start(self, graph: dict[str, Any], name: str, caller: str = "13800138000") -> TryRun:
        parse(graph)  # the shape (FlowFormatError); a draft may be incomplete otherwise
        self._expire()
        if len(self.runs) >= MAX_RUNS:
            raise RuntimeError(N_("too many try runs at once; close one and try again"))
        run = TryRun(secrets.token_urlsafe(12), last_seen=self.services.reactor.seconds())
        self.runs[run.id] = run
        version = FlowVersion(0, name or "draft", 0, graph, "", "", dt.datetime.now(dt.UTC))
        session = TrySession(run, caller[:32])
        variables = {
            "caller_number": caller[:32],
            "caller_name": "Try it",
            "dialed": "try",
            "customer_class": "",
            "customer_name": "",
            "last_input": "",
        }
        d = defer.ensureDeferred(
            TryInterpreter(self.services, run).run(session, _TryCall(run), version, variables)  # type: ignore[arg-type]
        )

        def ended(result: object) -> None:
            if isinstance(result, Failure):
                if result.check(CallerGone):
                    run.emit("hangup", N_("the caller hung up"))
                else:
                    run.emit("error", N_("the flow failed: {why}"), why=result.getErrorMessage())
            run.emit("end", N_("end of the call"))
            run.finish()

        d.addBoth(ended)
        await run.settle()
        return run

    async def input(self, run_id: str, keys: str) -> TryRun:
        run = self.runs.get(run_id)
        if run is None:
            raise LookupError(N_("no such try run (it ended or expired)"))
        run.last_seen = self.services.reactor.seconds()
        if run.ended:
            return run
        run.give(keys)
        await run.settle()
        return run
