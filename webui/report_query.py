"""What a report URL says: which report, which range, which scope. The report pages, the
drill-down pages and the exports (webui/report_export.py) read the same query string, so
a report's link, its calls and its files always show the same thing.

    /reports?report=traffic&kind=month&start=2026-11-01&scope=queue&key=3

``kind``/``start``/``end`` are ``ReportRange.as_params()`` (``end`` exclusive, custom only;
the form's ``to`` is the inclusive last day a person picks). Every field is
attacker-controlled: one string each, bounded, and read through ``ReportRange.parse``; a bad
one raises ``BadQuery`` (a ``ValueError`` whose message is an ``N_()`` text) for a 400.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from appliance.db.model import REPORT_SCOPES
from appliance.reports.ranges import RANGE_KINDS, ReportRange
from appliance.text import N_

FIELDS = ("report", "kind", "start", "end", "to", "scope", "key")
MAX_FIELD = 64
DEFAULT_RANGE = "month"


class BadQuery(ValueError):
    """A report query that cannot be read; ``args[0]`` is an ``N_()`` message."""


@dataclass(frozen=True)
class ReportQuery:
    """A report, its range and its scope ("center" with key "", or e.g. "queue" and "3")."""

    report: str
    range: ReportRange
    scope: str
    key: str

    def params(self) -> list[tuple[str, str]]:
        """The canonical query, in a stable order (links, exports, drill-downs)."""
        out = [("report", self.report), *self.range.as_params().items(), ("scope", self.scope)]
        if self.key:
            out.append(("key", self.key))
        return out

    def query_string(self, **changes: str) -> str:
        """The canonical query string, with ``changes`` (e.g. another range) applied."""
        values = dict(self.params())
        values.update(changes)
        return urlencode([(k, v) for k, v in values.items() if v != ""])

    def with_range(self, rng: ReportRange) -> ReportQuery:
        return ReportQuery(self.report, rng, self.scope, self.key)


def field(params: Mapping[str, Any], name: str) -> str:
    """One bounded string (a field sent twice, or too long, is refused), stripped."""
    value = params.get(name, "")
    if not isinstance(value, str):
        raise BadQuery(N_("{field}: send it once, as text.", field=name))
    if len(value) > MAX_FIELD or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise BadQuery(N_("{field}: at most {n} printable characters.", field=name, n=MAX_FIELD))
    return value.strip()


def parse_report_query(
    params: Mapping[str, Any], kinds: Sequence[str], zone: str, now: dt.datetime
) -> ReportQuery:
    """Read a report query; what is left out defaults to the first report of ``kinds``, the
    current month (in ``zone``, the center's) and the whole center."""
    report = field(params, "report") or kinds[0]
    if report not in kinds:
        raise BadQuery(N_("Unknown report: {report}", report=report))
    kind = field(params, "kind") or DEFAULT_RANGE
    if kind not in RANGE_KINDS:
        raise BadQuery(N_("Unknown report range: {kind}", kind=kind))
    start = field(params, "start")
    if not start:
        start = ReportRange.containing("day", now, zone).start.isoformat()  # local today
    end: str | dt.date | None = field(params, "end") or None
    last = field(params, "to")
    if kind == "custom" and end is None and last:
        # the form's inclusive last day; the URL's end is exclusive
        end = ReportRange.parse("day", last, zone=zone).end
    rng = ReportRange.parse(kind, start, end if kind == "custom" else None, zone)
    scope = field(params, "scope") or "center"
    if scope not in REPORT_SCOPES:
        raise BadQuery(N_("Unknown scope: {scope}", scope=scope))
    key = field(params, "key")
    if scope == "center":
        key = ""
    elif not key:
        raise BadQuery(N_("Pick which one the report covers."))
    return ReportQuery(report, rng, scope, key)
