"""The FastAGI header and reply parsers under hypothesis, through the session protocol as
the socket feeds it.

Any bytes from a FastAGI peer end in a session handed to the route with a header of plain
text values, or in the session dropped (AGIProtocolError inside, the socket closed); never
another exception. A header as Asterisk writes it parses back to its values, and a reply
as Asterisk writes it parses back to its parts.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from drivers.asterisk.agi.codec import (
    HEADER_KEYS,
    AGIProtocolError,
    AGIResult,
    ReplyParser,
    parse_reply,
)
from drivers.asterisk.agi.session import AGISessionProtocol
from tests.fuzz.budget import fuzz

# What Asterisk 22 sends, in its order (the parser's own list; tests/unit/test_agi_header.py
# holds it to the traces' headers).
ASTERISK_KEYS = [*HEADER_KEYS, "arg_1"]

_PIECES = st.sampled_from(
    [
        b"\n",
        b"\r\n",
        b"\r",
        b"agi_",
        b"agi_calleridname: ",
        b"agi_callerid: 10086",
        b"agi_network_script: voicemail",
        b"agi_uniqueid: 1.1",
        b": ",
        b"200 result=0",
        b"200 result=1 (timeout) endpos=5",
        b"520-Invalid command syntax.",
        b"520 End of proper usage.",
        b"HANGUP",
        b"\x00",
        b"\xff",
        b" ",
    ]
)
STREAMS = st.lists(st.one_of(_PIECES, st.binary(max_size=30)), max_size=50).map(b"".join)


def _session() -> tuple[AGISessionProtocol, list[AGISessionProtocol], StringTransport]:
    ready: list[AGISessionProtocol] = []
    session = AGISessionProtocol(Clock(), ready.append)
    transport = StringTransport()
    session.makeConnection(transport)
    return session, ready, transport


@fuzz(400)
@given(data=STREAMS, cuts=st.lists(st.integers(0, 5000), max_size=5))
def test_any_bytes_give_a_ready_session_or_a_dropped_one(data: bytes, cuts: list[int]) -> None:
    session, ready, _transport = _session()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for a, b in itertools.pairwise(bounds):
        session.dataReceived(data[a:b])  # raises nothing, whatever the bytes
    assert len(ready) <= 1
    if ready:
        assert session.env is not None
        for key, value in session.env.values.items():
            assert isinstance(key, str) and isinstance(value, str)
            assert not any(c in key + value for c in "\r\n\x00")


# A value as Asterisk writes it: any text but the line break that ends it (bytes that are
# not UTF-8 arrive as U+FFFD, so no lone surrogate either).
_VALUE = st.text(
    st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]), max_size=40
)


@fuzz(300)
@given(
    values=st.fixed_dictionaries({k: _VALUE for k in ASTERISK_KEYS}),
    crlf=st.booleans(),
)
def test_an_asterisk_header_parses_back_to_its_values(values: dict[str, str], crlf: bool) -> None:
    session, ready, transport = _session()
    end = b"\r\n" if crlf else b"\n"
    header = b"".join(f"agi_{k}: {values[k]}".encode() + end for k in ASTERISK_KEYS) + end
    session.dataReceived(header)
    assert not transport.disconnecting
    assert ready == [session]
    assert session.env is not None
    assert session.env.values == values


@fuzz(400)
@given(line=st.one_of(st.text(max_size=60), _PIECES.map(lambda b: b.decode("latin-1"))))
def test_any_reply_line_is_a_reply_or_a_protocol_error(line: str) -> None:
    parser = ReplyParser()
    try:
        out = parser.line(line)
        if out is None:
            out = parser.line("520 End of proper usage.")
    except AGIProtocolError:
        return
    assert out == "HANGUP" or isinstance(out, AGIResult)


_RESULT = st.from_regex(r"-?[0-9*#A-D]{0,20}", fullmatch=True)  # numbers and DTMF digits
_VALUE_TEXT = st.text(st.characters(exclude_characters="\r\n\x00"), max_size=30)


@fuzz(150)
@given(
    result=_RESULT,
    data=st.none() | _VALUE_TEXT,
    extras=st.dictionaries(
        st.from_regex(r"[A-Za-z_]{1,10}", fullmatch=True),
        st.from_regex(r"[0-9A-Za-z_.-]{0,10}", fullmatch=True),
        max_size=3,
    ),
)
def test_a_reply_as_asterisk_writes_it_parses_back(
    result: str, data: str | None, extras: dict[str, str]
) -> None:
    """``200 result=R (data) key=value``: any data (a variable's value: spaces, brackets)
    when there are no extras; with extras, Asterisk's data are words (timeout, dtmf)."""
    if extras and data is not None:
        data = "".join(c for c in data if c.isalpha() and c.isascii()) or "timeout"
    line = f"200 result={result}"
    if data is not None:
        line += f" ({data})"
    line += "".join(f" {k}={v}" for k, v in extras.items())
    reply = parse_reply(line)
    assert (reply.code, reply.result, reply.data, reply.extras) == (200, result, data, extras)
