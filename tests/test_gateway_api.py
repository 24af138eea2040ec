"""The gateway over loopback with real clients: the `openai` package and raw httpx, against the real default model."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_server import ADMIN, Running, serve
from greedy import stop_inside
from weightwarden.gateway import EMBEDDER_NAME, ModelSpec
from weightwarden.gateway.auth import KeyStore
from weightwarden.ledger.records import utcnow
from weightwarden.runtimes import Artifact, GenerationParams, Message
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

QUESTION = [{"role": "user", "content": "Which city is the capital of France?"}]


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime, default_artifact: Artifact
) -> Iterator[Running]:
    embedder = ModelSpec(EMBEDDER_NAME, "embedder", slots=4)
    with serve(
        tmp_path_factory.mktemp("gw"), llama, default_artifact, extra=(embedder,), max_body_bytes=64 * 1024
    ) as g:
        yield g


@pytest.fixture(scope="module")
def client(gw: Running) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="api-tests"), max_retries=0, timeout=60)


def test_models_lists_what_the_key_may_use(gw: Running, client: openai.OpenAI) -> None:
    assert {m.id for m in client.models.list()} == {"default", EMBEDDER_NAME}
    narrow = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(models=["default"]), max_retries=0)
    assert [m.id for m in narrow.models.list()] == ["default"]
    with pytest.raises(openai.PermissionDeniedError, match="may not use model"):
        narrow.embeddings.create(model=EMBEDDER_NAME, input="hello")


def test_chat_answers_like_the_runtime_and_is_audited(
    gw: Running, client: openai.OpenAI, llama: LlamaCppRuntime
) -> None:
    out = client.chat.completions.create(model="default", messages=QUESTION, max_tokens=12, temperature=0)  # type: ignore[arg-type]
    direct = llama.chat([Message("user", QUESTION[0]["content"])], GenerationParams(max_tokens=12))
    # The gateway runs this very runtime with the same parameters: the same computation, so the same words.
    assert out.choices[0].message.content == direct.text and direct.text.strip()
    assert out.choices[0].finish_reason == direct.finish_reason
    assert out.usage is not None
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (direct.prompt_tokens, direct.completion_tokens)
    request_id = out.id.removeprefix("chatcmpl-")
    [row] = [r for r in gw.rows(route="/v1/chat/completions", limit=1000) if r.request_id == request_id]
    assert row.status == 200 and row.error is None and row.model == "default"
    assert row.model_hash == gw.gateway.router.backends["default"].model_hash and len(row.model_hash or "") == 64
    assert row.key_id == gw.key_id(client.api_key)
    assert (row.prompt_tokens, row.completion_tokens) == (direct.prompt_tokens, direct.completion_tokens)
    assert row.ttft_ms is not None and 0 < row.ttft_ms <= row.total_ms
    assert row.cost_usd == 0.0 and row.verdicts == {}  # free tokens and the guard off in this module's policy
    assert row.prompt_text is None and row.response_text is None, "store_text is off by default"
    assert abs(row.time - utcnow()) < timedelta(minutes=5)


def test_stop_seed_and_sampling_parameters_reach_the_model(client: openai.OpenAI, llama: LlamaCppRuntime) -> None:
    msgs = [{"role": "user", "content": "Invent a name for a cat."}]
    a, b = (
        client.chat.completions.create(
            model="default",
            messages=msgs,
            max_tokens=10,
            temperature=1.0,
            top_p=0.9,  # type: ignore[arg-type]
            seed=7,
        )
        for _ in range(2)
    )
    assert a.choices[0].message.content == b.choices[0].message.content
    expect = llama.chat([Message("user", msgs[0]["content"])], GenerationParams(10, 1.0, 0.9, 7)).text
    assert a.choices[0].message.content == expect
    full = client.completions.create(
        model="default", prompt="One, two, three, four, five,", max_tokens=8, temperature=0
    )
    # Stop on a word of the greedy answer this CPU gave: the same run, cut where that word first appears.
    stop, at = stop_inside(full.choices[0].text)
    cut = client.completions.create(
        model="default", prompt="One, two, three, four, five,", max_tokens=8, temperature=0, stop=[stop]
    )
    assert full.choices[0].finish_reason == "length" and cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].text == full.choices[0].text[:at]


def test_streamed_chat_equals_the_plain_answer_and_reports_usage(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="default", messages=QUESTION, max_tokens=12, temperature=0)  # type: ignore[arg-type]
    stream = client.chat.completions.create(
        model="default",
        messages=QUESTION,
        max_tokens=12,
        temperature=0,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        plain.choices[0].finish_reason
    ]
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    no_usage = list(client.chat.completions.create(model="default", messages=QUESTION, max_tokens=4, stream=True))  # type: ignore[arg-type]
    assert all(c.usage is None for c in no_usage)


def test_completions_stream_and_echo(client: openai.OpenAI, llama: LlamaCppRuntime) -> None:
    prompt = "1, 2, 3, 4,"
    plain = client.completions.create(model="default", prompt=prompt, max_tokens=6, temperature=0)
    assert plain.choices[0].text == llama.complete(prompt, GenerationParams(max_tokens=6)).text
    assert plain.choices[0].text and plain.usage and plain.usage.completion_tokens == 6
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="default", prompt=prompt, max_tokens=6, temperature=0, stream=True)
        if c.choices
    )
    assert streamed == plain.choices[0].text
    echoed = client.completions.create(model="default", prompt=prompt, max_tokens=6, temperature=0, echo=True)
    assert echoed.choices[0].text == prompt + plain.choices[0].text
    several = client.completions.create(
        model="default", prompt=[prompt, "Once upon a time"], max_tokens=6, temperature=0
    )
    alone = client.completions.create(model="default", prompt="Once upon a time", max_tokens=6, temperature=0)
    assert [c.index for c in several.choices] == [0, 1]
    assert [c.text for c in several.choices] == [plain.choices[0].text, alone.choices[0].text]
    assert several.usage and several.usage.completion_tokens == 12


def test_embeddings_float_and_base64(client: openai.OpenAI, gw: Running) -> None:
    texts = ["A cat sat on the mat.", "A kitten rested on the rug.", "Quarterly revenue rose by 4%."]
    # The openai package asks for base64 by default and decodes it; ask for floats over raw HTTP too.
    out = client.embeddings.create(model=EMBEDDER_NAME, input=texts)
    vectors = np.array([d.embedding for d in out.data])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert out.usage.prompt_tokens > 10 and out.usage.total_tokens == out.usage.prompt_tokens
    raw = httpx.post(
        f"{gw.base_url}/embeddings",
        headers={"Authorization": f"Bearer {client.api_key}"},
        json={"model": EMBEDDER_NAME, "input": texts[0], "encoding_format": "float"},
    ).json()
    assert np.allclose(raw["data"][0]["embedding"], vectors[0], atol=1e-6)
    b64 = httpx.post(
        f"{gw.base_url}/embeddings",
        headers={"Authorization": f"Bearer {client.api_key}"},
        json={"model": EMBEDDER_NAME, "input": [texts[0]], "encoding_format": "base64"},
    ).json()
    assert np.allclose(np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4"), vectors[0], atol=1e-6)
    with pytest.raises(openai.BadRequestError, match="not an embedding model"):
        client.embeddings.create(model="default", input="hello")
    with pytest.raises(openai.BadRequestError, match="token arrays"):
        client.embeddings.create(model=EMBEDDER_NAME, input=[[1, 2, 3]])


def test_openai_errors_have_the_openai_shape_and_status(gw: Running, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="gpt-9", messages=QUESTION)  # type: ignore[arg-type]
    assert nf.value.code == "model_not_found" and "default" in nf.value.message
    with pytest.raises(openai.BadRequestError) as br:
        client.chat.completions.create(model="default", messages=QUESTION, n=2)  # type: ignore[arg-type]
    assert br.value.code == "invalid_value" and "n must be 1" in br.value.message
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model="default", messages=QUESTION, max_tokens=100_000)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="context"):
        client.completions.create(model="default", prompt="word " * 3000, max_tokens=4)
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(
            model="default",
            messages=QUESTION,  # type: ignore[arg-type]
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
    with pytest.raises(openai.AuthenticationError) as auth:
        openai.OpenAI(base_url=gw.base_url, api_key="ww-not-a-key", max_retries=0).models.list()
    assert auth.value.code == "invalid_api_key" and auth.value.body["type"] == "authentication_error"  # type: ignore[index]


def post(gw: Running, path: str, key: str | None, **kwargs: object) -> httpx.Response:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    return httpx.post(f"{gw.root}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def error_of(resp: httpx.Response) -> dict[str, object]:
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]  # type: ignore[no-any-return]


def test_malformed_bodies_and_wrong_types_are_400s(gw: Running, client: openai.OpenAI) -> None:
    key = client.api_key
    cases = {
        b"{not json": ("invalid_json", None),
        b"[1, 2]": ("invalid_json", None),
        json.dumps({"model": "default"}).encode(): ("missing_required_parameter", "messages"),
        json.dumps({"model": "default", "messages": "hi"}).encode(): ("invalid_value", "messages"),
        json.dumps({"model": "default", "messages": QUESTION, "max_tokens": "5"}).encode(): (
            "invalid_value",
            "max_tokens",
        ),
        json.dumps({"model": "default", "messages": QUESTION, "temperature": 9}).encode(): (
            "invalid_value",
            "temperature",
        ),
        json.dumps({"model": 7, "messages": QUESTION}).encode(): ("invalid_value", "model"),
        json.dumps({"model": "default", "messages": [{"role": "wizard", "content": "x"}]}).encode(): (
            "invalid_value",
            "messages.0.role",
        ),
        json.dumps({"model": "default", "messages": QUESTION, "stop": ["a"] * 5}).encode(): ("invalid_value", "stop"),
    }
    for raw, (code, param) in cases.items():
        resp = post(gw, "/v1/chat/completions", key, content=raw)
        assert resp.status_code == 400, raw
        err = error_of(resp)
        assert (err["type"], err["code"], err["param"]) == ("invalid_request_error", code, param), raw
    token_out_of_range = post(gw, "/v1/completions", key, json={"model": "default", "prompt": [[1, 10**9]]})
    assert token_out_of_range.status_code == 400 and "vocabulary" in str(error_of(token_out_of_range)["message"])


def test_a_body_over_the_size_limit_is_413(gw: Running, client: openai.OpenAI) -> None:
    big = {"model": "default", "messages": [{"role": "user", "content": "x" * (gw.config.max_body_bytes + 10)}]}
    resp = post(gw, "/v1/chat/completions", client.api_key, json=big)
    assert resp.status_code == 413 and error_of(resp)["code"] == "payload_too_large"

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        yield b'{"model": "default", "input": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}'

    resp = post(gw, "/v1/embeddings", client.api_key, content=chunked())
    assert resp.status_code == 413
    assert gw.rows(route="/v1/embeddings", status=413)


def test_keys_missing_invalid_expired_revoked(gw: Running) -> None:
    url = f"{gw.base_url}/models"
    missing = httpx.get(url)
    assert missing.status_code == 401 and error_of(missing)["code"] == "missing_api_key"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(httpx.get(url, headers={"Authorization": "Basic abc"}))["code"] == "missing_api_key"
    assert error_of(httpx.get(url, headers={"Authorization": "Bearer ww-nope"}))["code"] == "invalid_api_key"
    store = KeyStore(gw.ledger)
    secret, record = store.create("short-lived", expires_at=utcnow() + timedelta(seconds=60))  # a stall can't expire it
    assert httpx.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    gw.ledger.revoke_api_key(record.id)  # as `warden keys revoke` does, from outside the server
    revoked = httpx.get(url, headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401 and error_of(revoked)["code"] == "key_revoked"
    expired_secret, _ = store.create("expired", expires_at=utcnow() + timedelta(milliseconds=200))
    time.sleep(0.3)
    expired_resp = httpx.get(url, headers={"Authorization": f"Bearer {expired_secret}"})
    assert expired_resp.status_code == 401 and error_of(expired_resp)["code"] == "key_expired"
    rows = gw.rows(route="/v1/models", status=401, n=5)
    assert {r.error for r in rows} >= {"missing_api_key", "invalid_api_key", "key_revoked", "key_expired"}
    assert all(r.key_id is None for r in rows)


def test_only_health_answers_without_a_key(gw: Running, client: openai.OpenAI) -> None:
    assert httpx.get(f"{gw.root}/health").json() == {"status": "ok"}
    for method, path in [
        ("GET", "/metrics"),
        ("GET", "/nowhere"),
        ("POST", "/v1/completions"),
        ("GET", "/admin/keys"),
        ("POST", "/tokenize"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    ]:
        assert httpx.request(method, f"{gw.root}{path}").status_code == 401, path
    key = {"Authorization": f"Bearer {client.api_key}"}
    assert httpx.get(f"{gw.root}/nowhere", headers=key).status_code == 404
    metrics = httpx.get(f"{gw.root}/metrics", headers=key)
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(metrics.text)}  # prometheus_client's parser
    chat = {"route": "/v1/chat/completions", "model": "default", "status": "200"}
    assert any(s.name == "warden_requests_total" and s.labels == chat for s in families["warden_requests"].samples)
    assert families["warden_request_seconds"].type == "histogram"
    assert [(s.labels, s.value) for s in families["warden_queue_slots"].samples if s.labels["model"] == "default"] == [
        ({"model": "default"}, 8)
    ]


def test_admin_routes_need_the_admin_key(gw: Running, client: openai.OpenAI) -> None:
    user = {"Authorization": f"Bearer {client.api_key}"}
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.get(f"{gw.root}/admin/keys", headers=user).status_code == 403
    made = httpx.post(
        f"{gw.root}/admin/keys", headers=admin, json={"name": "ci", "models": ["default"], "rpm": 5, "expires": "30d"}
    ).json()
    assert made["key"].startswith("ww-") and "hash" not in made and made["rpm"] == 5
    assert httpx.get(f"{gw.base_url}/models", headers={"Authorization": f"Bearer {made['key']}"}).status_code == 200
    listed = httpx.get(f"{gw.root}/admin/keys", headers=admin).json()["data"]
    assert made["id"] in {k["id"] for k in listed} and all("key" not in k and "hash" not in k for k in listed)
    revoked = httpx.post(f"{gw.root}/admin/keys/{made['id']}/revoke", headers=admin).json()
    assert revoked["revoked_at"] is not None
    assert httpx.get(f"{gw.base_url}/models", headers={"Authorization": f"Bearer {made['key']}"}).status_code == 401
    rows = httpx.get(f"{gw.root}/admin/requests", headers=admin, params={"status": 401, "limit": 3}).json()["data"]
    assert rows and all(r["status"] == 401 for r in rows)
    bad = httpx.post(f"{gw.root}/admin/keys", headers=admin, json={"name": "x", "expires": "yesterday"})
    assert bad.status_code == 400 and "expiry" in str(error_of(bad)["message"])


def test_keys_are_stored_hashed(gw: Running) -> None:
    secret = gw.key(name="hashed")
    gw.ledger.flush()
    db = Path(gw.config.ledger_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))  # the WAL file too
    assert secret.encode() not in stored and secret[3:].encode() not in stored
    assert gw.ledger.api_key_by_hash(hashlib.sha256(secret.encode()).hexdigest()) is not None
