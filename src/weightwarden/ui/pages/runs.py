"""Runs: the list (by model and kind, a page at a time), one run rendered as `warden report` renders it, one item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from weightwarden.gateway.auth import Caller
from weightwarden.report import render_html_body
from weightwarden.ui import queries
from weightwarden.ui.pages.common import not_found, page_number, pretty, require_admin, ui_context
from weightwarden.ui.pages.run_doc import run_document

router = APIRouter()
Admin = Annotated[Caller, Depends(require_admin)]


@router.get("/runs", response_class=HTMLResponse)
def runs_list(request: Request, _: Admin, model: str = "", kind: str = "", page: str = "1") -> HTMLResponse:
    ui = ui_context(request)
    number = page_number(page)
    found = queries.find_model(ui.ledger, model) if model else None
    listing = queries.runs_page(
        ui.ledger, model_hash=found.hash if found else (model or None), kind=kind or None, page=number
    )
    return ui.render(
        request,
        "runs.html",
        listing=listing,
        kinds=queries.run_kinds(ui.ledger),
        models=ui.ledger.models(),
        model=found.hash if found else model,
        kind=kind,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, _: Admin, page: str = "1") -> HTMLResponse:
    ui = ui_context(request)
    run = ui.ledger.run(run_id)
    if run is None:
        return not_found(request, f"run {run_id}", "The runs page lists every run in the ledger")
    model = ui.ledger.model(run.model_hash)
    name = model.name if model else run.model_hash[:12]
    body = Markup(render_html_body(run_document(ui.ledger, run, name)))
    number = page_number(page)
    items, count = queries.run_items(ui.ledger, run.id, number)
    return ui.render(
        request,
        "run.html",
        run=run,
        model_name=name,
        report_body=body,
        items=items,
        item_count=count,
        page=number,
        has_next=number * queries.ITEMS_PER_PAGE < count,
        config=pretty(run.config),
        summary=pretty(run.summary),
        events=ui.ledger.events(run.id, limit=20),
    )


@router.get("/runs/{run_id}/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, run_id: str, item_id: str, _: Admin) -> HTMLResponse:
    ui = ui_context(request)
    run = ui.ledger.run(run_id)
    number = int(item_id) if item_id.isdigit() else 0
    found = queries.item(ui.ledger, run_id, number) if run is not None and number else None
    if run is None or found is None:
        return not_found(request, f"item {item_id} of run {run_id}", "Open the run to see its items")
    return ui.render(
        request,
        "item.html",
        run=run,
        item=found,
        input=pretty(found.input),
        output=found.output if isinstance(found.output, str) else pretty(found.output),
        scores=pretty(found.scores),
    )
