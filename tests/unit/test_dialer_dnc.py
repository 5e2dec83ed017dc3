"""Do-not-call (acd/dialer/dnc.py): in memory at once, written through the store, the
national list replaced whole and small in memory."""

from __future__ import annotations

import datetime as dt

import pytest

from acd.dialer.dnc import DoNotCall, NationalList
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def test_each_list_blocks_in_its_scope_and_numbers_compare_normalised() -> None:
    dnc = DoNotCall()
    dnc.load(
        [
            ("+8613800138000", "center", None),
            ("13900000001", "campaign", 7),
            ("01012345678", "national", None),
        ],
        national_date=dt.date(2026, 12, 1),
    )
    # typed with separators, full-width digits or 00 for + : the same numbers
    assert dnc.blocks("+86 138-0013-8000", 1) == "center"
    assert dnc.blocks("008613800138000") == "center"
    assert (
        dnc.blocks("\uff11\uff13\uff19\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff11", 7)
        == "campaign"
    )
    assert dnc.blocks("13900000001", 8) is None  # another campaign's list
    assert dnc.blocks("(010) 1234.5678", 7) == "national"
    # a Chinese number written nationally is the same number as +86...
    assert dnc.blocks("13800138000", 7) == "center"
    assert dnc.blocks("+86 10 1234 5678", 7) == "national"  # the landline 010 1234 5678
    assert dnc.blocks("+8513800138000", 7) is None  # another country's
    # a hostile caller ID does not crash: its digits are compared
    assert dnc.blocks("<b>13900000001</b>", 7) == "campaign"
    assert dnc.blocks("\x00" * 500, 7) is None
    assert dnc.counts() == {"center": 1, "campaign": 1, "national": 1}
    assert dnc.national_date == dt.date(2026, 12, 1)


def test_the_center_list_wins_over_the_others() -> None:
    dnc = DoNotCall()
    dnc.load([("123456", s, 1 if s == "campaign" else None) for s in ("national", "campaign")])
    assert dnc.blocks("123456", 1) == "campaign"
    dnc.load([("123456", s, None) for s in ("national", "center")])
    assert dnc.blocks("123456", 1) == "center"


def _campaign(db: DBConnector) -> int:
    with db.engine.begin() as conn:
        conn.execute(model.queues.insert().values(id=1, name="q", created_at=T0))
    return resolved(db.dialer.create_campaign("c", 1, now=T0)).id


def test_add_is_in_force_at_once_and_survives_a_restart(db: DBConnector) -> None:
    cid = _campaign(db)
    resolved(db.dialer.add_leads(cid, [NewLead("13800138000"), NewLead("+8613700000007")], now=T0))
    dnc = DoNotCall(db.dialer)
    resolved(dnc.load_from_store())
    assert dnc.blocks("13800138000", cid) is None
    added = dnc.add("138 0013 8000", "center", "agent")
    assert dnc.blocks("13800138000", cid) == "center"
    assert resolved(added) is True
    assert resolved(dnc.add("1390000000", "campaign", "admin", cid)) is True
    with pytest.raises(ValueError, match="letters"):
        dnc.add("call me maybe", "center", "agent")
    with pytest.raises(ValueError, match="replaced as a whole"):
        dnc.add("123456", "national", "import")
    with pytest.raises(ValueError, match="names its campaign"):
        dnc.add("123456", "campaign", "admin")
    # the waiting lead with that number is off the list in the database too
    lead = resolved(db.dialer.lead_by_number(cid, "13800138000"))
    assert lead is not None and lead.status == "dnc"
    # ...also when the lead wrote it for abroad
    assert resolved(dnc.add("137 0000 0007", "center", "ivr")) is True
    other = resolved(db.dialer.lead_by_number(cid, "+8613700000007"))
    assert other is not None and other.status == "dnc"
    # a restarted dialer loads the same lists
    again = DoNotCall(db.dialer)
    resolved(again.load_from_store())
    assert again.blocks("13800138000") == "center"
    assert again.blocks("1390000000", cid) == "campaign"
    # taken off however it is written: national here, international in the database
    resolved(again.add("+86 139 0000 0000", "center", "admin"))
    assert again.blocks("13900000000") == "center"
    assert resolved(again.remove("13800138000", "center")) == 1
    assert resolved(again.remove("139-0000-0000", "center")) == 1
    assert again.blocks("13800138000") is None and again.blocks("+8613900000000") is None
    assert resolved(db.dialer.dnc_entries(scopes=("center",))) == [("13700000007", "center", None)]


def test_the_national_list_is_replaced_whole_with_its_date(db: DBConnector) -> None:
    dnc = DoNotCall(db.dialer)
    first = dt.date(2026, 11, 1)
    assert (
        resolved(dnc.replace_national(["0101234567", "010 1234 567", "+12125550100"], first)) == 2
    )
    assert dnc.blocks("+1 212 555 0100") == "national"
    with pytest.raises(ValueError, match="letters"):
        resolved(dnc.replace_national(["0201234567", "not a number"], dt.date(2026, 12, 1)))
    assert dnc.blocks("0101234567") == "national"  # a refused list changed nothing
    # a number of 20 digits with a plus does not fit 63 bits: still held
    long_one = "+" + "9" * 20
    assert resolved(dnc.replace_national(["0201234567", long_one], dt.date(2026, 12, 1))) == 2
    assert dnc.blocks("0101234567") is None
    assert dnc.blocks("020-1234567") == "national"
    assert dnc.blocks(long_one) == "national"
    again = DoNotCall(db.dialer)
    resolved(again.load_from_store())
    assert again.national_date == dt.date(2026, 12, 1)
    assert again.blocks(long_one) == "national" and again.blocks("+12125550100") is None


def test_a_million_national_numbers_take_8_bytes_each() -> None:
    numbers = [f"13{n:09d}" for n in range(0, 2_000_000, 2)]  # 1,000,000 mobile numbers
    national = NationalList(numbers)
    assert len(national) == 1_000_000
    assert national.nbytes() == 8_000_000  # a set of the strings: about 94 MB
    assert "13000000000" in national and "13001999998" in national
    assert "13000000001" not in national and "13001999999" not in national
    assert "+13000000000" not in national  # '+' is part of the key


def test_a_number_is_blocked_even_when_the_database_refuses_the_write(db: DBConnector) -> None:
    from appliance.db.connector import DatabaseStopped

    stopped = DBConnector(None, db.url, inline=True)  # type: ignore[arg-type]  # never started
    dnc = DoNotCall(stopped.dialer)
    write = dnc.add("13800138000", "center", "ivr")
    assert dnc.blocks("13800138000") == "center"
    with pytest.raises(DatabaseStopped):
        resolved(write)
    stopped.engine.dispose()
