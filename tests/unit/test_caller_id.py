"""Caller ID as stored (drivers/asterisk/caller_id.py): hostile values from a trunk."""

from __future__ import annotations

import time

import pytest

from drivers.asterisk.caller_id import MAX_NAME, normalise


@pytest.mark.parametrize(
    "number, name, stored",
    [
        ('"Bob" <1234>', "", ("1234", "Bob")),
        ("Alice<+8613800138000>", "unknown", ("+8613800138000", "Alice")),
        ("<1234>", "Real Name", ("1234", "Real Name")),  # the name field wins
        ("1234 <5678>", "", ("5678", "1234")),
        ("+86 138-0013.8000", "", ("+8613800138000", "")),
        ("(010) 8888 0000", "", ("01088880000", "")),
        ("+", "", ("", "")),
        ("12+34", "", ("", "")),  # a + only in front
        ("*86", "", ("", "")),
        ("anonymous", "Anonymous", ("", "")),
        ("<unknown>", "<unknown>", ("", "")),
        ("<script>alert(1)</script>", "<b>x</b>", ("", "<b>x</b>")),  # text, shown escaped
        ("1" * 33, "", ("", "")),  # longer than any number
        ("1" * 32, "", ("1" * 32, "")),
        ("", "'O''Brien'", ("", "O''Brien")),
        ("", "Bob\r\nagi_callerid: 10086", ("", "Bob agi_callerid: 10086")),
        ("", "\u202eevil\u200f\u0000name", ("", "evilname")),
        ("", "  Zhang \t San  ", ("", "Zhang San")),
        ("", "名" * 300, ("", "名" * MAX_NAME)),
    ],
)
def test_hostile_caller_ids(number: str, name: str, stored: tuple[str, str]) -> None:
    cid = normalise(number, name)
    assert (cid.number, cid.name) == stored
    assert (cid.raw_number, cid.raw_name) == (number, name)
    assert cid.raw is None or cid.raw == {"number": number[:256], "name": name[:256]}


def test_what_needs_no_change_keeps_no_raw_copy() -> None:
    assert normalise("13800138000", "Zhang San").raw is None
    assert normalise("unknown", "unknown").raw is None  # Asterisk's word for none
    assert normalise(None, None).raw is None
    assert normalise("1380-0138-000", "Zhang San").raw is not None


def test_a_megabyte_of_caller_id_costs_nothing() -> None:
    began = time.perf_counter()
    cid = normalise("9" * 1_000_000, "\u202e" * 1_000_000)
    assert (cid.number, cid.name) == ("", "")
    assert time.perf_counter() - began < 0.5
    assert cid.raw is not None and len(cid.raw["name"]) == 256
