"""Customers in and out as CSV and XLSX (appliance/crm/customer_import.py and
customer_export.py): the call lists' rules (encodings, BOMs, bad rows by line, files refused
whole, batches all or nothing), hostile files, and a round trip that loses nothing."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from appliance.cli import resolved
from appliance.crm import customer_export
from appliance.crm.customer_import import CustomerImportJob, CustomerImportResult
from appliance.crm.customer_store import Customer, CustomerStore
from appliance.crm.field_admin import FieldAdmin
from appliance.crm.fields import FieldDef
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.db.lead_import_store import EngineSink
from tests.conftest import BACKENDS, PG_URL
from tests.support.shared_db import migrated_connector

FIELDS = (
    FieldDef("contract", "Contract no", "text"),
    FieldDef("credit", "Credit", "number"),
    FieldDef("since", "Customer since", "date"),
    FieldDef("tier", "Tier", "choice", ("gold", "silver")),
)
HEADER = "name,numbers,class,email,account,note,contract,Credit,since,Tier\n"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def shared(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DBConnector]:
    with migrated_connector(backend, tmp_path_factory.mktemp("customers"), PG_URL) as db:
        yield db


@pytest.fixture
def db(shared: DBConnector) -> DBConnector:
    """The module's database, without customers or custom fields."""
    with shared.engine.begin() as conn:
        for table in (model.customer_numbers, model.customers, model.customer_fields):
            conn.execute(table.delete())
    return shared


def define_fields(db: DBConnector) -> list[FieldDef]:
    admin = FieldAdmin(db)
    for d in FIELDS:
        resolved(admin.save("admin", None, d))
    return resolved(CustomerStore(db).field_defs())


def run_import(db: DBConnector, data: bytes, **kwargs: Any) -> CustomerImportResult:
    defs = resolved(CustomerStore(db).field_defs())
    job = CustomerImportJob(io.BytesIO(data), EngineSink(db.engine), defs, actor="admin", **kwargs)
    return job.run()


def customers(db: DBConnector) -> dict[str, Customer]:
    """Every live customer by name."""
    store = CustomerStore(db)
    with db.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.select(model.customers.c.id))]
    live = [resolved(store.get(i)) for i in ids]
    return {c.name: c for c in live if c is not None and c.id in ids}


def found(d: Any) -> Customer:
    """The customer a store's Deferred gives (there must be one)."""
    customer = resolved(d)
    assert customer is not None
    return customer


def reasons(result: CustomerImportResult) -> dict[int, str]:
    return {b.line: b.reason for b in result.bad}


