"""Customers (appliance/crm): the lookup key of every number format, custom field values,
the store on both databases (found by any number, merged, erased) and migration 0011
moving the old one-number customers over."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.fields import FieldDef, FieldErrors, clean_values
from appliance.crm.numbers import match_key
from appliance.db import migrate
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine

HOSTILE = "<img src=x onerror=alert(1)>'; DROP TABLE customers;--"
# Every way the same mobile number arrives: forms, spreadsheets, trunks, input methods.
MOBILE = (
    "+86 138-0013-8000",
    "008613800138000",
    "13800138000",
    "013800138000",
    "+86 013800138000",
    "'+8613800138000",
    "\uff11\uff13\uff18 \uff10\uff10\uff11\uff13 \uff18\uff10\uff10\uff10",
    "(+86) 138.0013.8000",
)
LANDLINE = ("(010) 1234 5678", "01012345678", "+86 10 1234 5678", "00861012345678")
NOT_NUMBERS = ("", "anonymous", "Anonymous", "unknown", "<script>", "138<b>0013", "12", "+0 12")


def test_every_format_of_a_number_has_one_key() -> None:
    assert {match_key(raw) for raw in MOBILE} == {"13800138000"}
    assert {match_key(raw) for raw in LANDLINE} == {"1012345678"}
    assert {match_key(raw) for raw in ("+1 212 555 0100", "0012125550100")} == {"+12125550100"}
    assert match_key("+86 138 0013 8000", country_code="1") == "+8613800138000"
    assert match_key("013800138000", trunk_prefix="") == "013800138000"


@pytest.mark.parametrize("raw", (*NOT_NUMBERS, "x" * 10_000, "\x00138", "\uff11\uff13\uff18\u202e"))
def test_what_is_no_number_has_no_key(raw: str) -> None:
    assert match_key(raw) is None


def test_field_values_are_checked_and_made_canonical() -> None:
    defs = [
        FieldDef("city", "City", "text"),
        FieldDef("spend", "Spend", "number"),
        FieldDef("since", "Since", "date"),
        FieldDef("tier", "Tier", "choice", ("gold", "silver"), required=True),
    ]
    got = clean_values(
        defs, {"city": f" {HOSTILE} ", "spend": "0012.50", "since": "2026-02-28", "tier": "gold"}
    )
    assert got == {"city": HOSTILE, "spend": "12.5", "since": "2026-02-28", "tier": "gold"}
    assert clean_values(defs, {"spend": 3, "tier": "silver", "city": ""}) == {
        "spend": "3",
        "tier": "silver",
    }
    with pytest.raises(FieldErrors) as caught:
        clean_values(
            defs,
            {
                "city": "x" * 501,
                "spend": "1e400",
                "since": "2026-02-30",
                "tier": "platinum",
                "evil": "1",
            },
        )
    assert set(caught.value.errors) == {"city", "spend", "since", "tier", "evil"}
    with pytest.raises(FieldErrors) as caught:
        clean_values(defs, {"spend": float("nan"), "since": "20260228", "city": ["a"]})
    assert set(caught.value.errors) == {"spend", "since", "city", "tier"}  # tier: required
    assert caught.value.errors["tier"] == "required"


def test_a_customer_is_found_by_every_format_of_each_number(db: DBConnector) -> None:
    store = CustomerStore(db)
    cid = resolved(
        store.create(
            "admin", HOSTILE, ["+86 138-0013-8000", "(010) 1234 5678"], "vip", "a@b.cn", "A-1"
        )
    )
    for raw in MOBILE + LANDLINE:
        found = resolved(store.by_number(raw))
        assert found is not None and found.id == cid, raw
    assert found is not None and found.name == HOSTILE and found.customer_class == "vip"
    assert found.numbers == ("+8613800138000", "01012345678")
    for raw in (*NOT_NUMBERS, "13800138001"):
        assert resolved(store.by_number(raw)) is None
    assert resolved(store.get(cid)) == found
    assert resolved(store.get(cid + 1)) is None


def test_bad_values_are_refused_all_at_once_and_nothing_is_stored(db: DBConnector) -> None:
    store = CustomerStore(db)
    with pytest.raises(FieldErrors) as caught:
        resolved(store.create("admin", "x" * 200, ["abc"], "gold", "not-mail", "A\n1"))
    assert set(caught.value.errors) == {"name", "numbers", "customer_class", "email", "account"}
    with pytest.raises(FieldErrors) as caught:
        resolved(store.create("admin", "", []))
    assert set(caught.value.errors) == {"name"}
    with pytest.raises(FieldErrors) as caught:
        resolved(store.create("admin", "Li", ["13800138000"], fields={"nope": "1"}))
    assert set(caught.value.errors) == {"fields.nope"}
    assert resolved(store.by_number("13800138000")) is None


def test_migration_0011_moves_the_old_numbers(db_url: str) -> None:
    engine = create_engine(db_url)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    try:
        migrate.upgrade(engine, "0010")
        with engine.begin() as conn:
            old = sa.table(
                "customers",
                *(sa.column(n) for n in ("id", "number", "name", "customer_class", "created_at")),
            )
            conn.execute(
                old.insert(),
                [
                    {
                        "id": 1,
                        "number": "013800138000",
                        "name": "Li",
                        "customer_class": "VIP",
                        "created_at": now,
                    },
                    {
                        "id": 2,
                        "number": "+86 10 1234 5678",
                        "name": "Wang",
                        "customer_class": "gold",
                        "created_at": now,
                    },
                    {
                        "id": 3,
                        "number": "anonymous",
                        "name": "Zhao",
                        "customer_class": "",
                        "created_at": now,
                    },
                ],
            )
        migrate.upgrade(engine)
        connector = DBConnector(None, db_url, inline=True)  # type: ignore[arg-type]
        resolved(connector.startService())
        try:
            store = CustomerStore(connector)
            li = resolved(store.by_number("+8613800138000"))
            wang = resolved(store.by_number("01012345678"))
            assert li is not None and (li.id, li.customer_class) == (1, "vip")
            assert li.numbers == ("013800138000",)
            assert wang is not None and (wang.id, wang.customer_class) == (2, "normal")
            zhao = resolved(store.get(3))
            assert zhao is not None and zhao.numbers == () and zhao.name == "Zhao"
        finally:
            resolved(connector.stopService())
        migrate.downgrade(engine, "0010")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT id, number FROM customers ORDER BY id")).all()
        assert [tuple(r) for r in kept] == [
            (1, "013800138000"),
            (2, "+86 10 1234 5678"),
            (3, "anonymous"),
        ]
    finally:
        engine.dispose()
