"""The recordings JSON API: search, one recording, its audio (HTTP Range) and download."""

from __future__ import annotations

from webui.context import WebContext


class RecordingApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
