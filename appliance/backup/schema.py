"""The tables and columns of a schema revision, and the state of a restore's target."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url

from appliance.db import migrate
from appliance.db import model as m
from appliance.db.engine import create_engine

# Tables a migration fills (restored over: the archive has its own rows) and tables that
# are not the model's (Alembic's; SQLite's full-text index and its shadow tables).
SEEDED = frozenset({"ticket_types", "ticket_sla_rules"})


def not_model(name: str) -> bool:
    return name == "alembic_version" or name.startswith("kb_fts")


def revisions() -> list[str]:
    """Every revision this ccbox knows, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


_NUMBER = (int, float, decimal.Decimal)
_ACCEPTS: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),  # a Decimal never comes out of a Float column ("sNaN" breaks it)
    decimal.Decimal: _NUMBER,
    str: (str,),
    bytes: (bytes,),
    dt.datetime: (dt.datetime,),
    dt.date: (dt.date,),
}


@dataclass(frozen=True)
class Column:
    """What a column may hold, checked on every row of an archive before the load."""

    accepts: tuple[type, ...] | None  # None: a type without a Python one, anything
    nullable: bool
    length: int | None = None  # a VARCHAR's, in characters
    bits: int | None = None  # an integer's

    def fits(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.accepts is None:
            return True
        if isinstance(value, bool) and bool not in self.accepts:
            return False  # a bool is an int to Python, never to a database
        if isinstance(value, dt.datetime) and dt.datetime not in self.accepts:
            return False  # a datetime is a date to Python
        return isinstance(value, self.accepts)

    def fits_sqlite(self, value: Any) -> bool:
        """SQLite stores a NaN as NULL: refused where NULL is."""
        return self.nullable or not (isinstance(value, float) and math.isnan(value))

    def fits_postgresql(self, value: Any) -> bool:
        """What SQLite keeps and PostgreSQL refuses: a text over its length or with a NUL
        character, an integer out of its column's range."""
        if isinstance(value, str):
            return "\x00" not in value and (self.length is None or len(value) <= self.length)
        if isinstance(value, int) and not isinstance(value, bool) and self.bits is not None:
            return -(2 ** (self.bits - 1)) <= value < 2 ** (self.bits - 1)
        return True


def _column(type_: Any, nullable: bool | None) -> Column:
    if isinstance(type_, sa.types.TypeDecorator):  # its own python_type is "object"
        type_ = type_.impl_instance
    try:
        python = type_.python_type
    except NotImplementedError:
        python = None
    length = type_.length if isinstance(type_, sa.String) else None
    bits = None
    if isinstance(type_, sa.BigInteger):
        bits = 64
    elif isinstance(type_, sa.SmallInteger):
        bits = 16
    elif isinstance(type_, sa.Integer):
        bits = 32
    return Column(_ACCEPTS.get(python), bool(nullable), length, bits)


def schema_for(revision: str) -> dict[str, dict[str, Column]] | None:
    """table -> column -> what it holds at ``revision`` (None: a revision this ccbox does
    not know). The head is the model; an older one is read from a scratch SQLite database
    migrated to it."""
    if revision not in revisions():
        return None
    if revision == migrate.head_revision():
        return {
            t.name: {c.name: _column(c.type, c.nullable) for c in t.columns}
            for t in m.metadata.sorted_tables
        }
    with tempfile.TemporaryDirectory(prefix="ccbox-schema-") as tmp:
        engine = create_engine(f"sqlite:///{Path(tmp) / 'schema.sqlite'}")
        try:
            migrate.upgrade(engine, revision)
            inspector = sa.inspect(engine)
            return {
                name: {
                    c["name"]: _column(c["type"], c.get("nullable", True))
                    for c in inspector.get_columns(name)
                }
                for name in inspector.get_table_names()
                if not not_model(name)
            }
        finally:
            engine.dispose()


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def tables_with_rows(engine: Engine) -> list[str]:
    """The model's tables that hold rows (beyond what migrations seed)."""
    inspector = sa.inspect(engine)
    found = []
    with engine.connect() as conn:
        for name in inspector.get_table_names():
            if not_model(name) or name in SEEDED:
                continue
            table = sa.table(name)
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                found.append(name)
    return found
