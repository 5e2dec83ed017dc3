"""The QA pages: forms, scoring a recording, an agent's own evaluations, averages."""

from __future__ import annotations

from webui.context import WebContext


class QaPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
