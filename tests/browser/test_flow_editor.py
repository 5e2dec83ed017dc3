"""The IVR flow editor in real headless Chromium against a running ccboxd: build a flow by
drag and drop, publish it, try it, see validation problems on their nodes, in Chinese too,
and hostile names shown as text. Screenshots go to build/screenshots/ for a person."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.cli import resolved
from ivr.prompt_audio import tone_wav, write_atomically
from tests.support.appliance import prepare
from tests.support.chromium import headless_chromium, login, switch_language
from tests.support.daemon import running_daemon
from tests.support.http import Browser

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"


def seed(db: Any) -> None:
    resolved(db.queues.add("support"))
    resolved(db.voicemail.add_mailbox("800", "Front desk"))
    resolved(db.ivr.add_prompt("hello", "upload", 500, "", "test", HOSTILE))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("editor")
    config = prepare(tmp / "box", seed=seed)
    write_atomically(config.data_dir / "prompts", "hello", tone_wav(440, 0.5))
    with running_daemon(config.path, tmp) as daemon:
        yield f"http://127.0.0.1:{config.web.port}"
        daemon.stop()


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def new_flow(driver: WebDriver, base: str, name: str) -> None:
    login(driver, base)
    driver.get(base + "/flows")
    driver.find_element(By.CSS_SELECTOR, "form[action='/flows/add'] input[name=name]").send_keys(
        name
    )
    driver.find_element(By.CSS_SELECTOR, "form[action='/flows/add'] button").click()
    editor_ready(driver)


def editor_ready(driver: WebDriver) -> None:
    """Until the editor has loaded its flow (across a page reload)."""
    ready = "var e = document.getElementById('flow-editor'); return e ? e.dataset.ready : null;"
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(ready) == "1")


def drop(driver: WebDriver, node_type: str, x: int, y: int) -> str:
    """Drag a node type from the palette onto the canvas; the new node's id."""
    before = {
        e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, ".fe-node")
    }
    item = driver.find_element(By.CSS_SELECTOR, f".fe-pal[data-type={node_type}]")
    canvas = driver.find_element(By.ID, "fe-canvas")
    (
        ActionChains(driver)
        .click_and_hold(item)
        .move_to_element_with_offset(canvas, 10, 10)
        .move_to_element_with_offset(
            canvas, x - canvas.size["width"] // 2, y - canvas.size["height"] // 2
        )
        .release()
        .perform()
    )
    after = {
        e.get_attribute("data-node") for e in driver.find_elements(By.CSS_SELECTOR, ".fe-node")
    }
    [new] = after - before
    return str(new)


def connect(driver: WebDriver, source: str, out: str, target: str) -> None:
    port = driver.find_element(
        By.CSS_SELECTOR, f"[data-node='{source}'] [data-out='{out}'] .fe-dot"
    )
    dest = driver.find_element(By.CSS_SELECTOR, f"[data-node='{target}'] .fe-head")
    ActionChains(driver).click_and_hold(port).move_to_element(dest).release().perform()


def select_node(driver: WebDriver, node_id: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"[data-node='{node_id}'] .fe-sum").click()


def api(base: str, path: str) -> Any:
    b = Browser(int(base.rsplit(":", 1)[1]))
    b.login("admin", "admin-password")
    return b.get(path).json()


def build_menu_flow(driver: WebDriver) -> tuple[str, str, str]:
    menu = drop(driver, "menu", 150, 120)
    play = drop(driver, "play", 500, 60)
    queue = drop(driver, "queue", 500, 260)
    select_node(driver, menu)
    Select(driver.find_element(By.CSS_SELECTOR, "#fe-props select[name=prompt]")).select_by_value(
        "hello"
    )
    keys = driver.find_element(By.CSS_SELECTOR, "#fe-props input[name=options]")
    keys.clear()
    keys.send_keys("1 0\n")
    driver.find_element(By.CSS_SELECTOR, "#fe-props h3").click()  # the change event
    select_node(driver, play)
    Select(driver.find_element(By.CSS_SELECTOR, "#fe-props select[name=prompt]")).select_by_value(
        "hello"
    )
    select_node(driver, queue)
    Select(driver.find_element(By.CSS_SELECTOR, "#fe-props select[name=queue]")).select_by_value(
        "support"
    )
    connect(driver, menu, "1", play)
    connect(driver, menu, "0", queue)
    connect(driver, play, "next", queue)
    return menu, play, queue


def message_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "fe-messages").text


