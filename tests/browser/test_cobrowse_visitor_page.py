"""The visitor's co-browsing script (webui/static/chat/cobrowse.js) with rrweb's real recorder
in headless Chromium, against a small stand-in for the box's /chat/api/cobrowse/* that
keeps every POST: a link carrying a recording token in its fragment (what a push to
another site uses, and what anyone can write into a mail) asks the visitor before a single
event goes out, with the box's masking, not the link's; and once allowed, no field's value
leaves the page: a hidden input's (a token), a prefilled or typed one, a password, a
textarea, a value attribute a script sets later."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.chromium import console_errors, headless_chromium
from tests.support.http_stand import StandHandler, rrweb_recorder, serving

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).resolve().parents[2] / "webui" / "static" / "chat" / "cobrowse.js"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body>
<p id="blurb">Checkout 结算</p>
<form>
<input type="hidden" id="tok" name="csrf" value="HIDDEN-SECRET-1">
<label>Name <input id="name" type="text" value="PREFILLED-NAME"></label>
<label>Password <input id="pw" type="password" value="PRESET-PASSWORD"></label>
<label>Note <textarea id="note">TEXTAREA-DEFAULT</textarea></label>
<input type="submit" value="Pay now">
</form>
<script src="/chat/static/cobrowse.js"></script>
</body></html>"""
SECRETS = (
    "HIDDEN-SECRET-1",
    "HIDDEN-SECRET-2",
    "ATTR-SECRET",
    "PREFILLED-NAME",
    "PRESET-PASSWORD",
    "TEXTAREA-DEFAULT",
    "typed-zhang",
)


