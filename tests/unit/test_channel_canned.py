"""A canned reply's variables: filled by name only, nothing evaluated, nothing filled twice."""

from __future__ import annotations

from acd.channels.canned import VARIABLES, fill

VALUES = {
    "customer_name": "李雷",
    "agent_name": "Agent 1001",
    "reference": "T-20261207-0001",
    "topic": "销售",
    "queue": "Web chat",
}


def test_every_variable_is_filled() -> None:
    body = " ".join("{" + name + "}" for name in VARIABLES)
    assert fill(body, VALUES) == "李雷 Agent 1001 T-20261207-0001 销售 Web chat"


def test_unknown_names_and_braces_stay_as_typed() -> None:
    assert fill("{unknown} {{customer_name}} {customer_name}", VALUES) == (
        "{unknown} {customer_name} 李雷"
    )
    assert fill("a { b } {", VALUES) == "a { b } {"


def test_attribute_index_conversion_and_spec_are_never_evaluated() -> None:
    for body in (
        "{customer_name.__class__}",
        "{customer_name.__class__.__mro__}",
        "{customer_name[0]}",
        "{customer_name!r}",
        "{customer_name:>99999999}",
        "{0}",
        "{}",
    ):
        assert fill(body, VALUES) == body


def test_a_value_is_not_filled_in_again() -> None:
    values = {**VALUES, "customer_name": "{agent_name} {reference.__class__}"}
    assert fill("Hi {customer_name}, I am {agent_name}", values) == (
        "Hi {agent_name} {reference.__class__}, I am Agent 1001"
    )


def test_a_missing_value_is_empty() -> None:
    assert fill("[{reference}]", {"reference": None}) == "[]"
