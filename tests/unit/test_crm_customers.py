"""Customers (appliance/crm): the lookup key of every number format, custom field values,
the store on both databases (found by any number, merged, erased) and migration 0011
moving the old one-number customers over."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task

from acd.dialer.service import DIALABLE
from appliance import cli
from appliance import config as config_mod
from appliance.cli import resolved
from appliance.crm.customer_store import Customer, CustomerNotFound, CustomerStore
from appliance.crm.erasure import ErasureFiles
from appliance.crm.fields import FieldDef, FieldErrors, clean_values
from appliance.crm.numbers import match_key
from appliance.crm.tickets.store import TicketStore
from appliance.crm.timeline import MAX_NUMBERS, customer_forms, timeline
from appliance.db import migrate, model
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from ivr.caller_customer import LOOKUP_TIMEOUT_S
from recorder import upkeep
from tests.conftest import write_config

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
    # bad values are refused all at once, and nothing is stored
    with pytest.raises(FieldErrors) as caught:
        resolved(store.create("admin", "x" * 200, ["abc"], "gold", "not-mail", "A\n1"))
    assert set(caught.value.errors) == {"name", "numbers", "customer_class", "email", "account"}
    with pytest.raises(FieldErrors) as caught:
        resolved(store.create("admin", "", []))
    assert set(caught.value.errors) == {"name"}
    with pytest.raises(FieldErrors) as caught:
        resolved(store.create("admin", "Li", ["13800138000"], fields={"nope": "1"}))
    assert set(caught.value.errors) == {"fields.nope"}
    assert resolved(store.by_number("13800138001")) is None
    assert [c.id for c in resolved(store.search(""))] == [cid]


def test_migration_0011_moves_the_old_numbers(db_url: str) -> None:
    engine = create_engine(db_url)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    try:
        migrate.upgrade(engine, "0010")
        with engine.begin() as conn:
            old = sa.table(
                "customers",
                *(
                    sa.column(n)
                    for n in ("id", "number", "name", "customer_class", "note", "created_at")
                ),
            )
            conn.execute(
                old.insert(),
                [
                    {
                        "id": 1,
                        "number": "013800138000",
                        "name": "Li",
                        "customer_class": "VIP",
                        "note": "",
                        "created_at": now,
                    },
                    {
                        "id": 2,
                        "number": "+86 10 1234 5678",
                        "name": "Wang",
                        "customer_class": "gold",
                        "note": "",
                        "created_at": now,
                    },
                    {
                        "id": 3,
                        "number": "anonymous",
                        "name": "Zhao",
                        "customer_class": "",
                        "note": "calls at night",
                        "created_at": now,
                    },
                ],
            )
        migrate.upgrade(engine)
        # read by the move, then dropped: customer_numbers holds every number
        assert "number" not in {col["name"] for col in sa.inspect(engine).get_columns("customers")}
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
            assert zhao.note == "calls at night\nanonymous"  # no number: kept, in the note
        finally:
            resolved(connector.stopService())
        migrate.downgrade(engine, "0010")
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT id, number FROM customers ORDER BY id")).all()
        assert [tuple(r) for r in kept] == [
            (1, "013800138000"),
            (2, "+86 10 1234 5678"),
            (3, ""),
        ]
    finally:
        engine.dispose()


def test_update_checks_every_value_and_keeps_inactive_fields(db: DBConnector) -> None:
    store = CustomerStore(db)
    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    with db.engine.begin() as conn:
        for pos, (key, kind, active) in enumerate(
            (("city", "text", True), ("old", "text", False), ("spend", "number", True))
        ):
            conn.execute(
                model.customer_fields.insert().values(
                    key=key, label=key, kind=kind, position=pos, active=active, created_at=now
                )
            )
    cid = resolved(store.create("admin", "Li", ["13800138000"], fields={"city": "Beijing"}))
    with db.engine.begin() as conn:
        conn.execute(
            model.customers.update()
            .where(model.customers.c.id == cid)
            .values(fields='{"city": "Beijing", "old": "kept"}')
        )
    resolved(
        store.update(
            "sup",
            cid,
            numbers=["013800138000", "+1 212 555 0100"],
            fields={"spend": "12.50", "old": "overwritten?"},
            customer_class="key_account",
        )
    )
    got = resolved(store.get(cid))
    assert got is not None
    assert got.numbers == ("013800138000", "+12125550100")
    assert got.fields == {"old": "kept", "spend": "12.5"}
    assert got.customer_class == "key_account"
    assert resolved(store.by_number("0012125550100")) == got
    with pytest.raises(FieldErrors) as caught:
        resolved(store.update("sup", cid, name="x\ny", colour="red", fields={"spend": "x"}))
    assert set(caught.value.errors) == {"colour"}  # unknown keys first, nothing else tried
    with pytest.raises(FieldErrors) as caught:
        resolved(store.update("sup", cid, name="x\ny", fields={"spend": "x"}))
    assert set(caught.value.errors) == {"name"}
    with pytest.raises(FieldErrors) as caught:
        resolved(store.update("sup", cid, fields={"spend": "x"}))
    assert set(caught.value.errors) == {"fields.spend"}
    with pytest.raises(FieldErrors):
        resolved(store.update("sup", cid, name="", numbers=[]))
    assert resolved(store.get(cid)) == got
    audit = resolved(db.audit.recent("customer.update"))
    assert [a.detail for a in audit] == [{"changed": ["customer_class", "fields", "numbers"]}]


def test_search_and_duplicates(db: DBConnector) -> None:
    store = CustomerStore(db)
    li = resolved(store.create("a", "Li Lei 李雷", ["13800138000"], account="ACC-1"))
    han = resolved(store.create("a", "Han Meimei", ["01012345678"], email="Han@Example.cn"))
    odd = resolved(store.create("a", "100%_match", ["+12125550100"]))

    def ids(text: str) -> list[int]:
        return [c.id for c in resolved(store.search(text))]

    assert ids("李雷") == [li]
    assert ids("lei") == [li]
    assert ids("+86 138 0013 8000") == [li]
    assert ids("1380") == [li]
    assert ids("010 1234 5678") == [han]
    assert ids("example.CN") == [han]
    assert ids("acc-1") == [li]
    assert ids("%") == [odd] and ids("_") == [odd]
    assert ids("") == [odd, han, li]
    assert [c.id for c in resolved(store.search("", limit=1, offset=1))] == [han]
    assert ids(HOSTILE) == []
    with db.engine.begin() as conn:  # duplicates: start again with others
        conn.execute(model.customer_numbers.delete())
        conn.execute(model.customers.delete())
    a = resolved(store.create("x", "Wang Fang", ["13800138000"], email="w@a.cn"))
    b = resolved(store.create("x", "wangfang", ["+86 138 0013 8000"]))
    c = resolved(store.create("x", "Zhao", ["13900000000"], email="W@A.CN"))
    resolved(store.create("x", "Qian", ["13700000000"]))
    pairs = [(x.id, y.id, str(r)) for x, y, r in resolved(store.duplicates(10))]
    assert pairs == [(a, b, "same number"), (a, c, "same e-mail")]
    resolved(store.merge("sup", a, b))
    pairs = [(x.id, y.id, str(r)) for x, y, r in resolved(store.duplicates(10))]
    assert pairs == [(a, c, "same e-mail")]


def _call(db: DBConnector, n: int, number: str, customer_id: int | None = None) -> int:
    at = dt.datetime(2026, 12, 1, 9, n, tzinfo=dt.UTC)
    call_id: int = resolved(db.calls.start(f"u{n}", f"u{n}", "inbound", at, number, "Caller"))
    if customer_id is not None:
        with db.engine.begin() as conn:
            conn.execute(
                model.calls.update()
                .where(model.calls.c.id == call_id)
                .values(customer_id=customer_id)
            )
    return call_id


def test_a_merge_keeps_every_timeline_item(db: DBConnector, tmp_path: Path) -> None:
    store = CustomerStore(db)
    keep = resolved(store.create("x", "Li", ["13800138000"], customer_class="normal"))
    dup = resolved(store.create("x", "", ["13800138000", "01012345678"], "vip", email="li@a.cn"))
    _call(db, 1, "13800138000", keep)
    _call(db, 2, "01012345678")  # found by the number only
    _call(db, 3, "anonymous", dup)  # found by its customer_id only
    db_rec(db, tmp_path, "r1.wav", "+861012345678")
    tickets = TicketStore(db)
    ticket = resolved(tickets.create("x", type_key="inquiry", subject="?", customer_id=dup))

    def items(customer_id: int) -> set[tuple[str, int]]:
        page = resolved(defer.ensureDeferred(timeline(db, customer_id, limit=200)))
        return {(i.kind, i.ref_id) for i in page}

    before = items(keep) | items(dup)
    assert ("ticket", ticket) in before and len(before) == 5
    resolved(store.merge("sup", keep, dup))
    assert items(keep) == before
    survivor = resolved(store.get(dup))
    assert survivor is not None and survivor.id == keep
    assert survivor.numbers == ("13800138000", "01012345678")
    assert (survivor.name, survivor.email, survivor.customer_class) == ("Li", "li@a.cn", "vip")
    assert resolved(tickets.get(ticket)).customer_id == keep
    assert resolved(store.by_number("010 1234 5678")) == survivor
    with pytest.raises(CustomerNotFound):
        resolved(store.merge("sup", keep, dup))
    [row] = resolved(db.audit.recent("customer.merge"))
    assert row.target == f"customer {keep}" and row.detail["duplicate"] == dup


def db_rec(db: DBConnector, root: Path, rel: str, caller: str) -> int:
    (root / rel).write_bytes(b"RIFF")
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    rid: int = resolved(db.recordings.add(None, rel, at, 1000, 4, "", caller_number=caller))
    return rid


def test_erasure_removes_the_files_and_data_and_leaves_one_audit_row(
    db: DBConnector, tmp_path: Path
) -> None:
    recordings, voicemail = tmp_path / "rec", tmp_path / "vm"
    recordings.mkdir()
    voicemail.mkdir()
    store = CustomerStore(db)
    cid = resolved(
        store.create("x", HOSTILE, ["13800138000"], "vip", "li@a.cn", "ACC-9", "secret note")
    )
    mine = [
        db_rec(db, recordings, "a.wav", "013800138000"),
        db_rec(db, recordings, "b.wav", "+8613800138000"),
    ]
    other = db_rec(db, recordings, "c.wav", "13900000000")
    (voicemail / "m.wav").write_bytes(b"RIFF")
    message = resolved(db.voicemail.add("100", "m.wav", 1000, "13800138000", "Li"))
    call = _call(db, 1, "+8613800138000")
    linked = _call(db, 2, "anonymous", cid)

    async def delete_voicemail(message_id: int) -> bool:
        # what ivr.voicemail.Voicemail.delete does, without a reactor's thread
        found, path = await db.voicemail.delete(message_id)
        if path is not None:
            (voicemail / path).unlink()
        return found

    files = ErasureFiles(recordings, upkeep.inline_disk, delete_voicemail, tmp_path / "uploads")
    erased = resolved(store.erase("admin", cid, files, ip="10.0.0.1"))
    assert (erased.recordings, erased.recordings_failed, erased.voicemails) == (2, 0, 1)
    assert sorted(p.name for p in recordings.iterdir()) == ["c.wav"]
    assert list(voicemail.iterdir()) == []
    assert resolved(db.voicemail.message(message.id)) is None
    assert resolved(store.get(cid)) is None
    assert resolved(store.by_number("13800138000")) is None
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(model.customers).where(model.customers.c.id == cid)).one()
        assert (row.name, row.email, row.account, row.note, row.fields) == ("", "", "", "", "{}")
        assert row.erased_at is not None
        calls = conn.execute(
            sa.select(model.calls.c.id, model.calls.c.caller_number, model.calls.c.caller_name)
            .where(model.calls.c.id.in_([call, linked]))
            .order_by(model.calls.c.id)
        ).all()
        left = conn.execute(sa.select(model.customer_numbers)).all()
        kept = conn.execute(sa.select(model.recordings.c.id)).scalars().all()
    assert kept == [other]
    assert [tuple(r) for r in calls] == [(call, "**********8000", ""), (linked, "*****mous", "")]
    assert left == []
    assert [a.action for a in resolved(db.audit.recent())] == ["customer.erase", "customer.create"]
    [audit] = resolved(db.audit.recent("customer.erase"))
    assert (audit.actor, audit.action, audit.target, audit.ip) == (
        "admin",
        "customer.erase",
        f"customer {cid}",
        "10.0.0.1",
    )
    text = repr(audit.detail)
    assert "8000" not in text and "Li" not in text and "ACC" not in text
    assert len(mine) == 2
    with pytest.raises(CustomerNotFound):
        resolved(store.erase("admin", cid, files))


def _erasure_files(db: DBConnector, tmp_path: Path) -> tuple[ErasureFiles, Path, Path]:
    recordings, voicemail = tmp_path / "rec", tmp_path / "vm"
    recordings.mkdir()
    voicemail.mkdir()

    async def delete_voicemail(message_id: int) -> bool:
        found, path = await db.voicemail.delete(message_id)
        if path is not None:
            (voicemail / path).unlink()
        return found

    files = ErasureFiles(recordings, upkeep.inline_disk, delete_voicemail, tmp_path / "uploads")
    return files, recordings, voicemail


def test_erasure_removes_what_its_calls_recorded_whatever_their_number(
    db: DBConnector, tmp_path: Path
) -> None:
    """A call linked to the customer (calls.customer_id) from a withheld number or one since
    removed from the record: its recording and voicemail go too, files and rows."""
    files, recordings, voicemail = _erasure_files(db, tmp_path)
    store = CustomerStore(db)
    cid = resolved(store.create("x", "Li", ["13800138000"]))
    withheld = _call(db, 1, "anonymous", cid)
    old_number = _call(db, 2, "13900000001", cid)  # a number no longer on the record
    stranger = _call(db, 3, "13700000002")
    at = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    for name, call, caller in (
        ("w.wav", withheld, "anonymous"),
        ("o.wav", old_number, "13900000001"),
        ("s.wav", stranger, "13700000002"),
    ):
        (recordings / name).write_bytes(b"RIFF")
        resolved(db.recordings.add(call, name, at, 1000, 4, "", caller_number=caller))
    for name, call in (("w.wav", withheld), ("s.wav", stranger)):
        (voicemail / name).write_bytes(b"RIFF")
        resolved(db.voicemail.add("100", name, 1000, "", "", call_id=call))
    erased = resolved(store.erase("admin", cid, files))
    assert (erased.recordings, erased.recordings_failed, erased.voicemails) == (2, 0, 1)
    assert sorted(p.name for p in recordings.iterdir()) == ["s.wav"]
    assert sorted(p.name for p in voicemail.iterdir()) == ["s.wav"]
    with db.engine.connect() as conn:
        kept = conn.execute(sa.select(model.recordings.c.call_id)).scalars().all()
        messages = conn.execute(sa.select(model.voicemails.c.call_id)).scalars().all()
    assert kept == [stranger] and messages == [stranger]


def test_erasure_reaches_every_number_past_the_timelines_bound(
    db: DBConnector, tmp_path: Path
) -> None:
    """Merges chain past the timeline's MAX_NUMBERS: the erasure reads every number
    (timeline.customer_forms without its bound), so the 51st number's recording goes."""
    files, recordings, _voicemail = _erasure_files(db, tmp_path)
    store = CustomerStore(db)
    cid = resolved(store.create("x", "Li", ["13800138000"]))
    numbers = [f"1390000{i:04d}" for i in range(MAX_NUMBERS + 5)]
    with db.engine.begin() as conn:  # what many merges leave: more numbers than a form takes
        conn.execute(
            model.customer_numbers.insert(),
            [{"customer_id": cid, "number": n, "match": match_key(n, "86", "0")} for n in numbers],
        )
    last = numbers[MAX_NUMBERS]  # the record's 52nd number: past the bound either way
    db_rec(db, recordings, "late.wav", "0" + last)
    db_rec(db, recordings, "other.wav", "13700000000")
    with db.engine.connect() as conn:
        shown = customer_forms(conn, cid, "86", "0")
    assert "0" + last not in shown  # a timeline page stops at its bound
    erased = resolved(store.erase("admin", cid, files))
    assert (erased.recordings, erased.recordings_failed) == (1, 0)
    assert sorted(p.name for p in recordings.iterdir()) == ["other.wav"]


