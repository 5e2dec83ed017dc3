"""QA over JSON: scoring forms, evaluations of recordings, averages per agent and queue."""

from __future__ import annotations

from webui.context import WebContext


class QaApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