class Stand:
    """The page's site and the box's visitor API on one origin (cobrowse.js talks to the
    origin it was loaded from); what was POSTed, by path."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.ended = ""  # the reason the box answers a batch with, once the session ended

    def bodies(self, action: str) -> list[bytes]:
        with self.lock:
            return [b for p, b in self.posts if p == "/chat/api/cobrowse/" + action]


@pytest.fixture
def stand() -> Iterator[tuple[str, Stand]]:
    st = Stand()
    config = b'{"mask_inputs": true, "mask_password": true}'
    files = {
        "/page.html": (PAGE.encode(), "text/html; charset=utf-8"),
        "/chat/static/cobrowse.js": (SCRIPT.read_bytes(), "text/javascript"),
        "/chat/static/rrweb-record.min.js": (rrweb_recorder(), "text/javascript"),
        "/chat/api/cobrowse/config": (config, "application/json"),
    }

    class Handler(StandHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/chat/api/cobrowse/stream":  # over at once: EventSource retries
                return self.send(200, b"retry: 60000\n\n", "text/event-stream")
            body, kind = files.get(path, (b"", "text/plain"))
            self.send(200 if body else 404, body, kind)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with st.lock:
                st.posts.append((self.path, body))
            if self.path.endswith("/consent"):
                return self.send(200, b'{"state": "active"}', "application/json")
            if self.path.endswith("/events") and st.ended:
                # as webui/cobrowse/resources.py answers a batch that crossed the end
                ended = json.dumps({"ended": st.ended}).encode()
                return self.send(200, ended, "application/json")
            self.send(202, b"{}", "application/json")

    with serving(Handler) as base:
        yield base, st


def wait(driver: WebDriver, what: str, predicate: Any, timeout: float = 15) -> Any:
    return WebDriverWait(
        driver,
        timeout,
        0.1,
        ignored_exceptions=(StaleElementReferenceException, WebDriverException),
    ).until(lambda d: predicate(d), what)


def shadow(driver: WebDriver, test: str) -> Any:
    return driver.execute_script(
        "var h = document.getElementById('ccbox-cobrowse');"
        "return h && h.shadowRoot ? "
        "h.shadowRoot.querySelector('[data-test=\"' + arguments[0] + '\"]') : null;",
        test,
    )


def linked(base: str, query: str = "", **more: Any) -> str:
    state = {"session": "s1", "token": "tok-1", "agent": "Agent 7", "active": True, **more}
    return base + "/page.html" + query + "#ccbox-cobrowse=" + quote(json.dumps(state))


def recording(driver: WebDriver, base: str, st: Stand) -> None:
    """The page of a link with a recording token, allowed (once asked), its snapshot sent."""
    driver.get(linked(base))
    shown = wait(
        driver,
        "the consent (or the banner)",
        lambda d: shadow(d, "cobrowse-allow") or shadow(d, "cobrowse-banner"),
    )
    if shown.get_attribute("data-test") == "cobrowse-allow":
        shown.click()
    wait(driver, "the snapshot", lambda d: b"Checkout" in b"".join(st.bodies("events")))


def test_a_link_with_a_recording_token_asks_the_visitor_before_recording(
    stand: tuple[str, Stand],
) -> None:
    base, st = stand
    with headless_chromium() as driver:
        # a link's own config (masking off) is not taken
        driver.get(linked(base, config={"mask_inputs": False}))
        allow = wait(driver, "the consent", lambda d: shadow(d, "cobrowse-allow"))
        consent = shadow(driver, "cobrowse-consent")
        assert "Form fields stay hidden" in consent.text  # the box's masking
        assert shadow(driver, "cobrowse-banner") is None
        assert "ccbox-cobrowse" not in driver.current_url  # the token left the address
        time.sleep(1.0)  # what would have gone out meanwhile (the recorder posts every 250 ms)
        assert st.bodies("events") == [] and st.bodies("consent") == []
        allow.click()
        wait(driver, "the banner", lambda d: shadow(d, "cobrowse-banner"))
        assert [json.loads(b) for b in st.bodies("consent")] == [{"allow": True}]
        wait(driver, "the first events", lambda d: st.bodies("events"))
        driver.get(linked(base, "?again"))  # denied: nothing recorded, the session ended
        deny = wait(driver, "the consent again", lambda d: shadow(d, "cobrowse-deny"))
        before = len(st.bodies("events"))
        deny.click()
        wait(driver, "the refusal sent", lambda d: len(st.bodies("consent")) == 2)
        assert json.loads(st.bodies("consent")[1]) == {"allow": False}
        time.sleep(1.0)
        assert len(st.bodies("events")) == before


def test_no_field_value_leaves_the_page(stand: tuple[str, Stand]) -> None:
    base, st = stand
    with headless_chromium() as driver:
        recording(driver, base, st)
        driver.find_element("id", "name").send_keys("typed-zhang")
        driver.execute_script(
            "var t = document.getElementById('tok'); t.value = 'HIDDEN-SECRET-2';"
            "t.setAttribute('value', 'ATTR-SECRET');"
            "document.getElementById('note').value = 'typed-zhang';"
            "document.getElementById('note').dispatchEvent(new Event('input', {bubbles: true}));"
            "document.getElementById('blurb').textContent = 'changed 已改';"
        )
        wait(driver, "the changes", lambda d: "已改" in b"".join(st.bodies("events")).decode())
        sent = b"".join(st.bodies("events")).decode()
        for secret in SECRETS:
            assert secret not in sent, secret
        assert "Pay now" in sent  # a button's label is no field value


def test_a_batch_told_the_session_ended_stops_the_recording_without_an_error(
    stand: tuple[str, Stand],
) -> None:
    """The end reaches the page on its stream, but a batch may cross it: the box answers that
    one 200 ``ended``; the page stops there, says so, and logs no error in the console of the
    shop's page."""
    base, st = stand
    with headless_chromium(console_log=True) as driver:
        recording(driver, base, st)
        st.ended = "staff_stopped"
        before = len(st.bodies("events"))
        driver.execute_script("document.getElementById('blurb').textContent = 'one';")
        wait(driver, "the page told the end", lambda d: shadow(d, "cobrowse-ended"))
        assert shadow(driver, "cobrowse-banner") is None
        told = len(st.bodies("events"))
        assert told == before + 1
        driver.execute_script("document.getElementById('blurb').textContent = 'two';")
        time.sleep(1.0)  # what would have gone out meanwhile (the recorder posts every 250 ms)
        assert len(st.bodies("events")) == told
        assert console_errors(driver) == []
