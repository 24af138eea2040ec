"""The column types of the ledger and the tables as the latest migration leaves them."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from weightwarden.ledger import hourly


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive datetimes are refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass a timezone-aware one, e.g. datetime.now(UTC)")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store UTC wall time, which also sorts correctly as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_column(name: str, *, nullable: bool = False) -> sa.Column[object]:
    """A JSON column; plain JSON, not JSONB, so PostgreSQL keeps key order and accepts \\u0000 in strings."""
    return sa.Column(name, sa.JSON(none_as_null=nullable), nullable=nullable)


metadata = sa.MetaData()

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    json_column("metadata"),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
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

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    json_column("input"),
    json_column("output"),
    json_column("scores"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "key", name="uq_items_run_id_key"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    json_column("payload"),
    sa.Index("ix_events_run_id_time", "run_id", "time"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
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
    # m007: what admitted requests may still use; settling a request moves its share into spent_*.
    sa.Column("reserved_tokens", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("reserved_usd", sa.Float, nullable=False, server_default=sa.text("0")),
    sa.UniqueConstraint("hash", name="uq_api_keys_hash"),
)

# m007: one row per request in flight with a reservation, so that what a replica that died had reserved is given
# back once its requests' time is up (expires_at, Unix seconds).
reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("key_id", sa.String(26), nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False),
    sa.Column("usd", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_reservations_key_id_expires_at", "key_id", "expires_at"),
)

# m007: the windows of requests and tokens per minute, shared by every gateway on the ledger. One row per admitted
# request (requests=1, tokens=0) and one per settled request's tokens (requests=0); at is Unix time in seconds.
rate_events = sa.Table(
    "rate_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key_id", sa.String(26), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("tokens", sa.BigInteger, nullable=False),
    sa.Index("ix_rate_events_key_id_at", "key_id", "at"),
)

requests = sa.Table(
    "requests",
    metadata,
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
    sa.Column("watermark", sa.String(16), nullable=True),  # m003: the key's fingerprint when the answer was marked
    sa.Index("ix_requests_key_id_time", "key_id", "time"),
    sa.Index("ix_requests_time", "time"),
    sa.Index(  # m010: the traffic charts read this index alone
        "ix_requests_time_totals", "time", "status", "total_ms", "prompt_tokens", "completion_tokens", "cost_usd"
    ),
)

eval_cache = sa.Table(
    "eval_cache",
    metadata,
    sa.Column("model_hash", sa.String(64), primary_key=True),
    sa.Column("request_sha", sa.String(64), primary_key=True),  # sha256 of the canonical JSON of the request
    json_column("response"),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

stage_results = sa.Table(
    "stage_results",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),  # m005: the order stages ran in
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    json_column("result"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "stage", name="uq_stage_results_run_id_stage"),
)

request_sketches = sa.Table(
    "request_sketches",
    metadata,
    sa.Column("request_id", sa.String(26), primary_key=True),
    sa.Column("time", UTCDateTime, nullable=False),
    sa.Column("model", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("embedding", sa.LargeBinary, nullable=True),  # int8 per dimension; times embedding_scale
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

# m009: hourly pre-aggregates of requests (and their triggered guard verdicts), maintained by the audit writer.
usage_hourly, usage_hourly_guard = hourly.define(metadata, UTCDateTime)

ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # m008: sha256 of the session cookie
    sa.Column("key_id", sa.String(26), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_ui_sessions_expires_at", "expires_at"),
)
