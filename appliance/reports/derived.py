"""Figures derived from summed rollup measures: rates, averages, occupancy.

Each takes the sums of one range and scope (``query.traffic_totals`` or
``query.sum_rows``) and returns a float, or None where there is nothing to divide by (a
dash on the page, never a 0 that reads like a bad result).

Service level, in the two definitions centers use:

- ``sl_of_answered``: answered within the queue's threshold / answered (abandons ignored);
- ``sl_of_offered``: answered within the threshold / offered (abandons count against it).
"""

from __future__ import annotations

from collections.abc import Mapping

Sums = Mapping[str, float]

# report_traffic's abandon-time bins, in order: (measure, label of its seconds)
ABANDON_BINS = (
    ("ab_lt10", "0-10"),
    ("ab_lt20", "10-20"),
    ("ab_lt30", "20-30"),
    ("ab_lt60", "30-60"),
    ("ab_lt120", "60-120"),
    ("ab_lt300", "120-300"),
    ("ab_ge300", "300+"),
)


def rounded(value: float | None, digits: int = 1) -> float | None:
    """A figure rounded for showing; None (no value) stays None."""
    return None if value is None else round(value, digits)


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole > 0 else None


def sl_of_answered(t: Sums) -> float | None:
    """Answered within the threshold, as a percentage of the calls answered."""
    return pct(t.get("answered_in_sl", 0), t.get("answered", 0))


def sl_of_offered(t: Sums) -> float | None:
    """Answered within the threshold, as a percentage of the calls offered (abandons in)."""
    return pct(t.get("answered_in_sl", 0), t.get("offered", 0))


def abandon_rate(t: Sums) -> float | None:
    return pct(t.get("abandoned", 0), t.get("offered", 0))


def asa(t: Sums) -> float | None:
    """Average speed of answer: the wait of the calls answered, on average."""
    return ratio(t.get("wait_answered_s", 0), t.get("answered", 0))


def avg_wait(t: Sums) -> float | None:
    """The wait of every caller who waited to the end (answered or abandoned), on average."""
    return ratio(
        t.get("wait_answered_s", 0) + t.get("wait_abandoned_s", 0),
        t.get("answered", 0) + t.get("abandoned", 0),
    )


def avg_abandon_wait(t: Sums) -> float | None:
    return ratio(t.get("wait_abandoned_s", 0), t.get("abandoned", 0))


def per_handled(t: Sums, measure: str) -> float | None:
    return ratio(t.get(measure, 0), t.get("handled", 0))


def aht(t: Sums) -> float | None:
    """Average handle time: talk + hold + wrap-up per call handled."""
    return ratio(
        t.get("talk_s", 0) + t.get("hold_s", 0) + t.get("wrapup_s", 0), t.get("handled", 0)
    )


def occupancy(a: Sums) -> float | None:
    """(talk + wrap-up) / (logged in - paused), as a percentage: how busy the time an agent
    was available for calls kept them."""
    busy = a.get("on_call_s", 0) + a.get("wrap_up_s", 0)
    return pct(busy, a.get("logged_in_s", 0) - a.get("paused_s", 0))


def abandon_bins(t: Sums) -> tuple[tuple[str, float], ...]:
    """The abandons by how long the caller waited: (label in seconds, count) per bin."""
    return tuple((label, t.get(name, 0)) for name, label in ABANDON_BINS)
