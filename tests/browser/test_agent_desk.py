"""The agent desktop in real headless Chromium against ccboxd and the switch simulator
(tests/support/live_box.py): a call from a known number with a hostile caller ID name rings
agent 1001 and is answered; the desk pops the customer's name and shows the caller name as
text (no element, no alert); a notice a supervisor posts scrolls in; after the call the
disposition and notes are saved and come back in the pop, and the caller's number goes on the
do-not-call list. Screenshot:
build/screenshots/agent-desk.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from tests.support.chromium import absent, headless_chromium, login
from tests.support.live_box import QUEUE_DISPLAY, LiveBox, live_box

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
CALLER = "13912345678"
CUSTOMER = "Wang Fang 王芳"


def seed(db: Any, ids: dict[str, int]) -> None:
    customers = CustomerStore(db)
    resolved(
        customers.create("admin", CUSTOMER, [CALLER], "vip", "wf@example.com", "ACC-2026", "VIP")
    )


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("desk"), seed=seed) as b:
        yield b


def agent_state(box: LiveBox) -> dict[str, Any]:
    r = box.api("/api/acd/state?agent=1001", username="sup")
    assert r.status == 200, r.body
    state: dict[str, Any] = r.json()
    return state


def open_desk(box: LiveBox, driver: WebDriver) -> WebDriverWait[WebDriver]:
    """Agent 1001's desk, open and showing the agent ready; a wait for what follows."""
    login(driver, box.url, "agent")
    driver.get(box.url + "/desk")
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: text(d, "#desk-state-name") == "Ready")
    return wait


def text(driver: WebDriver, css: str) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def no_alert(driver: WebDriver) -> None:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    raise AssertionError(f"the page ran an alert: {alert.text!r}")


# The page's size, its top bar's height, and what sticks out to the right of the screen
# (inside a box that scrolls or clips, like the nav or the notice ticker, is not sticking out).
PHONE_FIT = """
var de = document.documentElement;
function clipped(e) {
  for (var p = e.parentElement; p && p !== document.body; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== 'visible') return true;
  return false;
}
var wide = Array.prototype.filter.call(document.querySelectorAll('body *'), function (e) {
  return e.getBoundingClientRect().right > de.clientWidth + 0.5 && !clipped(e); });
return {inner: innerWidth, height: innerHeight, scroll: de.scrollWidth,
        body: document.body.scrollWidth,
        header: document.querySelector('header.topbar').getBoundingClientRect().height,
        wide: wide.slice(0, 6).map(function (e) {
          return e.tagName + '#' + e.id + '.' + e.className; }).join(' ')};
"""


