"""Notices from supervisors to agents: post, list the current ones, withdraw."""

from __future__ import annotations

from webui.context import WebContext


class NoticeApi:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
