"""The recording player in real headless Chromium against a running ccboxd: a stereo
recording made by the recorder's own merge from synthesized G.711 legs is found by its
caller's number, plays (its time advances, also after a seek past the first streamed
part), draws its waveform, and shows a hostile caller name as text. Screenshots go to
build/screenshots/ for a person."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from appliance.cli import open_db, resolved
from drivers.audio import g711
from recorder.postprocess import Processed, merge
from tests.support.appliance import prepare
from tests.support.chromium import absent, headless_chromium, login
from tests.support.daemon import running_daemon
from tests.unit.test_qa_form import FORM
from webui.recording_api import MAX_PART

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
CALLER = "13800138000"
LONG_AGENT = "Zhang Min 张敏 (enterprise care team lead)"
LONG_QUEUE = "Technical support 技术支持 for enterprise customers"
LONG_ROWS = 12
WAITING = "/qa/waiting?from=2026-03-01&to=2026-03-02&per_agent=20"
DIRECTIONS = ("inbound", "outbound", "internal")
SECONDS = 40  # 40 s of stereo 16-bit 8 kHz is 1.28 MB: more than one streamed part
RATE = 8000


def leg(tone_hz: float, talking: list[tuple[float, float]]) -> bytes:
    """``SECONDS`` of G.711 mu-law: a tone during the ``talking`` spans, silence elsewhere."""
    samples = []
    for i in range(SECONDS * RATE):
        t = i / RATE
        on = any(a <= t < b for a, b in talking)
        samples.append(int(12000 * math.sin(2 * math.pi * tone_hz * t)) if on else 0)
    return bytes(g711.ulaw_encode(struct.pack(f"<{len(samples)}h", *samples)))


def make_recording(root: Path) -> Processed:
    legs = root.parent / "legs"
    legs.mkdir(parents=True, exist_ok=True)
    rx, tx = legs / "call-rx.ulaw", legs / "call-tx.ulaw"
    rx.write_bytes(leg(440, [(0, 8), (15, 22), (30, 36)]))
    tx.write_bytes(leg(660, [(6, 14), (22, 30), (35, 40)]))
    return merge(rx, tx, root / "2026" / "03" / "01" / "call.wav")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("player")
    processed: dict[str, Processed] = {}

    def seed(db: Any) -> None:
        agent = resolved(db.agents.add("1001", "Ann", "", "PJSIP/1001"))
        resolved(db.agents.link_user(agent.id, resolved(db.users.login_record("agent")).user.id))
        resolved(db.qa.add_form("Standard", FORM, "qa"))
        queue = resolved(db.queues.add("support"))
        p = processed["call"]
        started = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
        resolved(
            db.recordings.add(
                None,
                "2026/03/01/call.wav",
                started,
                p.duration_ms,
                p.size_bytes,
                p.sha256,
                agent_id=agent.id,
                queue_id=queue.id,
                caller_number=CALLER,
                caller_name=HOSTILE,
                called_number="4008001234",
                channel_number=17,
                talk_over_ratio=p.talk_over_ratio,
                silence_ratio=p.silence_ratio,
                caller_talk_ratio=p.caller_talk_ratio,
                agent_talk_ratio=p.agent_talk_ratio,
                peaks=p.peaks,
            )
        )
        resolved(
            db.recordings.add(
                None, "2026/03/01/other.wav", started, 1000, 1, "0" * 64, caller_number="139"
            )
        )
        # a page of rows with the longest names a floor has, for the layout at 1440 px
        lead = resolved(db.agents.add("1002", LONG_AGENT, "", "PJSIP/1002"))
        care = resolved(db.queues.add("care", display_name=LONG_QUEUE))
        for i in range(LONG_ROWS):
            resolved(
                db.recordings.add(
                    None,
                    f"2026/03/02/long-{i}.wav",
                    started + dt.timedelta(days=1, minutes=i),
                    3_723_000,  # 1:02:03
                    p.size_bytes,
                    p.sha256,
                    agent_id=lead.id,
                    queue_id=care.id,
                    direction=DIRECTIONS[i % 3],
                    caller_number=f"+86213800{i:06d}",
                    caller_name=HOSTILE + " Wang Fang 王芳 of Pudong Trading Company Ltd",
                    called_number="4008001234",
                    channel_number=117,
                    talk_over_ratio=0.125,
                    qa_score=88.5,
                )
            )

    # the config (and so the recording root) first, then the file, then the index rows
    config = prepare(tmp / "box")
    processed["call"] = make_recording(config.recording_dir)
    assert processed["call"].size_bytes > MAX_PART
    db = open_db(config)
    try:
        seed(db)
    finally:
        resolved(db.stopService())
    with running_daemon(config.path, tmp) as daemon:
        yield f"http://127.0.0.1:{config.web.port}"
        daemon.stop()


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium(
        "--autoplay-policy=no-user-gesture-required", console_log=True
    ) as driver:
        yield driver


def audio_state(driver: WebDriver) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script(
        "var a = document.getElementById('rec-audio');"
        "return {t: a.currentTime, d: a.duration, paused: a.paused,"
        " error: a.error ? a.error.code : null, ready: a.readyState};"
    )
    return state


def played_to(driver: WebDriver, at_least: float) -> bool:
    state = audio_state(driver)
    assert state["error"] is None, state
    return bool(state["t"] >= at_least)


def test_search_play_seek_and_waveform(box: str, chrome: WebDriver) -> None:
    login(chrome, box)
    chrome.get(box + "/recordings")
    chrome.find_element(By.CSS_SELECTOR, "#rec-search input[name=caller]").send_keys(CALLER)
    chrome.find_element(By.ID, "rec-find").click()
    WebDriverWait(chrome, 10).until(lambda d: "caller=" + CALLER in d.current_url)
    rows = chrome.find_elements(By.CSS_SELECTOR, "#rec-results tbody tr")
    assert len(rows) == 1  # the other caller's recording is not in the result
    caller_cell = rows[0].find_element(By.CSS_SELECTOR, ".rec-caller").text
    assert CALLER in caller_cell and HOSTILE in caller_cell
    assert absent(chrome, "img")
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "recordings-search.png"))

    rows[0].find_element(By.CSS_SELECTOR, "a.rec-open").click()
    WebDriverWait(chrome, 10).until(
        lambda d: (
            d.execute_script(
                "var p = document.getElementById('rec-player'); return p && p.dataset.ready;"
            )
            == "1"
        )
    )
    assert HOSTILE in chrome.find_element(By.ID, "rec-caller").text
    assert absent(chrome, "img")
    WebDriverWait(chrome, 15).until(lambda d: audio_state(d)["ready"] >= 1)
    assert abs(audio_state(chrome)["d"] - SECONDS) < 0.1

    # the waveform has bars: many pixels that are neither the background nor blank
    inked = chrome.execute_script(
        "var c = document.getElementById('rec-wave'), g = c.getContext('2d');"
        "var px = g.getImageData(0, 0, c.width, c.height).data, n = 0;"
        "for (var i = 0; i < px.length; i += 4) {"
        "  if (px[i + 3] && !(px[i] === 244 && px[i + 1] === 247 && px[i + 2] === 251)) n++; }"
        "return n / (c.width * c.height);"
    )
    assert inked > 0.05, inked

    chrome.execute_script("document.getElementById('rec-audio').play();")
    WebDriverWait(chrome, 15).until(lambda d: played_to(d, 0.5))
    chrome.save_screenshot(str(SHOTS / "recording-player.png"))

    # a click at 90% of the waveform seeks to 36 s: past the first 1 MiB part, so the
    # player must fetch the next part by a new Range request
    wave = chrome.find_element(By.ID, "rec-wave")
    offset = int(wave.size["width"] * 0.4)  # from the centre: 50% + 40%
    ActionChains(chrome).move_to_element_with_offset(wave, offset, 0).click().perform()
    WebDriverWait(chrome, 10).until(lambda d: audio_state(d)["t"] >= 35.5)
    WebDriverWait(chrome, 15).until(lambda d: played_to(d, 36.3))
    state = audio_state(chrome)
    assert state["error"] is None and not state["paused"], state
    chrome.save_screenshot(str(SHOTS / "recording-player-seek.png"))
    logs = json.dumps(chrome.get_log("browser"))
    assert "alert" not in logs and "Content Security Policy" not in logs, logs


LAYOUT = """
var de = document.documentElement, wrap = document.querySelector('.rec-table-wrap');
function lines(el) {  // the lines an element's text takes: one rect per line
  var r = document.createRange(); r.selectNodeContents(el);
  var tops = {}; Array.prototype.forEach.call(r.getClientRects(), function (b) {
    if (b.width > 0) tops[Math.round(b.top)] = 1; });
  return Object.keys(tops).length;
}
var broken = [];
document.querySelectorAll('#rec-results .num').forEach(function (el) {
  if (el.textContent.trim() && lines(el) !== 1) broken.push(el.textContent); });
