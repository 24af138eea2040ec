"""A pool of OpenAI-compatible servers that all serve one model, as one backend.

Each request goes to the least busy member (fewest requests under way from this gateway; ties in turn) whose
circuit breaker lets it through. A request that fails with a connection error (refused or reset, the server
dying mid-request), a 502 or 503, or a 429 from a busy member is sent again to a member not yet tried. When part
of the answer had already come, the pool says Restart first: a whole (not streamed) answer is then made again from
the start, while a stream that has sent text to its client fails rather than send text twice.
A thread checks every member off the request path (GET the base URL's /models, or a health path), and each failed
check counts against the member's breaker as a failed request does (see breaker.py). When no member can take a
request, the gateway answers 503 in the OpenAI error shape, before a stream begins when it knows in advance.

Every member's requests, failures, latency, requests under way, breaker state and health are exported on the
gateway's /metrics (metrics.py), labelled with the pool's public name and the member's base URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import httpx

from weightwarden.errors import RemoteError
from weightwarden.gateway.backends.base import Prompt, Restart, queue_for
from weightwarden.gateway.backends.breaker import STATE_CODES, BreakerState, CircuitBreaker
from weightwarden.gateway.backends.upstream import UPSTREAM_CAPABILITIES, Estimates
from weightwarden.gateway.config import ModelKind, ModelSpec
from weightwarden.gateway.errors import BadRequest, GatewayError, TooManyRequests, Unavailable
from weightwarden.gateway.metrics import Metrics, UpstreamReading
from weightwarden.runtimes import Chunk, GenerationParams, Message

if TYPE_CHECKING:
    import openai

log = logging.getLogger("weightwarden.gateway")
CONNECT_SECONDS = 5.0  # a member that does not accept a connection in this time is treated as down
RETRY_STATUSES = (502, 503)  # the member failed without doing the work: another may do it


class Failed(Exception):
    """One attempt on one member failed. reason: a metrics label; retry: whether another member may be tried
    (nothing was sent on); failure: whether it counts against the member's breaker; busy: the member was full."""

    def __init__(self, message: str, reason: str, *, retry: bool, failure: bool = True, busy: bool = False) -> None:
        super().__init__(message)
        self.message, self.reason, self.retry, self.failure, self.busy = message, reason, retry, failure, busy


class Member:
    """One server of a pool: its clients, its breaker, and what this gateway has under way there."""

    def __init__(self, pool: UpstreamPool, url: str, api_key: str, timeout: float) -> None:
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self.in_flight = 0  # changed under the pool's lock
        self.up = True  # the last health check (or request) reached it
        self.breaker = CircuitBreaker(pool.settings.failures, pool.settings.cooldown, self._changed)
        self._pool = pool
        self._client: openai.OpenAI | None = None
        self._lock = threading.Lock()
        self.http = httpx.Client(
            base_url=url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_SECONDS)),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        )

    def _changed(self, state: BreakerState) -> None:
        self._pool.breaker_changed(self, state)

    @property
    def client(self) -> openai.OpenAI:
        """The openai client for streams, made on first use (the package takes a moment to import)."""
        import openai

        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    base_url=self.url,
                    api_key=self.api_key or "none",
                    timeout=self.timeout,
                    max_retries=0,  # the pool decides what is retried, and where
                )
            return self._client

    def close(self) -> None:
        self.http.close()
        with self._lock:
            if self._client is not None:
                self._client.close()


