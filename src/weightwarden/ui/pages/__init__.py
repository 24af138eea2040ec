"""The read-only admin pages (issue 16): model, runs and items, compare, traffic, guard; one router each.

ui-core's app mounts them under /ui with `for r in ROUTERS: router.include_router(r)`.
"""

from fastapi import APIRouter

from weightwarden.ui.pages import compare, guard, model, runs, traffic

ROUTERS: list[APIRouter] = [model.router, runs.router, compare.router, traffic.router, guard.router]

__all__ = ["ROUTERS"]
