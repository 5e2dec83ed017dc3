"""The database service: owns the engine and a thread pool, exposes one component per table family.

Every component method returns a Deferred and runs a ``thd(conn)`` function in the pool;
only plain dataclasses come back to the reactor. The connector starts first and stops last:
on stop it refuses new work, waits for every query in flight to finish (a SIGTERM never
loses a write), then stops its threads and disposes of the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from twisted.application import service
from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorFromThreads, IReactorThreads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from appliance import health
from appliance.db import engine as engine_mod
from appliance.db import migrate
from appliance.db.write_backlog import WriteBacklog, database_fault

if TYPE_CHECKING:
    from appliance.db.acd_store import ACDStore
    from appliance.db.audit_store import AuditStore
    from appliance.db.components import (
        AgentsComponent,
        CallsComponent,
        QueuesComponent,
        SkillsComponent,
        UsersComponent,
    )
    from appliance.db.day_stats_store import DayStatsStore
    from appliance.db.desk_store import DeskStore
    from appliance.db.dialer_store import DialerStore
    from appliance.db.ivr_store import IVRStore
    from appliance.db.notice_store import NoticeStore
    from appliance.db.qa_store import QAStore
    from appliance.db.recording_search import RecordingSearch
    from appliance.db.recording_store import RecordingStore
    from appliance.db.recording_upkeep_store import RecordingUpkeepStore
    from appliance.db.settings_store import SettingsStore
    from appliance.db.voicemail_store import VoicemailStore

T = TypeVar("T")
log = Logger(namespace="ccbox.db")


class DatabaseNotMigrated(Exception):
    """The schema is behind (or ahead of) this version of ccbox."""

    def __init__(self, current: str | None, head: str, fix: str) -> None:
        self.current, self.head, self.fix = current, head, fix
        have = current or "empty"
        super().__init__(
            f"the database schema is at revision {have}, this ccbox needs {head}; run: {fix}"
        )


class DatabaseStopped(Exception):
    """Work was asked of the database after it began stopping."""


class DBConnector(service.Service):
    name = "db"

    def __init__(
        self,
        reactor: IReactorThreads,
        url: str,
        *,
        upgrade_command: str = "ccbox db upgrade",
        engine: Engine | None = None,
        inline: bool = False,
        health_registry: health.HealthRegistry | None = None,
    ) -> None:
        """``inline=True`` runs work at once in the caller's thread and returns fired
        Deferreds: for the CLI, which has no reactor running, and for quick unit tests.
        ``health_registry``: where the part ``db`` says what the database last did (the
        composition root hands the daemon's; None: not said)."""
        self.reactor = reactor
        self.health = health_registry
        self.url = url
        self.upgrade_command = upgrade_command
        self.engine = engine or engine_mod.create_engine(url)
        # SQLite serializes writers anyway: one thread avoids "database is locked" retries.
        max_threads = 1 if engine_mod.is_sqlite(self.engine) else 4
        self.pool = ThreadPool(minthreads=1, maxthreads=max_threads, name="ccbox-db")
        self._in_flight: set[defer.Deferred[None]] = set()
        self._accepting = False
        self.inline = inline
        self.fault: str | None = None  # why the last failed operation failed, until a write works
        _watch_writes(self.engine)
        self._reader = engine_mod.read_engine(self.engine)  # None: read() is run()
        if self._reader is not None:
            _refuse_writes(self._reader)
        # The calls rows' writes: in order, and kept while the database refuses them.
        self.backlog = WriteBacklog(self.run, reactor, self._report)

        from appliance.db import (
            acd_store,
            audit_store,
            components,
            day_stats_store,
            desk_store,
            dialer_store,
            ivr_store,
            notice_store,
            qa_store,
            recording_search,
            recording_store,
            recording_upkeep_store,
            settings_store,
            voicemail_store,
        )

        self.users: UsersComponent = components.UsersComponent(self)
        self.agents: AgentsComponent = components.AgentsComponent(self)
        self.skills: SkillsComponent = components.SkillsComponent(self)
        self.queues: QueuesComponent = components.QueuesComponent(self)
        self.calls: CallsComponent = components.CallsComponent(self)
        self.acd: ACDStore = acd_store.ACDStore(self)
        self.ivr: IVRStore = ivr_store.IVRStore(self)
        self.voicemail: VoicemailStore = voicemail_store.VoicemailStore(self)
        self.recordings: RecordingStore = recording_store.RecordingStore(self)
        self.audit: AuditStore = audit_store.AuditStore(self)
        self.qa: QAStore = qa_store.QAStore(self)
        self.desk: DeskStore = desk_store.DeskStore(self)
        self.notices: NoticeStore = notice_store.NoticeStore(self)
        self.recording_search: RecordingSearch = recording_search.RecordingSearch(self)
        self.recording_upkeep: RecordingUpkeepStore = recording_upkeep_store.RecordingUpkeepStore(
            self
        )
        self.settings: SettingsStore = settings_store.SettingsStore(self)
        self.day_stats: DayStatsStore = day_stats_store.DayStatsStore(self)
        self.dialer: DialerStore = dialer_store.DialerStore(self)

    # ---- lifecycle ----------------------------------------------------------------------

    def startService(self) -> defer.Deferred[None]:
        super().startService()
        if not self.inline:
            self.pool.start()
        self._accepting = True
        return defer.ensureDeferred(self._check_schema())

    async def _check_schema(self) -> None:
        state: migrate.SchemaState = await self._run(lambda: migrate.schema_state(self.engine))
        if not state.up_to_date:
            raise DatabaseNotMigrated(state.current, state.head, self.upgrade_command)
        await self.calls.load_ids()
        log.debug("database ready at schema revision {rev}", rev=state.head)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        # the calls writes still queued first, while the database takes them
        stopped: defer.Deferred[None] = defer.Deferred()
        self.backlog.stop().addCallback(self._stop_work).chainDeferred(stopped)
        return stopped

    def _stop_work(self, lost: int) -> defer.Deferred[None]:
        if lost:
            log.error("{n} calls writes the database refused are lost at stop", n=lost)
        self._accepting = False
        pending = list(self._in_flight)
        if pending:
            log.info("waiting for {n} database operations to finish", n=len(pending))
        d: defer.Deferred[Any] = defer.DeferredList(pending)

        def stop_pool(_: object) -> None:
            if not self.inline:
                self.pool.stop()
            self.engine.dispose()
            if self._reader is not None:
                self._reader.dispose()

        return d.addCallback(stop_pool)

    # ---- running work ---------------------------------------------------------------------

    def _run(
        self,
        fn: Callable[[], Any],
        settle: Callable[[defer.Deferred[Any]], defer.Deferred[T]] | None = None,
    ) -> defer.Deferred[T]:
        """``fn`` in the pool; ``settle`` adds its callbacks first (before stopService
        hears that the work is done and may resume whoever waits on it)."""
        if not self._accepting:
            return defer.fail(DatabaseStopped("the database is stopping; no new work accepted"))
        if self.inline:
            d0 = defer.maybeDeferred(fn)
            return settle(d0) if settle is not None else d0
        # A separate signal for stopService, so waiting on it never touches the caller's chain.
        finished: defer.Deferred[None] = defer.Deferred()
        self._in_flight.add(finished)
        d = threads.deferToThreadPool(cast(IReactorFromThreads, self.reactor), self.pool, fn)
        if settle is not None:
            d = settle(d)

        def done(result: T) -> T:
            self._in_flight.discard(finished)
            finished.callback(None)
            return result

        d.addBoth(done)
        return d

    def run(self, thd: Callable[[Connection], T]) -> defer.Deferred[T]:
        """Run ``thd(conn)`` in one transaction in the pool: commit on return, else roll back.
        A fault (a full disk, a lost server) is reported to the health registry, and a
        committed write after it clears it (a read succeeding proves nothing: a full disk
        still reads)."""

        def in_thread() -> tuple[T, bool]:
            with self.engine.begin() as conn:
                conn.info.pop(WROTE, None)
                result = thd(conn)
                wrote = bool(conn.info.pop(WROTE, False))
            return result, wrote

        def done(outcome: tuple[T, bool]) -> T:
            result, wrote = outcome
            if wrote and self.fault is not None:
                log.info("the database takes writes again (after: {why})", why=self.fault)
                self.fault = None
                self._report()
            return result

        return self._run(in_thread, lambda d: d.addCallbacks(done, self._failed))

    def read(self, thd: Callable[[Connection], T]) -> defer.Deferred[T]:
        """Run ``thd(conn)``, a read that needs no transaction (one SELECT: the screen pop's
        lookup), in the pool. On PostgreSQL on an autocommit connection with no checkout
        ping: one round trip instead of four (ping, BEGIN, SELECT, COMMIT). A connection
        the server dropped (a restart) is replaced and ``thd`` run again, once. A fault is
        reported as by :meth:`run`; a read never clears one. On SQLite: :meth:`run`."""
        reader = self._reader
        if reader is None:
            return self.run(thd)

        def in_thread() -> T:
            try:
                with reader.connect() as conn:
                    return thd(conn)
            except sa.exc.DBAPIError as e:
                if not e.connection_invalidated:
                    raise
                log.info("a pooled database connection was dropped ({why}); reading again", why=e)
            with reader.connect() as conn:
                return thd(conn)

        return self._run(in_thread, lambda d: d.addErrback(self._failed))

    def _failed(self, failure: Failure) -> Failure:
        """A fault (a full disk, a lost server) the failure shows, told to the registry."""
        reason = database_fault(failure.value)
        if reason is not None and reason != self.fault:
            self.fault = reason
            self._report()
        return failure

    # ---- health ---------------------------------------------------------------------------

    def _report(self) -> None:
        """The part ``db``: what the last operation saw, and the calls writes waiting."""
        if self.health is None or not self.running:
            return
        waiting, lost = self.backlog.waiting, self.backlog.lost
        why = self.fault or self.backlog.fault
        if why is None and not lost:
            if self.backlog.slow:
                detail = f"writes slow: {waiting} calls writes waiting"
                self.health.report(self.name, health.DEGRADED, detail)
            else:
                self.health.report(self.name, health.OK)
            return
        detail = f"writes failing: {why}" if self.fault else f"recovering from: {why}"
        if waiting or self.backlog.fault:
            detail += f"; {waiting} calls writes waiting"
        if lost:
            detail += f"; {lost} lost (the backlog was full)"
        self.health.report(self.name, health.DEGRADED, detail)


WROTE = "ccbox_wrote"  # in a connection's info: the transaction changed something


def _watch_writes(engine: Engine) -> None:
    """Mark a connection that ran anything but a read, so that only a committed write
    clears a fault."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _mark(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() not in ("SELECT", "PRAGMA"):
            conn.info[WROTE] = True


class ReadOnlyViolation(Exception):
    """Something but a read was run through :meth:`DBConnector.read` (autocommit: it would
    have been committed at once, outside any transaction)."""


def _refuse_writes(engine: Engine) -> None:
    """The reader engine runs SELECTs only: anything else is refused before it is sent."""

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _refuse(_conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() != "SELECT":
            raise ReadOnlyViolation(f"DBConnector.read runs reads only, not: {statement[:60]}")
