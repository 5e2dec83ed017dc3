"""The wallboard in real headless Chromium against the running ccboxd and the switch
simulator (tests/support/live_box.py): a simulated call arrives (waiting 1, the longest
wait ticks), the agent answers (waiting 0, answered 1, one agent on call), each within a
couple of seconds; the threshold colors come from the settings; a lost connection shows.
Screenshots in English and Chinese go to build/screenshots/ for a person."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.chromium import headless_chromium, login, switch_language
from tests.support.live_box import QUEUE_DISPLAY, LiveBox, live_box

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
ALARM_RGB = "rgba(255, 0, 255, 1)"  # #ff00ff: no default is this, so it proves the setting
FLOOR = [str(n) for n in range(3001, 3041)]  # forty billing agents
SIZES = ((1440, 757), (1920, 1080))  # a laptop's browser, a big screen
DAHDI_FIXTURES = ROOT / "tests" / "fixtures" / "dahdi"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    def seed(db: Any, ids: dict[str, int]) -> None:
        from appliance.cli import resolved

        resolved(db.queues.add("hostile", HOSTILE, skills={ids["tech"]: 9}))
        # Five queues in all (two rows at 1440 px) and a floor of agents more than fits.
        billing = resolved(db.skills.add("billing")).id
        resolved(db.queues.add("sales", "Sales 销售", skills={ids["tech"]: 3}))
        ids["billing"] = resolved(db.queues.add("billing", "Billing 账务", skills={billing: 3})).id
        resolved(db.queues.add("care", "Customer care 客户关怀", skills={ids["tech"]: 8}))
        for number in FLOOR:
            agent = resolved(db.agents.add(number, f"Agent {number}", "Billing", f"PJSIP/{number}"))
            resolved(db.agents.set_skill(agent.id, billing, 5))
        resolved(
            db.settings.set_wallboard(
                {
                    "waiting_warning": 1,
                    "waiting_alarm": 1,  # one caller waiting is an alarm here
                    "longest_wait_warning_s": 30,
                    "longest_wait_alarm_s": 90,
                    "service_level_warning": 80,
                    "service_level_alarm": 60,
                    "color_normal": "#2ea043",
                    "color_warning": "#f2c744",
                    "color_alarm": "#ff00ff",
                },
                "test",
            )
        )

    tmp = tmp_path_factory.mktemp("wallboard")
    use_dahdi_tree(tmp / "proc-dahdi", "healthy")  # an E1 card, its spans OK
    with live_box(tmp, seed=seed, dahdi_root=tmp / "proc-dahdi") as b:
        yield b


def use_dahdi_tree(root: Path, tree: str) -> None:
    """/proc/dahdi's files become the fixture tree's, each replaced whole (the monitor never
    reads a half-copied tree, nor none)."""
    root.mkdir(exist_ok=True)
    for source in (DAHDI_FIXTURES / tree / "proc" / "dahdi").iterdir():
        shutil.copyfile(source, root / f".{source.name}.tmp")
        os.replace(root / f".{source.name}.tmp", root / source.name)


@pytest.fixture(scope="module")
def floor(box: LiveBox) -> list[str]:
    """The forty billing agents, logged in (once for the module)."""
    box.agents_login(*FLOOR)
    return FLOOR


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium("--window-size=1920,1080", console_log=True) as driver:
        yield driver


def field(driver: WebDriver, queue_id: int, name: str) -> str:
    el = driver.find_element(By.CSS_SELECTOR, f'[data-queue-id="{queue_id}"] [data-field="{name}"]')
    return str(el.text)


def chip(driver: WebDriver, scope: str, state: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, f'{scope} [data-state="{state}"] b').text)


def within(seconds: float, what: str, check: Callable[[], bool], driver: WebDriver) -> float:
    """Wait until ``check()``; return how long it took."""
    start = time.monotonic()
    wait = WebDriverWait(
        driver, seconds, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
    )
    wait.until(lambda d: check(), what)
    return time.monotonic() - start


def seconds_of(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def test_call_arrives_and_is_answered(box: LiveBox, chrome: WebDriver) -> None:
    support = box.ids["support"]
    box.agents_login("1001", "1002")
    box.acd("pause", "1001", "lunch")
    box.acd("pause", "1002", "lunch")
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/wallboard")
    assert chrome.execute_script("return document.querySelectorAll('.topbar').length") == 0
    within(5, "the feed", lambda: live(chrome), chrome)
    within(3, "the snapshot", lambda: field(chrome, support, "waiting") == "0", chrome)
    name = chrome.find_element(By.CSS_SELECTOR, f'[data-queue-id="{support}"] .wb-qname')
    assert name.text == QUEUE_DISPLAY
    assert chip(chrome, f'[data-queue-id="{support}"]', "paused") == "2"
    assert field(chrome, support, "answered") == "0"

    call = box.call(caller_number="13900139000", caller_name="Wang Wu")
    took = within(3, "waiting 1", lambda: field(chrome, support, "waiting") == "1", chrome)
    assert took < 2.5, took
    waiting = chrome.find_element(
        By.CSS_SELECTOR, f'[data-queue-id="{support}"] [data-field="waiting"]'
    )
    assert waiting.get_attribute("data-level") == "alarm"
    assert waiting.value_of_css_property("color") == ALARM_RGB
    assert chrome.find_element(By.CSS_SELECTOR, '#wb-totals [data-field="waiting"]').text == "1"
    first = seconds_of(field(chrome, support, "longest_wait"))
    within(
        4,
        "the wait ticking",
        lambda: seconds_of(field(chrome, support, "longest_wait")) >= first + 2,
        chrome,
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "wallboard.png"))

    box.devices({"PJSIP/1001": {"ring_s": 0.5, "talk_s": 60}})
    box.acd("unpause", "1001")
    took = within(
        4,
        "answered",
        lambda: (
            field(chrome, support, "waiting") == "0"
            and field(chrome, support, "answered") == "1"
            and chip(chrome, f'[data-queue-id="{support}"]', "on_call") == "1"
        ),
        chrome,
    )
    assert took < 3, took  # 0.5 s of ringing, then the feed
    assert chip(chrome, "#wb-totals", "on_call") == "1"
    assert chrome.find_element(By.CSS_SELECTOR, '#wb-totals [data-field="answered"]').text == "1"
    assert field(chrome, support, "longest_wait") == "0:00"
    assert field(chrome, support, "service_level") == "100%"
    box.hangup(call)
    box.wait_call_ended(call)
    errors = [
        e
        for e in chrome.get_log("browser")  # type: ignore[attr-defined]
        if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
    ]
    assert errors == [], errors


def test_hostile_queue_name_is_text(box: LiveBox, chrome: WebDriver) -> None:
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/wallboard")
    names = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".wb-qname")]
    assert HOSTILE in names
    assert chrome.execute_script("return document.images.length") == 0  # text, not an element
    # the script fills the card from the feed (the server renders dashes) and rewrites the
    # name from the feed's display_name, as text
    hostile = next(
        q
        for q in chrome.find_elements(By.CSS_SELECTOR, ".wb-queue")
        if q.find_element(By.CSS_SELECTOR, ".wb-qname").text == HOSTILE
    )
    waiting = hostile.find_element(By.CSS_SELECTOR, '[data-field="waiting"]')
    within(5, "the feed", lambda: waiting.text == "0", chrome)
    assert chrome.execute_script("return document.images.length") == 0


def test_chinese_and_small_screen(box: LiveBox, chrome: WebDriver) -> None:
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/")  # the wallboard has no nav bar: switch on the dashboard
    switch_language(chrome, "zh_CN")
    try:
        chrome.get(box.url + "/wallboard")
        assert chrome.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
        within(5, "the feed", lambda: live(chrome), chrome)
        support = box.ids["support"]
        within(3, "the numbers", lambda: field(chrome, support, "answered") == "1", chrome)
        SHOTS.mkdir(parents=True, exist_ok=True)
        chrome.save_screenshot(str(SHOTS / "wallboard-zh_CN.png"))
        chrome.set_window_size(1366, 768)
        width = chrome.execute_script("return document.documentElement.scrollWidth")
        assert width <= 1366, width  # nothing sticks out sideways on a small screen
        chrome.save_screenshot(str(SHOTS / "wallboard-1366.png"))
        # (the zh_CN strings: /tmp/ccbox-zh/wallboard.json, once merged into the catalog)
        assert chrome.find_element(By.CSS_SELECTOR, ".wb-head h1").text == "大屏"
        labels = chrome.find_elements(By.CSS_SELECTOR, f'[data-queue-id="{support}"] .wb-label')
        assert [e.text for e in labels] == ["等待中", "最长等待", "服务水平"]
        # (the board lays itself out again after the resize: wait for the chip to be drawn)
        within(
            3,
            "the support queue's available chip",
            lambda: chip(chrome, f'[data-queue-id="{support}"]', "available") == "1",
            chrome,
        )
        state = chrome.find_element(By.CSS_SELECTOR, '#wb-totals [data-state="available"] span')
        assert state.text == "空闲"  # the script's texts are translated too
    finally:
        chrome.set_window_size(1920, 1080)
        chrome.get(box.url + "/")
        switch_language(chrome, "en")


def test_admin_changes_the_colors(box: LiveBox, chrome: WebDriver) -> None:
    chrome.get(box.url + "/")  # the supervisor logs out; the admin logs in
    chrome.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    WebDriverWait(chrome, 5).until(lambda d: "/login" in d.current_url)
    login(chrome, box.url, "admin")
    chrome.get(box.url + "/wallboard/settings")
    form = chrome.find_element(By.ID, "wb-settings")
    # a color input has no keyboard entry in headless Chromium: set its value as a picker would
    chrome.execute_script(
        "arguments[0].querySelector('[name=color_normal]').value = '#00ccff';", form
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "wallboard-settings.png"))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(chrome, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".flash"))
    chrome.get(box.url + "/wallboard")
    within(5, "the feed", lambda: live(chrome), chrome)
    support = box.ids["support"]
    waiting = chrome.find_element(
        By.CSS_SELECTOR, f'[data-queue-id="{support}"] [data-field="waiting"]'
    )
    within(3, "the numbers", lambda: waiting.text == "0", chrome)
    assert waiting.value_of_css_property("color") == "rgba(0, 204, 255, 1)"


def viewport(driver: WebDriver, width: int, height: int) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def outside(driver: WebDriver) -> list[str]:
    """Every row and tile shown that is not wholly inside the viewport."""
    script = """
      var out = [], w = window.innerWidth, h = window.innerHeight;
      document.querySelectorAll('.wb-head, #wb-totals, .wb-queue, .wb-tile').forEach(function (e) {
        var r = e.getBoundingClientRect();
        if (!r.width && !r.height) return; // hidden
        if (r.left < 0 || r.top < 0 || r.right > w + 0.5 || r.bottom > h + 0.5)
          out.push(e.className + ' ' + JSON.stringify([r.left, r.top, r.right, r.bottom, w, h]));
      });
      return out;"""
    return list(driver.execute_script(script))


def tiles(driver: WebDriver) -> dict[str, dict[str, str]]:
    """The agent tiles shown: number -> name, state, time, handled (one script: a round
    trip per element would take seconds for forty tiles)."""
    script = """
      var out = {};
      document.querySelectorAll('.wb-tile[data-agent-id]').forEach(function (t) {
        if (t.hidden || !t.getBoundingClientRect().height) return;
        var parts = {};
        ['name', 'state', 'time', 'handled'].forEach(function (k) {
          parts[k] = t.querySelector('.wb-tile-' + k).textContent;
        });
        out[parts.name.split(' ')[0]] = parts;
      });
      return out;"""
    return dict(driver.execute_script(script))


def more(driver: WebDriver) -> int:
    text = driver.execute_script(
        "var m = document.querySelector('.wb-more'); return m && !m.hidden ? m.textContent : '';"
    )
    return int(text.strip("+").split()[0]) if text else 0


def test_everything_fits_with_agent_tiles(
    box: LiveBox, chrome: WebDriver, floor: list[str]
) -> None:
    """At 1440x757 and 1920x1080 every row and tile is on the screen (five queues, 42
    agents logged in: the tiles that do not fit are counted on "+N more"); a tile shows the
    agent's state, its time in state ticking and its calls today."""
    login(chrome, box.url, "sup")
    try:
        for width, height in SIZES:
            viewport(chrome, width, height)
            chrome.get(box.url + "/wallboard")
            within(5, "the feed", lambda: live(chrome), chrome)
            within(3, "the tiles", lambda: len(tiles(chrome)) > 4 and more(chrome) > 0, chrome)
            assert chrome.execute_script("return [innerWidth, innerHeight]") == [width, height]
            assert len(chrome.find_elements(By.CSS_SELECTOR, ".wb-queue")) == 5
            assert outside(chrome) == []
            shown = tiles(chrome)
            agents = box.api("/api/acd/snapshot", username="sup").json()["agents"]
            logged_in = {a["number"] for a in agents if a["state"] != "logged_out"}
            assert len(logged_in) >= len(FLOOR)
            assert len(shown) + more(chrome) == len(logged_in), (len(shown), more(chrome))
            assert set(shown) < logged_in  # (not 1003: logged out)
            SHOTS.mkdir(parents=True, exist_ok=True)
            chrome.save_screenshot(str(SHOTS / f"wallboard-{width}x{height}.png"))
        # 1001 answered the first test's call; 1002 is paused since then.
        assert shown["1001"]["handled"] == "1 call"
        assert (shown["1002"]["state"], shown["1002"]["handled"]) == ("Paused", "0 calls")
        first = seconds_of(shown["1002"]["time"])
        within(
            3, "the time ticking", lambda: seconds_of(tiles(chrome)["1002"]["time"]) > first, chrome
        )
    finally:
        chrome.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_each_screen_chooses_its_queues(box: LiveBox, chrome: WebDriver, floor: list[str]) -> None:
    """Chosen on the page and kept in the URL: the queues in the order given, their agents
    only, the totals over them; an unknown queue name is refused with the names there are."""
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/wallboard")
    within(5, "the feed", lambda: live(chrome), chrome)
    chrome.find_element(By.CSS_SELECTOR, "#wb-choose summary").click()
    for name in ("billing", "support"):
        chrome.find_element(By.CSS_SELECTOR, f"#wb-choose input[value='{name}']").click()
    chrome.find_element(By.CSS_SELECTOR, "#wb-choose-form button").click()
    within(5, "the chosen screen", lambda: "?queues=" in chrome.current_url, chrome)
    assert chrome.current_url.endswith("/wallboard?queues=support,billing")  # the page's order
    within(5, "the feed", lambda: live(chrome), chrome)
    cards = chrome.find_elements(By.CSS_SELECTOR, ".wb-queue")
    assert [c.get_attribute("data-queue-id") for c in cards] == [
        str(box.ids["support"]),
        str(box.ids["billing"]),
    ]
    # The order is the URL's; billing's agents only: the forty, not 1001 or 1002.
    chrome.get(box.url + "/wallboard?queues=billing")
    within(5, "the feed", lambda: live(chrome), chrome)
    within(3, "billing's agents", lambda: len(tiles(chrome)) > 4, chrome)
    assert set(tiles(chrome)) <= set(FLOOR)
    assert len(tiles(chrome)) + more(chrome) == len(FLOOR)
    assert chip(chrome, "#wb-totals", "available") == str(len(FLOOR))
    assert chip(chrome, "#wb-totals", "paused") == "0"  # 1002 serves support, not billing
    assert chrome.find_element(By.CSS_SELECTOR, "#wb-totals h2").text == "These queues"
    assert chrome.find_element(By.CSS_SELECTOR, "#wb-choose summary").text == "Queues (1)"
    chrome.get(box.url + "/wallboard?queues=billing,nope")
    error = chrome.find_element(By.ID, "wb-error").text
    assert error == ("No such queue: nope. The queues are: support, hostile, sales, billing, care.")
    assert chrome.execute_script("return document.querySelectorAll('.wb-queue').length") == 0
    assert chrome.find_element(By.ID, "wb-choose").get_attribute("open") is not None


