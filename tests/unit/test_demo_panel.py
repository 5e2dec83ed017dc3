"""The demo's front panel and watchdog board: plugged on pseudo-terminals, in the config."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.testing import MemoryReactorClock

from appliance import config as config_mod
from appliance import demo_panel


def test_the_demo_plugs_a_panel_and_a_watchdog_board_into_its_config(tmp_path: Path) -> None:
    config = config_mod.parse(config_mod.render(tmp_path))
    config, boards = demo_panel.plug(MemoryReactorClock(), config)
    assert config.front_panel.device == str(boards.panel_link.device)
    assert config.watchdog.device == f"serial:{boards.board_link.device}"
    assert Path(config.front_panel.device).exists()
    assert (boards.panel.rows, boards.panel.cols) == (4, 20)  # the [front_panel] defaults
    boards.unplug()
    assert not boards.panel_link.plugged and not boards.board_link.plugged
