"""`warden models`: what the ledger knows, and the built-in default."""

from __future__ import annotations

import json
from typing import Any

import typer

from weightwarden.cli.common import DbOption, JsonOption, settings
from weightwarden.cli.output import Grid, show
from weightwarden.ledger import Ledger
from weightwarden.runtimes.artifact import DEFAULT_REF, default_model_path


def models(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List the models the ledger has seen, and the built-in `default`."""
    s = settings(db=db)
    with Ledger(s.db_url) as ledger:
        known = ledger.models()
    default_path = default_model_path()
    rows: list[dict[str, Any]] = [
        {
            "ref": DEFAULT_REF,
            "name": "SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0, built in)",
            "hash": None,
            "format": "gguf",
            "size_bytes": default_path.stat().st_size,
            "last_seen": None,
            "path": str(default_path),
        }
    ]
    for m in known:
        rows.append(
            {
                "ref": str((m.metadata or {}).get("ref", "")),
                "name": m.name,
                "hash": m.hash,
                "format": m.format,
                "size_bytes": m.size_bytes,
                "last_seen": m.last_seen.isoformat() if m.last_seen else None,
                "path": str((m.metadata or {}).get("path", "")),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    grid = Grid(f"models ({s.db_url})", ("ref", "name", "hash", "format", "size", "last seen"), right=("size",))
    for r in rows:
        grid.add(
            r["ref"],
            r["name"],
            (r["hash"] or "")[:12],
            r["format"],
            f"{(r['size_bytes'] or 0) / 1e6:.1f} MB",
            r["last_seen"] or "",
        )
    show(grid)
