"""Messages a person reads, written once in English and translated where they are shown.

Engines (ACD, IVR, recorder, validators) must not import the web UI, yet what they refuse
reaches a person in Chinese as often as in English. So they write the message with ``N_``:
the result is the English text itself (a ``str``: logs, ``str(exc)`` and English pages are
unchanged) that also remembers its msgid and parameters. ``make messages`` extracts the
msgid; the web edge (``webui.i18n.translate``) looks it up in the reader's catalog and
fills in the parameters there.
"""

from __future__ import annotations

from typing import Any


class Message(str):
    """English text that keeps its ``msgid`` and ``params`` for translation later."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any]) -> Message:
        self = super().__new__(cls, msgid.format(**params) if params else msgid)
        self.msgid = msgid
        self.params = params
        return self

    def __reduce__(self) -> Any:  # pickling/copying keeps the msgid
        return (Message, (self.msgid, self.params))


def N_(msgid: str, /, **params: Any) -> str:
    """Mark ``msgid`` (``str.format`` placeholders filled from ``params``) for translation.
    Typed ``str``, which it is (a ``Message``), so marking changes no one's types."""
    return Message(msgid, params)


def message_of(error: BaseException) -> str:
    """The message an exception carries: its first argument when that is a ``Message`` (which
    ``str(exc)`` would flatten), else ``str(exc)``."""
    first = error.args[0] if len(error.args) == 1 else None
    return first if isinstance(first, Message) else str(error)
