"""ccbox: the admin command line (config check, database migrations, users, the demo)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet import defer
from twisted.python.failure import Failure

from appliance import config as config_mod
from appliance.db import migrate
from appliance.db.connector import DatabaseNotMigrated, DBConnector
from appliance.db.engine import create_engine
from appliance.db.model import ROLES

T = TypeVar("T")


class CliError(Exception):
    """A message for the user; exit status 1."""


def resolved(d: defer.Deferred[T]) -> T:
    """The result of an already-fired Deferred (the CLI's database runs inline)."""
    box: list[Any] = []
    d.addBoth(box.append)
    if not box:
        raise RuntimeError("the Deferred has not fired")
    if isinstance(box[0], Failure):
        box[0].raiseException()
    result: T = box[0]
    return result


def load_config(args: argparse.Namespace) -> config_mod.Config:
    return config_mod.load(config_mod.path_from_args(args))


def open_db(config: config_mod.Config) -> DBConnector:
    """A started inline connector: refuses an unmigrated database like the daemon does."""
    db = DBConnector(
        None,  # type: ignore[arg-type]  # inline: no reactor, no threads
        config.database_url,
        upgrade_command=f"ccbox --config {config.path} db upgrade",
        inline=True,
    )
    resolved(db.startService())
    return db


# ---- commands ---------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(args)
    print(f"{config.path}: ok")
    return 0


def cmd_config_sample(args: argparse.Namespace) -> int:
    sys.stdout.write(config_mod.render(Path(args.data_dir)))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = load_config(args)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(config.database_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        print(f"database already at revision {after}")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    config = load_config(args)
    engine = create_engine(config.database_url)
    try:
        state = migrate.schema_state(engine)
    finally:
        engine.dispose()
    print(f"current: {state.current or 'empty'}  head: {state.head}")
    return 0 if state.up_to_date else 1


def read_new_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise CliError("the two passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    config = load_config(args)
    password = read_new_password(args)
    db = open_db(config)
    try:
        user = resolved(db.users.add(args.username, password, args.role, args.display_name))
    except ValueError as exc:  # DuplicateError, WeakPassword and bad names are ValueErrors
        raise CliError(str(exc)) from None
    finally:
        resolved(db.stopService())
    print(f"user {user.username} ({user.role}) created")
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """A new password for a user (a lost admin password is not a reinstall). Sessions the
    running daemon holds for the user end at their idle timeout, or reset it in the web UI."""
    import getpass as getpass_mod

    from appliance.db.admin_store import AdminStore

    config = load_config(args)
    db = open_db(config)
    try:
        record = resolved(db.users.login_record(args.username))
        if record is None:
            raise CliError(f"no user {args.username!r}")
        password = read_new_password(args)
        try:
            resolved(AdminStore(db).reset_password(record.user.id, password))
        except ValueError as exc:  # WeakPassword
            raise CliError(str(exc)) from None
        resolved(
            db.audit.add(f"cli:{getpass_mod.getuser()}", "user.password", f"user:{record.user.id}")
        )
    finally:
        resolved(db.stopService())
    print(f"password of {record.user.username} changed")
    return 0


def cmd_recording_key(args: argparse.Namespace) -> int:
    from recorder import encryption

    try:
        encryption.write_new_key(Path(args.out))
    except encryption.KeyFileError as exc:
        raise CliError(str(exc)) from None
    print(
        f"wrote a new recording key to {args.out} (mode 0600); set [recording] "
        "encryption_key_file to it and keep a copy somewhere safe: without it the "
        "encrypted recordings cannot be played"
    )
    return 0


def cmd_recordings_delete_number(args: argparse.Namespace) -> int:
    import getpass as getpass_mod

    from recorder import upkeep

    config = load_config(args)
    try:
        upkeep.number_forms(args.number)
    except upkeep.BadNumber as exc:
        raise CliError(str(exc)) from None
    db = open_db(config)
    try:
        actor = f"cli:{getpass_mod.getuser()}"
        deleted, failed = resolved(
            defer.ensureDeferred(
                upkeep.delete_number(
                    db, config.recording_dir, args.number, actor, upkeep.inline_disk
                )
            )
        )
    finally:
        resolved(db.stopService())
    print(
        f"deleted {deleted} recordings"
        + (f"; {failed} files could not be removed" if failed else "")
    )
    return 0 if not failed else 1


def cmd_customers_rekey(args: argparse.Namespace) -> int:
    from appliance.crm.customer_store import CustomerStore

    config = load_config(args)
    db = open_db(config)
    try:
        changed, dropped = resolved(CustomerStore.from_config(db, config.crm).rekey())
    finally:
        resolved(db.stopService())
    print(f"{changed} numbers have a new key; {dropped} were another number's twin and went")
    return 0


def cmd_asterisk_config(args: argparse.Namespace) -> int:
    """The Asterisk side of this box: manager user, dialplan, README, and the ccbox-*
    system sounds rendered by espeak-ng into ``<out>/sounds/<lang>/`` (or ``--sounds-dir``,
    Asterisk's own sounds folder)."""
    from appliance.switch_settings import asterisk_settings
    from drivers.asterisk import confgen
    from ivr import system_sounds, tts

    config = load_config(args)
    out = Path(args.out)
    langs = [lang.strip() for lang in args.sound_languages.split(",") if lang.strip()]
    unknown = [lang for lang in langs if lang not in system_sounds.LANGUAGES]
    if unknown or not langs:
        raise CliError(
            f"--sound-languages {args.sound_languages!r}: choose from "
            + ", ".join(system_sounds.LANGUAGES)
        )
    sounds = Path(args.sounds_dir) if args.sounds_dir else out / "sounds"
    if args.no_sounds:
        note = (
            "The ccbox-* system sounds were not generated (--no-sounds): run this again\n"
            "without it, on a machine with espeak-ng, before callers reach ccboxd.\n"
        )
    else:
        note = system_sounds.readme(sounds, langs, in_place=bool(args.sounds_dir))
    try:
        paths = confgen.write(
            asterisk_settings(config),
            out,
            trunk=args.trunk,
            device_tech=args.device_tech,
            pbx=args.pbx,
            sounds_note=note,
        )
    except confgen.ConfgenError as exc:
        raise CliError(str(exc)) from None
    for path in paths:
        print(f"wrote {path}")
    if not args.no_sounds:
        try:
            written = system_sounds.install_system_sounds(sounds, langs)
        except (tts.TTSError, OSError) as exc:
            raise CliError(
                f"the system sounds could not be made in {sounds}: {exc} "
                "(install espeak-ng with scripts/system-deps.sh, or pass --no-sounds)"
            ) from None
        print(f"wrote {len(written)} system sounds into {sounds}/{{{','.join(langs)}}}/")
    return 0


def cmd_simulator(args: argparse.Namespace) -> int:
    """Be the switch for a running ccboxd: place calls into its FastAGI server and, with
    ``--serve``, also serve AMI as the config's [ami] section describes; print a JSON
    summary."""
    import json

    from twisted.internet import defer, task

    from drivers.asterisk.simulator.agi_caller import CallerScript
    from drivers.asterisk.simulator.service import SwitchSimulator
    from drivers.asterisk.simulator.sounds import SoundLibrary
    from drivers.asterisk.simulator.switch import RandomDevice, Switch
    from drivers.asterisk.simulator.traffic import place_calls

    sounds_dir = Path(args.sounds) if args.sounds else None
    if sounds_dir is not None and not sounds_dir.is_dir():
        raise CliError(f"--sounds {sounds_dir}: no such folder")
    sim_args: dict[str, Any] | None = None
    if args.serve:
        config = load_config(args)
        if not (config.ami.enabled and config.fastagi.enabled):
            raise CliError("--serve needs [ami] and [fastagi] enabled in the config")
        host, port = config.fastagi.bind, str(config.fastagi.port)
        sim_args = {
            "ami_port": config.ami.port,
            "ami_username": config.ami.username,
            "ami_secret": config.ami.secret,
            "default_device": RandomDevice(ring_s=2.0, mean_talk_s=args.talk_seconds),
            "seed": args.seed,
            "sounds_dir": sounds_dir,
        }
    else:
        host, _, port = args.agi.rpartition(":")
    if not host or not port.isdigit():
        raise CliError("--agi takes HOST:PORT, e.g. 127.0.0.1:4573")
    if args.calls <= 0 and not (args.serve and args.rate > 0):
        raise CliError("give --calls N, or --serve with --rate R")
    out: dict[str, Any] = {}

    async def run(reactor: Any) -> None:
        sim = None
        if sim_args is not None:
            sim = SwitchSimulator(reactor, agi_host=host, agi_port=int(port), **sim_args)
            sim.startService()
            # Calls start once ccboxd is logged in, so its AMI side sees every one of them.
            login = sim.manager.wait_for_login()
            timeout = reactor.callLater(args.ami_wait, login.cancel)
            try:
                await login
            except defer.CancelledError:
                await sim.stopService()
                out["error"] = f"no AMI login from ccboxd within {args.ami_wait:g} s"
                return
            timeout.cancel()
        try:
            if args.calls > 0:
                summary = await place_calls(
                    reactor,
                    host,
                    int(port),
                    args.calls,
                    args.concurrency,
                    lambda i: CallerScript(
                        caller_number=f"13800{i:06d}", prompt_s=args.prompt_seconds
                    ),
                    switch=sim.switch
                    if sim is not None
                    else Switch(reactor, sounds=SoundLibrary(sounds_dir)),
                )
                out.update(summary.as_dict())
                if summary.offered and summary.unreachable == summary.offered:
                    out["error"] = (
                        f"nothing answered FastAGI on {host}:{port}: start ccboxd (or "
                        "`ccbox demo`) first, or give --agi HOST:PORT of one that runs"
                    )
            else:
                assert sim is not None
                traffic = sim.start_traffic(args.rate)
                await task.deferLater(reactor, args.duration, lambda: None)
                await traffic.stopService()
                out.update(traffic.summary.as_dict())
        finally:
            if sim is not None:
                await sim.stopService()
                out["ami_logins"] = sim.manager.logins
                out["ami_actions"] = dict(sorted(sim.manager.actions.items()))

    try:
        task.react(lambda reactor: defer.ensureDeferred(run(reactor)))
    except SystemExit as exc:
        if exc.code:
            return int(exc.code)
    if "error" in out:
        raise CliError(out["error"])
    print(json.dumps(out), flush=True)
    return 0 if out.get("failed", 1) == 0 else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from appliance import demo

    given = {
        "calls_per_s": args.calls_per_second,
        "talk_s": args.talk_seconds,
        "seed_traffic": args.seed,
        "history_days": args.history_days,
    }
    return demo.main(
        Path(args.data_dir),
        port=args.port,
        headless=args.headless,
        duration=args.duration,
        report=args.report,
        ami_port=args.ami_port,
        fastagi_port=args.fastagi_port,
        chat_port=args.chat_port,
        **{k: v for k, v in given.items() if v is not None},
    )


# ---- parser -------------------------------------------------------------------------------


def _campaign(db: DBConnector, name: str) -> Any:
    from appliance.db.lead_import_store import campaign_by_name

    with db.engine.connect() as conn:
        campaign = campaign_by_name(conn, name)
    if campaign is None:
        raise CliError(f"no campaign {name!r}")
    return campaign


def _bar(progress: dict[str, Any], width: int = 30) -> str:
    done = int(width * progress["percent"] / 100)
    return (
        f"[{'#' * done}{'.' * (width - done)}] {progress['percent']:5.1f}%  "
        f"{progress['rows_ok']} rows, {progress['rows_bad']} bad"
    )


def cmd_list_import(args: argparse.Namespace) -> int:
    """A CSV or XLSX list into a campaign: a progress bar on stderr, then what was imported
    and every bad row by line on stdout; exit 1 when any row was bad or the file refused."""
    from acd.dialer.list_import import MAX_BAD_KEPT, ImportJob
    from appliance.db.lead_import_store import EngineSink

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file")
    from acd.dialer.dnc import DoNotCall

    db = open_db(load_config(args))
    try:
        campaign = _campaign(db, args.campaign)
        dnc = DoNotCall(db.dialer)  # the lists as they are now: a listed number is a bad row
        resolved(dnc.load_from_store())
        job = ImportJob(
            path,
            EngineSink(db.engine),
            campaign_id=campaign.id,
            list_name=args.name or path.name,
            encoding=args.encoding,
            dnc=lambda number: dnc.blocks(number, campaign.id),
        )
        tty = sys.stderr.isatty()
        job.start()
        shown = -10.0
        try:
            while job.wait(0.2) is None:
                progress = job.progress()
                if tty:
                    print("\r" + _bar(progress), end="", file=sys.stderr, flush=True)
                elif progress["percent"] >= shown + 10:
                    shown = progress["percent"]
                    print(_bar(progress), file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            job.cancel()
            job.wait()
        print(("\r" if tty else "") + _bar(job.progress()), file=sys.stderr, flush=True)
        result = job.result
        assert result is not None
    finally:
        resolved(db.stopService())
    if result.state == "refused":
        raise CliError(f"{path.name}: {result.error}")
    print(
        f"{result.rows_ok} rows imported into campaign {campaign.name} (list {result.list_id}):"
        f" {result.inserted} new leads, {result.merged} merged into leads it had;"
        f" {result.rows_bad} bad rows"
    )
    for bad in result.bad:
        print(f"  line {bad.line}: {bad.reason}")
    if result.rows_bad > len(result.bad):
        print(
            f"  ... and {result.rows_bad - len(result.bad)} more (the first {MAX_BAD_KEPT} shown)"
        )
    if result.state == "cancelled":
        print("cancelled: the rows above were imported, the rest of the file was not")
        return 130
    if result.state == "stopped":
        print(f"stopped: {result.error}")
        return 1
    return 1 if result.rows_bad else 0


def cmd_list_export(args: argparse.Namespace) -> int:
    from acd.dialer.list_export import export_campaign
    from appliance.db.lead_import_store import EngineSink

    db = open_db(load_config(args))
    try:
        campaign = _campaign(db, args.campaign)
        try:
            n = export_campaign(EngineSink(db.engine), campaign.id, args.out)
        except OSError as exc:
            raise CliError(f"{args.out}: {exc.strerror or exc}") from None
    finally:
        resolved(db.stopService())
    print(f"{n} leads of campaign {campaign.name} written to {args.out}")
    return 0


_DNC_NOTICE = (
    "ccboxd loads the do-not-call lists when it starts: restart it (systemctl restart ccboxd)"
    " for the dialer to use this change; numbers added on the web UI's do-not-call page are in"
    " force at once"
)


def cmd_dnc_import(args: argparse.Namespace) -> int:
    """The national do-not-call list replaced whole by a file of numbers (one a line, or
    the first column of a CSV; a header line is skipped). Any bad line: nothing replaced
    unless --skip-bad."""
    import datetime as dt

    from acd.dialer.national_file import read_numbers

    try:
        day = dt.date.fromisoformat(args.date)
    except ValueError:
        raise CliError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from None
    try:
        with open(args.national, "rb") as f:
            numbers, bad = read_numbers(f)
    except OSError as exc:
        raise CliError(f"{args.national}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(f"{args.national}: {exc}") from None
    for line, reason in bad[:1000]:
        print(f"  line {line}: {reason}")
    if len(bad) > 1000:
        print(f"  ... and {len(bad) - 1000} more")
    if bad and not args.skip_bad:
        print(f"{len(bad)} bad lines: the national list was not replaced (see --skip-bad)")
        return 1
    if not numbers:
        raise CliError(f"{args.national}: no numbers: the national list was not replaced")
    db = open_db(load_config(args))
    try:
        count = resolved(db.dialer.replace_national(numbers, day))
    finally:
        resolved(db.stopService())
    print(f"the national do-not-call list dated {day} now has {count} numbers")
    print(_DNC_NOTICE, file=sys.stderr)
    return 1 if bad else 0


def cmd_dnc_add(args: argparse.Namespace) -> int:
    from acd.dialer.numbers import normalise

    try:
        number = normalise(args.number)
    except ValueError as exc:
        raise CliError(f"{args.number!r}: {exc}") from None
    db = open_db(load_config(args))
    try:
        campaign_id = _campaign(db, args.campaign).id if args.campaign else None
        scope = "campaign" if campaign_id is not None else "center"
        added = resolved(db.dialer.add_dnc(number, scope, "admin", campaign_id))
    finally:
        resolved(db.stopService())
    where = f"campaign {args.campaign}'s list" if args.campaign else "the center's list"
    print(f"{number} {'added to' if added else 'was already on'} {where}")
    print(_DNC_NOTICE, file=sys.stderr)
    return 0


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1e6:  # nan fails too
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def cmd_reports_rebuild(args: argparse.Namespace) -> int:
    from appliance.reports import rebuild_cli

    config = load_config(args)
    engine = create_engine(config.database_url)
    try:
        state = migrate.schema_state(engine)
        if not state.up_to_date:
            raise CliError(
                f"the database is at revision {state.current or 'empty'}, not {state.head}: "
                f"run ccbox --config {config.path} db upgrade first"
            )
        reports = config.reports
        rebuild_cli.run(engine, args.first, args.last, reports.timezone, reports.short_abandon_s)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    return 0


def cmd_firmware(args: argparse.Namespace) -> int:
    """ccbox firmware ... (firmware_tools/command.py); flash and verify trust the keys in the
    config's [firmware] keys_dir unless --keys-dir names another."""
    from firmware_tools import command

    if command.needs_keys(args):
        args.keys_dir = load_config(args).firmware.keys_dir
    return command.main(args)


def _passphrase_arg(args: argparse.Namespace) -> str | None:
    """The passphrase in ``--passphrase-file`` (backup and restore); None without one."""
    from appliance.backup import secrets

    if not args.passphrase_file:
        return None
    try:
        return secrets.read_passphrase(Path(args.passphrase_file))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_backup(args: argparse.Namespace) -> int:
    from appliance.backup import places, writer

    config = load_config(args)
    out = Path(args.out)
    if out.exists():
        raise CliError(f"{out} exists: name a new file")
    if not out.parent.is_dir():
        raise CliError(f"{out.parent}: no such folder")
    phrase = _passphrase_arg(args)
    options = writer.BackupOptions(include_recordings=args.include_recordings, passphrase=phrase)
    try:
        result = writer.write_backup(places.places(config), out, options)
    except writer.BackupFailed as exc:
        raise CliError(f"backup failed: {exc}") from None
    rows = sum(result.rows.values())
    files = ", ".join(f"{n} {area}" for area, n in result.files.items())
    print(f"{result.path}: {result.size} bytes, {rows} rows in {len(result.rows)} tables, {files}")
    if result.secrets == "omitted":
        print("the secrets were left out (no --passphrase-file): a restore needs them typed in")
    for name in result.skipped[:20]:
        print(f"left out (a link or an odd name): {name}", file=sys.stderr)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from appliance.backup import places, restore
    from appliance.backup.layout import ArchiveError

    config = load_config(args)
    phrase = _passphrase_arg(args)
    target = places.places(config, Path(args.data_dir) if args.data_dir else None)
    options = restore.RestoreOptions(
        passphrase=phrase, force=args.force, without_secrets=args.without_secrets
    )
    try:
        result = restore.restore(Path(args.file), target, options)
    except ArchiveError as exc:
        raise CliError(f"restore refused, nothing was changed: {exc}") from None
    except (OSError, SQLAlchemyError) as exc:  # after the checks: the load itself failed
        raise CliError(
            f"restore failed while loading ({exc}); the rows are loaded in one transaction "
            "(none are kept when one fails), the files may be partly in place: fix the cause "
            "and run the restore again with --force"
        ) from None
    rows = sum(result.rows.values())
    print(
        f"database: {rows} rows in {len(result.rows)} tables (schema {result.archive_revision}"
        f" -> {result.revision})"
    )
    for area, n in result.files.items():
        print(f"{area}: {n} files in {target.area(area)}")
    if result.key_written:
        print(f"recording key: {result.key_written}")
    if result.config_written:
        print(f"the archive's config file: {result.config_written} (compare it with {config.path})")
    if result.secrets == "left out":
        print("the secrets were left out: type them into the config again")
    return 0


def tcp_port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1 to 65535)")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ccbox", description="Administer a ccbox appliance.")
    config_mod.add_config_argument(p)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str, parent: Any = sub
    ) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=fn)
        return sp

    cfg = sub.add_parser("config", help="check or print the configuration")
    cfg_sub = cfg.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    add("check", cmd_config_check, "check the config file; print every problem", cfg_sub)
    sample = add("sample", cmd_config_sample, "print a complete config with defaults", cfg_sub)
    sample.add_argument("--data-dir", default="/var/lib/ccbox")

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    add("upgrade", cmd_db_upgrade, "apply every pending migration", db_sub)
    add("status", cmd_db_status, "show the schema revision (exit 1 when behind)", db_sub)

    user = sub.add_parser("user", help="web UI users")
    user_sub = user.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    ua = add("add", cmd_user_add, "create a user", user_sub)
    ua.add_argument("username")
    ua.add_argument("--role", required=True, choices=ROLES)
    ua.add_argument("--display-name", default="")
    ua.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )

    up = add("passwd", cmd_user_passwd, "set a new password for a user", user_sub)
    up.add_argument("username")
    up.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )

    rk = add("recording-key", cmd_recording_key, "write a new recording encryption key")
    rk.add_argument("--out", required=True, help="the key file to create (never overwritten)")

    rec = sub.add_parser("recordings", help="recordings administration")
    rec_sub = rec.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    dn = add(
        "delete-number",
        cmd_recordings_delete_number,
        "delete every recording of one phone number (caller or called; +CC and 00CC alike)",
        rec_sub,
    )
    dn.add_argument("number", help="3 to 32 digits, optionally with a leading +")

    ac = add(
        "asterisk-config",
        cmd_asterisk_config,
        "write the Asterisk manager user and dialplan this box needs",
    )
    ac.add_argument("--out", required=True, help="directory to write the files into")
    ac.add_argument(
        "--trunk",
        default="DAHDI/g0",
        help="outbound trunk: DAHDI/g<group>, DAHDI/<span>, PJSIP/<name> or Local@<context>",
    )
    ac.add_argument(
        "--device-tech",
        default="PJSIP",
        help="agent phones: PJSIP, IAX2, DAHDI or Local@<context> (Asterisk 22 has no SIP)",
    )
    ac.add_argument(
        "--pbx",
        default=None,
        help="trunk to the old PBX's extensions (DAHDI/g1, PJSIP/oldpbx); default: local phones",
    )
    ac.add_argument(
        "--sounds-dir",
        default=None,
        help="write the ccbox-* sounds into this Asterisk sounds folder (for example "
        "/var/lib/asterisk/sounds) instead of <out>/sounds",
    )
    ac.add_argument(
        "--sound-languages", default="en,zh", help="languages of the system sounds (en,zh)"
    )
    ac.add_argument(
        "--no-sounds", action="store_true", help="do not render the system sounds (no espeak-ng)"
    )

    sim = add(
        "simulator",
        cmd_simulator,
        "be the switch for ccboxd: calls over FastAGI, and AMI with --serve",
    )
    sim.add_argument("--agi", default="127.0.0.1:4573", help="ccboxd's FastAGI HOST:PORT")
    sim.add_argument(
        "--serve",
        action="store_true",
        help="also serve AMI on the config's [ami] port (FastAGI address from the config)",
    )
    sim.add_argument("--calls", type=int, default=0, help="place this many calls, then stop")
    sim.add_argument("--concurrency", type=int, default=10)
    sim.add_argument("--prompt-seconds", type=float, default=0.5, help="how long each prompt plays")
    sim.add_argument(
        "--rate", type=float, default=0.0, help="with --serve: Poisson arrivals, calls per second"
    )
    sim.add_argument("--duration", type=float, default=10.0, help="with --rate: seconds to run")
    sim.add_argument("--talk-seconds", type=float, default=30.0, help="agents' mean talk time")
    sim.add_argument("--seed", type=int, default=None, help="random seed (repeatable traffic)")
    sim.add_argument(
        "--ami-wait", type=float, default=30.0, help="with --serve: seconds to wait for a login"
    )
    sim.add_argument(
        "--sounds",
        default=None,
        help="the switch's sounds folder (<lang>/<name>.wav, as asterisk-config writes them); "
        "without it only Asterisk's core sounds play and ccbox's answer as missing",
    )

    demo = add("demo", cmd_demo, "run the demo appliance from a local data directory")
    demo.add_argument("--data-dir", default="ccbox-data")
    demo.add_argument(
        "--port", type=tcp_port, default=None, help="web UI port (default: the config's [web] port)"
    )
    demo.add_argument(
        "--ami-port",
        type=tcp_port,
        default=None,
        help="the simulated switch's AMI port (default: the config's [ami] port)",
    )
    demo.add_argument(
        "--fastagi-port",
        type=tcp_port,
        default=None,
        help="ccboxd's FastAGI port (default: the config's [fastagi] port)",
    )
    demo.add_argument(
        "--chat-port",
        type=tcp_port,
        default=None,
        help="the web chat widget's endpoint port (default: the config's [chat] port)",
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="run without waiting for a person; stop after --duration",
    )
    demo.add_argument("--duration", type=positive, default=10.0, help="seconds (with --headless)")
    demo.add_argument(
        "--calls-per-second",
        type=positive,
        default=None,
        help="simulated callers a second in the busy hour (Poisson; default 0.25); the day "
        "from 08:00 to 20:00 runs in --duration seconds (headless) or 600",
    )
    demo.add_argument(
        "--talk-seconds", type=positive, default=None, help="agents' mean talk time (default 30)"
    )
    demo.add_argument("--seed", type=int, default=None, help="random seed of the callers")
    demo.add_argument(
        "--history-days",
        type=int,
        default=None,
        help="days of synthetic history seeded before today at the first start, for the "
        "reports (default 120; 0 with --headless, which counts its own run)",
    )
    demo.add_argument(
        "--report", choices=("json",), default=None, help="print one JSON summary line at the end"
    )

    lists = sub.add_parser("list", help="outbound call lists")
    lists_sub = lists.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    li = add(
        "import",
        cmd_list_import,
        "import a CSV or XLSX list into a campaign (exit 1 when a row was bad)",
        lists_sub,
    )
    li.add_argument("--campaign", required=True, help="the campaign's name")
    li.add_argument("--name", default="", help="the list's name (default: the file's)")
    li.add_argument(
        "--encoding",
        default=None,
        help="the CSV's encoding (default: detected: UTF-8, UTF-16 with a BOM, or GB18030)",
    )
    li.add_argument("file", help="a .csv or .xlsx file whose first row names the columns")
    le = add("export", cmd_list_export, "write a campaign's leads to a CSV file", lists_sub)
    le.add_argument("--campaign", required=True, help="the campaign's name")
    le.add_argument("--out", required=True, help="the CSV file to write (replaced)")

    from appliance.reports import rebuild_cli

    reports = sub.add_parser("reports", help="statistics and reports")
    reports_sub = reports.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    rb = add(
        "rebuild",
        cmd_reports_rebuild,
        "recount the report rollups of some local days from the raw rows (after a correction, "
        "a bulk load, or a change of [reports] timezone)",
        reports_sub,
    )
    rebuild_cli.add_arguments(rb)

    from firmware_tools import command as firmware_command

    firmware_command.add_parser(sub, cmd_firmware)

    customers = sub.add_parser("customers", help="customers (the CRM)")
    customers_sub = customers.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    add(
        "rekey",
        cmd_customers_rekey,
        "make every stored number's lookup key again (after a change of [crm] country_code "
        "or trunk_prefix)",
        customers_sub,
    )

    dnc = sub.add_parser("dnc", help="do-not-call lists")
    dnc_sub = dnc.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    di = add("import", cmd_dnc_import, "replace the national do-not-call list", dnc_sub)
    di.add_argument(
        "--national", required=True, metavar="FILE", help="one number a line (or a CSV)"
    )
    di.add_argument("--date", required=True, help="the national list's date, YYYY-MM-DD")
    di.add_argument(
        "--skip-bad", action="store_true", help="replace the list even when some lines are bad"
    )
    da = add("add", cmd_dnc_add, "put a number on the center's do-not-call list", dnc_sub)
    da.add_argument("number")
    da.add_argument("--campaign", default=None, help="on this campaign's list instead")
    bk = add("backup", cmd_backup, "write a backup archive (database, config, prompts, files)")
    bk.add_argument("-o", "--out", required=True, help="the archive to write (a new file)")
    bk.add_argument(
        "--include-recordings", action="store_true", help="the recordings (and their key) too"
    )
    bk.add_argument(
        "--passphrase-file",
        default=None,
        help="a file whose first line is a passphrase: the secrets go in encrypted with it "
        "(without: they are left out)",
    )
    rs = add(
        "restore",
        cmd_restore,
        "restore a backup archive onto this box (stop ccboxd first); everything is checked "
        "before anything is changed",
    )
    rs.add_argument("file", help="the archive")
    rs.add_argument("--passphrase-file", default=None, help="the passphrase of its secrets")
    rs.add_argument(
        "--data-dir",
        default=None,
        help="restore into this data folder instead of the config's (the database and "
        "recordings follow it when the config keeps them there)",
    )
    rs.add_argument(
        "--force", action="store_true", help="replace a database or folders that hold data"
    )
    rs.add_argument(
        "--without-secrets",
        action="store_true",
        help="restore an archive with sealed secrets without them (no passphrase)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except config_mod.ConfigError as exc:
        for problem in exc.problems:
            print(f"ccbox: {exc.path}: {problem}", file=sys.stderr)
        return 2
    except (CliError, DatabaseNotMigrated) as exc:
        print(f"ccbox: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
