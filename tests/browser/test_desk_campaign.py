"""The agent's side of a campaign in real headless Chromium against a running master (in
this process, so the test is the dialer's voice on the bus): a preview lead pops on the desk
with its list fields and the campaign's script and "Dial now" reaches the dialer; then the
answered customer is offered, talked to and the call ends, and the agent saves a disposition
with a note and a callback for tomorrow, which the lead then carries. Screenshot:
build/screenshots/agent-desk-campaign.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait
from twisted.internet import reactor, threads

from acd.dialer.events import AttemptEnded, LeadConnected, LeadOffered, LeadPreview
from tests.support.appliance import RunningAppliance
from tests.support.chromium import headless_chromium, login
from tests.support.tmp import temp_dir
from tests.unit.test_web import WebTestCase
from tests.unit.test_web_desk_lead import PreviewHooks, seed

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "Hello, this is Acme 你好.\nAsk about the tea order."


def wait_for(driver: WebDriver, what: str, script: str, seconds: float = 10) -> None:
    WebDriverWait(driver, seconds, poll_frequency=0.05).until(
        lambda d: bool(d.execute_script(script)), what
    )


def shown(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


class DeskCampaignBrowserTests(WebTestCase):
    async def test_a_lead_pops_with_its_script_and_the_agent_disposes_of_it(self) -> None:
        self.app = await RunningAppliance.start(temp_dir(self), seed=seed)
        self.addCleanup(self.app.stop)
        master = self.app.master
        url = f"http://127.0.0.1:{self.app.port}"
        store = master.db.dialer
        campaign = await store.campaign_by_name("spring")
        lead = await store.lead_by_number(campaign.id, "13800000001")
        agent = master.acd.agent_by_number("1001")
        assert campaign is not None and lead is not None and agent is not None
        hooks = PreviewHooks()
        setattr(master, "dialer", hooks)  # noqa: B010
        self.addCleanup(setattr, master, "dialer", None)
        now = dt.datetime.now(dt.UTC)
        attempt = await store.start_attempt(campaign.id, lead.id, "ccbox-dl-b1", now)
        await master.db.calls.start(
            "ccbox-dl-b1", "ccbox-dl-b1", "outbound", now, lead.number, "", lead.number
        )
        fields = {"product": "tea 茶", "note": HOSTILE}

        def publish(event: Any) -> None:
            reactor.callFromThread(master.bus.publish, event)

        def on_reactor(fn: Any, *args: Any) -> Any:
            return threads.blockingCallFromThread(reactor, fn, *args)

        def scenario() -> str:
            with headless_chromium() as driver:
                login(driver, url, "agent")
                driver.get(url + "/desk")
                wait_for(
                    driver,
                    "the feed",
                    "return document.getElementById('desk-conn').dataset.state === 'live'",
                )
                assert not driver.find_element(By.ID, "desk-lead").is_displayed()
                t = reactor.seconds()
                publish(
                    LeadPreview(
                        agent.id,
                        campaign.id,
                        "spring",
                        lead.id,
                        lead.number,
                        "Zhang San",
                        SCRIPT,
                        10.0,
                        t,
                        fields,
                    )
                )
                wait_for(
                    driver,
                    "the preview",
                    "return document.getElementById('desk-lead').dataset.state === 'preview'",
                )
                assert shown(driver, "lead-status") == "Next call"
                assert shown(driver, "lead-number") == "13800000001"
                assert shown(driver, "lead-name") == "Zhang San"
                assert shown(driver, "lead-script") == SCRIPT
                assert HOSTILE in shown(driver, "lead-fields")  # as text, not an element
                assert driver.find_elements(By.CSS_SELECTOR, "#desk-lead img") == []
                assert "tea 茶" in shown(driver, "lead-fields")
                assert "unless you skip it" in shown(driver, "lead-countdown")
                assert not driver.find_element(By.ID, "lead-form").is_displayed()
                driver.find_element(By.ID, "btn-lead-dial").click()
                wait_for(
                    driver,
                    "dialing",
                    "return document.getElementById('lead-preview-msg').textContent"
                    " === 'Dialing the lead.'",
                )
                assert hooks.asked == [("dial", agent.id)]
                # the customer answered and is offered to this agent; talked to; gone
                publish(
                    LeadOffered(
                        agent.id,
                        campaign.id,
                        "spring",
                        lead.id,
                        attempt,
                        lead.number,
                        "Zhang San",
                        SCRIPT,
                        None,
                        t + 1,
                        fields,
                        ("Interested", "Call back later", "Not interested 不感兴趣"),
                    )
                )
                wait_for(
                    driver,
                    "the offer",
                    "return document.getElementById('desk-lead').dataset.state === 'offered'",
                )
                assert not driver.find_element(By.ID, "lead-preview").is_displayed()
                assert not driver.find_element(By.ID, "lead-form").is_displayed()  # not yet
                on_reactor(lambda: store.note_attempt(attempt, agent_id=agent.id))
                publish(LeadConnected(agent.id, campaign.id, lead.id, attempt, 300, t + 2))
                wait_for(
                    driver,
                    "connected",
                    "return document.getElementById('desk-lead').dataset.state === 'connected'",
                )
                assert shown(driver, "lead-status") == "On the call"
                assert driver.find_element(By.ID, "lead-form").is_displayed()
                on_reactor(lambda: store.finish_attempt(attempt, "answered"))
                publish(AttemptEnded(campaign.id, lead.id, attempt, "answered", None, t + 60))
                wait_for(
                    driver,
                    "ended",
                    "return document.getElementById('desk-lead').dataset.state === 'ended'",
                )
                options = [
                    o.text
                    for o in driver.find_elements(By.CSS_SELECTOR, "#lead-disposition option")
                ]
                assert options[1:] == ["Interested", "Call back later", "Not interested 不感兴趣"]
                # the disposition, a note and a callback tomorrow at 10:00 (the agent's time)
                Select(driver.find_element(By.ID, "lead-disposition")).select_by_value(
                    "Call back later"
                )
                driver.find_element(By.ID, "lead-notes").send_keys("call after 10")
                driver.execute_script(
                    "var d = new Date(); d.setDate(d.getDate() + 1);"
                    "var p = function (n) { return (n < 10 ? '0' : '') + n; };"
                    "document.getElementById('lead-callback-at').value = d.getFullYear() + '-'"
                    " + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T10:00';"
                )
                driver.find_element(By.ID, "lead-save").click()
                wait_for(
                    driver,
                    "saved",
                    "return document.getElementById('desk-lead').dataset.saved"
                    " === 'Call back later'",
                )
                said = shown(driver, "lead-msg")
                SHOTS.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(SHOTS / "agent-desk-campaign.png"))
                return said

        said = await self.call(scenario)
        self.assertEqual(said, "Saved; the customer will be called back then.")
        after = await store.lead(lead.id)
        assert after is not None
        self.assertEqual(
            (after.disposition, after.status, after.agent_id, after.last_outcome),
            ("Call back later", "scheduled", agent.id, "callback"),
        )
        assert after.next_at is not None
        self.assertGreater(after.next_at, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
        call_id = await master.db.calls.find("ccbox-dl-b1")  # the attempt's call
        assert call_id is not None
        notes = await master.db.desk.notes(call_id)
        self.assertEqual(
            [(n.disposition, n.notes) for n in notes], [("Call back later", "call after 10")]
        )
