"""The internet channels end to end in real headless Chromium against the real ccboxd
(tests/support/live_box.py), each person in a browser of their own:

- a visitor on a shop's page of ANOTHER origin (a tiny site served here on a second
  loopback port, allowed on the box) opens the embedded widget in Chinese and starts a chat;
- agent 1001 accepts the offer on the desk and answers in Chinese; the visitor's widget
  shows the answer;
- a supervisor watches the chat from the console (the history and a live line), then opens
  1001's live view: the agent's desk shows the "watched" banner and the replay shows the
  desk's chat;
- 1001 co-browses the chat: the visitor allows, the agent's replay shows the shop's page
  (a heading's text), a password typed on that page never appears in the replay; the agent
  pushes another page of the shop, the visitor lands there with the chat and its lines;
- 1001 transfers the chat to agent 1002, whose desk gets the offer and the history.

No console error on any page. Screenshots for the docs: docs/images/chat-*.png (with
CCBOX_DOCS_IMAGES=1, as `make screenshots` runs it; else build/screenshots/).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.cli import resolved
from appliance.db.channel_admin_store import ChannelAdminStore
from tests.support.chromium import absent, headless_chromium, login, switch_language
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# `make screenshots` sets CCBOX_DOCS_IMAGES=1: the pictures then replace the docs' own;
# otherwise a test run leaves them in build/ and the tree as it was.
IMAGES = ROOT / (
    "docs/images" if os.environ.get("CCBOX_DOCS_IMAGES") == "1" else "build/screenshots"
)

AGENT1 = ("liwei", "liwei-password")  # the web user of agent 1001 (Li Wei) here
AGENT2 = ("zhangmin", "zhangmin-password")  # and of agent 1002 (Zhang Min)
PLAN = "宽带套餐 300M 每月 99 元"  # a heading on the shop's page, seen in the agent's replay
NOTE = "客户想升级到 300M"  # the transfer's note for the next agent
SECRET = "S3cret-密码-42"  # typed into the shop's password field: never in any replay
VISITOR_NAME = "王小明"
ASK = "你好 我想换一个更快的宽带套餐"
ANSWER = "您好 300M 套餐每月 99 元 我带您看一下"

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px system-ui,sans-serif;margin:2em 3em}}
label{{display:block;margin:.5em 0}}</style>
</head><body>
<h1 id="heading">{heading}</h1>
<p id="blurb">{blurb}</p>
<form id="account"><label>用户名 <input id="user" name="user" autocomplete="off"></label>
<label>密码 <input id="password" name="password" type="password" autocomplete="off"></label></form>
<script src="{chat}/chat/widget.js" data-ccbox-chat data-lang="zh" async></script>
</body></html>
"""


def seed(db: Any, ids: dict[str, int], site: str) -> None:
    store = ChannelAdminStore(db)
    q = resolved(db.queues.add("webchat", "在线客服 Web chat", wrapup_s=1))
    resolved(store.set_queue_media(q.id, "chat"))
    ids["webchat"] = q.id
    ids["topic"] = resolved(
        store.save_topic(
            None,
            {"name": "broadband", "label_en": "Broadband", "label_zh": "宽带", "queue_id": q.id},
        )
    )
    for number in ("1001", "1002"):
        resolved(db.agents.set_member(q.id, ids[number]))
    resolved(store.add_origin(site))
    for number, (username, password), name in (
        ("1001", AGENT1, "Li Wei 李伟"),
        ("1002", AGENT2, "Zhang Min 张敏"),
    ):
        user = resolved(db.users.add(username, password, "agent", name))
        resolved(db.agents.link_user(ids[number], user.id))


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def shop_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The shop's own web site, another origin than the box's chat port: its address (the
    box allows it) and the folder it serves, whose pages are written once the box is up."""
    root = tmp_path_factory.mktemp("shop")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def box(shop_site: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    site = shop_site[0]
    with live_box(tmp_path_factory.mktemp("chat-channels"), partial(seed, site=site)) as b:
        yield b


@pytest.fixture(scope="module")
def shop(box: LiveBox, shop_site: tuple[str, Path]) -> str:
    """The shop's two pages, each embedding the widget from the box's chat port."""
    url, root = shop_site
    chat = f"http://127.0.0.1:{box.config.chat.port}"
    (root / "plans.html").write_text(
        PAGE.format(title="宽带商城", heading=PLAN, blurb="选择适合您的套餐。", chat=chat),
        encoding="utf-8",
    )
    (root / "checkout.html").write_text(
        PAGE.format(title="确认订单", heading="确认订单 Checkout", blurb="请核对。", chat=chat),
        encoding="utf-8",
    )
    return url


def wait(driver: WebDriver, what: str, predicate: Any, timeout: float = 15) -> Any:
    return WebDriverWait(
        driver,
        timeout,
        0.1,
        ignored_exceptions=(StaleElementReferenceException, WebDriverException),
    ).until(lambda d: predicate(d), what)


def in_shadow(driver: WebDriver, host: str, test: str) -> list[WebElement]:
    """The elements ``[data-test=test]`` inside the shadow root of ``#host``."""
    found: list[WebElement] = driver.execute_script(
        "var h = document.getElementById(arguments[0]);"
        "return h && h.shadowRoot ? Array.from("
        "h.shadowRoot.querySelectorAll('[data-test=\"' + arguments[1] + '\"]')) : [];",
        host,
        test,
    )
    return found


