"""The dialer's storage (appliance/db/dialer_store.py) on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.components import DuplicateError
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead, check_campaign

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def _queue(db: DBConnector, name: str = "sales") -> int:
    with db.engine.begin() as conn:
        pk = conn.execute(
            model.queues.insert().values(name=name, created_at=T0)
        ).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def _campaign(db: DBConnector, **values: object) -> int:
    c = resolved(db.dialer.create_campaign("survey", _queue(db), now=T0, **values))
    return c.id


def test_a_campaign_is_saved_checked_and_read_back(db: DBConnector) -> None:
    store = db.dialer
    qid = _queue(db)
    c = resolved(
        store.create_campaign(
            "survey",
            qid,
            now=T0,
            mode="predictive",
            window_days="sat, MON",
            window_start="09:00",
            default_tz="America/New_York",
            retry_json={"busy": 3},
            dispositions_json=["sale", "no sale", "sale"],
            amd=True,
        )
    )
    assert (c.name, c.mode, c.state, c.queue_id) == ("survey", "predictive", "stopped", qid)
    assert (c.window_days, c.window_start, c.window_end) == ("mon,sat", "09:00", "20:00")
    assert c.retry_minutes == {
        "no_answer": 60,
        "busy": 3,
        "congestion": 5,
        "machine": 240,
        "callback": 0,
    }
    assert c.dispositions == ["sale", "no sale"]
    assert (c.amd, c.ratio, c.target_abandon_pct, c.max_attempts) == (True, 1.0, 3.0, 3)
    assert resolved(store.campaign_by_name("survey")) == c
    running = resolved(store.set_state(c.id, "running"))
    assert running is not None and running.state == "running"
    assert [x.id for x in resolved(store.campaigns(state="running"))] == [c.id]
    assert resolved(store.campaigns(state="paused")) == []
    with pytest.raises(DuplicateError):
        resolved(store.create_campaign("survey", qid, now=T0))
    assert resolved(store.update_campaign(999, mode="preview")) is None
    with pytest.raises(ValueError, match="no queue"):
        resolved(store.create_campaign("other", 999, now=T0))


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"default_tz": "Mars/Olympus"}, "unknown time zone"),
        ({"default_tz": "../../etc/passwd"}, "unknown time zone"),
        ({"window_days": "mon,funday"}, "unknown day funday"),
        ({"window_days": ""}, "at least one day"),
        ({"window_start": "25:00"}, "HH:MM"),
        ({"window_start": "20:00", "window_end": "09:00"}, "start before it ends"),
        ({"window_start": "24:00"}, "HH:MM"),
        ({"window_end": "24:30"}, "HH:MM"),
        ({"mode": "blast"}, "mode must be one of"),
        ({"retry_json": {"voicemail": 5}}, "unknown retry outcome"),
        ({"retry_json": {"busy": -1}}, "retry busy must be a whole number"),
        ({"retry_json": "not json"}, "map outcomes to minutes"),
        ({"ratio": float("nan")}, "ratio must be a number"),
        ({"max_attempts": True}, "max_attempts must be a whole number"),
        ({"caller_id_number": "400-800"}, "characters it may not have"),
        ({"dispositions_json": ["ok", "x" * 33]}, "a disposition is a name"),
        ({"trunk_group": "a b"}, "characters it may not have"),
        ({"colour": "red"}, "unknown campaign field"),
    ],
)
def test_bad_campaign_values_are_refused_with_a_reason(
    values: dict[str, object], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        check_campaign(values)


def test_a_window_changed_on_one_side_is_checked_against_the_stored_other(
    db: DBConnector,
) -> None:
    cid = _campaign(db, window_start="08:00", window_end="12:00")
    with pytest.raises(ValueError, match="start before it ends"):
        resolved(db.dialer.update_campaign(cid, window_start="13:00"))
    updated = resolved(db.dialer.update_campaign(cid, window_start="11:00"))
    assert updated is not None and updated.window_start == "11:00"
    # until midnight: "00:00" as an end is stored "24:00", after every start
    updated = resolved(db.dialer.update_campaign(cid, window_end="00:00"))
    assert updated is not None and updated.window_end == "24:00"
    updated = resolved(db.dialer.update_campaign(cid, window_start="23:59"))
    assert updated is not None and (updated.window_start, updated.window_end) == ("23:59", "24:00")


def test_leads_merge_duplicates_and_come_due_in_order(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db, max_attempts=2)
    list_id = resolved(store.add_list(cid, "december", "dec.csv", now=T0))
    added = resolved(
        store.add_leads(
            cid,
            [
                NewLead("13800000001", tz="Asia/Shanghai", name="Li", fields={"plan": "A"}),
                NewLead("13800000002", next_at=T0 + dt.timedelta(minutes=5)),
                NewLead("13800000003", next_at=T0 - dt.timedelta(minutes=5)),
                NewLead("13800000001", name="again"),
            ],
            list_id=list_id,
            now=T0,
        )
    )
    assert added == (3, 1)
    assert resolved(store.add_leads(cid, [NewLead("13800000003")], now=T0)) == (0, 1)
    with pytest.raises(ValueError, match="not a phone number"):
        resolved(store.add_leads(cid, [NewLead("1380000000x")], now=T0))
    due = resolved(store.due_leads(cid, T0))
    # the one past its time first, then the one never tried; the one in 5 minutes not yet
    assert [lead.number for lead in due] == ["13800000003", "13800000001"]
    first = resolved(store.lead_by_number(cid, "13800000001"))
    assert first is not None
    # merged as a list import merges: the later row's name, the fields key by key
    assert (first.name, first.fields, first.tz, first.list_id) == (
        "again",
        {"plan": "A"},
        "Asia/Shanghai",
        list_id,
    )
    later = [lead.number for lead in resolved(store.due_leads(cid, T0 + dt.timedelta(minutes=5)))]
    assert later == ["13800000003", "13800000002", "13800000001"]
    assert [lead.number for lead in resolved(store.due_leads(cid, T0, limit=1))] == ["13800000003"]


def test_adding_a_lead_the_campaign_has_updates_its_fields_and_keeps_its_progress(
    db: DBConnector,
) -> None:
    """add_leads writes through the list import's merge (one write path for leads)."""
    store = db.dialer
    cid = _campaign(db)
    first = [NewLead("13800000001", tz="Asia/Shanghai", name="Li", fields={"plan": "A"})]
    resolved(store.add_leads(cid, first, now=T0))
    (lead,) = resolved(store.due_leads(cid, T0))
    assert resolved(store.claim(lead.id, now=T0))
    resolved(store.start_attempt(cid, lead.id, "dial-1", started_at=T0))
    later = T0 + dt.timedelta(hours=1)
    assert resolved(store.schedule(lead.id, later, "no_answer", now=T0))
    again = [NewLead("13800000001", name="Li Wei", fields={"plan": "B", "vip": "yes"})]
    assert resolved(store.add_leads(cid, again, now=T0)) == (0, 1)
    merged = resolved(store.lead(lead.id))
    assert merged is not None
    assert (merged.name, merged.fields, merged.tz) == (
        "Li Wei",
        {"plan": "B", "vip": "yes"},
        "Asia/Shanghai",  # no zone given: the lead keeps its own
    )
    assert (merged.status, merged.attempts, merged.next_at, merged.last_outcome) == (
        "scheduled",
        1,
        later,
        "no_answer",
    )


