"""The parts of one gateway, built once from a GatewayConfig and shared by its routes."""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.types import Scope

from weightwarden.errors import ConfigError, LedgerError
from weightwarden.gateway.audit_log import AuditLog
from weightwarden.gateway.auth import KeyStore
from weightwarden.gateway.backends import Backend, Router, build_backend
from weightwarden.gateway.config import GatewayConfig
from weightwarden.gateway.errors import BadRequest, GatewayError, PayloadTooLarge
from weightwarden.gateway.guard_hook import GuardHook
from weightwarden.gateway.limits import Limiter, Reservation
from weightwarden.gateway.metrics import Metrics
from weightwarden.gateway.queue import Slot
from weightwarden.gateway.request import Outcome, RequestContext, Usage
from weightwarden.ledger import Ledger
from weightwarden.monitor.gauges import MonitorGauges
from weightwarden.monitor.worker import SketchWorker, bundled_embedder
from weightwarden.runtimes import GenerationParams, HashCache
from weightwarden.watermark.processor import WatermarkProcessor

log = logging.getLogger("weightwarden.gateway")


class Gateway:
    """Keys, limits, models, guard, audit and metrics of one app.

    ledger: an open ledger to use (the caller closes it); by default the config's is opened and closed here.
    """

    def __init__(self, config: GatewayConfig, ledger: Ledger | None = None) -> None:
        self.config = config
        self.policy = config.policy
        self._owns_ledger = ledger is None
        self.ledger = ledger or Ledger(config.ledger_url)
        self.metrics = Metrics()
        self.keys = KeyStore(self.ledger, config.admin_key)
        # A reservation never settled within a request's time (and a minute) belonged to a gateway that died.
        self.limiter = Limiter(self.ledger, hold=config.request_timeout + 60.0, on_error=self._spend_not_written)
        self.guard = GuardHook(config.policy.guard)
        cache = HashCache(config.hash_cache)
        backends: list[Backend] = []
        try:
            for spec in config.models:
                backends.append(build_backend(spec, config, cache, self.metrics))
        except BaseException:
            Router(backends).close()
            self.close_ledger()
            raise
        self.router = Router(backends)
        self.watermark: WatermarkProcessor | None = None
        if self.policy.watermark:
            try:
                self.watermark = self._watermark(config)
            except BaseException:
                self.router.close()
                self.close_ledger()
                raise
        # Sketches embed between answers (busy: a model of this process is working). The bundled embedder runs in
        # a child process at the idle CPU priority, and the sketch thread that waits for it keeps its priority: a
        # thread in the idle class that holds the GIL stalls the threads streaming tokens.
        sketches = None
        if config.policy.sketches:
            embed = config.sketch_embed
            if embed is None:
                sketches = SketchWorker(self.ledger, embedder=bundled_embedder, busy=self._working, nice=0)
            else:
                sketches = SketchWorker(self.ledger, embedder=lambda: embed, busy=self._working)
        self.audit = AuditLog(self.ledger, self.metrics, store_text=config.policy.store_text, sketches=sketches)
        in_flight = "Requests admitted to a model, running or waiting."
        self.metrics.add_gauge("warden_queue_in_flight", in_flight, ("model",), self._in_flight)
        self.metrics.add_gauge("warden_queue_slots", "Slots of each model's queue.", ("model",), self._slots)
        self.monitor = MonitorGauges(self.ledger)  # drift and canary results, read when /metrics is scraped
        for name, help_, labels, read in self.monitor.series():
            self.metrics.add_gauge(name, help_, labels, read)

    def _watermark(self, config: GatewayConfig) -> WatermarkProcessor:
        """The policy asks to mark every answer: refuse to start unless every text model can take the mark."""
        if config.watermark is None:
            raise ConfigError(
                f"{self.policy.source} says watermark: true but no watermark key was given: set WARDEN_WATERMARK_KEY "
                "or run `warden watermark keygen`"
            )
        if unmarkable := [
            b.name
            for b in self.router.backends.values()
            if not b.capabilities.watermark and (b.capabilities.chat or b.capabilities.completions)
        ]:
            raise ConfigError(
                f"{self.policy.source} says watermark: true, but {', '.join(unmarkable)} is served by an upstream "
                "server that this gateway cannot mark: serve it locally or set watermark: false"
            )
        log.info("watermarking every answer with key %s", config.watermark.fingerprint)
        return WatermarkProcessor(config.watermark)

    def _in_flight(self) -> dict[tuple[str, ...], float]:
        return {(b.name,): float(b.queue.in_flight) for b in self.router.backends.values()}

    def _working(self) -> bool:
        """Whether a model that runs in this process (not an upstream server) has a request admitted now."""
        return any(b.queue.in_flight for b in self.router.backends.values() if b.kind != "upstream")

    def _slots(self) -> dict[tuple[str, ...], float]:
        return {(b.name,): float(b.queue.slots) for b in self.router.backends.values()}

    def _spend_not_written(self, key_id: str, exc: BaseException) -> None:
        self.metrics.audit_failures.inc()

    # -- one request ----------------------------------------------------------------------------------

    def begin(self, request: Request, route: str) -> RequestContext:
        """The context of an authenticated request (KeyGate put its caller in the request's state)."""
        client = (request.client.host, request.client.port) if request.client is not None else None
        # The connection: a client that comes back on it is the same client.
        ctx = RequestContext(route=route, caller=getattr(request.state, "caller", None), client=client)
        request.state.request_id = ctx.request_id  # for the X-Request-Id of an error answered by errors.install
        return ctx

    def refused(self, scope: Scope, err: GatewayError) -> None:
        """Audit a request KeyGate refused (no key, a bad one)."""
        outcome = Outcome()
        outcome.fail(err)
        self.audit.finish(RequestContext(route=str(scope.get("path", ""))), outcome)

    async def body(self, request: Request) -> bytes:
        """The request body, refused with 413 as soon as it passes the size limit."""
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the body is {int(declared):,} bytes; this gateway takes at most {limit:,}")
        parts, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over {limit:,} bytes, this gateway's limit")
            parts.append(chunk)
        return b"".join(parts)

    def params(
        self,
        backend: Backend,
        prompt_tokens: int,
        *,
        max_tokens: int | None,
        temperature: float,
        top_p: float,
        seed: int | None,
        stop: tuple[str, ...],
    ) -> GenerationParams:
        """Sampling parameters, with max_tokens defaulted, bounded by the config and fitted to the context."""
        wanted = self.config.default_max_tokens if max_tokens is None else max_tokens
        if wanted > self.config.max_tokens_limit:
            raise BadRequest(
                f"max_tokens is {wanted}; this gateway allows at most {self.config.max_tokens_limit}",
                param="max_tokens",
            )
        if backend.n_ctx:
            if prompt_tokens >= backend.n_ctx:
                raise BadRequest(
                    f"the prompt is {prompt_tokens} tokens; {backend.name} has a {backend.n_ctx}-token context: "
                    "shorten it",
                    code="context_length_exceeded",
                )
            wanted = min(wanted, backend.n_ctx - prompt_tokens)
        if seed is None:
            seed = 0 if temperature == 0 else secrets.randbelow(2**31)
        return GenerationParams(
            max_tokens=wanted,
            temperature=temperature,
            top_p=top_p,
            seed=seed % 2**32,
            stop=stop,
            logits_processor=self.watermark,
        )

    async def enter(
        self, ctx: RequestContext, backend: Backend, gone: Callable[[], Awaitable[object]] | None = None
    ) -> Slot:
        """The first thing done for a request once its model is known: a queue slot, or TooManyRequests. Costs
        microseconds, so a flood is refused cheaply (a request due a turn within moments waits for it; gone ends
        when its client goes away, see ModelQueue.enter); count_request comes next."""
        assert ctx.caller is not None
        backend.ready()
        return await backend.queue.enter(ctx.client, gone=gone)

    def count_request(self, ctx: RequestContext) -> None:
        """Count the request against its key's requests per minute (in the ledger), or TooManyRequests."""
        assert ctx.caller is not None
        self.limiter.count_request(ctx.caller)

    def reserve(self, ctx: RequestContext, backend: Backend, tokens: int, completion_tokens: int) -> Reservation | None:
        """Reserve the most the request may use against the key's token limits and budgets, or TooManyRequests.

        tokens: the most the request may use in all; completion_tokens: how many of them are generated.
        """
        assert ctx.caller is not None
        usd = self.policy.price(backend.name).cost(tokens - completion_tokens, completion_tokens)
        return self.limiter.reserve(ctx.caller, tokens, usd)

    def extend(self, backend: Backend, reservation: Reservation | None, tokens: int, completion_tokens: int) -> None:
        """Grow a reservation to tokens in all (the guard's redaction made the prompt longer)."""
        if reservation is None or tokens <= reservation.tokens:
            return
        usd = self.policy.price(backend.name).cost(tokens - completion_tokens, completion_tokens)
        self.limiter.extend(reservation, tokens - reservation.tokens, max(0.0, usd - reservation.usd))

    def charge(self, reservation: Reservation | None, model: str | None, usage: Usage) -> float:
        """Settle a reservation to what a request used; return its cost in USD."""
        cost = self.policy.price(model).cost(usage.prompt_tokens, usage.completion_tokens) if model else 0.0
        self.limiter.settle(reservation, usage.prompt_tokens + usage.completion_tokens, cost)
        return cost

    def deadline(self, ctx: RequestContext) -> float:
        """The monotonic time at which the request runs out of time."""
        return time.monotonic() + self.config.request_timeout - ctx.elapsed()

    def close_ledger(self) -> None:
        if self._owns_ledger:
            self.ledger.close()
            return
        # The caller closes a ledger it gave, but the process may end first: `warden serve` stops on SIGTERM by
        # raising it again once the app has shut down (uvicorn), which skips the caller's close. So the rows and
        # sketches queued until now are committed here.
        with contextlib.suppress(LedgerError):  # the caller closed it already
            self.ledger.flush()

    def close(self) -> None:
        """Stop the models' workers (closing the runtimes the gateway loaded) and the ledger it opened."""
        self.router.close()
        if self.audit.sketches is not None:
            self.audit.sketches.close()
        self.close_ledger()
