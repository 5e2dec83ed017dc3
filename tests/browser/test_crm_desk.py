"""Issue 18's "done when", in real headless Chromium against ccboxd and the switch simulator
(tests/support/live_box.py), once with the pages in English and once in Chinese: a call from
a VIP customer's number (written as the switch gives it) pops the customer with its custom
field, its last calls (with the note left on one) and its open tickets, and the knowledge
base's articles for the call; the agent finds the answer in the knowledge base (the demo's
articles, appliance/demo_kb.py) in the page's language and opens it; the customer's ticket
that falls due while the box runs escalates by itself (the service's timer: a notice on the
desk, "escalated" in its history); the agent opens a ticket from the call and a supervisor
dispatches it from the board. Screenshots: docs/images/desk-customer-{en,zh_CN}.png."""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance import demo_kb
from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from appliance.crm.field_admin import FieldAdmin
from appliance.crm.fields import FieldDef
from appliance.crm.tickets.store import TicketStore
from appliance.db.components import utcnow
from tests.support.chromium import (
    absent,
    headless_chromium,
    login,
    submit_and_wait,
    switch_language,
)
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
HOSTILE = "<img src=x onerror=alert(1)>"
CUSTOMER = "王建国 Wang Jianguo"
PLAN = "家庭融合 Family bundle"
NOTE = "Promised a technician visit"
LATE = "宽带频繁掉线 Broadband keeps dropping"
DUE_S = 12  # the customer's ticket falls due this long after the box is seeded
# What the agent looks for in each language, the article that answers it, and a sentence
# of its text.
KB = {
    "en": ("modem lights", "No internet: check the modem lights first", "steady PON light"),
    "zh_CN": ("光猫指示灯", "宽带无法上网：先检查光猫指示灯", "PON 灯常亮表示光路正常"),
}


def seed(db: Any, ids: dict[str, int]) -> None:
    resolved(FieldAdmin(db).save("admin", None, FieldDef("plan", "Plan 套餐", "text")))
    customer = resolved(
        CustomerStore(db).create(
            "admin", CUSTOMER, ["139 1234 5678", "010-6552 8888"], "vip", fields={"plan": PLAN}
        )
    )
    at = utcnow() - dt.timedelta(days=2)
    earlier = resolved(db.calls.start("e-1", "e-1", "inbound", at, "13912345678", "", "4000"))
    resolved(db.calls.finish(earlier, at, at, 16, "completed", agent_id=ids["1002"]))
    resolved(db.desk.add_note(earlier, ids["1002"], "follow_up", NOTE))
    # a fault at high priority is due 480 minutes after it was opened (the default SLA)
    opened = utcnow() - dt.timedelta(minutes=480, seconds=-DUE_S)
    resolved(
        TicketStore(db, clock=lambda: opened).create(
            "sup",
            type_key="fault",
            subject=LATE,
            customer_id=customer,
            priority="high",
            source="phone",
            assignee_kind="queue",
            assignee="support",
        )
    )
    demo_kb.seed(db)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("crm-desk"), seed=seed) as b:
        b.agents_login("1001")
        b.devices({"PJSIP/1001": {"ring_s": 0.5, "talk_s": 120}})
        yield b


def text(driver: WebDriver, css: str) -> str:
    """The shown text of the first element ``css`` names, read in one script: the pop draws
    its lists again when the call is answered, so an element found first may be gone by the
    time its text is read."""
    found = driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText : null", css
    )
    assert found is not None, f"nothing matches {css}"
    return str(found).strip()