def test_a_lead_is_claimed_once_and_leaves_after_its_last_attempt(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db, max_attempts=2)
    resolved(store.add_leads(cid, [NewLead("13800000001")], now=T0))
    (lead,) = resolved(store.due_leads(cid, T0))
    assert resolved(store.claim(lead.id, now=T0)) is True
    assert resolved(store.claim(lead.id, now=T0)) is False
    assert resolved(store.due_leads(cid, T0)) == []
    a1 = resolved(store.start_attempt(cid, lead.id, "dial-1", started_at=T0))
    assert resolved(store.finish_attempt(a1, "no_answer", T0 + dt.timedelta(seconds=30)))
    assert not resolved(store.finish_attempt(a1, "answered", T0))  # the first outcome stands
    assert resolved(store.schedule(lead.id, T0 + dt.timedelta(hours=1), "no_answer", now=T0))
    assert resolved(store.due_leads(cid, T0 + dt.timedelta(minutes=59))) == []
    (again,) = resolved(store.due_leads(cid, T0 + dt.timedelta(hours=1)))
    assert (again.status, again.attempts, again.last_outcome) == ("scheduled", 1, "no_answer")
    assert resolved(store.claim(lead.id, now=T0))
    resolved(store.start_attempt(cid, lead.id, "dial-2", started_at=T0))
    resolved(store.schedule(lead.id, T0, "busy", now=T0))
    # two attempts of two: not due any more
    assert resolved(store.due_leads(cid, T0 + dt.timedelta(days=1))) == []
    # ...unless the customer asked for a callback, which an agent keeps for themself
    agent = _agent(db)
    resolved(store.schedule(lead.id, T0, "callback", agent_id=agent, now=T0))
    (cb,) = resolved(store.due_leads(cid, T0))
    assert (cb.agent_id, cb.attempts) == (agent, 2)
    resolved(store.schedule(lead.id, T0, "callback", now=T0))  # agent kept when not given
    assert resolved(store.lead(lead.id)).agent_id == agent  # type: ignore[union-attr]
    assert resolved(store.finish_lead(lead.id, "done", "sale", "answered", now=T0))
    done = resolved(store.lead(lead.id))
    assert done is not None and (done.status, done.disposition) == ("done", "sale")
    assert not resolved(store.schedule(lead.id, T0, "busy", now=T0))  # finished stays finished
    assert not resolved(store.claim(lead.id, now=T0))
    with pytest.raises(ValueError):
        store.finish_lead(lead.id, "dialing")