class UpstreamPool(Estimates):
    """Several upstream servers behind one public model name.

    timeout: seconds one attempt on one member may take; metrics: the gateway's, where the members are exported.
    """

    kind: ModelKind = "upstream"
    n_ctx = 0  # the upstreams check their own context
    capabilities = UPSTREAM_CAPABILITIES

    def __init__(self, spec: ModelSpec, timeout: float, metrics: Metrics | None = None) -> None:
        assert spec.upstreams and spec.upstream_model
        self.name, self.upstream_model, self.settings = spec.name, spec.upstream_model, spec.pool
        identity = f"{','.join(sorted(spec.upstreams))}#{spec.upstream_model}"
        self.model_hash: str | None = hashlib.sha256(identity.encode()).hexdigest()
        api_key = os.environ.get(spec.api_key_env, "") if spec.api_key_env else ""
        self.metrics = metrics
        self._lock = threading.Lock()
        self._turn = 0  # where the next tie is broken: members take turns
        self.members = [Member(self, url, api_key, timeout) for url in spec.upstreams]
        self.queue = queue_for(spec, self.capabilities)
        if metrics is not None:
            metrics.watch_upstreams(self.readings)
        self._stop = threading.Event()
        self._checker = threading.Thread(target=self._check_forever, name=f"pool-{self.name}-health", daemon=True)
        self._checker.start()

    # -- choosing a member ----------------------------------------------------------------------------------------

    def _choose(self, tried: Sequence[Member]) -> Member | None:
        """The least busy member not yet tried whose breaker lets a request through (the ones that answered their
        last check first); ties go to members in turn. Its in-flight count is taken here, under the lock."""
        with self._lock:
            n = len(self.members)
            order = [self.members[(self._turn + i) % n] for i in range(n)]
            open_ = [m for m in order if m not in tried and m.breaker.available()]
            for candidates in ([m for m in open_ if m.up], [m for m in open_ if not m.up]):
                for member in sorted(candidates, key=lambda m: m.in_flight):  # sorted() is stable: turns break ties
                    if member.breaker.acquire():
                        member.in_flight += 1
                        self._turn = (self.members.index(member) + 1) % n
                        return member
            return None

    def ready(self) -> None:
        """Refuse at once (503) when every member's breaker is open, with the time until the first half-opens."""
        if any(m.breaker.available() for m in self.members):
            return
        raise self._unavailable([_breaker_note(m) for m in self.members])

    def _unavailable(self, said: list[str]) -> Unavailable:
        """The 503, with Retry-After: when the first open breaker half-opens (at least a second)."""
        waits = [m.breaker.half_opens_in() for m in self.members]
        return Unavailable(
            f"no upstream of {self.name} can take the request now ({'; '.join(said)}): retry shortly",
            retry_after=max(1.0, min(waits)),
        )

    # -- one request, tried on members in turn --------------------------------------------------------------------

    def _send(self, attempt: Callable[[Member], Iterator[Any]]) -> Iterator[Any]:
        """attempt's items from the first member that gives them all. A retryable failure sends the request to a
        member not yet tried, after a Restart when items had already gone on; any other failure is the request's."""
        tried: list[Member] = []
        said: list[str] = []
        busy = 0
        while (member := self._choose(tried)) is not None:
            if tried and self.metrics is not None:
                self.metrics.upstream_retries.labels(self.name).inc()
            tried.append(member)
            sent, outcome, t0 = False, "cancelled", time.perf_counter()
            items = attempt(member)
            try:
                for item in items:
                    sent = True
                    yield item
                outcome = "ok"
                self._reached(member)
                return
            except Failed as exc:
                outcome = "busy" if exc.busy else "failed" if exc.failure else "refused"
                self._failed(member, exc)
                if not exc.retry:
                    if sent:
                        raise RemoteError(f"{member.url} broke off the answer after it began: {exc.message}") from None
                    raise self._final(member, exc) from None
                busy += exc.busy
                said.append(f"{member.url}: {exc.message}")
                log.warning("%s of %s failed (%s): trying another", member.url, self.name, exc.message)
            finally:
                if isinstance(items, Generator):
                    items.close()  # the member's stream is closed now, not when it is collected
                if outcome == "cancelled":  # the client went away (GeneratorExit): no verdict on the member
                    if sent:
                        self._reached(member)
                    else:
                        member.breaker.release()
                self._done(member, outcome, time.perf_counter() - t0)
            if sent:  # part of the answer went on: a whole answer starts again, a stream that sent text fails
                if self.metrics is not None:
                    self.metrics.upstream_restarts.labels(self.name).inc()
                yield Restart()
        if said and busy == len(said):
            raise TooManyRequests(
                f"every upstream of {self.name} is busy ({'; '.join(said)}): retry shortly",
                code="queue_full",
                retry_after=1.0,
            )
        raise self._unavailable(said + [_breaker_note(m) for m in self.members if m not in tried])

    def _final(self, member: Member, exc: Failed) -> GatewayError | RemoteError:
        if exc.reason == "rejected":
            return BadRequest(f"the upstream of {self.name} refused the request: {exc.message}")
        return RemoteError(f"the upstream {member.url} of {self.name} failed: {exc.message}")

    def _reached(self, member: Member) -> None:
        member.up = True
        member.breaker.success()

    def _failed(self, member: Member, exc: Failed) -> None:
        if exc.failure:
            if exc.reason in ("connect", "broken"):
                member.up = False  # until the next check says otherwise: prefer the others meanwhile
            member.breaker.failure()
            if self.metrics is not None:
                self.metrics.upstream_failures.labels(self.name, member.url, exc.reason).inc()
        elif exc.busy:
            member.breaker.release()
        else:
            self._reached(member)  # it answered (the request was at fault)

    def _done(self, member: Member, outcome: str, seconds: float) -> None:
        with self._lock:
            member.in_flight -= 1
        if self.metrics is not None:
            self.metrics.upstream_requests.labels(self.name, member.url, outcome).inc()
            self.metrics.upstream_latency.labels(self.name, member.url).observe(seconds)

    # -- generation -----------------------------------------------------------------------------------------------

    def _params(self, params: GenerationParams) -> dict[str, Any]:
        if params.logits_processor is not None:
            raise BadRequest(f"{self.name} samples on upstream servers: it cannot be watermarked here")
        return {
            "model": self.upstream_model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": params.seed,
            "stop": list(params.stop) or None,
        }

    def chat_stream(self, messages: Sequence[Message], params: GenerationParams) -> Iterator[Chunk]:
        body = {"messages": [m.as_dict() for m in messages], **self._params(params)}

        def attempt(member: Member) -> Iterator[Chunk]:
            return _chunks(
                member,
                lambda: member.client.chat.completions.create(
                    stream=True, stream_options={"include_usage": True}, **cast(Any, body)
                ),
                lambda choice: choice.delta.content or "",
            )

        return self._send(attempt)

    def complete_stream(self, prompt: Prompt, params: GenerationParams) -> Iterator[Chunk]:
        body = {"prompt": self.prompt_text(prompt), **self._params(params)}

        def attempt(member: Member) -> Iterator[Chunk]:
            return _chunks(
                member,
                lambda: member.client.completions.create(
                    stream=True, stream_options={"include_usage": True}, **cast(Any, body)
                ),
                lambda choice: choice.text or "",
            )

        return self._send(attempt)

    def passthrough(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST body (with the upstream's model name) to a member and return its JSON answer."""

        def attempt(member: Member) -> Iterator[dict[str, Any]]:
            try:
                resp = member.http.post(path, json={**body, "model": self.upstream_model})
            except httpx.HTTPError as exc:
                raise _transport_failure(exc) from None
            try:
                data = resp.json()
            except ValueError:
                data = None
            if resp.status_code != 200 or not isinstance(data, dict):
                said = data.get("error", data) if isinstance(data, dict) else resp.text[:200]
                raise _status_failure(resp.status_code, str(said))
            yield data

        (answer,) = self._send(attempt)  # run to its end, so the attempt is counted as done
        return cast(dict[str, Any], answer)

    # -- health ---------------------------------------------------------------------------------------------------

    def check(self, member: Member) -> bool:
        """GET the member's health path (or /models); a failed check counts against its breaker."""
        path = self.settings.health_path
        url = member.url.rsplit("/v1", 1)[0] + path if path else member.url + "/models"
        try:
            resp = member.http.get(url, timeout=min(self.settings.health_every, CONNECT_SECONDS))
            ok, reason = resp.status_code < 500, "health"
            if resp.status_code in (401, 403):
                log.warning("upstream %s of %s refuses this gateway's key: check api_key_env", member.url, self.name)
        except httpx.HTTPError:
            ok, reason = False, "health"
        member.up = ok
        if not ok:
            member.breaker.failure()
            if self.metrics is not None:
                self.metrics.upstream_failures.labels(self.name, member.url, reason).inc()
        else:
            member.breaker.state  # noqa: B018 - reading it moves an open breaker past its cool-down to half-open
        return ok

    def _check_forever(self) -> None:
        while not self._stop.wait(self.settings.health_every):
            for member in self.members:
                if self._stop.is_set():
                    return
                with contextlib.suppress(Exception):  # a check that fails oddly must not end the checks
                    self.check(member)

    def breaker_changed(self, member: Member, state: BreakerState) -> None:
        log.warning("upstream %s of %s: circuit breaker %s", member.url, self.name, state.replace("_", "-"))
        if self.metrics is not None:
            self.metrics.breaker_transitions.labels(self.name, member.url, state).inc()

    def readings(self) -> list[UpstreamReading]:
        return [(self.name, m.url, m.in_flight, STATE_CODES[m.breaker.state], m.up) for m in self.members]

    def close(self) -> None:
        self._stop.set()
        self.queue.close()
        self._checker.join(timeout=CONNECT_SECONDS + 1)
        for member in self.members:
            with contextlib.suppress(Exception):
                member.close()


def _chunks(member: Member, start: Callable[[], Any], text_of: Callable[[Any], str]) -> Iterator[Chunk]:
    """A member's stream as Chunks, ending with one that carries the finish reason and usage; every failure is a
    Failed that says whether another member may be tried."""
    import openai

    finish: str | None = None
    usage = None
    stream = None
    try:
        stream = start()
        for event in stream:
            if getattr(event, "usage", None):
                usage = event.usage
            for choice in event.choices or []:
                finish = choice.finish_reason or finish
                if text := text_of(choice):
                    yield Chunk(text=text)
    except openai.APIStatusError as exc:
        raise _status_failure(exc.status_code, _said(exc)) from None
    except openai.APIConnectionError as exc:  # includes timeouts; the cause is httpx's own error
        raise _transport_failure(exc.__cause__ or exc) from None
    except openai.APIError as exc:  # an error event in the stream
        raise Failed(f"the stream ended with an error: {exc.message}", "stream_error", retry=False) from None
    except Exception as exc:
        if not _is(exc, "HTTPError"):  # while reading the stream: the server went away or stalled
            raise
        raise _transport_failure(exc) from None
    finally:
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()  # drops the connection: an upstream that is still generating stops
    yield Chunk(
        "",
        finish or "stop",
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
    )


def _breaker_note(member: Member) -> str:
    return f"{member.url}: circuit breaker {member.breaker.state.replace('_', '-')}"


def _is(exc: BaseException, *names: str) -> bool:
    """Whether exc is one of httpx's errors by name: the openai package ships its own copy of httpx (httpx2), whose
    classes have the same names and hierarchy but are not httpx's."""
    return any(c.__name__ in names and c.__module__.startswith("httpx") for c in type(exc).__mro__)


def _transport_failure(exc: BaseException) -> Failed:
    """A failure to reach a member or to read its answer. Before the first token, a connection refused or reset (or
    one that never opened) can go to another member; a member that stalls mid-answer is not asked twice."""
    if _is(exc, "ConnectTimeout", "ConnectError"):
        return Failed(f"cannot connect: {exc or type(exc).__name__}", "connect", retry=True)
    if _is(exc, "TimeoutException"):
        return Failed(f"no answer in time: {exc or type(exc).__name__}", "timeout", retry=False)
    if _is(exc, "TransportError"):
        return Failed(f"the connection broke: {exc or type(exc).__name__}", "broken", retry=True)
    return Failed(f"cannot reach it: {exc or type(exc).__name__}", "connect", retry=True)


def _status_failure(status: int, said: str) -> Failed:
    if status in RETRY_STATUSES:
        return Failed(f"answered {status}: {said}", f"status_{status}", retry=True)
    if status == 429:
        return Failed(f"busy (429): {said}", "busy", retry=True, failure=False, busy=True)
    if 400 <= status < 500:
        return Failed(said, "rejected", retry=False, failure=False)
    return Failed(f"answered {status}: {said}", f"status_{status}", retry=False)


def _said(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(exc.message)
