"""Admin pages for queues: every setting the ACD and the recorder read."""

from __future__ import annotations

from webui.context import WebContext


class QueuesAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
