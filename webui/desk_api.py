"""The agent desktop's JSON: the screen pop of the agent's own call, and the disposition and
notes after it."""

from __future__ import annotations

from webui.context import WebContext


class DeskApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
