"""The dialing engine over the simulated switch, in virtual time (tests/support/dialer_rig.py):
real ACD, store, pacers, call model, AMISwitch, simulator manager and dialplan, FastAGI
factory and the ``dialer`` script; only the sockets are in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from acd import agent_state as st
from acd.dialer.events import CampaignFigures, LeadConnected, LeadOffered, LeadPreview
from acd.dialer.outbound_call import since_greeting
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.dialer_store import NewLead
from drivers.asterisk.simulator import amd
from drivers.asterisk.simulator.called_parties import CalledParty, Population
from tests.support.dialer_rig import DialerRig
from tests.support.dialer_seed import seed_store_campaign
from tests.support.inline_db import inline_db

PERSON = CalledParty(kind="person", ring_s=3.0, patience_s=6.0, bridged_talk_s=30.0)
MACHINE = CalledParty(kind="machine", ring_s=2.0, speech=amd.MACHINE, patience_s=None, talk_s=20.0)
BUSY = CalledParty(kind="busy", busy=True, ring_s=0.5)
CONGESTED = CalledParty(kind="congestion", congested=True, ring_s=0.2)
NO_ANSWER = CalledParty(kind="no_answer", answers=False)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "dialer.sqlite") as connector:
        yield connector


def seed(db: DBConnector, agents: int, numbers: list[str], **campaign: Any) -> dict[str, int]:
    """Agents 2001.. (skill sales 5), queue outbound (sales >= 1), a running campaign on it
    open all week all day, and its leads."""
    leads = [NewLead(number=n, name=f"Lead {n}") for n in numbers]
    values = {"script": "Hello, this is Acme.", **campaign}
    return seed_store_campaign(db, "spring", agents, leads, wrapup_s=2, **values)


def leads(db: DBConnector) -> dict[str, tuple[str, str]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(model.leads.c.number, model.leads.c.status, model.leads.c.last_outcome)
        )
        return {r.number: (r.status, r.last_outcome) for r in rows}


def attempts(db: DBConnector) -> list[tuple[int, str | None]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(model.dial_attempts.c.lead_id, model.dial_attempts.c.outcome).order_by(
                model.dial_attempts.c.id
            )
        )
        return [(r.lead_id, r.outcome) for r in rows]


def rig_for(db: DBConnector, parties: dict[str, CalledParty], **kwargs: Any) -> DialerRig:
    rig = DialerRig(
        db, Population(person=0, machine=0, busy=0, congestion=0, numbers=parties), **kwargs
    )
    rig.start()
    return rig


def login_all(rig: DialerRig, ids: dict[str, int]) -> None:
    for number, agent_id in ids.items():
        if number.isdigit() and len(number) == 4:
            rig.acd.login(agent_id)


def test_an_answered_person_reaches_an_agent_whose_desk_pops_the_lead(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001"])
    rig = rig_for(db, {"13800000001": PERSON})
    login_all(rig, ids)
    rig.step(1.1)
    originate = [m for m in rig.ami.actions if m.get("Action") == "Originate"]
    assert len(originate) == 1
    sent = originate[0]
    assert sent.get("Channel") == "Local/13800000001@ccbox-outbound/n"
    assert (sent.get("Context"), sent.get("Async")) == ("ccbox-dialer", "true")
    attempt_id = resolved(db.dialer.attempts(ids["campaign"]))[0].id
    assert sent.get("Exten") == str(attempt_id)
    assert sent.get("CallerID") == '"Acme" <4008001234>'
    assert "CCBOX_AMD=0" in sent.get_all("Variable")
    assert (sent.get("ChannelId") or "").startswith("ccbox-dl-")
    rig.step(5)  # rings 3 s, answers; the agent's phone rings 1 s and answers
    offered = rig.of(LeadOffered)
    assert [(o.agent_id, o.number, o.name, o.script) for o in offered] == [
        (ids["2001"], "13800000001", "Lead 13800000001", "Hello, this is Acme.")
    ]
    assert offered[0].call_id is not None  # the calls row the desk pops
    assert rig.acd.agents[ids["2001"]].state == st.ON_CALL
    assert [c.agent_id for c in rig.of(LeadConnected)] == [ids["2001"]]
    rig.step(32)  # 30 s of talk, then the customer hangs up
    assert leads(db) == {"13800000001": ("done", "answered")}
    assert attempts(db)[0][1] == "answered"
    assert rig.outcomes == ["answered"]
    assert rig.acd.agents[ids["2001"]].state in (st.WRAP_UP, st.AVAILABLE)


@pytest.mark.parametrize(
    ("step", "stored"),
    [
        ("due_leads", ("dnc", "")),  # listed after the fetch: the store's mark stops the claim
        ("start_attempt", ("dnc", "dnc")),  # after the claim: the check before the Originate
    ],
)
def test_a_number_put_on_do_not_call_before_its_dial_is_not_dialed(
    db: DBConnector, step: str, stored: tuple[str, str]
) -> None:
    ids = seed(db, 3, ["13800000001", "13800000002"])
    rig = rig_for(db, {"13800000001": NO_ANSWER, "13800000002": NO_ANSWER})
    login_all(rig, ids)
    store = db.dialer
    original = getattr(store, step)
    second = resolved(store.lead_by_number(ids["campaign"], "13800000002"))
    assert second is not None

    def then_listed(*args: Any, **kwargs: Any) -> Any:
        d = original(*args, **kwargs)
        if step == "due_leads" or second.id in args:
            # meanwhile, the customer asked an agent not to be called again
            d.addCallback(lambda r: (rig.dnc.add("13800000002", "center", "agent"), r)[1])
        return d

    setattr(store, step, then_listed)
    rig.step(1.1)
    dialed = [m.get("Channel") for m in rig.ami.actions if m.get("Action") == "Originate"]
    assert dialed == ["Local/13800000001@ccbox-outbound/n"]
    assert leads(db)["13800000002"] == stored
    assert [o for _, o in attempts(db) if o] == (["dnc"] if stored[1] else [])


def test_never_more_channels_than_the_trunk_group_has(db: DBConnector) -> None:
    numbers = [f"1380000000{i}" for i in range(6)]
    ids = seed(db, 5, numbers, max_attempts=1)
    rig = rig_for(db, dict.fromkeys(numbers, NO_ANSWER), trunks={"default": 2}, ring_timeout_s=10)
    login_all(rig, ids)
    most = 0
    for _ in range(40 * 20):
        rig.step(0.05)
        ones = [
            c
            for c in rig.switch.channels.values()
            if c.name.startswith("Local/") and c.name.endswith(";1")
        ]
        most = max(most, len(ones))
    assert most == 2  # five idle agents wanted five lines
    assert len([m for m in rig.ami.actions if m.get("Action") == "Originate"]) == 6
    assert {s for s, _ in leads(db).values()} == {"failed"}  # one attempt each, no answer
    assert {o for _, o in attempts(db)} == {"no_answer"}


def test_busy_and_congestion_are_read_from_the_second_half(db: DBConnector) -> None:
    """Over a Local channel Asterisk's OriginateResponse says Failure, Reason 0, for a busy or
    congested number (main/pbx.c: the Local ;1 carries no busy indication): the outcome comes
    from ;2's DialEnd."""
    ids = seed(db, 2, ["13800000001", "13800000002"])
    rig = rig_for(db, {"13800000001": BUSY, "13800000002": CONGESTED})
    login_all(rig, ids)
    rig.step(3)
    responses = [m for _, m in rig.ami.events("OriginateResponse")]
    assert [(m.get("Response"), m.get("Reason")) for m in responses] == [("Failure", "0")] * 2
    assert leads(db) == {
        "13800000001": ("scheduled", "busy"),
        "13800000002": ("scheduled", "congestion"),
    }
    with db.engine.connect() as conn:
        due = dict(conn.execute(sa.select(model.leads.c.number, model.leads.c.next_at)).all())
    start = rig.clock.seconds()
    assert 9 * 60 < due["13800000001"].timestamp() - start <= 10 * 60  # busy: 10 minutes
    assert 4 * 60 < due["13800000002"].timestamp() - start <= 5 * 60  # congestion: 5


