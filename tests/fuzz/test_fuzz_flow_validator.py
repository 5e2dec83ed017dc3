"""The IVR flow validator under hypothesis: the document comes from the browser (the
editor's JSON, or anyone's POST), so it is anything JSON can be.

Whatever the document, ``validate`` returns a list of problems (each one's message renders)
and never raises; a flow it parses survives ``to_doc`` and ``parse`` unchanged; and a
mutation of the sample center's clean flow is either still clean or named by a problem.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ivr import sample_center
from ivr.flow_model import NODE_TYPES, FlowFormatError, parse
from ivr.validator import Catalog, Problem, validate
from tests.fuzz.budget import fuzz

CATALOG = Catalog(
    prompts=frozenset({"welcome", "goodbye"}),
    queues=frozenset({"support", "sales", "billing", "care"}),
    mailboxes=frozenset({"801", "802", "803"}),
    flows=frozenset({"other"}),
)
PROP_KEYS = [
    "prompt", "invalid_prompt", "timeout_prompt", "options", "retries", "timeout_s",
    "max_digits", "min_digits", "variable", "mode", "value", "source", "book", "key", "url",
    "store", "op", "left", "right", "pattern", "timezone", "open", "holidays", "queue",
    "priority", "callback_queue", "mailbox", "back", "max_s", "silence_s", "kind", "number",
    "flow",
]  # fmt: skip
# Values that hit the validator's edges: wrong types, limits, names, patterns, zones.
_EDGY = st.sampled_from(
    [
        None, True, 0, -1, 5, 31, 2**63, 1.5, float("nan"), "", " ", "support", "801",
        "welcome", "x" * 300, "(", "[a-", "a{99999}", "Asia/Shanghai", "../../etc/passwd",
        "Nope/Zone", "\x00", "2024-02-30", "24:00", "09:00", "${caller}", "${1bad}",
        {"tts": "hello", "lang": "zh"}, {"tts": ""}, {"tts": "x", "lang": 3}, {"days": [0]},
        [{"days": [0, 6], "from": "09:00", "to": "17:00"}], [{"days": [9], "from": 1}],
        {"1": "a", "#": "b", "x": "c"}, ["2024-01-01", "nope", 5],
    ]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | _EDGY,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_IDS = st.sampled_from(["a", "b", "c", "d", "start", "bad id", ""])
_NODES = st.fixed_dictionaries(
    {
        "id": _IDS,
        "type": st.sampled_from([*NODE_TYPES, "nope", 3]),
        "props": st.dictionaries(st.sampled_from(PROP_KEYS), _JSON, max_size=5) | _JSON,
    },
    optional={"x": _JSON, "y": _JSON},
)
_EDGES = (
    st.fixed_dictionaries(
        {
            "from": _IDS,
            "out": st.sampled_from(["next", "failed", "ok", "1", "#", "true", "open", "found"]),
            "to": _IDS,
        }
    )
    | _JSON
)
DOCS = (
    st.fixed_dictionaries(
        {
            "start": _IDS | _JSON,
            "nodes": st.lists(_NODES, max_size=6),
            "edges": st.lists(_EDGES, max_size=8),
        }
    )
    | _JSON
)


def _rendered(problems: list[Problem]) -> None:
    assert isinstance(problems, list)
    for p in problems:
        assert isinstance(p, Problem)
        assert isinstance(p.message, str) and p.message
        str(p)


@fuzz(150)
@given(doc=DOCS)
def test_any_document_gives_problems_never_an_exception(doc: Any) -> None:
    _rendered(validate(doc, CATALOG, "fuzz"))


@fuzz(100)
@given(doc=DOCS)
def test_a_parsed_flow_survives_to_doc_and_back(doc: Any) -> None:
    try:
        flow = parse(doc)
    except FlowFormatError:
        return
    again = parse(flow.to_doc())
    assert (again.start, again.nodes, again.edges) == (flow.start, flow.nodes, flow.edges)


def test_the_sample_center_flow_is_clean() -> None:
    assert validate(sample_center.flow(), CATALOG) == []


@fuzz(300)
@given(data=st.data(), key=st.sampled_from(PROP_KEYS), value=_JSON)
def test_a_mutated_sample_flow_is_clean_or_named(data: st.DataObject, key: str, value: Any) -> None:
    doc = copy.deepcopy(sample_center.flow())
    node = data.draw(st.sampled_from(doc["nodes"]))
    node["props"][key] = value
    problems = validate(doc, CATALOG)
    _rendered(problems)
    assert all(p.node in {n["id"] for n in doc["nodes"]} | {None} for p in problems)


def test_a_list_or_object_where_a_name_belongs_is_a_problem_not_a_crash() -> None:
    """Found by the mutation property: ``{"queue": []}`` raised TypeError (unhashable) in
    the catalog lookup, a 500 for the editor instead of a problem on the node."""
    doc = copy.deepcopy(sample_center.flow())
    by_type = {n["type"]: n for n in doc["nodes"]}
    by_type["queue"]["props"]["queue"] = []
    by_type["voicemail"]["props"]["mailbox"] = {"801": 1}
    record = by_type.get("record")
    if record is not None:
        record["props"]["callback_queue"] = ["care"]
    problems = [str(p) for p in validate(doc, CATALOG)]
    assert any("the queue [] does not exist" in p for p in problems)
    assert any("the mailbox {'801': 1} does not exist" in p for p in problems)


def test_a_time_zone_too_long_for_a_file_name_is_a_problem_not_a_crash() -> None:
    """Found by atheris (make fuzz): ZoneInfo raised OSError (file name too long)."""
    doc = copy.deepcopy(sample_center.flow())
    [time_node] = [n for n in doc["nodes"] if n["type"] == "time"]
    time_node["props"]["timezone"] = "Asia/Shang" + "\ufffd" * 300 + "hai"
    problems = [str(p) for p in validate(doc, CATALOG)]
    assert any("unknown time zone Asia/Shang" in p for p in problems)
