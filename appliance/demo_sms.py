"""The demo's GSM modem: drivers/serial/sim/gsm_modem.py's SimulatedModem on a pseudo-terminal
(PtyLink), which ccboxd opens as its ``[modem] device`` like a real USB modem.

Once the modem is ready, a demo customer texts the center in Chinese (``greet``): the SMS
opens a ticket (or joins the customer's open one) and a notice reaches the agents' desks.
An agent's SMS reply from the ticket page goes out through the simulated modem, which
answers with a delivery report; the System page's modem card shows it all.
"""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance import config as config_mod
from drivers.serial.sim.gsm_modem import SimulatedModem
from drivers.serial.sim.pty import PtyLink

# A demo customer's mobile (appliance/demo_crm.py's first customer texts in) and the text.
GREETING = (
    "您好，我家的宽带从昨晚开始一直掉线，光猫的 LOS 灯在闪红灯，麻烦尽快安排师傅上门检查。谢谢！"
)
READY_WAIT_S = 60.0  # the driver initialises the modem in a few seconds


@dataclass
class DemoModem:
    sim: SimulatedModem
    link: PtyLink


def plug(
    reactor: Any, config: config_mod.Config, link: Path | None = None
) -> tuple[config_mod.Config, DemoModem]:
    """The simulated modem, plugged in, and ``config`` with it as ``[modem] device``."""
    sim = SimulatedModem(reactor, operator="China Mobile 中国移动", rssi=22)
    pty = PtyLink.open(reactor, sim, link)
    modem = dataclasses.replace(config.modem, device=str(pty.device))
    return dataclasses.replace(config, modem=modem), DemoModem(sim, pty)


def sender() -> str:
    """The texting customer's number as the network gives it (+86...)."""
    from appliance.demo_crm import CUSTOMERS

    return "+86" + CUSTOMERS[0].numbers[0].lstrip("0")


def greet(
    reactor: Any,
    demo: DemoModem,
    ready: Callable[[], bool],
    *,
    text: str = GREETING,
    number: str | None = None,
    said: Callable[[str], object] = print,
) -> None:
    """Once ``ready()`` (the daemon's modem is ready), the customer's SMS arrives."""
    waited = [0.0]

    def check() -> None:
        if ready():
            parts = demo.sim.deliver(number or sender(), text)
            said(f"ccbox demo: a customer's SMS ({parts} part(s)) arrived on the simulated modem")
            return
        waited[0] += 0.5
        if waited[0] < READY_WAIT_S:
            reactor.callLater(0.5, check)
        else:
            said("ccbox demo: the simulated modem never became ready: no SMS sent")

    reactor.callLater(0.5, check)
