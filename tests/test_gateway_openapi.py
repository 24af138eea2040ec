"""/openapi.json: served to the admin key only, it documents every route as served; schemathesis, driven by it
against the real server and the real default model, finds no server error and no answer the document does not
describe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi.routing import iter_route_contexts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway_server import ADMIN, Running, serve
from weightwarden.gateway import EMBEDDER_NAME, ModelSpec
from weightwarden.runtimes import Artifact
from weightwarden.runtimes.llamacpp import LlamaCppRuntime

MAX_TOKENS = 8  # the gateway's limit here, which the document states: every generated request stays cheap
# negative_data_rejection is left out: it counts unknown or repeated query parameters, which HTTP servers ignore, as
# invalid data the server should refuse. Invalid cases are still sent, and must not end in a 5xx.
CHECKS = [  # schemathesis's checks on every answer
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys"),
    ("POST", "/admin/keys/{key_id}/revoke"),
    ("GET", "/admin/requests"),
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/tokenize"),
    ("POST", "/detokenize"),
    ("GET", "/tokenizer_info"),
]
BODIES = {
    ("post", "/v1/chat/completions"): "messages",
    ("post", "/v1/completions"): "prompt",
    ("post", "/v1/embeddings"): "input",
    ("post", "/tokenize"): "prompt",
    ("post", "/detokenize"): "tokens",
    ("post", "/admin/keys"): "name",
}


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaCppRuntime, default_artifact: Artifact
) -> Iterator[Running]:
    embedder = ModelSpec(EMBEDDER_NAME, "embedder", slots=4)
    with serve(
        tmp_path_factory.mktemp("gw"),
        llama,
        default_artifact,
        extra=(embedder,),
        max_body_bytes=64 * 1024,
        max_tokens_limit=MAX_TOKENS,
        default_max_tokens=MAX_TOKENS,
    ) as g:
        yield g


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
def document(gw: Running) -> dict[str, Any]:
    r = httpx.get(f"{gw.root}/openapi.json", headers=bearer(ADMIN), timeout=30)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def test_every_route_is_documented_as_served(gw: Running, document: dict[str, Any]) -> None:
    app = gw.server.server.config.app
    # The routes as FastAPI serves them (included routers flattened), as get_openapi walks them.
    served = {(m.lower(), r.path) for r in iter_route_contexts(app.routes) for m in r.methods or ()}
    assert {(m, p) for p, item in document["paths"].items() for m in item} == served
    assert served == {(m.lower(), p) for m, p in OPERATIONS}
    bodies = {}
    for method, path in served:
        op = document["paths"][path][method]
        assert "422" not in op["responses"], "bad parameters are 400s in the OpenAI shape"
        for status, response in op["responses"].items():
            if status != "200":
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
        if path == "/health":
            assert op["security"] == [] and set(op["responses"]) == {"200"}
        else:
            assert "security" not in op and "401" in op["responses"], (method, path)
        if "requestBody" in op:
            bodies[method, path] = op["requestBody"]["content"]["application/json"]["schema"]
    assert set(bodies) == set(BODIES)
    for where, field in BODIES.items():
        assert field in bodies[where]["required"], where
    chat = bodies["post", "/v1/chat/completions"]["properties"]
    assert chat["model"]["examples"] == ["default", EMBEDDER_NAME]
    assert chat["max_tokens"]["anyOf"][0]["maximum"] == MAX_TOKENS, "the config's limit, not the schema's 32768"
    assert chat["messages"]["items"]["properties"]["role"]["enum"][0] == "system", "nested models are inlined"
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer ww-...`.",
    }
    assert "text/event-stream" in document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_only_the_admin_key_reads_the_document(gw: Running) -> None:
    url = f"{gw.root}/openapi.json"
    missing = httpx.get(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert httpx.get(url, headers=bearer("ww-not-a-key")).status_code == 401
    refused = httpx.get(url, headers=bearer(gw.key(name="not-admin")))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_only"
    admin = gw.key(name="ledger-admin", admin=True)
    assert httpx.get(url, headers=bearer(admin)).json()["info"]["title"] == "weightwarden gateway"
    for page in ("/docs", "/redoc"):  # nothing that would load assets from a CDN
        assert httpx.get(f"{gw.root}{page}", headers=bearer(admin)).status_code == 404


@pytest.fixture(scope="module")
def api(gw: Running, document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=gw.root, request_timeout=60)
    return schema


def served_model(case: Any) -> st.SearchStrategy[Any]:
    """The case as generated, or naming the model that serves its route: random names all end in a 404."""
    body = case.body
    if not (isinstance(body, dict) and isinstance(body.get("model"), str)):
        return st.just(case)
    served = EMBEDDER_NAME if case.operation.path == "/v1/embeddings" else "default"

    def named(model: str | None) -> Any:
        case.body = body if model is None else {**body, "model": model}
        return case

    return st.sampled_from([served, served, None]).map(named)


# schemathesis.pytest.from_fixture does not run under pytest 9, so each operation is a parametrized test that
# draws schemathesis's cases (valid and invalid) with Hypothesis.
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_schemathesis_finds_no_server_error(api: Any, method: str, path: str) -> None:
    operation = api[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    ).flatmap(served_model)

    @given(cases)
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        case.call_and_validate(headers=bearer(ADMIN), checks=CHECKS)

    check()


def test_key_limits_past_what_the_ledger_stores_are_a_400_not_a_500(tmp_path: Path) -> None:
    """Found by schemathesis in a clean-clone run: a 20-digit budget reached SQLite and came back as a 500."""
    with serve(tmp_path, None) as gw:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        for field in ("rpm", "tpm", "budget_tokens"):
            resp = httpx.post(f"{gw.root}/admin/keys", json={"name": "big", field: 10**20}, headers=admin)
            assert resp.status_code == 400 and resp.json()["error"]["param"] == field, resp.text
        ok = httpx.post(f"{gw.root}/admin/keys", json={"name": "fine", "budget_tokens": 2**63 - 1}, headers=admin)
        assert ok.status_code == 200 and ok.json()["budget_tokens"] == 2**63 - 1
