"""Escorted browsing during a call, in real headless Chromium against ccboxd (the live box):
agent 1001 makes a code on the desk, the caller opens the widget on the center's site,
chooses "I have a code", types it and allows; the agent's viewer window replays the page
with the password and the marked field blank and the name masked, and typing and new text
within a second or two; a click in the replay outlines the element on the caller's page;
a page off the center's sites is refused; the caller's Stop ends the viewer. Then a
supervisor opens agent 1001's live view: the desk shows the banner, the supervisor's
replay shows the desk, and Stop takes the banner away. No console errors anywhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from appliance.cli import resolved
from appliance.db.channel_admin_store import ChannelAdminStore
from tests.conftest import free_port
from tests.support.chromium import headless_chromium, login
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration
SITE_PORT = free_port()
SITE = f"http://127.0.0.1:{SITE_PORT}"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head><body>
<h1 id="title">{title}</h1>
<form><label>Name <input id="name" type="text"></label>
<label>Password <input id="pw" type="password"></label>
<label>Card <input id="card" class="ccbox-mask" type="text"></label></form>
<p id="target">Returns and refunds 退货</p>
<script src="{chat}/chat/widget.js" data-ccbox-chat data-lang="en" async></script>
</body></html>"""


def seed(db: Any, ids: dict[str, int]) -> None:
    resolved(ChannelAdminStore(db).add_origin(SITE))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("cobrowse"), seed) as b:
        yield b


@pytest.fixture(scope="module")
def shop(box: LiveBox) -> Iterator[str]:
    chat = f"http://127.0.0.1:{box.config.chat.port}"
    pages = {"/shop.html": PAGE.format(title="Welcome to the shop 欢迎", chat=chat)}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            data = (body or "").encode()
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", SITE_PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield SITE
    finally:
        server.shutdown()
        server.server_close()


def wait(driver: WebDriver, what: str, predicate: Any, timeout: float = 15) -> Any:
    return WebDriverWait(
        driver,
        timeout,
        0.1,
        ignored_exceptions=(StaleElementReferenceException, WebDriverException),
    ).until(lambda d: predicate(d), what)


def shadow(driver: WebDriver, host: str, test: str) -> Any:
    """The element ``[data-test=test]`` in the shadow root of ``#host`` (None: not there)."""
    found: WebElement | None = driver.execute_script(
        "var h = document.getElementById(arguments[0]);"
        "return h && h.shadowRoot ? "
        "h.shadowRoot.querySelector('[data-test=\"' + arguments[1] + '\"]') : null;",
        host,
        test,
    )
    return found


def replayed(driver: WebDriver, script: str) -> Any:
    return driver.execute_script(
        "var f = document.querySelector('#cobrowse-stage iframe');"
        "var doc = f && f.contentDocument;"
        "if (!doc || !doc.body) return null;" + script
    )


def text_of(driver: WebDriver) -> str:
    return str(replayed(driver, "return doc.body.innerText;") or "")


def value_of(driver: WebDriver, css: str) -> Any:
    return replayed(driver, f"var e = doc.querySelector('{css}'); return e ? e.value : null;")


def console_errors(driver: WebDriver) -> list[Any]:
    log: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [
        e
        for e in log
        if e.get("level") == "SEVERE"
        and "favicon.ico" not in e.get("message", "")
        # the refused push's and the wrong code's 400, on purpose
        and "cobrowse/push" not in e.get("message", "")
        and "cobrowse/code" not in e.get("message", "")
    ]


