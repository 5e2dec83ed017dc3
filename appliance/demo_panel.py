"""The demo's front panel and watchdog board: drivers/serial/sim/'s SimulatedPanel and
SimulatedBoard on pseudo-terminals (PtyLink), which ccboxd opens as its ``[front_panel]
device`` and ``[watchdog] device`` like the real boards on USB serial adapters.

The System page's serial card then shows the panel (its model, the last key) and the
watchdog being fed; ``DemoPanel.panel.text`` is what the LCD shows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from appliance import config as config_mod
from drivers.serial.sim.front_panel import SimulatedPanel
from drivers.serial.sim.pty import PtyLink
from drivers.serial.sim.watchdog_board import SimulatedBoard

BOARD_TIMEOUT_S = 30.0  # [watchdog] interval_s x 3 + db_timeout_s with the defaults


@dataclass
class DemoPanel:
    panel: SimulatedPanel
    panel_link: PtyLink
    board: SimulatedBoard
    board_link: PtyLink

    def unplug(self) -> None:
        self.panel_link.unplug()
        self.board_link.unplug()


def plug(reactor: Any, config: config_mod.Config) -> tuple[config_mod.Config, DemoPanel]:
    """Both boards plugged in, and ``config`` with them as its devices."""
    fp, wd = config.front_panel, config.watchdog
    panel = SimulatedPanel(rows=fp.rows, cols=fp.cols, model="DEMO-LCD", firmware="1.0")
    panel_link = PtyLink.open(reactor, panel)
    board = SimulatedBoard(reactor, BOARD_TIMEOUT_S, model="DEMO-WDT", firmware="1.0")
    board_link = PtyLink.open(reactor, board)
    config = dataclasses.replace(
        config,
        front_panel=dataclasses.replace(fp, device=str(panel_link.device)),
        watchdog=dataclasses.replace(wd, device=f"serial:{board_link.device}"),
    )
    return config, DemoPanel(panel, panel_link, board, board_link)
