"""A customer's timeline (appliance/crm/timeline.py): every kind of item found by the
customer's id or by any form of its numbers, newest first, paged without loss across equal
times, others' items left out, and each number query on an index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from appliance.cli import resolved
from appliance.crm import timeline
from appliance.crm.customer_store import CustomerStore
from appliance.crm.numbers import number_forms
from appliance.crm.timeline import Cursor, TimelineItem
from appliance.db import model
from appliance.db.connector import DBConnector
from tests.conftest import BACKENDS, PG_URL
from tests.support.shared_db import migrated_connector

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
HOSTILE = "<img src=x onerror=alert(1)>"


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def insert(conn: Any, table: sa.Table, **values: Any) -> int:
    key = conn.execute(table.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


class Center:
    """A customer with the numbers 138 0013 8000 and 010 1234 5678, and one item of each
    kind that is theirs (and some that are someone else's)."""

    def __init__(self, db: DBConnector) -> None:
        self.db = db
        store = CustomerStore(db)
        self.customer = resolved(
            store.create("admin", "Li Lei", ["+86 138-0013-8000", "(010) 1234 5678"])
        )
        self.other = resolved(store.create("admin", "Han Meimei", ["13900139000"]))
        self.ids: dict[str, int] = {}
        with db.engine.begin() as conn:
            self._fill(conn)

    def _fill(self, conn: Any) -> None:
        queue = insert(conn, model.queues, name="support", display_name="Support", created_at=T0)
        agent = insert(conn, model.agents, number="1001", name="Agent One", created_at=T0)
        call = dict(uniqueid="u", linkedid="l", queue_id=queue, agent_id=agent)
        ids = self.ids
        # an inbound call from the customer's mobile as the trunk sends it (trunk prefix)
        ids["call"] = insert(
            conn,
            model.calls,
            direction="inbound",
            caller_number="013800138000",
            caller_name=HOSTILE,
            started_at=at(1),
            talk_ms=65_000,
            **call,
        )
        insert(
            conn,
            model.call_notes,
            call_id=ids["call"],
            agent_id=agent,
            disposition="solved",
            notes="asked about the bill",
            created_at=at(2),
        )
        # an outbound call to the landline, with the country code
        ids["call_out"] = insert(
            conn,
            model.calls,
            direction="outbound",
            caller_number="8000",
            called_number="+861012345678",
            started_at=at(3),
            **call,
        )
        # a call from a withheld number the IVR tied to the customer
        ids["call_id"] = insert(
            conn,
            model.calls,
            direction="inbound",
            caller_number="anonymous",
            started_at=at(4),
            customer_id=self.customer,
            **call,
        )
        ids["recording"] = insert(
            conn,
            model.recordings,
            call_id=ids["call_id"],
            path="2026/12/01/a.wav",
            started_at=at(4),
            duration_ms=30_000,
            agent_id=agent,
            caller_number="anonymous",
        )
        ids["voicemail"] = insert(
            conn,
            model.voicemails,
            mailbox="800",
            caller_number="8613800138000",
            caller_name="Li",
            received_at=at(5),
            duration_ms=12_000,
            path="800/a.wav",
        )
        ids["callback"] = insert(
            conn,
            model.callbacks,
            queue_id=queue,
            number="13800138000",
            requested_at=at(6),
        )
        campaign = insert(conn, model.campaigns, name="survey", queue_id=queue, created_at=T0)
        lead = insert(
            conn, model.leads, campaign_id=campaign, number="+8613800138000", updated_at=T0
        )
        ids["attempt"] = insert(
            conn,
            model.dial_attempts,
            campaign_id=campaign,
            lead_id=lead,
            started_at=at(7),
            outcome="answered",
        )
        ids["ticket"] = insert(
            conn,
            model.tickets,
            number="T-1",
            type_key="complaint",
            subject="Bill too high",
            customer_id=self.customer,
            created_at=at(8),
            updated_at=at(8),
        )
        ids["sms"] = insert(
            conn,
            model.crm_messages,
            customer_id=self.customer,
            ticket_id=ids["ticket"],
            channel="sms",
            address="13800138000",
            body="Your ticket T-1 is being handled",
            at=at(9),
        )
        ids["email"] = insert(
            conn,
            model.crm_messages,
            customer_id=self.customer,
            channel="email",
            address="li@example.com",
            subject="Re: bill",
            at=at(10),
        )
        # someone else's: another number, another customer's id, another customer's mail
        insert(conn, model.calls, direction="inbound", caller_number="13900139000",
               started_at=at(11), **call)  # fmt: skip
        insert(conn, model.calls, direction="inbound", caller_number="13800138001",
               started_at=at(12), **call)  # fmt: skip
        insert(conn, model.calls, direction="inbound", caller_number="x", started_at=at(13),
               customer_id=self.other, **call)  # fmt: skip
        insert(conn, model.crm_messages, customer_id=self.other, channel="sms",
               address="13900139000", at=at(14))  # fmt: skip

    def items(self, **kwargs: Any) -> list[TimelineItem]:
        return resolved(defer.ensureDeferred(timeline.timeline(self.db, self.customer, **kwargs)))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DBConnector]:
    """One database per backend for the module: the tests read the center, and a test that
    writes more uses numbers and customers of its own."""
    tmp: Path = tmp_path_factory.mktemp("timeline")
    with migrated_connector(backend, tmp, PG_URL) as connector:
        yield connector


@pytest.fixture(scope="module")
def center(db: DBConnector) -> Center:
    return Center(db)


