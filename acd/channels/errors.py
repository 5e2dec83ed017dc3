"""The one error the channels' engine raises at its callers (widget, desk, e-mail ingest)."""

from __future__ import annotations


class ChannelError(Exception):
    """A request the channels' engine refuses. The message is safe to show the person who
    asked (a visitor or an agent): it never holds internals, only what they can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
