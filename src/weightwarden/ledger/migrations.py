"""Numbered schema migrations, applied in order and recorded in schema_migrations.

To change the schema, append a function `mNNN_what(conn)` to MIGRATIONS and change schema.py to match;
never edit a migration that has shipped, because ledgers in the field have already run it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from weightwarden.errors import LedgerError
from weightwarden.ledger import hourly
from weightwarden.ledger.failures import reason
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.schema import UTCDateTime, json_column, schema_migrations
from weightwarden.ledger.writer import WRITER_OPTION

Migration = Callable[[Connection], None]

# Any constant works: it only has to be the same in every process that migrates a PostgreSQL ledger.
_PG_MIGRATION_LOCK = int.from_bytes(b"warden", "big")


def m001_initial(conn: Connection) -> None:
    """Create models, runs, items and events."""
    # A frozen copy of the tables as they were at version 1, so later edits to schema.py cannot change it.
    md = sa.MetaData()
    sa.Table(
        "models",
        md,
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("format", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        json_column("metadata"),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
    )
    sa.Table(
        "runs",
        md,
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("model_hash", sa.String(64), sa.ForeignKey("models.hash"), nullable=False),
        json_column("config"),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("status", sa.Text, nullable=False),
        json_column("summary", nullable=True),
        sa.CheckConstraint("status IN ('running', 'ok', 'failed', 'interrupted')", name="ck_runs_status"),
        sa.Index("ix_runs_model_hash_started_at", "model_hash", "started_at"),
    )
    sa.Table(
        "items",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        json_column("input"),
        json_column("output"),
        json_column("scores"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("run_id", "key", name="uq_items_run_id_key"),
    )
    sa.Table(
        "events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        json_column("payload"),
        sa.Index("ix_events_run_id_time", "run_id", "time"),
    )
    md.create_all(conn)


def m002_gateway(conn: Connection) -> None:
    """Create api_keys (the gateway's keys, stored hashed) and requests (one audit row per gateway request)."""
    md = sa.MetaData()
    sa.Table(
        "api_keys",
        md,
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        json_column("models"),
        sa.Column("rpm", sa.Integer, nullable=True),
        sa.Column("tpm", sa.Integer, nullable=True),
        sa.Column("budget_tokens", sa.BigInteger, nullable=True),
        sa.Column("budget_usd", sa.Float, nullable=True),
        sa.Column("spent_tokens", sa.BigInteger, nullable=False),
        sa.Column("spent_usd", sa.Float, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("hash", name="uq_api_keys_hash"),
    )
    # No foreign key to api_keys: an audit row must be written even for an unknown or deleted key.
    sa.Table(
        "requests",
        md,
        sa.Column("request_id", sa.String(26), primary_key=True),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("key_id", sa.String(26), nullable=True),
        sa.Column("model_hash", sa.String(64), nullable=True),
        sa.Column("model", sa.Text, nullable=True),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("total_ms", sa.Float, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        json_column("verdicts"),
        sa.Column("prompt_text", sa.Text, nullable=True),
        sa.Column("response_text", sa.Text, nullable=True),
        sa.Index("ix_requests_key_id_time", "key_id", "time"),
        sa.Index("ix_requests_time", "time"),
    )
    md.create_all(conn)


def m003_request_watermark(conn: Connection) -> None:
    """Add requests.watermark: the fingerprint of the watermark key a response was marked with (never the key)."""
    conn.execute(sa.text("ALTER TABLE requests ADD COLUMN watermark VARCHAR(16)"))


def m004_eval_cache(conn: Connection) -> None:
    """Create eval_cache: a model's answer to one canonical request, so a rerun of an eval costs only lookups."""
    md = sa.MetaData()
    sa.Table(
        "eval_cache",
        md,
        sa.Column("model_hash", sa.String(64), primary_key=True),
        sa.Column("request_sha", sa.String(64), primary_key=True),
        json_column("response"),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    md.create_all(conn)


def m005_stage_results(conn: Connection) -> None:
    """Create stage_results: one row per stage of an audit run, its typed result as JSON, in running order."""
    md = sa.MetaData()
    sa.Table("runs", md, sa.Column("id", sa.String(26), primary_key=True))  # only for the foreign key
    sa.Table(
        "stage_results",
        md,
        sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        json_column("result"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("run_id", "stage", name="uq_stage_results_run_id_stage"),
    )
    md.tables["stage_results"].create(conn)


def m006_request_sketches(conn: Connection) -> None:
    """Create request_sketches: a compact, text-free sketch of each audited request, for drift tests.

    A separate table, not columns on requests: rows written before this migration, and rows written with sketches
    turned off, simply have no sketch, and deleting sketches at the end of retention leaves the audit rows whole.
    """
    md = sa.MetaData()
    sa.Table(
        "request_sketches",
        md,
        sa.Column("request_id", sa.String(26), primary_key=True),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("model", sa.Text, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("embedding", sa.LargeBinary, nullable=True),
        sa.Column("embedding_scale", sa.Float, nullable=True),
        sa.Column("prompt_chars", sa.Integer, nullable=False),
        sa.Column("prompt_words", sa.Integer, nullable=False),
        sa.Column("response_chars", sa.Integer, nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("guard_input", sa.Float, nullable=True),
        sa.Column("guard_output", sa.Float, nullable=True),
        json_column("guard_scores"),
        sa.Column("refusal", sa.Boolean, nullable=True),
        sa.Index("ix_request_sketches_time", "time"),
    )
    md.create_all(conn)


def m007_key_quota(conn: Connection) -> None:
    """Add api_keys.reserved_tokens and reserved_usd (what requests in flight may still use); create reservations
    and rate_events.

    The database, not each gateway process, holds every limit's state, so any number of replicas on one ledger
    enforce a key's limits together (see ledger/quota.py). reservations keeps one row per request in flight, so what
    a replica that died had reserved is given back once its requests' time is up. rate_events keeps one row per
    admitted request and one per settled request's tokens, each for one window; older rows are deleted as new come.
    """
    conn.execute(sa.text("ALTER TABLE api_keys ADD COLUMN reserved_tokens BIGINT NOT NULL DEFAULT 0"))
    conn.execute(sa.text("ALTER TABLE api_keys ADD COLUMN reserved_usd FLOAT NOT NULL DEFAULT 0"))
    md = sa.MetaData()
    sa.Table(
        "reservations",
        md,
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("key_id", sa.String(26), nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("usd", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Index("ix_reservations_key_id_expires_at", "key_id", "expires_at"),
    )
    sa.Table(
        "rate_events",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(26), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Index("ix_rate_events_key_id_at", "key_id", "at"),
    )
    md.create_all(conn)


def m008_ui_sessions(conn: Connection) -> None:
    """Create ui_sessions: the dashboard's signed-in sessions (the cookie's sha256, never the cookie)."""
    md = sa.MetaData()
    sa.Table(
        "ui_sessions",
        md,
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(26), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Index("ix_ui_sessions_expires_at", "expires_at"),
    )
    md.create_all(conn)


def m010_requests_time_covering(conn: Connection) -> None:
    """Index the audit rows by time with the columns the dashboard's traffic charts add up, so a chart over a window
    reads the index alone, never the rows (whose verdict JSON and text make them wide)."""
    conn.execute(
        sa.text(
            "CREATE INDEX ix_requests_time_totals ON requests "
            "(time, status, total_ms, prompt_tokens, completion_tokens, cost_usd)"
        )
    )


def m009_usage_hourly(conn: Connection) -> None:
    """Create usage_hourly and usage_hourly_guard (hourly pre-aggregates of requests) and fill them from the rows.

    The bucket edges and columns are those of ledger/hourly.py at m009: changing them needs a new migration.
    """
    md = sa.MetaData()
    requests = sa.Table(  # only the columns the backfill reads
        "requests",
        md,
        sa.Column("time", UTCDateTime),
        sa.Column("key_id", sa.String(26)),
        sa.Column("model", sa.Text),
        sa.Column("route", sa.Text),
        sa.Column("status", sa.Integer),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("total_ms", sa.Float),
        sa.Column("cost_usd", sa.Float),
        json_column("verdicts"),
    )
    table, guard = hourly.define(md, UTCDateTime)
    table.create(conn)
    guard.create(conn)
    hourly.backfill(conn, requests, table, guard)


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_gateway,
    m003_request_watermark,
    m004_eval_cache,
    m005_stage_results,
    m006_request_sketches,
    m007_key_quota,
    m008_ui_sessions,
    m009_usage_hourly,
    m010_requests_time_covering,
]


def version_of(migration: Migration) -> int:
    """The number in a migration's name: m001_initial -> 1."""
    return int(migration.__name__[1:4])


# How long opening a SQLite ledger waits for another process that is migrating it (past the busy timeout).
MIGRATION_WAIT_S = 300.0


def schema_is_current(conn: Connection) -> bool:
    """True when every known migration, and no other, is recorded: opening needs no write lock then."""
    if not sa.inspect(conn).has_table(schema_migrations.name):
        return False
    applied = set(conn.execute(sa.select(schema_migrations.c.version)).scalars())
    return applied == {version_of(m) for m in MIGRATIONS}


def migrate(conn: Connection) -> list[int]:
    """Apply every migration not yet recorded, in order, inside the caller's transaction; return the versions applied.

    The caller's transaction must take the write lock (BEGIN IMMEDIATE on SQLite) so two processes
    opening the same ledger at once cannot both apply a migration.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    schema_migrations.create(conn, checkfirst=True)
    applied = set(conn.execute(sa.select(schema_migrations.c.version)).scalars())
    known = {version_of(m) for m in MIGRATIONS}
    if unknown := applied - known:
        raise LedgerError(
            f"the ledger has schema version {max(unknown)}, newer than this weightwarden knows ({max(known)}): "
            "upgrade weightwarden, or point WARDEN_DB at another ledger"
        )
    done = []
    for migration in MIGRATIONS:
        version = version_of(migration)
        if version in applied:
            continue
        try:
            migration(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise LedgerError(
                f"migration {migration.__name__} failed ({reason(exc)}); the ledger was left as it was: "
                "remove the cause and open it again, or report this message as a weightwarden bug"
            ) from exc
        conn.execute(sa.insert(schema_migrations).values(version=version, name=migration.__name__, applied_at=utcnow()))
        done.append(version)
    return done


def open_schema(engine: Engine) -> None:
    """Bring the schema up to date, or see that it is, without taking the write lock when nothing is to do.

    On SQLite a writer that holds the lock past the busy timeout is, at open, almost always another process
    migrating the same new file (ten migrations on a loaded machine can outlast it): wait for that process
    up to MIGRATION_WAIT_S, checking again each time, and only then give up.
    """
    deadline = time.monotonic() + MIGRATION_WAIT_S
    while True:
        try:
            with engine.connect() as conn:
                with conn.begin():
                    if schema_is_current(conn):
                        return
                conn.execution_options(**{WRITER_OPTION: True})
                with conn.begin():
                    migrate(conn)
            return
        except sa.exc.OperationalError as exc:
            if engine.dialect.name != "sqlite" or "locked" not in str(exc.orig) or time.monotonic() >= deadline:
                raise
        time.sleep(0.2)
