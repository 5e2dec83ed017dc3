"""The IVR interpreter: runs one published flow version for one call over its FastAGI session.

The version is fixed when the call enters (a flow edited or republished mid-call does not
change it; a ``goto`` takes the other flow's published version at that moment). Every node
walked is written as an ``ivr_step`` call event ``{flow, version, node, type, input,
branch}``, which is what the reports count per node (``branch`` None: the flow ended
there). A hangup at any point ends the run with that node's step on the branch
``hangup``; the caller of ``run`` closes the call row.

Menus play their prompt with their keys as escape digits (STREAM FILE answers the ASCII
code, as the traces show), then WAIT FOR DIGIT; digit collection uses GET DATA (``#`` ends
the entry). Caller input is bounded and checked: a menu takes one key, a collection at most
32 digits that must match the node's pattern; anything else is "invalid" and retried, then
the ``failed`` output. ``*`` goes back to the previous menu.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from acd.dialer.dnc import add_to_center_list
from acd.service import ACDError
from drivers.asterisk.agi.session import AGIConnectionLost, DeadChannel, Playback
from ivr import queue_step
from ivr.caller_customer import caller_priority
from ivr.complaint_ticket import open_ticket
from ivr.customer_lookup import clean, customer_variables, find_customer
from ivr.flow_model import BUILTIN_VARIABLES, NODE_TYPES, VARIABLE, Flow, Node, parse, render
from ivr.prompt_ref import prompt_ref

if TYPE_CHECKING:
    from appliance.db.ivr_store import FlowVersion
    from drivers.asterisk.agi.session import AGISessionProtocol
    from ivr.call_record import CallRecord
    from ivr.services import IVRServices

log = Logger(namespace="ccbox.ivr")

ALL_KEYS = "0123456789*#"
MAX_STEPS = 300  # a bound even on a valid flow (a caller pressing * forever, goto chains)
MAX_GOTOS = 10
MAX_VALUE = 256
HUNG_UP = "hangup"  # the branch of a step where the caller hung up
GOODBYE = "ccbox-goodbye"
INVALID = "ccbox-invalid"
NO_INPUT = "ccbox-no-input"
_DIGITS = re.compile(r"[0-9*]{1,32}")


class CallerGone(Exception):
    """The caller hung up (the session's DeadChannel or a closed socket)."""


class FlowEnded(Exception):
    """The flow handed the call over (queue answered, transfer, hangup): stop walking."""


@dataclass
class Run:
    """One call walking a flow."""

    session: AGISessionProtocol
    call: CallRecord
    flow: Flow
    flow_name: str
    version: int
    variables: dict[str, str]
    menus: list[str] = field(default_factory=list)  # menus entered, for "*" = back
    steps: int = 0
    gotos: int = 0
    current: str = ""  # the node being run
    # the call's customer: the caller's, or the one a lookup node found (a complaint's ticket)
    customer_id: int | None = None


class Interpreter:
    def __init__(self, services: IVRServices) -> None:
        self.services = services

    async def run(
        self,
        session: AGISessionProtocol,
        call: CallRecord,
        version: FlowVersion,
        variables: dict[str, str],
        customer_id: int | None = None,
    ) -> None:
        """Walk the flow until it ends; CallerGone when the caller hangs up. ``customer_id``:
        the caller's customer when already found (a lookup node may find another)."""
        r = Run(session, call, parse(version.graph), version.flow_name, version.version, variables)
        r.customer_id = customer_id
        await call.event("flow_start", {"flow": r.flow_name, "version": r.version})
        node_id: str | None = r.flow.start
        while node_id is not None:
            r.steps += 1
            node = r.flow.nodes.get(node_id)
            if node is None or node.type not in HANDLERS or r.steps > MAX_STEPS:
                why = "too many steps" if r.steps > MAX_STEPS else "missing or unknown node"
                await call.event("ivr_error", {"node": node_id, "why": why})
                await self._goodbye(r)
                return
            r.current = node.id
            try:
                branch, given = await getattr(self, node.type)(r, node)
            except (DeadChannel, AGIConnectionLost, CallerGone):
                await self._step(r, node, "", HUNG_UP)
                raise CallerGone() from None
            if branch is not None and session.hung_up:
                branch = HUNG_UP  # the caller went while the node ran (its prompt, say)
            await self._step(r, node, given, branch)
            if branch == HUNG_UP:
                raise CallerGone()
            if branch is None:
                return
            if branch.startswith("@"):  # a jump (back to a menu, into another flow's start)
                node_id = branch[1:]
                continue
            node_id = r.flow.next(node.id, branch)
            if node_id is None:
                await self._goodbye(r)  # an output left open ends the call politely
                return

    async def _step(self, r: Run, node: Node, given: str, branch: str | None) -> None:
        data = {
            "flow": r.flow_name,
            "version": r.version,
            "node": node.id,
            "type": node.type,
            "input": given,
            "branch": branch,
        }
        await r.call.event("ivr_step", data)

    async def _goodbye(self, r: Run) -> None:
        if not r.session.hung_up:
            await r.session.stream_file(GOODBYE)
            await r.session.hangup()

    # ---- helpers -------------------------------------------------------------------------

    async def _play(self, r: Run, value: Any, keys: str = "") -> str | None:
        """Play a prompt prop; the key pressed (among ``keys``) or None."""
        ref = prompt_ref(value)
        if ref is None:
            return None
        sound = await self.services.prompts.sound(ref)
        if sound is None:
            await r.call.event("prompt_failed", {"tts": (ref.tts or "")[:80]})
            return None
        pb = await r.session.stream_file(sound, keys)
        await self._check(r, pb, "missing prompt " + sound[-80:])
        return pb.digit

    async def _check(self, r: Run, pb: Playback, otherwise: str) -> None:
        """After a playback: the caller hung up (CallerGone), or the sound is missing (the
        session told them apart; written down, the flow goes on)."""
        if pb.failed and not pb.missing:
            raise CallerGone()
        if pb.missing:
            await r.call.event("prompt_failed", {"why": otherwise})

    def _var(self, r: Run, name: str, value: str) -> None:
        """Set a flow variable: the one place a collect, a set or any lookup source writes
        one. A name the system sets is left alone (a lookup stored as "caller" with a
        field "number" must not replace the caller's ``caller_number``)."""
        if VARIABLE.fullmatch(name) and name not in BUILTIN_VARIABLES:
            r.variables[name] = value[:MAX_VALUE]

    def _text(self, r: Run, node: Node, key: str) -> str:
        return render(str(node.props.get(key, "")), r.variables)[:MAX_VALUE]

    # ---- node types ------------------------------------------------------------------------

    async def play(self, r: Run, node: Node) -> tuple[str | None, str]:
        keys = ALL_KEYS if node.props.get("barge_in", True) else ""
        digit = await self._play(r, node.props.get("prompt"), keys)
        return "next", digit or ""

    async def menu(self, r: Run, node: Node) -> tuple[str | None, str]:
        if node.id in r.menus:
            del r.menus[r.menus.index(node.id) + 1 :]
        else:
            r.menus.append(node.id)
        options = [str(k) for k in node.props.get("options", [])]
        back = node.props.get("back", True) is True
        retries = int(node.props.get("retries", 2))
        timeout_ms = int(node.props.get("timeout_s", 5)) * 1000
        # The prompt stops on a key the menu knows; any key after it is read (and may be
        # invalid). Asterisk ignores other keys during the prompt.
        keys = "".join(options) + ("*" if back else "")
        tries: list[str] = []
        for _attempt in range(retries + 1):
            digit = await self._play(r, node.props.get("prompt"), keys)
            if digit is None and timeout_ms > 0:
                digit = await r.session.wait_for_digit(timeout_ms)
            if digit is None:
                tries.append("timeout")
                retry_prompt = node.props.get("timeout_prompt") or NO_INPUT
            elif digit == "*" and back and len(r.menus) > 1:
                r.menus.pop()
                return "@" + r.menus[-1], "*"
            elif digit in options:
                r.variables["last_input"] = digit
                return digit, ",".join([*tries, digit])
            else:
                tries.append(f"invalid:{digit}" if digit in ALL_KEYS else "invalid")
                retry_prompt = node.props.get("invalid_prompt") or INVALID
            if _attempt < retries:
                await self._play(r, retry_prompt)
        return "failed", ",".join(tries)

    async def collect(self, r: Run, node: Node) -> tuple[str | None, str]:
        low, high = int(node.props.get("min_digits", 1)), int(node.props.get("max_digits", 32))
        pattern = str(node.props.get("pattern") or "")
        retries = int(node.props.get("retries", 2))
        timeout_ms = int(node.props.get("timeout_s", 5)) * 1000
        secret = node.props.get("secret") is True
        ref = prompt_ref(node.props.get("prompt"))
        sound = await self.services.prompts.sound(ref) if ref is not None else None
        tries: list[str] = []
        for attempt in range(retries + 1):
            got = await r.session.get_data(sound or "beep", timeout_ms, min(high, 32))
            if got.hung_up:
                raise CallerGone()
            digits = got.digits
            ok = (
                _DIGITS.fullmatch(digits) is not None
                and low <= len(digits) <= high
                and (not pattern or re.fullmatch(pattern, digits) is not None)
            )
            if ok:
                self._var(r, str(node.props.get("variable")), digits)
                r.variables["last_input"] = digits
                return "ok", ",".join([*tries, "***" if secret else digits])
            tries.append(
                "timeout" if not digits else ("invalid" if secret else f"invalid:{digits[:32]}")
            )
            if attempt < retries:
                await self._play(r, node.props.get("invalid_prompt") or INVALID)
        return "failed", ",".join(tries)

    async def say(self, r: Run, node: Node) -> tuple[str | None, str]:
        mode, value = node.props.get("mode"), self._text(r, node, "value").strip()
        session = r.session
        if mode == "digits" and value.isascii() and value.isdigit():
            pb = await session.say_digits(value[:32])
        elif mode == "number" and re.fullmatch(r"-?\d{1,12}", value):
            pb = await session.say_number(int(value))
        elif mode == "date":
            day = _date(value, self.services.reactor.seconds())
            if day is None:
                return "next", "invalid"
            pb = await session.say_date(int(day.timestamp()))
        else:
            return "next", "invalid"
        await self._check(r, pb, f"say {mode} failed")
        return "next", value

    async def lookup(self, r: Run, node: Node) -> tuple[str | None, str]:
        source, key = node.props.get("source"), self._text(r, node, "key").strip()
        prefix = str(node.props.get("store", "found"))
        found: dict[str, str] | None = None
        if key:
            db = self.services.db
            if source == "customer":
                return await self._customer(r, key, prefix)
            if source == "record":
                found = await db.ivr.find_record(str(node.props.get("book")), key)
            elif source == "http" and self.services.http_lookup is not None:
                found = await self.services.http_lookup(
                    str(node.props.get("url")), key, int(node.props.get("timeout_s", 3))
                )
        if found is None:
            return "not_found", key
        for name, value in list(found.items())[:20]:
            field_name = re.sub(r"[^a-z0-9_]", "_", name.lower())[:20]
            self._var(r, f"{prefix}_{field_name}", clean(value))  # one line, as a customer's
        return "found", key

    async def _customer(self, r: Run, key: str, prefix: str) -> tuple[str | None, str]:
        """The lookup node's customer source (ivr/customer_lookup.py): the customer's
        variables, and the call's customer from now on."""
        customer = await find_customer(self.services, key)
        if customer is None:
            return "not_found", key
        for name, value in customer_variables(customer, prefix).items():
            self._var(r, name, value)
        r.variables["customer_class"] = customer.customer_class[:32]
        r.variables["customer_name"] = clean(customer.name)[:80]
        r.customer_id = customer.id
        self._link_customer(r, customer.id)
        return "found", key

    def _link_customer(self, r: Run, customer_id: int) -> None:
        """The call is this customer's from now on (its row's ``customer_id``)."""
        if self.services.customers is not None:
            r.call._track(self.services.customers.link_call(r.call.call_id, customer_id))

    async def condition(self, r: Run, node: Node) -> tuple[str | None, str]:
        left, op = self._text(r, node, "left"), node.props.get("op")
        right = self._text(r, node, "right") if op != "regex" else str(node.props.get("right"))
        result = _test(left, str(op), right)
        return ("true" if result else "false"), left[:32]

    async def time(self, r: Run, node: Node) -> tuple[str | None, str]:
        tz = zoneinfo.ZoneInfo(str(node.props.get("timezone", "UTC")))
        local = dt.datetime.fromtimestamp(self.services.reactor.seconds(), tz)
        stamp = local.strftime("%Y-%m-%d %H:%M")
        if local.date().isoformat() in node.props.get("holidays", []):
            branch = "holiday" if r.flow.next(node.id, "holiday") else "closed"
            return branch, stamp
        hhmm = local.strftime("%H:%M")
        for period in node.props.get("open", []):
            if local.weekday() in period["days"] and period["from"] <= hhmm < period["to"]:
                return "open", stamp
        return "closed", stamp

    async def queue(self, r: Run, node: Node) -> tuple[str | None, str]:
        acd = self.services.acd
        if acd is None:
            return "unanswered", "no acd"
        try:
            q = acd.queue(str(node.props.get("queue")))
        except ACDError:
            return "unanswered", "no queue"
        env = r.session.env
        assert env is not None
        priority = caller_priority(self.services, env.caller_number, r.variables) + int(
            node.props.get("priority", 0)
        )
        qcall = acd.join(q.id, env.caller_number, env.uniqueid, priority, env.channel)
        outcome = await queue_step.wait(self.services, r.session, r.call, qcall, q)
        if outcome == "abandoned":
            raise CallerGone()
        if outcome in queue_step.UNANSWERED and r.flow.next(node.id, "unanswered"):
            r.call.disposition = "completed"
            return "unanswered", outcome
        await queue_step.queue_exit(self.services, r.session, r.call, qcall, outcome)
        return None, outcome

    async def voicemail(self, r: Run, node: Node) -> tuple[str | None, str]:
        mailbox = str(node.props.get("mailbox"))
        message = await self.services.voicemail.leave(r.session, r.call, mailbox)
        if message is not None:
            r.call.disposition = "voicemail"
        return "next", "message" if message is not None else "silent"

    async def record(self, r: Run, node: Node) -> tuple[str | None, str]:
        kind = str(node.props.get("kind", "message"))
        mailbox = str(node.props.get("mailbox") or f"{kind}s")
        ref = prompt_ref(node.props.get("prompt"))
        greeting = await self.services.prompts.sound(ref) if ref is not None else None
        message = await self.services.voicemail.leave(
            r.session,
            r.call,
            mailbox,
            kind=kind,
            greeting=greeting,
            max_s=int(node.props.get("max_s", 120)),
            silence_s=int(node.props.get("silence_s", 3)),
        )
        queue_name = node.props.get("callback_queue")
        acd, env = self.services.acd, r.session.env
        if message is not None and queue_name and acd is not None and env is not None:
            callback = await acd.schedule_callback(
                str(queue_name), env.caller_number, env.caller_name[:128], source="ivr"
            )
            await r.call.event(
                "callback_requested", {"queue": queue_name, "callback": callback, "kind": kind}
            )
        if message is not None and node.props.get("ticket") is True:
            number = await open_ticket(
                self.services,
                r.call,
                message,
                env.caller_number if env is not None else "",
                r.customer_id,
                str(queue_name) if queue_name else None,
            )
            if number is not None:
                r.variables["ticket_number"] = number
        return "next", "message" if message is not None else "silent"

    async def transfer(self, r: Run, node: Node) -> tuple[str | None, str]:
        number = str(node.props.get("number"))
        context = "ccbox-extensions" if node.props.get("kind") == "extension" else "ccbox-outbound"
        await r.session.exec_("Dial", f"Local/{number}@{context},60")
        status = await r.session.get_variable("DIALSTATUS")
        if status == "ANSWER":
            r.call.disposition = "transferred"
            return None, number
        if r.session.hung_up:
            raise CallerGone()
        return "failed", f"{number}:{status or 'unknown'}"

    async def set(self, r: Run, node: Node) -> tuple[str | None, str]:
        value = self._text(r, node, "value")
        self._var(r, str(node.props.get("variable")), value)
        return "next", value[:32]

    async def goto(self, r: Run, node: Node) -> tuple[str | None, str]:
        name = str(node.props.get("flow"))
        target = await self.services.db.ivr.published(name)
        r.gotos += 1
        if target is None or r.gotos > MAX_GOTOS:
            return None, f"{name}:unavailable"
        r.flow, r.flow_name, r.version, r.menus = parse(target.graph), name, target.version, []
        await r.call.event("flow_start", {"flow": name, "version": target.version})
        return "@" + r.flow.start, name

    async def dnc(self, r: Run, node: Node) -> tuple[str | None, str]:
        """Don't call me: the caller's number on the center's do-not-call list, in force
        for the dialer at once; then the confirmation prompt. The step's input: ``added``,
        ``listed`` (already there), ``no_number`` (withheld or not a number) or ``failed``
        (the database refused: logged; the running dialer still has it)."""
        env = r.session.env
        number = env.caller_number if env is not None else r.variables.get("caller_number", "")
        try:
            added = await add_to_center_list(
                number, "ivr", self.services.do_not_call(), self.services.db.dialer
            )
            given = "added" if added else "listed"
        except ValueError:
            given = "no_number"
        except Exception as exc:
            log.error("do-not-call from the IVR not stored: {why}", why=exc)
            given = "failed"
        await self._play(r, node.props.get("prompt"))
        return "next", given

    async def hangup(self, r: Run, node: Node) -> tuple[str | None, str]:
        await self._play(r, node.props.get("prompt") or GOODBYE)
        await r.session.hangup()
        return None, ""


# The node types the interpreter runs: each is the method of that name.
HANDLERS = frozenset(NODE_TYPES)


def _number(value: str) -> float | None:
    try:
        return float(value) if len(value) <= 32 else None
    except ValueError:
        return None


def _test(left: str, op: str, right: str) -> bool:
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if op == "prefix":
        return left.startswith(right)
    if op == "contains":
        return right in left
    if op == "regex":
        return re.fullmatch(right, left[:MAX_VALUE]) is not None
    if op == "empty":
        return not left
    if op == "not_empty":
        return bool(left)
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return False
    return a < b if op == "lt" else a > b if op == "gt" else False


def _date(value: str, now_s: float) -> dt.datetime | None:
    if value in ("", "today"):
        return dt.datetime.fromtimestamp(now_s, dt.UTC)
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)
