"""Issue 19's "done when" for SMS, in real headless Chromium against ccboxd, the switch
simulator and a simulated GSM modem on a real pseudo-terminal (tests/support/sim_modem.py,
the demo's modem): a customer's Chinese SMS arrives on the modem, reaches the agent's desk
as a notice and a ticket; the agent accepts it and replies by SMS from the ticket page; the
modem receives the reply's PDU (decoded back to the text), its delivery report marks the
reply delivered, and the System page shows the modem and its outbox."""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from appliance import config as config_mod
from appliance.cli import resolved
from appliance.crm.customer_store import CustomerStore
from drivers.serial.gsm.pdu import decode_submit, join_text
from tests.support.appliance import migrate_and_seed
from tests.support.chromium import headless_chromium, login, submit_and_wait
from tests.support.daemon import running_daemon
from tests.support.live_box import LiveBox, SimProcess, seed_center, write_box_config
from tests.support.sim_modem import SimModem

pytestmark = pytest.mark.integration
CUSTOMER = "李娜 Li Na"
NUMBER = "13912345678"
# two UCS2 parts each way (more than 70 characters)
INBOUND = (
    "您好，我家的宽带从昨晚开始一直掉线，光猫的 LOS 灯在闪红灯。光猫型号是华为 HG8245H，"
    "上周刚换过电源适配器。家里老人需要用网络视频，麻烦尽快安排师傅上门检查，谢谢！"
)
REPLY = (
    "李女士您好，已为您安排师傅明天上午九点到十一点上门检修光猫和光纤线路，"
    "师傅出发前会先打电话联系您，请保持电话畅通。给您带来不便，非常抱歉！祝您生活愉快。"
)


def _with_modem(config: config_mod.Config, device: Path) -> config_mod.Config:
    """``config``'s file with ``[modem] device`` set (the rendered file has the line)."""
    text = config.path.read_text(encoding="utf-8")
    section = text.index("\n[modem]\n")
    line = text.index("\ndevice =", section)
    end = text.index("\n", line + 1)
    config.path.write_text(f"{text[:line]}\ndevice = {device}{text[end:]}", encoding="utf-8")
    return config_mod.load(config.path)


def _seed(db: Any, ids: dict[str, int]) -> None:
    ids.update(seed_center(db))
    ids["customer"] = resolved(CustomerStore(db).create("admin", CUSTOMER, [NUMBER]))


def test_a_chinese_sms_reaches_an_agent_whose_reply_the_modem_sends(tmp_path: Path) -> None:
    modem = SimModem(tmp_path / "ttyGSM0", tmp_path / "modem.log")
    sim: SimProcess | None = None
    try:
        device = Path(modem.wait(lambda e: e["event"] == "plugged", 20, "the pty")["device"])
        config = _with_modem(write_box_config(tmp_path), device)
        ids: dict[str, int] = {}
        migrate_and_seed(config, lambda db: _seed(db, ids))
        sim = SimProcess(config.path, tmp_path / "simulator.log")
        sim.wait(lambda e: e["event"] == "listening", 30, "the simulator's AMI port")
        with running_daemon(config.path, tmp_path) as daemon:
            box = LiveBox(config, daemon, sim, ids)
            box.agents_login("1001")
            # the driver's set-up ends with the signal and the operator: the modem is ready
            modem.wait(lambda e: e.get("line", "").startswith("AT+COPS?"), 30, "the modem's set-up")
            _scenario(box, modem)
            daemon.stop()
    finally:
        modem.stop()
        if sim is not None:
            sim.stop()


def _scenario(box: LiveBox, modem: SimModem) -> None:
    with headless_chromium() as driver:
        login(driver, box.url, "agent")
        driver.get(box.url + "/desk")
        modem.send({"cmd": "deliver", "sender": "+86" + NUMBER, "text": INBOUND})
        assert modem.wait(lambda e: e["event"] == "delivered", 10, "the SMS")["parts"] == 2
        wait = WebDriverWait(driver, 20)
        # the notice on the desk, the whole text reassembled from its two parts
        track = driver.find_element(By.ID, "desk-notices-track")
        wait.until(lambda d: INBOUND[:60] in (track.get_attribute("textContent") or ""))
        # the ticket among the agent's (nobody's yet), from the customer, its text escaped
        driver.get(box.url + "/tickets/")
        link = driver.find_element(By.XPATH, f"//tr[td[contains(., 'SMS from +86{NUMBER}')]]//a")
        driver.get(link.get_attribute("href") or "")
        main = driver.find_element(By.TAG_NAME, "main").text
        assert INBOUND in main and CUSTOMER in main
        accept = driver.find_element(By.CSS_SELECTOR, "form.tk-moves button[value=accepted]")
        submit_and_wait(driver, accept)
        reply = driver.find_element(By.CSS_SELECTOR, "form[action='/tickets/reply']")
        Select(reply.find_element(By.NAME, "channel")).select_by_value("sms")
        assert reply.find_element(By.NAME, "to").get_attribute("value") == NUMBER
        reply.find_element(By.NAME, "body").send_keys(REPLY)
        submit_and_wait(driver, reply.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        # the modem got the reply: UCS2 in as many parts as it needs, decoded back to it
        modem.wait(lambda e: e["event"] == "sent", 20, "the reply on the modem")
        modem.wait(
            lambda e: len([x for x in modem.events if x["event"] == "sent"]) == 2, 10, "part 2"
        )
        parts = [e for e in modem.events if e["event"] == "sent"]
        decoded = [decode_submit(p["pdu"]) for p in parts]
        assert {d.number.lstrip("+") for d in decoded} == {NUMBER}
        assert join_text([d.text for d in decoded]) == REPLY
        assert all(d.encoding == "ucs2" and d.request_report for d in decoded)
        # its delivery report came back: the reply is delivered, the ticket replied
        row = f"//tr[td[contains(., '{REPLY[:12]}')]]"

        def delivered(d: Any) -> bool:
            d.refresh()  # the page shows the reply as it was when it loaded
            return "Delivered" in d.find_element(By.XPATH, row).text

        WebDriverWait(driver, 20, poll_frequency=0.5).until(delivered)
        assert "Replied" in driver.find_element(By.TAG_NAME, "main").text
        # the System page: the modem ready, its SIM, signal and operator, the outbox
        driver.delete_all_cookies()
        login(driver, box.url, "admin")
        driver.get(box.url + "/admin/system")
        card = driver.find_element(By.ID, "sys-modem")
        state = card.find_element(By.ID, "sys-modem-state")
        assert state.get_attribute("data-state") == "ready"
        assert card.find_element(By.ID, "sys-modem-sim").get_attribute("data-sim") == "ready"
        assert "dBm" in card.find_element(By.ID, "sys-modem-signal").text
        assert "China Mobile" in card.find_element(By.ID, "sys-modem-operator").text
        assert card.find_element(By.ID, "sys-modem-sent").text == "1"
        assert card.find_element(By.ID, "sys-modem-failed").text == "0"
        assert driver.find_elements(By.ID, "sys-spans")  # helper 2's spans card beside it
