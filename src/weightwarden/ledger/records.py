"""The typed rows of the ledger: a model, a run, an item result of a run, and an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

RunStatus = Literal["running", "ok", "failed", "interrupted"]
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "ok", "failed", "interrupted")
FINAL_STATUSES: tuple[RunStatus, ...] = ("ok", "failed", "interrupted")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class ResolvedModel(Protocol):
    """What the ledger needs of a resolved model (runtimes' Artifact has it; the ledger does not import runtimes)."""

    @property
    def ref(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def path(self) -> Path | None: ...
    @property
    def base_url(self) -> str | None: ...


@dataclass(frozen=True)
class ModelRecord:
    """A model artifact, identified by the sha256 (hex) of its bytes."""

    hash: str
    name: str
    format: str
    size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)
    first_seen: datetime = field(default_factory=utcnow)
    last_seen: datetime = field(default_factory=utcnow)

    @classmethod
    def of(cls, model: ResolvedModel) -> ModelRecord:
        """A resolved model as the models table keeps it (its identity is the sha256; the path is where it was)."""
        return cls(
            hash=model.sha256,
            name=model.name,
            format=model.format,
            size_bytes=model.size_bytes,
            metadata={"ref": model.ref, "path": str(model.path) if model.path else model.base_url},
        )


@dataclass(frozen=True)
class RunRecord:
    """One run of a stage (inspect, eval, serve, ...) on one model."""

    id: str
    kind: str
    model_hash: str
    config: dict[str, Any]
    started_at: datetime
    status: RunStatus
    ended_at: datetime | None = None
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class ItemRecord:
    """The result of one item of a run, unique per (run, key).

    run_id and id are filled in by the ledger when it reads items back; leave them out when adding.
    """

    key: str
    input: Any
    output: Any = None
    scores: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    run_id: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class StageRecord:
    """One stage's result in an audit run, in the order the stages ran.

    result: the stage's typed result as plain JSON (weightwarden.audit.StageResult.to_json); a report renders it.
    """

    run_id: str
    position: int
    stage: str
    status: str
    result: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class EventRecord:
    """Something that happened, with or without a run: a request, a verdict, a warning."""

    kind: str
    payload: dict[str, Any]
    time: datetime
    run_id: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class ApiKeyRecord:
    """A gateway API key. Only the sha256 of its secret is kept; the secret is shown once, when it is made.

    models: the public model names the key may use; empty means every model.
    rpm, tpm, budget_tokens, budget_usd: limits; None means no limit. spent_*: what the key has used so far;
    reserved_*: what its requests in flight (on any gateway sharing the ledger) may still use.
    """

    id: str
    name: str
    hash: str
    models: list[str] = field(default_factory=list)
    rpm: int | None = None
    tpm: int | None = None
    budget_tokens: int | None = None
    budget_usd: float | None = None
    spent_tokens: int = 0
    spent_usd: float = 0.0
    created_at: datetime = field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    reserved_tokens: int = 0
    reserved_usd: float = 0.0


@dataclass(frozen=True)
class UiSessionRecord:
    """A dashboard session: the sha256 of its cookie (never the cookie), the key signed in, its CSRF token."""

    id_hash: str
    key_id: str
    csrf: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RequestRecord:
    """The audit row of one gateway request.

    status: the HTTP status the request ended with (499 when the client went away); error: the OpenAI error code,
    if any. verdicts: the guard's verdicts, {"input": [...], "output": [...]}. prompt_text and response_text are
    kept only when the policy says store_text: true.
    """

    request_id: str
    time: datetime
    route: str
    status: int
    key_id: str | None = None
    model_hash: str | None = None
    model: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float | None = None
    total_ms: float = 0.0
    cost_usd: float = 0.0
    verdicts: dict[str, Any] = field(default_factory=dict)
    prompt_text: str | None = None
    response_text: str | None = None
    watermark: str | None = None  # the watermark key's fingerprint, when the answer was watermarked


@dataclass(frozen=True)
class SketchRecord:
    """A compact sketch of one audited request, kept even when its text is not (see weightwarden.monitor.sketch).

    embedding: the prompt's sentence embedding as int8 bytes (multiply by embedding_scale), or None when there was
    no prompt text; guard_input/guard_output: the highest guard score on each side; guard_scores: "side:detector" to
    score; refusal: whether the answer reads as a refusal (None: no answer).
    """

    request_id: str
    time: datetime
    version: int
    prompt_chars: int
    prompt_words: int
    model: str | None = None
    embedding: bytes | None = None
    embedding_scale: float | None = None
    response_chars: int | None = None
    language: str | None = None
    guard_input: float | None = None
    guard_output: float | None = None
    guard_scores: dict[str, float] = field(default_factory=dict)
    refusal: bool | None = None
