"""The monthly report in real headless Chromium against a running ccboxd, on a month of
rollups (tests/support/report_month.py): its charts drawn by Apache ECharts (installed from
npm) in English and in Chinese, the figures' text in each language, the screenshots the
docs show (docs/images/reports-month-*.png); then a drill from the bad day on the trend
chart (a real click on its point) and from a figure down to the calls and a recording."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from appliance.config import load
from tests.support.appliance import prepare
from tests.support.chromium import absent, headless_chromium, login, switch_language
from tests.support.daemon import running_daemon
from tests.support.report_month import BAD_DAY, ZONE, seed_month, traffic_rows

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "images"
MONTH = "/reports?report=traffic&kind=month&start=2026-11-01"
WIDTH, HEIGHT = 1440, 1400


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("reports")
    config = prepare(tmp / "box", seed=seed_month)
    text = config.path.read_text(encoding="utf-8")
    assert "# timezone = Asia/Shanghai" in text
    config.path.write_text(text.replace("# timezone = Asia/Shanghai", f"timezone = {ZONE}"))
    config = load(config.path)
    with running_daemon(config.path, tmp) as daemon:
        yield f"http://127.0.0.1:{config.web.port}"
        daemon.stop()


@pytest.fixture(scope="module")
def chrome() -> Iterator[WebDriver]:
    with headless_chromium(console_log=True) as driver:
        yield driver


def month_total(name: str) -> float:
    [row] = [r for r in traffic_rows([1, 2]) if (r["grain"], r["scope"]) == ("month", "center")]
    return float(row[name])


def charts_drawn(driver: WebDriver) -> int:
    """Wait until every chart on the page has drawn (reports.js marks each one), then
    return how many there are."""
    count = len(driver.find_elements(By.CSS_SELECTOR, ".rp-chart"))
    assert count >= 4, count
    WebDriverWait(driver, 15, 0.1).until(
        lambda d: (
            d.execute_script("return document.body.getAttribute('data-charts-drawn')") == str(count)
        ),
        "the charts drawn",
    )
    return count


PAINTED = """
var out = [];
document.querySelectorAll('.rp-chart').forEach(function (f) {
  var c = f.querySelector('canvas');  // the chart's own layer (a heat map adds more)
  var data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;
  for (var i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  out.push(n);
});
return out;
"""


def page_errors(driver: WebDriver) -> list[str]:
    """The console's errors (a script error, a CSP refusal) since the last call; the
    browser's own request for a favicon (ccbox has none) is not the page's."""
    return [
        e["message"]
        for e in driver.get_log("browser")
        if e["level"] == "SEVERE" and "/favicon.ico" not in e["message"]
    ]


def shoot(driver: WebDriver, name: str) -> None:
    """The page's top (pickers, figures, charts) at WIDTH CSS pixels into docs/images/."""
    height = min(HEIGHT, int(driver.execute_script("return document.body.scrollHeight")))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        driver.save_screenshot(str(DOCS / name))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def tile(driver: WebDriver, name: str) -> tuple[str, str]:
    el = driver.find_element(By.CSS_SELECTOR, f'.rp-figure[data-name="{name}"]')
    return (
        el.find_element(By.CSS_SELECTOR, ".label").text,
        el.find_element(By.CSS_SELECTOR, ".num").text,
    )


def test_the_monthly_report_draws_its_charts_in_english_and_chinese(
    box: str, chrome: WebDriver
) -> None:
    login(chrome, box, "sup")
    offered = f"{round(month_total('offered')):,}"
    expected = {
        "en": (("Offered", offered), "Calls over the range", "Offered calls by hour and weekday"),
        "zh_CN": (("呼入", offered), "范围内的来电趋势", None),
    }
    page_errors(chrome)
    for lang, (offered_tile, trend_caption, heat_caption) in expected.items():
        if lang == "zh_CN":
            switch_language(chrome, "zh_CN")
        chrome.get(box + MONTH)
        count = charts_drawn(chrome)
        painted = chrome.execute_script(PAINTED)
        assert len(painted) == count and all(n > 2000 for n in painted), painted
        assert absent(chrome, ".rp-chart[data-state=failed]")
        assert tile(chrome, "offered") == offered_tile
        captions = [e.text for e in chrome.find_elements(By.CSS_SELECTOR, ".rp-chart figcaption")]
        assert any(c.startswith(trend_caption) for c in captions), captions
        if heat_caption:
            assert heat_caption in captions, captions
        else:  # no English caption is left in Chinese
            assert not any(c[:1].isascii() and c[:1].isalpha() for c in captions), captions
        title = chrome.find_element(By.ID, "rp-title").text
        assert title.startswith("Traffic" if lang == "en" else "话务"), title
        assert "2026-11" in title
        assert page_errors(chrome) == []  # no script error, nothing the CSP refused
        shoot(chrome, f"reports-month-{lang}.png")
    switch_language(chrome, "en")


def test_drill_from_the_bad_day_and_a_figure_down_to_a_recording(
    box: str, chrome: WebDriver
) -> None:
    login(chrome, box, "sup")
    chrome.get(box + MONTH)
    charts_drawn(chrome)
    # a real click on the bad day's point of the trend chart (its abandoned series)
    trend = chrome.find_element(By.CSS_SELECTOR, '.rp-chart[data-chart="trend"] .rp-canvas')
    day = BAD_DAY.day - 1
    x, y = chrome.execute_script(
        "var c = echarts.getInstanceByDom(arguments[0]);"
        "var v = c.getOption().series[2].data[arguments[1]];"
        "return c.convertToPixel({seriesIndex: 2}, [arguments[1], v]);",
        trend,
        day,
    )
    size: dict[str, Any] = trend.size
    ActionChains(chrome).move_to_element_with_offset(
        trend, int(x - size["width"] / 2), int(y - size["height"] / 2)
    ).click().perform()
    WebDriverWait(chrome, 10).until(lambda d: "/reports/calls" in d.current_url)
    assert "grain=day" in chrome.current_url and "bucket=20261116" in chrome.current_url
    assert chrome.find_element(By.ID, "rp-calls-total").text == "4 calls"
    assert "2026-11-16" in chrome.find_element(By.ID, "rp-calls-title").text
    # back on the report: the Abandoned figure lists its calls, a hostile name as text
    chrome.find_element(By.ID, "rp-back").click()
    chrome.find_element(By.CSS_SELECTOR, '.rp-figure[data-name="abandoned"] a.num').click()
    WebDriverWait(chrome, 10).until(lambda d: "filter=abandoned" in d.current_url)
    rows = chrome.find_elements(By.CSS_SELECTOR, "#rp-calls tbody tr")
    assert len(rows) == 3
    assert any("<img src=x onerror=alert(1)>" in r.text for r in rows)
    assert absent(chrome, "main img")
    # the answered call's recording opens in the player
    chrome.find_element(By.ID, "rp-back").click()
    chrome.find_element(By.CSS_SELECTOR, '.rp-figure[data-name="answered"] a.num').click()
    WebDriverWait(chrome, 10).until(lambda d: "filter=answered" in d.current_url)
    chrome.find_element(By.CSS_SELECTOR, "a.rp-recording").click()
    WebDriverWait(chrome, 10).until(lambda d: "/recordings/view?id=" in d.current_url)
    assert "13800138003" in chrome.find_element(By.TAG_NAME, "main").text
