"""The ledger on real SQLite files and on a throwaway PostgreSQL cluster."""

from __future__ import annotations

import hashlib
import math
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from weightwarden.errors import LedgerError
from weightwarden.ledger import (
    MIGRATIONS,
    ApiKeyRecord,
    EventRecord,
    ItemRecord,
    Ledger,
    ModelRecord,
    RequestRecord,
    RunRecord,
    StageRecord,
    migrations,
)
from weightwarden.ledger.migrations import version_of
from weightwarden.ledger.schema import metadata
from weightwarden.ledger.store import new_run_id
from weightwarden.ledger.writer import Writer

try:
    import pgcluster
except ModuleNotFoundError:  # tests/ is a package, or pytest runs with --import-mode=importlib
    from tests import pgcluster

# The session's PostgreSQL cluster, a fixture that the fixtures below request through getfixturevalue.
pg_cluster = pgcluster.pg_cluster


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a SQLite ledger that does not exist yet."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty schema on the session's PostgreSQL cluster (skips without PostgreSQL)."""
    return str(request.getfixturevalue("pg_cluster").fresh_url())


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty ledger database, on each backend."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def ledger(url: str) -> Iterator[Ledger]:
    with Ledger(url) as opened:
        yield opened


@pytest.fixture
def raw(url: str) -> Iterator[sa.Engine]:
    """A plain engine on the same database, to look behind the ledger's back."""
    engine = sa.create_engine(url)
    yield engine
    engine.dispose()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def a_model(name: str = "smollm2-135m", **changes: Any) -> ModelRecord:
    fields: dict[str, Any] = {
        "hash": sha(name),
        "name": name,
        "format": "gguf",
        "size_bytes": 5 * 2**32,  # past 32 bits, as real weights are
        "metadata": {"architecture": "llama", "quantization": "Q4_1", "license": {"id": "Apache-2.0"}},
    }
    return ModelRecord(**(fields | changes))


def started(ledger: Ledger, kind: str = "eval", name: str = "smollm2-135m") -> str:
    model = a_model(name)
    ledger.upsert_model(model)
    return ledger.start_run(kind, model.hash, {"suite": "tiny", "seed": 0})


# -- schema and migrations ---------------------------------------------------------------------------


def sqlite_schema(path: Path) -> dict[str, dict[str, Any]]:
    """Tables, columns (name, type, not null, pk), foreign keys, indexes and checks of a SQLite file."""
    con = sqlite3.connect(path)
    try:
        names = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
        schema = {}
        for (table,) in names:
            sql = con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
            schema[table] = {
                "columns": [(c[1], c[2], bool(c[3]), c[5]) for c in con.execute(f"PRAGMA table_info({table})")],
                "foreign_keys": sorted(
                    (f[3], f"{f[2]}.{f[4]}") for f in con.execute(f"PRAGMA foreign_key_list({table})")
                ),
                "indexes": sorted(
                    (i[1], bool(i[2]), tuple(c[2] for c in con.execute(f"PRAGMA index_info({i[1]})")))
                    for i in con.execute(f"PRAGMA index_list({table})")
                ),
                "checks": re.findall(r"CONSTRAINT (\w+) CHECK \((.*)\)", sql),
            }
        return schema
    finally:
        con.close()


_HOURLY_KEYS = [("hour", "DATETIME", True, 1), ("key_id", "TEXT", True, 2), ("model", "TEXT", True, 3)]
_HOURLY_KEYS.append(("route", "TEXT", True, 4))
_BUCKETS = [f"b{i:03d}" for i in range(182)]

