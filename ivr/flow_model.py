"""The IVR flow model: a JSON graph of nodes and edges, and what each node type is.

A flow document (what the editor saves and the database stores as one version)::

    {"start": "welcome",
     "nodes": [{"id": "welcome", "type": "menu", "x": 40, "y": 40, "props": {...}}, ...],
     "edges": [{"from": "welcome", "out": "1", "to": "billing"}, ...]}

Each node type has fixed outputs (``next``, ``found``/``not_found``, ...) and the menu has
one output per option key. An output left unconnected ends the call politely (a goodbye and
a hangup), except where a type says it is required. ``NODE_TYPES`` is the single list the
validator, the interpreter and the editor's palette read.

This module only describes and parses; it touches neither the database nor the switch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from appliance.text import N_

MAX_NODES = 500
MAX_EDGES = 2000
NODE_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
VARIABLE = re.compile(r"[a-z][a-z0-9_]{0,31}")
# ${name} in a text prop is replaced by the flow variable (unknown ones by "").
TEMPLATE = re.compile(r"\$\{([a-z][a-z0-9_]{0,31})\}")
MENU_KEYS = "0123456789*#"

# Variables every call starts with (the caller ID ones are attacker-controlled text).
BUILTIN_VARIABLES = (
    "caller_number",
    "caller_name",
    "dialed",
    "customer_class",
    "customer_name",
    "last_input",
)


class FlowFormatError(ValueError):
    """The document is not a flow at all (wrong shape); the validator explains the rest."""


@dataclass(frozen=True)
class NodeType:
    name: str
    outputs: tuple[str, ...]  # fixed outputs
    required: tuple[str, ...] = ()  # outputs that must be connected
    takes_input: bool = False  # waits for the caller (breaks a loop, see the validator)
    description: str = ""


NODE_TYPES: dict[str, NodeType] = {
    t.name: t
    for t in (
        NodeType("play", ("next",), ("next",), description=N_("Play a prompt or TTS text")),
        NodeType("menu", ("failed",), takes_input=True, description=N_("Prompt, digit -> branch")),
        NodeType(
            "collect",
            ("ok", "failed"),
            ("ok",),
            True,
            description=N_("Collect digits into a variable"),
        ),
        NodeType("say", ("next",), ("next",), description=N_("Say digits, a number or a date")),
        NodeType(
            "lookup", ("found", "not_found"), ("found", "not_found"), description=N_("Look up")
        ),
        NodeType(
            "condition", ("true", "false"), ("true", "false"), description=N_("Branch on a test")
        ),
        NodeType(
            "time", ("open", "closed", "holiday"), ("open", "closed"), description=N_("Hours")
        ),
        NodeType("queue", ("unanswered",), description=N_("Hand the caller to an ACD queue")),
        NodeType("voicemail", ("next",), takes_input=True, description=N_("Leave a message")),
        NodeType("record", ("next",), takes_input=True, description=N_("Record a message")),
        NodeType("transfer", ("failed",), description=N_("Transfer to an extension or number")),
        NodeType("set", ("next",), ("next",), description=N_("Set a flow variable")),
        NodeType("goto", (), description=N_("Continue in another flow")),
        NodeType(
            "dnc",
            ("next",),
            description=N_("Don't call me: the caller's number on the do-not-call list"),
        ),
        NodeType("hangup", (), description=N_("Say goodbye and hang up")),
    )
}


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    props: dict[str, Any]
    x: float = 0.0
    y: float = 0.0

    def outputs(self) -> tuple[str, ...]:
        """Every output this node can take: the type's, plus a menu's option keys."""
        fixed = NODE_TYPES[self.type].outputs if self.type in NODE_TYPES else ()
        if self.type == "menu":
            keys = self.props.get("options")
            if isinstance(keys, list):
                return tuple(str(k) for k in keys) + fixed
        return fixed


@dataclass
class Flow:
    start: str
    nodes: dict[str, Node]
    # (node id, output) -> node id
    edges: dict[tuple[str, str], str] = field(default_factory=dict)
    # edges that could not be keyed (a repeated output): reported by the validator
    duplicate_edges: list[tuple[str, str]] = field(default_factory=list)

    def next(self, node_id: str, output: str) -> str | None:
        return self.edges.get((node_id, output))

    def to_doc(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "nodes": [
                {"id": n.id, "type": n.type, "x": n.x, "y": n.y, "props": n.props}
                for n in self.nodes.values()
            ],
            "edges": [{"from": a, "out": o, "to": b} for (a, o), b in self.edges.items()],
        }


def parse(doc: Any) -> Flow:
    """The document as a Flow; FlowFormatError when its shape is wrong (not a dict, nodes
    not a list, a node without an id, ...). Semantics are the validator's."""
    if not isinstance(doc, dict):
        raise FlowFormatError(N_("a flow is a JSON object with start, nodes and edges"))
    nodes_doc, edges_doc = doc.get("nodes", []), doc.get("edges", [])
    if not isinstance(nodes_doc, list) or not isinstance(edges_doc, list):
        raise FlowFormatError(N_("nodes and edges must be lists"))
    if len(nodes_doc) > MAX_NODES or len(edges_doc) > MAX_EDGES:
        raise FlowFormatError(
            N_(
                "a flow has at most {MAX_NODES} nodes and {MAX_EDGES} edges",
                MAX_NODES=MAX_NODES,
                MAX_EDGES=MAX_EDGES,
            )
        )
    nodes: dict[str, Node] = {}
    for i, n in enumerate(nodes_doc):
        if not isinstance(n, dict):
            raise FlowFormatError(N_("node #{number} is not an object", number=i + 1))
        node_id, kind, props = n.get("id"), n.get("type"), n.get("props", {})
        if not isinstance(node_id, str) or not NODE_ID.fullmatch(node_id):
            raise FlowFormatError(
                N_("node #{number}: id must be 1-40 letters, digits, - or _", number=i + 1)
            )
        if node_id in nodes:
            raise FlowFormatError(N_("node {node_id}: the id is used twice", node_id=node_id))
        if not isinstance(kind, str) or not isinstance(props, dict):
            raise FlowFormatError(
                N_("node {node_id}: type must be text and props an object", node_id=node_id)
            )
        nodes[node_id] = Node(node_id, kind, props, _coord(n.get("x")), _coord(n.get("y")))
    flow = Flow(str(doc.get("start", "")), nodes)
    for i, e in enumerate(edges_doc):
        if not isinstance(e, dict):
            raise FlowFormatError(N_("edge #{number} is not an object", number=i + 1))
        a, out, b = e.get("from"), e.get("out"), e.get("to")
        if not all(isinstance(v, str) for v in (a, out, b)):
            raise FlowFormatError(N_("edge #{number}: from, out and to must be text", number=i + 1))
        key = (str(a), str(out))
        if key in flow.edges:
            flow.duplicate_edges.append(key)
            continue
        flow.edges[key] = str(b)
    return flow


def _coord(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and -1e6 < v < 1e6 else 0.0


def render(template: str, variables: dict[str, str]) -> str:
    """``${name}`` replaced by the variable's value (an unknown one by nothing)."""
    return TEMPLATE.sub(lambda m: variables.get(m.group(1), ""), template)


def referenced_variables(template: str) -> list[str]:
    return TEMPLATE.findall(template)
