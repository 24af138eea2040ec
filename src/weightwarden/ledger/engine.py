"""Turn a ledger URL into an engine: a SQLite file in WAL mode, or PostgreSQL through psycopg."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from weightwarden.errors import LedgerError
from weightwarden.ledger.writer import WRITER_OPTION

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 10

_URL_HINT = "use sqlite:///path/to/ledger.db or postgresql+psycopg://user:password@host:5432/dbname"

# NaN and infinity are not JSON: PostgreSQL refuses them, so SQLite must too, or ledgers would not be portable.
dumps = functools.partial(json.dumps, allow_nan=False)


def parse_url(url: str) -> URL:
    """Check that url names a SQLite file or a PostgreSQL database; normalise postgres:// to psycopg."""
    if "://" not in url:
        raise LedgerError(f"{url!r} is not a ledger URL: {_URL_HINT}")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise LedgerError(f"cannot parse the ledger URL {url!r} ({exc}): {_URL_HINT}") from None
    # Compare names only: asking SQLAlchemy for the driver would import it, or fail on a scheme like http.
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise LedgerError(
                f"the ledger URL {url!r} names no SQLite file (in-memory ledgers are not supported because "
                f"every connection would see a different database): {_URL_HINT}"
            )
        return parsed.set(database=str(Path(database).expanduser()))
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise LedgerError(f"unsupported ledger URL scheme {parsed.drivername!r} in {display(parsed)}: {_URL_HINT}")


def display(url: URL) -> str:
    """The URL as it is safe to show in a message: the password hidden, a SQLite file as its path."""
    if url.get_backend_name() == "sqlite":
        return str(url.database)
    return url.render_as_string(hide_password=True)


def create_engine(url: URL) -> Engine:
    """An engine for a URL from parse_url; creates the folder of a SQLite file. Connects lazily."""
    if url.get_backend_name() == "sqlite":
        folder = Path(str(url.database)).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger folder {folder} ({exc}): choose a writable place") from None
        # The writer thread and the readers share the pool, so connections move between threads.
        engine = sa.create_engine(url, json_serializer=dumps, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # libpq waits forever for an unreachable host by default.
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    try:
        return sa.create_engine(url, json_serializer=dumps, pool_pre_ping=True, connect_args=connect_args)
    except ImportError:
        raise LedgerError(
            "a PostgreSQL ledger needs psycopg, which is not installed: pip install 'weightwarden[postgres]'"
        ) from None


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transactions away from the sqlite3 module, which would only BEGIN before DML and so leave
    # DDL (migrations) outside any transaction; _sqlite_on_begin emits BEGIN instead.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        # busy_timeout first, so switching to WAL waits for another process instead of failing.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL survives an application crash; only a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # The writer takes the write lock up front: a deferred transaction that reads and then writes gets
    # SQLITE_BUSY at once, without waiting, if another process wrote in between.
    immediate = conn.get_execution_options().get(WRITER_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