def on_a_phone(driver: WebDriver) -> None:
    """The desk with its call panel on a 390x844 phone: nothing wider than the screen, the
    top bar under a tenth of its height, the state and the pop's caller readable."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        # not "mobile": a phone's browser widens its layout to content wider than the
        # screen, which would hide the overflow this is looking for
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        # the same page, laid out again (a reload would drop the ended call's panel)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return innerWidth") == 390)
        assert text(driver, "#pop-number") == CALLER
        fit = driver.execute_script(PHONE_FIT)
        assert fit["inner"] == 390 and fit["height"] == 844, fit
        assert fit["wide"] == "", fit["wide"]
        assert fit["scroll"] <= fit["inner"] and fit["body"] <= fit["inner"], fit
        assert fit["header"] < 0.1 * fit["height"], fit
        state = driver.find_element(By.ID, "desk-state-name")
        assert state.text and state.rect["x"] + state.rect["width"] <= 390
        driver.save_screenshot(str(SHOTS / "agent-desk-phone.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_an_agent_works_a_call_from_the_desk(box: LiveBox) -> None:
    box.agents_login("1001")
    box.devices({"PJSIP/1001": {"ring_s": 1.5, "talk_s": 6}})
    with headless_chromium() as driver:
        wait = open_desk(box, driver)
        wait.until(
            lambda d: d.find_element(By.ID, "desk-conn").get_attribute("data-state") == "live"
        )

        r = box.api(
            "/api/notices/",
            {"text": "Outage in Pudong: " + HOSTILE, "level": "urgent", "minutes": 30},
            "sup",
        )
        assert r.status == 200, r.body
        wait.until(lambda d: "Outage in Pudong" in text(d, "#desk-notices-track"))
        track = driver.find_element(By.ID, "desk-notices-track")
        assert "scrolling" in (track.get_attribute("class") or "")
        assert absent(driver, "img", track)
        assert HOSTILE in track.get_attribute("textContent")

        call = box.call(caller_number=CALLER, caller_name=HOSTILE)
        # ringing: the panel appears with the caller; answered: it fills
        wait.until(lambda d: d.find_element(By.ID, "desk-pop").is_displayed())
        wait.until(lambda d: text(d, "#pop-name") == HOSTILE)
        assert text(driver, "#pop-number") == CALLER
        wait.until(lambda d: text(d, "#pop-customer .pop-name") == CUSTOMER)
        assert text(driver, "#pop-customer .pop-account") == "ACC-2026"
        wait.until(
            lambda d: d.find_element(By.ID, "desk-pop").get_attribute("data-state") == "answered"
        )
        wait.until(lambda d: text(d, "#desk-state-name") == "On a call")
        assert text(driver, "#pop-tickets") == "No open tickets."
        assert text(driver, "#pop-class") == "VIP"
        assert absent(driver, "#desk-pop img")
        no_alert(driver)
        call_id = int(driver.find_element(By.ID, "desk-pop").get_attribute("data-call-id") or 0)
        assert call_id > 0

        # the caller hangs up after talk_s: wrap-up, then the notes
        box.wait_call_ended(call)
        wait.until(
            lambda d: d.find_element(By.ID, "desk-pop").get_attribute("data-state") == "ended"
        )
        Select(driver.find_element(By.ID, "notes-disposition")).select_by_value("follow_up")
        driver.find_element(By.ID, "notes-text").send_keys("Call back about the bill " + HOSTILE)
        driver.find_element(By.ID, "notes-save").click()
        wait.until(lambda d: text(d, "#notes-msg") == "Saved.")
        wait.until(lambda d: "Call back about the bill" in text(d, "#pop-notes"))
        assert absent(driver, "#pop-notes img")
        no_alert(driver)
        # "don't call me": the shown call's number on the do-not-call list, then once more
        driver.find_element(By.ID, "dnc-add").click()
        wait.until(lambda d: text(d, "#dnc-msg") == f"{CALLER} will not be called again")
        driver.find_element(By.ID, "dnc-add").click()
        wait.until(lambda d: "already" in text(d, "#dnc-msg"))
        assert text(driver, "#dnc-msg") == f"{CALLER} is on the do-not-call list already"
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(SHOTS / "agent-desk.png"))
        on_a_phone(driver)

    pop = box.api(f"/api/desk/pop?call_id={call_id}", username="sup").json()
    assert pop["caller_name"] == HOSTILE
    assert [(n["disposition"], n["notes"]) for n in pop["notes"]] == [
        ("follow_up", "Call back about the bill " + HOSTILE)
    ]


def test_the_desk_buttons_reach_the_acd_and_the_recorder(box: LiveBox) -> None:
    """State buttons, the transfer form and the recording buttons, clicked in the page: each
    reaches the ACD or the switch (MixMonitorMute seen by the simulator), and the page shows
    what the server answered."""
    state = agent_state(box)["state"]
    if state != "available":  # whatever the test before left
        box.acd({"logged_out": "login", "wrap_up": "wrapup_done"}.get(state, "unpause"), "1001")
    box.devices({"PJSIP/1001": {"ring_s": 0.5, "talk_s": 8}})
    with headless_chromium() as driver:
        wait = open_desk(box, driver)
        Select(driver.find_element(By.ID, "pause-reason")).select_by_value("lunch")
        driver.find_element(By.ID, "btn-pause").click()
        wait.until(lambda d: text(d, "#desk-state-name") == "Paused")
        assert text(driver, "#desk-state-reason") == "Lunch"
        assert agent_state(box)["reason"] == "lunch"
        assert driver.find_element(By.ID, "btn-pause").get_attribute("disabled") is not None
        # no call: the transfer is refused, with the server's reason
        driver.find_element(By.ID, "transfer-target").send_keys("support")
        driver.find_element(By.CSS_SELECTOR, "#desk-transfer button[type=submit]").click()
        wait.until(lambda d: "has no call to transfer" in text(d, "#desk-call-msg"))
        driver.find_element(By.ID, "btn-ready").click()
        wait.until(lambda d: text(d, "#desk-state-name") == "Ready")
        assert agent_state(box)["state"] == "available"
        for button in ("btn-rec-pause", "btn-rec-resume", "btn-rec-start"):
            assert driver.find_element(By.ID, button).get_attribute("disabled") is not None

        call = box.call(caller_number=CALLER, caller_name="Li Lei")
        wait.until(lambda d: text(d, "#desk-state-name") == "On a call")
        wait.until(lambda d: text(d, "#desk-rec-state") == "Recorded")
        assert driver.find_element(By.ID, "btn-rec-start").get_attribute("disabled") is not None
        mark = box.mark()
        driver.find_element(By.ID, "btn-rec-pause").click()
        wait.until(lambda d: text(d, "#desk-rec-state") == "Recording paused")
        assert text(driver, "#desk-call-msg") == "Recording paused."
        box.wait_action("MixMonitorMute", where=lambda h: h.get("State") == "1", since=mark)
        driver.find_element(By.ID, "btn-rec-resume").click()
        wait.until(lambda d: text(d, "#desk-rec-state") == "Recorded")
        box.wait_action("MixMonitorMute", where=lambda h: h.get("State") == "0", since=mark)
        box.wait_call_ended(call)
        wait.until(
            lambda d: d.find_element(By.ID, "desk-rec-state").get_attribute("data-state") == "none"
        )
        assert driver.find_element(By.ID, "btn-rec-pause").get_attribute("disabled") is not None


def test_a_supervisor_posts_and_withdraws_a_notice_on_the_notices_page(box: LiveBox) -> None:
    with headless_chromium() as driver:
        login(driver, box.url, "sup")
        driver.get(box.url + "/desk/notices")
        wait = WebDriverWait(driver, 10)
        driver.find_element(By.ID, "notice-text").send_keys("Queue notice " + HOSTILE)
        Select(driver.find_element(By.ID, "notice-level")).select_by_value("warning")
        Select(driver.find_element(By.ID, "notice-queue")).select_by_visible_text(QUEUE_DISPLAY)
        minutes = driver.find_element(By.ID, "notice-minutes")
        minutes.clear()
        minutes.send_keys("15")
        driver.find_element(By.CSS_SELECTOR, "#notice-form button[type=submit]").click()
        wait.until(lambda d: "Queue notice" in text(d, "#notice-list"))
        mine = driver.find_element(
            By.XPATH, "//tbody[@id='notice-list']/tr[contains(., 'Queue notice')]"
        )
        assert mine.find_element(By.CSS_SELECTOR, ".notice-text").text == "Queue notice " + HOSTILE
        assert QUEUE_DISPLAY in mine.text
        assert absent(driver, "#notice-list img")
        no_alert(driver)
        notice_id = int(mine.get_attribute("data-id") or 0)
        listed = box.api("/api/notices/", username="agent").json()["notices"]
        assert notice_id in [n["id"] for n in listed]  # agent 1001 serves the queue
        mine.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda d: "Queue notice" not in text(d, "#notice-list"))
    listed = box.api("/api/notices/", username="agent").json()["notices"]
    assert notice_id not in [n["id"] for n in listed]
    everything = box.api("/api/notices/", username="sup").json()["notices"]
    assert notice_id not in [n["id"] for n in everything]


def test_i_am_not_on_a_call_is_offered_while_ringing_and_the_switch_has_the_last_word(
    box: LiveBox,
) -> None:
    """The desk's way out of a state the switch contradicts: enabled only while the agent
    rings or is on a call; here the phone really rings on the switch, so the server refuses
    and the page shows why."""
    state = agent_state(box)["state"]
    if state != "available":
        box.acd({"logged_out": "login", "wrap_up": "wrapup_done"}.get(state, "unpause"), "1001")
    box.devices({"PJSIP/1001": {"answers": False}})
    try:
        with headless_chromium() as driver:
            wait = open_desk(box, driver)
            release = driver.find_element(By.ID, "btn-release")
            assert release.get_attribute("disabled") is not None
            call = box.call(caller_number="13800000009", hold_s=8)
            wait.until(lambda d: text(d, "#desk-state-name") == "Ringing")
            assert release.get_attribute("disabled") is None
            release.click()
            refused = "the switch has a call on PJSIP/1001"
            wait.until(lambda d: refused in text(d, "#desk-state-msg"))
            assert agent_state(box)["state"] == "ringing"
            box.wait_call_ended(call, timeout=30)
            wait.until(lambda d: text(d, "#desk-state-name") == "Ready")
            assert release.get_attribute("disabled") is not None
    finally:
        box.devices({"PJSIP/1001": {"ring_s": 0.5, "talk_s": 8}})


def test_call_control_from_the_desk_hold_resume_mute_hang_up_and_dial(box: LiveBox) -> None:
    """The call control buttons clicked in the page (acd/desk_control.py): hold reaches the
    switch as an Atxfer to the hold context and the page offers Resume; resume, mute (Setvar
    MUTEAUDIO) and hang up; then click-to-dial rings the agent's own phone into
    ccbox-desk-dial. Each shows the server's answer in the page."""
    state = agent_state(box)["state"]
    if state != "available":  # whatever the test before left
        box.acd({"logged_out": "login", "wrap_up": "wrapup_done"}.get(state, "unpause"), "1001")
    box.devices(
        {
            "PJSIP/1001": {"ring_s": 0.5, "talk_s": 60},
            # the simulator answers by the trunk's device and hangs up by the number's
            "DAHDI/g0": {"ring_s": 0.3},
            "DAHDI/g0/13800138000": {"ring_s": 0.3, "talk_s": 1},
        }
    )
    with headless_chromium() as driver:
        wait = open_desk(box, driver)
        wait.until(lambda d: d.find_element(By.ID, "btn-dial").is_enabled())
        for button in ("btn-hold", "btn-resume", "btn-mute", "btn-hangup", "btn-consult"):
            assert not driver.find_element(By.ID, button).is_enabled(), button

        mark = box.mark()
        call = box.call(caller_number=CALLER, caller_name="Li Lei")
        wait.until(lambda d: text(d, "#desk-state-name") == "On a call")
        wait.until(lambda d: d.find_element(By.ID, "btn-hold").is_enabled())
        assert not driver.find_element(By.ID, "btn-dial").is_enabled()
        driver.find_element(By.ID, "btn-hold").click()
        wait.until(lambda d: text(d, "#desk-control-msg") == "the caller is on hold")
        assert text(driver, "#desk-control-state") == "The caller is on hold."
        assert driver.find_element(By.ID, "btn-resume").is_enabled()
        assert not driver.find_element(By.ID, "btn-hold").is_enabled()
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.execute_script("document.getElementById('desk-control').scrollIntoView()")
        driver.save_screenshot(str(SHOTS / "agent-desk-hold.png"))
        atxfer = box.wait_action("Atxfer", where=lambda h: h.get("Context") == "ccbox-desk-hold")
        assert atxfer["Channel"].startswith("PJSIP/1001-") and atxfer["Exten"] == "0"
        driver.find_element(By.ID, "btn-resume").click()
        wait.until(lambda d: text(d, "#desk-control-msg") == "back with the caller")
        assert text(driver, "#desk-control-state") == ""
        driver.find_element(By.ID, "btn-mute").click()
        wait.until(lambda d: text(d, "#desk-control-msg") == "muted: the caller does not hear you")
        assert text(driver, "#desk-control-state") == "Muted."
        box.wait_action(
            "Setvar",
            where=lambda h: (h.get("Variable"), h.get("Value")) == ("MUTEAUDIO(in)", "on"),
            since=mark,
        )
        # a queue is picked from the agent's queues (shown by name), the rest typed; nobody
        # else of "support" is logged in: the consultation is refused, the caller kept
        assert not driver.find_element(By.ID, "consult-queue").is_displayed()
        Select(driver.find_element(By.ID, "consult-kind")).select_by_value("queue")
        queues = driver.find_element(By.ID, "consult-queue")
        assert queues.is_displayed()
        assert not driver.find_element(By.ID, "consult-target").is_displayed()
        assert [(o.get_attribute("value"), o.text) for o in Select(queues).options] == [
            ("support", QUEUE_DISPLAY)
        ]
        driver.find_element(By.ID, "btn-consult").click()
        refused = f"no agent of queue {QUEUE_DISPLAY} is free to consult"
        wait.until(lambda d: refused in text(d, "#desk-control-msg"))
        Select(driver.find_element(By.ID, "consult-kind")).select_by_value("number")
        assert driver.find_element(By.ID, "consult-target").is_displayed()
        driver.find_element(By.ID, "btn-hangup").click()
        wait.until(lambda d: text(d, "#desk-control-msg") == "hung up")
        box.wait_call_ended(call)
        wait.until(lambda d: text(d, "#desk-state-name") != "On a call")

        driver.find_element(By.ID, "dial-number").send_keys("138 0013 8000")
        driver.find_element(By.ID, "btn-dial").click()
        wait.until(
            lambda d: (
                text(d, "#desk-control-msg") == "your phone rings: answer it to call 13800138000"
            )
        )
        originate = box.wait_action(
            "Originate", where=lambda h: h.get("Context") == "ccbox-desk-dial", since=mark
        )
        assert (originate["Channel"], originate["Exten"]) == ("PJSIP/1001", "13800138000")
        wait.until(lambda d: text(d, "#desk-state-name") == "On a call")
        wait.until(lambda d: text(d, "#desk-state-name") == "Ready")  # the customer hung up
        wait.until(lambda d: d.find_element(By.ID, "btn-redial").is_enabled())
        no_alert(driver)