def first_in_shadow(driver: WebDriver, host: str, test: str) -> WebElement | None:
    found = in_shadow(driver, host, test)
    return found[0] if found else None


def widget(driver: WebDriver, test: str) -> WebElement:
    return wait(driver, f"the widget's {test}", lambda d: first_in_shadow(d, "ccbox-chat", test))


def widget_lines(driver: WebDriver) -> list[str]:
    return [e.text for e in in_shadow(driver, "ccbox-chat", "message")]


def replay_html(driver: WebDriver) -> str:
    """The replayed document in the viewer's rrweb frame, with every field's live value."""
    html: str = driver.execute_script(
        "var f = document.querySelector('#cobrowse-stage iframe');"
        "var doc = f && f.contentDocument;"
        "if (!doc || !doc.documentElement) return '';"
        "var values = Array.from(doc.querySelectorAll('input, textarea'))"
        "  .map(function (i) { return i.value; }).join('\\n');"
        "return doc.documentElement.outerHTML + '\\n' + values;"
    )
    return html


# an element within the viewport, where the agent sees it whatever part of the desk is shown
SEEN = """var r = arguments[0].getBoundingClientRect();
return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;"""


def offers(driver: WebDriver) -> list[WebElement]:
    """The desk's Accept buttons of the offers shown now."""
    return driver.find_elements(By.CSS_SELECTOR, "[data-test=chat-accept]")


def accept(buttons: list[WebElement]) -> None:
    buttons[0].click()


def desk_lines(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-test=chat-line]")]


def console_errors(driver: WebDriver) -> list[Any]:
    return [
        e
        for e in driver.get_log("browser")  # type: ignore[attr-defined]
        if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")
    ]


