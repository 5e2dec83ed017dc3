"""The recordings pages: search and the player with its waveform."""

from __future__ import annotations

from webui.context import WebContext


class RecordingPages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
