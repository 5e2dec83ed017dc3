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
from ivr import sample_center
from ivr.prompt_audio import tone_wav, write_atomically
from tests.support.appliance import prepare
from tests.support.chromium import absent, headless_chromium, login, switch_language
from tests.support.daemon import running_daemon
from tests.support.http import Browser

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
PROMPT_ID = "p-5dea0e91c2"
SPOKEN = "您好，欢迎致电"  # noqa: RUF001 - a Chinese sentence


def seed(db: Any) -> None:
    resolved(db.queues.add("support"))
    resolved(db.voicemail.add_mailbox("800", "Front desk"))
    resolved(db.ivr.add_prompt("hello", "upload", 500, "", "test", HOSTILE))
    resolved(db.ivr.create_flow(sample_center.NAME, sample_center.flow(), "admin"))
    resolved(db.ivr.add_prompt(PROMPT_ID, "upload", 800, "", "admin", "Welcome greeting", "en"))
    resolved(db.ivr.add_prompt("p-0c1a", "tts", 900, "", "admin", "", "zh", SPOKEN))


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
    assert absent(chrome, "img")
    chrome.get(base + "/prompts")
    assert HOSTILE in chrome.find_element(By.CSS_SELECTOR, "table.prompts").text
    assert absent(chrome, "img")
    logs = json.dumps(chrome.get_log("browser")) if hasattr(chrome, "get_log") else ""
    assert "alert" not in logs


# The canvas's visible box and every node's box, on the screen; the zoom; overlapping nodes.
BOXES = """
var c = document.getElementById('fe-canvas'), r = c.getBoundingClientRect();
var view = {left: r.left + c.clientLeft, top: r.top + c.clientTop};
view.right = view.left + c.clientWidth; view.bottom = view.top + c.clientHeight;
var nodes = Array.prototype.map.call(document.querySelectorAll('.fe-node'), function (n) {
  var b = n.getBoundingClientRect();
  return {id: n.dataset.node, left: b.left, top: b.top, right: b.right, bottom: b.bottom}; });
var overlaps = [];
nodes.forEach(function (a, i) { nodes.slice(i + 1).forEach(function (b) {
  if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
    overlaps.push(a.id + '/' + b.id); }); });
return {view: view, nodes: nodes, overlaps: overlaps, scroll: [c.scrollWidth, c.clientWidth],
        zoom: document.getElementById('flow-editor').dataset.zoom};
"""


def outside(boxes: dict[str, Any]) -> list[str]:
    v = boxes["view"]
    return [
        n["id"]
        for n in boxes["nodes"]
        if n["left"] < v["left"] - 0.5
        or n["top"] < v["top"] - 0.5
        or n["right"] > v["right"] + 0.5
        or n["bottom"] > v["bottom"] + 0.5
    ]


