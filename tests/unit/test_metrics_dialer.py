"""The dialer's metrics, scraped from a campaign running on the simulated switch in virtual
time (tests/support/dialer_rig.py): lines by state, the calls counted, the abandon ratio."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from appliance.health import HealthRegistry
from appliance.reports import metrics
from recorder.service import RecorderService
from tests.support.dialer_rig import DialerRig
from tests.unit.test_dialer_engine import PERSON, db, login_all, rig_for, seed

__all__ = ["db"]  # the fixture
NUMBERS = ["13800000001", "13800000002"]


def scrape(rig: DialerRig, db: DBConnector, tmp_path: Path) -> tuple[str, dict[str, float]]:
    """The exposition as served, and the campaign's samples by name and state/window."""
    sources = metrics.MetricsSources(
        rig.clock,
        rig.acd,
        db,
        RecorderService(rig.clock, db, tmp_path / "recordings"),
        HealthRegistry(),
        tmp_path,
        callmodel=lambda: rig.model,
        dialer=lambda: rig.dialer,
    )
    inline = metrics.Scraper(sources, in_thread=lambda fn, *a: defer.maybeDeferred(fn, *a))
    body, content_type = resolved(defer.ensureDeferred(inline.scrape()))
    assert content_type.startswith("text/plain")
    text = body.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("ccbox_dialer_"):
                assert s.labels["campaign"] == "spring"
                key = s.labels.get("state") or s.labels.get("window") or ""
                out[f"{s.name}:{key}" if key else s.name] = s.value
    return text, out


def test_a_campaign_s_lines_calls_and_abandon_ratio(db: DBConnector, tmp_path: Path) -> None:
    ids = seed(db, 2, NUMBERS, mode="progressive")
    rig = rig_for(db, dict.fromkeys(NUMBERS, PERSON))
    login_all(rig, ids)
    rig.step(1.1)  # two agents available: two lines ringing
    _, got = scrape(rig, db, tmp_path)
    assert got["ccbox_dialer_campaign_running"] == 1
    assert got["ccbox_dialer_lines:ringing"] == 2
    assert got["ccbox_dialer_lines:talking"] == 0
    assert got["ccbox_dialer_calls_placed_total"] == 2

    # One agent goes to lunch: both answer, one is abandoned (no agent within 2 s).
    rig.acd.pause(ids["2002"], "lunch")
    rig.step(8)
    text, got = scrape(rig, db, tmp_path)
    assert got["ccbox_dialer_lines:ringing"] == 0
    assert got["ccbox_dialer_lines:talking"] == 1
    assert got["ccbox_dialer_calls_answered_total"] == 2
    assert got["ccbox_dialer_calls_abandoned_total"] == 1
    assert got["ccbox_dialer_abandon_ratio:24h"] == 0.5
    assert got["ccbox_dialer_abandon_ratio:30d"] == 0.5
    assert 'ccbox_agents_paused{reason="lunch"} 1.0' in text
    for secret in (*NUMBERS, "Lead 1380"):  # the called numbers and the leads' names
        assert secret not in text
    rig.stop()
