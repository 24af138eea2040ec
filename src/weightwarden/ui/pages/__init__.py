"""The dashboard's reading pages (model, runs, compare, traffic, guard): each module exposes `router`, listed here;
build_ui_router includes every router in ROUTERS."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []
