"""The system status page: AMI link, FastAGI sessions, trunks, disk, database."""

from __future__ import annotations

from webui.context import WebContext


class SystemAdmin:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
