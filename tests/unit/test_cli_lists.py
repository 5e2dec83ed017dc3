"""ccbox list import/export and ccbox dnc import/add, in-process, on both databases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from appliance.db import model
from appliance.db.engine import create_engine
from tests.conftest import write_config
from tests.support.lead_lists import leads, make_campaign
from tests.unit.test_cli import run


@pytest.fixture
def conf(tmp_path: Path, migrated_db_url: str) -> Path:
    engine = create_engine(migrated_db_url)
    make_campaign(engine, "survey")
    engine.dispose()
    return write_config(tmp_path, migrated_db_url)


def engine_of(migrated_db_url: str) -> sa.Engine:
    return create_engine(migrated_db_url)


def test_list_import_reports_bad_rows_by_line_and_exits_1(
    conf: Path, tmp_path: Path, migrated_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "leads.csv"
    src.write_text("号码,姓名\n13800138000,张三\nnot a number,x\n+86 139 0013 9000,李四\n")
    code, out, err = run(
        ["--config", str(conf), "list", "import", "--campaign", "survey", str(src)], capsys
    )
    assert code == 1
    assert "100.0%" in err and "2 rows, 1 bad" in err  # the progress bar's last state
    assert "2 rows imported into campaign survey (list 1): 2 new leads" in out
    assert "  line 3: the number contains letters" in out.splitlines()
    engine = engine_of(migrated_db_url)
    try:
        with engine.connect() as conn:
            campaign = conn.execute(sa.select(model.campaigns.c.id)).scalar_one()
        assert sorted(leads(engine, campaign)) == ["+8613900139000", "13800138000"]
    finally:
        engine.dispose()

    good = tmp_path / "good.csv"
    good.write_text("phone\n13800138000\n")
    code, out, _ = run(
        ["--config", str(conf), "list", "import", "--campaign", "survey", str(good)], capsys
    )
    assert code == 0 and "0 new leads, 1 merged" in out

    # a number on the center's do-not-call list: a bad row, as the lists are at the import
    code, _, _ = run(["--config", str(conf), "dnc", "add", "13700137000"], capsys)
    assert code == 0
    listed = tmp_path / "listed.csv"
    listed.write_text("phone\n137 0013 7000\n")
    code, out, _ = run(
        ["--config", str(conf), "list", "import", "--campaign", "survey", str(listed)], capsys
    )
    assert code == 1
    assert "  line 2: the number is on the center's do-not-call list" in out.splitlines()


def test_list_import_refusals(
    conf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "x.csv"
    src.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    code, _, err = run(
        ["--config", str(conf), "list", "import", "--campaign", "survey", str(src)], capsys
    )
    assert code == 1 and "x.csv: this is not a CSV or XLSX file" in err
    code, _, err = run(
        ["--config", str(conf), "list", "import", "--campaign", "nope", str(src)], capsys
    )
    assert code == 1 and "no campaign 'nope'" in err


def test_list_export_escapes_formulas(
    conf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "leads.csv"
    src.write_text('phone,name\n+44 20 7946 0958,"=HYPERLINK(""http://x"")"\n')
    assert (
        run(["--config", str(conf), "list", "import", "--campaign", "survey", str(src)], capsys)[0]
        == 0
    )
    out_file = tmp_path / "out.csv"
    code, out, _ = run(
        ["--config", str(conf), "list", "export", "--campaign", "survey", "--out", str(out_file)],
        capsys,
    )
    assert code == 0 and "1 leads of campaign survey written" in out
    rows = list(csv.reader(out_file.open(encoding="utf-8-sig")))
    assert rows[1][:2] == ["+442079460958", '\'=HYPERLINK("http://x")']


def test_dnc_import_national_and_add(
    conf: Path, tmp_path: Path, migrated_db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    national = tmp_path / "national.txt"
    national.write_text("号码\n13800138000\n+86 139 0013 9000\nbad line\n")
    argv = ["--config", str(conf), "dnc", "import", "--national", str(national)]
    code, out, _ = run([*argv, "--date", "2026-12-01"], capsys)
    assert code == 1 and "line 4: the number contains letters" in out and "not replaced" in out
    code, _, err = run([*argv, "--date", "yesterday"], capsys)
    assert code == 1 and "not a date" in err
    code, out, err = run([*argv, "--date", "2026-12-01", "--skip-bad"], capsys)
    assert code == 1 and "dated 2026-12-01 now has 2 numbers" in out
    assert "restart" in err  # the running daemon loads the lists at start: said
    code, out, _ = run(["--config", str(conf), "dnc", "add", "010-1234 5678"], capsys)
    assert (code, out.splitlines()[0]) == (0, "01012345678 added to the center's list")
    code, out, _ = run(["--config", str(conf), "dnc", "add", "01012345678"], capsys)
    assert "was already on" in out
    code, _, err = run(["--config", str(conf), "dnc", "add", "<script>"], capsys)
    assert code == 1 and "markup" in err
    engine = engine_of(migrated_db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(model.dnc_numbers.c.number, model.dnc_numbers.c.scope).order_by(
                    model.dnc_numbers.c.number
                )
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("+8613900139000", "national"),
        ("01012345678", "center"),
        ("13800138000", "national"),
    ]
