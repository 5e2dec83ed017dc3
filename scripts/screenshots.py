"""Take the README/docs screenshots of the demo web UI in headless Chromium.

Usage: .venv/bin/python scripts/screenshots.py  (needs Debian's chromium and chromium-driver,
and the dev extra's selenium). Runs its own demo in a temporary data directory (the
interactive one, with its outbound survey running; stopped at the end).
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
# The live pages, each at the size it is used at, and what says its feed is up:
# (login, path, image, viewport, marker)
LIVE = (
    ("supervisor", "/wallboard", "wallboard-en.png", (1920, 1080), "#wb-conn[data-state=live]"),
    (
        "supervisor",
        "/supervisor",
        "supervisor-console-en.png",
        (1440, 900),
        "#sv-status[data-state=live]",
    ),
    ("agent1001", "/desk", "agent-desk-en.png", (1366, 768), "body"),
    ("qa", "/recordings", "recordings-en.png", (1440, 900), "body"),
    # the demo's outbound survey, once the dialer's figures have reached the page
    (
        "supervisor",
        "/admin/campaigns/edit?id=1",
        "campaign-en.png",
        (1366, 900),
        "#live [data-field=abandon_24h][data-level]",
    ),
)
RECORDINGS_SHOWN = 6  # the recordings page waits (up to RECORDINGS_WAIT_S) for this many rows
RECORDINGS_WAIT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def viewport(driver: WebDriver, width: int, height: int) -> None:
    """Exactly this many CSS pixels (a headless window's size includes no page area rule)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def present(selector: str) -> Callable[[WebDriver], bool]:
    return lambda d: bool(d.find_elements(By.CSS_SELECTOR, selector))


def main() -> int:
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="ccbox-shots-"))
    demo = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "ccbox"),
            "demo",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            # the simulated switch's ports too: another demo may hold the defaults
            "--ami-port",
            str(free_port()),
            "--fastagi-port",
            str(free_port()),
            # the interactive demo (stopped at the end): it runs the outbound survey too
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    logins: dict[str, str] = {}
    said: list[str] = []
    for line in demo.stdout:
        said.append(line)
        m = re.search(r"(\S+) login is\s+\S+ / (\S+)", line)
        if m:
            logins[m.group(1)] = m.group(2)
        if "ccbox demo: web UI on" in line:  # after the logins, once ccboxd listens
            break
    else:  # the demo ended without starting: say why
        demo.wait(30)
        sys.stderr.write("".join(said[-20:]))
        print(f"the demo did not start (exit {demo.returncode})", file=sys.stderr)
        return 1
    # Keep reading what the demo says (its log), or a full pipe would stop it.
    threading.Thread(target=lambda: [None for _ in demo.stdout or ()], daemon=True).start()
    password = logins.get("admin", "")
    opts = webdriver.ChromeOptions()
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,768",
        f"--user-data-dir={data / 'chrome'}",
    ):
        opts.add_argument(flag)
    opts.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    base = f"http://127.0.0.1:{port}"
    try:
        driver.get(base + "/login")
        driver.save_screenshot(str(OUT / "login.png"))
        driver.find_element(By.NAME, "username").send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        time.sleep(0.5)
        driver.save_screenshot(str(OUT / "dashboard-en.png"))
        driver.get(base + "/admin/users")
        driver.save_screenshot(str(OUT / "users-en.png"))
        driver.find_element(By.CSS_SELECTOR, "select[name='locale'] option[value='zh_CN']").click()
        driver.find_element(By.CSS_SELECTOR, "form[action='/locale'] button").click()
        time.sleep(0.5)
        driver.get(base + "/")
        driver.save_screenshot(str(OUT / "dashboard-zh_CN.png"))
        # The live pages, once simulated calls are flowing (the demo's other logins).
        time.sleep(30)
        for user, path, name, (width, height), marker in LIVE:
            viewport(driver, width, height)
            driver.delete_all_cookies()
            driver.get(base + "/login")
            driver.find_element(By.NAME, "username").send_keys(user)
            driver.find_element(By.NAME, "password").send_keys(logins.get(user, ""))
            driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
            time.sleep(0.5)
            driver.get(base + path)
            WebDriverWait(driver, 10).until(present(marker), f"{path}: {marker}")
            if path == "/recordings":  # the demo's calls end (and are recorded) as it goes
                deadline = time.monotonic() + RECORDINGS_WAIT_S
                while time.monotonic() < deadline and (
                    len(driver.find_elements(By.CSS_SELECTOR, "#rec-results tbody tr[data-id]"))
                    < RECORDINGS_SHOWN
                ):
                    time.sleep(5)
                    driver.get(base + path)
            time.sleep(2)  # the live feed's snapshot and a few updates
            driver.save_screenshot(str(OUT / name))
    finally:
        driver.quit()
        demo.terminate()
        demo.wait(30)
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
