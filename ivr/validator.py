"""The flow validator: the rules a flow must pass before it can be published.

No dangling edges, every menu key leads somewhere, every required output is connected, no
node unreachable from the start, no loop a caller could go round without being asked for
input, every prompt / queue / mailbox / flow it names exists, and every number (retries,
timeouts, lengths) is within its limits. The editor and the API refuse to publish a flow
with any problem and show each one on its node.

Problems carry an English template and its parameters; the web UI translates the template
(the strings are extracted for the catalogs) and then fills it in.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ivr.flow_model import (
    BUILTIN_VARIABLES,
    MENU_KEYS,
    NODE_TYPES,
    TEMPLATE,
    VARIABLE,
    Flow,
    FlowFormatError,
    Node,
    parse,
)
from ivr.prompt_ref import PromptRef, prompt_ref


def N_(message: str) -> str:  # the gettext marker: extracted, translated later
    return message


MAX_RETRIES = 5
MAX_TIMEOUT_S = 30
MAX_DIGITS = 32
MAX_TEXT = 256
MAX_PATTERN = 100
SAY_MODES = ("digits", "number", "date")
LOOKUP_SOURCES = ("customer", "record", "http")
CUSTOMER_STORE_MAX = 24  # a customer lookup's variables are <store>_account and the like
CONDITION_OPS = ("eq", "ne", "prefix", "contains", "regex", "lt", "gt", "empty", "not_empty")
TRANSFER_KINDS = ("extension", "external")
RECORD_KINDS = ("message", "complaint")
BOOK = re.compile(r"[a-z0-9_-]{1,32}")
HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")
PHONE_DIGITS = re.compile(r"\d{2,20}")
EXTENSION = re.compile(r"\d{2,8}")


@dataclass(frozen=True)
class Problem:
    node: str | None  # the node it is about (None: the flow as a whole)
    template: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.template.format(**self.params)

    def __str__(self) -> str:
        return f"{self.node}: {self.message}" if self.node else self.message


@dataclass(frozen=True)
class Catalog:
    """What a flow may name: what exists on the box when it is validated."""

    prompts: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    mailboxes: frozenset[str] = frozenset()
    flows: frozenset[str] = frozenset()
    tts_languages: frozenset[str] = frozenset({"en", "zh"})


def validate(doc: Any, catalog: Catalog, flow_name: str = "") -> list[Problem]:
    """Every problem of the document (empty: it may be published)."""
    try:
        flow = parse(doc)
    except FlowFormatError as exc:
        return [Problem(None, N_("not a flow: {why}"), {"why": str(exc)})]
    checker = _Checker(flow, catalog, flow_name)
    checker.run()
    return checker.problems


class _Checker:
    def __init__(self, flow: Flow, catalog: Catalog, flow_name: str) -> None:
        self.flow = flow
        self.catalog = catalog
        self.flow_name = flow_name
        self.problems: list[Problem] = []

    def add(self, node_id: str | None, template: str, **params: Any) -> None:
        self.problems.append(Problem(node_id, template, params))

    def run(self) -> None:
        flow = self.flow
        if not flow.nodes:
            self.add(None, N_("the flow has no nodes"))
            return
        if flow.start not in flow.nodes:
            self.add(None, N_("the start node {start} does not exist"), start=flow.start)
        for node in flow.nodes.values():
            if node.type not in NODE_TYPES:
                self.add(node.id, N_("unknown node type {type}"), type=node.type)
                continue
            getattr(self, f"_props_{node.type}")(node)
        self._edges()
        self._reachable()
        self._input_loops()

    # ---- graph ---------------------------------------------------------------------------

    def _edges(self) -> None:
        flow = self.flow
        for a, out in flow.duplicate_edges:
            self.add(a, N_("output {out} is connected twice"), out=out)
        for (a, out), b in flow.edges.items():
            if a not in flow.nodes:
                self.add(None, N_("an edge starts at the missing node {missing}"), missing=a)
                continue
            node = flow.nodes[a]
            if node.type in NODE_TYPES and out not in node.outputs():
                self.add(a, N_("has no output {out}"), out=out)
            if b not in flow.nodes:
                self.add(a, N_("output {out} leads to the missing node {to}"), out=out, to=b)
        for node in flow.nodes.values():
            if node.type not in NODE_TYPES:
                continue
            for out in NODE_TYPES[node.type].required:
                if (node.id, out) not in flow.edges:
                    self.add(node.id, N_("output {out} is not connected"), out=out)
            if node.type == "menu" and isinstance(node.props.get("options"), list):
                for key in node.props["options"]:
                    if (node.id, str(key)) not in flow.edges:
                        self.add(node.id, N_("menu key {key} leads nowhere"), key=key)

    def _successors(self, node_id: str) -> list[str]:
        node = self.flow.nodes[node_id]
        return [
            b
            for out in node.outputs()
            if (b := self.flow.edges.get((node_id, out))) is not None and b in self.flow.nodes
        ]

    def _reachable(self) -> None:
        if self.flow.start not in self.flow.nodes:
            return
        seen = {self.flow.start}
        todo = [self.flow.start]
        while todo:
            for b in self._successors(todo.pop()):
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        for node_id in self.flow.nodes:
            if node_id not in seen:
                self.add(node_id, N_("cannot be reached from the start"))

    def _input_loops(self) -> None:
        """A cycle through nodes none of which waits for the caller would spin forever."""
        passive = {
            n.id
            for n in self.flow.nodes.values()
            if n.type in NODE_TYPES and not NODE_TYPES[n.type].takes_input
        }
        for cycle in _cycles(passive, lambda n: [b for b in self._successors(n) if b in passive]):
            self.add(
                cycle[0],
                N_("loop without caller input through {nodes}"),
                nodes=", ".join(cycle),
            )

    # ---- props, one method per node type ---------------------------------------------------

    def _prompt(self, node: Node, key: str, required: bool = True) -> PromptRef | None:
        value = node.props.get(key)
        if value in (None, "") and not required:
            return None
        try:
            ref = prompt_ref(value)
        except ValueError as exc:
            self.add(node.id, N_("{prop}: {why}"), prop=key, why=str(exc))
            return None
        if ref is None:
            self.add(node.id, N_("{prop}: a prompt is required"), prop=key)
        elif ref.name is not None and ref.name not in self.catalog.prompts:
            self.add(
                node.id, N_("{prop}: the prompt {name} does not exist"), prop=key, name=ref.name
            )
        elif ref.tts is not None and ref.lang not in self.catalog.tts_languages:
            self.add(
                node.id, N_("{prop}: no text-to-speech voice for {lang}"), prop=key, lang=ref.lang
            )
        return ref

    def _int(self, node: Node, key: str, default: int, low: int, high: int) -> int:
        value = node.props.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.add(
                node.id,
                N_("{prop} must be a whole number from {low} to {high}"),
                prop=key,
                low=low,
                high=high,
            )
            return default
        return value

    def _choice(
        self, node: Node, key: str, choices: Iterable[str], default: str | None = None
    ) -> str:
        value = node.props.get(key, default)
        choices = tuple(choices)
        if value not in choices:
            self.add(
                node.id, N_("{prop} must be one of {choices}"), prop=key, choices=", ".join(choices)
            )
            return choices[0]
        return str(value)

    def _text(self, node: Node, key: str, required: bool = True, limit: int = MAX_TEXT) -> str:
        value = node.props.get(key, "")
        if not isinstance(value, str) or len(value) > limit:
            self.add(
                node.id,
                N_("{prop} must be text of at most {limit} characters"),
                prop=key,
                limit=limit,
            )
            return ""
        if required and not value.strip():
            self.add(node.id, N_("{prop} is required"), prop=key)
        return value

    def _variable(self, node: Node, key: str) -> None:
        value = node.props.get(key)
        if not isinstance(value, str) or not VARIABLE.fullmatch(value):
            self.add(node.id, N_("{prop} must be a variable name (a-z, 0-9, _)"), prop=key)
        elif value in BUILTIN_VARIABLES:
            self.add(node.id, N_("{prop}: {name} is set by the system"), prop=key, name=value)

    def _regex(self, node: Node, key: str) -> None:
        value = self._text(node, key, required=False, limit=MAX_PATTERN)
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                self.add(
                    node.id, N_("{prop} is not a valid pattern: {why}"), prop=key, why=str(exc)
                )

    def _props_play(self, node: Node) -> None:
        self._prompt(node, "prompt")

    def _props_menu(self, node: Node) -> None:
        self._prompt(node, "prompt")
        self._prompt(node, "timeout_prompt", required=False)
        self._prompt(node, "invalid_prompt", required=False)
        # 0: the menu listens only while its prompt plays
        self._int(node, "timeout_s", 5, 0, MAX_TIMEOUT_S)
        self._int(node, "retries", 2, 0, MAX_RETRIES)
        options = node.props.get("options")
        if not isinstance(options, list) or not options:
            self.add(node.id, N_("a menu needs at least one key"))
            return
        back = node.props.get("back", True) is True
        seen: set[str] = set()
        for key in options:
            if not isinstance(key, str) or len(key) != 1 or key not in MENU_KEYS:
                self.add(
                    node.id, N_("menu key {key} is not one of {keys}"), key=key, keys=MENU_KEYS
                )
            elif key in seen:
                self.add(node.id, N_("menu key {key} is listed twice"), key=key)
            elif key == "*" and back:
                self.add(node.id, N_("menu key * is taken by 'back to the previous menu'"))
            seen.add(str(key))

    def _props_collect(self, node: Node) -> None:
        self._prompt(node, "prompt")
        self._prompt(node, "invalid_prompt", required=False)
        self._variable(node, "variable")
        low = self._int(node, "min_digits", 1, 1, MAX_DIGITS)
        high = self._int(node, "max_digits", MAX_DIGITS, 1, MAX_DIGITS)
        if low > high:
            self.add(node.id, N_("min_digits is more than max_digits"))
        self._int(node, "timeout_s", 5, 1, MAX_TIMEOUT_S)
        self._int(node, "retries", 2, 0, MAX_RETRIES)
        self._regex(node, "pattern")

    def _props_say(self, node: Node) -> None:
        self._choice(node, "mode", SAY_MODES)
        self._text(node, "value")

    def _props_lookup(self, node: Node) -> None:
        source = self._choice(node, "source", LOOKUP_SOURCES)
        self._text(node, "key")
        prefix = node.props.get("store", "found")
        if not isinstance(prefix, str) or not VARIABLE.fullmatch(prefix):
            self.add(node.id, N_("{prop} must be a variable name (a-z, 0-9, _)"), prop="store")
        elif source == "customer" and len(prefix) > CUSTOMER_STORE_MAX:
            # <store>_account must still be a variable name (at most 32 characters)
            self.add(
                node.id,
                N_("{prop} must be text of at most {limit} characters"),
                prop="store",
                limit=CUSTOMER_STORE_MAX,
            )
        if source == "record":
            book = node.props.get("book")
            if not isinstance(book, str) or not BOOK.fullmatch(book):
                self.add(node.id, N_("book must be 1-32 of a-z, 0-9, _ or -"))
        if source == "http":
            url = self._text(node, "url", limit=512)
            if url and not re.fullmatch(r"https?://[^\s]+", url):
                self.add(node.id, N_("url must start with http:// or https://"))
            self._int(node, "timeout_s", 3, 1, 10)

    def _props_condition(self, node: Node) -> None:
        self._text(node, "left")
        op = self._choice(node, "op", CONDITION_OPS)
        if op not in ("empty", "not_empty"):
            self._text(node, "right", required=False)
        if op == "regex":
            self._regex(node, "right")

    def _props_time(self, node: Node) -> None:
        tz = node.props.get("timezone", "UTC")
        try:
            zoneinfo.ZoneInfo(str(tz))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too
            # long for a file name (atheris found it: a 500 on publish instead of a problem)
            self.add(node.id, N_("unknown time zone {tz}"), tz=tz)
        hours = node.props.get("open", [])
        if not isinstance(hours, list) or len(hours) > 50:
            self.add(node.id, N_("open must be a list of at most 50 periods"))
            hours = []
        for period in hours:
            days = period.get("days") if isinstance(period, dict) else None
            ok = (
                isinstance(days, list)
                and all(
                    isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days
                )
                and all(
                    isinstance(period.get(k), str) and HHMM.fullmatch(period[k])
                    for k in ("from", "to")
                )
            )
            if not ok:
                self.add(
                    node.id,
                    N_("an opening period needs days (0=Monday .. 6=Sunday) and from/to as HH:MM"),
                )
            elif period["from"] >= period["to"]:
                self.add(node.id, N_("an opening period ends before it starts"))
        holidays = node.props.get("holidays", [])
        if not isinstance(holidays, list) or len(holidays) > 400:
            self.add(node.id, N_("holidays must be a list of at most 400 dates"))
            return
        for day in holidays:
            try:
                dt.date.fromisoformat(str(day))
            except ValueError:
                self.add(node.id, N_("holiday {day} is not a date (YYYY-MM-DD)"), day=day)

    def _props_queue(self, node: Node) -> None:
        name = node.props.get("queue")
        if not _named(name, self.catalog.queues):
            self.add(node.id, N_("the queue {name} does not exist"), name=name)
        self._int(node, "priority", 0, 0, 100)

    def _props_voicemail(self, node: Node) -> None:
        box = node.props.get("mailbox")
        if not _named(box, self.catalog.mailboxes):
            self.add(node.id, N_("the mailbox {name} does not exist"), name=box)

    def _props_record(self, node: Node) -> None:
        self._prompt(node, "prompt", required=False)
        self._int(node, "max_s", 120, 5, 600)
        self._int(node, "silence_s", 3, 0, 10)
        kind = self._choice(node, "kind", RECORD_KINDS, "message")
        ticket = node.props.get("ticket", False)
        if not isinstance(ticket, bool):
            self.add(node.id, N_("{name} must be true or false"), name="ticket")
        elif ticket and kind != "complaint":
            self.add(node.id, N_("only a complaint opens a ticket (kind complaint)"))
        queue = node.props.get("callback_queue")
        if queue not in (None, "") and not _named(queue, self.catalog.queues):
            self.add(node.id, N_("the queue {name} does not exist"), name=queue)
        box = node.props.get("mailbox")
        if box not in (None, "") and not _named(box, self.catalog.mailboxes):
            self.add(node.id, N_("the mailbox {name} does not exist"), name=box)

    def _props_transfer(self, node: Node) -> None:
        kind = self._choice(node, "kind", TRANSFER_KINDS)
        number = node.props.get("number")
        pattern = EXTENSION if kind == "extension" else PHONE_DIGITS
        if not isinstance(number, str) or not pattern.fullmatch(number):
            self.add(node.id, N_("number must be digits only ({kind})"), kind=kind)

    def _props_set(self, node: Node) -> None:
        self._variable(node, "variable")
        self._text(node, "value", required=False)

    def _props_goto(self, node: Node) -> None:
        name = node.props.get("flow")
        if name == self.flow_name and name:
            self.add(node.id, N_("a flow cannot go to itself"))
        elif not _named(name, self.catalog.flows):
            self.add(node.id, N_("the flow {name} does not exist"), name=name)

    def _props_dnc(self, node: Node) -> None:
        self._prompt(node, "prompt", required=False)  # the confirmation, after the number is on

    def _props_hangup(self, node: Node) -> None:
        self._prompt(node, "prompt", required=False)


def _named(value: Any, names: frozenset[str]) -> bool:
    """``value`` is one of ``names``: a list or an object (unhashable) is no name at all."""
    return isinstance(value, str) and value in names


def _cycles(nodes: set[str], successors: Any) -> list[list[str]]:
    """One cycle per strongly connected component with a cycle in it (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(successors(root)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(successors(w))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in successors(v):
                    found.append(sorted(component))
    return found


__all__ = ["TEMPLATE", "Catalog", "Problem", "validate"]
