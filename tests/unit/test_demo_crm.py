"""The demo's customers, tickets and knowledge base (appliance/demo_crm.py, demo_kb.py):
seeded once; the live callers' numbers find customers in any format; one ticket falls due a
few minutes after the seeding and escalates then (not before); the articles are published,
found in Chinese and in English and suggested for the sample flow's queues and nodes; a quiz
on them is assigned to the support team."""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from appliance import demo, demo_crm, demo_kb
from appliance.cli import open_db, resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.tickets.escalation import escalate_due
from appliance.crm.tickets.store import TicketStore
from appliance.kb.store import KBStore, flow_node_key
from appliance.kb.training import TrainingStore
from ivr import sample_center


def test_the_demo_seeds_customers_tickets_and_articles_once(tmp_path: Path) -> None:
    config = demo.prepare(tmp_path / "data", port=1, ami_port=2, fastagi_port=3)
    before = dt.datetime.now(dt.UTC)
    demo.seed(config)
    demo.seed(config)  # a second demo on the same data adds nothing
    db = open_db(config)
    try:
        customers = CustomerStore(db)
        everyone = resolved(customers.search("", limit=500))
        assert len(everyone) == len(demo_crm.CUSTOMERS)
        assert {c.customer_class for c in everyone} == {"normal", "vip", "key_account"}
        # the callers' numbers, as a switch may give them, find their customers
        for number in demo_crm.CALLERS:
            assert resolved(customers.by_number("+86" + number)) is not None, number
        wang = resolved(customers.by_number("010 6552 8888"))
        assert wang is not None and wang.customer_class == "vip"
        assert wang.fields["plan"] == "家庭融合 Family bundle"
        assert [f.key for f in resolved(customers.field_defs())] == [k for k, *_ in demo_crm.FIELDS]
        tickets = resolved(TicketStore(db).open_for_customer(wang.id))
        assert {t.state for t in tickets} == {"dispatched", "accepted"}
        # exactly one ticket comes due minutes after the start, and escalates then
        board = resolved(TicketStore(db).board(limit=50))
        assert len(board) == len(demo_crm.TICKETS)
        soon = [t for t in board if t.due_at and t.due_at < before + dt.timedelta(hours=1)]
        assert [t.subject for t in soon] == [demo_crm.TICKETS[0].subject]
        [late] = soon
        assert dt.timedelta(minutes=2) < late.due_at - before < dt.timedelta(minutes=4)  # type: ignore[operator]
        not_yet = late.due_at - dt.timedelta(seconds=1)  # type: ignore[operator]
        assert resolved(db.run(lambda conn: escalate_due(conn, not_yet, str))) == []
        at_due = late.due_at + dt.timedelta(seconds=1)  # type: ignore[operator]
        fired = resolved(db.run(lambda conn: escalate_due(conn, at_due, str)))
        assert [(f.ticket_id, f.action) for f in fired] == [(late.id, "notify")]

        kb = KBStore(db)
        assert len(resolved(kb.articles(live_only=True, limit=100))) == len(demo_kb.ARTICLES)
        assert resolved(kb.search("光猫指示灯", 1))[0].title == "宽带无法上网：先检查光猫指示灯"
        assert resolved(kb.search("refund", 1))[0].title == "Refunds"
        support = next(q.id for q in resolved(db.queues.list_all()) if q.name == "support")
        tech = flow_node_key(sample_center.NAME, "tech")
        suggested = {a.title for a in resolved(kb.suggest(support, [tech], "fault", 10))}
        assert "No internet: check the modem lights first" in suggested
        assert "宽带无法上网：先检查光猫指示灯" in suggested
        # the quiz on them, to do for the support team (agent1001 among them)
        training = TrainingStore(db)
        [quiz] = resolved(training.quizzes())
        assert quiz.title == demo_kb.QUIZ_TITLE
        li_wei = next(a.id for a in resolved(db.agents.list_all()) if a.number == "1001")
        [todo] = resolved(training.assignments(li_wei))
        assert todo.quiz_id == quiz.id and todo.can_take
    finally:
        resolved(db.stopService())


def test_about_a_third_of_the_demo_callers_are_customers() -> None:
    rng = random.Random(18)
    numbers = [demo._sample_center_caller(rng, n).caller_number for n in range(1, 601)]
    known = [n for n in numbers if n in demo_crm.CALLERS]
    assert abs(len(known) / len(numbers) - demo_crm.CALLER_SHARE) < 0.06
    assert len(set(known)) > len(demo_crm.CALLERS) // 2