def test_every_kind_is_found_newest_first(center: Center) -> None:
    items = center.items()
    ids = center.ids
    assert [(i.kind, i.ref_id) for i in items] == [
        ("email", ids["email"]),
        ("sms", ids["sms"]),
        ("ticket", ids["ticket"]),
        ("attempt", ids["attempt"]),
        ("callback", ids["callback"]),
        ("voicemail", ids["voicemail"]),
        # same time: the kinds' order breaks the tie (calls first, newest first)
        ("recording", ids["recording"]),
        ("call", ids["call_id"]),
        ("call", ids["call_out"]),
        ("call", ids["call"]),
    ]
    first_call = items[-1]
    assert first_call.title == "Call from 013800138000"
    assert "Support" in first_call.detail and "1001 Agent One" in first_call.detail
    assert "1:05" in first_call.detail and "asked about the bill" in first_call.detail
    assert items[-2].title == "Outbound call to +861012345678"
    vm = next(i for i in items if i.kind == "voicemail")
    assert (vm.title, vm.detail, vm.ref_group) == ("Voicemail in mailbox 800, 0:12", "Li", "800")
    # codes for the page to name in the reader's words
    states = {i.kind: (i.state_table, i.state) for i in items if i.state}
    assert states == {
        "callback": ("callback_state", "waiting"),
        "attempt": ("dial_outcome", "answered"),
        "ticket": ("ticket_state", "new"),
        "sms": ("message_state", "queued"),
        "email": ("message_state", "queued"),
    }
    sms = next(i for i in items if i.kind == "sms")
    assert (sms.ref_kind, sms.ref_group) == ("message", str(ids["ticket"]))
    assert next(i for i in items if i.kind == "attempt").title == (
        "Campaign survey called +8613800138000"
    )
    assert next(i for i in items if i.kind == "ticket").title == "Ticket T-1: Bill too high"


def test_pages_cover_everything_once_across_equal_times(center: Center) -> None:
    everything = center.items()
    seen: list[TimelineItem] = []
    cursor: Cursor | None = None
    for _ in range(10):
        page = center.items(before=cursor, limit=3)
        if not page:
            break
        assert len(page) <= 3
        seen += page
        # the cursor survives a URL
        cursor = Cursor.parse(page[-1].cursor.token())
    assert seen == everything


def test_the_last_page_of_a_busy_customer_is_bounded(db: DBConnector) -> None:
    busy = resolved(CustomerStore(db).create("admin", "Busy", ["13500135000"]))
    with db.engine.begin() as conn:
        base = {"uniqueid": "b", "linkedid": "b", "direction": "inbound"}
        conn.execute(
            model.calls.insert(),
            [
                {**base, "caller_number": "13500135000", "started_at": at(100 + i)}
                for i in range(120)
            ],
        )
    page = resolved(defer.ensureDeferred(timeline.timeline(db, busy, limit=50)))
    assert len(page) == 50
    assert page[0].at == at(219) and page[-1].at == at(170)
    assert all(i.kind == "call" for i in page)


@pytest.mark.parametrize(
    "token",
    ["", "x", "1.call", "1.nope.2", "-1.call.2", "1.call.-2", "1" * 40 + ".call.1", "1.call.1.1"],
)
def test_a_forged_cursor_is_refused(token: str) -> None:
    with pytest.raises(ValueError):
        Cursor.parse(token)


def test_number_forms_cover_what_trunks_and_lists_send() -> None:
    forms = number_forms("+86 138-0013-8000")
    assert {"13800138000", "013800138000", "+8613800138000", "8613800138000",
            "008613800138000"} <= forms  # fmt: skip
    assert number_forms("+1 212 555 0100") >= {"+12125550100", "0012125550100"}
    assert number_forms("anonymous") == set()
    assert number_forms(HOSTILE) == set()


def test_the_queries_use_indexes(db: DBConnector) -> None:
    sqlite = db.engine.dialect.name == "sqlite"
    forms = sorted(number_forms("13800138000"))
    calls = sa.select(model.calls.c.id).where(model.calls.c.customer_id == 1)
    checks: list[tuple[sa.Table, Any, Any]] = [
        (model.calls, model.calls.c.caller_number.in_(forms), model.calls.c.started_at),
        (model.calls, model.calls.c.called_number.in_(forms), model.calls.c.started_at),
        (
            model.voicemails,
            model.voicemails.c.caller_number.in_(forms),
            model.voicemails.c.received_at,
        ),
        (model.voicemails, model.voicemails.c.call_id.in_(calls), model.voicemails.c.received_at),
        (model.recordings, model.recordings.c.call_id.in_(calls), model.recordings.c.started_at),
        (model.callbacks, model.callbacks.c.number.in_(forms), model.callbacks.c.requested_at),
        (model.leads, model.leads.c.number.in_(forms), model.leads.c.id),
    ]
    with db.engine.connect() as conn:
        if not sqlite:  # an empty table is scanned whatever its indexes: ask for them
            conn.execute(sa.text("SET enable_seqscan = off"))
        for table, where, order in checks:
            q = sa.select(table.c.id).where(where).order_by(order.desc()).limit(50)
            sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
            explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            plan = " ".join(str(r[-1]) for r in conn.execute(sa.text(explain + sql)))
            name, text = table.name.upper(), plan.upper()
            scanned = f"SCAN {name}" in text or f"SEQ SCAN ON {name}" in text
            assert "INDEX" in text and not scanned, (table.name, plan)
