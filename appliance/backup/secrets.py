"""The archive's secrets: sealed with a passphrase (scrypt, then AES-256-GCM), or left out.

The config file goes into the archive with the values of ``SECRET_KEYS`` blanked; those
values and the recording key go into ``secrets.enc`` instead, readable only with the
passphrase. Rows hold secrets too (an e-mail account's IMAP and SMTP passwords:
``SECRET_COLUMNS``): their tables go into the archive with those columns blanked, the
values into ``secrets.enc`` by table, row id and column, put back by the restore.
A wrong passphrase (or a changed byte) fails GCM's tag check: nothing else
is tried.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from appliance.backup.layout import ArchiveError

# (section, key): the config values that are secrets. [database] url only when it holds a
# password (url_has_password). [modem] pin is the SIM's.
SECRET_KEYS = (
    ("ami", "secret"),
    ("smtp", "password"),
    ("metrics", "token"),
    ("modem", "pin"),
    ("database", "url"),
)
# table: its columns that are secrets (a row's value kept by its integer id).
SECRET_COLUMNS: dict[str, tuple[str, ...]] = {
    "email_accounts": ("imap_password", "smtp_password"),
}
MIN_PASSPHRASE = 8
MAX_PASSPHRASE = 1024
# scrypt's cost: 2**15 x 8 x 1 takes about 32 MB and a tenth of a second.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_AAD = b"ccbox-backup-secrets-1"
# As configparser reads a section header (matched on the stripped line: "[ami] ; the
# switch" is [ami]) and splits lines (at "\n" only).
_SECTION = re.compile(r"\[(.+)\]")
_KEY = re.compile(r"(\s*)([^=:#;\s][^=:]*?)(\s*[=:]\s*)(.*)$")


class WrongPassphrase(ArchiveError):
    """The passphrase does not open the archive's secrets."""


def read_passphrase(path: Path) -> str:
    """The first line of ``path`` (without its line end); ValueError when too short."""
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline(MAX_PASSPHRASE + 2)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the passphrase: {exc}") from None
    phrase = line.rstrip("\r\n")
    if not MIN_PASSPHRASE <= len(phrase) <= MAX_PASSPHRASE:
        raise ValueError(
            f"{path}: the passphrase (its first line) must be {MIN_PASSPHRASE} to "
            f"{MAX_PASSPHRASE} characters"
        )
    return phrase


def _is_secret(section: str, key: str, value: str) -> bool:
    if (section, key) not in SECRET_KEYS or not value:
        return False
    if (section, key) == ("database", "url"):
        return url_has_password(value)
    return True


def url_has_password(value: str) -> bool:
    """Whether a database URL carries a password in any form SQLAlchemy passes on to the
    driver: ``user:pw@``, a ``?password=`` (or ``sslpassword``, ``passwd``: any parameter
    naming a password), or a connection string in a parameter or the database name
    (``?dsn=host=db password=pw``). A URL SQLAlchemy cannot read is kept secret too."""
    try:
        url = sa.engine.make_url(value)
    except (sa.exc.ArgumentError, ValueError):
        return True
    if url.password:
        return True
    values: list[str] = [url.database or ""]
    for name, given in url.query.items():
        values += [name, *((given,) if isinstance(given, str) else given)]
    return any("pass" in v.lower() for v in values)


def _lines(text: str) -> list[str]:
    return io.StringIO(text).readlines()


def redact_config(text: str) -> tuple[str, dict[str, str]]:
    """The config text with each secret value blanked, and those values by "section.key"
    (lines, comments and order kept; a secret's continuation lines dropped, and a value
    only on them taken from the first). ValueError when a secret would remain readable
    in the text (a layout this does not follow): refused rather than written in clear."""
    out: list[str] = []
    found: dict[str, str] = {}
    section = ""
    lines = _lines(text)
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        m = _SECTION.match(line.strip())
        if m:
            section = m.group(1).strip()
            out.append(line)
            continue
        k = _KEY.match(line.rstrip("\r\n"))
        if not k or (section, k.group(2)) not in SECRET_KEYS:
            out.append(line)
            continue
        more: list[str] = []
        while i < len(lines) and _continues(lines[i]):
            more.append(lines[i])
            i += 1
        value = next((v for v in [k.group(4).strip(), *(x.strip() for x in more)] if v), "")
        if not _is_secret(section, k.group(2), value):
            out += [line, *more]
            continue
        found[f"{section}.{k.group(2)}"] = value
        end = line[len(line.rstrip("\r\n")) :]
        out.append(f"{k.group(1)}{k.group(2)}{k.group(3).rstrip()}{end or ''}")
    redacted = "".join(out)
    _check_blank(redacted)
    return redacted, found


def _continues(line: str) -> bool:
    """A continuation line to configparser: indented, neither blank nor a comment."""
    return line[:1] in (" ", "\t") and line.strip()[:1] not in ("", "#", ";")


def _check_blank(text: str) -> None:
    """ValueError when configparser still reads a secret in ``text``."""
    parser = configparser.ConfigParser(interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # as appliance/config.py
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ValueError(f"the config file cannot be read: {exc}"[:300]) from None
    for section, key in SECRET_KEYS:
        if _is_secret(section, key, parser.get(section, key, fallback="").strip()):
            raise ValueError(
                f"[{section}] {key}: its value could not be blanked in the config file (an "
                "unusual layout); write it on one line as key = value"
            )


def fill_config(text: str, values: dict[str, str]) -> str:
    """The blanked config with ``values`` ("section.key") put back."""
    out: list[str] = []
    section = ""
    for line in _lines(text):
        m = _SECTION.match(line.strip())
        if m:
            section = m.group(1).strip()
        k = _KEY.match(line.rstrip("\r\n")) if not m else None
        name = f"{section}.{k.group(2)}" if k else ""
        if k and name in values and not k.group(4).strip():
            end = line[len(line.rstrip("\r\n")) :]
            sep = k.group(3).rstrip() + " "
            line = f"{k.group(1)}{k.group(2)}{sep}{values[name]}{end}"
        out.append(line)
    return "".join(out)


def _key(passphrase: str, salt: bytes) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode("utf-8"))


