"""A month of traffic rollups written straight into ``report_traffic`` (hour, day and month
rows that add up, per queue and for the center), and a few raw calls behind one bad hour:
what the report pages' browser test and screenshots show, in well under a second. Rollups
from raw rows are helper code of their own (appliance/reports/maintainer.py); the pages
only read them.

Deterministic: a day's shape (morning and afternoon peaks), quieter weekends, and one bad
hour (the Monday 10:00 of ``BAD_DAY``) when half the callers hung up waiting.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from appliance.db import model as m

ZONE = "Asia/Shanghai"
YEAR, MONTH = 2026, 11
BAD_DAY = dt.date(2026, 11, 16)  # a Monday
BAD_HOUR = 10
# each local hour's share of a weekday's callers, 00:00 to 23:00
SHAPE = (1, 1, 0, 0, 0, 0, 1, 3, 9, 16, 20, 17, 10, 13, 17, 15, 12, 8, 5, 4, 3, 2, 2, 1)
AB_BINS = ("ab_lt10", "ab_lt20", "ab_lt30", "ab_lt60", "ab_lt120", "ab_lt300", "ab_ge300")
BIN_SHARE = (0.2, 0.2, 0.15, 0.2, 0.15, 0.07, 0.03)
SL_S = 20


def _hour(rnd: random.Random, offered: int, bad: bool) -> dict[str, float]:
    """One queue's hour: counts that agree with each other (answered + abandoned = offered)."""
    abandon_rate = 0.5 if bad else rnd.uniform(0.02, 0.08)
    abandoned = round(offered * abandon_rate)
    answered = offered - abandoned
    in_sl = round(answered * (0.35 if bad else rnd.uniform(0.78, 0.93)))
    bins = [int(abandoned * share) for share in BIN_SHARE]
    bins[0] += abandoned - sum(bins)
    row: dict[str, float] = {
        "calls": offered,
        "offered": offered,
        "answered": answered,
        "answered_in_sl": in_sl,
        "abandoned": abandoned,
        "abandoned_in_sl": bins[0] + bins[1],
        "abandoned_short": bins[0] // 2,
        **dict(zip(AB_BINS, bins, strict=True)),
        "handled": answered,
        "recordings": answered,
        "wait_answered_s": answered * (95.0 if bad else rnd.uniform(8, 16)),
        "wait_abandoned_s": abandoned * (140.0 if bad else 45.0),
        "wait_max_s": 600.0 if bad else rnd.uniform(60, 140),
        "talk_s": answered * rnd.uniform(160, 210),
        "hold_s": answered * 12.0,
        "wrapup_s": answered * 25.0,
        "recording_s": answered * 185.0,
    }
    return row


def _add(into: dict[str, float], row: dict[str, float]) -> None:
    for name, value in row.items():
        if name == "wait_max_s":
            into[name] = max(into.get(name, 0.0), value)
        else:
            into[name] = into.get(name, 0.0) + value


def traffic_rows(queue_ids: list[int], seed: int = 7) -> list[dict[str, Any]]:
    """Every hour/day/month row of the month, per queue and for the center."""
    rnd = random.Random(seed)
    zone = ZoneInfo(ZONE)
    sums: dict[tuple[str, int, str, str], dict[str, float]] = {}
    day = dt.date(YEAR, MONTH, 1)
    while day.month == MONTH:
        weekend = day.weekday() >= 5
        for hour, share in enumerate(SHAPE):
            start = dt.datetime(day.year, day.month, day.day, hour, tzinfo=zone)
            bucket = int(start.timestamp())
            for i, qid in enumerate(queue_ids):
                base = share * (0.35 if weekend else 1.0) * (1.0 if i == 0 else 0.55)
                if day.weekday() == 0:
                    base *= 1.15  # Mondays
                offered = round(base * rnd.uniform(2.6, 3.4))
                bad = day == BAD_DAY and hour == BAD_HOUR
                row = _hour(rnd, offered, bad)
                for scope, key in (("queue", str(qid)), ("center", "")):
                    for grain, b in (
                        ("hour", bucket),
                        ("day", day.year * 10000 + day.month * 100 + day.day),
                        ("month", day.year * 100 + day.month),
                    ):
                        _add(sums.setdefault((grain, b, scope, key), {}), row)
        day += dt.timedelta(days=1)
    return [
        {"grain": g, "bucket": b, "scope": s, "key": k, **values}
        for (g, b, s, k), values in sums.items()
    ]


def bad_hour_calls(queue_id: int, agent_id: int) -> list[dict[str, Any]]:
    """Raw calls of the bad hour: callers who hung up waiting (one with a name that is an
    attack), and one who was answered and recorded (the last)."""
    t0 = dt.datetime(BAD_DAY.year, BAD_DAY.month, BAD_DAY.day, BAD_HOUR, 5, tzinfo=ZoneInfo(ZONE))
    names = ("<img src=x onerror=alert(1)>", "Wang Fang 王芳", "Li Lei")
    rows = []
    for i, name in enumerate((*names, "Han Meimei 韩梅梅")):
        at = (t0 + dt.timedelta(minutes=9 * i)).astimezone(dt.UTC)
        answered = at + dt.timedelta(seconds=75) if i == len(names) else None
        rows.append(
            {
                "uniqueid": f"1763258700.{i}",
                "linkedid": f"1763258700.{i}",
                "direction": "inbound",
                "caller_number": f"1380013800{i}",
                "caller_name": name,
                "called_number": "4008001234",
                "queue_id": queue_id,
                "entry_queue_id": queue_id,
                "agent_id": agent_id if answered else None,
                "started_at": at,
                "queued_at": at,
                "answered_at": answered,
                "agent_answered_at": answered,
                "ended_at": at + dt.timedelta(minutes=4),
                "queue_outcome": "answered" if answered else "abandoned",
                "wait_ms": 75_000 if answered else 130_000 + 10_000 * i,
                "talk_ms": 160_000 if answered else None,
            }
        )
    return rows


def seed_month(db: Any) -> int:
    """Queues, an agent, the month's rollups and the bad hour's calls, through an inline
    DBConnector (``resolved``); returns the answered call's id."""
    from appliance.cli import resolved

    support = resolved(db.queues.add("support", display_name="Customer support 客户服务"))
    billing = resolved(db.queues.add("billing", display_name="Billing 账务"))
    agent = resolved(db.agents.add("1001", "Zhang Min 张敏", "", "PJSIP/1001"))

    def thd(conn: Any) -> int:
        conn.execute(sa.insert(m.report_traffic), traffic_rows([support.id, billing.id]))
        ids = [
            int(conn.execute(m.calls.insert().values(**row)).inserted_primary_key[0])
            for row in bad_hour_calls(support.id, agent.id)
        ]
        return ids[-1]

    answered: int = resolved(db.run(thd))
    resolved(
        db.recordings.add(
            answered,
            "2026/11/16/answered.wav",
            bad_hour_calls(support.id, agent.id)[-1]["started_at"],
            160_000,
            1,
            "0" * 64,
            agent_id=agent.id,
            queue_id=support.id,
            caller_number="13800138003",
            caller_name="Han Meimei 韩梅梅",
        )
    )
    return answered
