"""The recordings pages: search and the player with its waveform. The same checks and the
same strict query parsing as the JSON API (webui/recording_api.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import cherrypy

from appliance.db.recording_search import SORTS, RecordingPage, RecordingQuery
from appliance.hardware.trunks import trunk_label
from webui import i18n, labels
from webui.access import page
from webui.context import WebContext
from webui.recording_api import (
    DATE_RE,
    EMPTY_PAGE,
    FIELDS,
    BadField,
    RecordingAccess,
    parse_query,
)
from webui.render import render

PAGE_SIZE = 50


def duration(ms: int) -> str:
    """1:05, 1:02:03."""
    s = max(0, ms) // 1000
    h, m, sec = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def is_day(text: str) -> bool:
    """Whether a search field holds a plain day, which a date picker can show."""
    return DATE_RE.fullmatch(text) is not None


def directions() -> dict[str, str]:
    """The calls' directions (appliance/db/model.py CALL_DIRECTIONS), translated."""
    return dict(labels.options("direction"))


class RecordingPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.access = RecordingAccess(ctx)

    def _names(self) -> tuple[dict[int, str], dict[int, str]]:
        db = self.ctx.db
        agents = {a.id: f"{a.number} {a.name}".strip() for a in self.ctx.call(db.agents.list_all)}
        queues = {q.id: q.display_name or q.name for q in self.ctx.call(db.queues.list_all)}
        return agents, queues

    @page()
    def index(self, **params: Any) -> str:
        form = {k: v for k, v in params.items() if k in FIELDS and isinstance(v, str)}
        form.setdefault("limit", str(PAGE_SIZE))
        error = None
        result: RecordingPage = EMPTY_PAGE
        query = RecordingQuery(limit=PAGE_SIZE)
        try:
            query = parse_query({**params, "limit": form["limit"]})
            result = self.access.search(query)
        except (BadField, ValueError) as exc:
            error = i18n.error(exc)
            cherrypy.serving.response.status = 400
        agents, queues = self._names()
        viewer = self.access.viewer()
        kept = {k: v for k, v in form.items() if v.strip() and k not in ("offset",)}

        def link(**changes: Any) -> str:
            values = {**kept, **{k: str(v) for k, v in changes.items()}}
            return "/recordings?" + urlencode(sorted(values.items()))

        def sort_link(column: str) -> str:
            descending = not (query.sort == column and query.descending)
            return link(sort=column, desc="1" if descending else "0", offset=0)

        pages = {
            "prev": link(offset=max(0, query.offset - query.limit)) if query.offset else None,
            "next": (
                link(offset=query.offset + query.limit)
                if query.offset + query.limit < result.total
                else None
            ),
        }
        return render(
            self.ctx,
            "recordings.html",
            form=form,
            error=error,
            page=result,
            query=query,
            agents=agents,
            queues=queues,
            pick_agent=viewer.everything,
            sorts=SORTS,
            sort_link=sort_link,
            pages=pages,
            duration=duration,
            percent=percent,
            is_day=is_day,
            directions=directions(),
            trunk_label=trunk_label,
        )

    @page()
    def view(self, id: Any = "") -> str:
        row = self.access.recording(id)
        agents, queues = self._names()
        return render(
            self.ctx,
            "recording.html",
            r=row,
            agent=agents.get(row.agent_id) if row.agent_id is not None else None,
            queue=queues.get(row.queue_id) if row.queue_id is not None else None,
            peaks=",".join(str(int(p)) for p in row.peaks[:2000]),
            directions=directions(),
            duration=duration,
            percent=percent,
            trunk_label=trunk_label,
        )
