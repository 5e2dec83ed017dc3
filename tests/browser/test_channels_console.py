"""The supervisor's chats in real headless Chromium against the real ccboxd
(tests/support/live_box.py): a visitor starts a chat through the widget's public endpoint
with a hostile name; the console lists it (as text) with its queue and, once the agent takes
it on the desk's API, the agent and the agent's chat load; the watch page shows the lines,
the visitor's next line arrives live, and the supervisor's internal note shows as one; the
wallboard's chat tile counts it. Screenshots: build/screenshots/supervisor-chats*.png."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.cli import resolved
from appliance.db.channel_admin_store import ChannelAdminStore
from tests.support.appliance import USERS
from tests.support.chromium import IMPLICIT_WAIT_S, absent, headless_chromium, login
from tests.support.http import Browser, Response
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
ORIGIN = "https://shop.example.com"


def seed(db: Any, ids: dict[str, int]) -> None:
    store = ChannelAdminStore(db)
    q = resolved(db.queues.add("webchat", "在线客服 Web chat", wrapup_s=1))
    resolved(store.set_queue_media(q.id, "chat"))
    ids["webchat"] = q.id
    ids["topic"] = resolved(
        store.save_topic(None, {"name": "help", "label_en": "Help", "queue_id": q.id})
    )
    resolved(db.agents.set_member(q.id, ids["1001"]))
    resolved(store.add_origin(ORIGIN))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("channels-console"), seed) as b:
        yield b


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium(console_log=True) as driver:
        yield driver


def wait(driver: WebDriver, what: str, predicate: Any, timeout: float = 10) -> Any:
    return WebDriverWait(
        driver, timeout, 0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda d: predicate(d), what)


def visitor(box: LiveBox, path: str, body: dict[str, Any], token: str = "") -> Response:
    headers = {"Content-Type": "application/json", "Origin": ORIGIN}
    if token:
        headers["X-Chat-Token"] = token
    chat = Browser(box.config.chat.port)
    r = chat.request("POST", "/chat/api/" + path, json.dumps(body).encode(), headers)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r


def desk(box: LiveBox, action: str, body: dict[str, Any]) -> Response:
    """The agent (web user "agent", agent 1001) on the desk's chat API."""
    b = Browser(box.port)
    assert b.login("agent", USERS["agent"][1]).status == 303
    token = b.get("/").csrf()
    r = b.request(
        "POST",
        "/chat-desk/api/" + action,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "X-CSRF-Token": token, "Origin": box.url},
    )
    assert r.status == 200, (action, r.status, r.body[:300])
    return r


def conversation_row(driver: WebDriver, cid: int) -> Any:
    """The console's row of the conversation now, or None (no implicit wait: callers poll)."""
    driver.implicitly_wait(0)
    try:
        rows = driver.find_elements(
            By.CSS_SELECTOR, f"#sv-conversations tr[data-conversation-id='{cid}']"
        )
    finally:
        driver.implicitly_wait(IMPLICIT_WAIT_S)
    return rows[0] if rows else None