def test_build_by_drag_and_drop_validate_publish_and_try(box: str, chrome: WebDriver) -> None:
    base = box
    new_flow(chrome, base, "dragged")
    menu, play, queue = build_menu_flow(chrome)
    assert len(chrome.find_elements(By.CSS_SELECTOR, "path.fe-edge")) == 3
    chrome.find_element(By.ID, "fe-validate").click()
    WebDriverWait(chrome, 10).until(lambda d: "No problems" in message_text(d))
    chrome.find_element(By.ID, "fe-publish").click()
    WebDriverWait(chrome, 10).until(lambda d: "Published version 2" in message_text(d))
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "ivr-editor.png"))

    flows = api(base, "/api/ivr/flows")
    [flow] = [f for f in flows if f["name"] == "dragged"]
    assert flow["published_version"] == 2
    saved = api(base, f"/api/ivr/flow?id={flow['id']}&version=2")["graph"]
    assert saved["start"] == menu
    assert {(n["id"], n["type"]) for n in saved["nodes"]} == {
        (menu, "menu"),
        (play, "play"),
        (queue, "queue"),
    }
    assert {(e["from"], e["out"], e["to"]) for e in saved["edges"]} == {
        (menu, "1", play),
        (menu, "0", queue),
        (play, "next", queue),
    }
    [m] = [n for n in saved["nodes"] if n["id"] == menu]
    assert (m["props"]["prompt"], m["props"]["options"]) == ("hello", ["1", "0"])

    # Try it: the menu plays, the caller presses 1, the prompt plays, the queue takes over.
    chrome.find_element(By.ID, "fe-try-start").click()
    WebDriverWait(chrome, 10).until(
        lambda d: "Press a key" in d.find_element(By.ID, "fe-waiting").text
    )
    assert "plays the prompt hello" in chrome.find_element(By.ID, "fe-transcript").text
    chrome.find_element(By.CSS_SELECTOR, "#fe-keypad button[data-key='1']").click()
    WebDriverWait(chrome, 10).until(lambda d: "ended" in d.find_element(By.ID, "fe-waiting").text)
    transcript = chrome.find_element(By.ID, "fe-transcript").text
    assert f"{menu} -> 1" in transcript and f"{play} -> next" in transcript
    assert "the caller waits in queue support (priority 0)" in transcript
    chrome.save_screenshot(str(SHOTS / "ivr-editor-try.png"))


def test_problems_are_shown_on_their_node_and_nothing_is_published(
    box: str, chrome: WebDriver
) -> None:
    base = box
    new_flow(chrome, base, "broken")
    menu = drop(chrome, "menu", 200, 150)
    select_node(chrome, menu)
    Select(chrome.find_element(By.CSS_SELECTOR, "#fe-props select[name=prompt]")).select_by_value(
        "hello"
    )
    chrome.find_element(By.ID, "fe-publish").click()
    WebDriverWait(chrome, 10).until(lambda d: "menu key 1 leads nowhere" in message_text(d))
    box_el = chrome.find_element(By.CSS_SELECTOR, f"[data-node='{menu}']")
    assert "problem" in box_el.get_attribute("class")
    assert "not published" in message_text(chrome)
    [flow] = [f for f in api(base, "/api/ivr/flows") if f["name"] == "broken"]
    assert flow["published_version"] is None


def test_the_editor_in_chinese(box: str, chrome: WebDriver) -> None:
    base = box
    new_flow(chrome, base, "zhongwen")
    switch_language(chrome, "zh_CN")
    editor_ready(chrome)
    palette = chrome.find_element(By.ID, "fe-palette").text
    assert "菜单" in palette and "队列" in palette
    assert chrome.find_element(By.ID, "fe-publish").text == "发布"
    chrome.save_screenshot(str(SHOTS / "ivr-editor-zh.png"))
    switch_language(chrome, "en")


def test_hostile_names_are_text(box: str, chrome: WebDriver) -> None:
    base = box
    new_flow(chrome, base, "hostile")
    play = drop(chrome, "play", 200, 120)
    select_node(chrome, play)
    Select(
        chrome.find_element(By.CSS_SELECTOR, "#fe-props select[name='prompt-kind']")
    ).select_by_value("tts")
    text = chrome.find_element(By.CSS_SELECTOR, "#fe-props textarea[name='prompt-tts']")
    text.send_keys(HOSTILE)
    chrome.find_element(By.CSS_SELECTOR, "#fe-props h3").click()
    summary = chrome.find_element(By.CSS_SELECTOR, f"[data-node='{play}'] .fe-sum").text
    assert HOSTILE in summary
    chrome.find_element(By.ID, "fe-try-start").click()
    WebDriverWait(chrome, 10).until(
        lambda d: HOSTILE in d.find_element(By.ID, "fe-transcript").text
    )
    assert chrome.find_elements(By.CSS_SELECTOR, "img") == []
    chrome.get(base + "/prompts")
    assert HOSTILE in chrome.find_element(By.CSS_SELECTOR, "table.prompts").text
    assert chrome.find_elements(By.CSS_SELECTOR, "img") == []
    logs = json.dumps(chrome.get_log("browser")) if hasattr(chrome, "get_log") else ""
    assert "alert" not in logs