def test_no_agent_within_two_seconds_hears_the_safe_harbor_message(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001", "13800000002"])
    rig = rig_for(db, {"13800000001": PERSON, "13800000002": PERSON})
    login_all(rig, ids)
    rig.step(1.1)  # one idle agent: progressive 1:1 dials one number
    rig.acd.pause(ids["2001"], "break")  # ... and the agent leaves before it answers
    rig.step(8)
    answered = [t for t, m in rig.ami.events("OriginateResponse") if m.get("Response") == "Success"]
    prompt = [
        t
        for t, m in rig.ami.events("AGIExecStart")
        if (m.get("Command") or "").startswith("STREAM FILE safe-harbor")
    ]
    assert len(answered) == 1 and len(prompt) == 1
    assert 1.5 < prompt[0] - answered[0] < 2.0  # the rule's 2 s (no AMD: from the answer)
    assert rig.outcomes == ["abandoned"]
    assert leads(db)["13800000001"] == ("scheduled", "abandoned")
    figures = rig.dialer.figures(ids["campaign"])
    assert figures is not None and (figures.answered, figures.abandoned) == (1, 1)
    assert figures.abandon_24h == pytest.approx(100.0)
    rig.step(5)
    assert any(isinstance(f, CampaignFigures) for f in rig.published)


def test_amd_hangs_up_on_a_machine_and_passes_a_person(db: DBConnector) -> None:
    ids = seed(db, 2, ["13800000001", "13800000002"], amd=True)
    rig = rig_for(db, {"13800000001": MACHINE, "13800000002": PERSON})
    login_all(rig, ids)
    rig.step(10)
    assert leads(db)["13800000001"] == ("scheduled", "machine")
    assert sorted(rig.outcomes) == ["machine"]
    assert [o.number for o in rig.of(LeadOffered)] == ["13800000002"]
    amd_runs = [m for _, m in rig.ami.events("Newexten") if m.get("Application") == "AMD"]
    assert len(amd_runs) == 2


def test_a_pause_and_resume_during_a_call_keep_the_call_and_its_figures(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001", "13800000002"])
    rig = rig_for(db, {"13800000001": PERSON, "13800000002": NO_ANSWER})
    login_all(rig, ids)
    rig.step(6)  # answered, with the agent
    assert rig.acd.agents[ids["2001"]].state == st.ON_CALL
    resolved(db.dialer.set_state(ids["campaign"], "paused"))
    resolved(defer.ensureDeferred(rig.dialer.reload()))
    paused = [f for f in rig.of(CampaignFigures) if f.state == "paused"]
    assert [(f.placed, f.answered) for f in paused] == [(1, 1)]
    resolved(db.dialer.set_state(ids["campaign"], "running"))
    resolved(defer.ensureDeferred(rig.dialer.reload()))
    assert leads(db)["13800000001"] == ("dialing", "")  # not released as a crash's would be
    rig.step(36)  # the talk ends, then wrap-up: the agent is free and the next lead dialed
    assert leads(db)["13800000001"] == ("done", "answered")
    figures = rig.dialer.figures(ids["campaign"])
    assert figures is not None and (figures.placed, figures.answered) == (2, 1)


def test_a_callback_set_for_one_agent_waits_for_that_agent_and_goes_to_them(
    db: DBConnector,
) -> None:
    ids = seed(db, 2, [])
    resolved(
        db.dialer.add_leads(
            ids["campaign"], [NewLead(number="13800000009", name="Mine", agent_id=ids["2002"])]
        )
    )
    rig = rig_for(db, {"13800000009": PERSON})
    rig.acd.login(ids["2001"])
    rig.step(3)
    assert [m for m in rig.ami.actions if m.get("Action") == "Originate"] == []  # 2002 is out
    rig.acd.login(ids["2002"])
    rig.step(6)
    assert [o.agent_id for o in rig.of(LeadOffered)] == [ids["2002"]]  # not the longest idle
    assert rig.acd.agents[ids["2002"]].state == st.ON_CALL


def test_a_line_the_switch_never_reports_on_gives_its_trunk_back(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001", "13800000002"])
    rig = rig_for(db, {"13800000001": NO_ANSWER, "13800000002": NO_ANSWER}, trunks={"default": 1})
    login_all(rig, ids)
    rig.step(1.1)
    heard, rig.ami.subscribers = rig.ami.subscribers, []  # the AMI events stop coming
    rig.step(25 + 60 + 1)
    assert leads(db)["13800000001"] == ("scheduled", "failed")
    rig.ami.subscribers = heard
    rig.step(2)
    dialed = [m.get("Channel") for m in rig.ami.actions if m.get("Action") == "Originate"]
    assert dialed[-1] == "Local/13800000002@ccbox-outbound/n"  # the trunk channel is free


def test_with_amd_the_two_seconds_run_from_the_end_of_the_greeting(db: DBConnector) -> None:
    """The person says hello 0.3-0.9 s after answering; AMD() says HUMAN 0.8 s of silence
    later (1.7 s): the safe-harbor prompt must start before 0.9 + 2 s, not 1.7 + 2 s."""
    ids = seed(db, 1, ["13800000001", "13800000002"], amd=True)
    rig = rig_for(db, {"13800000001": PERSON, "13800000002": PERSON})
    login_all(rig, ids)
    rig.step(1.1)
    rig.acd.pause(ids["2001"], "break")
    rig.step(8)
    answered = [t for t, m in rig.ami.events("OriginateResponse") if m.get("Response") == "Success"]
    prompt = [
        t
        for t, m in rig.ami.events("AGIExecStart")
        if (m.get("Command") or "").startswith("STREAM FILE safe-harbor")
    ]
    greeting_end = answered[0] + 0.9
    assert 1.5 < prompt[0] - greeting_end < 2.0
    assert since_greeting("HUMAN-800-800") == 0.8
    assert since_greeting("TOOLONG-5000") == 0.8  # NOTSURE: the default is assumed


def test_an_agent_free_again_gets_a_line_at_once_not_at_the_next_tick(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001"])
    rig = rig_for(db, {"13800000001": NO_ANSWER})
    rig.step(0.5)
    login_all(rig, ids)
    rig.step(0.1)  # the next tick is 0.4 s away
    assert len([m for m in rig.ami.actions if m.get("Action") == "Originate"]) == 1


def test_leads_that_cannot_be_dialed_now_do_not_hold_up_the_others(db: DBConnector) -> None:
    """Callbacks set for an agent who is out wait (due); a lead whose zone is unknown (a row
    written around the checks) fails; the lead behind them is dialed."""
    ids = seed(db, 2, [])
    waiting = [f"1380000010{i}" for i in range(6)]
    resolved(
        db.dialer.add_leads(
            ids["campaign"],
            [NewLead(number=n, agent_id=ids["2002"]) for n in waiting]
            + [NewLead(number="13800000200"), NewLead(number="13800000300")],
        )
    )
    with db.engine.begin() as conn:
        conn.execute(
            model.leads.update()
            .where(model.leads.c.number == "13800000200")
            .values(tz="Mars/Olympus_Mons")
        )
    rig = rig_for(db, dict.fromkeys([*waiting, "13800000200", "13800000300"], NO_ANSWER))
    rig.acd.login(ids["2001"])
    rig.step(2)
    dialed = [m.get("Channel") for m in rig.ami.actions if m.get("Action") == "Originate"]
    assert dialed == ["Local/13800000300@ccbox-outbound/n"]
    found = leads(db)
    assert found["13800000200"] == ("failed", "failed")
    assert {found[n] for n in waiting} == {("new", "")}


def test_preview_shows_each_free_agent_a_lead_then_dials_it_for_them(db: DBConnector) -> None:
    numbers = ["13800000001", "13800000002", "13800000003"]
    ids = seed(db, 2, numbers, mode="preview")
    rig = rig_for(db, dict.fromkeys(numbers, PERSON))
    login_all(rig, ids)
    rig.step(0.2)
    shown = {p.agent_id: p.number for p in rig.of(LeadPreview)}
    assert set(shown) == {ids["2001"], ids["2002"]} and len(set(shown.values())) == 2
    assert all(
        p.dial_in_s == 10.0 and p.script == "Hello, this is Acme." for p in rig.of(LeadPreview)
    )
    rig.step(9.5)
    assert [m for m in rig.ami.actions if m.get("Action") == "Originate"] == []  # in view
    rig.step(6)  # dialed at 10 s; answered 3 s later; each agent's phone rings and answers
    offered = {o.number: o.agent_id for o in rig.of(LeadOffered)}
    assert offered == {number: agent for agent, number in shown.items()}


def test_a_skipped_preview_goes_back_to_the_list(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001"], mode="preview")
    rig = rig_for(db, {"13800000001": PERSON})
    login_all(rig, ids)
    rig.step(0.2)
    assert leads(db)["13800000001"] == ("dialing", "")  # held for the agent who sees it
    assert rig.dialer.preview_skip(ids["2001"])
    assert [p.withdrawn for p in rig.of(LeadPreview)] == [False, True]
    assert leads(db)["13800000001"] == ("scheduled", "")
    assert not rig.dialer.preview_dial_now(ids["2001"])  # nothing in view any more
    rig.step(5)
    assert len(rig.of(LeadPreview)) == 2  # not shown again at once: it waits 10 minutes


def test_a_campaign_without_a_caller_id_number_places_no_call_and_says_why(
    db: DBConnector,
) -> None:
    ids = seed(db, 1, ["13800000001"], caller_id_number="")
    rig = rig_for(db, {"13800000001": NO_ANSWER})
    login_all(rig, ids)
    rig.step(6)
    assert [m for m in rig.ami.actions if m.get("Action") == "Originate"] == []
    assert leads(db)["13800000001"] == ("new", "")  # no attempt spent on it
    rig.step(70)  # still said a minute later: the campaign still cannot run
    ok, detail = rig.dialer.health()
    assert not ok and "no caller ID number" in detail


def test_a_lead_number_that_is_no_number_is_never_put_in_a_dial_string(db: DBConnector) -> None:
    ids = seed(db, 1, ["13800000001"])
    with db.engine.begin() as conn:  # written around the store's checks
        conn.execute(model.leads.update().values(number="138@evil/n"))
    rig = rig_for(db, {})
    login_all(rig, ids)
    rig.step(2)
    assert [m for m in rig.ami.actions if m.get("Action") == "Originate"] == []
    assert leads(db)["138@evil/n"] == ("failed", "failed")


def test_a_restart_reads_the_abandon_rates_the_running_dialer_measured(db: DBConnector) -> None:
    """One definition of answered (a person answered: taken by an agent or abandoned; a
    machine is not) for the live meter and the stored attempts a restart warms it from."""
    ids = seed(db, 1, ["13800000001", "13800000002", "13800000003"], amd=True)
    parties = {"13800000001": PERSON, "13800000002": PERSON, "13800000003": MACHINE}
    rig = rig_for(db, parties)
    login_all(rig, ids)
    rig.step(1.1)  # the first person is dialed ...
    rig.acd.pause(ids["2001"], "break")  # ... and nobody is free when they answer
    rig.step(12)
    rig.acd.unpause(ids["2001"])
    rig.step(60)  # the second person talks with the agent; the machine is hung up on
    assert sorted(outcome for _, outcome in attempts(db)) == ["abandoned", "answered", "machine"]
    cid, now = ids["campaign"], rig.clock.seconds()
    live = rig.dialer.meters[cid]
    assert live.counts_24h(now) == live.counts_30d(now) == (2, 1)
    since = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=1)
    assert resolved(db.dialer.attempt_counts(cid, since)) == (2, 1)
    resolved(rig.dialer.stopService())

    restarted = DialerRig(db, Population(person=0, machine=0, busy=0, congestion=0))
    restarted.clock.advance(now - restarted.clock.seconds())
    restarted.start()
    warm = restarted.dialer.meters[cid]
    assert warm.counts_24h(now) == warm.counts_30d(now) == (2, 1)
    assert (warm.rate_24h(now), warm.rate_30d(now)) == (live.rate_24h(now), live.rate_30d(now))
    assert warm.rate_24h(now) == pytest.approx(50.0)


def test_do_not_call_rows_written_beside_the_running_dialer_are_in_force_within_30_s(
    db: DBConnector,
) -> None:
    """``ccbox dnc add`` and ``ccbox dnc import --national`` write the database from another
    process: the running dialer's index reads what was added since it last looked."""
    ids = seed(db, 1, [])
    rig = rig_for(db, {})
    cid = ids["campaign"]
    assert rig.dnc.blocks("13800000001") is None
    # as the CLI writes: the store alone, not through the dialer's index
    assert resolved(db.dialer.add_dnc("13800000001", "center", "admin"))
    assert resolved(db.dialer.add_dnc("13800000002", "campaign", "admin", campaign_id=cid))
    resolved(db.dialer.replace_national(["13900000001", "13900000002"], dt.date(2026, 11, 1)))
    rig.step(29)
    assert rig.dnc.blocks("13800000001") is None  # not looked yet
    rig.step(2)
    assert rig.dnc.blocks("+8613800000001") == "center"
    assert rig.dnc.blocks("13800000002", cid) == "campaign"
    assert rig.dnc.blocks("13800000002", cid + 1) is None
    assert rig.dnc.blocks("13900000002") == "national"
    assert rig.dnc.national_date == dt.date(2026, 11, 1)
    # a newer national list replaces the old one at the next look, date and all
    resolved(db.dialer.replace_national(["13900000003"], dt.date(2026, 12, 1)))
    assert resolved(db.dialer.add_dnc("13800000003", "center", "ivr"))
    rig.step(30)
    assert rig.dnc.blocks("13900000003") == "national"
    assert rig.dnc.blocks("13900000002") is None
    assert rig.dnc.national_date == dt.date(2026, 12, 1)
    assert rig.dnc.blocks("13800000003") == "center"
    assert rig.dnc.counts() == {"center": 2, "campaign": 1, "national": 1}


def test_never_more_calls_than_the_spans_have_channels_free(
    db: DBConnector, tmp_path: Path
) -> None:
    """The group allows 5, its DAHDI channels 1-5 had 2 idle out of alarm when read (1-3 are
    held open in the healthy fixture): 2 lines at most, the lines placed since the read
    counted against them (the simulator's calls seize no DAHDI channel, so the spans are
    read once here); the span going RED stops new calls."""
    from appliance.config import DahdiConfig
    from appliance.hardware.spans import SpanMonitor

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "dahdi"
    root = tmp_path / "dahdi"
    root.mkdir()
    (root / "1").write_bytes((fixtures / "healthy" / "proc" / "dahdi" / "1").read_bytes())
    numbers = [f"1380000000{i}" for i in range(6)]
    ids = seed(db, 5, numbers, max_attempts=1)
    rig = DialerRig(
        db,
        Population(
            person=0, machine=0, busy=0, congestion=0, numbers=dict.fromkeys(numbers, NO_ANSWER)
        ),
        trunks={"default": 5},
        ring_timeout_s=10,
    )
    spans = SpanMonitor(
        rig.clock,
        DahdiConfig(
            enabled=True, proc_root=root, poll_s=300, groups=(("default", (1, 2, 3, 4, 5)),)
        ),
        rig.bus,
        in_thread=lambda fn, *args: defer.succeed(fn(*args)),
    )
    rig.dialer.span_free = spans.trunk_capacity
    spans.startService()
    rig.start()
    login_all(rig, ids)
    most = 0
    for _ in range(8 * 20):
        rig.step(0.05)
        most = max(most, len(rig.dialer.lines))
    assert most == 2  # five idle agents, a limit of 5: the spans' 2 free channels
    placed = len([m for m in rig.ami.actions if m.get("Action") == "Originate"])
    # span 1 goes RED: no channel of the group is usable, no call is placed
    text = (root / "1").read_text().replace("CCS/HDB3/CRC4 ", "CCS/HDB3/CRC4 RED ")
    (root / "1").write_text(text)
    spans.poll()  # as chan_dahdi's SpanAlarm event makes it
    assert spans.trunk_free("default") == 0
    for _ in range(30 * 20):
        rig.step(0.05)
    assert len([m for m in rig.ami.actions if m.get("Action") == "Originate"]) == placed
    spans.stopService()
