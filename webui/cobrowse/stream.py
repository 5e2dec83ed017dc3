"""One Server-Sent Events response of the co-browsing relay (a viewer's, or the control
stream of a recording page), written on the reactor thread.

It is a streaming producer: while the socket's buffer is full the transport pauses it and
frames wait here, up to ``PENDING_BYTES``; past that the stream drops what waits and says
so (``send`` answers False), and the relay asks the recording side for a fresh full
snapshot, which is all a replayer needs to catch up. DOM mirroring has no use for a backlog.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

from webui.sse_stream import no_nagle

log = Logger(namespace="ccbox.web.cobrowse")

PENDING_BYTES = 1024 * 1024
RETRY_MS = 2000


def frame(event: dict[str, Any]) -> bytes:
    """``event`` as one SSE ``data:`` frame (JSON has no raw newline). A lone surrogate a
    page sent (JSON allows ``"\\ud800"``, UTF-8 does not) becomes ``?``."""
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode("utf-8", "replace") + b"\n\n"


class EventStream:
    """A response kept open; ``on_gone`` runs once when it ends, whoever ends it."""

    def __init__(self, request: Any, clock: Any, on_gone: Callable[[EventStream], None]) -> None:
        self.request = request
        self.clock = clock
        self.on_gone = on_gone
        self.paused_at: float | None = None
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.stale = False  # dropped frames: waits for the next full snapshot
        self.closed = False

    def open(self) -> None:
        """Send the headers and the retry hint; from now on frames may be sent."""
        self.request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        self.request.setHeader(b"Cache-Control", b"no-store")
        self.request.setHeader(b"X-Accel-Buffering", b"no")
        no_nagle(self.request)  # small frames the moment they come
        self.request.registerProducer(self, True)
        self.request.notifyFinish().addBoth(self._finished)
        self.request.write(f"retry: {RETRY_MS}\n\n".encode())

    # IPushProducer
    def pauseProducing(self) -> None:
        if self.paused_at is None:
            self.paused_at = self.clock.seconds()

    def resumeProducing(self) -> None:
        self.paused_at = None
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        if pending and not self.closed:
            self.request.write(b"".join(pending))

    def stopProducing(self) -> None:
        self.close()

    def send(self, data: bytes) -> bool:
        """Write ``data`` (one or more frames); False when the stream is over its backlog
        and dropped everything waiting (or is closed)."""
        if self.closed:
            return False
        if self.paused_at is None:
            self.request.write(data)
            return True
        if self.pending_bytes + len(data) > PENDING_BYTES:
            self.pending, self.pending_bytes = [], 0
            return False
        self.pending.append(data)
        self.pending_bytes += len(data)
        return True

    def send_event(self, event: dict[str, Any]) -> bool:
        return self.send(frame(event))

    def heartbeat(self) -> None:
        if self.paused_at is None:
            self.send(b": hb\n\n")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pending, self.pending_bytes = [], 0
        try:
            self.request.unregisterProducer()
            self.request.finish()
        except Exception as exc:  # the connection went first
            log.debug("co-browsing stream already gone: {exc}", exc=exc)
        self.on_gone(self)

    def _finished(self, _result: object) -> None:
        was_closed = self.closed
        self.closed = True
        self.pending, self.pending_bytes = [], 0
        if not was_closed:
            self.on_gone(self)
