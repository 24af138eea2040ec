"""The Ledger: typed records in, typed records out; writes through the one writer, reads from the pool."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from weightwarden.errors import LedgerError
from weightwarden.ledger import engine as engines
from weightwarden.ledger import quota, schema
from weightwarden.ledger.failures import open_error, read_error, write_error
from weightwarden.ledger.hourly import HourlyWriter
from weightwarden.ledger.migrations import open_schema
from weightwarden.ledger.quota import Quota
from weightwarden.ledger.records import (
    FINAL_STATUSES,
    ApiKeyRecord,
    EventRecord,
    ItemRecord,
    ModelRecord,
    RequestRecord,
    RunRecord,
    SketchRecord,
    StageRecord,
    utcnow,
)
from weightwarden.ledger.sessions import UiSessions
from weightwarden.ledger.writer import Writer

T = TypeVar("T")

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_run_id() -> str:
    """A ULID: 26 characters, sortable by creation time (to the millisecond), then random."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD32[(value >> shift) & 31] for shift in range(125, -1, -5))


def _upsert(dialect: str, table: sa.Table, key: list[str], update: list[str]) -> sa.Executable:
    """INSERT ... ON CONFLICT (key) DO UPDATE SET update = excluded.update, for SQLite or PostgreSQL."""
    stmt = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
    return stmt.on_conflict_do_update(index_elements=key, set_={c: stmt.excluded[c] for c in update})


