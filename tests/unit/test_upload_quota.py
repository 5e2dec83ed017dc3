"""One person's uploads in an hour, tickets' and the knowledge base's together, on both
databases: past the files or the bytes, the next file is refused with a message saying so;
another person is not; an hour later the first may go on."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model, upload_quota
from appliance.db.upload_quota import QuotaExceeded
from appliance.kb.store import KBStore
from appliance.text import message_of
from appliance.uploads import StoredFile
from tests.support import ticket_center
from tests.support.ticket_center import Center

backend, ticket_db, center = ticket_center.backend, ticket_center.ticket_db, ticket_center.center


def test_a_persons_hour_of_uploads_is_capped_in_files_and_bytes(
    center: Center, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload_quota, "MAX_FILES", 3)
    monkeypatch.setattr(upload_quota, "MAX_BYTES", 1000)
    store, kb = center.store(), KBStore(center.db)
    tid = resolved(store.create("ann", type_key="inquiry", subject="x"))
    # the knowledge base's rows are written at the real time: the tickets' clock follows it
    center.clock.now = dt.datetime.now(dt.UTC)
    try:
        resolved(store.attach("ann", tid, "a" * 64, "a.txt", "text/plain", 100))
        resolved(store.attach("ann", tid, "b" * 64, "b.txt", "text/plain", 100))
        resolved(kb.add_attachment("ann", StoredFile("c" * 64, 100, "text/plain", "c.txt")))
        with pytest.raises(QuotaExceeded) as refused:  # a fourth file, to a ticket
            resolved(store.attach("ann", tid, "d" * 64, "d.txt", "text/plain", 1))
        assert "3 files" in message_of(refused.value) and "at most 3" in str(refused.value)
        with pytest.raises(QuotaExceeded):  # or to an article
            resolved(kb.add_attachment("ann", StoredFile("d" * 64, 1, "text/plain", "d.txt")))
        assert len(resolved(store.attachments(tid))) == 2  # nothing recorded for it
        # bytes: bob's second file would make 1,001
        resolved(store.attach("bob", tid, "e" * 64, "e.txt", "text/plain", 900))
        with pytest.raises(QuotaExceeded, match="MB an hour"):
            resolved(store.attach("bob", tid, "f" * 64, "f.txt", "text/plain", 101))
        resolved(store.attach("bob", tid, "f" * 64, "f.txt", "text/plain", 100))
        # an hour on, none of them counts
        center.clock.now += upload_quota.WINDOW + dt.timedelta(minutes=1)
        since = center.clock.now - upload_quota.WINDOW
        assert resolved(center.db.run(lambda c: upload_quota.used(c, "ann", since))) == (0, 0)
        resolved(store.attach("ann", tid, "d" * 64, "d.txt", "text/plain", 1))
    finally:
        resolved(center.db.run(lambda conn: conn.execute(model.kb_attachments.delete())))


def test_the_quota_query_searches_each_tables_uploader_index(center: Center) -> None:
    db = center.db
    sqlite = db.engine.dialect.name == "sqlite"
    q = upload_quota.used_query("ann", dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    with db.engine.connect() as conn:
        if not sqlite:  # an empty table is scanned whatever its indexes: ask for them
            conn.execute(sa.text("SET enable_seqscan = off"))
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        plan = " ".join(str(r[-1]) for r in conn.execute(sa.text(explain + sql)))
    text = plan.upper()
    for table in (model.ticket_attachments, model.kb_attachments):
        name = table.name.upper()
        assert f"IX_{name}_UPLOADED_BY_CREATED_AT" in text, (table.name, plan)
        assert f"SCAN {name} " not in text + " " and f"SEQ SCAN ON {name}" not in text, plan