def board_row(driver: WebDriver, xpath: str) -> dict[str, str]:
    """A row of the ticket board (its class, its state, its ticket's link), read in one
    script: the board reloads itself when a ticket changes."""
    found = driver.execute_script(
        """var r = document.evaluate(arguments[0], document, null,
             XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
           if (!r) return null;
           var s = r.querySelector('.tk-state'), a = r.querySelector('a');
           return {cls: r.className, state: s ? s.dataset.state : '', href: a ? a.href : ''};""",
        xpath,
    )
    assert found is not None, f"no row {xpath} on the board"
    return {k: str(v) for k, v in found.items()}


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_a_call_pops_its_customer_the_ticket_is_dispatched_and_the_kb_answers(
    box: LiveBox, lang: str
) -> None:
    query, title, sentence = KB[lang]
    with headless_chromium() as driver:
        login(driver, box.url, "agent")
        driver.get(box.url + "/desk")
        switch_language(driver, lang)
        wait = WebDriverWait(driver, 20)
        ready = "agent-available"
        wait.until(
            lambda d: (
                ready in (d.find_element(By.ID, "desk-state-name").get_attribute("class") or "")
            )
        )

        call = box.call(caller_number="+8613912345678", caller_name=HOSTILE)
        pop = driver.find_element(By.ID, "desk-pop")
        # answered: the pop is filled once more, and stays
        wait.until(lambda d: pop.get_attribute("data-state") == "answered")
        wait.until(lambda d: text(d, "#pop-customer .pop-name") == CUSTOMER)
        assert text(driver, "#pop-name") == HOSTILE  # caller ID, as text
        assert driver.find_element(By.ID, "pop-class").get_attribute("data-cls") == "vip"
        assert text(driver, "#pop-customer .pop-numbers") == "13912345678, 01065528888"
        assert text(driver, "#pop-customer .pop-field") == PLAN
        wait.until(lambda d: NOTE in text(d, "#pop-history"))
        assert LATE in text(driver, "#pop-tickets")
        # the articles for the call (its queue, its open tickets' type), the page's language
        # first: the answer is among them
        wait.until(lambda d: title in text(d, "#pop-kb"))
        langs = {a.title: a.lang for a in demo_kb.ARTICLES}
        shown = driver.execute_script(
            "return Array.from(document.querySelectorAll('#pop-kb a'), a => a.textContent)"
        )
        assert [langs[t] for t in shown] == [lang[:2]] * len(shown), shown
        assert absent(driver, "img", pop)
        IMAGES.mkdir(parents=True, exist_ok=True)
        driver.execute_script("arguments[0].scrollIntoView()", pop)
        driver.save_screenshot(str(IMAGES / f"desk-customer-{lang}.png"))
        new_ticket = driver.find_element(By.ID, "pop-new-ticket").get_attribute("href") or ""
        assert new_ticket.endswith(f"/tickets/new?call_id={pop.get_attribute('data-call-id')}")

        # the customer's ticket fell due while the box ran: its escalation's notice
        wait = WebDriverWait(driver, DUE_S + 30)
        wait.until(
            lambda d: (
                LATE
                in (d.find_element(By.ID, "desk-notices-track").get_attribute("textContent") or "")
            )
        )

        # the knowledge base, in the page's language: the answer, opened
        driver.find_element(By.ID, "kb-query").send_keys(query)
        driver.find_element(By.ID, "kb-go").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#kb-hits li .kb-title"))
        first = driver.find_element(By.CSS_SELECTOR, "#kb-hits li .kb-title")
        assert first.text == title
        marked = driver.find_elements(By.CSS_SELECTOR, "#kb-hits li:first-child mark")
        assert marked and all(m.text for m in marked)
        driver.get(first.get_attribute("href") or "")
        assert sentence in driver.find_element(By.TAG_NAME, "main").text

        # a ticket from the call: the customer is on it already
        driver.get(new_ticket)
        assert CUSTOMER in text(driver, ".tk-customer")
        subject = f"Slow after the restart ({lang})"
        driver.find_element(By.NAME, "subject").clear()
        driver.find_element(By.NAME, "subject").send_keys(subject)
        submit_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.tk-form button.primary"))
        assert "/tickets/view?id=" in driver.current_url
        ticket_id = driver.current_url.rsplit("=", 1)[1]

        # the supervisor dispatches it to the support queue's agents from the board
        driver.delete_all_cookies()
        login(driver, box.url, "sup")
        driver.get(box.url + "/tickets/board")
        row = f"//tr[td/a[@href='/tickets/view?id={ticket_id}']]"
        for attempt in range(3):  # the board reloads itself when any ticket changes
            try:
                mine = driver.find_element(By.XPATH, row)
                Select(mine.find_element(By.NAME, "to")).select_by_value("queue:support")
                submit_and_wait(driver, mine.find_element(By.CSS_SELECTOR, "button[type=submit]"))
                break
            except StaleElementReferenceException:
                if attempt == 2:
                    raise
        assert board_row(driver, row)["state"] == "dispatched"
        if lang == "en":  # the board reloads on the live feed when a ticket changes
            WebDriverWait(driver, 10).until(
                lambda d: d.find_element(By.ID, "tk-live-on").is_displayed()
            )
            driver.execute_script("window.tkBefore = true;")
            board = driver.current_window_handle
            driver.switch_to.new_window("tab")
            driver.get(f"{box.url}/tickets/view?id={ticket_id}")
            driver.find_element(By.NAME, "html").send_keys("On it")
            form = "//form[@action='/tickets/comment']//button"
            submit_and_wait(driver, driver.find_element(By.XPATH, form))
            driver.close()
            driver.switch_to.window(board)  # well before its 30 s of polling
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return !window.tkBefore"))
        # the late one: overdue on the board, escalated in its history
        late = board_row(driver, f"//tr[td[text()='{LATE}']]")
        assert "tk-late" in late["cls"].split()
        driver.get(late["href"])
        wait.until(lambda d: LATE in d.find_element(By.TAG_NAME, "h1").text)
        assert "Escalated" in driver.find_element(By.TAG_NAME, "main").text
    box.hangup(call)
    box.wait_call_ended(call)