def seal(payload: dict[str, Any], passphrase: str) -> bytes:
    """``payload`` (JSON data) encrypted with ``passphrase``: a small JSON envelope."""
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    sealed = AESGCM(_key(passphrase, salt)).encrypt(nonce, plain, _AAD)
    envelope = {
        "kdf": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "cipher": "aes-256-gcm",
        "salt": base64.b64encode(salt).decode("ascii"),
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "data": base64.b64encode(sealed).decode("ascii"),
    }
    return json.dumps(envelope).encode("ascii")


def open_sealed(data: bytes, passphrase: str) -> dict[str, Any]:
    """The payload :func:`seal` wrote; WrongPassphrase, or ArchiveError for a bad envelope."""
    try:
        env = json.loads(data.decode("ascii"))
        if not isinstance(env, dict) or env.get("kdf") != "scrypt":
            raise ValueError("not a sealed envelope")
        if (env.get("n"), env.get("r"), env.get("p"), env.get("cipher")) != (
            SCRYPT_N,
            SCRYPT_R,
            SCRYPT_P,
            "aes-256-gcm",
        ):
            raise ValueError("unknown parameters")  # never let an archive pick scrypt's cost
        salt, nonce, sealed = (
            base64.b64decode(env[k], validate=True) for k in ("salt", "nonce", "data")
        )
        if len(salt) != 16 or len(nonce) != 12:
            raise ValueError("bad salt or nonce")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, binascii.Error) as exc:
        raise ArchiveError(f"{'secrets.enc'}: not readable ({exc})") from None
    try:
        plain = AESGCM(_key(passphrase, salt)).decrypt(nonce, sealed, _AAD)
    except InvalidTag:
        raise WrongPassphrase(
            "the passphrase does not open this archive's secrets (wrong passphrase, or "
            "secrets.enc was changed)"
        ) from None
    payload = json.loads(plain.decode("utf-8"))
    config = payload.get("config") if isinstance(payload, dict) else None
    key = payload.get("recording_key") if isinstance(payload, dict) else None
    if not isinstance(config, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in config.items()
    ):
        raise ArchiveError("secrets.enc: not the secrets of a ccbox backup")
    if key is not None and not isinstance(key, str):
        raise ArchiveError("secrets.enc: the recording key is not text")
    if not _rows_ok(payload.get("rows", {})):
        raise ArchiveError("secrets.enc: the rows' secrets are not what a ccbox backup writes")
    return payload


def _rows_ok(found: Any) -> bool:
    """{table: {row id: {column: text}}} naming only SECRET_COLUMNS."""
    if not isinstance(found, dict):
        return False
    for table, by_id in found.items():
        if table not in SECRET_COLUMNS or not isinstance(by_id, dict):
            return False
        for row_id, values in by_id.items():
            if not isinstance(row_id, str) or not row_id.isdigit() or not isinstance(values, dict):
                return False
            for column, value in values.items():
                if column not in SECRET_COLUMNS[table] or not isinstance(value, str):
                    return False
    return True


def blank_secret_columns(
    table: str, columns: list[str], found: Any, held: dict[str, dict[str, dict[str, str]]]
) -> Any:
    """``found`` (a table's rows, in ``columns``' order) with the table's secret columns
    blanked; the values go into ``held`` (by table, row id, column). Rows of any other
    table pass through."""
    secret = SECRET_COLUMNS.get(table)
    if not secret:
        yield from found
        return
    where = [columns.index(c) for c in secret if c in columns]
    ident = columns.index("id")
    for row in found:
        values = list(row)
        kept = {columns[i]: values[i] for i in where if values[i]}
        if kept:
            held.setdefault(table, {})[str(values[ident])] = kept
        for i in where:
            values[i] = ""
        yield tuple(values)


def row_secret_names(held: dict[str, dict[str, dict[str, str]]]) -> list[str]:
    """``table.column`` for each secret column some row had a value in (the manifest)."""
    return sorted({f"{t}.{c}" for t, by_id in held.items() for v in by_id.values() for c in v})


def fill_secret_columns(conn: sa.Connection, tables: dict[str, sa.Table], payload: Any) -> int:
    """Put the sealed rows' secrets back (after the rows were loaded); how many rows."""
    found = payload.get("rows", {}) if isinstance(payload, dict) else {}
    n = 0
    for name, by_id in found.items():
        table = tables.get(name)
        if table is None:
            continue
        for row_id, values in by_id.items():
            values = {c: v for c, v in values.items() if c in table.c}
            if values:
                conn.execute(table.update().where(table.c.id == int(row_id)).values(**values))
                n += 1
    return n


def key_bytes(payload: dict[str, Any]) -> bytes | None:
    """The recording key in a payload (None: there was none)."""
    key = payload.get("recording_key")
    return base64.b64decode(key) if key else None


def payload(
    config_secrets: dict[str, str],
    recording_key: bytes | None,
    row_secrets: dict[str, dict[str, dict[str, str]]] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "config": config_secrets,
        "recording_key": base64.b64encode(recording_key).decode("ascii") if recording_key else None,
    }
    if row_secrets:
        out["rows"] = row_secrets
    return out
