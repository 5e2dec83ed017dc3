"""Take the README/docs screenshots of the demo web UI in headless Chromium.

Usage: .venv/bin/python scripts/screenshots.py  (needs Debian's chromium and chromium-driver,
and the dev extra's selenium). Runs its own demo in a temporary data directory.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            "--headless",
            "--duration",
            "60",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    logins: dict[str, str] = {}
    for line in demo.stdout:
        m = re.search(r"(\S+) login is\s+\S+ / (\S+)", line)
        if m:
            logins[m.group(1)] = m.group(2)
        if "ccbox demo: web UI on" in line:  # after the logins, once ccboxd listens
            break
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
        time.sleep(15)
        for user, path, name in (
            ("supervisor", "/wallboard", "wallboard-en.png"),
            ("supervisor", "/supervisor", "supervisor-console-en.png"),
            ("agent1001", "/desk", "agent-desk-en.png"),
            ("qa", "/recordings", "recordings-en.png"),
        ):
            driver.delete_all_cookies()
            driver.get(base + "/login")
            driver.find_element(By.NAME, "username").send_keys(user)
            driver.find_element(By.NAME, "password").send_keys(logins.get(user, ""))
            driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
            time.sleep(0.5)
            driver.get(base + path)
            time.sleep(3)  # the live feed's snapshot and a few updates
            driver.save_screenshot(str(OUT / name))
    finally:
        driver.quit()
        demo.terminate()
        demo.wait(30)
    print(f"screenshots in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
