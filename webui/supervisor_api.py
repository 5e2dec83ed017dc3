"""The supervisor's actions over JSON: listen, whisper, barge, force pause or log out, move or
hang up a call; every one audited."""

from __future__ import annotations

from webui.context import WebContext


class SupervisorApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
