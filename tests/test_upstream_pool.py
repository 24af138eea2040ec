"""Upstream pools against real servers: two `warden serve default` processes behind one gateway, the openai client
in front. One upstream is SIGKILLed while a batch of requests runs, and brought back; a pool with nobody behind it
answers 503."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from gateway_server import Running, serve
from openai_peer import PeerServer, free_port
from upstream_procs import UPSTREAM_SECRET, Upstream
from weightwarden.errors import ConfigError
from weightwarden.gateway import ModelSpec
from weightwarden.gateway.backends.breaker import CircuitBreaker
from weightwarden.gateway.config import PoolSettings, parse_routes

KEY_ENV = "WW_TEST_POOL_KEY"
MSGS = [{"role": "user", "content": "Name three colours."}]
SETTINGS = PoolSettings(failures=2, cooldown=2.0, health_every=0.5)


@dataclass
class Pool:
    gateway: Running
    a: Upstream
    b: Upstream

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gateway.base_url, api_key=self.gateway.key(), max_retries=0, timeout=120)

    def metric(self, name: str, **labels: str) -> float:
        return self.gateway.gateway.metrics.value(name, **labels)

    def count(self, name: str, upstream: Upstream, **labels: str) -> float:
        return self.metric(name, model="smol", upstream=upstream.url, **labels)


def crashing_app() -> FastAPI:
    """A server that starts every answer and dies two tokens in (its connection drops mid-stream): what a real
    server does when it is killed mid-answer, but every time, so the case is certain to happen."""
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "default", "object": "model"}]}

    @app.post("/v1/chat/completions")
    def chat() -> StreamingResponse:
        def events() -> Iterator[str]:
            for text in ("CRASH", "ING"):
                delta = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
                yield f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', 'created': 0, **delta})}\n\n"
            raise RuntimeError("the server dies mid-answer")

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    a = Upstream(tmp_path_factory.mktemp("up-a")).start()
    b = Upstream(tmp_path_factory.mktemp("up-b")).start()
    os.environ[KEY_ENV] = UPSTREAM_SECRET
    crashing = PeerServer(crashing_app()).__enter__()
    try:
        a.wait()
        b.wait()
        # The crashing server first: the first request of each of these pools goes to it (ties go in turn).
        flaky = {"upstream_model": "default", "api_key_env": KEY_ENV, "upstreams": (crashing.base_url, a.url)}
        specs = (
            ModelSpec("flaky", "upstream", pool=PoolSettings(failures=1000), **flaky),  # type: ignore[arg-type]
            ModelSpec("flaky-stream", "upstream", pool=PoolSettings(failures=1000), **flaky),  # type: ignore[arg-type]
            ModelSpec(
                "smol",
                "upstream",
                upstream_model="default",
                api_key_env=KEY_ENV,
                upstreams=(a.url, b.url),
                pool=SETTINGS,
            ),
            # Nobody listens behind these two: `nowhere` checks rarely and never opens its breakers, so every request
            # tries both members; `gone` opens its breakers after two failed health checks.
            ModelSpec(
                "nowhere",
                "upstream",
                upstream_model="default",
                upstreams=(f"http://127.0.0.1:{free_port()}/v1", f"http://127.0.0.1:{free_port()}/v1"),
                pool=PoolSettings(failures=1000, health_every=600),
            ),
            ModelSpec(
                "gone",
                "upstream",
                upstream_model="default",
                upstreams=(f"http://127.0.0.1:{free_port()}/v1",),
                pool=PoolSettings(failures=2, cooldown=60.0, health_every=0.5),  # open for the whole test
            ),
        )
        with serve(tmp_path_factory.mktemp("gw"), None, extra=specs) as gateway:
            yield Pool(gateway, a, b)
    finally:
        crashing.__exit__()
        os.environ.pop(KEY_ENV, None)
        a.stop()
        b.stop()


def test_requests_spread_over_both_upstreams(pool: Pool) -> None:
    client = pool.client()
    answers: list[str] = []

    def ask() -> None:
        out = client.chat.completions.create(model="smol", messages=MSGS, max_tokens=4, temperature=0)  # type: ignore[arg-type]
        answers.append(out.choices[0].message.content or "")

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ask()  # one more on its own: ties go to the members in turn
    ask()
    assert len(answers) == 6 and all(answers)
    done = client.completions.create(model="smol", prompt="The capital of France is", max_tokens=3, temperature=0)
    assert done.choices[0].text and done.usage is not None and done.usage.completion_tokens <= 3
    for up in (pool.a, pool.b):
        assert pool.count("warden_upstream_requests_total", up, outcome="ok") >= 2, up.url
        assert pool.count("warden_upstream_breaker_state", up) == 0
        assert pool.count("warden_upstream_up", up) == 1
    scraped = httpx.get(f"{pool.gateway.root}/metrics", headers={"Authorization": f"Bearer {pool.gateway.key()}"})
    assert f'warden_upstream_in_flight{{model="smol",upstream="{pool.a.url}"}} 0.0' in scraped.text
    assert 'warden_upstream_seconds_count{model="smol"' in scraped.text


def _ask(client: openai.OpenAI, tokens: list[int], errors: list[BaseException | None], i: int) -> None:
    """Request i: streamed when i is even (tokens counts the content chunks), whole when odd (1 when answered)."""
    try:
        msgs = [{"role": "user", "content": f"Write a short poem about the number {i}."}]
        if i % 2:
            out = client.chat.completions.create(model="smol", messages=msgs, max_tokens=24, temperature=0)  # type: ignore[arg-type]
            tokens[i] = int(bool(out.choices[0].message.content))
            return
        for chunk in client.chat.completions.create(
            model="smol",
            messages=msgs,  # type: ignore[arg-type]
            max_tokens=24,
            temperature=0,
            stream=True,
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                tokens[i] += 1
    except Exception as exc:
        errors[i] = exc


def test_an_upstream_killed_mid_run_fails_no_request_that_could_be_retried(pool: Pool) -> None:
    client = pool.client()
    n = 8
    tokens = [0] * n
    errors: list[BaseException | None] = [None] * n
    retries_before = pool.metric("warden_upstream_retries_total", model="smol")
    threads = [threading.Thread(target=_ask, args=(client, tokens, errors, i)) for i in range(n)]
    for t in threads:
        t.start()
    # Kill b while it has a request generating and more waiting behind it on its own line.
    deadline = time.time() + 60
    while pool.count("warden_upstream_in_flight", pool.b) < 2 and time.time() < deadline:
        time.sleep(0.01)
    assert pool.count("warden_upstream_in_flight", pool.b) >= 2, "b never had two requests at once"
    pool.b.kill()
    for t in threads:
        t.join(timeout=300)
    failed = [i for i in range(n) if errors[i] is not None]
    # Only a stream that had already sent text may fail; whole answers are made again on a.
    assert all(i % 2 == 0 and tokens[i] > 0 for i in failed), f"failed before their first token: {failed} {errors}"
    assert len(failed) <= 1, "only the one stream b was generating may fail"
    assert all(tokens[i] > 0 for i in range(n))
    assert pool.metric("warden_upstream_retries_total", model="smol") > retries_before
    assert pool.count("warden_upstream_failures_total", pool.b, reason="broken") >= 1
    deadline = time.time() + 30  # health checks open b's breaker if the requests did not
    while pool.count("warden_upstream_breaker_transitions_total", pool.b, state="open") < 1 and time.time() < deadline:
        time.sleep(0.1)
    assert pool.count("warden_upstream_breaker_transitions_total", pool.b, state="open") >= 1
    assert pool.count("warden_upstream_up", pool.b) == 0
    assert pool.count("warden_upstream_breaker_state", pool.b) in (1, 2)  # open, or half-open after its cool-down

    # While b is down every request goes to a, and succeeds.
    for _ in range(2):
        out = client.chat.completions.create(model="smol", messages=MSGS, max_tokens=3, temperature=0)  # type: ignore[arg-type]
        assert out.choices[0].message.content

    # b comes back: its breaker half-opens after the cool-down, a trial request closes it, and it takes work again.
    pool.b.start().wait()
    ok_before = pool.count("warden_upstream_requests_total", pool.b, outcome="ok")
    deadline = time.time() + 60
    while pool.count("warden_upstream_breaker_state", pool.b) != 0 and time.time() < deadline:
        client.chat.completions.create(model="smol", messages=MSGS, max_tokens=2, temperature=0)  # type: ignore[arg-type]
        time.sleep(0.2)
    assert pool.count("warden_upstream_breaker_state", pool.b) == 0
    assert pool.count("warden_upstream_breaker_transitions_total", pool.b, state="half_open") >= 1
    assert pool.count("warden_upstream_breaker_transitions_total", pool.b, state="closed") >= 1
    assert pool.count("warden_upstream_requests_total", pool.b, outcome="ok") > ok_before
    assert pool.count("warden_upstream_up", pool.b) == 1


def test_an_answer_cut_off_mid_way_is_made_again_whole_but_a_stream_fails(pool: Pool) -> None:
    client = pool.client()
    out = client.chat.completions.create(model="flaky", messages=MSGS, max_tokens=4, temperature=0)  # type: ignore[arg-type]
    text = out.choices[0].message.content or ""
    assert text and "CRASH" not in text, "the whole answer is the second upstream's alone"
    assert out.usage is not None and out.usage.completion_tokens <= 4
    assert pool.metric("warden_upstream_restarts_total", model="flaky") == 1
    crashing = pool.gateway.gateway.router.backends["flaky"].members[0].url  # type: ignore[attr-defined]
    assert pool.metric("warden_upstream_failures_total", model="flaky", upstream=crashing, reason="broken") == 1

    # A stream has already sent CRASH to its client: it ends with an error event, never with a second answer.
    got: list[str] = []
    with pytest.raises(openai.APIError, match="failed after the answer had begun"):
        for chunk in client.chat.completions.create(
            model="flaky-stream",
            messages=MSGS,  # type: ignore[arg-type]
            max_tokens=4,
            temperature=0,
            stream=True,
        ):
            got.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(got) == "CRASHING"
    assert pool.gateway.rows(route="/v1/chat/completions", status=502, model="flaky-stream")


def test_a_pool_with_every_upstream_down_answers_503(pool: Pool) -> None:
    client = pool.client()
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="nowhere", messages=MSGS, max_tokens=2)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "upstream_unavailable" and error["type"] == "server_error"
    assert "no upstream of nowhere" in error["message"] and error["message"].count("cannot connect") == 2
    assert pool.metric("warden_upstream_retries_total", model="nowhere") == 1
    # A stream whose upstreams all fail before their first byte gets the same status, not a 200 whose stream ends in
    # an error event: the gateway waits for the first token before it starts the response.
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="nowhere", messages=MSGS, max_tokens=2, stream=True)  # type: ignore[arg-type]
    assert caught.value.status_code == 503 and "no upstream of nowhere" in str(caught.value.body)
    assert pool.metric("warden_upstream_retries_total", model="nowhere") == 2
    assert len(pool.gateway.rows(2, route="/v1/chat/completions", status=503, model="nowhere")) == 2
    # Once a pool's breakers are open (its health checks failed), even a stream is refused before it starts: a 503
    # status with Retry-After, not a 200 whose stream ends in an error.
    member = pool.gateway.gateway.router.backends["gone"].members[0]  # type: ignore[attr-defined]
    # Wait for the breaker to be open with most of its cool-down ahead: the gauge alone reads "open" until something
    # ticks the breaker, even when the cool-down has just run out and the next request would be the half-open trial
    # (a 503 too, but saying the connection failed, not that the breaker is open).
    deadline = time.time() + 30
    while not (member.breaker.state == "open" and member.breaker.half_opens_in() >= 1.0) and time.time() < deadline:
        time.sleep(0.05)
    assert pool.metric("warden_upstream_breaker_state", model="gone", upstream=member.url) == 2
    resp = httpx.post(
        f"{pool.gateway.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {pool.gateway.key()}"},
        json={"model": "gone", "messages": MSGS, "max_tokens": 2, "stream": True},
    )
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "upstream_unavailable"
    assert "circuit breaker open" in resp.json()["error"]["message"] and "Retry-After" in resp.headers
    assert pool.gateway.rows(route="/v1/chat/completions", status=503, model="gone")


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    seen: list[str] = []
    breaker = CircuitBreaker(2, 10.0, seen.append, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state == "closed" and breaker.available()
    breaker.failure()
    assert breaker.state == "open" and not breaker.available() and not breaker.acquire()
    now[0] = 4.0
    assert breaker.half_opens_in() == 6.0
    now[0] = 10.0
    assert breaker.acquire() and not breaker.acquire(), "half-open lets exactly one trial through"
    breaker.failure()
    assert breaker.state == "open"
    now[0] = 20.0
    assert breaker.acquire()
    breaker.release()  # the trial's client went away: another may try
    assert breaker.acquire()
    breaker.success()
    assert breaker.state == "closed" and breaker.acquire() and breaker.acquire()
    assert seen == ["open", "half_open", "open", "half_open", "closed"]


def test_routes_file_names_a_pool(tmp_path: Path) -> None:
    (spec,) = parse_routes(
        {
            "models": {
                "big": {
                    "upstreams": ["http://a:8000/v1/", "http://b:8000/v1"],
                    "model": "llama",
                    "pool": {"failures": 5, "health_path": "/health"},
                }
            }
        },
        "routes.yaml",
    )
    assert spec.upstreams == ("http://a:8000/v1", "http://b:8000/v1") and spec.url is None
    assert spec.pool == PoolSettings(failures=5, health_path="/health") and spec.slots == 16
    for bad, said in (
        ({"upstreams": [], "model": "m"}, "upstreams: [http://host-a"),
        ({"upstreams": ["http://a/v1", "http://a/v1/"], "model": "m"}, "names a server twice"),
        ({"upstreams": ["http://a/v1"], "model": "m", "pool": {"cooldown": 0}}, "cooldown must be"),
        ({"upstreams": ["http://a/v1"], "model": "m", "pool": {"retries": 2}}, "a mapping with any of"),
        ({"upstream": "http://a/v1", "model": "m", "pool": {}}, "pool settings need a pool"),
    ):
        with pytest.raises(ConfigError, match=re.escape(said)):
            parse_routes({"models": {"big": bad}}, "routes.yaml")


def test_serve_flags_name_a_pool(cli) -> None:  # type: ignore[no-untyped-def]
    from weightwarden.cli.serve import _pool_from_flags

    spec = _pool_from_flags(["http://a:1/v1/", "http://b:1/v1", "http://a:1/v1"], "llama", "KEY", 0)
    assert (spec.name, spec.upstreams, spec.api_key_env, spec.slots) == (
        "llama",
        ("http://a:1/v1", "http://b:1/v1"),
        "KEY",
        16,
    )
    out = cli("serve", "--upstream", "gpu-box:8000", "--upstream-model", "llama", "--no-embedder")
    assert out.code == 2 and "is not a URL: write http://host:port/v1" in out.err and "Traceback" not in out.err
    with pytest.raises(ConfigError, match="--upstream needs --upstream-model"):
        _pool_from_flags(["http://gpu-box:8000/v1"], None, None, 0)