EXPECTED_SQLITE_SCHEMA: dict[str, dict[str, Any]] = {
    # m009_usage_hourly: hourly pre-aggregates of requests, with a latency histogram of 182 log-spaced buckets.
    "usage_hourly": {
        "columns": [
            *_HOURLY_KEYS,
            *((name, "BIGINT", True, 0) for name in ("requests", "prompt_tokens", "completion_tokens")),
            ("usd", "FLOAT", True, 0),
            *((name, "BIGINT", True, 0) for name in ("errors", "client_errors", "rate_limited")),
            *((name, "FLOAT", True, 0) for name in ("sum_ms", "min_ms", "max_ms")),
            *((name, "INTEGER", True, 0) for name in _BUCKETS),
        ],
        "foreign_keys": [],
        "indexes": [("sqlite_autoindex_usage_hourly_1", True, ("hour", "key_id", "model", "route"))],
        "checks": [],
    },
    "usage_hourly_guard": {
        "columns": [
            *_HOURLY_KEYS,
            ("side", "TEXT", True, 5),
            ("label", "TEXT", True, 6),
            ("action", "TEXT", True, 7),
            ("n", "BIGINT", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [
            (
                "sqlite_autoindex_usage_hourly_guard_1",
                True,
                ("hour", "key_id", "model", "route", "side", "label", "action"),
            )
        ],
        "checks": [],
    },
    # m008_ui_sessions: the dashboard's sessions, keyed by the sha256 of the cookie.
    "ui_sessions": {
        "columns": [
            ("id_hash", "VARCHAR(64)", True, 1),
            ("key_id", "VARCHAR(26)", True, 0),
            ("csrf", "VARCHAR(64)", True, 0),
            ("created_at", "DATETIME", True, 0),
            ("expires_at", "DATETIME", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [
            ("ix_ui_sessions_expires_at", False, ("expires_at",)),
            ("sqlite_autoindex_ui_sessions_1", True, ("id_hash",)),
        ],
        "checks": [],
    },
    # m006_request_sketches: a text-free sketch of each audited request, for drift tests.
    "request_sketches": {
        "columns": [
            ("request_id", "VARCHAR(26)", True, 1),
            ("time", "DATETIME", True, 0),
            ("model", "TEXT", False, 0),
            ("version", "INTEGER", True, 0),
            ("embedding", "BLOB", False, 0),
            ("embedding_scale", "FLOAT", False, 0),
            ("prompt_chars", "INTEGER", True, 0),
            ("prompt_words", "INTEGER", True, 0),
            ("response_chars", "INTEGER", False, 0),
            ("language", "VARCHAR(8)", False, 0),
            ("guard_input", "FLOAT", False, 0),
            ("guard_output", "FLOAT", False, 0),
            ("guard_scores", "JSON", True, 0),
            ("refusal", "BOOLEAN", False, 0),
        ],
        "foreign_keys": [],
        "indexes": [
            ("ix_request_sketches_time", False, ("time",)),
            ("sqlite_autoindex_request_sketches_1", True, ("request_id",)),
        ],
        "checks": [],
    },
    # m004_eval_cache: a model's response to one canonical eval request, keyed by (model hash, request sha256).
    "eval_cache": {
        "columns": [
            ("model_hash", "VARCHAR(64)", True, 1),
            ("request_sha", "VARCHAR(64)", True, 2),
            ("response", "JSON", True, 0),
            ("created_at", "DATETIME", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [("sqlite_autoindex_eval_cache_1", True, ("model_hash", "request_sha"))],
        "checks": [],
    },
    # m002_gateway: the gateway's keys (hashed) and one audit row per request, indexed by (key, time).
    "api_keys": {
        "columns": [
            ("id", "VARCHAR(26)", True, 1),
            ("name", "TEXT", True, 0),
            ("hash", "VARCHAR(64)", True, 0),
            ("models", "JSON", True, 0),
            ("rpm", "INTEGER", False, 0),
            ("tpm", "INTEGER", False, 0),
            ("budget_tokens", "BIGINT", False, 0),
            ("budget_usd", "FLOAT", False, 0),
            ("spent_tokens", "BIGINT", True, 0),
            ("spent_usd", "FLOAT", True, 0),
            ("created_at", "DATETIME", True, 0),
            ("expires_at", "DATETIME", False, 0),
            ("revoked_at", "DATETIME", False, 0),
            # m007_key_quota: what requests in flight may still use, on every gateway sharing the ledger.
            ("reserved_tokens", "BIGINT", True, 0),
            ("reserved_usd", "FLOAT", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [
            ("sqlite_autoindex_api_keys_1", True, ("id",)),
            ("sqlite_autoindex_api_keys_2", True, ("hash",)),
        ],
        "checks": [],
    },
    "requests": {
        "columns": [
            ("request_id", "VARCHAR(26)", True, 1),
            ("time", "DATETIME", True, 0),
            ("key_id", "VARCHAR(26)", False, 0),
            ("model_hash", "VARCHAR(64)", False, 0),
            ("model", "TEXT", False, 0),
            ("route", "TEXT", True, 0),
            ("status", "INTEGER", True, 0),
            ("error", "TEXT", False, 0),
            ("prompt_tokens", "INTEGER", True, 0),
            ("completion_tokens", "INTEGER", True, 0),
            ("ttft_ms", "FLOAT", False, 0),
            ("total_ms", "FLOAT", True, 0),
            ("cost_usd", "FLOAT", True, 0),
            ("verdicts", "JSON", True, 0),
            ("prompt_text", "TEXT", False, 0),
            ("response_text", "TEXT", False, 0),
            # m003_request_watermark: the watermark key's fingerprint of a marked answer.
            ("watermark", "VARCHAR(16)", False, 0),
        ],
        "foreign_keys": [],
        "indexes": [
            ("ix_requests_key_id_time", False, ("key_id", "time")),
            ("ix_requests_time", False, ("time",)),
            # m010_requests_time_covering: the dashboard's traffic charts read this index alone.
            (
                "ix_requests_time_totals",
                False,
                ("time", "status", "total_ms", "prompt_tokens", "completion_tokens", "cost_usd"),
            ),
            ("sqlite_autoindex_requests_1", True, ("request_id",)),
        ],
        "checks": [],
    },
    "events": {
        "columns": [
            ("id", "INTEGER", True, 1),
            ("run_id", "VARCHAR(26)", False, 0),
            ("time", "DATETIME", True, 0),
            ("kind", "TEXT", True, 0),
            ("payload", "JSON", True, 0),
        ],
        "foreign_keys": [("run_id", "runs.id")],
        "indexes": [("ix_events_run_id_time", False, ("run_id", "time"))],
        "checks": [],
    },
    "items": {
        "columns": [
            ("id", "INTEGER", True, 1),
            ("run_id", "VARCHAR(26)", True, 0),
            ("key", "TEXT", True, 0),
            ("input", "JSON", True, 0),
            ("output", "JSON", True, 0),
            ("scores", "JSON", True, 0),
            ("created_at", "DATETIME", True, 0),
        ],
        "foreign_keys": [("run_id", "runs.id")],
        "indexes": [("sqlite_autoindex_items_1", True, ("run_id", "key"))],
        "checks": [],
    },
    "models": {
        "columns": [
            ("hash", "VARCHAR(64)", True, 1),
            ("name", "TEXT", True, 0),
            ("format", "TEXT", True, 0),
            ("size_bytes", "BIGINT", True, 0),
            ("metadata", "JSON", True, 0),
            ("first_seen", "DATETIME", True, 0),
            ("last_seen", "DATETIME", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [("sqlite_autoindex_models_1", True, ("hash",))],
        "checks": [],
    },
    "runs": {
        "columns": [
            ("id", "VARCHAR(26)", True, 1),
            ("kind", "TEXT", True, 0),
            ("model_hash", "VARCHAR(64)", True, 0),
            ("config", "JSON", True, 0),
            ("started_at", "DATETIME", True, 0),
            ("ended_at", "DATETIME", False, 0),
            ("status", "TEXT", True, 0),
            ("summary", "JSON", False, 0),
        ],
        "foreign_keys": [("model_hash", "models.hash")],
        "indexes": [
            ("ix_runs_model_hash_started_at", False, ("model_hash", "started_at")),
            ("sqlite_autoindex_runs_1", True, ("id",)),
        ],
        "checks": [("ck_runs_status", "status IN ('running', 'ok', 'failed', 'interrupted')")],
    },
    # m005_stage_results: one row per stage of an audit run, in running order, its typed result as JSON.
    "stage_results": {
        "columns": [
            ("run_id", "VARCHAR(26)", True, 1),
            ("position", "INTEGER", True, 2),
            ("stage", "TEXT", True, 0),
            ("status", "TEXT", True, 0),
            ("result", "JSON", True, 0),
            ("created_at", "DATETIME", True, 0),
        ],
        "foreign_keys": [("run_id", "runs.id")],
        "indexes": [
            ("sqlite_autoindex_stage_results_1", True, ("run_id", "position")),
            ("sqlite_autoindex_stage_results_2", True, ("run_id", "stage")),
        ],
        "checks": [],
    },
    # m007_key_quota: the shared per-minute windows of requests and tokens.
    "rate_events": {
        "columns": [
            ("id", "INTEGER", True, 1),
            ("key_id", "VARCHAR(26)", True, 0),
            ("at", "FLOAT", True, 0),
            ("requests", "INTEGER", True, 0),
            ("tokens", "BIGINT", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [("ix_rate_events_key_id_at", False, ("key_id", "at"))],
        "checks": [],
    },
    "reservations": {
        "columns": [
            ("id", "VARCHAR(26)", True, 1),
            ("key_id", "VARCHAR(26)", True, 0),
            ("tokens", "BIGINT", True, 0),
            ("usd", "FLOAT", True, 0),
            ("expires_at", "FLOAT", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [
            ("ix_reservations_key_id_expires_at", False, ("key_id", "expires_at")),
            ("sqlite_autoindex_reservations_1", True, ("id",)),
        ],
        "checks": [],
    },
    "schema_migrations": {
        "columns": [
            ("version", "INTEGER", True, 1),
            ("name", "TEXT", True, 0),
            ("applied_at", "DATETIME", True, 0),
        ],
        "foreign_keys": [],
        "indexes": [],
        "checks": [],
    },
}


def test_fresh_sqlite_schema_is_exactly_the_expected_one(tmp_path: Path) -> None:
    # A change here must come with a new migration: never edit one that has shipped (m001 to m005).
    Ledger(f"sqlite:///{tmp_path / 'ledger.db'}").close()
    assert sqlite_schema(tmp_path / "ledger.db") == EXPECTED_SQLITE_SCHEMA


def test_fresh_postgresql_schema_has_the_expected_tables_columns_and_indexes(pg_url: str) -> None:
    Ledger(pg_url).close()
    raw = sa.create_engine(pg_url)
    inspector = sa.inspect(raw)
    found = {
        table: (
            [c["name"] for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
        )
        for table in sorted(inspector.get_table_names())
    }
    assert found == {
        "api_keys": (
            [
                "id",
                "name",
                "hash",
                "models",
                "rpm",
                "tpm",
                "budget_tokens",
                "budget_usd",
                "spent_tokens",
                "spent_usd",
                "created_at",
                "expires_at",
                "revoked_at",
                "reserved_tokens",
                "reserved_usd",
            ],
            [("uq_api_keys_hash", ("hash",))],
        ),
        "eval_cache": (["model_hash", "request_sha", "response", "created_at"], []),
        "events": (["id", "run_id", "time", "kind", "payload"], [("ix_events_run_id_time", ("run_id", "time"))]),
        "items": (
            ["id", "run_id", "key", "input", "output", "scores", "created_at"],
            [("uq_items_run_id_key", ("run_id", "key"))],
        ),
        "models": (["hash", "name", "format", "size_bytes", "metadata", "first_seen", "last_seen"], []),
        "runs": (
            ["id", "kind", "model_hash", "config", "started_at", "ended_at", "status", "summary"],
            [("ix_runs_model_hash_started_at", ("model_hash", "started_at"))],
        ),
        "requests": (
            [
                "request_id",
                "time",
                "key_id",
                "model_hash",
                "model",
                "route",
                "status",
                "error",
                "prompt_tokens",
                "completion_tokens",
                "ttft_ms",
                "total_ms",
                "cost_usd",
                "verdicts",
                "prompt_text",
                "response_text",
                "watermark",
            ],
            [
                ("ix_requests_key_id_time", ("key_id", "time")),
                ("ix_requests_time", ("time",)),
                (
                    "ix_requests_time_totals",
                    ("time", "status", "total_ms", "prompt_tokens", "completion_tokens", "cost_usd"),
                ),
            ],
        ),
        "rate_events": (["id", "key_id", "at", "requests", "tokens"], [("ix_rate_events_key_id_at", ("key_id", "at"))]),
        "reservations": (
            ["id", "key_id", "tokens", "usd", "expires_at"],
            [("ix_reservations_key_id_expires_at", ("key_id", "expires_at"))],
        ),
        "schema_migrations": (["version", "name", "applied_at"], []),
        "stage_results": (
            ["run_id", "position", "stage", "status", "result", "created_at"],
            [("uq_stage_results_run_id_stage", ("run_id", "stage"))],
        ),
        "request_sketches": (
            [
                "request_id",
                "time",
                "model",
                "version",
                "embedding",
                "embedding_scale",
                "prompt_chars",
                "prompt_words",
                "response_chars",
                "language",
                "guard_input",
                "guard_output",
                "guard_scores",
                "refusal",
            ],
            [("ix_request_sketches_time", ("time",))],
        ),
        "usage_hourly": (
            [
                *("hour", "key_id", "model", "route", "requests", "prompt_tokens", "completion_tokens", "usd"),
                *("errors", "client_errors", "rate_limited", "sum_ms", "min_ms", "max_ms"),
                *_BUCKETS,
            ],
            [],
        ),
        "usage_hourly_guard": (["hour", "key_id", "model", "route", "side", "label", "action", "n"], []),
        "ui_sessions": (
            ["id_hash", "key_id", "csrf", "created_at", "expires_at"],
            [("ix_ui_sessions_expires_at", ("expires_at",))],
        ),
    }
    assert [u["name"] for u in inspector.get_unique_constraints("items")] == ["uq_items_run_id_key"]
    assert [u["name"] for u in inspector.get_unique_constraints("api_keys")] == ["uq_api_keys_hash"]
    runs = {c["name"]: c["type"] for c in inspector.get_columns("runs")}
    assert (str(runs["started_at"]), runs["started_at"].timezone) == ("TIMESTAMP", True)
    # Plain JSON, not JSONB, which would reorder keys and refuse \u0000 in strings.
    assert {str(runs["config"]), str(runs["summary"])} == {"JSON"}
    raw.dispose()


def test_schema_module_matches_what_the_migrations_build(ledger: Ledger, raw: sa.Engine) -> None:
    # Queries use schema.py; the database is built by migrations.py. They must not drift apart.
    inspector = sa.inspect(raw)
    built = {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()}
    declared = {t.name: [c.name for c in t.columns] for t in metadata.sorted_tables}
    assert built == declared


def test_migrations_are_numbered_from_one_without_gaps() -> None:
    # A ledger records the highest number it has run: a gap filled later (m009 merged after m010) would never run on
    # a ledger that already has m010, so the list must be complete and in order on main.
    versions = [version_of(m) for m in MIGRATIONS]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert all(re.fullmatch(r"m\d{3}_\w+", m.__name__) for m in MIGRATIONS)


def test_migrations_are_recorded_and_not_reapplied(url: str, raw: sa.Engine) -> None:
    with Ledger(url) as ledger:
        assert ledger.schema_version() == version_of(MIGRATIONS[-1])
        ledger.upsert_model(a_model())
    with raw.connect() as conn:
        first = conn.execute(sa.text("SELECT version, name, applied_at FROM schema_migrations")).all()
    assert [(v, n) for v, n, _ in first] == [(version_of(m), m.__name__) for m in MIGRATIONS]

    with Ledger(url) as ledger:
        assert ledger.schema_version() == version_of(MIGRATIONS[-1])
        assert [m.name for m in ledger.models()] == ["smollm2-135m"]
    with raw.connect() as conn:
        again = conn.execute(sa.text("SELECT version, name, applied_at FROM schema_migrations")).all()
    assert again == first


def test_a_failing_migration_leaves_the_ledger_as_it_was(
    url: str, raw: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: sa.Connection) -> None:
        conn.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
        conn.exec_driver_sql("SELECT * FROM no_such_table")

    # Numbered after the last real migration, so it fails after the real ones ran in the same transaction.
    broken.__name__ = name = f"m{version_of(MIGRATIONS[-1]) + 1:03d}_broken"
    assert version_of(broken) == version_of(MIGRATIONS[-1]) + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, broken])
    failed = rf"migration {name} failed \(.*no_such_table.*\); the ledger was left as it was"
    with pytest.raises(LedgerError, match=failed):
        Ledger(url)
    # One transaction for all pending migrations, DDL included (on SQLite too): nothing was kept.
    assert sa.inspect(raw).get_table_names() == []

    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    with Ledger(url) as ledger:
        assert ledger.schema_version() == version_of(MIGRATIONS[-1])
    assert "half_done" not in sa.inspect(raw).get_table_names()


def test_a_version_2_ledger_upgrades_to_3_and_keeps_its_audit_rows(
    url: str, raw: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:2])  # a ledger written by the previous release
    Ledger(url).close()
    with raw.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO requests (request_id, time, route, status, prompt_tokens, completion_tokens, total_ms, "
                "cost_usd, verdicts) VALUES ('old-request', :t, '/v1/chat/completions', 200, 3, 4, 9.5, 0.0, '{}')"
            ),
            {"t": datetime(2030, 1, 1, tzinfo=UTC)},
        )
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    with Ledger(url) as ledger:
        assert ledger.schema_version() == version_of(MIGRATIONS[-1])
        (old,) = ledger.requests()
        assert (old.request_id, old.completion_tokens, old.watermark) == ("old-request", 4, None)
        ledger.add_request(a_request(1, watermark="0123456789abcdef")).result()
        assert ledger.requests()[0].watermark == "0123456789abcdef"


def test_processes_opening_a_fresh_ledger_at_once_migrate_it_once(url: str, raw: sa.Engine) -> None:
    def open_and_close(_: int) -> int:
        with Ledger(url) as ledger:
            return ledger.schema_version()

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(open_and_close, range(4))) == [version_of(MIGRATIONS[-1])] * 4
    with raw.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM schema_migrations")).scalar() == len(MIGRATIONS)


def test_opening_waits_past_the_busy_timeout_for_a_migration_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process holds the write lock on a new file (as while it migrates) ten times longer than the busy
    # timeout; opening waits for it and then finds the work to do, instead of failing with "database is locked".
    monkeypatch.setattr("weightwarden.ledger.engine.SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "ledger.db"
    Ledger(f"sqlite:///{path}").close()
    with sa.create_engine(f"sqlite:///{path}").connect() as raw_conn:
        raw_conn.exec_driver_sql("DELETE FROM schema_migrations WHERE version = :v", {"v": version_of(MIGRATIONS[-1])})
        raw_conn.exec_driver_sql("DROP INDEX ix_requests_time_totals")  # undo the last migration (m010)
        raw_conn.commit()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    opened: list[int] = []

    def open_and_read() -> None:
        with Ledger(f"sqlite:///{path}") as ledger:
            opened.append(ledger.schema_version())

    thread = threading.Thread(target=open_and_read)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive() and not opened  # still waiting, not failed
    holder.execute("ROLLBACK")
    holder.close()
    thread.join(30)
    assert opened == [version_of(MIGRATIONS[-1])]


def test_an_up_to_date_ledger_opens_while_another_process_holds_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("weightwarden.ledger.engine.SQLITE_BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "ledger.db"
    Ledger(f"sqlite:///{path}").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Ledger(f"sqlite:///{path}") as ledger:  # reading the schema's version needs no write lock
            assert ledger.schema_version() == version_of(MIGRATIONS[-1])
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_ledger_from_a_newer_weightwarden_is_refused(url: str, raw: sa.Engine) -> None:
    Ledger(url).close()
    with raw.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'm999_future', :t)"),
            {"t": datetime.now(UTC)},
        )
    with pytest.raises(LedgerError, match=r"schema version 999.*upgrade weightwarden"):
        Ledger(url)


def test_sqlite_file_is_created_with_its_folder_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "ledger.db"
    with Ledger(f"sqlite:///{path}") as ledger:
        assert ledger.url == str(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_sqlite_connections_enforce_foreign_keys(sqlite_url: str) -> None:
    with Ledger(sqlite_url) as ledger, ledger._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


# -- round trips -------------------------------------------------------------------------------------


def test_model_round_trip_and_upsert(ledger: Ledger) -> None:
    first_seen = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    model = a_model(first_seen=first_seen, last_seen=first_seen)
    ledger.upsert_model(model)
    assert ledger.model(model.hash) == model
    assert ledger.model(sha("nothing")) is None

    later = first_seen + timedelta(days=3)
    ledger.upsert_model(
        a_model(name="renamed", hash=model.hash, metadata={"note": "v2"}, first_seen=later, last_seen=later)
    )
    updated = ledger.model(model.hash)
    assert updated == ModelRecord(
        hash=model.hash,
        name="renamed",
        format="gguf",
        size_bytes=5 * 2**32,
        metadata={**model.metadata, "note": "v2"},  # merged: keys another stage wrote (a tune's lineage) stay
        first_seen=first_seen,
        last_seen=later,
    )
    assert ledger.models() == [updated]


def test_times_come_back_timezone_aware_in_utc(ledger: Ledger) -> None:
    paris = datetime(2024, 5, 1, 14, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    ledger.upsert_model(a_model(first_seen=paris, last_seen=paris))
    model = ledger.models()[0]
    assert model.first_seen.tzinfo is UTC
    assert model.first_seen == datetime(2024, 5, 1, 14, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused(ledger: Ledger) -> None:
    run_id = started(ledger)
    with pytest.raises(LedgerError, match="timezone-aware"):
        ledger.add_items(run_id, [ItemRecord(key="q1", input="x", created_at=datetime(2024, 1, 1))])


def test_run_round_trip(ledger: Ledger) -> None:
    before = datetime.now(UTC)
    run_id = started(ledger, kind="eval")
    run = ledger.run(run_id)
    assert run is not None
    assert run == RunRecord(
        id=run_id,
        kind="eval",
        model_hash=sha("smollm2-135m"),
        config={"suite": "tiny", "seed": 0},
        started_at=run.started_at,
        status="running",
    )
    assert before <= run.started_at <= datetime.now(UTC)

    ledger.finish_run(run_id, "ok", {"accuracy": 0.75, "ci": [0.6, 0.9]})
    done = ledger.run(run_id)
    assert done is not None
    assert (done.status, done.summary) == ("ok", {"accuracy": 0.75, "ci": [0.6, 0.9]})
    assert done.ended_at is not None and done.ended_at >= run.started_at
    assert ledger.run("01NOSUCHRUN0000000000000000") is None


def test_runs_filter_by_model_and_kind_newest_first(ledger: Ledger) -> None:
    a1 = started(ledger, "eval", "model-a")
    b1 = started(ledger, "inspect", "model-b")
    a2 = started(ledger, "inspect", "model-a")
    a3 = started(ledger, "eval", "model-a")
    assert [r.id for r in ledger.runs()] == [a3, a2, b1, a1]
    assert [r.id for r in ledger.runs(model_hash=sha("model-a"))] == [a3, a2, a1]
    assert [r.id for r in ledger.runs(kind="inspect")] == [a2, b1]
    assert [r.id for r in ledger.runs(model_hash=sha("model-a"), kind="eval", limit=1)] == [a3]
    with pytest.raises(LedgerError, match="limit"):
        ledger.runs(limit=0)


def test_items_round_trip(ledger: Ledger) -> None:
    run_id = started(ledger)
    when = datetime(2024, 6, 1, tzinfo=UTC)
    sent = [
        ItemRecord(key="q1", input={"question": "2+2?", "choices": ["3", "4"]}, output="4", scores={"acc": 1.0}),
        ItemRecord(key="q2", input="héllo ✓ 你好 \x00 nul", output=None, scores={}, created_at=when),
    ]
    ledger.add_items(run_id, sent)
    back = ledger.items(run_id)
    assert [(it.key, it.input, it.output, it.scores) for it in back] == [
        (s.key, s.input, s.output, s.scores) for s in sent
    ]
    assert back[1].created_at == when
    assert all(it.run_id == run_id and isinstance(it.id, int) for it in back)
    assert ledger.items(new_run_id()) == []


def test_stage_results_round_trip_in_running_order(ledger: Ledger) -> None:
    run_id = started(ledger)
    later = {"key": "speed", "rows": [{"tok/s": 41.5}], "data": {"nested": {"b": 1, "a": [1, 2.5, None]}}}
    ledger.add_stage_result(StageRecord(run_id, 1, "speed", "ok", later))
    ledger.add_stage_result(StageRecord(run_id, 0, "facts", "warn", {"key": "facts", "summary": "héllo ✓"}))
    back = ledger.stage_results(run_id)
    assert [(r.position, r.stage, r.status) for r in back] == [(0, "facts", "warn"), (1, "speed", "ok")]
    assert back[1].result == later and list(back[1].result["data"]["nested"]) == ["b", "a"]  # key order kept
    ledger.add_stage_result(StageRecord(run_id, 1, "speed", "fail", {"key": "speed"}))  # a rerun replaces it
    assert [r.status for r in ledger.stage_results(run_id)] == ["warn", "fail"]
    with pytest.raises(LedgerError, match="no run"):
        ledger.add_stage_result(StageRecord(new_run_id(), 0, "facts", "ok", {}))
    assert ledger.stage_results(new_run_id()) == []


def test_events_round_trip_newest_first(ledger: Ledger) -> None:
    run_id = started(ledger)
    ledger.add_event("gateway.request", {"path": "/v1/chat/completions", "status": 200})
    ledger.add_event("guard.verdict", {"blocked": True, "detector": "injection"}, run_id=run_id)
    ledger.add_event("eval.progress", {"done": 10}, run_id=run_id)

    all_events = ledger.events()
    assert [(e.kind, e.run_id) for e in all_events] == [
        ("eval.progress", run_id),
        ("guard.verdict", run_id),
        ("gateway.request", None),
    ]
    assert all_events[2].payload == {"path": "/v1/chat/completions", "status": 200}
    assert all(isinstance(e, EventRecord) and e.time.tzinfo is UTC for e in all_events)
    assert [e.kind for e in ledger.events(run_id=run_id)] == ["eval.progress", "guard.verdict"]
    assert [e.kind for e in ledger.events(limit=1)] == ["eval.progress"]


def test_json_values_survive_exactly(ledger: Ledger) -> None:
    metadata = {
        "zeta": 1,
        "alpha": [1, 2.5, 0.1, -0.0, 10**18, True, False, None],
        "nested": {"deep": {"deeper": ["x", {"y": "z"}]}},
        "text": 'tab\there, quote " and backslash \\ and emoji 🦙 and \x00',
        "empty": {},
    }
    model = a_model(metadata=metadata)
    ledger.upsert_model(model)
    back = ledger.model(model.hash)
    assert back is not None
    assert back.metadata == metadata
    # Plain JSON, not JSONB: key order is the writer's, on PostgreSQL too.
    assert list(back.metadata) == ["zeta", "alpha", "nested", "text", "empty"]


def test_nan_and_infinity_are_refused_on_every_backend(ledger: Ledger) -> None:
    run_id = started(ledger)
    for bad in (math.nan, math.inf):
        with pytest.raises(LedgerError, match=r"not JSON compliant.*no NaN"):
            ledger.add_items(run_id, [ItemRecord(key="q1", input="x", scores={"f1": bad})])
    assert ledger.items(run_id) == []


# -- resume and idempotence --------------------------------------------------------------------------


def test_add_items_is_idempotent_on_key(ledger: Ledger) -> None:
    run_id = started(ledger)
    ledger.add_items(run_id, [ItemRecord(key=f"q{i}", input=i, output="first") for i in range(5)])
    # A resumed run repeats q3 and q4 and goes on; the repeats replace the first answers.
    ledger.add_items(run_id, [ItemRecord(key=f"q{i}", input=i, output="second") for i in range(3, 8)])
    back = ledger.items(run_id)
    assert [(it.key, it.output) for it in back] == [(f"q{i}", "first" if i < 3 else "second") for i in range(8)]
    assert len({it.id for it in back}) == 8


def test_the_last_item_with_a_key_in_one_call_wins(ledger: Ledger) -> None:
    run_id = started(ledger)
    ledger.add_items(run_id, [ItemRecord(key="q1", input=1, output="a"), ItemRecord(key="q1", input=1, output="b")])
    assert [(it.key, it.output) for it in ledger.items(run_id)] == [("q1", "b")]


def test_the_same_key_in_two_runs_is_two_items(ledger: Ledger) -> None:
    first, second = started(ledger), started(ledger)
    ledger.add_items(first, [ItemRecord(key="q1", input=1)])
    ledger.add_items(second, [ItemRecord(key="q1", input=2)])
    assert [it.input for it in ledger.items(first)] == [1]
    assert [it.input for it in ledger.items(second)] == [2]


# -- concurrency -------------------------------------------------------------------------------------


def test_eight_threads_writing_at_once_lose_nothing(ledger: Ledger) -> None:
    run_id = started(ledger)
    threads, writes = 8, 200
    gate = threading.Barrier(threads + 1)
    finished = threading.Event()

    def write(t: int) -> None:
        gate.wait()
        for i in range(writes):
            if i % 2:
                ledger.add_event("tick", {"thread": t, "i": i}, run_id=run_id)
            else:
                ledger.add_items(run_id, [ItemRecord(key=f"t{t}-{i}", input={"thread": t, "i": i})])

    def read() -> int:
        gate.wait()
        reads = 0
        # Reads go on while the writers write, but not so often that they starve them of the GIL.
        while not finished.wait(0.05):
            ledger.items(run_id)
            reads += 1
        return reads

    with ThreadPoolExecutor(threads + 1) as pool:
        reader = pool.submit(read)
        writers = [pool.submit(write, t) for t in range(threads)]
        for w in writers:
            w.result()
        finished.set()
        assert reader.result() > 0

    keys = {it.key for it in ledger.items(run_id)}
    assert keys == {f"t{t}-{i}" for t in range(threads) for i in range(0, writes, 2)}
    ticks = ledger.events(run_id=run_id, limit=10_000)
    assert sorted((e.payload["thread"], e.payload["i"]) for e in ticks) == [
        (t, i) for t in range(threads) for i in range(1, writes, 2)
    ]


def test_writer_runs_every_job_on_one_thread_in_order(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    writer = Writer(engine)
    seen: list[tuple[int, int]] = []
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: writer.submit(lambda conn: seen.append((threading.get_ident(), i))), range(200)))
    finally:
        writer.close()
        engine.dispose()
    assert len({ident for ident, _ in seen}) == 1
    assert sorted(i for _, i in seen) == list(range(200))


def test_flush_waits_for_writes_queued_by_other_threads(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    writer = Writer(engine)
    running, release = threading.Event(), threading.Event()
    done: list[str] = []

    def slow(conn: sa.Connection) -> None:
        running.set()
        release.wait(timeout=30)
        done.append("slow")

    try:
        with ThreadPoolExecutor(2) as pool:
            job = pool.submit(writer.submit, slow)
            assert running.wait(timeout=30)
            flushed = pool.submit(writer.flush)
            time.sleep(0.2)
            assert not flushed.done()  # still waiting behind the slow job
            release.set()
            flushed.result(timeout=30)
            assert done == ["slow"]
            job.result()
    finally:
        writer.close()
        engine.dispose()


def test_a_failing_job_reaches_its_caller_and_the_writer_goes_on(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    writer = Writer(engine)

    def boom(conn: sa.Connection) -> None:
        raise KeyError("boom")

    try:
        with pytest.raises(KeyError, match="boom"):
            writer.submit(boom)
        assert writer.submit(lambda conn: conn.exec_driver_sql("SELECT 41 + 1").scalar()) == 42
    finally:
        writer.close()
        engine.dispose()
    with pytest.raises(LedgerError, match="closed"):
        writer.submit(lambda conn: None)


# -- failures ----------------------------------------------------------------------------------------


def test_a_failed_write_keeps_earlier_data_and_the_ledger_keeps_working(ledger: Ledger) -> None:
    run_id = started(ledger)
    ledger.add_items(run_id, [ItemRecord(key="q1", input="a", output="A")])
    with pytest.raises(LedgerError, match="set is not JSON serializable"):
        ledger.add_items(run_id, [ItemRecord(key="q2", input="b"), ItemRecord(key="q3", input={"tokens": {1, 2}})])
    with pytest.raises(LedgerError, match="not JSON serializable"):
        ledger.add_event("oops", {"when": object()}, run_id=run_id)
    # The failed call wrote nothing (all or none); what came before is intact.
    assert [(it.key, it.output) for it in ledger.items(run_id)] == [("q1", "A")]
    assert ledger.events(run_id=run_id) == []

    ledger.add_items(run_id, [ItemRecord(key="q2", input="b", output="B")])
    ledger.add_event("error", {"message": "set is not JSON serializable"}, run_id=run_id)
    ledger.finish_run(run_id, "failed", {"error": "non-JSON item"})
    assert [it.key for it in ledger.items(run_id)] == ["q1", "q2"]
    run = ledger.run(run_id)
    assert run is not None and run.status == "failed"


CRASH = """
import os, sys
from weightwarden.ledger import ItemRecord, Ledger
ledger = Ledger(sys.argv[1])
run_id = ledger.start_run("eval", sys.argv[2], {"suite": "tiny"})
ledger.add_items(run_id, [ItemRecord(key=f"q{i}", input=i) for i in range(5)])
print(run_id, flush=True)
os._exit(9)  # die like a killed process: no close(), no atexit, no finally
"""


def test_a_process_killed_mid_run_leaves_its_committed_items_for_a_resume(url: str) -> None:
    model = a_model()
    with Ledger(url) as ledger:
        ledger.upsert_model(model)
    crashed = subprocess.run([sys.executable, "-c", CRASH, url, model.hash], capture_output=True, text=True)
    assert crashed.returncode == 9, crashed.stderr
    run_id = crashed.stdout.strip()

    with Ledger(url) as ledger:
        run = ledger.run(run_id)
        assert run is not None and run.status == "running"
        assert [it.key for it in ledger.items(run_id)] == [f"q{i}" for i in range(5)]
        ledger.add_items(run_id, [ItemRecord(key=f"q{i}", input=i) for i in range(3, 10)])
        ledger.finish_run(run_id, "ok", {"n": 10})
        assert [it.key for it in ledger.items(run_id)] == [f"q{i}" for i in range(10)]


def test_a_run_needs_a_known_model(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match=r"no model .* upsert_model"):
        ledger.start_run("eval", sha("unknown"), {})
    assert ledger.runs() == []


def test_writes_to_an_unknown_run_are_refused(ledger: Ledger) -> None:
    ghost = new_run_id()
    with pytest.raises(LedgerError, match=f"no run {ghost}"):
        ledger.add_items(ghost, [ItemRecord(key="q1", input=1)])
    with pytest.raises(LedgerError, match=f"no run {ghost}"):
        ledger.finish_run(ghost, "ok", {})
    with pytest.raises(LedgerError, match=f"no run {ghost}"):
        ledger.add_event("x", {}, run_id=ghost)


@pytest.mark.parametrize("status", ["running", "done", "OK", ""])
def test_a_run_finishes_only_as_ok_failed_or_interrupted(ledger: Ledger, status: str) -> None:
    run_id = started(ledger)
    with pytest.raises(LedgerError, match="ok, failed, interrupted"):
        ledger.finish_run(run_id, status, {})
    ledger.finish_run(run_id, "interrupted", {"at": 3})
    run = ledger.run(run_id)
    assert run is not None and run.status == "interrupted"


@pytest.mark.parametrize("bad", ["", "abc", sha("x").upper(), sha("x")[:-1] + "g"])
def test_a_model_hash_must_be_sha256_hex(ledger: Ledger, bad: str) -> None:
    with pytest.raises(LedgerError, match="sha256"):
        ledger.upsert_model(a_model(hash=bad))


def test_a_closed_ledger_refuses_reads_and_writes(url: str) -> None:
    ledger = Ledger(url)
    ledger.upsert_model(a_model())
    ledger.close()
    ledger.close()  # idempotent
    with pytest.raises(LedgerError, match="closed"):
        ledger.upsert_model(a_model("other"))
    with pytest.raises(LedgerError, match="closed"):
        ledger.models()
    with pytest.raises(LedgerError, match="closed"):
        ledger.flush()


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"these are not the bytes of a SQLite database\n" * 100)
    with pytest.raises(LedgerError, match=r"ledger\.db is not a SQLite database.*move this file away"):
        Ledger(f"sqlite:///{path}")
    assert path.read_bytes().startswith(b"these are not")


@pytest.mark.parametrize(
    "bad",
    [
        "mysql://user@localhost/ledger",
        "http://example.com/ledger",
        "postgresql+asyncpg://user@localhost/ledger",
        "ledger.db",
        "sqlite://",
        "sqlite:///:memory:",
        "",
    ],
)
def test_a_bad_url_is_refused(bad: str) -> None:
    with pytest.raises(LedgerError, match=r"sqlite:///path/to/ledger\.db or postgresql\+psycopg://"):
        Ledger(bad)


def test_an_unreachable_postgresql_server_is_refused_without_showing_the_password(tmp_path: Path) -> None:
    # No server listens on a socket in an empty folder, so this fails at once, offline.
    with pytest.raises(LedgerError, match=r"cannot connect to the PostgreSQL ledger.*server is running") as caught:
        Ledger(f"postgresql+psycopg://warden:s3cret@/ledger?host={tmp_path}&port=5999")
    assert "s3cret" not in str(caught.value)


def test_postgres_scheme_is_accepted_as_psycopg(pg_url: str) -> None:
    with Ledger(pg_url.replace("postgresql+psycopg://", "postgresql://")) as ledger:
        assert ledger.schema_version() == version_of(MIGRATIONS[-1])


def test_run_ids_are_ulids_that_sort_by_time() -> None:
    first = new_run_id()
    time.sleep(0.002)
    second = new_run_id()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", first)
    assert first < second


# -- gateway keys and audit rows ------------------------------------------------------------------


def a_key(key_id: str = "k_test0001", **changes: Any) -> ApiKeyRecord:
    fields: dict[str, Any] = {"id": key_id, "name": "ci", "hash": sha("ww-" + key_id), "models": ["default"]}
    return ApiKeyRecord(**(fields | changes))


def test_key_round_trip_lookup_by_hash_and_revoke(ledger: Ledger) -> None:
    expires = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    key = a_key(rpm=60, tpm=1000, budget_tokens=5000, budget_usd=1.5, expires_at=expires)
    ledger.add_api_key(key)
    assert ledger.api_key(key.id) == key
    assert ledger.api_key_by_hash(key.hash) == key
    assert ledger.api_key_by_hash(sha("nope")) is None and ledger.api_key("k_none") is None
    first = ledger.revoke_api_key(key.id)
    assert first.revoked_at is not None and ledger.api_key(key.id) == first
    assert ledger.revoke_api_key(key.id).revoked_at == first.revoked_at  # revoking twice keeps the first time
    with pytest.raises(LedgerError, match=r"no key 'k_none'.*warden keys list"):
        ledger.revoke_api_key("k_none")


def test_a_key_hash_is_unique_and_must_be_sha256(ledger: Ledger) -> None:
    ledger.add_api_key(a_key("k_one"))
    with pytest.raises(LedgerError, match="refused"):
        ledger.add_api_key(a_key("k_two", hash=sha("ww-k_one")))
    with pytest.raises(LedgerError, match="sha256"):
        ledger.add_api_key(a_key("k_three", hash="ww-plaintext-secret"))
    assert [k.id for k in ledger.api_keys()] == ["k_one"]


def test_concurrent_spend_is_added_not_overwritten(ledger: Ledger) -> None:
    ledger.add_api_key(a_key())
    with ThreadPoolExecutor(8) as pool:
        futures = list(pool.map(lambda _: ledger.add_api_key_spend("k_test0001", 7, 0.25), range(40)))
    for f in futures:
        f.result(timeout=30)
    key = ledger.api_key("k_test0001")
    assert key is not None and (key.spent_tokens, key.spent_usd) == (280, 10.0)


def a_request(n: int, **changes: Any) -> RequestRecord:
    fields: dict[str, Any] = {
        "request_id": f"{n:026d}",
        "time": datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        "route": "/v1/chat/completions",
        "status": 200,
        "key_id": "k_a" if n % 2 else "k_b",
        "model": "default",
        "model_hash": sha("model"),
        "prompt_tokens": 10,
        "completion_tokens": n,
        "ttft_ms": 12.5,
        "total_ms": 40.0,
        "cost_usd": 0.001,
        "verdicts": {"input": [{"detector": "pii", "label": "pii", "action": "redact"}], "output": []},
        "prompt_text": f"prompt {n}",
        "response_text": f"answer {n}",
    }
    return RequestRecord(**(fields | changes))


def test_requests_are_queued_without_waiting_and_read_back_filtered(ledger: Ledger) -> None:
    futures = [ledger.add_request(a_request(n)) for n in range(6)]
    futures.append(ledger.add_request(a_request(6, status=429, error="rate_limit_exceeded", key_id=None)))
    ledger.flush()
    assert all(f.done() and f.exception() is None for f in futures)
    everything = ledger.requests()
    assert [r.request_id for r in everything] == [f"{n:026d}" for n in range(6, -1, -1)]  # newest first
    assert everything[-1] == a_request(0)
    assert [r.completion_tokens for r in ledger.requests(key_id="k_a")] == [5, 3, 1]
    assert [r.error for r in ledger.requests(status=429)] == ["rate_limit_exceeded"]
    window = ledger.requests(since=a_request(2).time, until=a_request(4).time)
    assert [r.completion_tokens for r in window] == [3, 2]
    assert len(ledger.requests(limit=2)) == 2 and ledger.requests(model="other") == []


def test_a_failed_audit_write_fails_its_future_not_the_caller(ledger: Ledger) -> None:
    ledger.add_request(a_request(1)).result(timeout=30)
    again = ledger.add_request(a_request(1))  # same request id: the database refuses it
    with pytest.raises(LedgerError, match="could not add request"):
        again.result(timeout=30)
    ledger.add_request(a_request(2)).result(timeout=30)
    assert len(ledger.requests()) == 2


def test_old_request_text_is_forgotten_and_the_rest_kept(ledger: Ledger) -> None:
    for n in range(4):
        ledger.add_request(a_request(n))
    assert ledger.forget_request_text(before=a_request(2).time) == 2
    rows = {r.completion_tokens: r for r in ledger.requests()}
    assert [(rows[n].prompt_text, rows[n].response_text) for n in (0, 1)] == [(None, None)] * 2
    assert rows[3].prompt_text == "prompt 3" and rows[0].completion_tokens == 0 and rows[0].verdicts
    assert ledger.forget_request_text(before=a_request(2).time) == 0


# -- eval cache (m004) -------------------------------------------------------------------------------


def test_eval_cache_round_trip_keeps_the_first_answer(ledger: Ledger) -> None:
    model = sha("smollm2-135m")
    assert ledger.cached_response(model, sha("request")) is None
    answer = {"tokens": [1, 2], "token_logprobs": [-0.25, -1.5], "is_greedy": True, "text": "é\u0000"}
    ledger.cache_response(model, sha("request"), answer)
    ledger.cache_response(model, sha("request"), {"other": 1})  # a second writer's answer is not stored over it
    assert ledger.cached_response(model, sha("request")) == answer
    assert ledger.cached_response(sha("another model"), sha("request")) is None


def test_an_interrupted_run_is_reopened_to_resume(ledger: Ledger) -> None:
    run_id = started(ledger)
    ledger.finish_run(run_id, "interrupted", {"items_stored": 3})
    ledger.reopen_run(run_id)
    run = ledger.run(run_id)
    assert run is not None and (run.status, run.ended_at) == ("running", None)
    with pytest.raises(LedgerError, match="no run NOPE"):
        ledger.reopen_run("NOPE")
