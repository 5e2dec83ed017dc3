"""The AMI parser (codec.Parser over both scanners) and encode_action under hypothesis.

Whatever the switch (or something pretending to be it) sends, the parser yields messages
or raises ProtocolError; it never raises anything else, never holds more than one
message's limit of unfinished bytes, and never lets a NUL through. An action that
encode_action accepts parses back to exactly its headers; one it cannot send safely is an
InjectionError (or ActionTooLarge, past Asterisk's limits), never another exception.
"""

from __future__ import annotations

import itertools
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.asterisk.ami.codec import (
    ActionTooLarge,
    InjectionError,
    Parser,
    ProtocolError,
    encode_action,
)
from tests.fuzz.budget import fuzz

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
WANTED = ["Newchannel", "Hangup", "DialEnd", "BridgeEnter", "QueueMemberStatus"]

# Pieces that make the scanner's branches likely: line ends, blank lines, Event/ActionID
# lines, colons, NUL, invalid UTF-8.
_PIECES = st.sampled_from(
    [
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\n\r\n",
        b"\n\n",
        b"\n\r\n",
        b"Event: Hangup",
        b"Event: VarSet",
        b"Event: ",
        b"ActionID: 7",
        b"Response: Success",
        b": ",
        b":",
        b"Key",
        b"\x00",
        b"\xff\xfe",
        b"\xe4\xbd",
        b" ",
    ]
)
STREAMS = st.lists(st.one_of(_PIECES, st.binary(max_size=40)), max_size=60).map(b"".join)


def _feed_all(parser: Parser, data: bytes, cuts: list[int]) -> list[tuple[tuple[str, str], ...]]:
    out = []
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        for msg in parser.feed(data[a:b]):
            out.append(msg.headers)
        assert len(parser._buf) <= parser.max_message_bytes
    return out


@fuzz(250)
@given(
    data=STREAMS,
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
    limit=st.sampled_from([16, 64, 64 * 1024]),
    filtered=st.booleans(),
)
def test_any_bytes_give_messages_or_a_protocol_error(
    ami_scan: ModuleType, data: bytes, cuts: list[int], limit: int, filtered: bool
) -> None:
    parser = Parser(WANTED if filtered else None, max_message_bytes=limit)
    try:
        messages = _feed_all(parser, BANNER + data, cuts)
    except ProtocolError:
        return  # the documented refusal: the connection is dropped
    for headers in messages:
        for key, value in headers:
            assert key and isinstance(key, str) and isinstance(value, str)
            assert "\x00" not in key + value
            assert "\n" not in key + value


@fuzz(150)
@given(data=STREAMS, cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_fragmentation_never_changes_the_messages(
    ami_scan: ModuleType, data: bytes, cuts: list[int]
) -> None:
    whole, pieces = Parser(), Parser()
    try:
        expected = _feed_all(whole, BANNER + data, [])
    except ProtocolError:
        return
    assert _feed_all(pieces, BANNER + data, cuts) == expected


_NAMES = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
# Web fields are JSON, and JSON carries lone surrogates ("\ud800"): text of every category,
# with the characters that must be refused made likely.
_TEXT = st.lists(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(["\ud800", "\udfff", "\r", "\n", "\x00", "\u2028", "a" * 600]),
    ),
    max_size=12,
).map("".join)


@fuzz(100)
@given(
    action=_NAMES,
    action_id=st.text(max_size=20),
    headers=st.lists(st.tuples(st.one_of(_NAMES, _TEXT), _TEXT), max_size=12),
)
def test_an_action_is_refused_or_parses_back_to_its_headers(
    ami_scan: ModuleType, action: str, action_id: str, headers: list[tuple[str, str]]
) -> None:
    try:
        data = encode_action(action, headers, action_id)
    except (InjectionError, ActionTooLarge):
        return
    parser = Parser()
    parser.banner = ""  # the client's side of the stream has no banner
    messages = parser.feed(data)
    assert len(messages) == 1
    assert messages[0].headers == (("Action", action), ("ActionID", action_id), *headers)
    assert parser.malformed_lines == 0


def test_a_lone_surrogate_is_refused_as_injection() -> None:
    """Found by the property above: JSON carries "\\ud800", and encode_action raised
    UnicodeEncodeError (no InjectionError: the caller's error handling missed it)."""
    with pytest.raises(InjectionError, match="not valid text"):
        encode_action("Originate", [("CallerID", "Bob \ud800")], "a1")
