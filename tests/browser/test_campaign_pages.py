"""The dialer's pages in real headless Chromium against a running master (in this process,
so the test can be the dialer's voice on the bus): an admin creates a campaign, uploads a
small CSV with a bad row, watches the import's progress to its end and reads the bad row
with its line and reason, starts the campaign; the wallboard then shows the campaign's tile
from the live feed, its abandon rate red above the campaign's target, in both languages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from twisted.internet import reactor

from acd.dialer.events import CampaignFigures
from appliance.cli import resolved
from tests.support.appliance import RunningAppliance
from tests.support.chromium import headless_chromium, login, submit_and_wait, switch_language
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
NAME = "Survey 回访"
CSV = (
    "电话,name,product\n"
    "13800138000,Zhang San 张三,tea\n"
    "+86 139-0013-9000,Li Si,coffee\n"
    "call me,Bad Row,x\n"
    "01062345678,Wang Wu,milk\n"
)


def seed(db: Any) -> None:
    resolved(db.queues.add("outbound", "Outbound team 外呼组"))


def figures(campaign_id: int, abandon_24h: float) -> CampaignFigures:
    return CampaignFigures(
        campaign_id=campaign_id,
        name=NAME,
        mode="progressive",
        state="running",
        placed=120,
        answered=40,
        abandoned=2,
        machines=3,
        in_flight=4,
        agents_idle=1,
        agents_busy=9,
        occupancy=0.82,
        dial_level=2.25,
        abandon_24h=abandon_24h,
        abandon_30d=1.8,
        at=time.time(),
    )


def wait_for(driver: WebDriver, what: str, script: str, seconds: float = 10) -> None:
    WebDriverWait(driver, seconds, poll_frequency=0.05).until(
        lambda d: bool(d.execute_script(script)), what
    )


def tile_text(driver: WebDriver, field: str) -> str:
    el = driver.find_element(By.CSS_SELECTOR, f'.wb-campaign [data-field="{field}"]')
    return str(el.text)


class CampaignBrowserTests(WebTestCase):
    async def test_create_upload_progress_bad_row_start_and_wallboard_tile(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        url = f"http://127.0.0.1:{self.app.port}"
        bus = self.app.master.bus
        csv_path = Path(temp_dir(self)) / "leads.csv"
        csv_path.write_text(CSV, encoding="utf-8")
        SHOTS.mkdir(parents=True, exist_ok=True)

        def scenario() -> int:
            with headless_chromium() as driver:
                login(driver, url)
                driver.get(url + "/admin/campaigns")
                form = driver.find_element(By.CSS_SELECTOR, "form[action='/admin/campaigns/add']")
                form.find_element(By.NAME, "name").send_keys(NAME)
                Select(form.find_element(By.NAME, "mode")).select_by_value("progressive")
                form.find_element(By.NAME, "caller_id_number").send_keys("4008001234")
                submit_and_wait(
                    driver,
                    form.find_element(By.CSS_SELECTOR, "button"),
                    "return !!document.getElementById('upload-form')",
                )
                assert NAME in driver.find_element(By.TAG_NAME, "h1").text
                campaign_id = int(
                    driver.find_element(By.ID, "live").get_attribute("data-campaign-id") or 0
                )
                # The upload: the page follows the import to its end.
                upload = driver.find_element(By.ID, "upload-form")
                upload.find_element(By.NAME, "file").send_keys(str(csv_path))
                submit_and_wait(
                    driver,
                    upload.find_element(By.CSS_SELECTOR, "button"),
                    "return !!document.getElementById('import')",
                )
                wait_for(
                    driver,
                    "the import's end",
                    "return document.getElementById('import').dataset.done === 'true'",
                )
                assert driver.find_element(By.ID, "import-ok").text == "3"
                assert driver.find_element(By.ID, "import-bad").text == "1"
                bar = driver.find_element(By.ID, "import-bar")
                assert float(bar.get_attribute("value") or 0) == 100.0
                cells = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#bad-rows td")]
                assert cells[0] == "4", cells
                assert "letters" in cells[1], cells
                lists = driver.find_element(By.ID, "lists").text
                assert "leads.csv" in lists
                driver.save_screenshot(str(SHOTS / "campaign-upload.png"))
                driver.execute_script("document.getElementById('settings').scrollIntoView()")
                driver.save_screenshot(str(SHOTS / "campaign-settings.png"))
                # Start it: the state chip says so.
                submit_and_wait(
                    driver,
                    driver.find_element(By.CSS_SELECTOR, "[data-state-button=running]"),
                    "return !!document.querySelector('[data-state-button=stopped]')",
                )
                assert "started" in driver.find_element(By.CSS_SELECTOR, ".flash").text
                chip = driver.find_element(By.CSS_SELECTOR, "h1 [data-field=state]")
                assert chip.text == "Running"
                # The wallboard: the dialer's figures make the campaign's tile; above the
                # target (3.0 %) its abandon rate is the alarm color.
                driver.get(url + "/wallboard")
                wait_for(
                    driver,
                    "the feed",
                    "return document.getElementById('wb-conn').dataset.state === 'live'",
                )
                reactor.callFromThread(bus.publish, figures(campaign_id, 2.4))
                wait_for(driver, "the tile", "return !!document.querySelector('.wb-campaign')")
                assert NAME in driver.find_element(By.CSS_SELECTOR, ".wb-campaign h2").text
                assert tile_text(driver, "occupancy") == "82%"
                assert tile_text(driver, "dial_level") == "2.25"
                assert tile_text(driver, "abandon_24h") == "2.4%"
                assert tile_text(driver, "target") == "3.0%"
                normal = driver.find_element(
                    By.CSS_SELECTOR, '.wb-campaign [data-field="abandon_24h"]'
                )
                assert normal.get_attribute("data-level") == "normal"
                reactor.callFromThread(bus.publish, figures(campaign_id, 3.6))
                wait_for(
                    driver,
                    "red above target",
                    "return document.querySelector('.wb-campaign [data-field=abandon_24h]')"
                    ".dataset.level === 'alarm'",
                )
                assert tile_text(driver, "abandon_24h") == "3.6%"
                driver.save_screenshot(str(SHOTS / "wallboard-campaign.png"))
                # The campaign's page shows the same live figures (from the feed's snapshot).
                driver.get(f"{url}/admin/campaigns/edit?id={campaign_id}")
                wait_for(
                    driver,
                    "the live figures",
                    "return document.querySelector('#live [data-field=abandon_24h]')"
                    ".textContent === '3.6%'",
                )
                live = driver.find_element(By.ID, "live")
                assert live.find_element(By.CSS_SELECTOR, "[data-field=placed]").text == "120"
                assert live.find_element(By.CSS_SELECTOR, "[data-field=occupancy]").text == "82%"
                rate = live.find_element(By.CSS_SELECTOR, "[data-field=abandon_24h]")
                assert rate.get_attribute("data-level") == "alarm"
                # In Chinese: the page and the tile's words.
                driver.get(url + "/admin/campaigns")
                switch_language(driver, "zh_CN")
                assert "外呼活动" in driver.find_element(By.TAG_NAME, "h1").text
                row = driver.find_element(By.CSS_SELECTOR, f'[data-campaign-id="{campaign_id}"]')
                assert "运行中" in row.text and "渐进式" in row.text
                fits = "return document.documentElement.scrollWidth <= window.innerWidth"
                assert driver.execute_script(fits), "the campaigns page is wider than 1366 px"
                driver.save_screenshot(str(SHOTS / "campaigns-zh_CN.png"))
                driver.get(f"{url}/admin/campaigns/edit?id={campaign_id}")
                assert driver.execute_script(fits), "the campaign's page is wider than 1366 px"
                driver.get(url + "/admin/dnc")
                assert driver.execute_script(fits), "the do-not-call page is wider than 1366 px"
                assert "勿扰名单" in driver.find_element(By.TAG_NAME, "h1").text
                driver.get(url + "/wallboard")
                wait_for(driver, "the tile", "return !!document.querySelector('.wb-campaign')")
                assert "通话占用率" in driver.find_element(By.CSS_SELECTOR, ".wb-campaign").text
                return campaign_id

        campaign_id = await self.call(scenario)
        campaign = await self.app.master.db.dialer.campaign(campaign_id)
        self.assertEqual(campaign.state, "running")
        leads = await self.app.master.db.dialer.campaign_figures(campaign_id, campaign.created_at)
        self.assertEqual(leads.leads["new"], 3)
