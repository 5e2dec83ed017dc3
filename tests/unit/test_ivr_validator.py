"""The flow validator: each rule, with the message the editor shows asserted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ivr.validator import Catalog, validate

CATALOG = Catalog(
    prompts=frozenset({"welcome", "bye"}),
    queues=frozenset({"support", "billing"}),
    mailboxes=frozenset({"800"}),
    flows=frozenset({"main", "after-hours"}),
)


def flow(*nodes: dict[str, Any], edges: list[tuple[str, str, str]], start: str = "a") -> dict:
    return {
        "start": start,
        "nodes": list(nodes),
        "edges": [{"from": a, "out": o, "to": b} for a, o, b in edges],
    }


def node(node_id: str, node_type: str, **props: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "x": 0, "y": 0, "props": props}


GOOD = flow(
    node("a", "menu", prompt="welcome", options=["1", "2", "0"]),
    node("b", "queue", queue="billing"),
    node("c", "collect", prompt={"tts": "Your account number", "lang": "en"}, variable="acct"),
    node("d", "lookup", source="customer", key="${acct}"),
    node("e", "say", mode="digits", value="${acct}"),
    node("f", "queue", queue="support", priority=10),
    node("g", "voicemail", mailbox="800"),
    node("h", "hangup"),
    edges=[
        ("a", "1", "c"),
        ("a", "2", "b"),
        ("a", "0", "f"),
        ("a", "failed", "h"),
        ("c", "ok", "d"),
        ("c", "failed", "a"),
        ("d", "found", "e"),
        ("d", "not_found", "a"),
        ("e", "next", "f"),
        ("f", "unanswered", "g"),
        ("g", "next", "h"),
    ],
)


def messages(doc: Any, catalog: Catalog = CATALOG, name: str = "main") -> list[str]:
    return [str(p) for p in validate(doc, catalog, name)]


def test_a_good_flow_has_no_problems() -> None:
    assert messages(GOOD) == []


def test_not_a_flow() -> None:
    assert messages([1, 2]) == ["not a flow: a flow is a JSON object with start, nodes and edges"]
    assert messages({"nodes": "x"}) == ["not a flow: nodes and edges must be lists"]
    bad_id = {"start": "a", "nodes": [{"id": "../x", "type": "play"}], "edges": []}
    assert messages(bad_id) == ["not a flow: node #1: id must be 1-40 letters, digits, - or _"]


def test_empty_flow_and_missing_start() -> None:
    assert messages({"start": "a", "nodes": [], "edges": []}) == ["the flow has no nodes"]
    doc = flow(node("h", "hangup"), edges=[], start="nope")
    assert "the start node nope does not exist" in messages(doc)


def test_unknown_node_type() -> None:
    doc = flow(node("a", "exec", command="rm -rf /"), edges=[])
    assert messages(doc) == ["a: unknown node type exec"]


def test_dangling_edges() -> None:
    doc = flow(
        node("a", "play", prompt="welcome"),
        node("h", "hangup"),
        edges=[("a", "next", "zz"), ("ghost", "next", "h"), ("h", "next", "a")],
    )
    got = messages(doc)
    assert "a: output next leads to the missing node zz" in got
    assert "an edge starts at the missing node ghost" in got
    assert "h: has no output next" in got
    assert "h: cannot be reached from the start" in got


def test_every_menu_key_leads_somewhere() -> None:
    doc = copy.deepcopy(GOOD)
    doc["edges"] = [e for e in doc["edges"] if (e["from"], e["out"]) != ("a", "2")]
    got = messages(doc)
    assert "a: menu key 2 leads nowhere" in got
    assert "b: cannot be reached from the start" in got


def test_required_outputs_are_connected() -> None:
    doc = flow(node("a", "play", prompt="welcome"), edges=[])
    assert messages(doc) == ["a: output next is not connected"]


def test_an_output_connected_twice() -> None:
    doc = flow(
        node("a", "play", prompt="welcome"),
        node("h", "hangup"),
        edges=[("a", "next", "h"), ("a", "next", "h")],
    )
    assert messages(doc) == ["a: output next is connected twice"]


def test_a_loop_without_caller_input_is_refused() -> None:
    doc = flow(
        node("a", "play", prompt="welcome"),
        node("b", "set", variable="x", value="1"),
        node("c", "condition", left="${x}", op="eq", right="1"),
        node("h", "hangup"),
        edges=[("a", "next", "b"), ("b", "next", "c"), ("c", "true", "a"), ("c", "false", "h")],
    )
    assert messages(doc) == ["a: loop without caller input through a, b, c"]


def test_a_loop_through_a_menu_is_fine() -> None:
    doc = flow(
        node("a", "menu", prompt="welcome", options=["1"]),
        node("b", "play", prompt="bye"),
        edges=[("a", "1", "b"), ("b", "next", "a")],
    )
    assert messages(doc) == []


def test_every_prompt_exists() -> None:
    doc = flow(
        node("a", "play", prompt="nope"),
        node("b", "play", prompt={"tts": "", "lang": "en"}),
        node("c", "play", prompt={"tts": "hello", "lang": "fr"}),
        node("d", "play", prompt="Bad Name!"),
        node("e", "play"),
        node("h", "hangup"),
        edges=[
            ("a", "next", "b"),
            ("b", "next", "c"),
            ("c", "next", "d"),
            ("d", "next", "e"),
            ("e", "next", "h"),
        ],
    )
    assert messages(doc) == [
        "a: prompt: the prompt nope does not exist",
        "b: prompt: the text to speak is empty",
        "c: prompt: no text-to-speech voice for fr",
        "d: prompt: a prompt name is 1-64 of a-z, 0-9 and -",
        "e: prompt: a prompt is required",
    ]


def test_references_exist() -> None:
    doc = flow(
        node("a", "queue", queue="sales"),
        node("b", "voicemail", mailbox="999"),
        node("c", "goto", flow="nowhere"),
        node("d", "record", callback_queue="sales", mailbox="999"),
        node("e", "goto", flow="main"),
        edges=[("a", "unanswered", "b"), ("b", "next", "d"), ("d", "next", "c")],
    )
    got = messages(doc, name="main")
    assert "a: the queue sales does not exist" in got
    assert "b: the mailbox 999 does not exist" in got
    assert "c: the flow nowhere does not exist" in got
    assert "d: the queue sales does not exist" in got
    assert "d: the mailbox 999 does not exist" in got
    assert "e: a flow cannot go to itself" in got


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"retries": 9}, "a: retries must be a whole number from 0 to 5"),
        ({"retries": True}, "a: retries must be a whole number from 0 to 5"),
        ({"timeout_s": 600}, "a: timeout_s must be a whole number from 0 to 30"),
        ({"options": []}, "a: a menu needs at least one key"),
        ({"options": ["1", "1"]}, "a: menu key 1 is listed twice"),
        ({"options": ["A"]}, "a: menu key A is not one of 0123456789*#"),
        ({"options": ["*"]}, "a: menu key * is taken by 'back to the previous menu'"),
    ],
)
def test_menu_limits(props: dict[str, Any], expected: str) -> None:
    base = {"prompt": "welcome", "options": ["1"], **props}
    keys = [k for k in base["options"] if isinstance(k, str)]
    doc = flow(
        node("a", "menu", **base),
        node("h", "hangup"),
        edges=[("a", k, "h") for k in dict.fromkeys(keys) if k in "0123456789*#"],
    )
    assert expected in messages(doc)


def test_collect_limits() -> None:
    doc = flow(
        node(
            "a",
            "collect",
            prompt="welcome",
            variable="caller_number",
            min_digits=8,
            max_digits=4,
            pattern="([",
            retries=6,
        ),
        node("h", "hangup"),
        edges=[("a", "ok", "h")],
    )
    got = messages(doc)
    assert "a: variable: caller_number is set by the system" in got
    assert "a: min_digits is more than max_digits" in got
    assert any(m.startswith("a: pattern is not a valid pattern:") for m in got)
    assert "a: retries must be a whole number from 0 to 5" in got


def test_other_node_props() -> None:
    doc = flow(
        node("a", "say", mode="song", value=""),
        node("b", "lookup", source="http", key="${x}", url="file:///etc/passwd", timeout_s=99),
        node("c", "condition", left="${x}", op="regex", right="(("),
        node(
            "d",
            "time",
            timezone="Mars/Base",
            open=[{"days": [7], "from": "9", "to": "18:00"}],
            holidays=["2026-13-01"],
        ),
        node("e", "transfer", kind="external", number="0;Dial(...)"),
        node("f", "set", variable="Bad Var", value="x" * 300),
        node("h", "hangup"),
        edges=[
            ("a", "next", "b"),
            ("b", "found", "c"),
            ("b", "not_found", "c"),
            ("c", "true", "d"),
            ("c", "false", "d"),
            ("d", "open", "e"),
            ("d", "closed", "f"),
            ("f", "next", "h"),
        ],
    )
    got = messages(doc)
    for expected in [
        "a: mode must be one of digits, number, date",
        "a: value is required",
        "b: url must start with http:// or https://",
        "b: timeout_s must be a whole number from 1 to 10",
        "d: unknown time zone Mars/Base",
        "d: an opening period needs days (0=Monday .. 6=Sunday) and from/to as HH:MM",
        "d: holiday 2026-13-01 is not a date (YYYY-MM-DD)",
        "e: number must be digits only (external)",
        "f: variable must be a variable name (a-z, 0-9, _)",
        "f: value must be text of at most 256 characters",
    ]:
        assert expected in got
    assert any(m.startswith("c: right is not a valid pattern") for m in got)


def test_problems_name_their_node_and_carry_a_translatable_template() -> None:
    [problem] = validate(flow(node("a", "queue", queue="x"), edges=[]), CATALOG)
    assert (problem.node, problem.template, problem.params) == (
        "a",
        "the queue {name} does not exist",
        {"name": "x"},
    )
