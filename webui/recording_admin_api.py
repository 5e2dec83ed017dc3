"""Recording administration: delete every recording of one number (privacy requests)."""

from __future__ import annotations

from webui.context import WebContext


class RecordingAdminApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
