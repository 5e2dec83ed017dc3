"""Asterisk's pattern rules and precedence, held to dialplan-patterns.txt and pbx.c."""

from __future__ import annotations

import pytest

from drivers.asterisk import confgen
from drivers.asterisk.dialplan import DialplanError, extension_order, matches, parse
from tests.support.traces import TRACES

LAB = TRACES.parent / "asterisk-lab" / "extensions.conf"


def pattern_matrix() -> list[tuple[str, str, bool]]:
    """The table at the top of dialplan-patterns.txt: (pattern, exten, matched)."""
    lines = (TRACES / "dialplan-patterns.txt").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("pattern"))
    extens = lines[header].split()[2:]
    rows = []
    for line in lines[header + 1 :]:
        if not line.strip():
            break
        pattern, _context, *cells = line.split()
        assert len(cells) == len(extens)
        rows += [(pattern, e, c == "match") for e, c in zip(extens, cells, strict=True)]
    return rows


MATRIX = pattern_matrix()


def test_the_matrix_was_read_whole() -> None:
    assert len(MATRIX) == 15
    assert ("_X.", "1", False) in MATRIX and ("_X!", "1", True) in MATRIX


@pytest.mark.parametrize(("pattern", "exten", "matched"), MATRIX)
def test_patterns_match_as_dialplan_show_reported(pattern: str, exten: str, matched: bool) -> None:
    assert matches(pattern, exten) is matched


@pytest.mark.parametrize(("pattern", "exten", "matched"), MATRIX)
def test_a_context_holding_one_pattern_finds_what_asterisk_found(
    pattern: str, exten: str, matched: bool
) -> None:
    plan = parse(f"[trace-pat]\nexten => {pattern},1,NoOp()\n")
    assert plan.exists("trace-pat", exten) is matched
    assert not plan.exists("trace-no-such-context", exten)


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("_NXX", ["200", "999"], ["100", "099", "20", "2000"]),
        ("_ZX", ["10", "99"], ["01", "1", "100"]),
        ("_[1-3]", ["1", "2", "3"], ["0", "4", "12"]),
        ("_[15-7]", ["1", "5", "6", "7"], ["2", "4", "8"]),
        ("_[a-c]X", ["a1", "c0"], ["d1", "A1"]),
        ("_1[]2", ["12"], ["1", "1]2"]),  # an empty set is skipped
        ("_X-X", ["12", "1-2"], ["1"]),  # '-' is eye candy on both sides
        ("_x.", ["12"], ["1"]),  # x, n, z in either case
        ("_*7X", ["*71", "*79"], ["*7", "#71"]),
        ("_.", ["1", "abc"], [""]),
        ("_!", ["", "1", "abc"], []),
        ("s", ["s"], ["S", "s1", ""]),
        ("12-34", ["1234", "12-34"], ["123"]),
    ],
)
def test_pattern_characters(pattern: str, yes: list[str], no: list[str]) -> None:
    assert [matches(pattern, e) for e in yes] == [True] * len(yes)
    assert [matches(pattern, e) for e in no] == [False] * len(no)


def test_extensions_are_tried_in_asterisks_order() -> None:
    # ext_cmp: literals first; then per position the smaller set (a literal, N 2-9, Z 1-9,
    # X 0-9), '.' before '!' before the end of the pattern; equal sizes: lower chars first.
    written = ["_!", "_X", "_X!", "_X.", "_XXX", "_ZXX", "_NXX", "_[12]X", "_1X", "s", "100"]
    assert sorted(written, key=extension_order) == [
        "100",
        "s",
        "_1X",
        "_[12]X",
        "_NXX",
        "_ZXX",
        "_XXX",
        "_X.",
        "_X!",
        "_X",
        "_!",
    ]


def test_the_first_match_in_that_order_wins() -> None:
    plan = parse(
        "[c]\n"
        "exten => _X.,1,NoOp(any)\n"
        "exten => _NXX,1,NoOp(three)\n"
        "exten => 200,1,NoOp(literal)\n"
        "exten => _X!,1,NoOp(bang)\n"
        "exten => _X,1,NoOp(one)\n"
    )

    def runs(exten: str) -> str | None:
        found = plan.find("c", exten)
        return found.step.data if found else None

    assert runs("200") == "literal"  # a literal beats every pattern
    assert runs("201") == "three"  # _NXX is more specific than _X.
    assert runs("101") == "any"  # N does not take 1
    assert runs("12") == "any"
    # _X! sorts before _X (pbx.c scores '!' below the end of a pattern): 1 goes to _X!.
    assert runs("1") == "bang"
    assert runs("") is None  # X needs a character even before !


