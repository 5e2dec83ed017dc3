"""ccboxd: the appliance daemon. One Twisted reactor, the service tree, systemd integration."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance import config as config_mod
from appliance.db.connector import DatabaseNotMigrated
from appliance.logsetup import start_logging
from appliance.malloc_arenas import limit_arenas
from appliance.master import ApplianceMaster
from appliance.sdnotify import Notifier
from recorder.encryption import KeyFileError

log = Logger(namespace="ccbox.daemon")
RESTART_EXIT = 75  # EX_TEMPFAIL: not 0, so systemd's Restart=on-failure starts us again


class Daemon:
    """Runs the master on a reactor: readiness and watchdog to systemd, clean SIGTERM."""

    def __init__(self, reactor: Any, config: config_mod.Config, notifier: Notifier) -> None:
        self.reactor = reactor
        self.config = config
        self.notifier = notifier
        self.master = ApplianceMaster(config, reactor)
        self.master.on_restart = self.restart
        self.exit_code = 0
        self._watchdog: Any = None

    def start(self) -> defer.Deferred[None]:
        self.reactor.addSystemEventTrigger("before", "shutdown", self.stop)
        self.master.startService()
        return self.master.ready.addCallbacks(self._ready, self._failed)

    def _ready(self, _: object) -> None:
        web = self.master.web
        status = f"ready; web UI on http://{self.config.web.bind}:{web.port_number}/"
        log.info("ccboxd {status}", status=status)
        self.notifier.ready(status)
        self._watchdog = self.notifier.start_watchdog(self.reactor)

    def _failed(self, failure: Failure) -> None:
        if failure.check(DatabaseNotMigrated, CannotListenError, OSError):
            log.error("cannot start: {err}", err=failure.value)
        else:
            log.failure("cannot start", failure)
        self.exit_code = 1
        self.reactor.stop()

    def restart(self) -> None:
        """Stop as on SIGTERM, then exit with RESTART_EXIT: systemd's Restart=on-failure
        starts the daemon again (the front panel's restart item)."""
        log.info("restarting: stopping, for systemd to start ccboxd again")
        self.exit_code = RESTART_EXIT
        self.reactor.stop()

    def stop(self) -> defer.Deferred[None]:
        log.info("stopping")
        self.notifier.stopping()
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        return self.master.stopService()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccboxd", description="The ccbox appliance daemon.")
    config_mod.add_config_argument(parser)
    path = config_mod.path_from_args(parser.parse_args(argv))
    try:
        config = config_mod.load(path)
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"ccboxd: {exc.path}: {problem}", file=sys.stderr)
        return 2
    return run(config)


def run(config: config_mod.Config, on_ready: Any = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; return the process exit code."""
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    limit_arenas()  # before the thread pools start (appliance/malloc_arenas.py)
    start_logging(config.log_level)
    try:
        daemon = Daemon(reactor, config, Notifier())
    except KeyFileError as exc:
        print(f"ccboxd: {config.path}: [recording] encryption_key_file: {exc}", file=sys.stderr)
        return 2

    def go() -> None:
        d = daemon.start()
        if on_ready is not None:
            d.addCallback(lambda _: on_ready(daemon) if daemon.exit_code == 0 else None)
            d.addErrback(lambda f: log.failure("demo driver failed", f))

    reactor.callWhenRunning(go)
    lock = _hold_data_dir(config)
    try:
        reactor.run()
    finally:
        if lock is not None:
            lock.release()
    return daemon.exit_code


def _hold_data_dir(config: config_mod.Config) -> Any:
    """The data folder's daemon lock, so `ccbox restore` refuses while ccboxd runs
    (appliance/backup/running.py); a warning, not a refusal to start, when it is held."""
    from appliance.backup import running

    try:
        lock = running.hold(config.data_dir)
    except OSError as exc:
        log.warn("cannot take {dir}'s daemon lock: {exc}", dir=config.data_dir, exc=exc)
        return None
    if lock is None:
        log.warn("another process holds {dir}'s daemon lock", dir=config.data_dir)
    return lock


if __name__ == "__main__":
    sys.exit(main())
