"""A small HTTP stand-in for the box on a loopback port, for the browser tests that run one
of the box's page scripts against answers they choose (tests/browser/test_cobrowse_*)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandHandler(BaseHTTPRequestHandler):
    """``send(status, body, kind)`` answers with a length; nothing is logged."""

    def send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` on a free loopback port, a thread per request: the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def rrweb_recorder() -> bytes:
    """rrweb's recorder as the box serves it (installed by ``make deps``)."""
    from webui import vendor

    recorder = vendor.FILES[vendor.RRWEB_RECORD]
    if not recorder.is_file():
        raise AssertionError("rrweb's recorder is not installed: run make deps")
    return recorder.read_bytes()
