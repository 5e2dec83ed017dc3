"""The admin pages in real headless Chromium at 1366x768 against a running ccboxd: every
page fits the width, hostile names show as text, a form works end to end, in Chinese too.
Screenshots go to build/screenshots/admin-*.png for a person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance.cli import resolved
from tests.support.appliance import prepare
from tests.support.chromium import headless_chromium, login, switch_language
from tests.support.daemon import running_daemon

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"


def seed(db: Any) -> None:
    tech = resolved(db.skills.add("tech")).id
    resolved(db.skills.add("billing"))
    for n in range(1001, 1013):
        a = resolved(db.agents.add(str(n), f"Agent {n}", "sales", f"PJSIP/{n}"))
        resolved(db.agents.set_skill(a.id, tech, 1 + n % 10))
    resolved(db.agents.add("1099", HOSTILE, HOSTILE, "PJSIP/1099"))
    resolved(db.queues.add("support", HOSTILE, skills={tech: 3}))
    resolved(db.queues.add("billing", "Billing"))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("admin")
    config = prepare(tmp / "box", seed=seed)
    with running_daemon(config.path, tmp) as daemon:
        yield f"http://127.0.0.1:{config.web.port}"
        daemon.stop()


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium() as driver:
        yield driver


def fits(driver: WebDriver) -> bool:
    width: int = driver.execute_script("return document.documentElement.scrollWidth")
    inner: int = driver.execute_script("return window.innerWidth")
    return width <= inner


def test_every_admin_page_fits_1366_and_shows_hostile_names_as_text(
    box: str, chrome: WebDriver
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    login(chrome, box)
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
        chrome.get(box + path)
        assert chrome.find_element(By.TAG_NAME, "h1").text, name
        assert not chrome.find_elements(By.CSS_SELECTOR, "main img"), name  # no injected tag
        assert fits(chrome), f"{name} is wider than the 1366 px screen"
        chrome.save_screenshot(str(SHOTS / f"admin-{name}.png"))
    chrome.get(box + "/admin/agents")
    assert HOSTILE in chrome.find_element(By.TAG_NAME, "main").text


def test_put_an_agent_on_leave_through_the_form_in_chinese(box: str, chrome: WebDriver) -> None:
    login(chrome, box)
    chrome.get(box + "/admin/agents/edit?id=1")
    switch_language(chrome, "zh_CN")
    form = chrome.find_element(By.CSS_SELECTOR, "form[action='/admin/agents/save']")
    Select(form.find_element(By.NAME, "status")).select_by_value("on_leave")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(chrome, 10).until(staleness_of(form))
    WebDriverWait(chrome, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.flash"))
    selected = Select(
        chrome.find_element(
            By.CSS_SELECTOR, "form[action='/admin/agents/save'] select[name=status]"
        )
    ).first_selected_option
    assert selected.get_attribute("value") == "on_leave"
    assert chrome.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    chrome.save_screenshot(str(SHOTS / "admin-agent-zh.png"))