class Ledger(UiSessions):
    """The record of every model, run, item result and event, in a SQLite file or a PostgreSQL database.

    url: sqlite:///path/to/ledger.db (created with its folder if missing) or postgresql+psycopg://...
    Opening migrates the schema. Safe to share between threads; close() it, or use it as a context manager.
    """

    def __init__(self, url: str) -> None:
        self._url = engines.parse_url(url)
        self._engine = engines.create_engine(self._url)
        try:
            open_schema(self._engine)
        except LedgerError:
            self._engine.dispose()
            raise
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            self._engine.dispose()
            raise open_error(exc, self._url) from exc
        # Built once: constructing an upsert costs more than running it.
        dialect = self._engine.dialect.name
        self._upsert_model = _upsert(dialect, schema.models, ["hash"], ["name", "metadata", "last_seen"])
        self._upsert_item = _upsert(
            dialect, schema.items, ["run_id", "key"], ["input", "output", "scores", "created_at"]
        )
        self._hourly = HourlyWriter(dialect, schema.usage_hourly, schema.usage_hourly_guard)
        self._writer = Writer(self._engine)

    @property
    def url(self) -> str:
        """Where the ledger lives, with any password hidden."""
        return engines.display(self._url)

    def __repr__(self) -> str:
        return f"Ledger({self.url!r})"

    # -- writes ------------------------------------------------------------------------------------

    def upsert_model(self, rec: ModelRecord) -> None:
        """Record a model; if known, update its name and last_seen and merge its metadata (a tune's lineage stays)."""
        if not _SHA256_HEX.fullmatch(rec.hash):
            raise LedgerError(f"model hash {rec.hash!r} is not a sha256 in lowercase hex (64 characters)")
        row = {c.name: getattr(rec, c.name) for c in schema.models.columns}

        def work(conn: Connection) -> None:
            old = conn.execute(sa.select(schema.models.c.metadata).where(schema.models.c.hash == rec.hash)).scalar()
            merged = {**old, **rec.metadata} if isinstance(old, dict) else rec.metadata
            conn.execute(self._upsert_model, {**row, "metadata": merged})

        self._write(f"record model {rec.hash[:12]}", work)

    def start_run(self, kind: str, model_hash: str, config: dict[str, Any]) -> str:
        """Record a new run of a stage on a model, with status 'running'; return its id."""
        if not kind:
            raise LedgerError("a run needs a kind, such as 'eval' or 'inspect'")
        run_id = new_run_id()

        def work(conn: Connection) -> None:
            if conn.execute(sa.select(schema.models.c.hash).where(schema.models.c.hash == model_hash)).first() is None:
                raise LedgerError(
                    f"no model {model_hash[:12]} in the ledger: record it with upsert_model() before start_run()"
                )
            conn.execute(
                sa.insert(schema.runs).values(
                    id=run_id, kind=kind, model_hash=model_hash, config=config, started_at=utcnow(), status="running"
                )
            )

        self._write(f"start a {kind} run", work)
        return run_id

    def add_items(self, run_id: str, items: Sequence[ItemRecord]) -> None:
        """Record item results of a run, all or none; an item whose key the run already has replaces it."""
        if not items:
            return
        # Within one call the last item with a key wins, as it would over two calls.
        rows = {
            it.key: {
                "run_id": run_id,
                "key": it.key,
                "input": it.input,
                "output": it.output,
                "scores": it.scores,
                "created_at": it.created_at,
            }
            for it in items
        }

        def work(conn: Connection) -> None:
            self._require_run(conn, run_id)
            conn.execute(self._upsert_item, list(rows.values()))

        self._write(f"add {len(rows)} item{'s' * (len(rows) != 1)} to run {run_id}", work)

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Mark a run ok, failed or interrupted, with its summary and the time it ended."""
        if status not in FINAL_STATUSES:
            raise LedgerError(f"a run cannot finish with status {status!r}: use one of {', '.join(FINAL_STATUSES)}")

        def work(conn: Connection) -> None:
            stmt = (
                sa.update(schema.runs)
                .where(schema.runs.c.id == run_id)
                .values(status=status, ended_at=utcnow(), summary=summary)
            )
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"no run {run_id} in the ledger: finish the id that start_run() returned")

        self._write(f"finish run {run_id}", work)

    def reopen_run(self, run_id: str) -> None:
        """Mark an unfinished (interrupted or failed) run as running again, to resume it under the same id."""

        def work(conn: Connection) -> None:
            stmt = sa.update(schema.runs).where(schema.runs.c.id == run_id).values(status="running", ended_at=None)
            if conn.execute(stmt).rowcount == 0:
                raise LedgerError(f"no run {run_id} in the ledger: resume an id that `warden eval` printed")

        self._write(f"reopen run {run_id}", work)

    def add_event(self, kind: str, payload: dict[str, Any], run_id: str | None = None) -> None:
        """Record an event, of a run or of none."""

        def work(conn: Connection) -> None:
            if run_id is not None:
                self._require_run(conn, run_id)
            conn.execute(sa.insert(schema.events).values(run_id=run_id, time=utcnow(), kind=kind, payload=payload))

        self._write(f"add a {kind} event", work)

    def add_stage_result(self, rec: StageRecord) -> None:
        """Record one stage's result in an audit run; a second result for the same position replaces the first."""

        def work(conn: Connection) -> None:
            self._require_run(conn, rec.run_id)
            keys = (schema.stage_results.c.run_id == rec.run_id) & (schema.stage_results.c.position == rec.position)
            conn.execute(sa.delete(schema.stage_results).where(keys))
            conn.execute(sa.insert(schema.stage_results).values(**asdict(rec)))

        self._write(f"add the {rec.stage} result to run {rec.run_id}", work)

    # -- eval cache --------------------------------------------------------------------------------

    def cached_response(self, model_hash: str, request_sha: str) -> Any | None:
        """The stored response of a model to a request (by the sha256 of its canonical JSON), or None."""
        t = schema.eval_cache
        stmt = sa.select(t.c.response).where(t.c.model_hash == model_hash, t.c.request_sha == request_sha)
        rows = self._read("a cached response", stmt)
        return rows[0]["response"] if rows else None

    def cache_response(self, model_hash: str, request_sha: str, response: Any) -> None:
        """Store a model's response to a request; a response already stored for the pair is kept."""
        t = schema.eval_cache
        dialect = self._engine.dialect.name
        insert = sqlite.insert(t) if dialect == "sqlite" else postgresql.insert(t)
        stmt = insert.values(
            model_hash=model_hash, request_sha=request_sha, response=response, created_at=utcnow()
        ).on_conflict_do_nothing(index_elements=["model_hash", "request_sha"])
        self._write("cache a response", lambda conn: conn.execute(stmt))

    # -- gateway: keys and requests ----------------------------------------------------------------

    def add_api_key(self, rec: ApiKeyRecord) -> None:
        """Record a new API key: its id, its limits and the sha256 of its secret (never the secret)."""
        if not _SHA256_HEX.fullmatch(rec.hash):
            raise LedgerError(f"key hash {rec.hash[:16]!r}... is not a sha256 in lowercase hex (64 characters)")
        row = {c.name: getattr(rec, c.name) for c in schema.api_keys.columns}
        self._write(f"add key {rec.id}", lambda conn: conn.execute(sa.insert(schema.api_keys).values(**row)))

    def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke a key now and return it; revoking it again keeps the first revocation time."""
        keys = schema.api_keys

        def work(conn: Connection) -> ApiKeyRecord:
            conn.execute(
                sa.update(keys).where(keys.c.id == key_id, keys.c.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
            row = conn.execute(sa.select(keys).where(keys.c.id == key_id)).mappings().first()
            if row is None:
                raise LedgerError(f"no key {key_id!r} in the ledger: `warden keys list` shows the ids")
            return ApiKeyRecord(**row)

        return self._write(f"revoke key {key_id}", work)

    def add_api_key_spend(self, key_id: str, tokens: int, usd: float) -> Future[None]:
        """Add to a key's spent totals without waiting for the write; the future fails if the write does."""
        keys = schema.api_keys
        stmt = (
            sa.update(keys)
            .where(keys.c.id == key_id)
            .values(spent_tokens=keys.c.spent_tokens + tokens, spent_usd=keys.c.spent_usd + usd)
        )

        def work(conn: Connection) -> None:
            conn.execute(stmt)

        return self._write_nowait(f"add spend to key {key_id}", work)

    def take_request(self, key_id: str, now: float, window: float) -> Quota | None:
        """Count one request against the key's requests per window, for every gateway on this ledger at once.

        None when it fits (or the key has no rpm), else the refusal; now: Unix seconds. See ledger/quota.py.
        """
        return self._decide(
            f"count a request of key {key_id}", lambda conn: quota.take_request(conn, key_id, now, window)
        )

    def reserve_quota(
        self,
        key_id: str,
        reservation_id: str,
        tokens: int,
        usd: float,
        now: float,
        window: float,
        expires_at: float,
        *,
        per_minute: bool,
        grow: bool = False,
    ) -> Quota | None:
        """Reserve tokens and usd against the key's budgets (and, per_minute, its tokens per window) in one atomic
        step, for every gateway on this ledger at once; None when they fit, else the refusal.

        reservation_id: a new id (or, with grow, one to make larger); expires_at: when its request must have ended,
        after which it is given back if never settled. Settle it with settle_quota. See ledger/quota.py.
        """
        return self._decide(
            f"reserve {tokens} tokens for key {key_id}",
            lambda conn: quota.reserve(
                conn, key_id, reservation_id, tokens, usd, now, window, expires_at, per_minute=per_minute, grow=grow
            ),
        )

    def settle_quota(
        self,
        key_id: str,
        reservation_id: str | None,
        reserved_tokens: int,
        reserved_usd: float,
        tokens: int,
        usd: float,
        now: float,
        *,
        per_minute: bool,
    ) -> Future[None]:
        """Replace a reservation (None: the request held none) by what its request used, without waiting; the
        future fails if the write does. On SQLite a later reserve_quota of this process sees it (the writer keeps
        their order); on PostgreSQL one may come first, and then still counts the reservation, which settling only
        makes smaller: a limit can refuse a few milliseconds early, never let more through."""
        return self._write_nowait(
            f"settle a request of key {key_id}",
            lambda conn: quota.settle(
                conn, key_id, reservation_id, reserved_tokens, reserved_usd, tokens, usd, now, per_minute=per_minute
            ),
        )

    def api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, or None."""
        rows = self._read("a key", sa.select(schema.api_keys).where(schema.api_keys.c.id == key_id))
        return ApiKeyRecord(**rows[0]) if rows else None

    def api_key_by_hash(self, hash: str) -> ApiKeyRecord | None:
        """The key whose secret has this sha256, or None."""
        rows = self._read("a key", sa.select(schema.api_keys).where(schema.api_keys.c.hash == hash))
        return ApiKeyRecord(**rows[0]) if rows else None

    def api_keys(self) -> list[ApiKeyRecord]:
        """Every key, revoked ones included, newest first."""
        stmt = sa.select(schema.api_keys).order_by(schema.api_keys.c.created_at.desc(), schema.api_keys.c.id)
        return [ApiKeyRecord(**row) for row in self._read("keys", stmt)]

    def add_request(self, rec: RequestRecord) -> Future[None]:
        """Queue one audit row and return at once, so a burst of requests never waits on the database.

        The future fails (with a LedgerError) if the write does; Ledger.flush() waits for it.
        """
        row = {c.name: getattr(rec, c.name) for c in schema.requests.columns}
        stmt = sa.insert(schema.requests).values(**row)

        def work(conn: Connection) -> None:
            conn.execute(stmt)
            self._hourly.add(conn, [rec])  # the hourly pre-aggregates move with the rows, in the same transaction

        return self._write_nowait(f"add request {rec.request_id}", work)

    def add_requests(self, take: Callable[[], Sequence[RequestRecord]]) -> Future[int]:
        """Queue one write of many audit rows and return at once; the future holds how many were written.

        take() runs on the writer thread when it reaches the job and returns the rows to insert then, so rows that
        arrive while the writer is busy join one transaction: under a flood of requests the ledger writes a batch per
        commit instead of a commit per row.
        """

        def work(conn: Connection) -> int:
            return self._hourly.insert(conn, schema.requests, take())

        return self._write_nowait("add request rows", work)

    def requests(
        self,
        *,
        key_id: str | None = None,
        model: str | None = None,
        route: str | None = None,
        status: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[RequestRecord]:
        """Audit rows, newest first, filtered by key, model, route, status and time (since <= time < until)."""
        t = schema.requests
        stmt = sa.select(t).order_by(t.c.time.desc(), t.c.request_id.desc()).limit(_positive(limit))
        for column, value in ((t.c.key_id, key_id), (t.c.model, model), (t.c.route, route), (t.c.status, status)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(t.c.time >= since)
        if until is not None:
            stmt = stmt.where(t.c.time < until)
        return [RequestRecord(**row) for row in self._read("requests", stmt)]

    def forget_request_text(self, before: datetime) -> int:
        """Blank the stored prompt and response text of requests older than `before`, and delete their sketches
        (an embedding can tell what was asked); return how many audit rows changed."""
        t = schema.requests
        stmt = (
            sa.update(t)
            .where(t.c.time < before, sa.or_(t.c.prompt_text.is_not(None), t.c.response_text.is_not(None)))
            .values(prompt_text=None, response_text=None)
        )
        sketches = sa.delete(schema.request_sketches).where(schema.request_sketches.c.time < before)

        def work(conn: Connection) -> int:
            conn.execute(sketches)
            return int(conn.execute(stmt).rowcount)

        return self._write("forget old request text", work)

    # -- monitor: request sketches -----------------------------------------------------------------

    def add_sketches(self, records: Sequence[SketchRecord]) -> Future[int]:
        """Queue one write of request sketches and return at once; a sketch whose request has one already is skipped.

        The future holds how many were written.
        """
        t = schema.request_sketches
        rows = [{c.name: getattr(rec, c.name) for c in t.columns} for rec in records]
        dialect = self._engine.dialect.name
        insert = sqlite.insert(t) if dialect == "sqlite" else postgresql.insert(t)
        stmt = insert.on_conflict_do_nothing(index_elements=["request_id"])

        def work(conn: Connection) -> int:
            if not rows:
                return 0
            return int(conn.execute(stmt, rows).rowcount)

        return self._write_nowait(f"add {len(rows)} request sketches", work)

    def sketches(
        self, *, since: datetime | None = None, until: datetime | None = None, model: str | None = None
    ) -> list[SketchRecord]:
        """Request sketches, oldest first, of one public model name when given (since <= time < until)."""
        t = schema.request_sketches
        stmt = sa.select(t).order_by(t.c.time, t.c.request_id)
        if since is not None:
            stmt = stmt.where(t.c.time >= since)
        if until is not None:
            stmt = stmt.where(t.c.time < until)
        if model is not None:
            stmt = stmt.where(t.c.model == model)
        return [SketchRecord(**row) for row in self._read("request sketches", stmt)]

    def flush(self) -> None:
        """Wait until every write queued so far, from any thread, has been committed."""
        self._writer.flush()

    def close(self) -> None:
        """Flush, stop the writer and release the connections. Idempotent."""
        if not self._writer.closed:
            self._writer.close()
            self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------------------

    def models(self) -> list[ModelRecord]:
        """Every model, most recently seen first."""
        stmt = sa.select(schema.models).order_by(schema.models.c.last_seen.desc(), schema.models.c.hash)
        return [ModelRecord(**row) for row in self._read("models", stmt)]

    def model(self, hash: str) -> ModelRecord | None:
        """The model with this sha256, or None."""
        rows = self._read("a model", sa.select(schema.models).where(schema.models.c.hash == hash))
        return ModelRecord(**rows[0]) if rows else None

    def runs(self, model_hash: str | None = None, kind: str | None = None, limit: int = 100) -> list[RunRecord]:
        """Runs, newest first; only those of one model and/or one kind when given."""
        stmt = (
            sa.select(schema.runs)
            .order_by(schema.runs.c.started_at.desc(), schema.runs.c.id.desc())
            .limit(_positive(limit))
        )
        if model_hash is not None:
            stmt = stmt.where(schema.runs.c.model_hash == model_hash)
        if kind is not None:
            stmt = stmt.where(schema.runs.c.kind == kind)
        return [RunRecord(**row) for row in self._read("runs", stmt)]

    def run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or None."""
        rows = self._read("a run", sa.select(schema.runs).where(schema.runs.c.id == run_id))
        return RunRecord(**rows[0]) if rows else None

    def items(self, run_id: str) -> list[ItemRecord]:
        """The item results of a run, in the order they were first added."""
        stmt = sa.select(schema.items).where(schema.items.c.run_id == run_id).order_by(schema.items.c.id)
        return [ItemRecord(**row) for row in self._read("items", stmt)]

    def stage_results(self, run_id: str) -> list[StageRecord]:
        """The stage results of an audit run, in the order the stages ran."""
        stmt = (
            sa.select(schema.stage_results)
            .where(schema.stage_results.c.run_id == run_id)
            .order_by(schema.stage_results.c.position)
        )
        return [StageRecord(**row) for row in self._read("stage results", stmt)]

    def events(self, run_id: str | None = None, limit: int = 1000) -> list[EventRecord]:
        """Events, newest first: those of one run when run_id is given, else all of them."""
        stmt = (
            sa.select(schema.events)
            .order_by(schema.events.c.time.desc(), schema.events.c.id.desc())
            .limit(_positive(limit))
        )
        if run_id is not None:
            stmt = stmt.where(schema.events.c.run_id == run_id)
        return [EventRecord(**row) for row in self._read("events", stmt)]

    @property
    def dialect(self) -> str:
        """The database behind the ledger: sqlite or postgresql."""
        return str(self._engine.dialect.name)

    def query(self, what: str, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        """Run a read-only SELECT built on the ledger's tables (monitor rollups); what names it in error messages."""
        return self._read(what, stmt)

    def schema_version(self) -> int:
        """The number of the last migration applied."""
        rows = self._read("the schema version", sa.select(sa.func.max(schema.schema_migrations.c.version)))
        return int(next(iter(rows[0].values())) or 0)

    # -- plumbing ----------------------------------------------------------------------------------

    def _write(self, what: str, work: Callable[[Connection], T]) -> T:
        try:
            return self._writer.submit(work)
        except LedgerError:
            raise
        except Exception as exc:
            raise write_error(what, exc) from exc

    def _decide(self, what: str, work: Callable[[Connection], T]) -> T:
        """Run a short write transaction whose answer the caller waits for (a limit's decision).

        On PostgreSQL it runs in the calling thread on a pooled connection, so requests of one gateway decide in
        parallel (the database orders those of one key by its row lock) instead of queueing behind the writer and
        its audit batches. SQLite takes one writer at a time anyway: there it goes through the writer.
        """
        if self._engine.dialect.name == "sqlite":
            return self._write(what, work)
        if self._writer.closed:
            raise LedgerError("the ledger is closed: open a new Ledger to write to it")
        try:
            with self._engine.connect() as conn, conn.begin():
                return work(conn)
        except LedgerError:
            raise
        except Exception as exc:
            raise write_error(what, exc) from exc

    def _write_nowait(self, what: str, work: Callable[[Connection], T]) -> Future[T]:
        done: Future[T] = Future()

        def settle(inner: Future[T]) -> None:
            exc = inner.exception()
            if exc is None:
                done.set_result(inner.result())
            elif isinstance(exc, LedgerError):
                done.set_exception(exc)
            else:
                done.set_exception(write_error(what, exc))

        self._writer.submit_nowait(work).add_done_callback(settle)
        return done

    def _read(self, what: str, stmt: sa.Select[Any]) -> list[dict[str, Any]]:
        if self._writer.closed:
            raise LedgerError("the ledger is closed: open a new Ledger to read it")
        try:
            with self._engine.connect() as conn:
                return [dict(row) for row in conn.execute(stmt).mappings()]
        except sa.exc.SQLAlchemyError as exc:
            raise read_error(what, exc) from exc

    @staticmethod
    def _require_run(conn: Connection, run_id: str) -> None:
        if conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.id == run_id)).first() is None:
            raise LedgerError(f"no run {run_id} in the ledger: use an id that start_run() returned")


def _positive(limit: int) -> int:
    if limit < 1:
        raise LedgerError(f"limit must be at least 1, not {limit}")
    return limit
