"""The AMI scanner: the Cython kernel and the Python reference agree, on the traces and on
random bytes, and both keep the contract written in _scan_py."""

from __future__ import annotations

from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.asterisk.ami import _scan_c, _scan_py
from drivers.asterisk.ami.codec import Parser
from tests.support.traces import ami_bytes, load, trace_names

WANTED = frozenset({b"Newchannel", b"Hangup"})
LIMIT = 64 * 1024


def test_the_kernel_is_built() -> None:
    # make test builds it; a silent fallback to Python would hide a broken build.
    from drivers.asterisk.ami import scan

    assert scan.IMPLEMENTATION == "cython"


def test_contract_by_example(ami_scan: ModuleType) -> None:
    buf = (
        b"\r\n"  # leading line breaks are not a message
        b"Event: VarSet\r\nVariable: X\r\n\r\n"  # unwanted: skipped
        b"Event: Hangup\r\nCause: 16\r\n\r\n"  # wanted
        b"Event: QueueMember\r\nActionID: a6\r\n\r\n"  # unwanted but a list item: kept
        b"Response: Success\nActionID: a1\n\n"  # bare LF
        b"   \r\n\r\n"  # only whitespace: dropped
        b"Event: Newchannel\r\nChannel: DAHDI/1-1\r\n\r"  # unfinished: waits for more
    )
    blocks, end, skipped, oversize = ami_scan.scan(buf, WANTED, LIMIT)
    assert blocks == [
        b"Event: Hangup\r\nCause: 16",
        b"Event: QueueMember\r\nActionID: a6",
        b"Response: Success\nActionID: a1",
    ]
    assert skipped == 1 and oversize == 0
    assert buf[end:] == b"Event: Newchannel\r\nChannel: DAHDI/1-1\r\n\r"
    assert ami_scan.scan(buf, None, LIMIT)[0][0] == b"Event: VarSet\r\nVariable: X"


def test_oversize_message_is_reported_and_scanning_stops(ami_scan: ModuleType) -> None:
    buf = b"Event: Hangup\r\n\r\n" + b"Event: Hangup\r\nX: " + b"y" * 100 + b"\r\n\r\nZ: 1\r\n\r\n"
    blocks, end, _, oversize = ami_scan.scan(buf, None, 50)
    assert blocks == [b"Event: Hangup"] and oversize == 118
    assert buf[end:].startswith(b"Event: Hangup\r\nX: yyy")


def test_split_headers_contract(ami_scan: ModuleType) -> None:
    block = (
        b"Event: Hangup\r\n"
        b"Key:value\r\n"  # no space: still a header
        b"no colon here\r\n"  # malformed
        b": no key\r\n"  # malformed
        b"Name: a\x00b \xff\xfe\r\n"  # NUL and invalid UTF-8 become U+FFFD
        b"Dup: 1\nDup: 2\n"  # bare LF; duplicates kept in order
        b"Url: http://x:1/\r\n"  # the key ends at the first colon
        b"Empty:"
    )
    headers, bad = ami_scan.split_headers(block, 512)
    assert headers == (
        ("Event", "Hangup"),
        ("Key", "value"),
        ("Name", "a\ufffdb \ufffd\ufffd"),
        ("Dup", "1"),
        ("Dup", "2"),
        ("Url", "http://x:1/"),
        ("Empty", ""),
    )
    assert bad == 2
    many = b"\r\n".join(b"H%d: %d" % (i, i) for i in range(10))
    headers, bad = ami_scan.split_headers(many, 4)
    assert [k for k, _ in headers] == ["H0", "H1", "H2", "H3"] and bad == 6


def test_every_trace_scans_the_same_in_both() -> None:
    for name in trace_names():
        data = ami_bytes(load(name))
        for wanted in (None, WANTED):
            assert _scan_c.scan(data, wanted, LIMIT) == _scan_py.scan(data, wanted, LIMIT), name


PIECES = [
    b"Event: ",
    b"Hangup",
    b"Newchannel",
    b"VarSet",
    b"ActionID: ",
    b"Response: Success",
    b"\r\n",
    b"\n",
    b"\r",
    b": ",
    b":",
    b" ",
    b"x",
    b"\x00",
    b"\xff",
    b"\xe4\xb8\xad",
]


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.sampled_from(PIECES), max_size=60),
    wanted=st.sampled_from([None, WANTED]),
    limit=st.integers(1, 200),
)
def test_kernel_equals_reference_on_random_streams(
    parts: list[bytes], wanted: frozenset[bytes] | None, limit: int
) -> None:
    buf = b"".join(parts)
    assert _scan_c.scan(buf, wanted, limit) == _scan_py.scan(buf, wanted, limit)
    assert _scan_c.split_headers(buf, 8) == _scan_py.split_headers(buf, 8)


@settings(
    max_examples=200,
    deadline=None,
    # The fixture only selects the kernel: nothing in it needs resetting between examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cuts=st.lists(st.integers(0, 4000), max_size=12))
def test_any_fragmentation_gives_the_same_messages(ami_scan: ModuleType, cuts: list[int]) -> None:
    data = b"Asterisk Call Manager/11.0.0\r\n" + ami_bytes(load("ami-login-and-basics"))
    whole = Parser(["FullyBooted"]).feed(data)
    parser = Parser(["FullyBooted"])
    got = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        got += parser.feed(data[start:cut])
        start = max(start, cut)
    assert got == whole and len(whole) > 10