def test_good_rows_in_utf8_gbk_and_utf16_give_the_same_customers(db: DBConnector) -> None:
    define_fields(db)
    text = (
        "姓名,电话号码,类别,邮箱,账号,备注,合同,Credit,since,Tier\n"
        "李雷,+86 138-0013-8000;(010) 1234 5678,VIP,li@example.com,A-1,老客户,"
        "C1,12.50,2020-01-31,gold\n"
    )
    for encoding, bom in (("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("gb18030", b""),
                          ("utf-16-le", codecs.BOM_UTF16_LE)):  # fmt: skip
        data = bom + text.replace("合同", "contract").encode(encoding)
        result = run_import(db, data)
        assert (result.state, result.rows_ok, result.rows_bad) == ("done", 1, 0), (encoding, result)
    by_name = customers(db)
    assert list(by_name) == ["李雷"]  # imported four times: one customer, updated
    li = by_name["李雷"]
    assert li.numbers == ("+8613800138000", "01012345678")
    assert (li.customer_class, li.email, li.account, li.note) == (
        "vip",
        "li@example.com",
        "A-1",
        "老客户",
    )
    assert li.fields == {"contract": "C1", "credit": "12.5", "since": "2020-01-31", "tier": "gold"}
    # found by any form of its numbers, as the screen pop finds it
    assert found(CustomerStore(db).by_number("013800138000")).id == li.id


def test_bad_rows_are_reported_by_line_and_the_others_imported(db: DBConnector) -> None:
    define_fields(db)
    rows = [
        HEADER.strip(),
        "Good,13800138000,normal,,,,,,,",  # line 2
        "Bad number,<script>alert(1)</script>,,,,,,,,",  # 3
        "Letters,call me maybe,,,,,,,,",  # 4
        "Class,13900139000,platinum,,,,,,,",  # 5
        "Mail,13900139001,,not-an-address,,,,,,",  # 6
        "Fields,13900139002,,,,,,many,2020-02-30,bronze",  # 7
        ",,,,,,,,,x",  # 8: neither a name nor a number (the custom field alone)
        "Wide,13900139003,,,,,,,,,extra",  # 9
        "Nul,1390013\x009004,,,,,,,,",  # 10
        'Multi,13900139005,,,,"a\nb",,,,',  # 11-12: one row, two lines
        "Long," + "1" * 30 + ",,,,,,,,",  # 13
    ]
    result = run_import(db, ("\n".join(rows) + "\n").encode())
    bad = reasons(result)
    assert result.state == "done"
    assert sorted(bad) == [3, 4, 5, 6, 7, 8, 9, 10, 13]
    assert "markup" in bad[3] and "letters" in bad[4]
    assert "platinum" in bad[5] and "not-an-address" in bad[6]
    assert "Credit: not a number" in bad[7] and "since" in bad[7] and "Tier" in bad[7]
    assert "neither a name nor a number" in bad[8]
    assert "more columns than the header" in bad[9]
    assert set(customers(db)) == {"Good", "Multi"}
    assert customers(db)["Multi"].note == "a\nb"


def test_files_refused_whole_import_nothing(db: DBConnector, tmp_path: Path) -> None:
    define_fields(db)
    cases = {
        b"": "empty",
        b"\xd0\xcf\x11\xe0" + b"\0" * 100: ".xls",
        b"name,numbers,password\nx,13800138000,y\n": "unknown column 'password'",
        b"name,name\nx,y\n": "there twice",
        b"note,email\nx,a@b.cd\n": "no name and no numbers column",
        b"PK\x03\x04junk": "damaged",
        bytes(range(256)) * 40: "binary",
    }
    for data, why in cases.items():
        result = run_import(db, data)
        assert result.state == "refused", (data[:20], result)
        assert why in result.error, (why, result.error)
    assert customers(db) == {}


def test_undecodable_and_overlong_rows_cost_their_line_only(db: DBConnector) -> None:
    data = (
        b"name,numbers\n"
        b"Good,13800138000\n"
        + b"Broken \xff\xfe\xfa,13800138001\n"  # not UTF-8, and the head decided UTF-8
        + b"Huge,"
        + b"1" * (70 * 1024)
        + b"\n"
        + b"Also good,13800138002\n"
    )
    result = run_import(db, data)
    bad = reasons(result)
    assert sorted(bad) == [3, 4]
    assert "not valid" in bad[3] and "save the file as UTF-8" in bad[3]
    assert "longer than 64 KB" in bad[4]
    assert set(customers(db)) == {"Good", "Also good"}


def test_a_row_updates_the_customer_its_number_names_and_a_row_naming_two_is_bad(
    db: DBConnector,
) -> None:
    store = CustomerStore(db)
    a = resolved(store.create("admin", "A", ["13800138000"], email="a@example.com"))
    b = resolved(store.create("admin", "B", ["13900139000"]))
    data = (
        b"name,numbers,note\n"
        b"A renamed,013800138000;13700137000,\n"  # line 2: updates A, adds a number
        b"Both,13800138000;13900139000,x\n"  # 3: A's and B's numbers: refused
        b"New,13600136000,hello\n"  # 4
    )
    result = run_import(db, data, batch_rows=10)
    assert (result.rows_ok, result.created, result.updated) == (2, 1, 1)
    assert list(reasons(result)) == [3] and "merge them first" in result.bad[0].reason
    renamed = found(store.get(a))
    assert renamed.name == "A renamed" and renamed.numbers == ("13800138000", "13700137000")
    assert renamed.email == "a@example.com"  # no e-mail column: kept
    assert found(store.get(b)).name == "B"
    assert found(store.by_number("13600136000")).note == "hello"


def test_a_batch_the_database_refuses_stops_the_import_and_says_which_lines(
    db: DBConnector,
) -> None:
    class FailingSink:
        def __init__(self) -> None:
            self.calls = 0
            self.inner = EngineSink(db.engine)

        def run(self, thd: Any) -> Any:
            self.calls += 1
            if self.calls == 2:

                def broken(conn: Connection) -> Any:
                    thd(conn)
                    raise RuntimeError("disk full")

                return self.inner.run(broken)
            return self.inner.run(thd)

    data = "name,numbers\n" + "".join(f"C{i},1380013{i:04d}\n" for i in range(7))
    job = CustomerImportJob(io.BytesIO(data.encode()), FailingSink(), [], actor="admin",
                            batch_rows=3)  # fmt: skip
    result = job.run()
    assert result.state == "stopped" and result.rows_ok == 3
    assert "lines 5 to 7" in result.error and "disk full" in result.error
    assert set(customers(db)) == {"C0", "C1", "C2"}  # the refused batch left nothing


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_escapes_formulas_and_imports_again_unchanged(
    db: DBConnector, tmp_path: Path, fmt: str
) -> None:
    defs = define_fields(db)
    store = CustomerStore(db)
    hostile: dict[str, Any] = {
        "name": '=HYPERLINK("http://evil","x")',
        "numbers": ["+8613800138000", "01012345678"],
        "customer_class": "key_account",
        "email": "li@example.com",
        "account": "@SUM(A1)",
        "note": "-2+3\n<img src=x onerror=alert(1)>",
        "fields": {"contract": "+1+1", "credit": "-5", "tier": "gold"},
    }
    resolved(store.create("admin", **hostile))
    resolved(store.create("admin", "Plain", ["13900139000"]))
    path = tmp_path / f"out.{fmt}"
    n = customer_export.export_customers(EngineSink(db.engine), defs, fmt, path)
    assert n == 2
    if fmt == "csv":
        raw = path.read_bytes()
        assert raw.startswith(codecs.BOM_UTF8)
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    else:
        wb = openpyxl.load_workbook(path, read_only=True)
        rows = [
            ["" if v is None else str(v) for v in r]
            for r in wb.worksheets[0].iter_rows(values_only=True)
        ]
        wb.close()
    header, first = rows[0], rows[1]
    assert header == ["name", "numbers", "class", "email", "account", "note", "Contract no",
                      "Credit", "Customer since", "Tier"]  # fmt: skip
    assert first[0] == '\'=HYPERLINK("http://evil","x")'
    assert first[1] == "+8613800138000; 01012345678"  # numbers as they are
    assert first[4] == "'@SUM(A1)" and first[5].startswith("'-2+3\n<img")
    assert first[6] == "'+1+1" and first[7] == "'-5"
    if fmt == "xlsx":  # no cell is a formula
        wb = openpyxl.load_workbook(path)
        assert all(c.data_type != "f" for row in wb.worksheets[0].iter_rows() for c in row)
        wb.close()

    # into an empty center: the same customers, the export's apostrophes taken off again
    with db.engine.begin() as conn:
        conn.execute(model.customer_numbers.delete())
        conn.execute(model.customers.delete())
    result = run_import(db, path.read_bytes())
    assert (result.state, result.rows_ok, result.rows_bad) == ("done", 2, 0), result.bad
    back = customers(db)
    again = back[hostile["name"]]
    for key in ("numbers", "customer_class", "email", "account", "note", "fields"):
        want = tuple(hostile[key]) if key == "numbers" else hostile[key]
        assert getattr(again, key) == want, key
    assert back["Plain"].numbers == ("13900139000",)


def test_a_new_customer_needs_its_required_fields_and_the_file_gets_one_audit_row(
    db: DBConnector,
) -> None:
    resolved(FieldAdmin(db).save("admin", None, FieldDef("contract", "Contract no", "text",
                                                         required=True)))  # fmt: skip
    store = CustomerStore(db)
    a = resolved(store.create("admin", "A", ["13800138000"], fields={"contract": "C0"}))
    with db.engine.begin() as conn:
        conn.execute(model.audit_log.delete())
    data = b"name,numbers\nA again,13800138000\nNew,13600136000\n"
    result = run_import(db, data, source_name="list.csv")
    assert (result.updated, result.created) == (1, 0)
    assert "needs a value for Contract no" in reasons(result)[3]
    assert found(store.get(a)).fields == {"contract": "C0"}  # kept: the file has no column
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(model.audit_log)).all()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("admin", "customer.import", "file list.csv")
    ]
    assert '"bad": 1' in rows[0].detail and "New" not in rows[0].detail