def shot(
    driver: WebDriver, name: str, width: int = 1366, height: int = 768, show: str = ""
) -> None:
    """docs/images/<name> at that viewport, scrolled to the element of id ``show``."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    if show:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", show)
    driver.save_screenshot(str(IMAGES / name))


def login_as(driver: WebDriver, base: str, username: str, password: str) -> None:
    driver.get(base + "/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    wait(driver, "logged in", lambda d: "/login" not in d.current_url, 10)


@pytest.fixture(scope="module")
def visitor() -> Iterator[WebDriver]:
    with headless_chromium(console_log=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def agent() -> Iterator[WebDriver]:
    with headless_chromium(console_log=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def other() -> Iterator[WebDriver]:
    """The supervisor, later agent 1002."""
    with headless_chromium(console_log=True) as driver:
        yield driver


def test_a_chat_from_another_site_answered_watched_cobrowsed_and_transferred(
    box: LiveBox, shop: str, visitor: WebDriver, agent: WebDriver, other: WebDriver
) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    box.agents_login("1001")
    login_as(agent, box.url, *AGENT1)
    agent.get(box.url + "/desk")
    wait(
        agent,
        "the desk's chat stream",
        lambda d: d.find_element(By.ID, "chat-conn").get_attribute("data-state") == "open",
    )

    # ---- the visitor starts a chat from the shop's page ---------------------------------
    visitor.get(shop + "/plans.html")
    widget(visitor, "open").click()
    topic = widget(visitor, "topic")
    wait(visitor, "the topics", lambda d: len(Select(topic).options) >= 1)
    assert "宽带" in [o.text for o in Select(topic).options]
    widget(visitor, "name").send_keys(VISITOR_NAME)
    widget(visitor, "phone").send_keys("13800138000")
    widget(visitor, "start").click()
    widget(visitor, "input").send_keys(ASK)
    widget(visitor, "send").click()
    wait(visitor, "the visitor's line", lambda d: any(ASK in t for t in widget_lines(d)))

    # ---- agent 1001 accepts and answers in Chinese ----------------------------------------
    accept(wait(agent, "the offer", offers))
    wait(
        agent, "the chat's tab", lambda d: d.find_elements(By.CSS_SELECTOR, "[data-test=chat-tab]")
    )
    wait(agent, "the visitor's line on the desk", lambda d: any(ASK in t for t in desk_lines(d)))
    text = wait(
        agent,
        "the reply box",
        lambda d: (e := d.find_element(By.ID, "chat-text")).is_enabled() and e,
    )
    text.send_keys(ANSWER)
    text.send_keys(Keys.ENTER)
    wait(
        visitor,
        "the agent's answer in the widget",
        lambda d: any(ANSWER in t for t in widget_lines(d)),
    )
    assert VISITOR_NAME in agent.find_element(By.ID, "chat-title").text
    shot(agent, "chat-desk-en.png", 1366, 900, "desk-chats")
    shot(visitor, "chat-widget-zh_CN.png", 1100, 760)

    # ---- the supervisor watches the chat from the console -------------------------------
    login(other, box.url, "sup")
    other.get(box.url + "/supervisor")
    row = wait(
        other,
        "the chat on the console",
        lambda d: d.find_element(By.CSS_SELECTOR, "#sv-conversations tr[data-state=active]"),
    )
    other.get(row.find_element(By.CLASS_NAME, "sv-watch").get_attribute("href"))
    wait(
        other,
        "the watched chat's history",
        lambda d: any(ANSWER in e.text for e in d.find_elements(By.CSS_SELECTOR, ".svc-body")),
    )
    widget(visitor, "input").send_keys("好的 谢谢")
    widget(visitor, "send").click()
    wait(
        other,
        "the visitor's next line, live",
        lambda d: any(e.text == "好的 谢谢" for e in d.find_elements(By.CSS_SELECTOR, ".svc-body")),
    )

    # ---- the supervisor's live view of 1001's desk --------------------------------------
    other.get(f"{box.url}/supervisor/desk/{box.ids['1001']}")
    banner = wait(
        agent,
        "the watched banner",
        lambda d: (e := d.find_element(By.ID, "desk-watched")).is_displayed() and e,
    )
    assert "Sue Pervisor" in banner.text
    wait(other, "the desk in the replay", lambda d: ANSWER in replay_html(d), 20)
    shot(agent, "chat-desk-watched-en.png", 1366, 900, "desk-chats")
    for scroll in ("window.scrollTo(0, 0)", "window.scrollTo(0, document.body.scrollHeight)"):
        agent.execute_script(scroll)
        assert agent.execute_script(SEEN, banner), f"the banner out of sight after {scroll}"
    time.sleep(1)  # the desk's scroll reaches the replay
    shot(other, "chat-live-view-en.png", 1440, 900)
    other.find_element(By.ID, "cobrowse-stop").click()
    wait(
        agent,
        "the banner gone",
        lambda d: not d.find_element(By.ID, "desk-watched").is_displayed(),
        20,
    )

    # ---- co-browsing: the agent asks, the visitor allows --------------------------------
    visitor.find_element(By.ID, "password").send_keys(SECRET)
    visitor.find_element(By.ID, "user").send_keys("wangxm")
    desk_window = agent.current_window_handle
    agent.find_element(By.CSS_SELECTOR, "[data-test=chat-tab]").click()
    agent.find_element(By.ID, "cobrowse-chat").click()
    wait(agent, "the viewer's window", lambda d: len(d.window_handles) == 2)
    agent.switch_to.window(next(h for h in agent.window_handles if h != desk_window))
    wait(agent, "the viewer page", lambda d: "/desk/cobrowse" in d.current_url)
    allow = wait(
        visitor,
        "the consent",
        lambda d: first_in_shadow(d, "ccbox-cobrowse", "cobrowse-allow"),
    )
    shot(visitor, "chat-cobrowse-consent-zh_CN.png", 1100, 760)
    allow.click()
    wait(agent, "the shop's page in the replay", lambda d: PLAN in replay_html(d), 20)
    wait(visitor, "the banner", lambda d: in_shadow(d, "ccbox-cobrowse", "cobrowse-banner"))
    visitor.find_element(By.ID, "password").send_keys("-more")  # typed while recorded
    visitor.find_element(By.ID, "user").send_keys("-typed")
    # a change after the typing: once it is replayed, so is everything typed before it
    visitor.execute_script("document.getElementById('blurb').textContent = '已填写账号';")
    replay = wait(
        agent,
        "the page's change replayed",
        lambda d: h if "已填写账号" in (h := replay_html(d)) else None,
        20,
    )
    assert SECRET not in replay and "-more" not in replay  # a password: never
    assert "wangxm" not in replay and "-typed" not in replay  # other fields: masked by default
    assert agent.execute_script(
        "var d = document.querySelector('#cobrowse-stage iframe').contentDocument;"
        "return !!d.getElementById('password');"
    )  # the field itself is there, only its value is not
    shot(agent, "chat-cobrowse-view-en.png", 1366, 900)

    # ---- the agent pushes another page of the shop ---------------------------------------
    agent.find_element(By.ID, "cobrowse-url").send_keys(shop + "/checkout.html")
    agent.find_element(By.CSS_SELECTOR, "[data-test=cobrowse-push-go]").click()
    wait(
        visitor, "the pushed page", lambda d: d.current_url.startswith(shop + "/checkout.html"), 20
    )
    wait(
        visitor,
        "the chat there, with its lines",
        lambda d: any(ANSWER in t for t in widget_lines(d)),
    )
    assert any(ASK in t for t in widget_lines(visitor))
    wait(agent, "the new page in the replay", lambda d: "确认订单 Checkout" in replay_html(d), 20)
    widget(visitor, "input").send_keys("我到了结算页")
    widget(visitor, "send").click()
    agent.close()
    agent.switch_to.window(desk_window)
    wait(
        agent,
        "the line from the pushed page",
        lambda d: any("我到了结算页" in t for t in desk_lines(d)),
    )

    # ---- transfer to agent 1002, who gets the history ------------------------------------
    box.agents_login("1002")
    other.delete_all_cookies()
    login_as(other, box.url, *AGENT2)
    other.get(box.url + "/desk")
    wait(
        other,
        "1002's chat stream",
        lambda d: d.find_element(By.ID, "chat-conn").get_attribute("data-state") == "open",
    )
    agent.find_element(By.ID, "chat-btn-transfer").click()
    target = wait(
        agent,
        "the transfer targets",
        lambda d: (e := d.find_element(By.ID, "chat-transfer-target")).is_displayed() and e,
    )
    choice = wait(
        agent,
        "1002 to choose",
        lambda d: next(
            (
                o
                for o in Select(target).options
                if o.get_attribute("value") == f"agent:{box.ids['1002']}" and o.is_enabled()
            ),
            None,
        ),
    )
    Select(target).select_by_value(choice.get_attribute("value"))
    agent.find_element(By.ID, "chat-transfer-note").send_keys(NOTE)
    agent.find_element(By.CSS_SELECTOR, "[data-test=chat-transfer-go]").click()
    accept(wait(other, "the transferred offer", offers))
    wait(other, "the history on 1002's desk", lambda d: any(ANSWER in t for t in desk_lines(d)))
    wait(other, "the transfer's note", lambda d: any(NOTE in t for t in desk_lines(d)), 5)
    lines = desk_lines(other)
    assert any(ASK in t for t in lines) and any("我到了结算页" in t for t in lines)
    wait(agent, "the chat gone from 1001's desk", lambda d: absent(d, "[data-test=chat-tab]"))
    shot(other, "chat-transferred-en.png", 1366, 900, "desk-chats")

    # ---- 1002 passes it back to the queue: 1001, now on a Chinese desk, takes it ---------
    switch_language(agent, "zh_CN")
    wait(
        agent,
        "1001's chat stream again",
        lambda d: d.find_element(By.ID, "chat-conn").get_attribute("data-state") == "open",
    )
    other.find_element(By.ID, "chat-btn-transfer").click()
    target = wait(
        other,
        "the transfer targets",
        lambda d: (e := d.find_element(By.ID, "chat-transfer-target")).is_displayed() and e,
    )
    Select(target).select_by_value(f"queue:{box.ids['webchat']}")
    other.find_element(By.CSS_SELECTOR, "[data-test=chat-transfer-go]").click()
    wait(other, "the chat gone from 1002's desk", lambda d: absent(d, "[data-test=chat-tab]"))
    accept(wait(agent, "the queue's offer to 1001", offers))
    wait(agent, "the history on 1001's desk", lambda d: any(ANSWER in t for t in desk_lines(d)))
    assert any("我到了结算页" in t for t in desk_lines(agent))
    wait(
        visitor,
        "the visitor told of both transfers",
        lambda d: sum("正在为您转接" in t for t in widget_lines(d)) == 2,
    )
    assert agent.find_element(By.ID, "chat-btn-end").text == "结束"
    shot(agent, "chat-desk-zh_CN.png", 1366, 900, "desk-chats")

    for who, driver in (("visitor", visitor), ("agent", agent), ("other", other)):
        assert console_errors(driver) == [], (who, console_errors(driver))
