"""live.js (``ccboxLive``) in real headless Chromium against a running ccboxd: the snapshot
first with the server's clock, status "live", an agent's state change within a second, an
agent's stream without the other agents, and a page without a login that gets nothing and
stays "reconnecting"."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from appliance.cli import resolved
from tests.support.appliance import USERS, prepare
from tests.support.chromium import headless_chromium, login
from tests.support.daemon import running_daemon
from tests.support.http import Browser

pytestmark = pytest.mark.integration

START = """
const done = arguments[arguments.length - 1];
window.__got = [];
window.__status = [];
const s = document.createElement("script");
s.src = "/static/live.js";
s.onload = () => {
  window.__feed = ccboxLive.connect({topics: arguments[0]});
  for (const k of ["snapshot", "agent", "queue", "call", "offer", "notice", "alarm"]) {
    window.__feed.on(k, (d) => window.__got.push([k, d]));
  }
  window.__feed.status((st) => window.__status.push(st));
  done(true);
};
s.onerror = () => done(false);
document.head.appendChild(s);
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("live-js")

    def seed(db: Any) -> None:
        user = resolved(db.users.login_record("agent")).user.id
        mine = resolved(db.agents.add("1001", "Ann", "", "PJSIP/1001"))
        resolved(db.agents.link_user(mine.id, user))
        resolved(db.agents.add("1002", "Bob", "", "PJSIP/1002"))
        resolved(db.queues.add("support"))

    config = prepare(tmp, seed=seed)
    with running_daemon(tmp / "ccbox.conf", tmp):
        yield f"http://127.0.0.1:{config.web.port}", config.web.port


def start(driver: WebDriver, base: str, user: str, topics: str = "all") -> None:
    login(driver, base, user)
    driver.get(base + "/")
    driver.set_script_timeout(10)
    assert driver.execute_async_script(START, topics) is True
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return window.__got.length") > 0)


def got(driver: WebDriver, kind: str) -> list[Any]:
    return [d for k, d in driver.execute_script("return window.__got") if k == kind]


def act(port: int, action: str, agent: str, ok: tuple[int, ...] = (200,)) -> None:
    b = Browser(port)
    assert b.login("sup", USERS["sup"][1]).status == 303
    token = b.get("/").csrf()
    r = b.post_json("/api/acd/state", {"action": action, "agent": agent}, token)
    assert r.status in ok, (r.status, r.body[:200])


def test_a_supervisor_sees_an_agent_log_in_within_a_second(box: tuple[str, int]) -> None:
    base, port = box
    with headless_chromium() as driver:
        start(driver, base, "sup")
        (snap,) = got(driver, "snapshot")
        assert {a["number"] for a in snap["agents"]} == {"1001", "1002"}
        offset = driver.execute_script("return window.__feed.offset()")
        assert abs(offset) < 2  # same machine: the server's clock is ours
        WebDriverWait(driver, 5).until(
            lambda d: d.execute_script("return window.__status").count("live") == 1
        )
        act(port, "login", "1002")
        WebDriverWait(driver, 1.5).until(
            lambda d: any(
                a["number"] == "1002" and a["state"] == "available" for a in got(d, "agent")
            )
        )
        assert driver.execute_script("return window.__feed.lastId()").count("-") == 1


def test_an_agent_stream_has_only_its_own_agent(box: tuple[str, int]) -> None:
    base, port = box
    with headless_chromium() as driver:
        start(driver, base, "agent")
        (snap,) = got(driver, "snapshot")
        assert [a["number"] for a in snap["agents"]] == ["1001"]
        act(port, "login", "1001")
        act(port, "pause", "1001")
        act(port, "login", "1002", ok=(200, 409))  # another agent: not on this stream
        act(port, "pause", "1002")
        WebDriverWait(driver, 3).until(
            lambda d: [a["state"] for a in got(d, "agent")][-1:] == ["paused"]
        )
        assert {a["number"] for a in got(driver, "agent")} == {"1001"}
        assert [q["name"] for q in snap["queues"]] == ["support"]


def test_without_a_login_the_feed_stays_reconnecting(box: tuple[str, int]) -> None:
    base, _port = box
    with headless_chromium() as driver:
        driver.get(base + "/login")
        driver.set_script_timeout(10)
        assert driver.execute_async_script(START, "all") is True
        time.sleep(2.5)  # the first try (401) and a retry
        assert driver.execute_script("return window.__got") == []
        assert set(driver.execute_script("return window.__status")) == {"reconnecting"}