def test_erasure_blanks_call_notes_and_leads_and_keeps_the_do_not_call_row(
    db: DBConnector, tmp_path: Path
) -> None:
    """The agents' notes of its calls and its numbers' campaign leads lose what they say of
    the person (a lead keeps its status and outcome: the campaign's figures); the number
    stays on the do-not-call list: whoever asked not to be called is not called again."""
    files, _, _ = _erasure_files(db, tmp_path)
    store = CustomerStore(db)
    cid = resolved(store.create("x", "Li", ["13800138000", "13900138000"]))
    withheld, stranger = _call(db, 1, "anonymous", cid), _call(db, 2, "13700000002")
    now = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    with db.engine.begin() as conn:
        queue = conn.execute(
            model.queues.insert().values(name="sales", created_at=now)
        ).inserted_primary_key[0]
        camp = conn.execute(
            model.campaigns.insert().values(name="renewals", queue_id=queue, created_at=now)
        ).inserted_primary_key[0]
        conn.execute(
            model.call_notes.insert(),
            [
                {"call_id": withheld, "disposition": "sale", "notes": "Li, ill", "created_at": now},
                {"call_id": stranger, "disposition": "sale", "notes": "another", "created_at": now},
            ],
        )
        lead = {
            "campaign_id": camp,
            "fields_json": '{"city": "Xi\'an"}',
            "updated_at": now,
            "attempts": 0,
            "last_outcome": "",
        }
        conn.execute(
            model.leads.insert(),
            [
                # two of its numbers, masked alike in one campaign (a unique pair)
                {
                    **lead,
                    "number": "13800138000",
                    "name": "Li",
                    "status": "done",
                    "attempts": 2,
                    "last_outcome": "answered",
                },
                {**lead, "number": "13900138000", "name": "Li", "status": "new"},
                {**lead, "number": "13700000002", "name": "Zhao", "status": "new"},
            ],
        )
        conn.execute(
            model.dnc_numbers.insert().values(number="13800138000", scope="center", added_at=now)
        )
    resolved(store.erase("admin", cid, files))
    with db.engine.connect() as conn:
        notes = conn.execute(
            sa.select(
                model.call_notes.c.call_id, model.call_notes.c.disposition, model.call_notes.c.notes
            ).order_by(model.call_notes.c.call_id)
        ).all()
        leads = conn.execute(
            sa.select(
                model.leads.c.number,
                model.leads.c.name,
                model.leads.c.fields_json,
                model.leads.c.status,
                model.leads.c.attempts,
                model.leads.c.last_outcome,
            ).order_by(model.leads.c.id)
        ).all()
        dnc = conn.execute(sa.select(model.dnc_numbers.c.number)).scalars().all()
    assert [tuple(r) for r in notes] == [
        (withheld, "sale", ""),
        (stranger, "sale", "another"),
    ]
    first, second, other = (tuple(r) for r in leads)
    assert first == ("*******8000", "", "{}", "done", 2, "answered")
    assert second[1:4] == ("", "{}", "new") and "138000" not in second[0]
    assert other == ("13700000002", "Zhao", '{"city": "Xi\'an"}', "new", 0, "")
    assert not any(DIALABLE.fullmatch(number) for number in (first[0], second[0]))
    assert dnc == ["13800138000"]


