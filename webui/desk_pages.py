"""The agent desktop: state buttons, the screen pop, transfer and recording buttons, the
disposition and notes, notices."""

from __future__ import annotations

from webui.context import WebContext


class DeskPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