def _agent(db: DBConnector) -> int:
    with db.engine.begin() as conn:
        pk = conn.execute(
            model.agents.insert().values(number="1001", name="a", created_at=T0)
        ).inserted_primary_key
    assert pk is not None
    return int(pk[0])


def test_a_crash_leaves_nothing_dialing(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db)
    resolved(store.add_leads(cid, [NewLead("13800000001"), NewLead("13800000002")], now=T0))
    due = resolved(store.due_leads(cid, T0))
    for lead in due:
        resolved(store.claim(lead.id, now=T0))
    open_attempt = resolved(store.start_attempt(cid, due[0].id, "x", started_at=T0))
    assert resolved(store.release_dialing(cid, now=T0)) == 2
    assert {lead.status for lead in resolved(store.due_leads(cid, T0))} == {"scheduled"}
    left = resolved(store.attempt(open_attempt))
    assert left is not None and (left.outcome, left.ended_at) == ("failed", T0)
    assert resolved(store.release_dialing(cid, now=T0)) == 0


def test_abandon_counts_and_figures_read_the_attempts(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db)
    other = resolved(db.dialer.create_campaign("other", _queue(db, "q2"), now=T0)).id
    outcomes = ["answered"] * 5 + ["abandoned"] * 2 + ["no_answer", "machine"]
    for i, outcome in enumerate(outcomes):
        a = resolved(store.start_attempt(cid, None, f"c{i}", started_at=T0))
        resolved(store.finish_attempt(a, outcome, T0, agent_id=None, wait_ms=300))
    old = resolved(store.start_attempt(cid, None, "old", started_at=T0 - dt.timedelta(days=2)))
    resolved(store.finish_attempt(old, "abandoned", T0))
    resolved(store.start_attempt(cid, None, "up", started_at=T0))
    a = resolved(store.start_attempt(other, None, "o", started_at=T0))
    resolved(store.finish_attempt(a, "abandoned", T0))
    # answered by a person (taken by an agent or abandoned; the machine is not), abandoned
    assert resolved(store.attempt_counts(cid, T0 - dt.timedelta(hours=24))) == (7, 2)
    assert resolved(store.attempt_counts(cid, T0 - dt.timedelta(days=30))) == (8, 3)
    resolved(store.add_leads(cid, [NewLead("1"), NewLead("2")], now=T0))
    figures = resolved(store.campaign_figures(cid, T0 - dt.timedelta(hours=1)))
    assert figures.leads["new"] == 2 and figures.leads["done"] == 0
    assert figures.attempts["answered"] == 5 and figures.attempts["abandoned"] == 2
    assert figures.attempts["busy"] == 0 and figures.in_progress == 1


def test_do_not_call_rows_and_the_national_list(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db)
    resolved(store.add_leads(cid, [NewLead("13800000001"), NewLead("13800000002")], now=T0))
    assert resolved(store.add_dnc("13800000001", "center", "agent", now=T0)) is True
    assert resolved(store.add_dnc("13800000001", "center", "ivr", now=T0)) is False
    assert resolved(store.add_dnc("13800000002", "campaign", "admin", cid, now=T0)) is True
    # the waiting leads with those numbers are off the dialing list at once
    assert resolved(store.due_leads(cid, T0)) == []
    lead = resolved(store.lead_by_number(cid, "13800000001"))
    assert lead is not None and lead.status == "dnc"
    with pytest.raises(ValueError, match="names its campaign"):
        store.add_dnc("1", "campaign", "admin")
    with pytest.raises(ValueError, match="replaced as a whole"):
        store.add_dnc("1", "national", "import")
    with pytest.raises(ValueError, match="source must be one of"):
        store.add_dnc("1", "center", "robot")
    day = dt.date(2026, 12, 1)
    assert resolved(store.replace_national(["111", "222", "111"], day, now=T0)) == 2
    assert resolved(store.replace_national(["333", "222"], day + dt.timedelta(days=5))) == 2
    assert resolved(store.national_list_date()) == day + dt.timedelta(days=5)
    chunks: list[list[str]] = []
    assert resolved(store.national_numbers(chunks.append, chunk=1)) == 2
    assert sorted(n for part in chunks for n in part) == ["222", "333"] and len(chunks) == 2
    assert resolved(store.dnc_entries(scopes=("center",))) == [("13800000001", "center", None)]
    entries = resolved(store.dnc_entries())
    assert sorted(entries) == [
        ("13800000001", "center", None),
        ("13800000002", "campaign", cid),
        ("222", "national", None),
        ("333", "national", None),
    ]
    assert resolved(store.dnc_counts()) == {"center": 1, "campaign": 1, "national": 2}
    rows = resolved(store.dnc_rows(scope="center"))
    assert [(r.number, r.source, r.added_at) for r in rows] == [("13800000001", "agent", T0)]
    assert [r.number for r in resolved(store.dnc_rows(number_prefix="13800000002"))] == [
        "13800000002"
    ]
    assert resolved(store.dnc_rows(number_prefix="%")) == []  # a wildcard is a character
    assert resolved(store.remove_dnc("13800000001", "center")) == 1
    assert resolved(store.remove_dnc("13800000001", "center")) == 0


