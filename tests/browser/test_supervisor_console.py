"""The supervisor console in real headless Chromium against the real ccboxd and the switch
simulator (tests/support/live_box.py): agents and a simulated waiting call appear live; a
hostile caller name is shown as text; Listen, Whisper and Barge make the simulator receive
the Originate of the supervisor's phone into [ccbox-supervise] with the agent's channel, and
that phone runs the mode's extension; a waiting call is moved from the page; an agent may
not open the console; in Chinese too. Screenshot: build/screenshots/supervisor-console.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.cli import resolved
from appliance.db import model
from drivers.asterisk.confgen import SPY_OPTIONS
from tests.support.chromium import absent, headless_chromium, login, switch_language
from tests.support.http import Browser
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
PHONES = {"listen": "PJSIP/2001", "whisper": "PJSIP/2002", "barge": "PJSIP/2003"}


VIP_NUMBER = "13900000099"


def seed(db: Any, ids: dict[str, int]) -> None:
    sales = resolved(db.queues.add("sales", "Sales 销售", skills={ids["tech"]: 3}, wrapup_s=1))
    ids["sales"] = sales.id
    # Teams are departments; 1003 is short of tech for every queue (needs 3, has 2).
    for number, department in (("1001", "Support"), ("1002", "Support"), ("1003", "Sales")):
        agent_id = ids[number]
        resolved(
            db.run(
                lambda conn, a=agent_id, d=department: conn.execute(
                    model.agents.update().where(model.agents.c.id == a).values(department=d)
                )
            )
        )
    resolved(db.agents.set_skill(ids["1003"], ids["tech"], 2))
    resolved(db.acd.add_number(VIP_NUMBER, "red", 5))  # jumps the line: priority 5


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("supervisor"), seed) as b:
        yield b


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium(console_log=True) as driver:
        yield driver


def wait(driver: WebDriver, what: str, predicate, timeout: float = 10):  # type: ignore[no-untyped-def]
    """Until ``predicate(driver)``; an element the live feed redrew meanwhile (stale) is
    looked up again on the next try."""
    return WebDriverWait(
        driver, timeout, 0.1, ignored_exceptions=(StaleElementReferenceException,)
    ).until(lambda d: predicate(d), what)


def agent_row(driver: WebDriver, number: str):  # type: ignore[no-untyped-def]
    box_ = driver.find_element(By.ID, "sv-agents")
    for tr in box_.find_elements(By.CSS_SELECTOR, "tbody tr"):
        if tr.find_element(By.CLASS_NAME, "sv-who").text.startswith(number):
            return tr
    return None


def test_console_shows_the_center_live_and_spies_on_a_call(box: LiveBox, chrome: WebDriver) -> None:
    box.devices(
        {
            "PJSIP/1001": {"ring_s": 0.5, "talk_s": 120},
            **{phone: {"ring_s": 0.3, "talk_s": 120} for phone in PHONES.values()},
        }
    )
    box.agents_login("1001", "1002")
    box.acd("pause", "1001", "lunch")
    box.acd("pause", "1002", "meeting")
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/supervisor")
    wait(
        chrome,
        "the live feed",
        lambda d: d.find_element(By.ID, "sv-status").get_attribute("data-state") == "live",
    )
    # Every seeded agent, with its state and pause reason.
    wait(
        chrome,
        "three agents",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sv-agents tbody tr")) == 3,
    )
    row = agent_row(chrome, "1001")
    assert row is not None and "Paused" in row.text and "Lunch" in row.text
    assert "Logged out" in agent_row(chrome, "1003").text

    # A caller with a hostile name waits (both agents paused): it shows, as text.
    call = box.call(caller_number="13900001111", caller_name=HOSTILE)
    wait(
        chrome,
        "the waiting call",
        lambda d: d.find_elements(By.CSS_SELECTOR, ".sv-calls tr[data-state=waiting]"),
    )
    waiting = chrome.find_element(By.CSS_SELECTOR, ".sv-calls tr[data-state=waiting]")
    assert HOSTILE in waiting.find_element(By.CLASS_NAME, "sv-caller").text
    assert "13900001111" in waiting.text
    assert absent(chrome, "#sv img")  # never markup
    # Its wait ticks.
    first = waiting.find_element(By.CLASS_NAME, "sv-wait").text
    wait(
        chrome,
        "the wait ticking",
        lambda d: d.find_element(By.CSS_SELECTOR, ".sv-calls .sv-wait").text != first,
        4,
    )

    # Moved from the page to the queue "sales".
    sel = Select(waiting.find_element(By.CLASS_NAME, "sv-move-select"))
    sel.select_by_value("queue:sales")
    waiting.find_element(By.CLASS_NAME, "sv-move").click()
    wait(
        chrome,
        "the call in sales",
        lambda d: d.find_elements(
            By.CSS_SELECTOR,
            f".sv-queue-box[data-queue-id='{box.ids['sales']}'] tr[data-state=waiting]",
        ),
    )
    assert (
        chrome.find_elements(
            By.CSS_SELECTOR, f".sv-queue-box[data-queue-id='{box.ids['support']}'] .sv-calls"
        )
        == []
    )
    box.acd("unpause", "1001")
    # 1001 answers (ring 0.5 s): on a call with the hostile caller.
    wait(
        chrome,
        "1001 on the call",
        lambda d: agent_row(d, "1001").get_attribute("data-state") == "on_call",
        20,
    )
    row = agent_row(chrome, "1001")
    assert HOSTILE in row.find_element(By.CLASS_NAME, "sv-call").text
    assert "Sales 销售" in row.find_element(By.CLASS_NAME, "sv-call").text  # moved there
    agent_channel = next(
        ch["name"] for ch in box.channels() if ch["name"].startswith("PJSIP/1001-")
    )

    device = chrome.find_element(By.ID, "sv-device")
    for mode, phone in PHONES.items():
        mark = box.mark()
        device.clear()
        device.send_keys(phone)
        agent_row(chrome, "1001").find_element(By.CSS_SELECTOR, f"button[data-mode={mode}]").click()
        action = box.wait_action(
            "Originate", since=mark, where=lambda h: h.get("Context") == "ccbox-supervise"
        )
        assert (action["Channel"], action["Exten"]) == (phone, mode)
        assert action["Variable"] == f"CCBOX_SPY_TARGET={agent_channel}"
        assert action["Async"] == "true" and "Application" not in action
        wait(chrome, "the result line", lambda d: "Done" in d.find_element(By.ID, "sv-result").text)
    spies = wait(
        chrome,
        "the supervisors' phones in ChanSpy",
        lambda d: (
            [ch for ch in box.channels() if ch["context"] == "ccbox-supervise"]
            if len([ch for ch in box.channels() if ch["context"] == "ccbox-supervise"]) == 3
            else None
        ),
        10,
    )
    assert sorted((ch["name"].split("-")[0], ch["exten"]) for ch in spies) == sorted(
        (phone, mode) for mode, phone in PHONES.items()
    )
    # each spy runs ChanSpy on the agent's channel with its mode's options (confgen's table)
    assert sorted((ch["exten"], ch["application"], ch["appdata"]) for ch in spies) == sorted(
        (mode, "ChanSpy", f"{agent_channel},{SPY_OPTIONS[mode]}") for mode in PHONES
    )
    # "Record now" reaches the recorder for the agent's call, which its queue records
    # already: the recorder's own answer is on the result line.
    agent_row(chrome, "1001").find_element(By.CLASS_NAME, "sv-record").click()
    wait(
        chrome,
        "the recorder's answer",
        lambda d: "is already being recorded" in d.find_element(By.ID, "sv-result").text,
    )
    assert not agent_row(chrome, "1003").find_element(By.CLASS_NAME, "sv-record").is_enabled()
    # Listen on an agent who is not on a call: the buttons are disabled there.
    assert (
        not agent_row(chrome, "1003")
        .find_element(By.CSS_SELECTOR, "button[data-mode=listen]")
        .is_enabled()
    )
    # Time in state and the call's duration tick.
    wait(
        chrome,
        "1001's time on the call ticking",
        lambda d: (
            agent_row(d, "1001").find_element(By.CLASS_NAME, "sv-time").text not in ("", "0:00")
            and agent_row(d, "1001").find_element(By.CLASS_NAME, "sv-duration").text
            not in ("", "0:00")
        ),
        5,
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "supervisor-console.png"))
    assert chrome.execute_script("return document.documentElement.scrollWidth") <= 1366
    logs = chrome.get_log("browser")
    # the refused "record now" above (409) is the one error the page may have logged
    expected = ("favicon.ico", "recording_control/start - Failed to load resource")
    errors = [
        e for e in logs if e["level"] == "SEVERE" and not any(x in e["message"] for x in expected)
    ]
    assert errors == [], errors
    # "Free agent" is for an agent the switch contradicts: 1001's phone has the call on the
    # switch, so the server refuses and the result line says why; a logged-out agent has
    # nothing to free.
    assert not agent_row(chrome, "1003").find_element(By.CLASS_NAME, "sv-release").is_enabled()
    agent_row(chrome, "1001").find_element(By.CLASS_NAME, "sv-release").click()
    chrome.switch_to.alert.accept()
    wait(
        chrome,
        "the switch's refusal",
        lambda d: "the switch has a call on PJSIP/1001" in d.find_element(By.ID, "sv-result").text,
    )
    # Call control for the agent: Mute reaches the switch on 1001's own leg (Setvar
    # MUTEAUDIO, acd/desk_control.py); an agent not on a call has the buttons disabled.
    assert (
        not agent_row(chrome, "1003")
        .find_element(By.CSS_SELECTOR, "button[data-ctl=mute]")
        .is_enabled()
    )
    mark = box.mark()
    agent_row(chrome, "1001").find_element(By.CSS_SELECTOR, "button[data-ctl=mute]").click()
    wait(
        chrome,
        "the mute done",
        lambda d: "Done: Mute 1001" in d.find_element(By.ID, "sv-result").text,
    )
    muted = box.wait_action(
        "Setvar", since=mark, where=lambda h: h.get("Variable") == "MUTEAUDIO(in)"
    )
    assert (muted["Channel"], muted["Value"]) == (agent_channel, "on")
    box.hangup(call)
    box.wait_call_ended(call)
    wait(chrome, "the call gone", lambda d: absent(d, ".sv-calls tr"), 10)


def test_in_chinese_and_not_for_agents(box: LiveBox, chrome: WebDriver) -> None:
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/supervisor")
    switch_language(chrome, "zh_CN")
    assert "/supervisor" in chrome.current_url
    wait(
        chrome,
        "the agents",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#sv-agents tbody tr")) == 3,
    )
    texts = chrome.execute_script(
        "return JSON.parse(document.getElementById('sv-i18n').textContent)"
    )
    badge = agent_row(chrome, "1003").find_element(By.CLASS_NAME, "sv-state").text
    assert badge == texts["states"]["logged_out"]  # the label comes from the template
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "supervisor-console-zh.png"))
    switch_language(chrome, "en")
    # An agent, a QA user and nobody may not open the console or its API.
    for user in ("agent", "qa"):
        assert box.api("/supervisor", username=user).status == 403
        r = box.api("/api/supervisor/spy", {"agent": "1001", "mode": "listen"}, username=user)
        assert r.status == 403
    r = Browser(box.port).get("/supervisor")
    assert r.status == 303 and "/login?next=/supervisor" in r.location


def visible_agents(driver: WebDriver) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#sv-agents tbody tr")
    return [
        tr.find_element(By.CLASS_NAME, "sv-who").text.split()[0] for tr in rows if tr.is_displayed()
    ]


def test_waiting_list_by_wait_filters_figures_and_why_no_calls(
    box: LiveBox, chrome: WebDriver
) -> None:
    """Twelve callers wait in support, a VIP last: the console lists the ten who waited
    longest, oldest first (not the VIP first, as the line is served), and counts the rest;
    1003, ready but short of tech, is told why it gets none; each agent's calls and talk
    time today; the queue and team filters, kept in the URL."""
    support = box.ids["support"]
    box.acd("pause", "1001", "break")  # 1002 is paused since the first test
    numbers = [f"1390000{i:04d}" for i in range(1, 12)] + [VIP_NUMBER]
    calls = [box.call(caller_number=number, caller_name="") for number in numbers]
    box.agents_login("1003")
    login(chrome, box.url, "sup")
    chrome.get(box.url + "/supervisor")
    where = f".sv-queue-box[data-queue-id='{support}']"
    wait(
        chrome,
        "twelve callers, ten shown",
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, f"{where} .sv-more")
            and d.find_element(By.CSS_SELECTOR, f"{where} .sv-more").text == "and 2 more"
        ),
    )
    # One snapshot of the rows: the live feed redraws the list as it goes, so reading them
    # one element at a time can meet a row that was replaced in between (stale).
    snapshot = chrome.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(tr => ["
        " tr.querySelector('.sv-number').textContent.trim(),"
        " parseFloat(tr.querySelector('.sv-wait').getAttribute('data-since'))]);",
        f"{where} .sv-calls tr",
    )
    shown = [number for number, _ in snapshot]
    joined = [since for _, since in snapshot]
    # the longest waits first (when each joined the queue), not the VIP first as the line
    # is served: it came last
    assert joined == sorted(joined) and len(set(shown)) == 10, (shown, joined)
    assert set(shown) <= set(numbers) and shown[0] != VIP_NUMBER
    # Why 1003 gets none of them, from the ACD.
    wait(
        chrome,
        "1003's reason",
        lambda d: (
            [e.text for e in agent_row(d, "1003").find_elements(By.CLASS_NAME, "sv-idle-reason")]
            == ["Technical support 技术支持 (12 waiting): needs tech 3 (has 2)"]
        ),
    )

    # The rows are redrawn as the feed goes: each check reads its row afresh.
    def cell(d: WebDriver, number: str, name: str, attribute: str = "") -> str:
        element = agent_row(d, number).find_element(By.CLASS_NAME, name)
        return str(element.get_attribute(attribute) if attribute else element.text)

    # paused: no reason to give
    wait(
        chrome,
        "1001 without a reason",
        lambda d: cell(d, "1001", "sv-idle", "textContent") == "",
    )
    # 1001 answered one call in the first test, and talked a few seconds.
    wait(chrome, "1001's call today", lambda d: cell(d, "1001", "sv-handled") == "1 call")
    wait(
        chrome,
        "1001's talk time",
        lambda d: (
            cell(d, "1001", "sv-talk").startswith("talk ")
            and cell(d, "1001", "sv-talk") != "talk 0:00"
        ),
    )
    wait(chrome, "1003's calls today", lambda d: cell(d, "1003", "sv-handled") == "0 calls")
    SHOTS.mkdir(parents=True, exist_ok=True)
    chrome.save_screenshot(str(SHOTS / "supervisor-console-busy.png"))
    # The team filter: Sales is 1003 alone.
    Select(chrome.find_element(By.ID, "sv-team-filter")).select_by_value("Sales")
    wait(chrome, "the Sales team", lambda d: visible_agents(d) == ["1003"])
    assert chrome.current_url.endswith("/supervisor?team=Sales")
    # The queue filter: sales is served by 1001 and 1002 (1003 is short of tech).
    Select(chrome.find_element(By.ID, "sv-team-filter")).select_by_value("")
    Select(chrome.find_element(By.ID, "sv-queue-filter")).select_by_value("sales")
    wait(chrome, "the sales queue's agents", lambda d: visible_agents(d) == ["1001", "1002"])
    boxes = chrome.find_elements(By.CSS_SELECTOR, ".sv-queue-box")
    assert [b.get_attribute("data-queue-id") for b in boxes] == [str(box.ids["sales"])]
    assert chrome.current_url.endswith("/supervisor?queue=sales")
    # Kept in the URL: a reload (or a bookmark) shows the same.
    chrome.get(box.url + "/supervisor?queue=support&team=Sales")
    wait(chrome, "support and Sales", lambda d: visible_agents(d) == [])
    assert Select(chrome.find_element(By.ID, "sv-queue-filter")).first_selected_option.text == (
        "Technical support 技术支持"
    )
    Select(chrome.find_element(By.ID, "sv-team-filter")).select_by_value("Support")
    wait(chrome, "support's Support team", lambda d: visible_agents(d) == ["1001", "1002"])
    for call in calls:  # the callers go (a box stopping with them waits for their ends)
        box.hangup(call)
    for call in calls:
        box.wait_call_ended(call)
