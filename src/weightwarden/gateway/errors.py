"""Gateway errors, answered in the OpenAI shape `{"error": {"message", "type", "param", "code"}}`.

    GatewayError(WardenError)      an answer the gateway gives on purpose: a status, an OpenAI type and a code
    ├── BadRequest                 400 invalid_request_error (malformed JSON, wrong types, bad values)
    │   └── ContentBlocked         400 the guard blocked the prompt or the answer
    ├── Unauthorized               401 authentication_error (missing, invalid, expired or revoked key)
    ├── Forbidden                  403 permission_error (a model the key may not use, an admin route)
    ├── NotFound                   404 not_found_error (an unknown model or route)
    ├── PayloadTooLarge            413 invalid_request_error (a body over the size limit)
    ├── TooManyRequests            429 rate limits, budgets and a full queue; Retry-After when waiting helps
    ├── ClientGone                 499 the client went away while its request waited for the model
    ├── UpstreamFailed             502 an upstream server failed
    ├── Unavailable                503 no upstream of a pool can take the request now; Retry-After when known
    └── Timeout                    504 the request ran past its time limit

Other WardenErrors are translated at the boundary by `status_of` (a CapabilityError is the caller's 400, a
RemoteError is a 502); anything else is a 500 that says nothing about the inside.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from weightwarden.errors import CapabilityError, ConfigError, LedgerError, RemoteError, WardenError

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("weightwarden.gateway")


class GatewayError(WardenError):
    """An error the gateway answers with.

    param: the request field at fault, if one is; retry_after: seconds after which a retry may succeed.
    """

    status = 500
    type = "server_error"
    code = "internal_error"

    def __init__(
        self, message: str, *, code: str | None = None, param: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.retry_after = retry_after


class BadRequest(GatewayError):
    status, type, code = 400, "invalid_request_error", "invalid_value"


class ContentBlocked(BadRequest):
    code = "content_blocked"


class Unauthorized(GatewayError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class Forbidden(GatewayError):
    status, type, code = 403, "permission_error", "forbidden"


class NotFound(GatewayError):
    status, type, code = 404, "not_found_error", "not_found"


class PayloadTooLarge(GatewayError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class TooManyRequests(GatewayError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


class ClientGone(GatewayError):
    """Nobody reads this answer; the status (nginx's 499) is for the audit row."""

    status, type, code = 499, "invalid_request_error", "client_closed_request"


class UpstreamFailed(GatewayError):
    status, type, code = 502, "upstream_error", "upstream_failed"


class Unavailable(GatewayError):
    status, type, code = 503, "server_error", "upstream_unavailable"


class Timeout(GatewayError):
    status, type, code = 504, "timeout_error", "timeout"


def as_gateway_error(exc: BaseException) -> GatewayError:
    """Translate any exception into the GatewayError the client sees; unexpected ones are logged, not shown."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, CapabilityError):
        return BadRequest(str(exc), code="unsupported")
    if isinstance(exc, RemoteError):
        return UpstreamFailed(str(exc))
    if isinstance(exc, ConfigError):
        return BadRequest(str(exc), code="invalid_value")
    if isinstance(exc, LedgerError):
        log.error("ledger error: %s", exc)
        return GatewayError("the gateway's ledger is unavailable; try again later", code="ledger_unavailable")
    if isinstance(exc, WardenError):
        return BadRequest(str(exc))
    log.error("unexpected error", exc_info=exc)
    return GatewayError("internal error; the gateway's log has the details")


def error_body(err: GatewayError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}


def headers_of(err: GatewayError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
        headers["retry-after-ms"] = str(max(1, int(err.retry_after * 1000)))  # the openai clients read this first
    if isinstance(err, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return headers


def error_response(exc: BaseException, request_id: str | None = None) -> JSONResponse:
    err = as_gateway_error(exc)
    headers = headers_of(err)
    if request_id:
        headers["X-Request-Id"] = request_id
    return JSONResponse(error_body(err), status_code=err.status, headers=headers)


def _request_id(request: Request) -> str | None:
    request_id: str | None = getattr(request.state, "request_id", None)  # set by Gateway.begin, if it ran
    return request_id


def _from_http(exc: HTTPException) -> GatewayError:
    if exc.status_code == 404:
        return NotFound(f"no route {exc.detail}" if exc.detail != "Not Found" else "no such route: see /v1/models")
    err = BadRequest(str(exc.detail), code="method_not_allowed" if exc.status_code == 405 else "http_error")
    err.status = exc.status_code
    return err


def install(app: FastAPI) -> None:
    """Answer every error in the OpenAI shape."""
    from fastapi.exceptions import RequestValidationError

    async def on_warden(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc, _request_id(request))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(_from_http(exc), _request_id(request))

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        return error_response(BadRequest(str(exc)), _request_id(request))

    app.add_exception_handler(WardenError, on_warden)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_warden)
