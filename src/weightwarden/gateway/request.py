"""A request's state, made explicit: what is known when it arrives (RequestContext, never changed) and what
happened to it (Outcome, filled in by the request path as each stage ends, then turned into its audit row).

    RequestContext   built once by Gateway.begin: id, arrival time, route, caller, client connection
    Usage            tokens a request used, as the model counted them (or as estimated before it ran)
    Outcome          status, model, tokens, verdicts, texts: what the audit row says
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from time import perf_counter
from typing import Any

from weightwarden.gateway.auth import Caller
from weightwarden.gateway.errors import GatewayError
from weightwarden.ledger import RequestRecord
from weightwarden.ledger.records import utcnow
from weightwarden.ledger.store import new_run_id


@dataclass(frozen=True)
class RequestContext:
    """One request as it arrived; client: host and port of its connection, to count clients waiting for a turn."""

    route: str
    caller: Caller | None = None
    client: tuple[str, int] | None = None
    request_id: str = field(default_factory=new_run_id)
    time: datetime = field(default_factory=utcnow)
    t0: float = field(default_factory=perf_counter)

    def elapsed(self) -> float:
        """Seconds since the request arrived."""
        return perf_counter() - self.t0

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Request-Id": self.request_id}


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        """OpenAI's `usage` object."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass
class Outcome:
    """What happened to one request; status 499 means the client went away first."""

    model: str | None = None
    model_hash: str | None = None
    status: int = 200
    error: str | None = None
    usage: Usage = Usage()
    ttft_ms: float | None = None
    cost_usd: float = 0.0
    verdicts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    prompt_text: str | None = None
    response_text: str | None = None
    watermark: str | None = None  # the watermark key's fingerprint, when the answer is being marked

    def fail(self, err: GatewayError) -> None:
        self.status, self.error = err.status, err.code

    def record(self, ctx: RequestContext, *, store_text: bool) -> RequestRecord:
        """The request's audit row; text is kept only when the policy says so."""
        return RequestRecord(
            request_id=ctx.request_id,
            time=ctx.time,
            route=ctx.route,
            status=self.status,
            key_id=ctx.caller.key_id if ctx.caller else None,
            model_hash=self.model_hash,
            model=self.model,
            error=self.error,
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            ttft_ms=self.ttft_ms,
            total_ms=ctx.elapsed() * 1000,
            cost_usd=self.cost_usd,
            verdicts=self.verdicts,
            prompt_text=self.prompt_text if store_text else None,
            response_text=self.response_text if store_text else None,
            watermark=self.watermark,
        )
