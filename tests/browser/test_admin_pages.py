"""The admin pages in real headless Chromium at 1366x768 against a running ccboxd logged in
to the switch simulator's AMI (tests/support/live_box.py): every page fits the width,
hostile names show as text, the system page shows the live link, a form works end to end,
in Chinese too. Screenshots go to build/screenshots/admin-*.png for a person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from appliance.cli import resolved
from tests.support.chromium import (
    absent,
    headless_chromium,
    login,
    submit_and_wait,
    switch_language,
)
from tests.support.live_box import LiveBox, live_box

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"


def seed(db: Any, ids: dict[str, int]) -> None:
    """After live_box's center (agents 1001..1003, queue "support"): agents 1004..1012, the
    hostile agent (id 13) and a queue with a hostile display name."""
    tech = ids["tech"]
    resolved(db.skills.add("billing"))
    for n in range(1004, 1013):
        a = resolved(db.agents.add(str(n), f"Agent {n}", "sales", f"PJSIP/{n}"))
        resolved(db.agents.set_skill(a.id, tech, 1 + n % 10))
    resolved(db.agents.add("1099", HOSTILE, HOSTILE, "PJSIP/1099"))
    resolved(db.queues.add("hostile", HOSTILE, skills={tech: 3}))
    resolved(db.queues.add("billing", "Billing"))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveBox]:
    with live_box(tmp_path_factory.mktemp("admin") / "box", seed=seed) as box:
        yield box


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def fits(driver: WebDriver) -> bool:
    width: int = driver.execute_script("return document.documentElement.scrollWidth")
    inner: int = driver.execute_script("return window.innerWidth")
    return width <= inner


def test_every_admin_page_fits_1366_and_shows_hostile_names_as_text(
    box: LiveBox, chrome: WebDriver
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    login(chrome, box.url)
    pages = {
        "agents": "/admin/agents",
        "agent": "/admin/agents/edit?id=13",
        "queues": "/admin/queues",
        "queue": "/admin/queues/edit?id=1",
        "dids": "/admin/dids",
        "users": "/admin/users",
        "system": "/admin/system",
    }
    for name, path in pages.items():
        chrome.get(box.url + path)
        assert chrome.find_element(By.TAG_NAME, "h1").text, name
        assert absent(chrome, "main img"), name  # no injected tag
        assert fits(chrome), f"{name} is wider than the 1366 px screen"
        chrome.save_screenshot(str(SHOTS / f"admin-{name}.png"))
    chrome.get(box.url + "/admin/agents")
    assert HOSTILE in chrome.find_element(By.TAG_NAME, "main").text


def card(driver: WebDriver, title: str) -> str:
    """The text of the system page's card headed ``title``."""
    for section in driver.find_elements(By.CSS_SELECTOR, "main section.card"):
        if section.find_element(By.TAG_NAME, "h2").text == title:
            return str(section.text)
    raise AssertionError(f"no card {title!r}")


def test_the_system_page_shows_the_live_ami_link_fastagi_and_the_database(
    box: LiveBox, chrome: WebDriver
) -> None:
    login(chrome, box.url)
    chrome.get(box.url + "/admin/system")
    assert chrome.find_element(By.TAG_NAME, "h1").text.startswith("System")
    ami = card(chrome, "Asterisk link (AMI)")
    assert "\nconnected\n" in ami + "\n", ami
    assert f"connected to {box.config.ami.host}:{box.config.ami.port}" in ami, ami
    fastagi = card(chrome, "FastAGI")
    assert f"{box.config.fastagi.bind}:{box.config.fastagi.port}" in fastagi, fastagi
    assert "Sessions open" in fastagi, fastagi
    channels = card(chrome, "Trunks and channels")
    assert "Live channels" in channels and "Unknown: no AMI link" not in channels, channels
    database = card(chrome, "Database")
    assert "sqlite" in database and "expected" not in database, database
    parts = {
        row.find_elements(By.TAG_NAME, "td")[0].text: row.find_elements(By.TAG_NAME, "td")[1].text
        for row in chrome.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    }
    assert [state for name, state in parts.items() if "AMI" in name] == ["ok"], parts
    assert len(parts) >= 5 and set(parts.values()) <= {"ok", "degraded"}, parts


