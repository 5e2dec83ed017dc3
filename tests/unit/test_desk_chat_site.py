"""webui/desk_chat/site.py: what the desk's API takes from a request's JSON."""

from __future__ import annotations

import pytest

from webui.desk_chat.site import DeskError, _text


def test_a_lone_surrogate_becomes_a_replacement_character() -> None:
    """Half an emoji alone ("\\ud83d" in the JSON) is stored by no database: the agent's
    line failed with a 500; now the rest of it goes."""
    text = _text({"text": "好的 \ud83d"}, "text", 100)
    assert text == "好的 \ufffd"
    assert text.encode("utf-8")
    # a whole pair (JSON's escapes of one emoji) is one character, kept
    assert _text({"text": "好 \ud83d\ude00"}, "text", 100) == "好 😀"


def test_a_text_is_a_bounded_string() -> None:
    assert _text({}, "note", 10) == ""
    for body in ({"text": 5}, {"text": "x" * 11}, {"text": None}):
        with pytest.raises(DeskError) as err:
            _text(body, "text", 10)
        assert err.value.status == 400
    with pytest.raises(DeskError):
        _text({"text": "  "}, "text", 10, required=True)


def test_an_agents_text_loses_controls_and_direction_overrides_as_a_visitors_does() -> None:
    """U+202E turns the rest of a line around on the visitor's screen, a NUL or an ESC
    has no business in a line: the widget's input drops them, the desk's did not."""
    sent = "退款\u202e001 元\u2066 ok\x00\x1b[31m\r\nline\ttwo"
    assert _text({"text": sent}, "text", 100) == "退款001 元 ok[31m\nline\ttwo"
    assert _text({"note": "a\u200bb\rc"}, "note", 10) == "ab\nc"
    with pytest.raises(DeskError):
        _text({"text": "\u202e\u2066 "}, "text", 10, required=True)
