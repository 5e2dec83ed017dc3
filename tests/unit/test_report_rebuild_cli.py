"""``ccbox reports rebuild``: bad dates refused with a clear line, the rollups of the days
counted again from the raw rows, a progress bar on a terminal and a summary line."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance import config as config_mod
from appliance.cli import main
from appliance.db import model
from appliance.db.engine import create_engine
from appliance.reports.rebuild_cli import Bar

UTC = dt.UTC


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "ccbox.conf"
    text = config_mod.render(tmp_path / "data")
    text = text.replace("# timezone = Asia/Shanghai", "timezone = Asia/Shanghai", 1)
    assert "\ntimezone = Asia/Shanghai" in text  # the template's own commented line, set
    path.write_text(text, encoding="utf-8")
    assert main(["--config", str(path), "db", "upgrade"]) == 0
    return path


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        ("2026-13-01", "2026-01-02", "'2026-13-01' is not a date: use YYYY-MM-DD"),
        ("2026-1-1", "2026-01-02", "'2026-1-1' is not a date"),
        ("yesterday", "2026-01-02", "'yesterday' is not a date"),
    ],
)
def test_bad_dates_are_refused_clearly(
    conf: Path, first: str, last: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--config", str(conf), "reports", "rebuild", "--from", first, "--to", last])
    assert info.value.code == 2
    assert says in capsys.readouterr().err


def test_an_upside_down_range_is_refused(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(conf), "reports", "rebuild", "--from", "2026-02-02"]
    assert main([*args, "--to", "2026-02-01"]) == 1
    assert "ccbox: --to 2026-02-01 is before --from 2026-02-02" in capsys.readouterr().err


def test_rebuild_counts_the_days_again_and_says_so(
    conf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = config_mod.load(conf).database_url
    engine = create_engine(url)
    started = dt.datetime(2026, 1, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 February in Shanghai
    with engine.begin() as conn:
        conn.execute(
            model.queues.insert().values(id=1, name="q", service_level_s=20, created_at=started)
        )
        conn.execute(
            model.calls.insert().values(
                uniqueid="u",
                linkedid="u",
                direction="inbound",
                started_at=started,
                ended_at=started + dt.timedelta(minutes=3),
                entry_queue_id=1,
                queue_id=1,
                queued_at=started + dt.timedelta(seconds=20),
                queue_outcome="abandoned",
                wait_ms=3_000,
            )
        )
        # a stale row the rebuild replaces
        conn.execute(
            model.report_traffic.insert().values(
                grain="day", bucket=20260201, scope="center", key="", calls=99
            )
        )
    args = ["--config", str(conf), "reports", "rebuild", "--from", "2026-02-01"]
    assert main([*args, "--to", "2026-02-02"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("rebuilt 2 day(s) 2026-02-01..2026-02-02 in Asia/Shanghai: 1 calls")
    assert "\r" not in out  # no bar when the output is not a terminal
    t = model.report_traffic
    with engine.connect() as conn:
        rows = {
            (r.grain, r.scope): (r.calls, r.abandoned, r.abandoned_short, r.ab_lt10)
            for r in conn.execute(sa.select(t).where(t.c.bucket.in_((20260201, 202602))))
        }
    engine.dispose()
    assert rows[("day", "center")] == (1, 1, 1, 1)
    assert rows[("month", "queue")] == (1, 1, 1, 1)


def test_the_bar_is_drawn_in_place_on_a_terminal() -> None:
    out = io.StringIO()
    bar = Bar(out, "rebuilding", tty=True)
    bar(50, 100)
    bar(100, 100)
    bar.close()
    text = out.getvalue()
    assert text.startswith("\rrebuilding [###############...............]  50.0% 50/100 calls")
    assert "100.0% 100/100 calls" in text and text.endswith("\n")
    quiet = io.StringIO()
    Bar(quiet, "rebuilding", tty=False)(1, 2)
    assert quiet.getvalue() == ""