def test_a_pattern_without_the_priority_lets_the_next_one_answer() -> None:
    plan = parse("[c]\nexten => 12,2,NoOp(two)\nexten => _X.,1,NoOp(one)\n same => n,NoOp(b)\n")
    assert plan.find("c", "12", 1).step.data == "one"  # type: ignore[union-attr]
    assert plan.find("c", "12", 2).step.data == "two"  # type: ignore[union-attr]


def test_includes_are_searched_after_the_contexts_own_extensions() -> None:
    plan = parse(
        "[phones]\ninclude => ccbox-features\nexten => _X.,1,NoOp(phones)\n"
        "[ccbox-features]\nexten => *71,1,NoOp(login)\nexten => _X!,1,NoOp(features)\n"
        "[loop-a]\ninclude => loop-b\n[loop-b]\ninclude => loop-a\n"
    )
    assert plan.find("phones", "*71").step.data == "login"  # type: ignore[union-attr]
    assert plan.find("phones", "12").step.data == "phones"  # type: ignore[union-attr]
    assert plan.find("phones", "1").step.data == "features"  # type: ignore[union-attr]
    assert plan.find("phones", "1").context == "ccbox-features"  # type: ignore[union-attr]
    assert plan.find("loop-a", "1") is None  # an include loop ends, as Asterisk's stack does


def test_priorities_labels_and_same() -> None:
    plan = parse(
        "[c]\n"
        "exten => _X.,1,NoOp(x)  ; a comment\n"
        " same => n,AGI(agi://127.0.0.1:4573/inbound,${EXTEN})\n"
        ' same => n,GotoIf($["${AGISTATUS}" = "FAILURE"]?fallback)\n'
        " same => n(fallback),Playback(a\\;b)\n"
        "exten = 7,1,Hangup\n"
    )
    ext = plan.contexts["c"].extensions["_X."]
    assert [(s.priority, s.app, s.label) for s in ext.steps.values()] == [
        (1, "NoOp", None),
        (2, "AGI", None),
        (3, "GotoIf", None),
        (4, "Playback", "fallback"),
    ]
    assert ext.steps[3].data == '$["${AGISTATUS}" = "FAILURE"]?fallback'
    assert ext.steps[4].data == "a;b"
    assert plan.find("c", "12", "fallback").step.priority == 4  # type: ignore[union-attr]
    assert plan.find("c", "7").step.app == "Hangup"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("exten => 1,1,NoOp()", "outside a context"),
        ("[c]\nsame => n,NoOp()", "without an exten"),
        ("[c]\nexten => 1,1,NoOp()\nexten => 1,1,NoOp()", "defined twice"),
        ("[c]\nexten => _[12,1,NoOp()", "without ']'"),
        ("[c]\nexten => 1/555,1,NoOp()", "caller-id"),
        ("[c](!)\nexten => 1,1,NoOp()", "templates"),
        ('#include "x.conf"', "#include"),
        ("[c]\nswitch => Realtime", "switch"),
        ("[c]\nexten => 1,hint,PJSIP/1", "priority 'hint'"),
        ("[c]\nexten => 1,1,Dial,PJSIP/1", "application"),
        ("[c]\ninclude => other,09:00-17:00,*,*,*", "one context name"),
    ],
)
def test_what_the_simulator_cannot_read_is_refused_with_the_line(text: str, error: str) -> None:
    with pytest.raises(DialplanError, match=error):
        parse(text)


def test_the_generated_dialplan_loads_and_routes_what_ccboxd_sends() -> None:
    plan = parse(confgen.extensions_conf(confgen.AsteriskSettings()))
    assert plan.find("ccbox-inbound", "4008001234", 3).step.app == "AGI"  # type: ignore[union-attr]
    handoff = plan.find("ccbox-inbound", "4008001234", "handoff")
    assert handoff is not None and handoff.step.data == "ccbox-handoff,s,1"
    assert plan.find("ccbox-handoff", "s", 2).step.data == "ccbox-handoff"  # type: ignore[union-attr]
    assert plan.find("ccbox-inbound", "s").step.app == "Goto"  # type: ignore[union-attr]
    assert plan.find("ccbox-features", "*71").step.data.endswith("agent,login")  # type: ignore[union-attr]
    assert plan.find("ccbox-supervise", "whisper", 2).step.app == "ChanSpy"  # type: ignore[union-attr]
    assert plan.find("ccbox-supervise", "peek") is None


def test_the_lab_dialplan_loads() -> None:
    plan = parse(LAB.read_text(), str(LAB))
    assert plan.find("agent-phones", "1003").step.app == "Busy"  # type: ignore[union-attr]
    assert plan.find("pstn-out", "5551234") is not None
