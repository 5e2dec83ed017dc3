"""The live pages in Chinese, as Chromium shows them once their scripts have filled them in
from the live feed (tests/unit/test_i18n_pages.py reads the server's HTML; these pages are
mostly drawn by JavaScript): the wallboard and the supervisor console with agents in every
state and a caller waiting, and an agent's desk. No English word is left on the screen but
names and codes (the same rule as the HTML check).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.chromium import headless_chromium, login, switch_language
from tests.support.live_box import AGENT_NAMES, QUEUE_DISPLAY, LiveBox, live_box
from tests.unit.test_i18n_pages import english_words

pytestmark = pytest.mark.integration
# the live box's user data: agents' and the queue's names, the caller
# (a department, the built-in flow's node ids on the desk's IVR path), product names
DATA = (*AGENT_NAMES.values(), QUEUE_DISPLAY, "support", "Support", "Zhang San", "13800138000")
DATA += ("welcome", "timeout")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("chinese")) as b:
        b.agents_login("1001", "1002")
        b.acd("pause", "1002", "lunch")
        call = b.call(caller_number="13800138000", caller_name="Zhang San")  # no phone answers
        yield b
        b.hangup(call)  # a caller still waiting holds the daemon's stop for its drain time
        b.wait_call_ended(call)


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def shown(driver: WebDriver, marker: str) -> str:
    """The page's visible text once the element ``marker`` (CSS) has text drawn in."""
    WebDriverWait(driver, 10, 0.1).until(
        lambda d: any(e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, marker)), marker
    )
    text: str = driver.find_element(By.TAG_NAME, "body").text
    return text


def test_the_live_pages_show_no_english_in_chinese(box: LiveBox, chrome: WebDriver) -> None:
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/supervisor")
    switch_language(chrome, "zh_CN")
    left = {}
    for path, marker in (
        ("/supervisor", "#sv-agents tbody tr .sv-state"),
        ("/wallboard", "#wb-queues"),
        ("/", "main table"),
    ):
        chrome.get(box.url + path)
        text = shown(chrome, marker)
        if path == "/supervisor":
            assert "午餐" in text, text[:300]  # 1002's pause reason, drawn by the script
        left[path] = english_words(text, DATA)
    chrome.delete_all_cookies()
    login(chrome, box.url, "agent")
    chrome.get(box.url + "/desk")
    switch_language(chrome, "zh_CN")
    text = shown(chrome, "#desk-state-name")
    assert "就绪" in text, text[:300]  # agent 1001 is ready, in Chinese
    left["/desk"] = english_words(text, DATA)
    assert {k: v for k, v in left.items() if v} == {}
