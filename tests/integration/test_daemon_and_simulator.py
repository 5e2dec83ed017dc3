"""ccboxd and the switch simulator as separate processes, over loopback AMI and FastAGI."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.config import load
from appliance.db import model
from appliance.db.engine import create_engine
from tests.conftest import write_config
from tests.support.appliance import migrate_and_seed
from tests.support.daemon import run_simulator, running_daemon

pytestmark = pytest.mark.integration


def test_fifty_concurrent_calls_each_leave_a_completed_call_row(tmp_path: Path) -> None:
    conf = write_config(tmp_path, switch=True, ami=False)  # FastAGI only: no manager
    config = load(conf)
    assert config.fastagi.enabled and not config.ami.enabled
    migrate_and_seed(config)
    with running_daemon(conf, tmp_path) as daemon:
        summary = run_simulator(config.fastagi.port, 50, 50, 0.2, timeout=120)
        assert summary == {
            "offered": 50,
            "completed": 50,
            "caller_hangups": 0,
            "failed": 0,
            "unreachable": 0,
        }
        daemon.stop()
    assert daemon.returncode == 0, daemon.output
    assert "Traceback" not in daemon.output
    engine = create_engine(config.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    model.calls.c.caller_number, model.calls.c.disposition, model.calls.c.ended_at
                )
            ).all()
            events = conn.execute(sa.select(sa.func.count()).select_from(model.call_events))
            n_events = events.scalar_one()
            # the report rollups counted every call (the maintainer drains once more on its
            # way out): nothing is left in the inbox
            t = model.report_traffic.c
            counted = conn.execute(
                sa.select(sa.func.sum(t.calls)).where(t.grain == "day", t.scope == "center")
            ).scalar_one()
            inbox = conn.execute(sa.select(sa.func.count()).select_from(model.report_inbox))
            left = inbox.scalar_one()
    finally:
        engine.dispose()
    assert len(rows) == 50
    assert {r.disposition for r in rows} == {
        "self_service"
    }  # the built-in flow, no queues: the IVR alone
    assert all(r.ended_at is not None for r in rows)
    assert len({r.caller_number for r in rows}) == 50  # each call its own row
    assert n_events == 200  # flow_start, two ivr_steps (welcome, goodbye), hangup per call
    assert (counted, left) == (50, 0)


def test_daemon_logs_in_to_the_simulated_switch_and_calls_complete(tmp_path: Path) -> None:
    conf = write_config(tmp_path, switch=True)  # AMI and FastAGI both on
    config = load(conf)
    assert config.ami.enabled and config.fastagi.enabled
    migrate_and_seed(config)
    with running_daemon(conf, tmp_path) as daemon:
        summary = run_simulator(config.fastagi.port, 20, 20, 0.2, timeout=120, serve_config=conf)
        daemon.stop()
    assert daemon.returncode == 0, daemon.output
    assert "Traceback" not in daemon.output
    assert summary["completed"] == 20 and summary["failed"] == 0, summary
    # ccboxd logged in once, resynchronised from CoreShowChannels, and kept the link alive.
    assert summary["ami_logins"] == 1, summary
    assert summary["ami_actions"]["login"] == 1
    assert summary["ami_actions"]["coreshowchannels"] == 1
    assert "AMI ready" in daemon.output
