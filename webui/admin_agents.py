"""Admin pages for agents: add, edit, skills with levels, departments, status."""

from __future__ import annotations

from webui.context import WebContext


class AgentsAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
