"""The dashboard's router at /ui, and mounting it on a gateway app (`warden serve`) or on its own (`warden ui`).

Every /ui answer carries a strict Content-Security-Policy: scripts, styles and connections from this origin only, no
inline script or style, no framing. Pages, forms and the session cookie are in auth.py and the page modules.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from weightwarden.ui import keys, login, overview, pages, playground, usage
from weightwarden.ui.context import UiContext, ui_of
from weightwarden.ui.errors import UiProblem

UI_PREFIX = "/ui"
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


def build_ui_router(ui: UiContext) -> APIRouter:
    """The dashboard's routes, relative to /ui: the core pages here, the reading pages of ui.pages.ROUTERS."""
    router = APIRouter()
    for module in (login, overview, keys, usage, playground):
        router.include_router(module.router)
    for r in pages.ROUTERS:
        router.include_router(r)

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
            raise UiProblem(404, f"no static file {name!r}")
        return FileResponse(path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "max-age=300"})

    return router


class SecurityHeaders:
    """ASGI middleware: the CSP and its companions on every answer under prefix; pages are never cached."""

    def __init__(self, app: ASGIApp, prefix: str = UI_PREFIX) -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        static = path.startswith(self.prefix + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_ui(app: FastAPI, ui: UiContext) -> None:
    """Serve the dashboard at /ui on app (whose key gate must leave /ui open: create_app(open_prefixes=("/ui",)))."""
    app.state.ui = ui
    app.include_router(build_ui_router(ui), prefix=UI_PREFIX, include_in_schema=False)  # not part of the API

    async def home() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/", status_code=307)

    app.add_api_route(UI_PREFIX, home, include_in_schema=False)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(UiProblem, _on_problem)
    other = app.exception_handlers.get(HTTPException)
    app.add_exception_handler(HTTPException, _http_handler(other))


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UiProblem)
    if exc.redirect is not None:
        return RedirectResponse(exc.redirect, status_code=303)
    if "text/event-stream" in request.headers.get("accept", ""):
        event = f'event: problem\ndata: {json.dumps(exc.message)}\n\nevent: done\ndata: ""\n\n'
        return Response(event, exc.status, media_type="text/event-stream")
    return ui_of(request).render(request, "error.html", exc.status, title=exc.title, message=exc.message)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _http_handler(other: Callable[..., object] | None) -> Handler:
    """Starlette's 404/405 under /ui as a dashboard page; elsewhere as the app answered them before."""

    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith(UI_PREFIX + "/") or other is None:
            return await _on_problem(request, UiProblem(exc.status_code, f"no page here: {request.url.path}"))
        answer = other(request, exc)
        assert isinstance(answer, Awaitable)
        result = await answer
        assert isinstance(result, Response)
        return result

    return handle


def create_ui_app(ui: UiContext) -> FastAPI:
    """The dashboard alone over a ledger (`warden ui`): no models, so the playground says so."""
    app = FastAPI(title="weightwarden dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    mount_ui(app, ui)

    async def root() -> RedirectResponse:
        return RedirectResponse(UI_PREFIX + "/", status_code=307)

    app.add_api_route("/", root, include_in_schema=False)
    return app