def test_holidays_of_the_center_and_of_a_campaign(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db)
    other = resolved(db.dialer.create_campaign("other", _queue(db, "q2"), now=T0)).id
    new_year = dt.date(2027, 1, 1)
    assert resolved(store.add_holiday(new_year)) is True
    assert resolved(store.add_holiday(new_year)) is False
    assert resolved(store.add_holiday(dt.date(2027, 2, 6), cid)) is True
    assert [h.day for h in resolved(store.holidays(cid))] == [new_year, dt.date(2027, 2, 6)]
    assert [h.day for h in resolved(store.holidays(other))] == [new_year]
    assert resolved(store.remove_holiday(new_year)) is True
    assert [h.day for h in resolved(store.holidays(cid))] == [dt.date(2027, 2, 6)]
    with pytest.raises(ValueError, match="a holiday is a date"):
        store.add_holiday(T0)


def test_deleting_a_campaign_keeps_no_orphans(db: DBConnector) -> None:
    store = db.dialer
    cid = _campaign(db)
    resolved(store.add_leads(cid, [NewLead("1")], now=T0))
    resolved(store.add_dnc("1", "campaign", "admin", cid, now=T0))
    resolved(store.start_attempt(cid, None, "x", started_at=T0))
    assert resolved(store.delete_campaign(cid)) is True
    with db.engine.connect() as conn:
        for table in (model.leads, model.dnc_numbers, model.dial_attempts):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_a_lead_outside_its_window_is_postponed_without_losing_its_place(
    db: DBConnector,
) -> None:
    store = db.dialer
    cid = _campaign(db)
    resolved(store.add_leads(cid, [NewLead("1001"), NewLead("1002"), NewLead("1003")], now=T0))
    first, _, third = resolved(store.due_leads(cid, T0))
    resolved(store.claim(third.id, now=T0))
    opens = T0 + dt.timedelta(hours=7)
    # the dialing one is not touched
    assert resolved(store.postpone([first.id, third.id], opens, now=T0)) == 1
    assert [lead.number for lead in resolved(store.due_leads(cid, T0))] == ["1002"]
    later = resolved(store.due_leads(cid, opens))
    assert [lead.number for lead in later] == ["1001", "1002"]
    assert (later[0].status, later[0].attempts, later[0].next_at) == ("new", 0, opens)


def test_the_national_list_goes_in_by_batches_and_a_failure_keeps_the_old(
    db: DBConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.db import dialer_store

    store = db.dialer
    old_day, new_day = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    resolved(store.replace_national(["111", "222"], old_day, now=T0))
    monkeypatch.setattr(dialer_store, "NATIONAL_BATCH", 2)
    real_run = db.run
    seen: list[list[str]] = []

    def failing_run(thd):  # type: ignore[no-untyped-def]
        # between two batches: what a dialer starting now would load
        seen.append(sorted(n for n, _s, _c in resolved(real_run(_national_rows))))
        if len(seen) == 3:  # the second batch of the new list
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk full"))
        return real_run(thd)

    monkeypatch.setattr(db, "run", failing_run)
    with pytest.raises(sa.exc.OperationalError):
        resolved(store.replace_national(["333", "444", "555"], new_day))
    monkeypatch.setattr(db, "run", real_run)
    # while the new list went in, the old one still counted (and the new batch too)
    assert seen[2] == ["111", "222", "333", "444"]
    assert sorted(n for n, _s, _c in resolved(store.dnc_entries())) == ["111", "222"]
    assert resolved(store.national_list_date()) == old_day
    assert resolved(store.replace_national(["333", "444", "555"], new_day)) == 3
    assert sorted(n for n, _s, _c in resolved(store.dnc_entries())) == ["333", "444", "555"]
    assert resolved(store.national_list_date()) == new_day


def _national_rows(conn: sa.Connection) -> list[tuple[str, str, None]]:
    d = model.dnc_numbers
    rows = conn.execute(sa.select(d.c.number).where(d.c.scope == "national"))
    return [(n, "national", None) for (n,) in rows]
