"""Upstream backends: a gateway in front of another OpenAI-compatible server, with a routing table of public names."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway_server import Running, serve
from openai_peer import free_port
from weightwarden.errors import ConfigError
from weightwarden.gateway import ModelSpec, load_routes
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime
from weightwarden.runtimes.remote import RemoteRuntime


@pytest.fixture(scope="module")
def chain(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime, default_artifact: Artifact
) -> Iterator[tuple[Running, Running]]:
    """An inner gateway serving the model, and an outer one that routes `smol` to it (and `gone` to nobody)."""
    with serve(tmp_path_factory.mktemp("inner"), llama, default_artifact) as inner:
        os.environ["WW_TEST_UPSTREAM_KEY"] = inner.key(name="outer gateway")
        routes = (
            ModelSpec(
                "smol", "upstream", url=inner.base_url, upstream_model="default", api_key_env="WW_TEST_UPSTREAM_KEY"
            ),
            ModelSpec("gone", "upstream", url=f"http://127.0.0.1:{free_port()}/v1", upstream_model="x"),
        )
        try:
            with serve(tmp_path_factory.mktemp("outer"), None, extra=routes, upstream_timeout=60) as outer:
                yield inner, outer
        finally:
            os.environ.pop("WW_TEST_UPSTREAM_KEY", None)


def test_chat_and_streams_pass_through_an_upstream(chain: tuple[Running, Running]) -> None:
    inner, outer = chain
    direct = openai.OpenAI(base_url=inner.base_url, api_key=inner.key(), max_retries=0)
    routed = openai.OpenAI(base_url=outer.base_url, api_key=outer.key(), max_retries=0)
    assert [m.id for m in routed.models.list()] == ["smol", "gone"]
    msgs = [{"role": "user", "content": "Which city is the capital of France?"}]
    want = direct.chat.completions.create(model="default", messages=msgs, max_tokens=10, temperature=0)  # type: ignore[arg-type]
    got = routed.chat.completions.create(model="smol", messages=msgs, max_tokens=10, temperature=0)  # type: ignore[arg-type]
    assert got.choices[0].message.content == want.choices[0].message.content and got.model == "smol"
    assert got.usage == want.usage
    streamed = routed.chat.completions.create(model="smol", messages=msgs, max_tokens=10, temperature=0, stream=True)  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == want.choices[0].message.content
    row = outer.rows(route="/v1/chat/completions", status=200)[0]
    assert row.model == "smol" and row.model_hash == hashlib.sha256(f"{inner.base_url}#default".encode()).hexdigest()
    assert row.completion_tokens == want.usage.completion_tokens if want.usage else False
    assert inner.rows(2, route="/v1/chat/completions", status=200), "the inner gateway audited its side too"


def test_scoring_passes_through_an_upstream_exactly(chain: tuple[Running, Running], llama: LlamaCppRuntime) -> None:
    _, outer = chain
    remote = RemoteRuntime(outer.base_url, "smol", api_key=outer.key())
    got, want = (
        remote.loglikelihood("The capital of France is", " Paris"),
        llama.loglikelihood("The capital of France is", " Paris"),
    )
    assert got.total == pytest.approx(want.total, abs=1e-6) and got.is_greedy == want.is_greedy
    remote.close()


def test_an_upstream_that_is_down_is_a_502(chain: tuple[Running, Running]) -> None:
    _, outer = chain
    resp = httpx.post(
        f"{outer.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {outer.key()}"},
        json={"model": "gone", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
    )
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "upstream_failed"
    assert "cannot reach" in resp.json()["error"]["message"]
    assert outer.rows(route="/v1/chat/completions", status=502)[0].model == "gone"


def test_routes_files(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "models:\n"
        "  smol: {model: default, slots: 2}\n"
        "  big: {upstream: http://gpu:8000/v1/, model: meta-llama/Llama-3.1-8B-Instruct, api_key_env: VLLM_KEY}\n"
        "  all-MiniLM-L6-v2: {embedder: default}\n"
    )
    smol, big, emb = load_routes(path)
    assert (smol.kind, smol.ref, smol.slots) == ("local", "default", 2)
    assert (big.kind, big.url, big.upstream_model, big.api_key_env) == (
        "upstream",
        "http://gpu:8000/v1",
        "meta-llama/Llama-3.1-8B-Instruct",
        "VLLM_KEY",
    )
    assert emb.kind == "embedder"
    for text, message in [
        ("models: {}\n", "empty"),
        ("model: {a: {model: default}}\n", "one key, models"),
        ("models: {a: {upstream: gpu:8000, model: m}}\n", "http://host:port/v1"),
        ("models: {a: {model: default, slots: 0}}\n", "slots"),
        ("models: {a: {model: default, gpu: 1}}\n", "unknown key"),
        ("models: [\n", "not valid YAML"),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_routes(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_routes(tmp_path / "missing.yaml")
