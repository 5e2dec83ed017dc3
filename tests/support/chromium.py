"""Debian's headless Chromium for browser tests, driven through chromedriver (selenium), and
the login every browser test starts with."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
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
    driver.implicitly_wait(5)
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
    redirects back) and wait until the new page has replaced the old one: code that looks
    for an element before that finds the old page's, which goes stale under it."""
    old = driver.find_element(By.TAG_NAME, "html")
    form = driver.find_element(By.CSS_SELECTOR, "form[action='/locale']")
    Select(form.find_element(By.NAME, "locale")).select_by_value(code)
    form.find_element(By.CSS_SELECTOR, "button").click()
    WebDriverWait(driver, 10).until(lambda _: _replaced(old))
    lang = "zh-CN" if code == "zh_CN" else "en"
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.documentElement.lang") == lang
    )


def _replaced(element: WebElement) -> bool:
    """Whether ``element``'s page is gone. Chromium names a node of the page being replaced
    in two ways: stale, or (mid-navigation) an inspector error "Node with given id does not
    belong to the document", which selenium's staleness_of lets through as a failure."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc.msg):
            return True
        raise
    return False
