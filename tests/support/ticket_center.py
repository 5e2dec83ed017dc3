"""One migrated database per backend for the ticket tests' whole run (migrating costs a
second or two; each test starts from no tickets instead): agents 1001 (login ann,
department billing, member of queue support) and 1002 (login bob, department sales), a
clock the tests drive and a TicketStore reading it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from appliance.cli import resolved
from appliance.crm.tickets.store import TicketStore
from appliance.db import migrate, model
from appliance.db.connector import DBConnector
from appliance.db.engine import create_engine
from tests.conftest import BACKENDS, empty_database

T0 = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)  # 23:30 in Shanghai


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Center:
    db: DBConnector
    queue_id: int
    clock: Clock = field(default_factory=Clock)

    def store(self) -> TicketStore:
        return TicketStore(self.db, clock=self.clock, zone=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """conftest's ``backend`` for a whole module (its PostgreSQL cases are deselected the
    same way when there is no server)."""
    return str(request.param)


# One database per backend for the whole run, made by the first module that asks (the
# modules share it: each test starts from no tickets), closed when the run ends.
_OPEN: dict[str, tuple[DBConnector, int]] = {}


def _open(backend: str, tmp: Path) -> tuple[tuple[DBConnector, int], Callable[[], None]]:
    gen = empty_database(backend, tmp, "tickets.sqlite")
    url = next(gen)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    db = DBConnector(None, url, inline=True)  # type: ignore[arg-type]
    resolved(db.startService())
    queue = resolved(db.queues.add("support"))
    for number, login, dept in (("1001", "ann", "billing"), ("1002", "bob", "sales")):
        agent = resolved(db.agents.add(number, login.title(), dept, f"PJSIP/{number}"))
        user = resolved(db.users.add(login, "Tickets-Test-9!", "agent"))
        resolved(db.agents.link_user(agent.id, user.id))
        if number == "1001":
            resolved(db.agents.set_member(queue.id, agent.id))

    def close() -> None:
        resolved(db.stopService())
        for _ in gen:
            pass

    return (db, queue.id), close


@pytest.fixture(scope="module")
def ticket_db(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DBConnector, int]:
    """The run's database on ``backend`` with the agents."""
    if backend not in _OPEN:
        _OPEN[backend], close = _open(backend, tmp_path_factory.mktemp("tickets"))

        def forget() -> None:
            close()
            del _OPEN[backend]

        request.config.add_cleanup(forget)
    return _OPEN[backend]


@pytest.fixture
def center(ticket_db: tuple[DBConnector, int]) -> Center:
    """The module's database with no tickets, messages, notices or callbacks left by the
    test before, and the seeded types and rules as migration 0012 left them."""
    db, queue_id = ticket_db

    def thd(conn: sa.Connection) -> None:
        for table in (model.crm_messages, model.tickets, model.notices, model.callbacks):
            conn.execute(table.delete())
        t = model.ticket_types
        conn.execute(t.delete().where(t.c.builtin == sa.false()))
        conn.execute(t.update().values(fields="[]", active=True))

    resolved(db.run(thd))
    return Center(db, queue_id)
