"""Run a real ApplianceMaster on the test reactor, on a migrated database with known users."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import reactor, threads

from appliance import config as config_mod
from appliance.cli import open_db, resolved
from appliance.db import migrate
from appliance.db.engine import create_engine
from appliance.master import ApplianceMaster
from tests.conftest import write_config
from tests.support.http import Browser, Response

USERS = {
    # username: (role, password, display name)
    "admin": ("admin", "admin-password", "The Admin"),
    "sup": ("supervisor", "sup-password", "Sue Pervisor"),
    "agent": ("agent", "agent-password", "<img src=x onerror=alert(1)>"),
    "qa": ("qa", "qa-password", "Quinn"),
}


def prepare(
    tmp: Path, database_url: str | None = None, seed: Callable[[Any], object] | None = None
) -> config_mod.Config:
    tmp.mkdir(parents=True, exist_ok=True)
    config = config_mod.load(write_config(tmp, database_url))
    migrate_and_seed(config, seed)
    return config


def migrate_and_seed(
    config: config_mod.Config, seed: Callable[[Any], object] | None = None
) -> None:
    """Apply the migrations and add the USERS; then ``seed(db)`` (an inline DBConnector
    whose methods are called with ``resolved``) adds more."""
    engine = create_engine(config.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    db = open_db(config)
    for name, (role, password, display) in USERS.items():
        resolved(db.users.add(name, password, role, display))
    if seed is not None:
        seed(db)
    resolved(db.stopService())


class RunningAppliance:
    """Start with ``await RunningAppliance.start(tmp)``; stop with ``await app.stop()``."""

    def __init__(self, master: ApplianceMaster) -> None:
        self.master = master

    @classmethod
    async def start(
        cls,
        tmp: Path,
        seed: Callable[[Any], object] | None = None,
        configure: Callable[[config_mod.Config], config_mod.Config] | None = None,
    ) -> RunningAppliance:
        """ccboxd's master on a fresh database (``seed`` writes it first; ``configure``: the
        config it runs on, from the test's)."""
        config = prepare(tmp, seed=seed)
        if configure is not None:
            config = configure(config)
        master = ApplianceMaster(config, reactor)
        master.startService()
        try:
            await master.ready
        except BaseException:
            # half started: its database thread would keep the test process alive
            await master.stopService()
            raise
        return cls(master)

    async def stop(self) -> None:
        await self.master.stopService()

    @property
    def port(self) -> int:
        return self.master.web.port_number

    def browser(self) -> Browser:
        return Browser(self.port)

    async def in_thread(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Blocking HTTP must not run on the reactor thread the server needs."""
        return await threads.deferToThread(fn, *args, **kwargs)

    async def logged_in(self, username: str) -> Browser:
        b = self.browser()
        r: Response = await self.in_thread(b.login, username, USERS[username][1])
        assert r.status == 303, (r.status, r.body[:300])
        return b