def test_a_slow_or_failing_lookup_gives_no_customer_in_time() -> None:
    clock = task.Clock()
    stuck: defer.Deferred[Customer | None] = defer.Deferred()
    store = CustomerStore(None)  # type: ignore[arg-type]  # by_number is all it asks
    store.by_number = lambda raw: stuck  # type: ignore[method-assign]
    found = store.by_number_within(clock, "13800138000", LOOKUP_TIMEOUT_S)
    clock.advance(LOOKUP_TIMEOUT_S - 0.01)
    assert not found.called
    clock.advance(0.02)
    assert resolved(found) is None
    stuck.callback(None)  # the late answer is dropped
    store.by_number = lambda raw: defer.fail(RuntimeError("db down"))  # type: ignore[method-assign]
    assert resolved(store.by_number_within(clock, "13800138000", 1.0)) is None
    assert clock.getDelayedCalls() == []


def test_rekey_after_the_number_rules_change(
    migrated_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A box that ran without a trunk prefix keeps 0138... and 138... as two numbers; once
    [crm] says 0, ``ccbox customers rekey`` makes them one and every format finds it."""
    path = write_config(tmp_path, database_url=migrated_db_url)
    db = cli.open_db(config_mod.load(path))
    old_rules = CustomerStore(db, "86", "")
    cid = resolved(old_rules.create("a", "Li", ["013800138000", "13800138000", "+1 212 555 0100"]))
    han = resolved(old_rules.create("a", "Han", ["01012345678"]))
    now = CustomerStore(db)
    assert resolved(now.by_number("(010) 1234 5678")) is None
    assert resolved(now.by_number("+86 138 0013 8000")) is not None  # one of the two
    assert resolved(now.by_number("0012125550100")) is not None
    assert resolved(now.by_number("13800138000")).numbers == (  # type: ignore[union-attr]
        "013800138000",
        "13800138000",
        "+12125550100",
    )
    resolved(db.stopService())
    assert cli.main(["--config", str(path), "customers", "rekey"]) == 0
    assert "1 numbers have a new key; 1 were" in capsys.readouterr().out
    db = cli.open_db(config_mod.load(path))
    try:
        for raw in MOBILE:
            found = resolved(CustomerStore(db).by_number(raw))
            assert found is not None and found.id == cid, raw
        assert found.numbers == ("13800138000", "+12125550100")
        landline = resolved(CustomerStore(db).by_number("(010) 1234 5678"))
        assert landline is not None and landline.id == han
    finally:
        resolved(db.stopService())
