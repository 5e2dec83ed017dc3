"""The npm-installed charting library: served from node_modules at /vendor/, and a box
without it says so in its log and health registry instead of drawing blank charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from twisted.logger import globalLogPublisher

from appliance.health import DEGRADED, HealthRegistry
from webui import vendor


def test_the_installed_library_is_there_and_checks_clean() -> None:
    # make deps installed it (CI runs make test, which runs deps first)
    assert vendor.missing() == []
    health = HealthRegistry()
    assert vendor.check(health)
    assert health.get(vendor.HEALTH_PART) is None


def test_a_missing_library_is_logged_and_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(vendor, "FILES", {vendor.ECHARTS: tmp_path / "gone" / "echarts.min.js"})
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        health = HealthRegistry()
        assert not vendor.check(health)
    finally:
        globalLogPublisher.removeObserver(events.append)
    part = health.get(vendor.HEALTH_PART)
    assert part is not None and part.state == DEGRADED
    assert "make deps" in part.detail
    errors = [e for e in events if getattr(e.get("log_level"), "name", "") == "error"]
    assert any("echarts.min.js" in e.get("files", "") for e in errors), errors