def test_the_sample_flow_fits_1440_px_and_zooms(box: str, chrome: WebDriver) -> None:
    """At 1440x900 the sample flow is as wide as the canvas at 100 % (no node on another);
    Fit (the button or the 0 key) shows every node inside the canvas's visible box; + and -
    step the zoom, and a node dropped while zoomed lands under the pointer."""
    login(chrome, box)
    flows = {f["name"]: f["id"] for f in api(box, "/api/ivr/flows")}
    chrome.set_window_size(1440, 900)
    try:
        chrome.get(f"{box}/flows/editor?id={flows[sample_center.NAME]}")
        editor_ready(chrome)
        boxes = chrome.execute_script(BOXES)
        assert len(boxes["nodes"]) == len(sample_center.flow()["nodes"])
        assert boxes["overlaps"] == [], boxes["overlaps"]
        assert boxes["scroll"][0] <= boxes["scroll"][1], boxes["scroll"]  # no sideways scroll
        assert chrome.find_element(By.ID, "fe-zoom-level").text == "100%"

        chrome.find_element(By.ID, "fe-fit").click()
        boxes = chrome.execute_script(BOXES)
        assert outside(boxes) == [], (outside(boxes), boxes["view"])
        assert boxes["scroll"][0] <= boxes["scroll"][1], boxes["scroll"]
        fitted = float(boxes["zoom"])
        assert 0.5 < fitted <= 1, fitted
        assert chrome.find_element(By.ID, "fe-zoom-level").text == f"{round(fitted * 100)}%"
        SHOTS.mkdir(parents=True, exist_ok=True)
        chrome.save_screenshot(str(SHOTS / "flow-editor-sample-fit.png"))

        body = chrome.find_element(By.TAG_NAME, "body")
        body.send_keys("+")
        zoom = float(chrome.execute_script(BOXES)["zoom"])
        assert abs(zoom - min(2, fitted * 1.25)) < 0.01, zoom
        chrome.find_element(By.ID, "fe-zoom-out").click()
        chrome.find_element(By.ID, "fe-zoom-out").click()
        zoom = float(chrome.execute_script(BOXES)["zoom"])
        assert abs(zoom - fitted / 1.25) < 0.01, zoom
        # a node dropped at the zoom lands where it is dropped, in the flow's units
        dropped = drop(chrome, "collect", 300, 200)
        at = chrome.execute_script(
            "var n = document.querySelector(\"[data-node='" + dropped + "']\");"
            "var c = document.getElementById('fe-canvas').getBoundingClientRect();"
            "var b = n.getBoundingClientRect(); return [b.left - c.left, b.top - c.top];"
        )
        assert abs(at[0] + 95 * zoom - 300) < 12 and abs(at[1] + 15 * zoom - 200) < 12, at
        body.send_keys("0")
        assert outside(chrome.execute_script(BOXES)) == []
        # keys typed into a field are the field's, not the zoom's
        select_node(chrome, dropped)
        before = chrome.execute_script(BOXES)["zoom"]
        field = next(
            f
            for f in chrome.find_elements(By.CSS_SELECTOR, "#fe-props input, #fe-props textarea")
            if f.is_displayed() and f.get_attribute("type") in ("text", "", None, "textarea")
        )
        field.send_keys("-0")
        assert chrome.execute_script(BOXES)["zoom"] == before
    finally:
        chrome.set_window_size(1366, 768)


def test_prompts_are_listed_by_name_in_the_ui_language(box: str, chrome: WebDriver) -> None:
    """The prompt list and the editor's picker show a prompt's label (or its text), the id
    smaller beside it; a new prompt's language is the page's."""
    login(chrome, box)
    chrome.get(box + "/prompts")
    rows = {
        r.get_attribute("data-prompt"): r
        for r in chrome.find_elements(By.CSS_SELECTOR, "table.prompts tbody tr")
    }
    greeting = rows[PROMPT_ID].find_element(By.CSS_SELECTOR, ".prompt-name")
    assert greeting.find_element(By.CLASS_NAME, "prompt-title").text == "Welcome greeting"
    assert greeting.find_element(By.CLASS_NAME, "prompt-id").text == PROMPT_ID
    spoken = rows["p-0c1a"].find_element(By.CLASS_NAME, "prompt-title").text
    assert spoken == SPOKEN  # no label: its text
    assert rows["hello"].find_element(By.CLASS_NAME, "prompt-title").text == HOSTILE
    titles = [
        r.find_element(By.CLASS_NAME, "prompt-title").text
        for r in chrome.find_elements(By.CSS_SELECTOR, "table.prompts tbody tr")
    ]
    assert titles == sorted(titles, key=str.casefold)
    for name in ("language", "lang"):
        picked = Select(chrome.find_element(By.CSS_SELECTOR, f"form select[name={name}]"))
        assert picked.first_selected_option.get_attribute("value") == "en"
    switch_language(chrome, "zh_CN")
    for name in ("language", "lang"):
        picked = Select(chrome.find_element(By.CSS_SELECTOR, f"form select[name={name}]"))
        assert picked.first_selected_option.get_attribute("value") == "zh"
    switch_language(chrome, "en")

    new_flow(chrome, box, "prompt-names")
    select_node(chrome, drop(chrome, "play", 300, 120))
    picker = Select(chrome.find_element(By.CSS_SELECTOR, "#fe-props select[name=prompt]"))
    shown = {o.get_attribute("value"): o.text for o in picker.options}
    assert shown[PROMPT_ID] == "Welcome greeting · " + PROMPT_ID
    picker.select_by_value(PROMPT_ID)
    play = chrome.find_element(By.CSS_SELECTOR, ".fe-node.selected .fe-sum").text
    assert play == "Welcome greeting · " + PROMPT_ID
    assert absent(chrome, "img")