var play = document.querySelector('#rec-results button.rec-play');
var pr = play.getBoundingClientRect(), wr = wrap.getBoundingClientRect();
return {page: [de.scrollWidth, de.clientWidth], table: [wrap.scrollWidth, wrap.clientWidth],
        broken: broken, play: [play.scrollWidth, play.clientWidth, play.textContent.trim()],
        inside: pr.left >= wr.left && pr.right <= wr.right + 0.5,
        directions: Array.prototype.map.call(
          document.querySelectorAll('#rec-results td.rec-direction'),
          function (td) { return [td.dataset.direction, td.textContent.trim()]; })};
"""


def test_the_search_fits_1440_px_and_plays_in_place(box: str, chrome: WebDriver) -> None:
    """At 1440x900 with the longest names: no sideways scroll of the page or the table, the
    numbers on one line each, the whole Listen button, the call's direction; Listen plays
    the recording under the table without leaving the page."""
    login(chrome, box)
    chrome.set_window_size(1440, 900)
    try:
        chrome.get(box + "/recordings")
        for name in ("start", "end"):  # a date picker, its hint a format and not a date
            field = chrome.find_element(By.CSS_SELECTOR, f"#rec-search input[name={name}]")
            assert field.get_attribute("type") == "date"
            assert field.get_attribute("placeholder") == "YYYY-MM-DD"
        layout = chrome.execute_script(LAYOUT)
        assert layout["page"][0] <= layout["page"][1], layout
        assert layout["table"][0] <= layout["table"][1], layout
        assert layout["broken"] == [], layout
        width, visible, label = layout["play"]
        assert label == "Listen" and width <= visible and layout["inside"], layout
        shown = {code: text for code, text in layout["directions"]}
        assert shown == {"inbound": "Inbound", "outbound": "Outbound", "internal": "Internal"}
        assert len(layout["directions"]) == LONG_ROWS + 2
        SHOTS.mkdir(parents=True, exist_ok=True)
        chrome.save_screenshot(str(SHOTS / "recordings-1440.png"))

        page = chrome.current_url
        row = chrome.find_element(
            By.XPATH, f"//table[@id='rec-results']//tr[contains(., '{CALLER}')]"
        )
        rec_id = row.get_attribute("data-id")
        assert chrome.find_element(By.ID, "rec-inline").get_attribute("hidden") is not None
        row.find_element(By.CSS_SELECTOR, "button.rec-play").click()
        WebDriverWait(chrome, 15).until(
            lambda d: (
                d.execute_script("return document.getElementById('rec-inline-audio').currentTime")
                > 0.3
            )
        )
        src = chrome.execute_script("return document.getElementById('rec-inline-audio').currentSrc")
        assert src == f"{box}/api/recordings/audio?id={rec_id}"
        assert chrome.current_url == page
        bar = chrome.find_element(By.ID, "rec-inline")
        assert bar.is_displayed() and CALLER in bar.text
        assert "rec-playing" in (row.get_attribute("class") or "")
        assert absent(chrome, "main img")
        chrome.find_element(By.ID, "rec-inline-close").click()
        assert not bar.is_displayed()
        assert chrome.execute_script("return document.getElementById('rec-inline-audio').paused")
    finally:
        chrome.set_window_size(1366, 768)


def test_a_qa_user_scores_the_call_and_the_agent_sees_it(box: str) -> None:
    """The done-when of recording: a QA user finds the call, scores it on the form (the
    running total as the answers are picked), the score reaches the search; the agent reads
    the evaluation on its own page."""
    with headless_chromium() as qa:
        login(qa, box, "qa")
        qa.set_window_size(1440, 900)
        # the call waits to be scored; the long rows have a score (88.5) and do not
        qa.get(box + WAITING)
        waiting = qa.find_element(By.ID, "qa-waiting").text
        assert CALLER in waiting and LONG_AGENT not in waiting, waiting
        qa.get(box + "/recordings?caller=" + CALLER)
        qa.find_element(By.CSS_SELECTOR, "#rec-results a.rec-open").click()
        WebDriverWait(qa, 10).until(lambda d: d.find_elements(By.ID, "rec-score"))
        qa.find_element(By.ID, "rec-score").click()
        form = WebDriverWait(qa, 10).until(lambda d: d.find_element(By.ID, "qa-score"))
        # the player beside the form: to its left, side by side, and it loads the call
        player = qa.find_element(By.ID, "rec-player").rect
        assert player["x"] + player["width"] <= form.rect["x"], (player, form.rect)
        assert player["y"] < form.rect["y"] + form.rect["height"]
        WebDriverWait(qa, 15).until(
            lambda d: (
                d.execute_script("return document.getElementById('rec-audio').readyState") >= 1
            )
        )
        assert qa.execute_script("return document.getElementById('rec-player').dataset.ready")

        # greeting 1 of 2 (weight 20), solved 3 of 5 (50), compliance 1+2 of 1+4 (30): 58
        for question, value in (("greet", "1"), ("name", "0"), ("verify", "1")):
            form.find_element(By.CSS_SELECTOR, f"input[name=q_{question}][value='{value}']").click()
        assert qa.find_element(By.ID, "qa-total").text.endswith("…")  # not all answered
        for question, value in (("solved", "3"), ("tone", "2")):
            form.find_element(
                By.CSS_SELECTOR, f"select[name=q_{question}] option[value='{value}']"
            ).click()
        WebDriverWait(qa, 5).until(lambda d: d.find_element(By.ID, "qa-total").text == "58.0")
        form.find_element(By.NAME, "comment").send_keys("Good call " + HOSTILE)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(qa, 10).until(
            lambda d: "58" in " ".join(p.text for p in d.find_elements(By.CSS_SELECTOR, ".flash"))
        )
        assert absent(qa, "img")
        SHOTS.mkdir(parents=True, exist_ok=True)
        qa.save_screenshot(str(SHOTS / "qa-score.png"))
        qa.get(box + "/recordings?caller=" + CALLER)
        row = qa.find_element(By.CSS_SELECTOR, "#rec-results tbody tr")
        assert "58" in [td.text for td in row.find_elements(By.TAG_NAME, "td")], row.text
        qa.get(box + WAITING)  # scored: no longer waiting
        assert "No recorded calls wait" in qa.find_element(By.ID, "qa-waiting-empty").text
    with headless_chromium() as agent:
        login(agent, box, "agent")
        agent.get(box + "/qa/mine")
        mine = agent.find_element(By.CSS_SELECTOR, "table.qa-mine tbody tr")
        assert "Standard" in mine.text and "58" in mine.text
        assert mine.find_element(By.CLASS_NAME, "qa-comment").text == "Good call " + HOSTILE
        assert absent(agent, "main img")
