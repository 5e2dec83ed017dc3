"""Which scheduled period is due at a local time: the one rule the scheduled reports
(appliance/reports/schedule.py) and the scheduled backups (appliance/backup/service.py) share,
each claiming the period's key once in the database."""

from __future__ import annotations

import datetime as dt

__all__ = ["period_due"]


def period_due(every: str, local_now: dt.datetime, hour: int) -> tuple[str, dt.date] | None:
    """The period of ``every`` whose mail is due at ``local_now`` (the center's local time),
    as (key, first day), or None before its first day's ``hour``. Keys sort in time order:
    "2026-12-07", "2026-W50", "2026-12"."""
    day = local_now.date()
    if every == "daily":
        start, key = day, day.isoformat()
    elif every == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        year, week, _ = start.isocalendar()
        key = f"{year}-W{week:02d}"
    elif every == "monthly":
        start, key = day.replace(day=1), f"{day.year}-{day.month:02d}"
    else:
        raise ValueError(f"unknown repetition {every!r}")
    if day == start and local_now.hour < hour:
        return None
    return key, start
