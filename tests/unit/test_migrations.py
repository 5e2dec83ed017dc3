"""Migrations: upgrade from empty, downgrade, and exactly the model, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from appliance.db import migrate, model
from appliance.db.engine import create_engine


def test_upgrade_from_empty_reaches_head(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert migrate.schema_state(engine).current is None
        migrate.upgrade(engine)
        state = migrate.schema_state(engine)
        assert state.up_to_date and state.current == migrate.head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert set(model.metadata.tables) <= tables
    finally:
        engine.dispose()


def _in_model(obj: object, name: str | None, kind: str, reflected: bool, _: object) -> bool:
    """Leave out the full-text objects each dialect has beside the model (migration 0013:
    SQLite's FTS5 table kb_fts and its shadow tables, PostgreSQL's kb_search.tsv)."""
    return not (name or "").startswith(("kb_fts", "ix_kb_search_tsv")) and not (
        kind == "column" and name == "tsv"
    )


def test_migrations_produce_exactly_the_model(migrated_db_url: str) -> None:
    engine = create_engine(migrated_db_url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "include_object": _in_model}
            ctx = MigrationContext.configure(conn, opts=opts)
            diff = compare_metadata(ctx, model.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(migrated_db_url: str) -> None:
    engine = create_engine(migrated_db_url)
    try:
        migrate.downgrade(engine, "base")
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert migrate.schema_state(engine).up_to_date
    finally:
        engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_check_constraints_hold_on_both_databases(migrated_db_url: str) -> None:
    import datetime as dt

    import pytest

    engine = create_engine(migrated_db_url)
    now = dt.datetime.now(dt.UTC)
    try:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                model.users.insert().values(
                    username="x", password_hash="h", role="root", created_at=now
                )
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(model.skills.insert().values(id=1, name="s"))
            conn.execute(
                model.agents.insert().values(id=1, number="1001", name="a", created_at=now)
            )
            conn.execute(model.agent_skills.insert().values(agent_id=1, skill_id=1, level=11))
    finally:
        engine.dispose()


def test_0007_keeps_calls_and_lets_a_uniqueid_repeat(db_url: str) -> None:
    """A database with calls at 0006 keeps them at 0007, where a repeated Asterisk uniqueid
    (a restart within a second) gets a row of its own; downgrading restores uniqueness."""
    import datetime as dt

    engine = create_engine(db_url)
    now = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    calls = sa.table(
        "calls",
        sa.column("uniqueid"),
        sa.column("linkedid"),
        sa.column("direction"),
        sa.column("started_at"),
    )
    try:
        migrate.upgrade(engine, "0006")
        with engine.begin() as conn:
            conn.execute(
                calls.insert().values(
                    uniqueid="1.1", linkedid="1.1", direction="inbound", started_at=now
                )
            )
        migrate.upgrade(engine, "0007")
        with engine.begin() as conn:
            conn.execute(
                model.calls.insert().values(
                    uniqueid="1.1", linkedid="1.1", direction="inbound", started_at=now
                )
            )
            rows = conn.execute(
                sa.select(model.calls.c.uniqueid, model.calls.c.talk_ms).order_by(model.calls.c.id)
            ).all()
        assert [tuple(r) for r in rows] == [("1.1", None), ("1.1", None)]
        with engine.begin() as conn:
            conn.execute(model.calls.delete().where(model.calls.c.id == 2))
        migrate.downgrade(engine, "0006")
        import pytest

        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                calls.insert().values(
                    uniqueid="1.1", linkedid="1.1", direction="inbound", started_at=now
                )
            )
    finally:
        engine.dispose()


def test_0008_keeps_callbacks_and_holds_the_dialer_constraints(db_url: str) -> None:
    """A queue callback waiting at 0007 is still there at 0008 with no due time; a lead's
    number is unique per campaign, and a status outside the contract is refused."""
    import datetime as dt

    import pytest

    engine = create_engine(db_url)
    now = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    try:
        migrate.upgrade(engine, "0007")
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO queues (id, name, created_at) VALUES (1, 'q', :t)"),
                {"t": now.replace(tzinfo=None)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO callbacks (queue_id, number, requested_at)"
                    " VALUES (1, '13800000001', :t)"
                ),
                {"t": now.replace(tzinfo=None)},
            )
        migrate.upgrade(engine, "0008")
        with engine.begin() as conn:
            row = conn.execute(sa.select(model.callbacks.c.number, model.callbacks.c.due_at)).one()
            assert tuple(row) == ("13800000001", None)
            conn.execute(
                model.campaigns.insert().values(id=1, name="c", queue_id=1, created_at=now)
            )
            conn.execute(
                model.leads.insert().values(campaign_id=1, number="13800000002", updated_at=now)
            )
            lead = conn.execute(sa.select(model.leads)).one()
            assert (lead.status, lead.attempts, lead.next_at) == ("new", 0, None)
            mode = conn.execute(sa.select(model.campaigns.c.mode, model.campaigns.c.amd)).one()
            assert tuple(mode) == ("progressive", False)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                model.leads.insert().values(campaign_id=1, number="13800000002", updated_at=now)
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(
                model.leads.insert().values(
                    campaign_id=1, number="13800000003", status="lost", updated_at=now
                )
            )
        migrate.downgrade(engine, "0007")
        with engine.begin() as conn:
            count = conn.execute(sa.text("SELECT count(*) FROM callbacks")).scalar()
        assert count == 1
        assert "leads" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_0009_keeps_calls_and_holds_the_report_constraints(db_url: str) -> None:
    """A call at 0008 is still there at 0009 with its report columns empty; a rollup row
    starts at zero, a grain or a scope outside the contract is refused, and a row repeated
    on its key is refused (the maintainer merges instead)."""
    import datetime as dt

    import pytest

    engine = create_engine(db_url)
    now = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    try:
        migrate.upgrade(engine, "0008")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO calls (uniqueid, linkedid, direction, started_at)"
                    " VALUES ('1.1', '1.1', 'inbound', :t)"
                ),
                {"t": now.replace(tzinfo=None)},
            )
        migrate.upgrade(engine, "0009")
        c = model.calls.c
        with engine.begin() as conn:
            row = conn.execute(
                sa.select(c.uniqueid, c.queued_at, c.queue_outcome, c.wait_ms, c.flow_id)
            ).one()
            assert tuple(row) == ("1.1", None, None, None, None)
            conn.execute(
                model.report_traffic.insert().values(
                    grain="day", bucket=20261206, scope="queue", key="1", offered=2
                )
            )
            t = conn.execute(sa.select(model.report_traffic)).one()
            assert (t.offered, t.answered, t.wait_max_s) == (2, 0, 0.0)
        for values in (
            {"grain": "week", "bucket": 1, "scope": "center", "key": ""},
            {"grain": "day", "bucket": 20261206, "scope": "planet", "key": ""},
            {"grain": "day", "bucket": 20261206, "scope": "queue", "key": "1"},
        ):
            with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
                conn.execute(model.report_traffic.insert().values(**values))
        migrate.downgrade(engine, "0008")
        assert "report_traffic" not in sa.inspect(engine).get_table_names()
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 1
    finally:
        engine.dispose()


def test_0016_keeps_tickets_and_their_history_and_widens_the_checks(db_url: str) -> None:
    """Tickets and their history survive 0016 (SQLite's CHECK is widened in place, not by a
    copy of tickets that would cascade), "sms" tickets and delivered SMS are taken after it,
    an unknown source or state is still refused, and a downgrade keeps the rows."""
    import datetime as dt

    import pytest

    engine = create_engine(db_url)
    now = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    t, m = model.tickets, model.crm_messages
    try:
        migrate.upgrade(engine, "0015")
        with engine.begin() as conn:
            conn.execute(
                t.insert().values(
                    id=1,
                    number="T1",
                    type_key="inquiry",
                    subject="s",
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                model.ticket_history.insert().values(
                    ticket_id=1, at=now, actor="a", action="created"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO crm_messages (ticket_id, channel, address, state, at)"
                    " VALUES (1, 'sms', '13800000001', 'waiting_for_modem', :t)"
                ),
                {"t": now.replace(tzinfo=None)},
            )
        migrate.upgrade(engine, "0016")
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM ticket_history")).scalar() == 1
            row = conn.execute(sa.select(m.c.state, m.c.attempts, m.c.next_attempt_at)).one()
            assert tuple(row) == ("waiting_for_modem", 0, None)
            conn.execute(
                t.insert().values(
                    id=2,
                    number="T2",
                    type_key="inquiry",
                    subject="s",
                    source="sms",
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(m.update().values(state="delivered", delivered_at=now))
            conn.execute(
                model.sms_parts.insert().values(
                    message_id=1, reference=7, recipient="13800000001", sent_at=now
                )
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(t.update().where(t.c.id == 1).values(source="fax"))
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(m.update().values(state="lost"))
        migrate.downgrade(engine, "0015")
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM ticket_history")).scalar() == 1
            assert conn.execute(sa.text("SELECT state FROM crm_messages")).scalar() == "sent"
            assert conn.execute(sa.text("SELECT source FROM tickets WHERE id = 2")).scalar() == (
                "manual"
            )
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("UPDATE tickets SET source = 'sms'"))
    finally:
        engine.dispose()


def test_0019_adds_the_channel_columns_in_place_and_keeps_what_cascades_from_agents_and_queues(
    db_url: str,
) -> None:
    """0019 adds agents' chat capacity and queues' medium without copying either table: a
    batch copy DROPs the table, and on SQLite the rows that cascade from it (skills,
    memberships) would be gone. Tickets may then come from chat and e-mail; a downgrade
    keeps every row."""
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine, "0018")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO agents (id, number, name, created_at) VALUES (1, '1001', 'A', :t)"
                ),
                {"t": "2026-12-07 06:00:00"},
            )
            conn.execute(sa.text("INSERT INTO skills (id, name) VALUES (1, 'billing')"))
            conn.execute(
                sa.text("INSERT INTO agent_skills (agent_id, skill_id, level) VALUES (1, 1, 5)")
            )
            conn.execute(
                sa.text("INSERT INTO queues (id, name, created_at) VALUES (1, 'sales', :t)"),
                {"t": "2026-12-07 06:00:00"},
            )
            conn.execute(
                sa.text("INSERT INTO queue_members (queue_id, agent_id, penalty) VALUES (1, 1, 0)")
            )
        migrate.upgrade(engine, "0019")
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM agent_skills")).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM queue_members")).scalar() == 1
            a = model.agents
            row = conn.execute(
                sa.select(a.c.max_chats, a.c.chat_on_call, a.c.call_with_chats)
            ).one()
            assert tuple(row) == (3, False, True)
            assert conn.execute(sa.select(model.queues.c.media)).scalar() == "call"
        migrate.downgrade(engine, "0018")
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM agent_skills")).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM queue_members")).scalar() == 1
    finally:
        engine.dispose()
