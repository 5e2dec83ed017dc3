"""Debian's headless Chromium for browser tests, driven through chromedriver (selenium), and
the login every browser test starts with."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.appliance import USERS

# As root, on a machine with no network: no sandbox, and nothing that phones home.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,768",
)
IMPLICIT_WAIT_S = 5  # find_element waits this long for an element to appear


@contextmanager
def headless_chromium(*extra_flags: str, console_log: bool = False) -> Iterator[WebDriver]:
    """A fresh Chromium with an empty profile, quit and removed afterwards. ``console_log``
    keeps the page's console messages (``driver.get_log("browser")``)."""
    profile = tempfile.mkdtemp(prefix="ccbox-chrome-")
    opts = webdriver.ChromeOptions()
    for flag in (*FLAGS, *extra_flags, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.binary_location = "/usr/bin/chromium"
    if console_log:
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.implicitly_wait(IMPLICIT_WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def login(driver: WebDriver, base: str, username: str = "admin") -> None:
    """Log in as one of tests/support/appliance.py's USERS through the form (nothing to do
    when this browser is logged in already)."""
    password = USERS[username][1]
    driver.get(base + "/login")
    if "/login" not in driver.current_url:
        return
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    WebDriverWait(driver, 10).until(lambda d: "/login" not in d.current_url)


def switch_language(driver: WebDriver, code: str) -> None:
    """Switch the language with the nav bar's form on the current page (POST /locale, which
    redirects back) and wait until the new page is there, in that language."""
    form = driver.find_element(By.CSS_SELECTOR, "form[action='/locale']")
    Select(form.find_element(By.NAME, "locale")).select_by_value(code)
    lang = "zh-CN" if code == "zh_CN" else "en"
    submit_and_wait(
        driver,
        form.find_element(By.CSS_SELECTOR, "button"),
        f"return document.documentElement.lang === {lang!r}",
    )


def submit_and_wait(driver: WebDriver, button: WebElement, marker: str = "return true") -> None:
    """Click ``button`` (which loads a new page) and wait until the new page has loaded and
    the script ``marker`` is true on it. The old page is told apart by a flag put on its
    window before the click, which no new page has: waiting on an element of the old page
    going stale races with the navigation (Chromium answers some of those waits with "Node
    with given id does not belong to the document", a WebDriverException), and a marker the
    new page shares with the old one (its ``lang`` when it does not change) proves nothing.
    """
    driver.execute_script("window.ccboxOldPage = true;")
    button.click()
    new_page = f"""
        if (window.ccboxOldPage || document.readyState !== 'complete') return false;
        return (function () {{ {marker} }})();
    """
    WebDriverWait(driver, 10).until(lambda d: _script_true(d, new_page), "the new page")


def _script_true(driver: WebDriver, script: str) -> bool:
    """``script``'s answer; False while the page is between documents (Chromium then fails
    the script with a WebDriverException: the context is gone or not there yet)."""
    try:
        return bool(driver.execute_script(script))
    except WebDriverException:
        return False


def absent(driver: WebDriver, css: str, scope: WebElement | None = None) -> bool:
    """Whether nothing matches ``css`` (in ``scope``) now. ``find_elements(...) == []`` says
    the same only after the implicit wait has run out: 5 s lost per check."""
    driver.implicitly_wait(0)
    try:
        return not (scope or driver).find_elements(By.CSS_SELECTOR, css)
    finally:
        driver.implicitly_wait(IMPLICIT_WAIT_S)


def console_errors(driver: WebDriver) -> list[Any]:
    """The page's console errors so far (a driver started with ``console_log``), a missing
    favicon aside."""
    log: list[Any] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [
        e for e in log if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")
    ]
