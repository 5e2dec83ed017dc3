"""Every benchmark entry says which way is better and compares like with like: read from
the bench modules' source (running them takes minutes) and checked again by Result itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.benchmarks.harness import BETTER, Result, unlike

BENCHES = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("bench_*.py"))


def result_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for path in BENCHES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Result":
                calls.append((f"{path.name}:{node.lineno}", node))
    return calls


def literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def test_every_entry_declares_which_way_is_better() -> None:
    calls = result_calls()
    assert len(calls) >= 30, "the bench modules were not found"
    for where, call in calls:
        keyword = next((k.value for k in call.keywords if k.arg == "better"), None)
        better = keyword if keyword is not None else (call.args[5] if len(call.args) > 5 else None)
        assert literal(better) in BETTER, f"{where}: better='higher' or 'lower', as a literal"
        name = literal(call.args[0]) or ""
        assert "is better" not in name, f"{where}: say it with better=, not in the name"


def test_every_literal_baseline_is_the_same_job() -> None:
    checked = 0
    for where, call in result_calls():
        name, baseline = literal(call.args[0]), literal(call.args[3])
        if name is not None and baseline is not None:
            assert unlike(name, baseline) is None, f"{where}: {unlike(name, baseline)}"
            checked += 1
    assert checked >= 20


def test_result_refuses_an_unknown_direction_and_a_baseline_of_another_job() -> None:
    with pytest.raises(ValueError, match="better must be"):
        Result("acd route", 1.0, "decisions/s", "twin", 1.0, "faster")
    # what bench.json once held: the alaw decoder against the ulaw one
    with pytest.raises(ValueError, match="is alaw"):
        Result(
            "g711 decode alaw",
            1.0,
            "Gsamples/s",
            "drivers.audio._g711_c.ulaw_decode",
            1.0,
            "higher",
        )
    with pytest.raises(ValueError, match="is a decoder"):
        Result("g711 decode", 1.0, "Gsamples/s", "audioop.lin2ulaw (C)", 1.0, "higher")
    with pytest.raises(ValueError, match="is an encoder"):
        Result("g711 encode alaw", 1.0, "Gsamples/s", "audioop.alaw2lin (C)", 1.0, "higher")
    Result("g711 decode alaw", 1.0, "Gsamples/s", "audioop.alaw2lin (C)", 1.0, "higher")


def test_gain_reads_above_one_for_better_either_way() -> None:
    faster = Result("ami parse", 300.0, "events/s", "pyst2", 100.0, "higher")
    quicker = Result("restart stop time", 2.0, "s", "grace_s", 8.0, "lower")
    worse = Result("ccboxd RSS idle", 120.0, "MB", "before", 100.0, "lower")
    assert (faster.gain, quicker.gain, worse.gain) == (3.0, 4.0, 100.0 / 120.0)
    assert quicker.as_dict()["better"] == "lower" and quicker.as_dict()["gain"] == 4.0


def test_the_dialer_goal_entries_come_from_the_engine_over_the_simulator() -> None:
    """Issue 16's ``dialer predictive occupancy`` and ``dialer predictive abandon`` are the
    real engine's (bench_dialer_engine.py), not the pacers' floor model."""
    where: dict[str, set[str]] = {}
    for at, call in result_calls():
        name = ast.unparse(call.args[0])
        for entry in ("dialer predictive occupancy", "dialer predictive abandon"):
            if entry in name:
                where.setdefault(entry, set()).add(at.split(":")[0])
    assert where == {
        "dialer predictive occupancy": {"bench_dialer_engine.py"},
        "dialer predictive abandon": {"bench_dialer_engine.py"},
    }