def test_a_supervisor_sees_watches_and_notes_a_chat(box: LiveBox, chrome: WebDriver) -> None:
    box.agents_login("1001")
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/supervisor")
    wait(chrome, "the chats section", lambda d: d.find_element(By.ID, "sv-chats-note").text)
    assert "No chats or e-mails." in chrome.find_element(By.ID, "sv-chats-note").text

    started = visitor(
        box,
        "start",
        {"topic_id": box.ids["topic"], "name": HOSTILE, "email": "v@example.com", "language": "en"},
    ).json()
    cid, token = started["conversation"], started["token"]
    visitor(box, "send", {"text": "你好 我的订单没到"}, token)

    # listed, as text, offered to 1001, the wait ticking
    row = wait(chrome, "the chat listed", lambda d: conversation_row(d, cid), 8)
    assert HOSTILE in row.find_element(By.CLASS_NAME, "sv-name").text
    assert "在线客服 Web chat" in row.find_element(By.CLASS_NAME, "sv-queue").text
    assert absent(chrome, "#sv-chats img")

    desk(box, "accept", {"conversation": cid})
    wait(
        chrome,
        "the chat active with its agent",
        lambda d: (
            (r := conversation_row(d, cid)) is not None
            and r.get_attribute("data-state") == "active"
            and "1001" in r.find_element(By.CLASS_NAME, "sv-agent").text
        ),
        8,
    )
    wait(
        chrome,
        "the agent's chat load",
        lambda d: any(
            "Chats 1/3" in e.text
            for e in d.find_elements(By.CSS_SELECTOR, "#sv-agents .sv-chat-load")
        ),
        8,
    )
    # the page's filters: the agent's team keeps it, a call queue has no chats
    Select(chrome.find_element(By.ID, "sv-team-filter")).select_by_value("Support")
    assert conversation_row(chrome, cid) is not None
    Select(chrome.find_element(By.ID, "sv-queue-filter")).select_by_value("support")
    wait(chrome, "no chats in a call queue", lambda d: conversation_row(d, cid) is None)
    Select(chrome.find_element(By.ID, "sv-queue-filter")).select_by_value("")
    Select(chrome.find_element(By.ID, "sv-team-filter")).select_by_value("")
    wait(chrome, "the chat back", lambda d: conversation_row(d, cid) is not None)
    links = chrome.find_elements(By.CSS_SELECTOR, "#sv-agents a.sv-live-view")
    assert any(
        (a.get_attribute("href") or "").endswith(f"/supervisor/desk/{box.ids['1001']}")
        for a in links
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.execute_script("document.getElementById('sv-chats').scrollIntoView()")
    chrome.save_screenshot(str(SHOTS / "supervisor-chats.png"))

    # Watch: the history, then the visitor's next line live, then an internal note
    watch = conversation_row(chrome, cid).find_element(By.CLASS_NAME, "sv-watch")
    chrome.get(watch.get_attribute("href"))
    wait(
        chrome,
        "the history",
        lambda d: any(
            "你好 我的订单没到" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".svc-body")
        ),
    )
    assert HOSTILE in chrome.find_element(By.CLASS_NAME, "svc-name").text
    visitor(box, "send", {"text": "<b>still waiting</b>"}, token)
    wait(
        chrome,
        "the live line",
        lambda d: any(
            e.text == "<b>still waiting</b>" for e in d.find_elements(By.CSS_SELECTOR, ".svc-body")
        ),
    )
    assert absent(chrome, "#svc-lines .svc-body b")
    chrome.find_element(By.ID, "svc-text").send_keys("请核对物流单号")
    chrome.find_element(By.CSS_SELECTOR, "#svc-say button[type=submit]").click()
    wait(
        chrome,
        "the internal note",
        lambda d: any(
            "请核对物流单号" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".svc-internal")
        ),
    )
    chrome.save_screenshot(str(SHOTS / "supervisor-chats-watch.png"))

    # the wallboard's chat tile counts it as active
    chrome.get(box.url + "/wallboard")
    wait(
        chrome,
        "the chat tile",
        lambda d: (
            d.find_element(By.CSS_SELECTOR, ".wb-channel[data-media=chat] [data-field=active]").text
            == "1"
        ),
    )
    card = chrome.find_element(By.CSS_SELECTOR, f"[data-channel-queue-id='{box.ids['webchat']}']")
    assert "在线客服 Web chat" in card.text
    assert "Chat" in card.find_element(By.CLASS_NAME, "wb-media").text
    chrome.set_window_size(1920, 1080)
    chrome.save_screenshot(str(SHOTS / "wallboard-channels.png"))
    assert absent(chrome, f"[data-queue-id='{box.ids['webchat']}']")  # not a call queue's card
    errors = [
        e
        for e in chrome.get_log("browser")  # type: ignore[attr-defined]
        if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")
    ]
    assert errors == [], errors


def test_the_admin_adds_a_web_site_and_a_canned_reply(box: LiveBox, chrome: WebDriver) -> None:
    chrome.get(box.url + "/logout")  # another login in the same browser
    chrome.delete_all_cookies()
    login(chrome, box.url, "admin")
    chrome.get(box.url + "/admin/channels")
    form = chrome.find_element(By.CSS_SELECTOR, "form[action='/admin/channels/origin_add']")
    form.find_element(By.NAME, "origin").send_keys("HTTPS://Shop.Example.CN:443/")
    form.find_element(By.CSS_SELECTOR, "button").click()
    wait(
        chrome,
        "the origin added",
        lambda d: "https://shop.example.cn may embed the chat widget." in d.page_source,
    )
    canned = chrome.find_elements(By.CSS_SELECTOR, "form[action='/admin/channels/canned_save']")[-1]
    canned.find_element(By.NAME, "title").send_keys("问候")
    canned.find_element(By.NAME, "body").send_keys("您好 {customer_name}, 我是 {agent_name}.")
    canned.find_element(By.CSS_SELECTOR, "button").click()
    wait(chrome, "the canned reply saved", lambda d: "Canned reply saved." in d.page_source)
    assert "{customer_name}" in chrome.find_element(By.ID, "canned").text
    chrome.set_window_size(1366, 1600)
    chrome.save_screenshot(str(SHOTS / "admin-channels.png"))
