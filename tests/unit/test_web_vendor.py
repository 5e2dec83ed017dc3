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


def test_each_missing_library_reports_under_its_own_part_with_its_own_message(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the charts' library is there, the editor's is not: only the editor is degraded
    files = dict(vendor.FILES)
    files[vendor.QUILL] = tmp_path / "gone" / "quill.js"
    monkeypatch.setattr(vendor, "FILES", files)
    health = HealthRegistry()
    assert not vendor.check(health)
    assert health.get(vendor.CHARTS.part) is None
    part = health.get(vendor.EDITOR.part)
    assert part is not None and part.state == DEGRADED
    assert "Quill" in part.detail and "ECharts" not in part.detail
    # and both missing: two parts, two messages
    files[vendor.ECHARTS] = tmp_path / "gone" / "echarts.min.js"
    health = HealthRegistry()
    assert not vendor.check(health)
    charts, editor = health.get(vendor.CHARTS.part), health.get(vendor.EDITOR.part)
    assert charts is not None and "ECharts" in charts.detail
    assert editor is not None and "Quill" in editor.detail
    assert {lib.part for lib in vendor.LIBRARIES} == {"charts", "kb-editor", "cobrowse"}
    assert set(vendor.FILES) == {f for lib in vendor.LIBRARIES for f in lib.files}


def test_rrweb_is_served_as_javascript_and_css_and_only_its_recorder_publicly() -> None:
    from twisted.web import static

    for name, kind in (
        (vendor.RRWEB_RECORD, "text/javascript"),
        (vendor.RRWEB, "text/javascript"),
        (vendor.RRWEB_CSS, "text/css"),
    ):
        served = vendor.served_file(name, vendor.FILES[name])
        assert isinstance(served, static.File)
        path = vendor.FILES[name]
        got = static.getTypeAndEncoding(
            path.name, served.contentTypes, served.contentEncodings, served.defaultType
        )
        assert got[0] == kind, (name, got)
    assert vendor.chat_public_files() == {vendor.RRWEB_RECORD: vendor.FILES[vendor.RRWEB_RECORD]}
    assert b"rrwebRecord" in vendor.FILES[vendor.RRWEB_RECORD].read_bytes()[:2000]
    assert b"Replayer" in vendor.FILES[vendor.RRWEB].read_bytes()