def test_put_an_agent_on_leave_through_the_form_in_chinese(box: LiveBox, chrome: WebDriver) -> None:
    login(chrome, box.url)
    chrome.get(box.url + "/admin/agents/edit?id=1")
    switch_language(chrome, "zh_CN")
    form = chrome.find_element(By.CSS_SELECTOR, "form[action='/admin/agents/save']")
    Select(form.find_element(By.NAME, "status")).select_by_value("on_leave")
    submit_and_wait(
        chrome,
        form.find_element(By.CSS_SELECTOR, "button[type=submit]"),
        "return document.querySelector('p.flash') !== null",
    )
    selected = Select(
        chrome.find_element(
            By.CSS_SELECTOR, "form[action='/admin/agents/save'] select[name=status]"
        )
    ).first_selected_option
    assert selected.get_attribute("value") == "on_leave"
    assert chrome.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    chrome.save_screenshot(str(SHOTS / "admin-agent-zh.png"))


def test_a_kb_article_round_trips_through_the_rich_text_editor(
    box: LiveBox, chrome: WebDriver
) -> None:
    """Quill (from npm, under the CSP) edits an article: bold and a bullet list typed with
    its keyboard shortcuts are saved as clean HTML, shown as such, and open again in the
    editor unchanged (no &nbsp; from Quill's semantic HTML)."""
    from selenium.webdriver.common.keys import Keys

    login(chrome, box.url)
    chrome.get(box.url + "/kb/categories")
    form = chrome.find_element(By.CSS_SELECTOR, "form[action='/kb/category']")
    form.find_element(By.NAME, "name").send_keys("FAQ <b>x</b>")
    submit_and_wait(chrome, form.find_element(By.CSS_SELECTOR, "button"))
    chrome.get(box.url + "/kb/edit")
    editor = chrome.find_element(By.CSS_SELECTOR, "#kb-editor .ql-editor")  # Quill is up
    assert not chrome.find_element(By.ID, "kb-html").is_displayed()
    chrome.find_element(By.NAME, "title").send_keys("退款 refunds")
    Select(chrome.find_element(By.NAME, "category")).select_by_index(1)
    editor.click()
    editor.send_keys("Refunds take ", Keys.CONTROL, "b", Keys.NULL, "three days")
    editor.send_keys(Keys.CONTROL, "b", Keys.NULL, ".", Keys.ENTER, "- ", "bank card")
    save = "form#kb-form button[type=submit]"
    submit_and_wait(
        chrome,
        chrome.find_element(By.CSS_SELECTOR, save),
        "return document.querySelector('article.kb-body') !== null",
    )
    body = str(chrome.find_element(By.CSS_SELECTOR, "article.kb-body").get_attribute("innerHTML"))
    assert "<strong>three days</strong>" in body, body
    assert "<ul><li>bank card</li></ul>" in body, body
    assert "&nbsp;" not in body, body
    article = chrome.current_url
    chrome.get(article.replace("/kb/article?", "/kb/edit?").replace("&latest=1", ""))
    quill = chrome.find_element(By.CSS_SELECTOR, "#kb-editor .ql-editor")
    again = str(quill.get_attribute("innerHTML"))
    assert "<strong>three days</strong>" in again and "bank card" in again, again
    submit_and_wait(
        chrome,
        chrome.find_element(By.CSS_SELECTOR, save),
        "return document.querySelector('article.kb-body') !== null",
    )
    assert (
        chrome.find_element(By.CSS_SELECTOR, "article.kb-body").get_attribute("innerHTML") == body
    )
