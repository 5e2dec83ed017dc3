"""The supervisor console: every agent and queue live, with the supervisor's actions."""

from __future__ import annotations

from webui.context import WebContext


class SupervisorPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
