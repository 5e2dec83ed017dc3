"""Admin pages for dialed numbers (DIDs): the flow each one runs, whether its calls are recorded."""

from __future__ import annotations

from webui.context import WebContext


class DidsAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
