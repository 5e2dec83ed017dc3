"""Recording control during a call: pause and resume (PCI), start on demand."""

from __future__ import annotations

from webui.context import WebContext


class RecordingControlApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
