"""The gateway's OpenAPI document, served at /openapi.json to the admin key.

Routes read and check their bodies themselves (schemas.parse_body: 413 past the size limit, 400 in the OpenAI
shape), so FastAPI cannot see them. Each route declares what it takes and answers with `documented(...)`, which
puts the body's schema in `openapi_extra` and the answers in `responses` without changing how requests are
handled; `document` adds the bearer scheme and what this gateway's config fixes (model names, max_tokens).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from weightwarden import __version__

if TYPE_CHECKING:
    from fastapi import FastAPI

    from weightwarden.gateway.config import GatewayConfig

BEARER = "bearer"
ERRORS = {
    400: "The body or a parameter is wrong (the message names it), or the guard blocked the text.",
    401: "No API key, or a key that is invalid, expired or revoked.",
    403: "The key may not use this model, or the route needs the admin key.",
    404: "No such model, key or route.",
    413: "The body is over the gateway's size limit.",
    429: "A rate limit or budget of the key, or the model's queue, is full; Retry-After says when to retry.",
    502: "The upstream server that serves the model failed.",
    504: "The request ran past the gateway's time limit.",
}
GENERATING = (400, 403, 404, 413, 429, 502, 504)  # the routes that run a model on its queue
READING = (400, 403, 404, 413)  # the tokenizer routes, which take a body but no queue slot
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(BaseModel):
    """Every error, in OpenAI's shape."""

    error: ErrorDetail


def documented(
    ok: Any = None,
    *,
    body: type[BaseModel] | None = None,
    errors: Iterable[int] = (),
    stream: bool = False,
    open_route: bool = False,
) -> dict[str, Any]:
    """Keywords for a route decorator that document it; they change nothing in how the route answers.

    ok: the model of the 200 answer (None: the route's response_class says it); body: the request body's model;
    errors: the statuses the route may answer with besides those of the key check (401, added unless open_route);
    stream: the 200 answer may also be server-sent events (`stream: true`).
    """
    responses: dict[int | str, Any] = {}
    if ok is not None:
        responses[200] = {"model": ok}
    if stream:
        events = {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": "one server-sent event: data holds a JSON chunk, or [DONE] at the end",
                    "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}},
                    "required": ["data"],
                }
            }
        }
        responses.setdefault(200, {})["content"] = events
    for status in sorted({*errors, *(() if open_route else (401,))}):
        responses[status] = {"model": ErrorBody, "description": ERRORS[status]}
        if status == 429:
            responses[status]["headers"] = RETRY_AFTER
    extra: dict[str, Any] = {}
    if body is not None:
        schema = _inline(body.model_json_schema())
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if open_route:
        extra["security"] = []
    return {"response_model": None, "responses": responses, "openapi_extra": extra}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its $defs put in place: openapi_extra cannot add components."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(ref := node.get("$ref"), str) and ref.startswith("#/$defs/"):
                return walk({**defs[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def document(app: FastAPI, config: GatewayConfig) -> dict[str, Any]:
    """The OpenAPI document of app (built once): every route, the bearer scheme, the served model names."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=__version__,
        description="An OpenAI-compatible gateway: keys, limits, guard, watermark and an audit row per request.",
        routes=app.routes,
    )
    doc.setdefault("components", {})["securitySchemes"] = {
        BEARER: {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer ww-...`."}
    }
    doc["security"] = [{BEARER: []}]
    names = [spec.name for spec in config.models]
    for item in doc["paths"].values():
        for operation in item.values():
            # A bad query or path parameter is a 400 in the OpenAI shape (errors.install), never FastAPI's 422.
            operation["responses"].pop("422", None)
            for status, response in operation["responses"].items():
                if status != "200":  # errors are JSON, even on a route that answers text
                    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            props = schema.get("properties", {}) if schema else {}
            if "model" in props and names:
                props["model"]["examples"] = names
            for field in ("max_tokens", "max_completion_tokens"):
                if field in props:
                    _cap(props[field], config.max_tokens_limit)
    for name in ("HTTPValidationError", "ValidationError"):
        doc["components"].get("schemas", {}).pop(name, None)
    app.openapi_schema = doc
    return doc


def _cap(schema: dict[str, Any], limit: int) -> None:
    """Lower a max_tokens field's maximum to the config's limit (above it the gateway answers 400)."""
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "integer":
            option["maximum"] = min(option.get("maximum", limit), limit)
