"""Leads out as CSV: formula cells escaped, numbers kept so the file imports again."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from acd.dialer.list_export import escape_cell, export_campaign, write_csv
from acd.dialer.list_import import ImportJob
from appliance.db import model
from appliance.db.engine import create_engine
from appliance.db.lead_import_store import EngineSink, ExportLead
from tests.support.lead_lists import NOW, leads, make_campaign


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    eng = create_engine(migrated_db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def campaign(engine: Engine) -> int:
    return make_campaign(engine)


def test_escape_cell() -> None:
    for hostile in ('=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert escape_cell(hostile) == "'" + hostile
    for plain in ("张三", "a=b", "", "O'Brien", "1+1"):
        assert escape_cell(plain) == plain


def test_write_csv_escapes_every_text_cell_but_a_normalised_number() -> None:
    out = io.StringIO()
    lead = ExportLead(
        1,
        "+8613800138000",
        "=cmd|' /C calc'!A0",
        "Asia/Shanghai",
        "done",
        2,
        "no_answer",
        "@callback",
        {"note": "-1", "=evil": "ok", "name": "field named name"},
    )
    write_csv([lead], ["note", "=evil", "name"], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == [
        "number",
        "name",
        "tz",
        "status",
        "attempts",
        "last_outcome",
        "disposition",
        "note",
        "'=evil",
        "name (field)",
    ]
    assert rows[1] == [
        "+8613800138000",
        "'=cmd|' /C calc'!A0",
        "Asia/Shanghai",
        "done",
        "2",
        "no_answer",
        "'@callback",
        "'-1",
        "ok",
        "field named name",
    ]
    # a number that is not of the stored shape gets no pass
    out = io.StringIO()
    write_csv([ExportLead(2, "+1+cmd", "", "", "new", 0, "", "", {})], [], out)
    assert list(csv.reader(io.StringIO(out.getvalue())))[1][0] == "'+1+cmd"


def test_export_then_import_gives_the_same_leads(
    engine: Engine,
    campaign: int,
    tmp_path: Path,
) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        "电话,姓名,备注\n"
        '+86 138 0013 8000,=HYPERLINK("http://x"),-5\n'
        '13900139000,张三,"多\n行"\n'
        "+44 20 7946 0958,@Bob,+1\n",
        encoding="gb18030",
    )
    first = ImportJob(src, EngineSink(engine), campaign_id=campaign).run()
    assert first.rows_ok == 3
    out = tmp_path / "out.csv"
    assert export_campaign(EngineSink(engine), campaign, out) == 3
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    by_number = {r[0]: r for r in rows[1:]}
    assert set(by_number) == {"+8613800138000", "13900139000", "+442079460958"}
    assert by_number["+8613800138000"][1] == '\'=HYPERLINK("http://x")'
    assert by_number["+442079460958"][7] == "'+1"
    assert by_number["13900139000"][7] == "多\n行"
    assert not list(tmp_path.glob(".export-*"))  # the temporary file became out.csv

    # the exported file imports into another campaign: same numbers, names as exported
    other = make_campaign(engine, "again")
    again = ImportJob(out, EngineSink(engine), campaign_id=other).run()
    assert (again.state, again.rows_ok, again.rows_bad) == ("done", 3, 0), again
    got = leads(engine, other)
    assert set(got) == set(by_number)
    assert got["+442079460958"].tz == "Europe/London"
    assert json.loads(got["13900139000"].fields_json)["备注"] == "多\n行"
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(model.leads)).scalar()
    assert total == 6


def test_export_pages_through_more_leads_than_a_page(
    engine: Engine,
    campaign: int,
    tmp_path: Path,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            model.leads.insert(),
            [
                {
                    "campaign_id": campaign,
                    "number": f"1380000{i:04d}",
                    "name": f"n{i}",
                    "tz": "",
                    "fields_json": json.dumps({f"k{i % 3}": "v"}),
                    "status": "new",
                    "attempts": 0,
                    "updated_at": NOW,
                }
                for i in range(2500)
            ],
        )
    out = tmp_path / "out.csv"
    assert export_campaign(EngineSink(engine), campaign, out) == 2500
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert rows[0][7:] == ["k0", "k1", "k2"]
    assert len(rows) == 2501 and rows[-1][0] == "13800002499"