def test_a_span_in_alarm_shows_a_banner(box: LiveBox, chrome: WebDriver) -> None:
    """Span 2's line goes down (the alarmed tree) and comes back: the banner names the span
    and its alarm while it lasts (the span monitor polls every second here)."""
    root = box.config.dahdi.proc_root
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/wallboard")
    within(5, "the feed", lambda: live(chrome), chrome)
    banner = chrome.find_element(By.ID, "wb-spans")
    assert not banner.is_displayed()
    use_dahdi_tree(root, "alarmed")
    try:
        within(5, "the banner", lambda: banner.is_displayed(), chrome)
        line = "Trunk alarm: span 2 TE2/0/2: RED (Red alarm: no signal from the line)"
        assert banner.text == line
        assert banner.value_of_css_property("background-color") == "rgba(198, 40, 40, 1)"
        SHOTS.mkdir(parents=True, exist_ok=True)
        chrome.save_screenshot(str(SHOTS / "wallboard-span-alarm.png"))
    finally:
        use_dahdi_tree(root, "healthy")
    within(5, "the banner gone", lambda: not banner.is_displayed(), chrome)
    chrome.get(box.url + "/wallboard")  # a fresh snapshot has no span in alarm either
    within(5, "the feed", lambda: live(chrome), chrome)
    assert not chrome.find_element(By.ID, "wb-spans").is_displayed()


def test_connection_lost_shows(box: LiveBox, chrome: WebDriver) -> None:
    """The last test: ccboxd stops under the open page (as in a restart)."""
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/wallboard")
    within(5, "the feed", lambda: live(chrome), chrome)
    assert not chrome.find_element(By.ID, "wb-lost").is_displayed()
    box.daemon.stop()
    within(
        5, "the lost banner", lambda: chrome.find_element(By.ID, "wb-lost").is_displayed(), chrome
    )
    assert chrome.find_element(By.ID, "wb-conn").get_attribute("data-state") == "lost"


def live(driver: WebDriver) -> bool:
    return driver.find_element(By.ID, "wb-conn").get_attribute("data-state") == "live"
