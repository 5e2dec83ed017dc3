"""The wallboard: a full-screen page for the big screen, and its thresholds and colors."""

from __future__ import annotations

from webui.context import WebContext


class WallboardPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