def test_a_caller_shares_a_page_with_a_code_and_a_supervisor_watches_the_desk(
    box: LiveBox, shop: str
) -> None:
    with (
        headless_chromium(console_log=True) as agent,
        headless_chromium(console_log=True) as caller,
        headless_chromium(console_log=True) as sup,
    ):
        login(agent, box.url, "agent")
        agent.get(box.url + "/desk")
        agent.find_element(By.ID, "cobrowse-code").click()
        shown = wait(agent, "the code", lambda d: d.find_element(By.ID, "cobrowse-code-shown").text)
        code = shown.split(":", 1)[1].strip()[:6]
        assert code.isdigit(), shown

        caller.get(shop + "/shop.html")
        caller.find_element(By.ID, "name").send_keys("Li Lei")
        caller.find_element(By.ID, "pw").send_keys("secret-pass")
        caller.find_element(By.ID, "card").send_keys("4111111111111111")
        wait(caller, "the widget", lambda d: shadow(d, "ccbox-chat", "open")).click()
        wait(
            caller, "the code link", lambda d: shadow(d, "ccbox-chat", "cobrowse-code-link")
        ).click()
        field = wait(
            caller, "the code form", lambda d: shadow(d, "ccbox-cobrowse", "cobrowse-code")
        )
        field.send_keys("000000" if code != "000000" else "111111")  # a wrong one first
        shadow(caller, "ccbox-cobrowse", "cobrowse-code-go").click()
        wait(
            caller,
            "the refusal",
            lambda d: "wrong" in (shadow(d, "ccbox-cobrowse", "cobrowse-code-error").text or ""),
        )
        field.clear()
        field.send_keys(code)
        shadow(caller, "ccbox-cobrowse", "cobrowse-code-go").click()
        consent = wait(
            caller, "the consent", lambda d: shadow(d, "ccbox-cobrowse", "cobrowse-consent")
        )
        assert "hidden" in consent.text
        shadow(caller, "ccbox-cobrowse", "cobrowse-allow").click()
        banner = wait(
            caller, "the banner", lambda d: shadow(d, "ccbox-cobrowse", "cobrowse-banner")
        )
        assert "viewing this page" in banner.text

        link = wait(
            agent,
            "the viewer link",
            lambda d: (
                d.find_element(By.ID, "cobrowse-open").is_displayed()
                and d.find_element(By.ID, "cobrowse-open-link")
            ),
        )
        agent.get(link.get_attribute("href"))
        wait(agent, "the replay", lambda d: "Returns and refunds" in text_of(d))
        assert value_of(agent, "#name") == "*" * len("Li Lei")
        assert value_of(agent, "#pw") == ""
        assert value_of(agent, "#card") == ""
        assert "secret-pass" not in str(replayed(agent, "return doc.documentElement.outerHTML;"))

        caller.find_element(By.ID, "name").send_keys(" Jr")
        wait(agent, "typing mirrored", lambda d: value_of(d, "#name") == "*" * 9, 5)
        caller.find_element(By.ID, "pw").send_keys("more")
        caller.execute_script("document.getElementById('pw').type = 'text';")  # show password
        caller.find_element(By.ID, "pw").send_keys("x")
        caller.execute_script(
            "var p = document.createElement('p'); p.id = 'late';"
            "p.textContent = 'Added later 新段落'; document.body.appendChild(p);"
        )
        wait(agent, "a DOM change mirrored", lambda d: "Added later 新段落" in text_of(d), 5)
        assert value_of(agent, "#pw") == ""  # a password field retyped as text stays blank

        agent.find_element(By.ID, "cobrowse-point").click()
        replayed(agent, "doc.getElementById('target').click(); return true;")
        wait(
            caller,
            "the element outlined",
            lambda d: (
                "solid"
                in d.execute_script("return document.getElementById('target').style.outline")
            ),
            5,
        )

        agent.find_element(By.ID, "cobrowse-url").send_keys("https://evil.example/")
        agent.find_element(By.CSS_SELECTOR, "[data-test=cobrowse-push-go]").click()
        wait(
            agent,
            "the push refused",
            lambda d: "center's web sites" in d.find_element(By.ID, "cobrowse-msg").text,
        )
        assert caller.current_url == shop + "/shop.html"

        shadow(caller, "ccbox-cobrowse", "cobrowse-stop").click()
        wait(
            agent,
            "the viewer ended",
            lambda d: (
                d.find_element(By.ID, "cobrowse-status").get_attribute("data-state") == "ended"
            ),
        )

        # the supervisor's live view of agent 1001's desk
        agent.get(box.url + "/desk")
        wait(agent, "the desk", lambda d: d.find_element(By.ID, "desk-cobrowse"))
        login(sup, box.url, "sup")
        sup.get(f"{box.url}/supervisor/desk/{box.ids['1001']}")
        watched = wait(
            agent,
            "the watched banner",
            lambda d: (
                d.find_element(By.ID, "desk-watched").is_displayed()
                and d.find_element(By.ID, "desk-watched").text
            ),
        )
        assert "Sue Pervisor" in watched
        wait(sup, "the desk replayed", lambda d: "Code for a caller" in text_of(d), 20)
        sup.find_element(By.ID, "cobrowse-stop").click()
        wait(
            agent,
            "the banner gone",
            lambda d: not d.find_element(By.ID, "desk-watched").is_displayed(),
        )
        for driver in (agent, caller, sup):
            assert console_errors(driver) == []
