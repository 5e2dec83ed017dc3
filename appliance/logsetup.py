"""Logging to stdout in a form journald understands.

Under systemd (``JOURNAL_STREAM`` set) each line starts with the syslog priority as
``<N>`` and carries no timestamp (journald adds its own); elsewhere lines get an ISO time
and the level name. One line per event: newlines inside a message (a traceback, a hostile
caller ID) are indented continuation lines, so no text can forge a log line of its own.
Secrets are masked on the way out (``redact``): a header dump or a form echoed into a
message does not put a session cookie, a CSRF token or a password into the journal.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Mapping
from typing import IO, Any, cast

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    globalLogBeginner,
)
from twisted.python.failure import Failure

_PRIORITY = {
    LogLevel.debug: 7,
    LogLevel.info: 6,
    LogLevel.warn: 4,
    LogLevel.error: 3,
    LogLevel.critical: 2,
}
LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}

# "Cookie: x", "Authorization: Basic x", "X-CSRF-Token: x" (to the end of the line), and
# "password=x", "_csrf=x", "secret: x", "ccbox_session=x" (to the next separator).
_SECRET_HEADER = re.compile(
    r"(?im)^(\s*(?:set-)?cookie|\s*(?:proxy-)?authorization|\s*x-csrf-token)(\s*[:=]\s*).*$"
)
_SECRET_FIELD = re.compile(
    r"(?i)\b(password|passwd|secret|_csrf|csrf_token|ccbox_session|pin)(['\"]?\s*[:=]\s*['\"]?)"
    r"[^\s&;,'\"]+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with the values of secret headers and fields replaced by ``[redacted]``."""
    text = _SECRET_HEADER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _SECRET_FIELD.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def format_line(event: Mapping[str, Any], journald: bool) -> str:
    level = event.get("log_level", LogLevel.info)
    namespace = event.get("log_namespace", "-")
    text = formatEvent(dict(event))
    failure = event.get("log_failure")
    if isinstance(failure, Failure):
        text = f"{text}\n{failure.getTraceback()}"
    text = redact(text)
    text = "".join(c if c.isprintable() or c == "\n" else "\ufffd" for c in text.rstrip())
    text = text.replace("\n", "\n    ")
    if journald:
        return f"<{_PRIORITY.get(level, 6)}>{namespace}: {text}\n"
    when = dt.datetime.fromtimestamp(event.get("log_time", 0), dt.UTC).isoformat(
        timespec="milliseconds"
    )
    return f"{when} {level.name.upper():5} {namespace}: {text}\n"


class StdoutObserver:
    def __init__(self, stream: IO[str], journald: bool) -> None:
        self.stream = stream
        self.journald = journald

    def __call__(self, event: Mapping[str, Any]) -> None:
        self.stream.write(format_line(event, self.journald))
        self.stream.flush()


def start_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send Twisted's (and the stdlib's, via Twisted) log events to stdout."""
    out = stream or sys.stdout
    observer = FilteringLogObserver(
        cast(ILogObserver, StdoutObserver(out, journald="JOURNAL_STREAM" in os.environ)),
        [cast(ILogFilterPredicate, LogLevelFilterPredicate(defaultLogLevel=LEVELS[level]))],
    )
    globalLogBeginner.beginLoggingTo([cast(ILogObserver, observer)], redirectStandardIO=False)
