"""The desk's side of a supervisor's live view (webui/static/desk_record.js) with rrweb's real
recorder in headless Chromium, against a small stand-in for /chat-desk/api/cobrowse/*: the
watch notice comes on the desk's stream, and the stop can cross a batch the desk is
sending. The box answers that batch 200 ``ended`` (webui/cobrowse/resources.py); the desk
then stops recording and takes the banner down, with no error in its console."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.test_cobrowse_visitor_page import wait
from tests.support.chromium import console_errors, headless_chromium
from tests.support.http_stand import StandHandler, rrweb_recorder, serving

pytestmark = pytest.mark.integration
STATIC = Path(__file__).resolve().parents[2] / "webui" / "static"
STRINGS = {"watched": "{name} is watching your desk (live view).", "failed": "Failed: {reason}"}
# the ids of webui/templates/_desk_cobrowse.html the script reads
PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><title>Desk</title></head><body>
<section id="desk-cobrowse" data-csrf="token-1" data-recorder="/vendor/rrweb-record.min.js">
<button type="button" id="cobrowse-chat">Co-browse</button>
<button type="button" id="cobrowse-code">Code</button>
<p id="cobrowse-code-shown" hidden></p>
<p id="cobrowse-open" hidden><a id="cobrowse-open-link" href="#">Open</a></p>
<p id="cobrowse-desk-msg"></p>
</section>
<div id="desk-watched" hidden></div>
<p id="blurb">Desk 坐席</p>
<script type="application/json" id="cobrowse-desk-strings">{json.dumps(STRINGS)}</script>
<script src="/static/page.js"></script>
<script src="/static/desk_record.js"></script>
</body></html>"""


class Stand:
    def __init__(self) -> None:
        self.batches: list[bytes] = []
        self.lock = threading.Lock()
        self.ended = ""  # once set: the box's answer to a batch that crossed the end
        self.closing = threading.Event()

    def sent(self) -> int:
        with self.lock:
            return len(self.batches)


@pytest.fixture
def stand() -> Iterator[tuple[str, Stand]]:
    st = Stand()
    files = {
        "/desk": (PAGE.encode(), "text/html; charset=utf-8"),
        "/static/page.js": ((STATIC / "page.js").read_bytes(), "text/javascript"),
        "/static/desk_record.js": ((STATIC / "desk_record.js").read_bytes(), "text/javascript"),
        "/vendor/rrweb-record.min.js": (rrweb_recorder(), "text/javascript"),
    }
    watch = {"type": "cobrowse.watch", "session": "s1", "by": "Sue Pervisor"}

    class Handler(StandHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/chat-desk/api/cobrowse/desk":  # the desk's stream: one watch
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"retry: 60000\n\ndata: " + json.dumps(watch).encode() + b"\n\n")
                self.wfile.flush()
                st.closing.wait(30)  # open, as the box keeps it (a close ends the watch)
                self.close_connection = True
                return
            body, kind = files.get(self.path, (b"", "text/plain"))
            self.send(200 if body else 404, body, kind)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/chat-desk/api/cobrowse/desk_events?session=s1"):
                with st.lock:
                    st.batches.append(body)
                if st.ended:
                    ended = json.dumps({"ended": st.ended}).encode()
                    return self.send(200, ended, "application/json")
                return self.send(202, b"{}", "application/json")
            self.send(404, b"{}", "application/json")

    with serving(Handler) as base:
        try:
            yield base, st
        finally:
            st.closing.set()  # the stream's thread ends before the server does


def banner(driver: WebDriver) -> Any:
    return driver.find_element(By.ID, "desk-watched")


def test_a_batch_told_the_watch_ended_stops_the_desks_recording_without_an_error(
    stand: tuple[str, Stand],
) -> None:
    base, st = stand
    with headless_chromium(console_log=True) as driver:
        driver.get(base + "/desk")
        wait(driver, "the watched banner", lambda d: banner(d).is_displayed())
        assert "Sue Pervisor" in banner(driver).text
        wait(driver, "the desk's snapshot", lambda d: st.sent() >= 1)
        st.ended = "staff_stopped"
        before = st.sent()
        driver.execute_script("document.getElementById('blurb').textContent = 'one';")
        wait(driver, "the banner down", lambda d: not banner(d).is_displayed())
        told = st.sent()
        assert told == before + 1
        driver.execute_script("document.getElementById('blurb').textContent = 'two';")
        time.sleep(1.0)  # what would have gone out meanwhile (the recorder posts every 250 ms)
        assert st.sent() == told
        assert console_errors(driver) == []
